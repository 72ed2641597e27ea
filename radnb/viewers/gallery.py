"""A grid of many 2D images with captions; click one to see it large (:func:`radnb.gallery`).

Each image is windowed in Python with radnb's one windowing policy
(:func:`radnb.dicom.default_window`: its own header window, else a CT preset, else a
percentile window; fractional data such as [0, 1] arrays with DICOM's LINEAR_EXACT
function) and sent as uint8 thumbnails in one binary buffer; the full-resolution
image is sent only when it is clicked.

Examples
--------
>>> import numpy as np, radnb
>>> imgs = np.random.default_rng(0).normal(size=(6, 64, 64))
>>> g = radnb.gallery(imgs, classes=["a", "b"] * 3, predictions=["a", "a"] * 3, probabilities=[0.9] * 6)
>>> g.captions[1]
'label b\\npred a (0.90)'
"""
from __future__ import annotations

import warnings
from typing import Any, List, Optional, Sequence

import anywidget
import numpy as np
import traitlets as t

from ..dicom.window import WindowArg, resolve_window, voi_function_for, window_argument
from ..errors import InvalidArgumentError
from .display import window_to_uint8
from .assets import gallery_module, viewer_css
from .volume import as_volume


def _windowed(item: Any, window: WindowArg) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3) display image of one gallery item, in the one windowing policy."""
    vol = as_volume(item, what="gallery image")
    if vol.shape[0] != 1:
        raise InvalidArgumentError(
            f"gallery shows 2D images; one item has {vol.shape[0]} slices. Pass single slices (e.g. volume[k])."
        )
    arr = vol.array[0]
    if vol.is_color:
        return np.ascontiguousarray(arr.astype(np.uint8))
    function = voi_function_for(arr)  # LINEAR_EXACT for fractional data, e.g. [0, 1] images
    choice = resolve_window(vol, window, function=function)
    return window_to_uint8(arr, choice.center, choice.width, choice.invert, function=function)


def _thumbnail(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    step = max(1, int(np.ceil(max(h, w) / size)))
    return np.ascontiguousarray(img[::step, ::step])


def _items(images: Any) -> List[Any]:
    if hasattr(images, "detach") and hasattr(images, "cpu"):
        images = images.detach().cpu().numpy()
    if isinstance(images, np.ndarray):
        if images.ndim == 4 and images.shape[1] in (1, 3):  # (N, C, H, W) batch
            images = images[:, 0] if images.shape[1] == 1 else np.moveaxis(images, 1, -1)
        if images.ndim < 3:
            raise InvalidArgumentError("gallery needs several images: an (N, H, W) array or a list of images.")
        return list(images)
    items = list(images)
    # a dataset of (x, y) pairs: show x
    return [it[0] if isinstance(it, tuple) and len(it) == 2 else it for it in items]


class Gallery(anywidget.AnyWidget):
    """Grid of thumbnails with captions. ``selected`` is the index of the image opened large (-1: none)."""

    _esm = gallery_module()  # static/gallery.js and what it imports, as one module (assets.py)
    _css = viewer_css()

    _thumbs = t.Bytes(b"").tag(sync=True)
    _tiles = t.List(t.Dict()).tag(sync=True)
    columns = t.Int(6).tag(sync=True)
    selected = t.Int(-1).tag(sync=True)
    _large = t.Dict().tag(sync=True)
    _large_bytes = t.Bytes(b"").tag(sync=True)

    def __init__(self, images: List[np.ndarray], captions: List[str], marks: List[str], columns: int, thumb: int):
        self._images = images
        self.captions = captions
        thumbs = [_thumbnail(img, thumb) for img in images]
        self._thumb_arrays = thumbs
        tiles, parts, offset = [], [], 0
        for k, (th, cap, mark) in enumerate(zip(thumbs, captions, marks)):
            data = th.tobytes()
            tiles.append({"index": k, "rows": th.shape[0], "cols": th.shape[1], "rgb": th.ndim == 3,
                          "offset": offset, "caption": cap, "mark": mark})
            parts.append(data)
            offset += len(data)
        super().__init__(_thumbs=b"".join(parts), _tiles=tiles, columns=int(columns))

    @t.validate("selected")
    def _valid_selected(self, proposal):
        k = int(proposal["value"])
        if not -1 <= k < len(self._images):
            raise InvalidArgumentError(f"selected must be -1 or an index 0..{len(self._images) - 1} (got {k}).")
        return k

    @t.observe("selected")
    def _send_large(self, change):
        k = change["new"]
        with self.hold_sync():  # bytes and description reach the browser in one message
            if k < 0:
                self._large, self._large_bytes = {}, b""
                return
            img = self._images[k]
            self._large_bytes = np.ascontiguousarray(img).tobytes()
            self._large = {"index": k, "rows": img.shape[0], "cols": img.shape[1], "rgb": img.ndim == 3,
                           "caption": self.captions[k]}

    def to_png(self) -> bytes:
        """PNG of the grid (matplotlib), for exported notebooks."""
        from .png import render_gallery_png

        colors = {"wrong": "#c02020", "right": "#208030"}
        return render_gallery_png(self._thumb_arrays, self.captions, self.columns,
                                  colors=[colors.get(t["mark"], "black") for t in self._tiles])

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return bundle
        data, meta = bundle
        try:
            data["image/png"] = self.to_png()
        except Exception:
            pass
        return data, meta

    def __repr__(self) -> str:
        return f"<radnb Gallery of {len(self._images)} images>"


def _classes_from_labels(labels: Sequence[Any], classes: Optional[Sequence[Any]]) -> Sequence[Any]:
    """gallery's old ``labels=`` (class names): accepted for one release with a FutureWarning."""
    if classes is not None:
        raise InvalidArgumentError("gallery got both classes= and labels=; give the class of each image as classes=.")
    first = next(iter(labels), None)
    if first is not None and not isinstance(first, str) and np.ndim(first) >= 2:
        raise InvalidArgumentError(
            "gallery(labels=...) got label maps, but gallery shows one class per image and draws no masks. "
            "Give the class of each image as classes=, or look at an image with its mask: radnb.show(image, labels=mask).")
    warnings.warn("gallery(labels=...) is now gallery(classes=...) (the class of each image); labels= will be "
                  "removed from gallery in the next release (elsewhere in radnb it means label maps).",
                  FutureWarning, stacklevel=3)
    return labels


def _fmt_label(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.2f}"
    return str(v.item() if hasattr(v, "item") else v)


def gallery(
    images: Any,
    classes: Optional[Sequence[Any]] = None,
    predictions: Optional[Sequence[Any]] = None,
    probabilities: Optional[Sequence[float]] = None,
    captions: Optional[Sequence[str]] = None,
    *,
    columns: int = 6,
    thumb: int = 160,
    window: WindowArg = None,
    preset: Optional[str] = None,
    limit: int = 200,
    static: bool = False,
    labels: Optional[Sequence[Any]] = None,
):
    """Show many 2D images as a grid with captions; click a tile to open it large.

    Parameters
    ----------
    images
        An (N, H, W) or (N, C, H, W) array/tensor (a batch), or a list of images,
        paths, datasets or ``(x, y)`` pairs (a dataset).
    classes, predictions, probabilities
        Optional per-image values for the captions: the true class of each image,
        the predicted class, the predicted probability. When both classes and
        predictions are given, tiles are framed green (right) or red (wrong).
    captions
        Custom caption per image (overrides the above).
    columns
        Tiles per row.
    thumb
        Largest thumbnail side in pixels.
    window
        Window for every image, spelled as for :func:`radnb.window` (a preset name such as
        ``"liver"``, ``"auto"``, ``"header"``, a ``(center, width)`` pair); ``None`` (default)
        opens each image in its own default window (:func:`radnb.dicom.default_window`:
        header, else a CT preset, else auto), as :func:`radnb.show` would.
    preset
        Older spelling of ``window=`` (``FutureWarning``).
    limit
        Show at most this many images (a note says when some were left out).
    static
        Return a PNG picture instead of a widget.
    labels
        Old name of ``classes`` (a FutureWarning says so; removed in the next release):
        ``labels=`` means label maps elsewhere in radnb (:func:`radnb.show`).

    Returns
    -------
    Gallery or StaticImage

    Examples
    --------
    >>> import numpy as np, radnb
    >>> g = radnb.gallery(np.zeros((3, 32, 32)), captions=["a", "b", "c"])
    >>> len(g._tiles)
    3
    """
    if labels is not None:
        classes = _classes_from_labels(labels, classes)
    spec = window_argument("radnb.gallery", window, preset=preset)
    items = _items(images)
    n = len(items)
    if n == 0:
        raise InvalidArgumentError("gallery got no images.")
    for name, seq in (("classes", classes), ("predictions", predictions), ("probabilities", probabilities),
                      ("captions", captions)):
        if seq is not None and len(seq) != n:
            raise InvalidArgumentError(f"gallery got {n} images but {len(seq)} {name}; give one per image.")
    shown = min(n, int(limit))
    windowed = [_windowed(items[k], spec) for k in range(shown)]
    caps, marks = [], []
    for k in range(shown):
        if captions is not None:
            caps.append(str(captions[k]))
        else:
            parts = []
            if classes is not None:
                parts.append(f"label {_fmt_label(classes[k])}")
            if predictions is not None:
                pred = f"pred {_fmt_label(predictions[k])}"
                if probabilities is not None:
                    pred += f" ({float(probabilities[k]):.2f})"
                parts.append(pred)
            elif probabilities is not None:
                parts.append(f"p = {float(probabilities[k]):.2f}")
            caps.append("\n".join(parts) or f"#{k}")
        if classes is not None and predictions is not None:
            marks.append("right" if _fmt_label(classes[k]) == _fmt_label(predictions[k]) else "wrong")
        else:
            marks.append("")
    if shown < n:
        caps[-1] += f"\n(showing {shown} of {n}; raise limit= to see more)"
    widget = Gallery(windowed, caps, marks, columns, thumb)
    if static:
        from .png import StaticImage

        return StaticImage(widget.to_png())
    return widget
