"""Assembling slices into series, and loading files, lists and folders.

Slices are grouped by SeriesInstanceUID, sorted by their position along the
slice normal (the cross product of the ImageOrientationPatient row and column
directions), falling back to InstanceNumber, and checked for gaps and uneven
spacing. One bad file never spoils a folder: it is listed in ``.errors``.
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple, Union

import numpy as np

from ..errors import DicomError, DicomFileNotFoundError, InconsistentSeriesError, NotDicomError, RadnbError
from .image import DicomImage, DicomSeries, LoadError, SeriesCollection
from .read import read_file

PathLike = Union[str, Path]
Loaded = Union[DicomImage, DicomSeries, SeriesCollection]

# Files in a folder with these endings are clearly not DICOM: skip them quietly.
NOT_DICOM_SUFFIXES = {
    ".csv", ".json", ".txt", ".md", ".npy", ".npz", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif",
    ".tiff", ".nii", ".gz", ".zip", ".tar", ".xml", ".html", ".pdf", ".py", ".ipynb", ".yaml", ".yml",
    ".lock", ".pkl", ".pth", ".pt", ".mhd", ".raw", ".nrrd", ".log",
}
# Modalities whose multi-image series are volumes even without positions.
VOLUME_MODALITIES = {"CT", "MR", "PT", "NM", "ST"}


def _slice_sort(images: Sequence[DicomImage]) -> Tuple[List[DicomImage], List[str], float, bool]:
    """Sort slices; return (sorted, warnings, slice spacing mm, spacing known)."""
    warnings: List[str] = []
    have_geometry = all(im.position is not None and im.orientation is not None for im in images)
    if have_geometry:
        orient = images[0].orientation
        normal = np.cross(orient[:3], orient[3:])
        if any(not np.allclose(im.orientation, orient, atol=1e-3) for im in images):
            warnings.append("Slices have different orientations (e.g. a scout or a tilted acquisition); sorted along the first slice's normal.")
        where = np.array([float(im.position @ normal) for im in images])
        order = np.argsort(where, kind="stable")
        images = [images[k] for k in order]
        where = where[order]
        steps = np.diff(where)
        dup = int(np.sum(np.abs(steps) < 1e-3))
        if dup:
            warnings.append(f"{dup} slice(s) share a position with another (duplicates or multiple echoes/phases).")
        steps = steps[np.abs(steps) >= 1e-3]
        if steps.size == 0:
            return images, warnings, _thickness(images[0]), False
        spacing = float(np.median(steps))
        gaps = np.nonzero(steps > 1.5 * spacing)[0]
        for g in gaps[:5]:
            warnings.append(
                f"Gap after slice {g}: {steps[g]:.2f} mm instead of {spacing:.2f} mm — slices may be missing."
            )
        if len(gaps) > 5:
            warnings.append(f"... and {len(gaps) - 5} more gaps.")
        if not len(gaps) and steps.size > 1 and (steps.max() - steps.min()) > 0.1 * spacing:
            warnings.append(
                f"Uneven slice spacing: between {steps.min():.2f} and {steps.max():.2f} mm (median {spacing:.2f} mm)."
            )
        return images, warnings, spacing, True
    numbers = [_instance_number(im) for im in images]
    if all(n is not None for n in numbers):
        images = [im for _, im in sorted(zip(numbers, images), key=lambda t: t[0])]
        warnings.append("Slice positions are missing: slices were ordered by InstanceNumber.")
    else:
        warnings.append("Slice positions and instance numbers are missing: slices are in file-name order.")
    thickness = _thickness(images[0])
    if thickness is None:
        warnings.append("Slice spacing is unknown; 1 mm is assumed.")
    return images, warnings, thickness or 1.0, thickness is not None


def _instance_number(im: DicomImage):
    """InstanceNumber as an int, or None when absent or malformed (a damaged header must not stop a load)."""
    try:
        value = getattr(im.meta, "InstanceNumber", None)
        return None if value in (None, "") else int(value)
    except Exception:  # absent, malformed, or a VR pydicom cannot convert
        return None


def _thickness(im: DicomImage):
    for kw in ("SpacingBetweenSlices", "SliceThickness"):
        v = _meta_value(im.meta, kw)
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if v > 0:
            return v
    return None


def stack_slices(images: Sequence[DicomImage]) -> DicomSeries:
    """Build a :class:`DicomSeries` from 2D slices of one series (sorted, with geometry checks).

    Parameters
    ----------
    images
        Slices of the same size from one series, in any order.

    Examples
    --------
    >>> import numpy as np
    >>> from radnb.dicom.image import DicomImage
    >>> sl = [DicomImage(np.full((2, 2), z, np.float32), position=np.array([0, 0, z]),
    ...                  orientation=np.array([1., 0, 0, 0, 1, 0])) for z in (2.0, 0.0, 1.0)]
    >>> s = stack_slices(sl)
    >>> s.array[:, 0, 0].tolist(), s.spacing[0]
    ([0.0, 1.0, 2.0], 1.0)
    """
    if not images:
        raise InconsistentSeriesError("no slices to stack")
    images, warnings, slice_mm, slice_known = _slice_sort(list(images))
    first = images[0]
    shape = first.array.shape
    array = np.empty((len(images),) + shape, dtype=first.array.dtype)
    for k, im in enumerate(images):
        array[k] = im.array
    positions = None
    if all(im.position is not None for im in images):
        positions = np.stack([im.position for im in images])
    windows = [im.default_window for im in images if im.default_window is not None]
    for im in images:  # e.g. a damaged Modality LUT in one slice
        warnings += [f"{im.path.name if im.path else 'a slice'}: {w}" for w in getattr(im, "warnings", [])]
    return DicomSeries(
        array=array,
        spacing=(slice_mm, first.spacing[0], first.spacing[1]),
        positions=positions,
        orientation=first.orientation,
        datasets=[im.meta for im in images],
        paths=[im.path for im in images if im.path is not None],
        modality=first.modality,
        photometric=first.photometric,
        invert=first.invert,
        default_window=Counter(windows).most_common(1)[0][0] if windows else None,
        units=first.units,
        spacing_known=slice_known and first.spacing_known,
        warnings=warnings,
    )


def _meta_value(meta: Any, keyword: str, default: Any = None) -> Any:
    """An attribute of a kept header, or ``default`` when absent or malformed (pydicom converts lazily)."""
    try:
        return getattr(meta, keyword, default)
    except Exception:
        return default


def _series_key(item: DicomImage) -> str:
    uid = _meta_value(item.meta, "SeriesInstanceUID")
    if uid:
        return str(uid)
    parent = item.path.parent if item.path is not None else "memory"
    return f"no-series-uid:{parent}:{item.modality}"


def assemble(items: Sequence[Union[DicomImage, DicomSeries]]) -> Tuple[List[Union[DicomImage, DicomSeries]], List[LoadError]]:
    """Group loaded files into series; returns (images and series, files that did not fit).

    Examples
    --------
    >>> assemble([])
    ([], [])
    """
    out: List[Union[DicomImage, DicomSeries]] = []
    errors: List[LoadError] = []
    groups: Dict[str, List[DicomImage]] = defaultdict(list)
    for item in items:
        if isinstance(item, DicomSeries):
            out.append(item)
        else:
            groups[_series_key(item)].append(item)
    for key, members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        have_positions = all(m.position is not None for m in members)
        is_volume = have_positions or members[0].modality.upper() in VOLUME_MODALITIES
        if not is_volume:  # e.g. a PA and a lateral radiograph: separate pictures, not a volume
            out.extend(members)
            continue
        shapes = Counter(m.array.shape for m in members)
        majority, _ = shapes.most_common(1)[0]
        fitting = [m for m in members if m.array.shape == majority]
        for m in members:
            if m.array.shape != majority:
                errors.append(
                    LoadError(
                        m.path or Path("<memory>"),
                        InconsistentSeriesError(
                            f"has {'×'.join(map(str, m.array.shape))} pixels but the rest of its series has "
                            f"{'×'.join(map(str, majority))}; it was left out of the volume",
                            m.path,
                        ),
                    )
                )
        try:
            out.append(stack_slices(fitting) if len(fitting) > 1 else fitting[0])
        except Exception:  # a malformed geometry value in one slice: keep the slices as separate images
            out.extend(fitting)
    out.sort(key=_sort_key)
    return out, errors


def _sort_key(item) -> Tuple:
    meta = item.meta
    number = str(_meta_value(meta, "SeriesNumber", "") or "").strip()
    return (
        str(_meta_value(meta, "StudyInstanceUID", "") or ""),
        int(number) if number.lstrip("-").isdigit() else 0,
        str(item.path or ""),
    )


def _walk(folder: Path, recursive: bool) -> List[Path]:
    files: List[Path] = []
    if recursive:
        for root, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            files.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
    else:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return files


def _read_many(paths: Iterable[Path], *, quiet_skip: bool) -> Tuple[list, List[LoadError], List[Path]]:
    items, errors, skipped = [], [], []
    for p in paths:
        if quiet_skip and (p.suffix.lower() in NOT_DICOM_SUFFIXES or p.name.upper() == "DICOMDIR"):
            skipped.append(p)
            continue
        try:
            items.append(read_file(p))
        except RadnbError as exc:
            errors.append(LoadError(p, exc))
        except Exception as exc:  # a library bug must not lose the rest of the folder
            errors.append(LoadError(p, DicomError(f"unexpected error while reading ({type(exc).__name__}: {exc})", p)))
    return items, errors, skipped


def load(source: Union[PathLike, Sequence[PathLike]], *, recursive: bool = True) -> Loaded:
    """Load DICOM from a file, a list of files or a folder.

    Files are recognised by content (many scanners write names without
    ``.dcm``). Pixel values come back in physical units: Hounsfield units
    for CT.

    Parameters
    ----------
    source
        A file, a folder (searched recursively) or a list of files.
    recursive
        Search sub-folders of a folder.

    Returns
    -------
    DicomImage, DicomSeries or SeriesCollection
        A file gives a :class:`DicomImage` (or a :class:`DicomSeries` when it is
        multi-frame). A folder or list holding exactly one image or series gives
        that object; otherwise a :class:`SeriesCollection`. Files that failed
        are listed in ``.errors`` on what is returned; the rest still load.

    Raises
    ------
    DicomFileNotFoundError
        The path does not exist.
    NotDicomError, NoPixelDataError, UnsupportedTransferSyntaxError, CorruptDicomError
        For a single file that cannot be read (a folder or list never raises
        these: it reports them in ``.errors``).
    DicomError
        A folder or list in which no file could be loaded (the message lists why).

    Examples
    --------
    >>> import radnb, pydicom.data
    >>> ct = radnb.load(pydicom.data.get_testdata_file("CT_small.dcm"))
    >>> round(float(ct.array.min()))  # HU, not raw stored values
    -896
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DicomFileNotFoundError("no such file or folder — check the spelling and the current folder", path)
        if path.is_file():
            return read_file(path)
        paths = _walk(path, recursive)
        where = path
        items, errors, skipped = _read_many(paths, quiet_skip=True)
    else:
        paths = [Path(p) for p in source]
        where = None
        items, errors, skipped = _read_many(paths, quiet_skip=False)
    grouped, fit_errors = assemble(items)
    errors += fit_errors
    if not grouped:
        what = f"the folder {where}" if where is not None else "the given files"
        if not errors:
            raise NotDicomError(f"no DICOM files were found in {what}", where)
        reasons = "; ".join(str(e) for e in errors[:3]) + (" ..." if len(errors) > 3 else "")
        raise DicomError(f"none of the {len(errors)} file(s) in {what} could be loaded: {reasons}", where)
    if len(grouped) == 1:
        result = grouped[0]
        result.errors = errors
        return result
    return SeriesCollection(grouped, errors=errors, skipped=skipped)
