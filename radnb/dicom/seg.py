"""DICOM Segmentation objects (SEG) in and out, through highdicom.

A DICOM SEG is how PACS and clinical viewers store a segmentation: a DICOM
object of its own (Modality ``SEG``) whose frames are binary masks, one per
segment and slice, each tied to the image it was drawn on by UID and by its
position in the patient. Reading one therefore needs the series it
annotates: :func:`read_seg` puts the frames on that series' grid (sparse
SEGs, which store only frames and rows/columns that hold something, are
padded back), and :func:`save_seg` writes a model's label map as a SEG that
references its source series, so the result opens next to the scan.

highdicom (maintained by the Imaging Data Commons team) does the DICOM work:
decoding bit-packed or compressed frames, segment descriptions, geometry.

Examples
--------
>>> import pydicom.data
>>> from radnb.dicom.seg import segment_info
>>> segment_info(pydicom.data.get_testdata_file("liver_1frame.dcm"))
{1: 'Liver'}
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import DicomError, MissingDependencyError, RadnbError, SegmentationObjectError  # noqa: F401
from .masks import Grid, LabelMap, MaskError, MaskGeometryError, MaskOverlapError, _align, grid_of
from .read import decode_pixels

PathLike = Union[str, Path]
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"


def _highdicom():
    try:
        import highdicom
    except ImportError:
        raise MissingDependencyError("Reading and writing DICOM SEG", "highdicom") from None
    return highdicom


def is_segmentation(ds: Any) -> bool:
    """True for a DICOM Segmentation object (by SOP class, or Modality SEG).

    Examples
    --------
    >>> import pydicom, pydicom.data
    >>> is_segmentation(pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm")))
    False
    """
    sop = str(getattr(ds, "SOPClassUID", "") or "")
    return sop in (SEG_SOP_CLASS, LABELMAP_SEG_SOP_CLASS) or str(getattr(ds, "Modality", "")).upper() == "SEG"


def describe(ds: Any, path: Optional[PathLike] = None) -> str:
    """A plain-words description of a SEG for messages: segments and the series it annotates."""
    labels = [f"{int(s.SegmentNumber)} {getattr(s, 'SegmentLabel', '?')}" for s in getattr(ds, "SegmentSequence", [])]
    try:
        ref = ds.ReferencedSeriesSequence[0]
        n = len(getattr(ref, "ReferencedInstanceSequence", []))
        annotates = f"{n} image(s) of series {ref.SeriesInstanceUID}"
    except (AttributeError, IndexError):
        annotates = "a series it does not name"
    return f"a DICOM SEG (segmentation) with {len(labels)} segment(s) [{', '.join(labels)}] drawn on {annotates}"


def not_an_image_error(ds: Any, path: PathLike) -> SegmentationObjectError:
    """The error :func:`radnb.load` raises for a SEG file."""
    return SegmentationObjectError(
        f"this is {describe(ds, path)}, not an image. Load it as a mask on its series: "
        f"radnb.dicom.load_mask({str(path)!r}, like=<the CT/MR series>), or view it with "
        f"radnb.show(series, labels={str(path)!r})", path)


def segment_info(path: PathLike) -> Optional[Dict[int, str]]:
    """{segment number: label} of a SEG file (header only), or None when the file is not a SEG."""
    from .read import read_dataset

    try:
        ds = read_dataset(path, stop_before_pixels=True)
    except RadnbError:
        return None
    if not is_segmentation(ds):
        return None
    return {int(s.SegmentNumber): str(getattr(s, "SegmentLabel", f"segment {int(s.SegmentNumber)}"))
            for s in getattr(ds, "SegmentSequence", [])}


def find_segmentations(folder: PathLike) -> List[Path]:
    """SEG files in a folder (recursive), by content."""
    from .read import read_dataset, sniff_dicom

    out = []
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and sniff_dicom(p):
            try:
                if is_segmentation(read_dataset(p, stop_before_pixels=True)):
                    out.append(p)
            except RadnbError:
                continue
    return out


def _referenced_series_uid(ds: Any) -> Optional[str]:
    try:
        return str(ds.ReferencedSeriesSequence[0].SeriesInstanceUID)
    except (AttributeError, IndexError):
        return None


def find_referenced_series(seg_path: PathLike, ds: Any = None):
    """Load the series a SEG annotates from the SEG's own folder (and its sub-folders).

    Raises
    ------
    MaskError
        When no file there belongs to the referenced series (the message says what to pass).
    """
    from .read import read_dataset, sniff_dicom
    from .series import load

    seg_path = Path(seg_path)
    ds = ds if ds is not None else read_dataset(seg_path, stop_before_pixels=True)
    uid = _referenced_series_uid(ds)
    folder = seg_path.parent
    members = []
    for p in sorted(folder.rglob("*")):
        if p == seg_path or not p.is_file() or not sniff_dicom(p):
            continue
        try:
            header = read_dataset(p, stop_before_pixels=True)
        except RadnbError:
            continue
        if uid is not None and str(getattr(header, "SeriesInstanceUID", "")) == uid and not is_segmentation(header):
            members.append(p)
    if not members:
        raise MaskError(
            f"this SEG annotates series {uid}, which is not in {folder}. Pass the series it was drawn on: "
            f"load_mask(seg, like=<series folder>) or reference=<series folder>", seg_path)
    return load(members)


def read_seg(path: PathLike, reference: Any = None, *, segments: Optional[Sequence[Union[int, str]]] = None,
             overlap: str = "error") -> LabelMap:
    """A DICOM SEG as a :class:`LabelMap` on the grid of the series it annotates.

    Parameters
    ----------
    path
        The SEG file.
    reference
        The series it annotates: a loaded DicomSeries/DicomImage, a folder or a list
        of files. Default: the files of the referenced series found in the SEG's folder.
    segments
        Segment numbers or labels to keep, in class order (default: all, by number).
    overlap
        ``"error"``: overlapping segments raise :class:`MaskOverlapError` saying how
        to choose; ``"channels"``: one binary channel per segment.

    Returns
    -------
    LabelMap
        Class k = the k-th kept segment; ``classes`` are the SegmentLabels.

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np, radnb
    >>> from radnb.data.synthetic import make_ct_volumes
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> ct = radnb.load(root / make_ct_volumes(root, n_patients=1, shape=(4, 32, 32)).series[0])
    >>> pred = np.zeros(ct.array.shape, np.uint8); pred[1:3, 8:16, 8:16] = 1
    >>> path = save_seg(pred, ct, root / "pred_seg.dcm", classes=["background", "lesion"])
    >>> mask = read_seg(path, ct)
    >>> mask.classes, int(mask.array.sum()) == int(pred.sum())
    (['background', 'lesion'], True)
    """
    from .read import _NEVER_CAUGHT, _captured_stderr

    try:
        with _captured_stderr():  # highdicom decodes frames with pydicom's (compiled) decoders: guard as decode_pixels does
            return _read_seg(path, reference, segments=segments, overlap=overlap)
    except _NEVER_CAUGHT:
        raise
    except RadnbError:
        raise
    except BaseException as exc:  # noqa: B902 - a Rust decoder's panic derives from BaseException
        raise MaskError(f"this DICOM SEG could not be decoded ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})",
                        Path(path)) from None


def _read_seg(path: PathLike, reference: Any, *, segments: Optional[Sequence[Union[int, str]]],
              overlap: str) -> LabelMap:
    from .read import read_dataset
    from .series import load

    hd = _highdicom()
    path = Path(path)
    ds = read_dataset(path)
    if not is_segmentation(ds):
        raise MaskError("not a DICOM SEG object", path)
    try:
        if not ds.file_meta.TransferSyntaxUID.is_little_endian:
            _to_little_endian(ds, path)
        seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
    except RadnbError:
        raise
    except Exception as exc:
        raise MaskError(f"this DICOM SEG could not be read ({type(exc).__name__}: {exc})", path) from None
    labels = {int(n): str(seg.get_segment_description(n).segment_label) for n in seg.segment_numbers}
    chosen = _choose_segments(labels, segments, path)
    if reference is None:
        reference = find_referenced_series(path, ds)
        reference_name = _describe(reference)
    elif isinstance(reference, (str, Path)):
        reference_name = str(reference)
        reference = load(reference)
    elif isinstance(reference, (list, tuple)):
        reference_name = str(Path(reference[0]).parent)
        reference = load(reference)
    else:
        reference_name = _describe(reference)
    ref_uid = _referenced_series_uid(ds)
    image_uid = str(getattr(getattr(reference, "meta", None), "SeriesInstanceUID", "") or "")
    notes: List[str] = []
    if ref_uid and image_uid and image_uid != ref_uid:
        notes.append(f"the SEG names series {ref_uid} but was placed on series {image_uid} "
                     "(same frame of reference, matching geometry)")
    image_grid = grid_of(reference)
    seg_frame = str(getattr(ds, "FrameOfReferenceUID", "") or "") or None
    stack = None
    fractional = str(getattr(ds, "SegmentationType", "")).upper() == "FRACTIONAL"
    dtype = np.float32 if fractional else np.uint8  # FRACTIONAL: highdicom rescales to probabilities 0-1
    if image_grid is not None and _has_positions(ds):
        try:
            volume = seg.get_volume(segment_numbers=chosen, combine_segments=False, dtype=dtype)
        except Exception as exc:  # e.g. irregular frame positions: fall back to frames by source instance
            volume = None
            notes.append(f"frames placed by source image, not by position ({type(exc).__name__}: {exc})")
        if volume is not None:
            mask_grid = Grid(tuple(volume.spatial_shape), np.asarray(volume.affine, float), seg_frame)
            stack, placed_notes = _align(np.asarray(volume.array), mask_grid, image_grid, str(path), reference_name,
                                         channel_axis=True)
            notes += placed_notes
    if stack is None:
        stack = _by_source_instance(seg, reference, chosen, path, reference_name, dtype)
    if fractional:
        stack = (stack >= 0.5).astype(np.uint8)
        notes.append("FRACTIONAL SEG (probabilities or occupancy): voxels at 0.5 or more count as inside")
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    notes.insert(0, f"{frames} SEG frame(s) of {ds.Rows}×{ds.Columns} placed on {reference_name} "
                    f"({'×'.join(map(str, stack.shape[:3]))})")
    two_d = np.asarray(reference.array).ndim == 2 or getattr(reference, "is_color", False) and np.asarray(
        reference.array).ndim == 3
    if two_d:
        stack = stack[0]
    names = [labels[n] for n in chosen]
    overlapping = stack.sum(axis=-1) > 1 if stack.shape[-1] > 1 else np.zeros(stack.shape[:-1], bool)
    if overlap == "channels" or overlapping.any():
        if overlap != "channels":
            raise MaskOverlapError(_overlap_message(stack, chosen, labels), path)
        return LabelMap(np.ascontiguousarray(np.moveaxis(stack, -1, 0)), names, list(chosen), path, image_grid,
                        channels=True, notes=notes, referenced_series_uid=ref_uid)
    label_map = np.zeros(stack.shape[:-1], dtype=np.uint8)
    for k in range(stack.shape[-1]):
        label_map[stack[..., k] > 0] = k + 1
    return LabelMap(label_map, ["background"] + names, [0] + list(chosen), path, image_grid, notes=notes,
                    referenced_series_uid=ref_uid)


def _to_little_endian(ds: Any, path: Path) -> None:
    """highdicom parses little-endian SEGs only: decode a big-endian one (radnb's one guarded decode) and re-encode it."""
    from pydicom.pixels import pack_bits
    from pydicom.uid import ExplicitVRLittleEndian

    frames = decode_pixels(ds, path)
    if int(ds.BitsAllocated) == 1:
        ds.PixelData = pack_bits(frames)
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = np.ascontiguousarray(frames).astype(frames.dtype.newbyteorder("<")).tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def _describe(image: Any) -> str:
    paths = getattr(image, "paths", None) or ([image.path] if getattr(image, "path", None) else [])
    if paths:
        return str(Path(paths[0]).parent) if len(paths) > 1 else str(paths[0])
    return "(in-memory series)"


def _has_positions(ds: Any) -> bool:
    try:
        return "PlanePositionSequence" in ds.PerFrameFunctionalGroupsSequence[0] or \
            "PlanePositionSequence" in ds.SharedFunctionalGroupsSequence[0]
    except (AttributeError, IndexError):
        return False


def _choose_segments(labels: Dict[int, str], segments: Optional[Sequence[Union[int, str]]], path: Path) -> List[int]:
    if segments is None:
        return sorted(labels)
    by_label = {v.lower(): k for k, v in labels.items()}
    chosen = []
    for s in segments:
        number = by_label.get(str(s).lower()) if isinstance(s, str) else int(s)
        if number not in labels:
            available = ", ".join(f"{k} {v!r}" for k, v in sorted(labels.items()))
            raise MaskError(f"segment {s!r} is not in this SEG; it holds {available}", path)
        chosen.append(number)
    return chosen


def _overlap_message(stack: np.ndarray, chosen: Sequence[int], labels: Dict[int, str]) -> str:
    pairs = []
    for i in range(len(chosen)):
        for j in range(i + 1, len(chosen)):
            n = int(np.count_nonzero((stack[..., i] > 0) & (stack[..., j] > 0)))
            if n:
                pairs.append(f"{chosen[i]} {labels[chosen[i]]!r} and {chosen[j]} {labels[chosen[j]]!r} share {n} voxel(s)")
    return ("segments overlap: " + "; ".join(pairs) + ". One class per voxel cannot hold both. Choose: "
            "overlap='channels' (one yes/no channel per segment; to view them, pass radnb.load_mask(seg, like=series, "
            "overlap='channels') as labels=), or segments=[...] with segments that do not "
            f"overlap (this SEG holds {', '.join(f'{k} {v!r}' for k, v in sorted(labels.items()))})")


def _by_source_instance(seg: Any, reference: Any, chosen: Sequence[int], path: Path, reference_name: str,
                        dtype: Any = np.uint8) -> np.ndarray:
    datasets = getattr(reference, "datasets", None) or [getattr(reference, "meta", None)]
    uids = [str(getattr(d, "SOPInstanceUID", "")) for d in datasets]
    referenced = {str(r[2]) for r in seg.get_source_image_uids()}
    if not referenced & set(uids):
        raise MaskGeometryError(
            f"this SEG was drawn on other images than {reference_name}: none of its {len(referenced)} referenced "
            "image(s) is in that series, and frame positions cannot place it. Pass the series it was drawn on.", path)
    if (int(seg.Rows), int(seg.Columns)) != tuple(np.asarray(reference.array).shape[-2:]) and not getattr(
            reference, "is_color", False):
        raise MaskGeometryError(
            f"the SEG's frames are {seg.Rows}×{seg.Columns} but the images of {reference_name} are "
            f"{'×'.join(map(str, np.asarray(reference.array).shape[-2:]))}", path)
    try:
        stack = seg.get_pixels_by_source_instance(
            uids, segment_numbers=list(chosen), assert_missing_frames_are_empty=True,
            ignore_spatial_locations=True, skip_overlap_checks=True, dtype=dtype)
    except Exception as exc:
        raise MaskError(f"the SEG's frames could not be matched to {reference_name} ({type(exc).__name__}: {exc})",
                        path) from None
    return np.asarray(stack)


# ------------------------------------------------------------------ writing
_PROPERTY_TYPES = {
    "liver": "Liver", "lung": "Lung", "kidney": "Kidney", "spleen": "Spleen", "heart": "Heart", "bone": "Bone",
    "lesion": "Lesion", "tumor": "Neoplasm", "tumour": "Neoplasm", "nodule": "Nodule", "brain": "Brain",
}


def _property_type(name: str):
    from pydicom.sr.codedict import codes

    for word, keyword in _PROPERTY_TYPES.items():
        if word in name.lower():
            try:
                return getattr(codes.SCT, keyword)
            except AttributeError:
                break
    return codes.SCT.Tissue


def save_seg(prediction: Any, source_series: Any, path: PathLike, *, classes: Optional[Sequence[str]] = None,
             model_name: str = "radnb segmenter", model_version: str = "1", description: str = "radnb segmentation",
             series_number: int = 300, overwrite: bool = False) -> Path:
    """Write a model's segmentation as a DICOM SEG that references its source series.

    Parameters
    ----------
    prediction
        Class indices (0 = background) on the series' grid: (Z, H, W) for a series,
        (H, W) for one image; a :class:`LabelMap`; or a smaller map of the same
        aspect (resized nearest-neighbour to the images).
    source_series
        The images the prediction was made on: a loaded DicomSeries/DicomImage, a
        folder or a file.
    path
        The SEG file to write (``.dcm``).
    classes
        Class names, background first (the SegmentLabels); default the LabelMap's
        classes, else ``class 1, class 2 ...``.
    model_name, model_version
        Recorded as the segments' algorithm (SegmentAlgorithmType AUTOMATIC).
    overwrite
        Replace an existing file.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np, radnb
    >>> from radnb.data.synthetic import make_ct_volumes
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> ct = radnb.load(root / make_ct_volumes(root, n_patients=1, shape=(4, 32, 32)).series[0])
    >>> pred = np.zeros(ct.array.shape, np.uint8); pred[1:3, 8:16, 8:16] = 1
    >>> path = save_seg(pred, ct, root / "pred_seg.dcm", classes=["background", "lesion"])
    >>> path.name, bool((radnb.load_mask(path, like=ct).array == pred).all())
    ('pred_seg.dcm', True)
    """
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    from .. import __version__
    from .series import load

    hd = _highdicom()
    path = Path(path)
    if path.exists() and not overwrite:
        raise RadnbError(f"{path}: the file exists; pass overwrite=True to replace it, or choose another name.")
    series = load(source_series) if isinstance(source_series, (str, Path, list, tuple)) else source_series
    if isinstance(prediction, LabelMap):
        classes = classes or prediction.classes
        prediction = prediction.array
    pred = np.asarray(getattr(prediction, "array", prediction))
    if pred.dtype.kind == "f" and not np.array_equal(pred, np.rint(pred)):
        raise RadnbError("the prediction holds fractions: pass class indices (e.g. probabilities.argmax(0)).")
    pred = np.rint(pred).astype(np.int64) if pred.dtype.kind == "f" else pred.astype(np.int64)
    image = np.asarray(series.array)
    shape = image.shape[:2] if getattr(series, "is_color", False) else image.shape
    shape = (1,) + tuple(shape) if len(shape) == 2 else tuple(shape)
    if pred.ndim == 2:
        pred = pred[None]
    if pred.shape[0] != shape[0]:
        raise RadnbError(f"the prediction has {pred.shape[0]} slice(s) but the series has {shape[0]}.")
    if pred.shape[1:] != shape[1:]:
        if not np.isclose(pred.shape[1] / pred.shape[2], shape[1] / shape[2], rtol=0.02):
            raise RadnbError(f"the prediction is {pred.shape[1]}×{pred.shape[2]} but the images are "
                             f"{shape[1]}×{shape[2]} (another aspect ratio): predict on these images.")
        from .masks import resize_nearest

        pred = resize_nearest(pred, shape[1:])
    if pred.min() < 0:
        raise RadnbError("the prediction holds negative values; class indices start at 0 = background.")
    n = int(pred.max())
    classes = list(classes) if classes is not None else ["background"] + [f"class {k}" for k in range(1, max(n, 1) + 1)]
    if len(classes) < n + 1:
        raise RadnbError(f"the prediction holds classes up to {n} but classes names only {len(classes)}: {classes}.")
    if len(classes) < 2:
        raise RadnbError("classes must name background and at least one structure.")
    algorithm = hd.AlgorithmIdentificationSequence(name=model_name, version=str(model_version),
                                                   family=codes.cid7162.ArtificialIntelligence, source="radnb")
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=k, segment_label=str(classes[k])[:64], segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=_property_type(str(classes[k])), algorithm_type="AUTOMATIC",
            algorithm_identification=algorithm)
        for k in range(1, len(classes))
    ]
    datasets = list(getattr(series, "datasets", None) or [series.meta])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # highdicom's advice on the source's own person names
        try:
            seg = hd.seg.Segmentation(
                source_images=datasets, pixel_array=pred.astype(np.uint8 if len(classes) <= 256 else np.uint16),
                segmentation_type="BINARY", segment_descriptions=descriptions, series_instance_uid=generate_uid(),
                series_number=series_number, sop_instance_uid=generate_uid(), instance_number=1,
                manufacturer="radnb", manufacturer_model_name=model_name[:64], software_versions=str(__version__),
                device_serial_number="0", series_description=description[:64], content_label="RADNB",
                content_description=f"{model_name} {model_version}"[:64], omit_empty_frames=bool(pred.any()))
        except Exception as exc:
            raise RadnbError(f"the SEG could not be built on {_describe(series)} ({type(exc).__name__}: {exc}); "
                             "a SEG copies the patient and study of its source images (PatientID, StudyInstanceUID, "
                             "FrameOfReferenceUID) and needs their plane geometry.") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


__all__ = ["read_seg", "save_seg", "is_segmentation", "segment_info", "find_segmentations",
           "find_referenced_series", "SegmentationObjectError", "SEG_SOP_CLASS"]
