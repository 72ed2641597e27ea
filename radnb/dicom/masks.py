"""One loader for segmentation masks: PNG/JPEG, NPY, NIfTI, NRRD and DICOM SEG.

Every place radnb takes a mask (``radnb.show(image, labels=...)``, ``compare``,
``segmentation_dls(images, masks)``, ``evaluate``) goes through :func:`load_mask`,
which returns a :class:`LabelMap`: contiguous class indices (0 = background),
the class names, and how the stored values were mapped to them.

Stored values are *mapped* to classes, not read as classes:

- binary masks ({0, 1}, {0, 255}, {False, True}) are background / foreground;
- a label map with a few distinct values gets contiguous classes (0, 1, 2 ...)
  in the order of its values, and the mapping is shown (``LabelMap.mapping``);
- names come from a sidecar ``labels.json`` (next to the mask, or
  ``<mask name>.json``), from NRRD segment names, or from a SEG's SegmentLabels;
- more distinct values than ``max_classes``, or a picture whose values look
  anti-aliased or JPEG-compressed, is a :class:`MaskValueError` (or a warning)
  that says what was found and what to do (e.g. ``threshold=128``).

Masks with geometry (NIfTI, NRRD, DICOM SEG) are placed on the image's grid by
their position, orientation and spacing; a mask that does not fit its image is
refused with a message naming both. Resizing (for training) is nearest-neighbour
only, so classes never blend.

Examples
--------
>>> import numpy as np
>>> lm = load_mask(np.array([[0, 255], [255, 0]], dtype=np.uint8))
>>> lm.array.tolist(), lm.classes
([[0, 1], [1, 0]], ['background', 'foreground'])
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import (MaskError, MaskGeometryError, MaskOverlapError, MaskValueError,  # noqa: F401 - re-exported
                      MissingDependencyError, RadnbError)

PathLike = Union[str, Path]

PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}
LOSSY_SUFFIXES = {".jpg", ".jpeg"}
NIFTI_SUFFIXES = (".nii", ".nii.gz")
NRRD_SUFFIXES = (".nrrd", ".nhdr")
SIDECAR_NAMES = ("labels.json", "classes.json")
DEFAULT_MAX_CLASSES = 20
BINARY_TOP_VALUES = (1, 255, 65535)


# ------------------------------------------------------------------ geometry
@dataclass
class Grid:
    """Where voxels lie in the patient (DICOM LPS, mm): array axes (slice, row, column).

    ``affine`` maps (slice, row, column, 1) to (x, y, z, 1) in patient coordinates.

    Examples
    --------
    >>> g = Grid.from_parts((2, 4, 4), origin=(0, 0, 0), spacing=(2.5, 0.5, 0.5))
    >>> g.spacing
    (2.5, 0.5, 0.5)
    """

    shape: Tuple[int, int, int]
    affine: np.ndarray
    frame_of_reference: Optional[str] = None

    @classmethod
    def from_parts(cls, shape: Sequence[int], *, origin: Sequence[float], spacing: Sequence[float],
                   orientation: Sequence[float] = (1, 0, 0, 0, 1, 0), slice_vector: Optional[Sequence[float]] = None,
                   frame_of_reference: Optional[str] = None) -> "Grid":
        """From ImagePositionPatient of the first slice, (slice, row, column) spacing and ImageOrientationPatient."""
        o = np.asarray(orientation, dtype=float)
        row_dir, col_dir = o[:3], o[3:]  # row_dir: along a row (increasing column index)
        normal = np.cross(row_dir, col_dir)
        affine = np.eye(4)
        affine[:3, 0] = np.asarray(slice_vector, float) if slice_vector is not None else normal * float(spacing[0])
        affine[:3, 1] = col_dir * float(spacing[1])
        affine[:3, 2] = row_dir * float(spacing[2])
        affine[:3, 3] = np.asarray(origin, dtype=float)
        shape = tuple(int(s) for s in shape)
        return cls((1,) * (3 - len(shape)) + shape, affine, frame_of_reference)

    @property
    def spacing(self) -> Tuple[float, float, float]:
        return tuple(float(round(np.linalg.norm(self.affine[:3, k]), 6)) for k in range(3))

    @property
    def origin(self) -> np.ndarray:
        return self.affine[:3, 3].copy()

    @property
    def direction(self) -> np.ndarray:
        """3 × 3, columns = unit vectors of the slice, row and column axes."""
        return self.affine[:3, :3] / np.array(self.spacing)

    def describe(self) -> str:
        o = ", ".join(f"{v:.1f}" for v in self.origin)
        s = " × ".join(f"{v:g}" for v in self.spacing)
        return f"{'×'.join(map(str, self.shape))} voxels of {s} mm starting at ({o})"


def grid_of(image: Any) -> Optional[Grid]:
    """The :class:`Grid` of a radnb DicomSeries / DicomImage (None when it has no position or orientation).

    Examples
    --------
    >>> import numpy as np
    >>> grid_of(np.zeros((3, 3))) is None
    True
    """
    if isinstance(image, _GriddedArray):
        return image.grid
    positions = getattr(image, "positions", None)
    orientation = getattr(image, "orientation", None)
    spacing = getattr(image, "spacing", None)
    array = getattr(image, "array", None)
    if array is None or orientation is None or spacing is None:
        return None
    meta = getattr(image, "meta", None)
    frame = str(getattr(meta, "FrameOfReferenceUID", "") or "") or None
    if positions is not None and len(spacing) == 3:
        positions = np.asarray(positions, dtype=float)
        shape = array.shape[:3]
        step = (positions[-1] - positions[0]) / (len(positions) - 1) if len(positions) > 1 else None
        return Grid.from_parts(shape, origin=positions[0], spacing=spacing, orientation=orientation,
                               slice_vector=step, frame_of_reference=frame)
    position = getattr(image, "position", None)
    if position is not None and len(spacing) == 2 and array.ndim == 2:
        thickness = float(getattr(meta, "SliceThickness", 1) or 1)
        return Grid.from_parts((1,) + array.shape, origin=position, spacing=(thickness,) + tuple(spacing),
                               orientation=orientation, frame_of_reference=frame)
    return None


def _align(mask: np.ndarray, mask_grid: Grid, image_grid: Grid, mask_name: str, image_name: str,
           channel_axis: bool = False) -> Tuple[np.ndarray, List[str]]:
    """Put a mask (Z, H, W[, C]) on the image grid with highdicom's axis permute/flip/pad/crop (no resampling)."""
    import highdicom as hd

    notes: List[str] = []
    if (mask_grid.frame_of_reference and image_grid.frame_of_reference
            and mask_grid.frame_of_reference != image_grid.frame_of_reference):
        raise MaskGeometryError(
            f"the mask belongs to another frame of reference (another scan or patient position) than the image "
            f"{image_name}: mask FrameOfReferenceUID {mask_grid.frame_of_reference}, image "
            f"{image_grid.frame_of_reference}. Load the mask with the series it was drawn on.", mask_name)
    ms, im = np.array(mask_grid.spacing), np.array(image_grid.spacing)
    if mask.shape[0] == 1 and image_grid.shape[0] == 1:
        ms[0] = im[0]  # a single slice has no meaningful slice spacing
    same_axes = np.allclose(np.abs(mask_grid.direction.T @ image_grid.direction).max(axis=0), 1, atol=1e-3)
    if not same_axes or not np.allclose(np.sort(ms), np.sort(im), rtol=1e-3, atol=1e-3):
        raise MaskGeometryError(
            f"the mask's grid does not match the image {image_name}: mask {mask_grid.describe()}, image "
            f"{image_grid.describe()}. radnb places masks without resampling; resample the mask onto the image "
            "(e.g. in 3D Slicer) or load it with the image it was drawn on.", mask_name)
    affine = mask_grid.affine.copy()
    if mask.shape[0] == 1:
        affine[:3, 0] = image_grid.affine[:3, 0]
    array = mask if channel_axis else mask[..., None]
    target = hd.VolumeGeometry(image_grid.affine, image_grid.shape, "PATIENT", image_grid.frame_of_reference)
    try:
        placed = np.stack([
            hd.Volume(np.ascontiguousarray(array[..., c]), affine, "PATIENT", image_grid.frame_of_reference)
            .match_geometry(target, tol=1e-2).array for c in range(array.shape[-1])], axis=-1)
    except (RuntimeError, ValueError) as exc:
        raise MaskGeometryError(
            f"the mask cannot be placed on the grid of the image {image_name} without resampling ({exc}): mask "
            f"{mask_grid.describe()}, image {image_grid.describe()}.", mask_name) from None
    lost = int(np.count_nonzero(array)) - int(np.count_nonzero(placed))
    if lost > 0:
        raise MaskGeometryError(
            f"{lost} labelled voxel(s) of the mask fall outside the image {image_name}: mask {mask_grid.describe()}, "
            f"image {image_grid.describe()}. Is this the series the mask was drawn on?", mask_name)
    if placed.shape[:3] != mask.shape[:3]:
        notes.append(f"placed on the image grid by position: mask {mask_grid.describe()} → image {image_grid.describe()}")
    return (placed if channel_axis else placed[..., 0]), notes


# ------------------------------------------------------------------ the result
@dataclass(repr=False)
class LabelMap:
    """A mask as classes: ``array`` holds 0 = background, 1 ... n-1 = ``classes[1:]``.

    Attributes
    ----------
    array
        int (H, W) or (Z, H, W) class indices; with ``channels=True`` uint8
        (C, Z, H, W) binary channels, one per segment (overlapping segments).
    classes
        Class names, index = class (``classes[0]`` is background); with
        channels, one name per channel.
    values
        Stored value (or SEG segment number) of each class, ``values[k]`` for class k.
    source
        The file it came from (None for arrays).
    grid
        Where the voxels lie in the patient (None when the file has no geometry).
    notes, warnings
        What was done (mapping, placement) and what looked doubtful.
    referenced_series_uid
        For a DICOM SEG: the SeriesInstanceUID of the series it annotates.

    Examples
    --------
    >>> import numpy as np
    >>> lm = load_mask(np.array([0, 10, 20, 10]), names={10: "liver", 20: "tumour"})
    >>> lm.array.tolist(), lm.classes
    ([0, 1, 2, 1], ['background', 'liver', 'tumour'])
    """

    array: np.ndarray
    classes: List[str]
    values: List[Any]
    source: Optional[Path] = None
    grid: Optional[Grid] = None
    channels: bool = False
    notes: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    referenced_series_uid: Optional[str] = None

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def spacing(self) -> Optional[Tuple[float, float, float]]:
        return self.grid.spacing if self.grid is not None else None

    @property
    def mapping(self) -> str:
        """How stored values became classes, e.g. ``'0 → 0 background, 255 → 1 foreground'``."""
        word = "segment " if self.referenced_series_uid else ""
        if self.channels:
            return ", ".join(f"{word}{v} → channel {k} {name}" for k, (v, name) in enumerate(zip(self.values, self.classes)))
        return ", ".join(f"{word}{v} → {k} {name}" if k else f"{v} → 0 {name}"
                         for k, (v, name) in enumerate(zip(self.values, self.classes)))

    def counts(self) -> Dict[str, int]:
        """Voxels per class (or per channel)."""
        if self.channels:
            return {n: int(np.count_nonzero(c)) for n, c in zip(self.classes, self.array)}
        found = np.bincount(self.array.ravel().astype(np.int64), minlength=self.n_classes)
        return {n: int(c) for n, c in zip(self.classes, found)}

    def __repr__(self) -> str:
        where = f" from {self.source.name}" if self.source is not None else ""
        kind = f"{len(self.classes)} channels" if self.channels else f"{self.n_classes} classes"
        return f"<LabelMap{where}: {'×'.join(map(str, self.array.shape))}, {kind} ({self.mapping})>"


# ------------------------------------------------------------------ reading stored values
@dataclass
class _Raw:
    array: np.ndarray
    grid: Optional[Grid] = None
    names: Dict[Any, str] = field(default_factory=dict)  # stored value -> name, from the file itself
    warnings: List[str] = field(default_factory=list)


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def _is_nrrd(path: Path) -> bool:
    return path.name.lower().endswith(NRRD_SUFFIXES)


def _ras_to_lps(affine: np.ndarray) -> np.ndarray:
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine


def _grid_from_xyz(affine_xyz: np.ndarray, shape_zyx: Sequence[int]) -> Grid:
    """Affine for array axes (x, y, z) -> one for radnb's (slice, row, column) = (z, y, x)."""
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = affine_xyz[:3, 2], affine_xyz[:3, 1], affine_xyz[:3, 0]
    affine[:3, 3] = affine_xyz[:3, 3]
    return Grid(tuple(int(s) for s in shape_zyx), affine)


def _read_picture(path: Path) -> _Raw:
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode == "P":
                arr = np.asarray(im)  # palette index = class
            elif mode in ("1", "L", "I", "I;16", "I;16B", "I;16L"):
                arr = np.asarray(im)
            else:
                arr = np.asarray(im.convert("RGB"))
    except Exception as exc:
        raise MaskError(f"the picture could not be read as a mask ({type(exc).__name__}: {exc})", path) from None
    raw = _Raw(arr)
    if arr.ndim == 3:
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2]):
            raw.array = arr[..., 0]
        else:  # a colour-coded mask: one class per colour
            colours, inverse = np.unique(arr.reshape(-1, 3), axis=0, return_inverse=True)
            codes = colours[:, 0].astype(np.int64) << 16 | colours[:, 1].astype(np.int64) << 8 | colours[:, 2]
            raw.array = codes[inverse.ravel()].reshape(arr.shape[:2])
            raw.names = {int(c): f"rgb({r},{g},{b})" for c, (r, g, b) in zip(codes, colours.tolist()) if c}
    if path.suffix.lower() in LOSSY_SUFFIXES:
        raw.warnings.append("JPEG is lossy: it blurs mask edges into in-between values. Store masks as PNG.")
    return raw


def _read_nifti(path: Path) -> _Raw:
    try:
        import nibabel
    except ImportError:
        raise MissingDependencyError("Reading NIfTI masks", "nibabel") from None
    try:
        img = nibabel.load(str(path))
        data = np.asanyarray(img.dataobj)
    except Exception as exc:
        raise MaskError(f"the NIfTI file could not be read ({type(exc).__name__}: {exc})", path) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise MaskError(f"a NIfTI mask must be 2-D or 3-D; this one has shape {data.shape}", path)
    array = np.transpose(data, (2, 1, 0))  # (x, y, z) -> (slice, row, column)
    header = getattr(img, "header", None)
    try:
        codes = (int(header["sform_code"]), int(header["qform_code"]))
    except (TypeError, KeyError, ValueError):
        codes = (1, 1)
    if codes == (0, 0):  # the file says its affine means nothing: compare sizes only
        return _Raw(array, None)
    return _Raw(array, _grid_from_xyz(_ras_to_lps(np.asarray(img.affine, float)), array.shape))


def _read_nrrd(path: Path) -> _Raw:
    try:
        import nrrd
    except ImportError:
        raise MissingDependencyError("Reading NRRD masks", "pynrrd", "pynrrd") from None
    try:
        data, header = nrrd.read(str(path), index_order="C")  # C order: (z, y, x)
    except Exception as exc:
        raise MaskError(f"the NRRD file could not be read ({type(exc).__name__}: {exc})", path) from None
    if data.ndim == 4:
        raise MaskError(
            f"this NRRD holds {data.shape[0]} layers (3D Slicer stores overlapping segments as layers). radnb reads "
            "one label per voxel: in Slicer, export the segmentation as a label map (Export visible segments to "
            "binary labelmap), or save one segment per file", path)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise MaskError(f"a NRRD mask must be 2-D or 3-D; this one has shape {data.shape}", path)
    raw = _Raw(np.asarray(data))
    directions = header.get("space directions")
    if directions is not None:
        dirs = np.array([d for d in np.asarray(directions, dtype=float) if np.all(np.isfinite(d))])
        if dirs.shape[0] == 2:
            dirs = np.vstack([dirs, np.cross(dirs[0], dirs[1]) / np.linalg.norm(np.cross(dirs[0], dirs[1]))])
        if dirs.shape == (3, 3):
            affine_xyz = np.eye(4)
            affine_xyz[:3, :3] = dirs.T  # header rows are the x, y, z axes' steps
            affine_xyz[:3, 3] = np.asarray(header.get("space origin", np.zeros(3)), dtype=float)[:3]
            space = str(header.get("space", "left-posterior-superior")).lower()
            if space in ("right-anterior-superior", "ras", "scanner-xyz"):
                affine_xyz = _ras_to_lps(affine_xyz)
            raw.grid = _grid_from_xyz(affine_xyz, raw.array.shape)
    # 3D Slicer's .seg.nrrd: Segment<k>_Name / Segment<k>_LabelValue
    k = 0
    while f"Segment{k}_Name" in header:
        value = header.get(f"Segment{k}_LabelValue", k + 1)
        raw.names[int(value)] = str(header[f"Segment{k}_Name"])
        k += 1
    return raw


def _read_dicom(path: Path, reference: Any, segments, overlap: str) -> Union[_Raw, "LabelMap"]:
    from . import seg as seg_module
    from .read import read_dataset

    ds = read_dataset(path, stop_before_pixels=True)
    if seg_module.is_segmentation(ds):
        return seg_module.read_seg(path, reference, segments=segments, overlap=overlap)
    from .read import read_file

    obj = read_file(path)  # a mask stored as an ordinary DICOM image (e.g. secondary capture)
    return _Raw(np.asarray(obj.array), grid_of(obj))


def _read_stored(source: Any, reference: Any, segments, overlap: str) -> Union[_Raw, "LabelMap"]:
    if isinstance(source, LabelMap):
        return source
    if isinstance(source, np.ndarray) or hasattr(source, "__array__") and not isinstance(source, (str, Path)):
        if hasattr(source, "array") and not isinstance(source, np.ndarray):  # a radnb image used as a mask
            return _Raw(np.asarray(source.array), grid_of(source))
        return _Raw(np.asarray(source))
    if hasattr(source, "array") and hasattr(source, "spacing"):
        return _Raw(np.asarray(source.array), grid_of(source))
    path = Path(source)
    if not path.exists():
        raise MaskError("no such mask file — check the spelling and the current folder", path)
    if path.is_dir():
        return _read_dicom_folder(path, reference, segments, overlap)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return _Raw(np.load(path, allow_pickle=False))
        except Exception as exc:
            raise MaskError(f"the .npy file could not be read ({type(exc).__name__}: {exc})", path) from None
    if suffix in PICTURE_SUFFIXES:
        return _read_picture(path)
    if _is_nifti(path):
        return _read_nifti(path)
    if _is_nrrd(path):
        return _read_nrrd(path)
    return _read_dicom(path, reference, segments, overlap)


def _read_dicom_folder(folder: Path, reference: Any, segments, overlap: str) -> Union[_Raw, "LabelMap"]:
    from . import seg as seg_module

    segs = seg_module.find_segmentations(folder)
    if len(segs) == 1:
        return seg_module.read_seg(segs[0], reference, segments=segments, overlap=overlap)
    if len(segs) > 1:
        raise MaskError(f"the folder holds {len(segs)} DICOM SEG files ({', '.join(p.name for p in segs[:5])}); "
                        "pass the one you want", folder)
    from .series import load

    obj = load(folder)
    return _Raw(np.asarray(obj.array), grid_of(obj))


# ------------------------------------------------------------------ values -> classes
def read_sidecar(path: Optional[PathLike]) -> Dict[Any, str]:
    """Class names from ``<mask>.json``, or a ``labels.json`` / ``classes.json`` beside the mask or one folder up.

    Accepted forms: ``{"0": "background", "255": "lung"}``, ``{"classes": {...}}`` (the same)
    or ``{"codes": ["background", "liver", ...]}`` (list position = stored value).

    Examples
    --------
    >>> read_sidecar(None)
    {}
    """
    if path is None:
        return {}
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    stem = path.name.split(".")[0]
    candidates = [folder / f"{stem}.json"] + [f / n for f in (folder, folder.parent) for n in SIDECAR_NAMES]
    for candidate in candidates:
        if candidate.is_file() and candidate != path:
            try:
                info = json.loads(candidate.read_text())
            except (OSError, ValueError) as exc:
                raise MaskError(f"the class-name file could not be read ({exc}); it must be JSON such as "
                                '{"0": "background", "1": "liver"}', candidate) from None
            return _names_from_json(info, candidate)
    return {}


def _names_from_json(info: Any, where: Path) -> Dict[Any, str]:
    if isinstance(info, dict) and isinstance(info.get("codes"), list):
        return {k: str(n) for k, n in enumerate(info["codes"])}
    if isinstance(info, dict) and isinstance(info.get("classes"), dict):
        info = info["classes"]
    if isinstance(info, list):
        return {k: str(n) for k, n in enumerate(info)}
    if isinstance(info, dict):
        try:
            return {int(k): str(v) for k, v in info.items()}
        except (TypeError, ValueError):
            pass
    raise MaskError('class names must look like {"0": "background", "1": "liver"} or {"codes": [...]}', where)


def _looks_antialiased(values: np.ndarray, counts: np.ndarray, dominant: float = 0.85,
                       need_middle: bool = True) -> bool:
    """Most pixels at or near the two ends of a wide range (e.g. 0 and 255), plus extra rare values: the smoothed
    (values in between) or JPEG-compressed (values scattered near both ends) edges of a binary mask.

    ``need_middle``: ask for several rare values in between (one rare value in between is an ordinary class, and
    values near 0 in a {0, 1, 2, 255} map are classes next to an 'ignore' label, not compression noise).
    """
    values = values.astype(float)
    lo, hi = values.min(), values.max()
    if len(values) < 4 or hi - lo < 100:
        return False
    band = 0.1 * (hi - lo)
    extreme = (values <= lo + band) | (values >= hi - band)
    total = counts.sum()
    middle = counts[~extreme]
    if need_middle and len(middle) < 2:
        return False
    return bool(counts[extreme].sum() > dominant * total and (len(middle) == 0 or middle.max() < 0.05 * total))


def _looks_jpeg(values: np.ndarray, counts: np.ndarray) -> bool:
    """A binary mask after JPEG: every pixel near 0 or the top value, with several rare values next to them."""
    v = values.astype(float)
    lo, hi = v.min(), v.max()
    if len(v) < 4 or hi - lo < 100:
        return False
    band = 0.1 * (hi - lo)
    near = (v <= lo + band) | (v >= hi - band)
    inexact = (v != lo) & (v != hi)
    total = counts.sum()
    return bool(near.all() and inexact.sum() >= 2 and counts[inexact].max() < 0.05 * total)


def value_classes(values: Sequence[Any], names: Optional[Mapping[Any, str]] = None) -> Tuple[List[Any], List[str]]:
    """Stored values -> (values in class order, class names): 0 is background, the rest in value order.

    Binary sets ({0, v} with one non-zero value) are background / foreground.

    Examples
    --------
    >>> value_classes([0, 255])
    ([0, 255], ['background', 'foreground'])
    >>> value_classes([0, 3, 7], {3: "liver"})
    ([0, 3, 7], ['background', 'liver', 'class 7'])
    """
    names = dict(names or {})
    found = sorted({_plain(v) for v in values} | set(names))
    ordered = [0] + [v for v in found if v != 0]
    if len(ordered) == 2 and ordered[1] not in names:
        labels = [names.get(0, "background"), "foreground"]
    else:
        labels = [names.get(v, "background" if v == 0 else f"class {v}") for v in ordered]
    return ordered, labels


def _plain(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    return v


def mask_values(array: np.ndarray, name: str = "mask", *, threshold: Optional[float] = None,
                max_classes: int = DEFAULT_MAX_CLASSES) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """Distinct stored values, their counts and warnings; refuses what cannot be a few classes.

    Examples
    --------
    >>> import numpy as np
    >>> mask_values(np.array([0, 255, 255]))[0].tolist()
    [0, 255]
    """
    arr = np.asarray(array)
    notes: List[str] = []
    if threshold is not None:
        arr = (arr >= threshold).astype(np.uint8)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise MaskValueError(f"the {name} contains NaN; a mask holds whole class numbers")
        if not np.array_equal(arr, np.rint(arr)):
            raise MaskValueError(
                f"the {name} holds fractions (between {arr.min():.3g} and {arr.max():.3g}): it looks like "
                "probabilities, not classes. Threshold it first (e.g. threshold=0.5 or prob > 0.5)")
    if arr.dtype.kind not in "biuf":
        raise MaskValueError(f"the {name} holds {arr.dtype} values; a mask holds whole class numbers")
    values, counts = np.unique(arr, return_counts=True)
    if (values < 0).any():
        raise MaskValueError(f"the {name} holds negative values ({values[values < 0][:5].tolist()}); "
                             "class numbers start at 0 = background")
    smooth = _looks_antialiased(values, counts) or _looks_jpeg(values, counts)
    if len(values) > max_classes:
        # a photograph has no two ends this common; JPEG noise may leave no values in between
        smooth = _looks_antialiased(values, counts, dominant=0.6, need_middle=False)
        shown = ", ".join(str(_plain(v)) for v in values[:6]) + f", ... {_plain(values[-1])}"
        hint = (f"Most pixels are {_plain(values[0])} or {_plain(values[-1])}, with a thin spread of values in between: this looks like a binary mask whose edges were "
                "smoothed (anti-aliased) or JPEG-compressed. Pass threshold=128 (or half its maximum) to make it "
                "binary, or re-export the mask as PNG without smoothing." if smooth else
                "This does not look like a mask of a few classes (an image saved as a mask?). Check the file; "
                f"if it really has more classes, pass max_classes={len(values)}.")
        raise MaskValueError(f"the {name} holds {len(values)} distinct values ({shown}), more than "
                             f"max_classes={max_classes}. {hint}")
    if smooth:
        rare = values[counts < 0.02 * counts.sum()]
        notes.append(f"the {name} looks anti-aliased or JPEG-compressed: {len(rare)} rare value(s) "
                     f"({', '.join(str(_plain(v)) for v in rare[:5])}) besides its two main values; they were kept "
                     "as classes. If it is binary, load it with threshold=128.")
    return values, counts, notes


def apply_classes(array: np.ndarray, ordered_values: Sequence[Any], name: str = "mask",
                  threshold: Optional[float] = None) -> np.ndarray:
    """Replace stored values by class indices (position in ``ordered_values``); unknown values are an error.

    Examples
    --------
    >>> import numpy as np
    >>> apply_classes(np.array([0, 10, 20]), [0, 10, 20]).tolist()
    [0, 1, 2]
    """
    arr = np.asarray(array)
    if threshold is not None:
        arr = (arr >= threshold).astype(np.uint8)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    table = np.asarray(ordered_values, dtype=np.int64)
    order = np.argsort(table)
    flat = np.rint(arr).astype(np.int64) if arr.dtype.kind == "f" else arr.astype(np.int64)
    pos = np.searchsorted(table[order], flat)
    pos = np.clip(pos, 0, len(table) - 1)
    ok = table[order][pos] == flat
    if not ok.all():
        bad = np.unique(flat[~ok])[:5].tolist()
        raise MaskValueError(f"the {name} holds value(s) {bad} that are not among the classes {list(ordered_values)}; "
                             "give class names for every value (names= or labels.json)")
    return order[pos].astype(np.int64 if len(table) > 255 else np.uint8)


# ------------------------------------------------------------------ the loader
def load_mask(
    source: Any,
    like: Any = None,
    *,
    names: Optional[Union[Mapping[Any, str], Sequence[str]]] = None,
    values: Optional[Sequence[Any]] = None,
    threshold: Optional[float] = None,
    max_classes: int = DEFAULT_MAX_CLASSES,
    reference: Any = None,
    segments: Optional[Sequence[Union[int, str]]] = None,
    overlap: str = "error",
) -> LabelMap:
    """Read a mask from any supported source and map its stored values to classes.

    Parameters
    ----------
    source
        A path (``.png``/``.jpg``/``.bmp``/``.tif``, ``.npy``, ``.nii``/``.nii.gz``,
        ``.nrrd``, a DICOM SEG or a DICOM image used as a mask), an array, or a
        :class:`LabelMap`.
    like
        The image the mask belongs to (radnb DicomSeries/DicomImage, a path to one,
        or an array). The mask is placed on / checked against its grid and size;
        a DICOM SEG uses it as its referenced series.
    names
        Class names per stored value (``{255: "lung"}``) or a list (position =
        value). Default: the file's own names, then a ``labels.json`` sidecar.
    values
        The stored values of every class, in class order (``[0, 10, 20]``), to map
        several files the same way (``segmentation_dls`` does this for you).
    threshold
        Make the mask binary: stored value >= threshold is foreground.
    max_classes
        More distinct stored values than this is an error.
    reference
        For a DICOM SEG: its referenced series (folder, files or a loaded series);
        default ``like``, else the series in the SEG's folder.
    segments
        For a DICOM SEG: which segments to keep (numbers or labels), in class order.
    overlap
        For a DICOM SEG with overlapping segments: ``"error"`` (explain and stop) or
        ``"channels"`` (one binary channel per segment, ``LabelMap.channels``).

    Returns
    -------
    LabelMap

    Raises
    ------
    MaskError, MaskValueError, MaskGeometryError, MaskOverlapError

    Examples
    --------
    >>> import numpy as np
    >>> lm = load_mask(np.array([[False, True]]))
    >>> lm.array.tolist(), lm.mapping
    ([[0, 1]], '0 → 0 background, 1 → 1 foreground')
    """
    if overlap not in ("error", "channels"):
        raise MaskError(f"overlap must be 'error' or 'channels', not {overlap!r}")
    path = Path(source) if isinstance(source, (str, Path)) else None
    label = str(path) if path is not None else "mask"
    like_obj = _as_image(like)
    is_dicom_image = like_obj is not None and (hasattr(like_obj, "datasets") or hasattr(like_obj, "meta"))
    ref = reference if reference is not None else (like_obj if is_dicom_image else None)
    raw = _read_stored(source, ref, segments, overlap)
    if isinstance(raw, LabelMap):
        result = raw
        if values is not None and not result.channels:
            result = _remap_labelmap(result, values, names)
    else:
        file_names = dict(raw.names)
        given = _names_dict(names)
        sidecar = read_sidecar(path) if path is not None and not given and not file_names else {}
        value_names = given or file_names or sidecar
        found, _counts, notes = mask_values(raw.array, f"mask {path.name}" if path else "mask",
                                            threshold=threshold, max_classes=max_classes)
        if values is not None:
            ordered = [_plain(v) for v in values]
            ordered, labels = ordered, [value_names.get(v, "background" if v == 0 else f"class {v}") for v in ordered]
            if names is not None and not isinstance(names, Mapping):
                labels = list(names)
        else:
            ordered, labels = value_classes(found if threshold is None else [0, 1], value_names)
        if threshold is not None:
            ordered = [0, 1]
        array = apply_classes(raw.array, ordered, f"mask {path.name}" if path else "mask", threshold)
        result = LabelMap(array, labels, ordered, path, raw.grid, warnings=raw.warnings + notes)
        result.notes.append("mask values → classes: " + result.mapping)
    for w in result.warnings:
        warnings.warn(f"{label}: {w}", stacklevel=2)
    if like_obj is not None and not (result.referenced_series_uid and ref is like_obj):
        if result.referenced_series_uid:  # a SEG already on its own series' grid: only the size must agree
            result.grid = None
        result = _fit_to(result, like_obj, label, like)
    return result


def _names_dict(names: Any) -> Dict[Any, str]:
    if names is None:
        return {}
    if isinstance(names, Mapping):
        return {_plain(k): str(v) for k, v in names.items()}
    return {k: str(v) for k, v in enumerate(names)}


def _remap_labelmap(lm: LabelMap, values: Sequence[Any], names: Any) -> LabelMap:
    """A SEG read with its own segment numbers -> the class order shared by a data set."""
    wanted = [_plain(v) for v in values]
    lut = np.zeros(max(max(lm.values), max(wanted)) + 1, dtype=np.uint8)
    for k, v in enumerate(lm.values):
        if v not in wanted:
            raise MaskValueError(f"segment {v} ({lm.classes[k]}) is not among the classes {wanted}", lm.source)
        lut[k] = wanted.index(v)
    given = _names_dict(names)
    classes = [given.get(v, lm.classes[lm.values.index(v)] if v in lm.values else f"class {v}") for v in wanted]
    return LabelMap(lut[lm.array], classes, wanted, lm.source, lm.grid, False, lm.notes, lm.warnings,
                    lm.referenced_series_uid)


def _as_image(like: Any) -> Any:
    if like is None:
        return None
    if isinstance(like, (str, Path)):
        path = Path(like)
        if path.suffix.lower() in PICTURE_SUFFIXES or path.suffix.lower() == ".npy":
            return _read_stored(path, None, None, "error").array  # only its size matters
        if _is_nifti(path) or _is_nrrd(path):
            raw = _read_stored(path, None, None, "error")
            return _GriddedArray(raw.array, raw.grid)
        from .series import load

        return load(path)
    return like


@dataclass
class _GriddedArray:
    """An image read from NIfTI/NRRD: its voxels and where they lie."""

    array: np.ndarray
    grid: Optional[Grid]


def _fit_to(lm: LabelMap, image: Any, mask_name: str, image_arg: Any) -> LabelMap:
    """Check (and, with geometry on both sides, place) a mask on its image's grid."""
    image_name = str(image_arg) if isinstance(image_arg, (str, Path)) else _describe_image(image)
    image_grid = grid_of(image)
    image_shape = tuple(np.asarray(getattr(image, "array", image)).shape)
    if getattr(image, "is_color", False) or (len(image_shape) == 3 and image_shape[-1] in (3, 4) and image_grid is None):
        image_shape = image_shape[:2]
    if lm.grid is not None and image_grid is not None:
        arr = lm.array if lm.array.ndim >= 3 else lm.array[None]
        if lm.channels:
            placed, notes = _align(np.moveaxis(arr, 0, -1), lm.grid, image_grid, mask_name, image_name, True)
            lm.array = np.moveaxis(placed, -1, 0)
        else:
            placed, notes = _align(arr, lm.grid, image_grid, mask_name, image_name)
            lm.array = placed if len(image_shape) == 3 else placed[0]
        lm.grid = image_grid
        lm.notes += notes
        return lm
    shape = lm.array.shape[1:] if lm.channels else lm.array.shape
    if len(shape) == 3 and shape[0] == 1 and len(image_shape) == 2:
        lm.array = lm.array[..., 0, :, :] if lm.channels else lm.array[0]
        shape = shape[1:]
    if tuple(shape) != tuple(image_shape):
        raise MaskGeometryError(
            f"the mask has {'×'.join(map(str, shape))} voxels but the image {image_name} has "
            f"{'×'.join(map(str, image_shape))}; a mask must be drawn on the same grid as its image", mask_name)
    return lm


def _describe_image(image: Any) -> str:
    paths = getattr(image, "paths", None) or ([image.path] if getattr(image, "path", None) else [])
    if paths:
        first = Path(paths[0])
        return str(first.parent) if len(paths) > 1 else str(first)
    return "(in-memory image)"


def resize_nearest(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Nearest-neighbour resize of the last two axes (masks never blend classes).

    Examples
    --------
    >>> import numpy as np
    >>> resize_nearest(np.array([[0, 1], [2, 3]]), (4, 4))[1].tolist()
    [0, 0, 1, 1]
    """
    h, w = array.shape[-2:]
    rows = np.minimum((np.arange(shape[0]) + 0.5) * h / shape[0], h - 1).astype(int)
    cols = np.minimum((np.arange(shape[1]) + 0.5) * w / shape[1], w - 1).astype(int)
    return array[..., rows[:, None], cols[None, :]]


def survey_values(sources: Sequence[Any], *, names: Optional[Mapping[Any, str]] = None,
                  max_classes: int = DEFAULT_MAX_CLASSES) -> Tuple[List[Any], List[str]]:
    """The classes a whole set of masks shares: (stored values in class order, names).

    Every mask of a data set must map the same stored value to the same class;
    this reads them all once (SEG files only their headers) and orders the union.

    Examples
    --------
    >>> import numpy as np
    >>> survey_values([np.array([0, 3]), np.array([0, 7])])
    ([0, 3, 7], ['background', 'class 3', 'class 7'])
    """
    found: set = set()
    file_names: Dict[Any, str] = {}
    sidecar: Dict[Any, str] = {}
    for src in sources:
        if isinstance(src, (str, Path)) and Path(src).is_file() and not Path(src).suffix.lower() in (
                {".npy"} | PICTURE_SUFFIXES) and not _is_nifti(Path(src)) and not _is_nrrd(Path(src)):
            from . import seg as seg_module

            info = seg_module.segment_info(src)
            if info is not None:
                found.update(info)
                file_names.update(info)
                continue
        raw = _read_stored(src, None, None, "error")
        if isinstance(raw, LabelMap):
            found.update(raw.values)
            file_names.update(dict(zip(raw.values, raw.classes)))
            continue
        vals, _, _ = mask_values(raw.array, f"mask {src}" if isinstance(src, (str, Path)) else "mask",
                                 max_classes=max_classes)
        found.update(_plain(v) for v in vals)
        file_names.update(raw.names)
        if isinstance(src, (str, Path)) and not sidecar:
            sidecar = read_sidecar(src)
    value_names = dict(names or {}) or file_names or sidecar
    if len(found | set(value_names)) > max_classes:
        raise MaskValueError(f"the masks together hold {len(found)} distinct values, more than max_classes={max_classes}")
    return value_classes(sorted(found), value_names)


@dataclass(frozen=True)
class MaskSource:
    """A mask file (or array) with the classes its whole data set shares; what training items hold.

    ``values`` are the stored values of each class in class order, ``names`` their
    names; ``reference`` is the image it belongs to (a DICOM SEG is placed on it).

    Examples
    --------
    >>> import numpy as np
    >>> MaskSource(np.array([0, 7]), values=(0, 3, 7), names=("background", "a", "b")).load().array.tolist()
    [0, 2]
    """

    source: Any = field(compare=False)
    values: Tuple[Any, ...] = ()
    names: Tuple[str, ...] = ()
    reference: Any = field(default=None, compare=False)

    def load(self) -> LabelMap:
        src = self.source
        if not isinstance(src, (str, Path, np.ndarray)) and hasattr(src, "array"):
            src = np.asarray(src.array)
        reference = self.reference if _is_dicom_source(src) and isinstance(self.reference, (str, Path)) else None
        return load_mask(src, names=dict(zip(self.values, self.names)), values=self.values or None,
                         reference=reference, max_classes=max(DEFAULT_MAX_CLASSES, len(self.values)))

    def __str__(self) -> str:
        return str(getattr(self.source, "name", self.source)) if not isinstance(self.source, (str, Path)) \
            else str(self.source)


def _is_dicom_source(src: Any) -> bool:
    if not isinstance(src, (str, Path)):
        return False
    p = Path(src)
    return p.is_file() and p.suffix.lower() not in {".npy"} | PICTURE_SUFFIXES and not _is_nifti(p) and not _is_nrrd(p)


__all__ = ["MaskSource", 
    "LabelMap", "Grid", "load_mask", "grid_of", "read_sidecar", "value_classes", "mask_values", "apply_classes",
    "resize_nearest", "survey_values", "MaskError", "MaskValueError", "MaskGeometryError", "MaskOverlapError",
]
