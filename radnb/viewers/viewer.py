"""The PACS-style slice viewer widget behind :func:`radnb.show` and :func:`radnb.compare`.

Python prepares pixel data, geometry, presets and the numbers tests check; the
browser (``static/viewer.js`` and its ES modules in ``static/viewer/``, joined into
one module by :mod:`radnb.viewers.assets`, no build step) windows the
pixels with a lookup table on a Canvas2D, so scrolling and window/level never
wait for the kernel.

Windowing uses DICOM's ``LINEAR`` VOI function for images of whole numbers (CT
in HU, radiographs) and ``LINEAR_EXACT`` for images with fractional values (e.g.
normalised or already windowed [0, 1] arrays); see :mod:`radnb.viewers.display`.
The window/level drag step and the readouts scale with the image's value range.

Pixel data travels once, as binary buffers (int16 where the values are whole
numbers that fit, else float32; label maps and heat maps as uint8), in chunks
of about 8 MiB, the chunk holding the slice on screen first. Volumes larger than
:data:`~radnb.viewers.volume.BROWSER_BUDGET_BYTES` are downsampled in-plane for
display and the viewer says so on screen.

Examples
--------
>>> import numpy as np, radnb
>>> v = radnb.show(np.zeros((5, 32, 32)), spacing=(3.0, 0.8, 0.8))
>>> v.slice, v.shape
(2, (5, 32, 32))
>>> v.slice = 4; v.position
[4, 16, 16]
"""
from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import anywidget
import numpy as np
import traitlets as t

from ..dicom.window import WindowArg, resolve_window, voi_function_for, window_argument
from ..errors import InvalidArgumentError
from . import display
from .header import header_rows
from .assets import STATIC_DIR, viewer_css, viewer_module  # noqa: F401  (STATIC_DIR: the old import site)
from .measure import RoiStats
from .png import StaticImage, render_viewer_png, render_viewer_png_fast
from .tools import measure_one, tool_names
from .volume import BROWSER_BUDGET_BYTES, Volume, as_heatmap, as_labels, as_volume

CHUNK_BYTES = 8 * 2**20
VIEWS = ("axial", "coronal", "sagittal")
TOOLS = tool_names()  # the left-drag tools: radnb/viewers/tools.py (browser: static/viewer/tools.js)


def _transfer_dtype(arr: np.ndarray) -> np.ndarray:
    """int16 when every value is a whole number in int16 range (CT HU), else float32."""
    if arr.dtype == np.int16:
        return np.ascontiguousarray(arr)
    if arr.dtype.kind in "iub":
        if arr.size == 0 or (arr.min() >= -32768 and arr.max() <= 32767):
            return np.ascontiguousarray(arr.astype(np.int16))
        return np.ascontiguousarray(arr.astype(np.float32))
    a32 = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(a32).all() or a32.min() < -32768 or a32.max() > 32767:
        return np.nan_to_num(a32, nan=0.0, posinf=0.0, neginf=0.0)
    step = max(1, a32.shape[0] // 16)
    for z in range(0, a32.shape[0], step):  # whole-number check slab by slab, memory stays small
        slab = a32[z : z + step]
        if not np.array_equal(slab, np.rint(slab)):
            return a32
    return a32.astype(np.int16)


def _downsample(arr: np.ndarray, factor: int, mode: str) -> np.ndarray:
    """In-plane downsampling by an integer factor: block mean for images, nearest for labels."""
    if factor == 1:
        return arr
    z, h, w = arr.shape[:3]
    if mode == "nearest":
        return np.ascontiguousarray(arr[:, ::factor, ::factor])
    h2, w2 = h // factor, w // factor
    trimmed = arr[:, : h2 * factor, : w2 * factor].astype(np.float32)
    out = trimmed.reshape(z, h2, factor, w2, factor, *arr.shape[3:]).mean(axis=(2, 4))
    if arr.ndim == 4:  # RGB stays uint8
        return np.ascontiguousarray(np.rint(out).astype(np.uint8))
    return _transfer_dtype(out)  # block means are usually fractional: float32 unless whole numbers


def _budget_factor(shape: Tuple[int, ...], bytes_per_voxel: int, budget: int) -> int:
    nbytes = int(np.prod(shape)) * bytes_per_voxel
    return 1 if nbytes <= budget else int(math.ceil(math.sqrt(nbytes / budget)))


def _fmt_bytes(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


class Layer:
    """One array the browser holds: the image, a label map or a heat map (Python side only)."""

    def __init__(self, name: str, kind: str, data: np.ndarray, meta: Dict[str, Any]):
        self.name, self.kind, self.data, self.meta = name, kind, data, meta

    def describe(self) -> Dict[str, Any]:
        dtype = "rgb8" if self.data.ndim == 4 else str(self.data.dtype)
        return {"name": self.name, "kind": self.kind, "dtype": dtype, **self.meta}


class SliceViewer(anywidget.AnyWidget):
    """Interactive slice viewer (see :func:`show`). Attributes mirror what the student sees.

    Read or set from Python: ``slice``, ``position`` ([z, y, x] voxel), ``view``,
    ``window`` (width), ``level`` (center), ``preset``, ``invert``, ``zoom``,
    ``opacity``, ``overlay_style``, ``hidden_layers``, ``tool``.

    It opens in the window of :func:`radnb.dicom.default_window` (header, else a CT
    preset, else auto: the window ``radnb.window`` and the training preprocessing use)
    unless ``window=`` (same spelling as :func:`radnb.window`) says otherwise. ``window``
    and ``level`` are the PACS readouts ("W 400 L 40"); ``preset`` names the CT preset
    (or "header" / "auto" entry chosen from the dropdown) in use, "" when none matches.

    ``slice`` is the index in the array's own order; ``slice_number`` is the number
    on screen, which counts from the head as a PACS does (slice 1 is the most
    superior axial slice; the wheel or ↓ moves towards the feet).

    Identifying header values stay in the kernel unless the code asks for them:
    ``radnb.show(..., show_phi=True)`` or ``viewer.show_phi = True`` (the notebook
    records that act); the browser offers no switch for them.
    The browser sends its state back when an interaction settles (mouse released,
    wheel stopped), not on every mouse move.

    ``voi_function`` (read only) is ``"LINEAR"`` for images of whole numbers and
    ``"LINEAR_EXACT"`` for images with fractional values; pass it to
    :func:`radnb.viewers.display.window_to_uint8` to predict the grey levels on screen.
    """

    _esm = viewer_module()  # static/viewer.js and the modules it imports, as one module (assets.py)
    _css = viewer_css()

    _layers = t.List(t.Dict()).tag(sync=True)
    _panels = t.List(t.Dict()).tag(sync=True)
    _shape = t.List(t.Int()).tag(sync=True)
    _spacing = t.List(t.Float()).tag(sync=True)
    _units = t.Unicode("").tag(sync=True)
    _modality = t.Unicode("").tag(sync=True)
    _title = t.Unicode("").tag(sync=True)
    _superior_first = t.Bool(True).tag(sync=True)
    _presets = t.List(t.Dict()).tag(sync=True)
    _initial = t.Dict().tag(sync=True)
    _notices = t.List(t.Unicode()).tag(sync=True)
    _header = t.List(t.Dict()).tag(sync=True)
    _data_id = t.Unicode("").tag(sync=True)
    _height = t.Int(512).tag(sync=True)
    _voi_function = t.Unicode("LINEAR").tag(sync=True)
    _wl_scale = t.Dict().tag(sync=True)
    _geometry = t.Dict().tag(sync=True)
    _header_slice = t.Int(-1).tag(sync=True)
    _phi_shown = t.Bool(False).tag(sync=True)
    # last picture of the viewer (data: URL), kept in the saved widget state so that a reopened
    # notebook shows it until the kernel runs again; the browser refreshes it after interactions
    _snapshot = t.Unicode("").tag(sync=True)

    position = t.List(t.Int(), minlen=3, maxlen=3).tag(sync=True)
    view = t.Enum(VIEWS, default_value="axial").tag(sync=True)
    window = t.Float(400.0).tag(sync=True)
    level = t.Float(40.0).tag(sync=True)
    preset = t.Unicode("").tag(sync=True)
    invert = t.Bool(False).tag(sync=True)
    zoom = t.Float(1.0).tag(sync=True)
    pan = t.List(t.Float(), minlen=2, maxlen=2, default_value=[0.0, 0.0]).tag(sync=True)
    opacity = t.Float(0.5).tag(sync=True)
    overlay_style = t.Enum(("fill", "outline"), default_value="fill").tag(sync=True)
    hidden_layers = t.List(t.Unicode()).tag(sync=True)
    tool = t.Enum(TOOLS, default_value="wl").tag(sync=True)
    playing = t.Bool(False).tag(sync=True)
    fps = t.Float(10.0).tag(sync=True)
    smooth = t.Bool(True).tag(sync=True)
    measurements = t.List(t.Dict()).tag(sync=True)

    def __init__(
        self,
        volume: Volume,
        overlays: Sequence[Layer] = (),
        panels: Optional[List[Dict[str, Any]]] = None,
        *,
        window: WindowArg = None,
        preset: Optional[str] = None,
        level: Optional[float] = None,
        view: str = "axial",
        opacity: float = 0.5,
        overlay_style: str = "fill",
        height: int = 512,
        budget_bytes: int = BROWSER_BUDGET_BYTES,
        static_fallback: bool = True,
        show_phi: bool = False,
    ):
        if view not in VIEWS:
            raise InvalidArgumentError(f"view must be one of {', '.join(VIEWS)} (got {view!r}).")
        self.volume = volume
        self.static_fallback = static_fallback
        self._show_phi = bool(show_phi)
        notices = list(volume.notes)
        factor = self._prepare_layers(volume, overlays, budget_bytes, notices)
        spacing = (volume.spacing[0], volume.spacing[1] * factor, volume.spacing[2] * factor)

        spec = window_argument("SliceViewer", window, preset=preset, level=level)
        center, width, chosen, preset_list, auto_width = self._opening_window(volume, spec)
        wl_scale = display.window_controls(self.voi_function, volume.units if not volume.is_color else "", auto_width)
        z, h, w_ = self.display_shape
        super().__init__(
            _layers=[layer.describe() for layer in self._layer_objs],
            _panels=panels or [{"title": "", "view": None, "layers": list(range(1, len(self._layer_objs)))}],
            _shape=[z, h, w_],
            _spacing=list(spacing),
            _units=volume.units if not volume.is_color else "",
            _modality=volume.modality or "",
            _title=volume.name,
            _superior_first=volume.superior_first,
            _presets=preset_list,
            _initial={"window": width, "level": center, "preset": chosen, "invert": bool(volume.invert)},
            _notices=notices,
            _header=header_rows(self._header_dataset(z // 2), show_phi=self._show_phi),
            _header_slice=z // 2 if volume.meta is not None else -1,
            _phi_shown=self._show_phi,
            _geometry=self._geometry_for(volume, factor),
            _data_id=uuid.uuid4().hex,
            _height=int(height),
            _voi_function=self.voi_function,
            _wl_scale=wl_scale,
            position=[z // 2, h // 2, w_ // 2],
            view=view,
            window=width,
            level=center,
            preset=chosen,
            invert=bool(volume.invert),
            opacity=float(opacity),
            overlay_style=overlay_style,
        )
        self.on_msg(self._on_custom_msg)
        self.observe(self._on_position_for_header, names="position")

    def _prepare_layers(self, volume: Volume, overlays: Sequence[Layer], budget_bytes: int, notices: List[str]) -> int:
        """The image layer in its transfer dtype plus the overlays, downsampled in-plane to fit the display budget.

        Sets ``_voi``, ``_layer_objs``, ``downsample`` and ``display_shape``; appends a notice when downsampled;
        returns the in-plane factor.
        """
        image = volume.array
        if volume.is_color:
            data = np.ascontiguousarray(image.astype(np.uint8))
        else:
            data = _transfer_dtype(image)
        # decided on the full-resolution image (int16 transfer already proved whole numbers),
        # so downsampled block means of a CT keep the LINEAR function of its presets
        if volume.is_color or data.dtype.kind in "iu":
            self._voi = "LINEAR"
        else:
            self._voi = voi_function_for(image)
        total_per_voxel = data.itemsize * (3 if data.ndim == 4 else 1) + sum(1 for _ in overlays)
        factor = _budget_factor(volume.shape[:3], total_per_voxel, budget_bytes)
        if factor > 1:
            full = int(np.prod(volume.shape[:3])) * total_per_voxel
            data = _downsample(data, factor, "mean")
            notices.append(
                f"Large volume ({_fmt_bytes(full)} > {_fmt_bytes(budget_bytes)} display budget): shown downsampled "
                f"{factor}× in-plane ({data.shape[1]}×{data.shape[2]}); values and measurements use the "
                "downsampled pixels."
            )
        self.downsample = factor
        self._layer_objs: List[Layer] = [Layer(volume.name or "image", "image", data, {})]
        for layer in overlays:
            layer.data = _downsample(layer.data, factor, "nearest")
            self._layer_objs.append(layer)
        self.display_shape = tuple(int(s) for s in data.shape[:3])
        return factor

    def _opening_window(self, volume: Volume, spec: Any):
        """(center, width, preset name, presets offered, auto width) the viewer opens with: the one windowing
        policy of radnb.dicom.window (header, else CT preset, else auto) plus the dropdown's choices."""
        ct_like = volume.units == "HU" or (volume.modality or "").upper() == "CT"
        preset_list = (
            [{"name": n, "center": c, "width": w} for n, (c, w) in display.presets().items()] if ct_like else []
        )
        auto_width = 256.0
        if volume.is_color:
            center, width, chosen = 127.5, 256.0, ""
        else:
            # the one windowing policy (radnb.dicom.window): header, else CT preset, else auto
            choice = resolve_window(volume, spec, function=self.voi_function)
            center, width = choice.center, self._check_width(choice.width)
            # `preset` names the CT preset the viewer opened in (a header window equal to one counts)
            named = [p["name"] for p in preset_list if (p["center"], p["width"]) == (center, width)]
            chosen = choice.preset if choice.preset in named else (named[0] if named else "")
            if volume.header_window is not None:
                c, w = volume.header_window
                try:
                    preset_list.append({"name": "header", "center": float(c), "width": self._check_width(w)})
                except (InvalidArgumentError, TypeError):
                    pass  # an unusable header window is simply not offered
            auto = choice if choice.source == "auto" else resolve_window(volume, "auto", function=self.voi_function)
            preset_list.append({"name": "auto", "center": auto.center, "width": auto.width})
            auto_width = auto.width
        return center, width, chosen, preset_list, auto_width

    # ----- state -----------------------------------------------------------------
    def _check_width(self, width: float) -> float:
        return display.check_width(width, self.voi_function)

    @t.validate("window")
    def _valid_window(self, proposal):
        return self._check_width(proposal["value"])

    @t.validate("opacity")
    def _valid_opacity(self, proposal):
        value = float(proposal["value"])
        if not 0.0 <= value <= 1.0:
            raise InvalidArgumentError(f"opacity must be between 0 and 1 (got {value}).")
        return value

    @t.validate("zoom")
    def _valid_zoom(self, proposal):
        value = float(proposal["value"])
        if not 0.05 <= value <= 50:
            raise InvalidArgumentError(f"zoom must be between 0.05 and 50 (got {value}).")
        return value

    @t.validate("position")
    def _valid_position(self, proposal):
        pos = [int(p) for p in proposal["value"]]
        shape = getattr(self, "display_shape", None)
        if shape is not None:
            for axis, (p, n) in enumerate(zip(pos, shape)):
                if not 0 <= p < n:
                    raise InvalidArgumentError(
                        f"{('slice', 'row', 'column')[axis]} index {p} is outside 0..{n - 1}."
                    )
        return pos

    @t.observe("preset")
    def _preset_changed(self, change):
        name = change["new"]
        if not name:
            return
        table = {p["name"]: p for p in self._presets}
        if name not in table:
            raise InvalidArgumentError(
                f"Unknown preset {name!r} for this image. Choose one of: {', '.join(table) or '(none)'}."
            )
        self.window, self.level = table[name]["width"], table[name]["center"]

    @property
    def show_phi(self) -> bool:
        """Whether the header panel shows identifying values (False by default).

        Only code sets it (``radnb.show(x, show_phi=True)`` or ``viewer.show_phi = True``),
        so the notebook records who revealed them; the browser cannot.
        """
        return self._show_phi

    @show_phi.setter
    def show_phi(self, value: bool) -> None:
        self._show_phi = bool(value)
        self._phi_shown = self._show_phi
        self._refresh_header()

    def _header_dataset(self, z: int) -> Any:
        datasets = self.volume.datasets
        if len(datasets) == self.volume.shape[0] and len(datasets) > 1:
            return datasets[min(max(int(z), 0), len(datasets) - 1)]
        return self.volume.meta

    def _refresh_header(self) -> None:
        if self.volume.meta is None:
            return
        z = int(self.position[0])
        self._header_slice = z
        self._header = header_rows(self._header_dataset(z), show_phi=self._show_phi)

    def _on_position_for_header(self, change) -> None:
        if len(self.volume.datasets) > 1 and change["old"] and change["old"][0] != change["new"][0]:
            self._refresh_header()

    @staticmethod
    def _geometry_for(volume: Volume, factor: int) -> Dict[str, Any]:
        """What the browser needs for patient coordinates: positions per slice and direction cosines."""
        geo: Dict[str, Any] = {"spacing_known": bool(volume.spacing_known), "positions": None, "orientation": None}
        if volume.positions is not None and volume.orientation is not None and len(volume.positions) == volume.shape[0]:
            pos = np.asarray(volume.positions, dtype=float)
            if factor > 1:  # a displayed pixel is the mean of a factor x factor block: its centre moves
                rowdir, coldir = np.asarray(volume.orientation[:3]), np.asarray(volume.orientation[3:])
                shift = (factor - 1) / 2.0
                pos = pos + shift * volume.spacing[2] * rowdir + shift * volume.spacing[1] * coldir
            geo["positions"] = pos.round(4).tolist()
            geo["orientation"] = [float(v) for v in volume.orientation]
        return geo

    @property
    def shape(self) -> Tuple[int, int, int]:
        """(slices, rows, columns) of the displayed volume."""
        return self.display_shape

    @property
    def axis(self) -> int:
        """Volume axis that ``slice`` moves along for the current ``view`` (0 axial, 1 coronal, 2 sagittal)."""
        return VIEWS.index(self.view)

    @property
    def slice(self) -> int:
        """Index of the slice on screen in the current ``view`` (0-based, volume order)."""
        return int(self.position[self.axis])

    @slice.setter
    def slice(self, value: int) -> None:
        pos = list(self.position)
        pos[self.axis] = int(value)
        self.position = pos

    @property
    def slice_number(self) -> int:
        """The slice number on screen (1-based; axial slices count from the head, as in a PACS)."""
        if self.view == "axial" and not self._superior_first:
            return self.n_slices - self.slice
        return self.slice + 1

    @property
    def n_slices(self) -> int:
        return int(self.display_shape[self.axis])

    @property
    def voi_function(self) -> str:
        """``"LINEAR"`` (images of whole numbers) or ``"LINEAR_EXACT"`` (fractional values), fixed at creation."""
        return self._voi

    @property
    def wl_step(self) -> float:
        """Window/level change per screen pixel of a left-drag (scales with the image's value range)."""
        return float(self._wl_scale["step"])

    @property
    def presets(self) -> List[str]:
        """Preset names available for this image (keys 1-9 pick them in this order)."""
        return [p["name"] for p in self._presets]

    def reset(self) -> None:
        """Back to the opening window, no zoom or pan (the space bar in the viewer)."""
        self.window, self.level = self._initial["window"], self._initial["level"]
        self.preset = self._initial["preset"]
        self.invert = self._initial["invert"]
        self.zoom, self.pan = 1.0, [0.0, 0.0]

    # ----- geometry shared with the browser ---------------------------------------
    def slice_array(self, view: Optional[str] = None, index: Optional[int] = None, layer: int = 0) -> np.ndarray:
        """The 2D array the browser shows for ``view`` at ``index`` (head at the top for coronal/sagittal).

        Examples
        --------
        >>> import numpy as np, radnb
        >>> v = radnb.show(np.arange(24.0).reshape(2, 3, 4))
        >>> v.slice_array("coronal", 0).shape
        (2, 4)
        """
        view = view or self.view
        axis = VIEWS.index(view)
        index = self.position[axis] if index is None else int(index)
        data = self._layer_objs[layer].data
        if view == "axial":
            return data[index]
        plane = data[:, index, :] if view == "coronal" else data[:, :, index]
        return plane if self._superior_first else plane[::-1]

    def pixel_spacing(self, view: Optional[str] = None) -> Tuple[float, float]:
        """(row_mm, col_mm) of the displayed plane for ``view``."""
        dz, dy, dx = self._spacing
        return {"axial": (dy, dx), "coronal": (dz, dx), "sagittal": (dz, dy)}[view or self.view]

    def measure(self) -> List[Union[RoiStats, Dict[str, Any]]]:
        """The measurements drawn in the browser, recomputed in Python.

        Lengths come back as ``{"kind": "length", "length_mm": ...}``; ROIs as
        :class:`~radnb.viewers.measure.RoiStats`.
        """
        return [measure_one(self.slice_array(m["view"], int(m["index"])), m, self.pixel_spacing(m["view"]), self._units)
                for m in self.measurements]

    # ----- data transfer ---------------------------------------------------------
    def _chunks(self, first_slice: int) -> List[Tuple[int, int]]:
        """Slice ranges to send: the slice on screen alone first (fast first paint), then ~8 MiB chunks
        outward from it."""
        z = self.display_shape[0]
        first = min(max(int(first_slice), 0), z - 1)
        per_slice = sum(layer.data[0].nbytes for layer in self._layer_objs)
        step = max(1, CHUNK_BYTES // max(per_slice, 1))
        starts = sorted(range(0, z, step), key=lambda s: abs(s - first // step * step))
        out = [(first, first + 1)]
        for s in starts:
            e = min(s + step, z)
            if s <= first < e:
                out += [r for r in ((s, first), (first + 1, e)) if r[1] > r[0]]
            else:
                out.append((s, e))
        return out

    def _on_custom_msg(self, _widget, content, buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "load":
            return
        rid = content.get("rid", "")
        first = int(content.get("first", self.position[0]))
        chunks = self._chunks(first)
        for i, (z0, z1) in enumerate(chunks):
            for index, layer in enumerate(self._layer_objs):
                part = layer.data[z0:z1]
                self.send(
                    {"type": "chunk", "rid": rid, "layer": index, "z0": z0, "z1": z1, "last": i == len(chunks) - 1},
                    buffers=[memoryview(np.ascontiguousarray(part)).cast("B")],
                )

    # ----- static fallback --------------------------------------------------------
    def to_png(self, dpi: int = 80) -> bytes:
        """A PNG of what the viewer shows now, drawn with matplotlib (titles, legend)."""
        return render_viewer_png(self, dpi=dpi)

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None or not self.static_fallback:
            return bundle
        data, meta = bundle
        try:
            # Drawn with Pillow, not matplotlib: this runs before every viewer appears, and importing
            # and drawing with matplotlib would add 0.5-3 s to the time to first paint.
            png = render_viewer_png_fast(self)
            data["image/png"] = png
            import base64

            self._snapshot = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        except Exception:  # the widget still works; only the exported-notebook picture is missing
            pass
        return data, meta

    def __repr__(self) -> str:
        z, h, w = self.display_shape
        return (
            f"<radnb SliceViewer {self.view} slice {self.slice_number}/{self.n_slices} of {z}×{h}×{w}, "
            f"W {self.window:g} L {self.level:g}{' (' + self.preset + ')' if self.preset else ''}>"
        )


# ----- building the overlays --------------------------------------------------------------
LabelsArg = Union[None, Any, Mapping[str, Any], Sequence[Any]]


def _read_mask_files(items: List[Tuple[Any, Any]], like: Any) -> List[Tuple[str, Any, Optional[List[str]]]]:
    """Mask files and LabelMaps through radnb's one loader -> (layer name, label map, class names)."""
    out = []
    for name, arr in items:
        if not (isinstance(arr, (str, Path)) or type(arr).__name__ == "LabelMap"):
            out.append((str(name), arr, None))
            continue
        from ..dicom.masks import load_mask

        mask = load_mask(arr, like=like)
        if mask.channels:  # overlapping segments: one overlay each
            out.extend((f"{name}: {c}", channel, ["background", c]) for c, channel in zip(mask.classes, mask.array))
            continue
        if len(mask.classes) == 2 and mask.classes[1] != "foreground" and name in ("labels", "truth", "prediction"):
            name = f"{name}: {mask.classes[1]}"
        out.append((str(name), mask.array, mask.classes))
    return out


def _label_layers(labels: LabelsArg, shape: Tuple[int, int, int], start_color: int = 0, like: Any = None,
                  family: Optional[Sequence[Tuple[int, int, int]]] = None) -> List[Layer]:
    """Label layers; each class gets its own colour, listed in the legend (``classes``).

    With ``family`` (a list of shades of one hue, as :func:`compare` uses for truth and
    prediction) every class of the map is drawn in a shade of that hue, so "truth green,
    prediction red" holds for every class. Mask files go through radnb's one mask loader
    (``like`` is the image they belong to) and carry their class names.
    """
    if labels is None:
        return []
    if isinstance(labels, (str, Path)) or type(labels).__name__ == "LabelMap":
        labels = {"labels": labels}
    if isinstance(labels, Mapping):
        items = list(labels.items())
    elif isinstance(labels, (list, tuple)) and labels and all(isinstance(x, (str, Path)) for x in labels):
        items = [(Path(x).name, x) for x in labels]
    elif isinstance(labels, (list, tuple)) and labels and not np.isscalar(labels[0]) and np.asarray(labels[0]).ndim >= 2:
        items = [(f"labels {k + 1}", x) for k, x in enumerate(labels)]
    else:
        items = [("labels", labels)]
    layers = []
    for k, (name, arr, class_names) in enumerate(_read_mask_files(items, like)):
        data = as_labels(arr, shape, name)
        palette = list(family) if family else [
            display.LABEL_COLORS[(start_color + k + i) % len(display.LABEL_COLORS)] for i in range(len(display.LABEL_COLORS))
        ]
        classes = sorted(int(v) for v in np.unique(data) if v) or [1]
        colors = {str(c): list(palette[i % len(palette)]) for i, c in enumerate(classes)}
        meta = {"colors": colors, "color": list(palette[0]), "classes": [int(c) for c in classes]}
        if class_names is not None:
            meta["class_names"] = {str(c): n for c, n in enumerate(class_names) if c}
        layers.append(Layer(str(name), "labels", data, meta))
    return layers


def _heat_layer(heatmap: Any, shape: Tuple[int, int, int], cmap: str, name: str = "heat map",
                vmin: Optional[float] = None, vmax: Optional[float] = None) -> Layer:
    heat = as_heatmap(heatmap, shape, name)
    lo = float(np.min(heat)) if vmin is None else float(vmin)
    hi = float(np.max(heat)) if vmax is None else float(vmax)
    if hi <= lo:
        hi = lo + 1.0
    # uint8 for transfer; 0 means "transparent" (values at or below vmin)
    q = np.clip(np.rint((heat - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
    return Layer(name, "heatmap", np.ascontiguousarray(q), {"cmap": display.colormap_table(cmap), "cmap_name": cmap,
                                                            "vmin": lo, "vmax": hi})


def _panels_for(views: Union[str, Sequence[str]], overlay_ids: List[int]) -> List[Dict[str, Any]]:
    if isinstance(views, str):
        if views in ("mpr", "all", "3"):
            views = VIEWS
        else:
            views = [views]
    for v in views:
        if v not in VIEWS:
            raise InvalidArgumentError(f"Unknown view {v!r}; use 'axial', 'coronal', 'sagittal' or 'mpr'.")
    if len(views) == 1:
        return [{"title": "", "view": None, "layers": overlay_ids}]
    return [{"title": v, "view": v, "layers": overlay_ids} for v in views]


def show(
    x: Any,
    labels: LabelsArg = None,
    heatmap: Any = None,
    *,
    views: Union[str, Sequence[str]] = "axial",
    show_phi: bool = False,
    spacing: Optional[Sequence[float]] = None,
    modality: Optional[str] = None,
    window: WindowArg = None,
    preset: Optional[str] = None,
    level: Optional[float] = None,
    opacity: float = 0.5,
    overlay_style: str = "fill",
    cmap: str = "inferno",
    height: int = 512,
    static: bool = False,
    budget_bytes: int = BROWSER_BUDGET_BYTES,
):
    """Show an image or volume in an interactive, PACS-style viewer.

    Mouse wheel or ↑/↓ scroll slices; left-drag changes window (x) and level (y);
    right-drag zooms; middle- or shift-drag pans; keys 1-9 pick presets, ``i``
    inverts, space resets; hovering reads out position and value (HU for CT).
    The toolbar offers the same actions, plus cine, measurements, overlays and the
    DICOM header (identifying values hidden).

    Parameters
    ----------
    x
        A path (file or folder), pydicom Dataset, radnb image/series, numpy array
        or torch tensor, 2D (rows, columns) or 3D (slices, rows, columns).
    labels
        Label map(s) to overlay: one array, a list, or ``{"truth": a, "prediction": b}``.
    heatmap
        A heat map (probability, Grad-CAM) to overlay with colour map ``cmap``.
    views
        ``"axial"``, ``"coronal"``, ``"sagittal"`` or ``"mpr"`` (all three side by side).
    spacing
        (row, col) or (slice, row, col) in mm, for arrays (DICOM brings its own).
    modality
        E.g. ``"CT"`` for an array of HU (opens in the soft-tissue preset).
    window
        Opening window, spelled as for :func:`radnb.window`: a preset name (``"lung"``),
        ``"auto"``, ``"header"``, ``None`` (the default: :func:`radnb.dicom.default_window`,
        the same window ``radnb.window(x)`` and the training preprocessing use) or a
        ``(center, width)`` pair. Afterwards ``viewer.window`` / ``viewer.level`` read and
        set the width and centre as on a PACS screen ("W 400 L 40").
    preset, level
        Older spellings (``FutureWarning``): ``preset="lung"`` is ``window="lung"``;
        ``window=400, level=40`` is ``window=(40, 400)``.
    opacity, overlay_style
        Overlay opacity (0-1) and ``"fill"`` or ``"outline"``.
    height
        Viewer height in CSS pixels.
    static
        Return a PNG picture (matplotlib) instead of a widget, e.g. for exports.
    budget_bytes
        Largest pixel payload sent to the browser before in-plane downsampling.
    show_phi
        Show identifying header values (patient name, ID, birth date...) in the header
        panel. Off by default; turning it on is an act the notebook's code records.

    Returns
    -------
    SliceViewer or StaticImage

    Examples
    --------
    >>> import numpy as np, radnb
    >>> hu = np.full((10, 64, 64), -1000.0); hu[:, 16:48, 16:48] = 40
    >>> v = radnb.show(hu, modality="CT")
    >>> v.preset, v.window, v.level
    ('soft_tissue', 400.0, 50.0)
    >>> v.preset = "lung"; v.window
    1500.0
    """
    spec = window_argument("radnb.show", window, preset=preset, level=level)
    vol = as_volume(x, spacing=spacing, modality=modality)
    shape = vol.shape[:3]
    overlays = _label_layers(labels, shape, like=x)
    if heatmap is not None:
        overlays.append(_heat_layer(heatmap, shape, cmap))
    if isinstance(views, str) and views in VIEWS:
        view, panels = views, None
    else:
        panels = _panels_for(views, list(range(1, len(overlays) + 1)))
        view = panels[0]["view"] or "axial"
    viewer = SliceViewer(
        vol, overlays, panels, window=spec, view=view, opacity=opacity,
        overlay_style=overlay_style, height=height, budget_bytes=budget_bytes, static_fallback=not static,
        show_phi=show_phi,
    )
    if static:
        return StaticImage(viewer.to_png())
    return viewer


def compare(
    image: Any,
    truth: Any = None,
    prediction: Any = None,
    heatmap: Any = None,
    *,
    titles: Optional[Sequence[str]] = None,
    spacing: Optional[Sequence[float]] = None,
    modality: Optional[str] = None,
    window: WindowArg = None,
    preset: Optional[str] = None,
    view: str = "axial",
    opacity: float = 0.5,
    overlay_style: str = "outline",
    cmap: str = "inferno",
    height: int = 420,
    static: bool = False,
    budget_bytes: int = BROWSER_BUDGET_BYTES,
    show_phi: bool = False,
):
    """Side-by-side panels (image, + truth, + prediction, + heat map) that scroll, zoom and window together.

    Parameters
    ----------
    image
        As for :func:`show`.
    truth, prediction
        Label maps (ground truth in shades of green, prediction in shades of red, one
        shade per class, as the legend shows); either may be None.
    heatmap
        Probability or Grad-CAM map.
    titles
        Panel titles (default "image", "truth", "prediction", "heat map";
        a last panel "truth vs prediction" is added when both are given).
    Other parameters
        As for :func:`show` (``window=`` and ``show_phi`` included; ``preset=`` is the older
        spelling of ``window=``); ``overlay_style`` defaults to outlines here.

    Examples
    --------
    >>> import numpy as np, radnb
    >>> img = np.random.default_rng(0).normal(size=(4, 32, 32))
    >>> truth = np.zeros((4, 32, 32), np.uint8); truth[:, 8:16, 8:16] = 1
    >>> pred = np.zeros((4, 32, 32), np.uint8); pred[:, 9:17, 9:17] = 1
    >>> v = radnb.compare(img, truth, pred)
    >>> [p["title"] for p in v._panels]
    ['image', 'truth', 'prediction', 'truth vs prediction']
    """
    spec = window_argument("radnb.compare", window, preset=preset)
    vol = as_volume(image, spacing=spacing, modality=modality)
    shape = vol.shape[:3]
    overlays: List[Layer] = []
    panels: List[Dict[str, Any]] = [{"title": "image", "view": None, "layers": []}]
    ids = {}
    for name, arr, family in (("truth", truth, display.TRUTH_COLORS), ("prediction", prediction, display.PREDICTION_COLORS)):
        if arr is not None:
            layer = _label_layers({name: arr}, shape, like=image, family=family)[0]
            overlays.append(layer)
            ids[name] = len(overlays)
            panels.append({"title": name, "view": None, "layers": [ids[name]]})
    if heatmap is not None:
        overlays.append(_heat_layer(heatmap, shape, cmap))
        panels.append({"title": "heat map", "view": None, "layers": [len(overlays)]})
    if "truth" in ids and "prediction" in ids:
        panels.append({"title": "truth vs prediction", "view": None, "layers": [ids["truth"], ids["prediction"]]})
    if titles is not None:
        if len(titles) != len(panels):
            raise InvalidArgumentError(f"titles has {len(titles)} names but there are {len(panels)} panels.")
        for panel, title in zip(panels, titles):
            panel["title"] = str(title)
    viewer = SliceViewer(
        vol, overlays, panels, window=spec, view=view, opacity=opacity, overlay_style=overlay_style,
        height=height, budget_bytes=budget_bytes, static_fallback=not static, show_phi=show_phi,
    )
    if static:
        return StaticImage(viewer.to_png())
    return viewer
