"""Turning one training item (a DICOM file, a slice of a series, a PNG, an array) into a tensor-ready array.

Everything a model sees goes through :func:`load_image`: decode with
:mod:`radnb.dicom` (HU rescale, MONOCHROME1 inversion), window (one window per
output channel), resize, and cache. The settings live in a
:class:`Preprocessing` object that is stored with every trained model, so
inference cannot silently use different settings.

Examples
--------
>>> import numpy as np
>>> from radnb.train.prep import Preprocessing, ArrayItem, load_image
>>> prep = Preprocessing(windows=("lung", "bone"), size=32)
>>> hu = np.full((64, 64), -600.0, np.float32)
>>> load_image(ArrayItem(hu), prep).shape
(2, 32, 32)
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InvalidArgumentError, RadnbError, TrainingDataError  # noqa: F401
from .cache import PreprocessCache, array_digest, content_key, paths_digest

PathLike = Union[str, Path]
WindowSpec = Union[None, str, Tuple[float, float]]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
NIFTI_SUFFIXES = (".nii", ".nii.gz")

#: ImageNet channel statistics (torchvision's), for pretrained encoders
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_stats(n_channels: int) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """ImageNet normalisation for ``n_channels`` inputs.

    Three channels get torchvision's per-channel values. Any other count gets
    the mean of the three repeated: fastai adapts a pretrained first layer to one
    channel by *summing* its RGB filters, which matches a grey image normalised
    with the averaged statistics.

    Examples
    --------
    >>> imagenet_stats(1)
    ((0.449,), (0.226,))
    """
    if n_channels == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    m = round(float(np.mean(IMAGENET_MEAN)), 3)
    s = round(float(np.mean(IMAGENET_STD)), 3)
    return (m,) * n_channels, (s,) * n_channels


def _normalise_window(w: Any) -> WindowSpec:
    if w is None or isinstance(w, str):
        return w
    if isinstance(w, (tuple, list)) and len(w) == 2:
        return (float(w[0]), float(w[1]))
    raise InvalidArgumentError(
        f"Window {w!r} is not understood. Use a preset name such as 'lung', 'auto', 'header', "
        "a (center, width) pair such as (40, 400), or None for the image's default window."
    )


_CACHE_KEYS: Dict[Any, Tuple[Dict[str, Any], str]] = {}


@dataclass
class Preprocessing:
    """Everything between a file and the model's input tensor; stored with the model.

    Parameters
    ----------
    windows
        One entry per input channel: a preset name (``"lung"``, ``"bone"`` ...,
        see ``radnb.PRESETS``), ``"auto"`` (percentile window), ``"header"``, a
        ``(center, width)`` pair in the image's units, or ``None``: the image's
        default window (:func:`radnb.dicom.default_window`: header, else a CT preset,
        else auto), the one ``radnb.show`` opens it in. The same spelling as
        :func:`radnb.window`'s ``window=``. ``("lung", "mediastinum", "bone")``
        gives three channels, one per window.
    size
        Output side length in pixels (square; images are resized, not cropped).
    context
        2.5D: number of neighbouring slices on each side stacked as extra
        channels (slices from series only). Channels = ``len(windows) * (2*context+1)``.
    mean, std
        Per-channel normalisation applied on the batch after windowing
        (windowed values are in [0, 1]). Filled by the data builders.
    task
        ``"classification"`` or ``"segmentation"``.

    Examples
    --------
    >>> Preprocessing(windows=("lung", "mediastinum", "bone"), size=64).n_channels
    3
    >>> Preprocessing(windows=("lung",), size=64, context=1).n_channels
    3
    """

    windows: Tuple[WindowSpec, ...] = (None,)
    size: int = 64
    context: int = 0
    mean: Tuple[float, ...] = ()
    std: Tuple[float, ...] = ()
    task: str = "classification"

    def __post_init__(self):
        if isinstance(self.windows, (str,)) or self.windows is None:
            self.windows = (self.windows,)
        elif isinstance(self.windows, tuple) and len(self.windows) == 2 and all(
            isinstance(v, (int, float)) for v in self.windows
        ):
            self.windows = (self.windows,)
        self.windows = tuple(_normalise_window(w) for w in self.windows)
        if not self.windows:
            raise InvalidArgumentError("windows must name at least one window, e.g. windows='lung'.")
        if isinstance(self.size, (tuple, list)):
            if len(set(self.size)) != 1:
                raise InvalidArgumentError("radnb trains on square images; give size as one number, e.g. size=128.")
            self.size = self.size[0]
        self.size = int(self.size)
        if self.size < 8:
            raise InvalidArgumentError(f"size={self.size} is too small; use at least 32 pixels.")
        self.context = int(self.context)
        self.mean, self.std = tuple(float(v) for v in self.mean), tuple(float(v) for v in self.std)

    @property
    def n_channels(self) -> int:
        return len(self.windows) * (2 * self.context + 1)

    def cache_params(self, kind: str) -> Dict[str, Any]:
        """The parameters that change a cached array (not the normalisation)."""
        return {"kind": kind, "windows": [list(w) if isinstance(w, tuple) else w for w in self.windows], "size": self.size}

    def cache_key(self, kind: str) -> Tuple[Dict[str, Any], str]:
        """(parameters, their digest) for the cache."""
        from .cache import params_digest

        memo = (kind, self.windows, self.size)
        hit = _CACHE_KEYS.get(memo)
        if hit is None:
            params = self.cache_params(kind)
            hit = _CACHE_KEYS[memo] = (params, params_digest(params))
        return hit

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["windows"] = [list(w) if isinstance(w, tuple) else w for w in self.windows]
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Preprocessing":
        d = dict(d)
        d["windows"] = tuple(tuple(w) if isinstance(w, list) else w for w in d["windows"])
        return cls(**d)

    def describe(self) -> str:
        """One line a resident can read.

        Examples
        --------
        >>> Preprocessing(windows=("lung",), size=64, mean=(0.5,), std=(0.25,)).describe()
        'windows lung -> 1 channel(s), 64x64 px, normalised with mean (0.5,) / std (0.25,)'
        """
        names = ", ".join("header/default" if w is None else (w if isinstance(w, str) else f"C{w[0]:g}/W{w[1]:g}") for w in self.windows)
        ctx = f", 2.5D ±{self.context} slices" if self.context else ""
        return (f"windows {names} -> {self.n_channels} channel(s), {self.size}x{self.size} px{ctx}, "
                f"normalised with mean {self.mean} / std {self.std}")


# ------------------------------------------------------------------ items
@dataclass(frozen=True)
class ArrayItem:
    """An in-memory image (2-D, physical units such as HU, or 8-bit display values).

    Examples
    --------
    >>> import numpy as np
    >>> ArrayItem(np.zeros((4, 4))).array.shape
    (4, 4)
    """

    array: np.ndarray = field(repr=False, compare=False)
    name: str = "array"

    def key(self) -> str:
        cached = self.__dict__.get("_key")
        if cached is None:
            cached = "arr-" + array_digest(self.array)
            object.__setattr__(self, "_key", cached)  # arrays are treated as immutable once wrapped
        return cached

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class SliceItem:
    """Slice ``index`` of a 3-D volume: a DICOM series folder, a multi-frame file, a ``.npy`` or NIfTI file.

    Examples
    --------
    >>> SliceItem("ct/patient_001", 12)
    SliceItem(source='ct/patient_001', index=12)
    """

    source: Any
    index: int

    def __str__(self) -> str:
        return f"{self.source}[{self.index}]"


def item_name(item: Any) -> str:
    """A printable name for an item (file path, slice, array name)."""
    return str(item)


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _is_nifti(path: Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


# ------------------------------------------------------------------ resizing
def resize_stack(arr: np.ndarray, size: int, *, nearest: bool = False) -> np.ndarray:
    """Resize (..., H, W) to (..., size, size): antialiased bilinear, or nearest for label maps.

    Examples
    --------
    >>> resize_stack(np.ones((2, 10, 20), np.float32), 8).shape
    (2, 8, 8)
    """
    import torch
    import torch.nn.functional as F

    lead = arr.shape[:-2]
    h, w = arr.shape[-2:]
    if (h, w) == (size, size):
        return np.ascontiguousarray(arr)
    t = torch.from_numpy(np.ascontiguousarray(arr).reshape(-1, 1, h, w))
    if nearest:
        out = F.interpolate(t.float(), size=(size, size), mode="nearest-exact")
        out = out.to(torch.int64 if arr.dtype.kind in "iub" else t.dtype)
    else:
        out = F.interpolate(t.float(), size=(size, size), mode="bilinear", align_corners=False,
                            antialias=min(h, w) > size)
    return out.reshape(*lead, size, size).numpy().astype(arr.dtype if nearest else np.float32)


# ------------------------------------------------------------------ windowing
_WARNED: set = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, stacklevel=3)


def _window_dicom(obj: Any, windows: Sequence[WindowSpec]) -> np.ndarray:
    """Window a DicomImage/DicomSeries once per channel -> (C, ...) float32 in [0, 1]."""
    from ..dicom import window

    if getattr(obj, "is_color", False):
        grey = obj.array.astype(np.float32).mean(axis=-1) / 255.0
        return np.stack([grey] * len(windows))
    # None is radnb's one default window (radnb.dicom.default_window), the one radnb.show opens in
    return np.stack([window(obj, w) for w in windows]).astype(np.float32)


def _window_array(arr: np.ndarray, windows: Sequence[WindowSpec], name: str) -> np.ndarray:
    """Window a plain array: 8-bit data are display values (scaled by 255), others physical units."""
    from ..dicom import window

    if arr.ndim == 3 and arr.shape[-1] in (3, 4):  # RGB(A) picture -> grey
        arr = arr[..., :3].astype(np.float32).mean(axis=-1) if arr.dtype != np.uint8 else arr[..., :3].mean(axis=-1).astype(np.uint8)
    if arr.dtype == np.uint8 or arr.dtype == bool:
        if any(w not in (None, "auto") for w in windows):
            _warn_once("8bit-window", f"{name}: 8-bit images are already windowed for display; "
                                      "HU windows do not apply to them and are ignored (values are divided by 255).")
        grey = arr.astype(np.float32) / (1.0 if arr.dtype == bool else 255.0)
        return np.stack([grey] * len(windows))
    values = arr.astype(np.float32, copy=False)
    # an array has no header or modality: None is the default policy's "auto" window
    return np.stack([window(values, w) for w in windows]).astype(np.float32)


def _read_picture(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.asarray(im).astype(np.int32)  # 16-bit: keep the full range (never /255)
        if im.mode not in ("L", "RGB"):
            im = im.convert("RGB")
        return np.asarray(im)


def _load_2d(item: Any, windows: Sequence[WindowSpec], size: int) -> np.ndarray:
    if isinstance(item, ArrayItem):
        arr = np.asarray(item.array)
        if arr.ndim not in (2, 3):
            raise InvalidArgumentError(f"{item.name}: expected a 2-D image array, got shape {arr.shape}.")
        out = _window_array(arr, windows, item.name)
    else:
        path = Path(item)
        if _is_image_file(path):
            out = _window_array(_read_picture(path), windows, str(path))
        else:
            from ..dicom import read_file

            obj = read_file(path)
            if obj.ndim != 2 and not getattr(obj, "is_color", False):
                arr = obj.array
                if arr.shape[0] != 1:
                    raise TrainingDataError(
                        f"{path}: this DICOM file holds {arr.shape[0]} frames (a volume). Train on its slices "
                        "with segmentation_dls / series_slices, or pick one frame.")
                obj = obj[0]
            out = _window_dicom(obj, windows)
    return resize_stack(out, size)


def _item_key(item: Any) -> str:
    if isinstance(item, ArrayItem):
        return item.key()
    import hashlib

    from ..dicom.masks import MaskSource

    if isinstance(item, MaskSource):  # the same file mapped with other classes is another cache entry
        src = item.source if isinstance(item.source, (str, Path)) else ArrayItem(np.asarray(item.source.array))
        return _item_key(src) + "-classes-" + hashlib.sha1(repr((item.values, item.names)).encode()).hexdigest()[:12]
    path = Path(item)
    if not path.is_dir():
        return "file-" + content_key(path)
    if path.is_dir():
        return "dir-" + paths_digest(sorted(p for p in path.rglob("*") if p.is_file()))
    return "file-" + content_key(path)


def _wrap_error(item: Any, exc: Exception) -> Exception:
    if isinstance(exc, RadnbError):
        return exc
    return TrainingDataError(f"{item_name(item)}: could not be prepared for training ({type(exc).__name__}: {exc}). "
                             "Check the file, or remove it from the list.")


def load_image(item: Any, prep: Preprocessing, cache: Optional[PreprocessCache] = None) -> np.ndarray:
    """Decode, window and resize one item -> float32 (C, size, size) in [0, 1].

    ``item`` is a path (DICOM, PNG/JPEG), an :class:`ArrayItem` or a
    :class:`SliceItem` (with ``prep.context`` neighbours as extra channels).

    Examples
    --------
    >>> import numpy as np
    >>> x = load_image(ArrayItem(np.linspace(-1000, 1000, 100).reshape(10, 10)), Preprocessing(("lung",), 8))
    >>> x.shape, float(x.min()) >= 0.0, float(x.max()) <= 1.0
    ((1, 8, 8), True, True)
    """
    if isinstance(item, SliceItem):
        vol = load_volume(item.source, prep, cache)  # (Z, C, S, S)
        z = len(vol)
        idx = [min(max(item.index + d, 0), z - 1) for d in range(-prep.context, prep.context + 1)]
        return np.ascontiguousarray(np.concatenate([np.asarray(vol[i], dtype=np.float32) for i in idx], axis=0))
    try:
        if cache is None:
            return _load_2d(item, prep.windows, prep.size)
        params, pkey = prep.cache_key("image2d")
        arr = cache.get(_item_key(item), params, lambda: _load_2d(item, prep.windows, prep.size).astype(np.float16), pkey)
        return np.asarray(arr, dtype=np.float32)
    except Exception as exc:
        raise _wrap_error(item, exc) from exc


# ------------------------------------------------------------------ volumes
def _read_volume_values(source: Any):
    """-> object that radnb.window accepts (DicomSeries) or ndarray (Z, H, W)."""
    if isinstance(source, ArrayItem):
        return np.asarray(source.array)
    path = Path(source)
    if path.suffix.lower() == ".npy":
        return np.load(path)
    if _is_nifti(path):
        return read_nifti(path)
    from ..dicom import DicomSeries, load

    obj = load(path)
    if not isinstance(obj, DicomSeries):
        raise TrainingDataError(
            f"{path}: expected one DICOM series (a folder of slices or a multi-frame file), found "
            f"{type(obj).__name__}. Give one folder per series.")
    if obj.errors:
        _warn_once(f"series-errors-{path}", f"{path}: {len(obj.errors)} file(s) could not be read and were skipped: "
                                            + "; ".join(str(e) for e in obj.errors[:3]))
    return obj


def load_volume(source: Any, prep: Preprocessing, cache: Optional[PreprocessCache] = None) -> np.ndarray:
    """Decode, window and resize a whole volume -> (Z, C, size, size) (float16 when cached).

    Examples
    --------
    >>> import numpy as np
    >>> load_volume(ArrayItem(np.zeros((3, 16, 16))), Preprocessing(("lung", "bone"), 8)).shape
    (3, 2, 8, 8)
    """
    def compute():
        obj = _read_volume_values(source)
        if isinstance(obj, np.ndarray):
            chans = _window_array(obj, prep.windows, item_name(source))
        else:
            chans = _window_dicom(obj, prep.windows)
        vol = np.moveaxis(chans, 0, 1)  # (Z, C, H, W)
        return resize_stack(vol, prep.size).astype(np.float16)

    try:
        if cache is None:
            return compute()
        return cache.get(_item_key(source), prep.cache_params("volume"), compute)
    except Exception as exc:
        raise _wrap_error(source, exc) from exc


def volume_depth(source: Any, prep: Preprocessing, cache: Optional[PreprocessCache] = None) -> int:
    """Number of slices of a volume source."""
    return int(load_volume(source, prep, cache).shape[0])


# ------------------------------------------------------------------ masks
def read_nifti(path: PathLike) -> np.ndarray:
    """Read a NIfTI file as (Z, H, W) (nibabel's (X, Y, Z) transposed); needs the optional ``nibabel``.

    Examples
    --------
    >>> import os, tempfile, numpy as np, nibabel
    >>> path = os.path.join(tempfile.mkdtemp(), "mask.nii.gz")
    >>> nibabel.save(nibabel.Nifti1Image(np.zeros((4, 5, 3), np.uint8), np.eye(4)), path)
    >>> read_nifti(path).shape   # (X, Y, Z) on disk -> (Z, H, W)
    (3, 5, 4)
    """
    try:
        import nibabel
    except ImportError:
        from ..errors import MissingDependencyError

        raise MissingDependencyError("Reading NIfTI masks", "nibabel") from None
    img = nibabel.load(str(path))
    data = np.asarray(img.dataobj)
    if data.ndim == 2:
        return data.T
    return np.transpose(data, (2, 1, 0))


def read_mask(source: Any) -> np.ndarray:
    """Read a label map as class indices through radnb's one mask loader (:func:`radnb.dicom.masks.load_mask`).

    PNG/JPEG, ``.npy``, NIfTI, NRRD, DICOM SEG or an array; stored values are mapped
    to classes (``{0, 255}`` -> 0/1). A :class:`radnb.dicom.masks.MaskSource` maps
    them the way its whole data set does.

    Examples
    --------
    >>> import numpy as np
    >>> int(read_mask(ArrayItem(np.eye(3, dtype=np.uint8) * 255)).sum())
    3
    """
    from ..dicom.masks import MaskSource, load_mask as load_label_map

    if isinstance(source, MaskSource):
        return source.load().array.astype(np.int64)
    src = np.asarray(source.array) if isinstance(source, ArrayItem) else source
    return load_label_map(src).array.astype(np.int64)


def load_mask(item: Any, size: int, cache: Optional[PreprocessCache] = None) -> np.ndarray:
    """Label map of an item resized (nearest) to (size, size), int64; a SliceItem picks one slice.

    Examples
    --------
    >>> import numpy as np
    >>> load_mask(ArrayItem(np.eye(16, dtype=np.uint8)), 8).shape
    (8, 8)
    """
    def compute(src):
        arr = read_mask(src)
        return resize_stack(arr.astype(np.int16), size, nearest=True).astype(np.int16)

    try:
        if isinstance(item, SliceItem):
            params = {"kind": "mask3d", "size": size}
            vol = cache.get(_item_key(item.source), params, lambda: compute(item.source)) if cache else compute(item.source)
            if vol.ndim == 2:
                raise TrainingDataError(f"{item_name(item.source)}: the mask is 2-D but the image is a volume.")
            return np.asarray(vol[item.index], dtype=np.int64)
        params = {"kind": "mask2d", "size": size}
        arr = cache.get(_item_key(item), params, lambda: compute(item)) if cache else compute(item)
        arr = np.asarray(arr, dtype=np.int64)
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        return arr
    except Exception as exc:
        raise _wrap_error(item, exc) from exc
