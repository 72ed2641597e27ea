"""Turn whatever the user passes to a viewer into one :class:`Volume`.

Accepted: a path (file or folder, read with :func:`radnb.load`), a pydicom
Dataset, a radnb ``DicomImage`` / ``DicomSeries``, a numpy array or a torch
tensor (2D or 3D, leading size-1 axes are dropped).

Examples
--------
>>> import numpy as np
>>> from radnb.viewers.volume import as_volume
>>> vol = as_volume(np.zeros((4, 32, 32)), spacing=(2.5, 0.7, 0.7))
>>> vol.shape, vol.spacing
((4, 32, 32), (2.5, 0.7, 0.7))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidArgumentError

#: Pixel data above this many bytes (as int16/float32 in the browser) is downsampled in-plane
#: for display, and the viewer says so on screen. A 512x512x300 CT (150 MiB as int16) fits.
BROWSER_BUDGET_BYTES = 320 * 2**20


@dataclass
class Volume:
    """Pixel data and geometry the viewers display.

    Attributes
    ----------
    array
        (slices, rows, columns) in physical units, or (slices, rows, columns, 3) uint8 for colour.
    spacing
        (slice, row, column) spacing in mm.
    modality, units
        DICOM modality ("" if unknown) and "HU" / "raw".
    invert
        Display inverted (MONOCHROME1).
    header_window
        (center, width) from the DICOM header, or None.
    meta
        A pydicom Dataset for the header panel, or None.
    superior_first
        True when slice 0 is the most superior slice (the coronal and sagittal views
        then need no flip to put the head at the top).
    name
        Short description shown in the viewer.
    notes
        Plain-language notes shown on screen (e.g. load errors, geometry warnings).
    positions, orientation
        DICOM ImagePositionPatient per slice ((slices, 3), mm, patient LPS) and
        ImageOrientationPatient (6 direction cosines), or None: with both, the hover
        readout gives patient coordinates as a PACS does.
    datasets
        One pydicom Dataset per slice (pixel data dropped), so the header panel shows
        the header of the slice on screen; empty when unknown.
    spacing_known
        False for plain arrays given without ``spacing=``: readouts then give pixel
        indices, not millimetres.
    """

    array: np.ndarray
    spacing: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    modality: str = ""
    units: str = "raw"
    invert: bool = False
    header_window: Optional[Tuple[float, float]] = None
    meta: Any = None
    superior_first: bool = True
    name: str = ""
    notes: List[str] = field(default_factory=list)
    positions: Optional[np.ndarray] = None
    orientation: Optional[np.ndarray] = None
    datasets: List[Any] = field(default_factory=list)
    spacing_known: bool = True

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(int(s) for s in self.array.shape)

    @property
    def is_color(self) -> bool:
        return self.array.ndim == 4


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) in ("torch.bfloat16", "torch.float16"):
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _squeeze_to_3d(arr: np.ndarray, what: str) -> np.ndarray:
    """(H, W) -> (1, H, W); drop leading size-1 axes; keep (Z, H, W) and RGB (..., 3) uint8."""
    is_rgb = arr.dtype == np.uint8 and arr.ndim >= 3 and arr.shape[-1] == 3
    core = 3 if is_rgb else 2
    while arr.ndim > core + 1 and arr.shape[0] == 1:
        arr = arr[0]
    if not is_rgb and arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[1] > 8 and arr.dtype == np.uint8:
        arr = np.moveaxis(arr, 0, -1)  # (3, H, W) uint8 image tensor -> RGB
        is_rgb, core = True, 3
    if arr.ndim == core:
        arr = arr[None]
    if arr.ndim != core + 1:
        raise InvalidArgumentError(
            f"{what} has shape {tuple(arr.shape)}; the viewer shows 2D images (rows, columns) or 3D "
            "volumes (slices, rows, columns). Select one image first, e.g. x[0] for a batch."
        )
    if 0 in arr.shape:
        raise InvalidArgumentError(f"{what} is empty (shape {tuple(arr.shape)}).")
    return arr


def _check_spacing(spacing: Optional[Sequence[float]], ndim: int) -> Optional[Tuple[float, float, float]]:
    if spacing is None:
        return None
    sp = [float(s) for s in spacing]
    if len(sp) == 2:
        sp = [1.0] + sp
    if len(sp) != 3 or not all(np.isfinite(s) and s > 0 for s in sp):
        raise InvalidArgumentError(
            f"spacing must be 2 (row, column) or 3 (slice, row, column) positive numbers in mm; got {spacing!r}."
        )
    return (sp[0], sp[1], sp[2])


def _superior_first(positions: Any) -> bool:
    """Slice 0 is superior when patient z (LPS: +z is head) decreases along the stack."""
    if positions is None:
        return True
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 2 or pos.shape[0] < 2:
        return True
    return bool(pos[-1, 2] <= pos[0, 2])


def _from_radnb(obj: Any) -> Volume:
    arr = np.asarray(obj.array)
    notes = [str(w) for w in getattr(obj, "warnings", []) or []]
    errors = getattr(obj, "errors", []) or []
    notes += [f"not loaded: {e}" for e in errors]
    if getattr(obj, "ndim", arr.ndim) == 2 or (arr.ndim == 3 and arr.shape[-1] == 3 and arr.dtype == np.uint8):
        row, col = obj.spacing
        spacing = (1.0, float(row), float(col))
        arr = arr[None]
        superior = True
        position = getattr(obj, "position", None)
        positions = None if position is None else np.asarray(position, dtype=float).reshape(1, 3)
    else:
        spacing = tuple(float(s) for s in obj.spacing)
        superior = _superior_first(getattr(obj, "positions", None))
        positions = getattr(obj, "positions", None)
    orientation = getattr(obj, "orientation", None)
    meta = getattr(obj, "meta", None)
    datasets = list(getattr(obj, "datasets", None) or ([meta] if meta is not None else []))
    path = getattr(obj, "path", None)
    return Volume(
        array=arr,
        spacing=spacing,
        modality=str(getattr(obj, "modality", "") or ""),
        units=str(getattr(obj, "units", "raw") or "raw"),
        invert=bool(getattr(obj, "invert", False)),
        header_window=getattr(obj, "default_window", None),
        meta=getattr(obj, "meta", None),
        superior_first=superior,
        name=Path(path).name if path else "",
        notes=notes,
        positions=None if positions is None or orientation is None else np.asarray(positions, dtype=float),
        orientation=None if positions is None or orientation is None else np.asarray(orientation, dtype=float),
        datasets=datasets if len(datasets) == arr.shape[0] else datasets[:1],
    )


def _load_path(path: Path) -> Any:
    from ..dicom import load

    if not path.exists():
        from ..errors import DicomError

        raise DicomError("no such file or folder. Check the path (and the current folder: os.getcwd()).", path)
    obj = load(path)
    if isinstance(obj, list):  # SeriesCollection: show the biggest item and say what else is there
        if not obj:
            errs = "; ".join(str(e) for e in getattr(obj, "errors", [])[:3])
            raise InvalidArgumentError(f"{path}: no readable DICOM images found. {errs}".strip())
        best = max(obj, key=lambda item: int(np.asarray(item.array).size))
        best_vol = _from_radnb(best)
        others = len(obj) - 1
        if others:
            best_vol.notes.append(
                f"{path} holds {len(obj)} series/images; showing the largest. Pick another with radnb.load(path)[k]."
            )
        best_vol.notes += [f"not loaded: {e}" for e in getattr(obj, "errors", [])]
        return best_vol
    return obj


def as_volume(
    x: Any,
    *,
    spacing: Optional[Sequence[float]] = None,
    modality: Optional[str] = None,
    what: str = "image",
) -> Volume:
    """Normalise a viewer input into a :class:`Volume`.

    Parameters
    ----------
    x
        Path, pydicom Dataset, radnb image/series, numpy array or torch tensor.
    spacing
        Override (or supply, for arrays) the spacing in mm: (row, column) or
        (slice, row, column).
    modality
        Override the modality, e.g. ``"CT"`` for an array of HU values.
    what
        What to call ``x`` in error messages.

    Examples
    --------
    >>> as_volume(np.ones((8, 8)), modality="CT").shape
    (1, 8, 8)
    """
    vol: Volume
    if isinstance(x, Volume):
        vol = x
    elif isinstance(x, (str, Path)):
        obj = _load_path(Path(x))
        vol = obj if isinstance(obj, Volume) else _from_radnb(obj)
    elif hasattr(x, "PixelData") or type(x).__name__ in ("Dataset", "FileDataset"):
        if "PixelData" not in x:
            from ..errors import NoPixelDataError

            raise NoPixelDataError(
                "this DICOM dataset holds no image (no Pixel Data); there is nothing to show.",
                getattr(x, "filename", None) or None,
            )
        from ..dicom import image_from_dataset

        vol = _from_radnb(image_from_dataset(x, getattr(x, "filename", None) or None))
    elif hasattr(x, "array") and hasattr(x, "spacing"):
        vol = _from_radnb(x)
    else:
        try:
            arr = _to_numpy(x)
        except Exception as exc:
            raise InvalidArgumentError(
                f"Cannot show a {type(x).__name__}: give a path, a pydicom Dataset, a radnb image/series, "
                "a numpy array or a torch tensor."
            ) from exc
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise InvalidArgumentError(
                f"Cannot show a {type(x).__name__} with {arr.dtype} values: images must be numbers."
            )
        vol = Volume(array=arr, spacing_known=spacing is not None)
    arr = _squeeze_to_3d(np.asarray(vol.array), what)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    vol.array = arr
    sp = _check_spacing(spacing, arr.ndim)
    if sp is not None:
        vol.spacing = sp
        vol.spacing_known = True
    if modality is not None:
        vol.modality = modality
        if modality.upper() == "CT":
            vol.units = "HU"
    return vol


def as_labels(x: Any, shape: Tuple[int, int, int], name: str) -> np.ndarray:
    """A label map (integer classes, 0 = background) shaped like the image, as uint8.

    Examples
    --------
    >>> as_labels(np.eye(3), (1, 3, 3), "truth").dtype
    dtype('uint8')
    """
    arr = _squeeze_to_3d(_to_numpy(getattr(x, "array", x)), name)
    if arr.shape != tuple(shape):
        raise InvalidArgumentError(
            f"The {name} label map has shape {arr.shape[-3:] if arr.shape[0] > 1 else arr.shape[1:]} "
            f"but the image has shape {tuple(shape) if shape[0] > 1 else tuple(shape[1:])}; they must match."
        )
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise InvalidArgumentError(f"The {name} label map contains NaN; label maps hold whole class numbers.")
        rounded = np.rint(arr)
        if not np.array_equal(rounded, arr):
            raise InvalidArgumentError(
                f"The {name} label map has fractional values; threshold probabilities first "
                f"(e.g. prob > 0.5) or pass them as heatmap=."
            )
        arr = rounded
    if arr.min() < 0 or arr.max() > 255:
        raise InvalidArgumentError(f"The {name} label map has values outside 0-255; class numbers must fit in a byte.")
    return np.ascontiguousarray(arr.astype(np.uint8))


def as_heatmap(x: Any, shape: Tuple[int, int, int], name: str = "heat map") -> np.ndarray:
    """A float heat map (probability, Grad-CAM) shaped like the image; smaller maps are resized.

    Grad-CAM maps are often computed at a lower resolution; they are resized
    (bilinear) to the image's rows and columns.

    Examples
    --------
    >>> as_heatmap(np.ones((4, 4)), (1, 8, 8)).shape
    (1, 8, 8)
    """
    arr = _squeeze_to_3d(_to_numpy(x), name).astype(np.float32)
    if arr.shape != tuple(shape):
        if arr.shape[0] != shape[0]:
            raise InvalidArgumentError(
                f"The {name} has {arr.shape[0]} slices but the image has {shape[0]}; they must match."
            )
        import torch
        import torch.nn.functional as F

        arr = (
            F.interpolate(torch.from_numpy(arr)[:, None], size=shape[1:], mode="bilinear", align_corners=False)[:, 0]
            .numpy()
            .astype(np.float32)
        )
    if not np.isfinite(arr).all():
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    return arr


__all__ = ["Volume", "as_volume", "as_labels", "as_heatmap", "BROWSER_BUDGET_BYTES"]
