"""Small helpers that write real DICOM files with pydicom for the reader's tests."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7"


def _base(path: Path, sop_class: str, modality: str, patient: str = "DOE^JANE") -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = patient
    ds.PatientID = "MRN-12345"
    ds.PatientBirthDate = "19700101"
    ds.StudyDate = "20240102"
    ds.InstitutionName = "General Hospital"
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.AccessionNumber = "ACC001"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    return ds


def write_ct_series(
    folder: Path,
    hu: np.ndarray,
    *,
    spacing=(2.5, 0.7, 0.7),
    origin=(0.0, 0.0, 0.0),
    shuffle: bool = True,
    names: Optional[Sequence[str]] = None,
    skip: Sequence[int] = (),
    study_uid: Optional[str] = None,
    series_uid: Optional[str] = None,
    patient: str = "DOE^JANE",
    window: Optional[Sequence[float]] = (40, 400),
    body_part: Optional[str] = None,
) -> list:
    """Write a CT volume (Z, H, W) in HU as one file per slice, stored with intercept -1024.

    ``window`` is the header's (center, width) (None: no window in the header).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    order = list(range(hu.shape[0]))
    if shuffle:
        order = list(np.random.default_rng(0).permutation(order))
    paths = []
    for k in order:
        if k in skip:
            continue
        name = names[k] if names else f"IM{k:04d}"  # no .dcm: like many scanner exports
        path = folder / name
        ds = _base(path, CTImageStorage, "CT", patient)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.Rows, ds.Columns = hu.shape[1:]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * spacing[0]]
        ds.InstanceNumber = k + 1
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = window
        if body_part is not None:
            ds.BodyPartExamined = body_part
        stored = np.clip(np.round(hu[k]) + 1024, 0, 4095).astype(np.uint16)
        ds.PixelData = stored.tobytes()
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_radiograph(path: Path, pixels: np.ndarray, *, photometric="MONOCHROME2", bits=12, spacing=(0.2, 0.2),
                     window=None, modality="DX") -> Path:
    """Write a 2D radiograph of stored values (uint16)."""
    path = Path(path)
    ds = _base(path, DigitalXRayImageStorageForPresentation, modality)
    ds.Rows, ds.Columns = pixels.shape
    ds.ImagerPixelSpacing = list(spacing)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, 0
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    path = Path(path)
    ds = _base(path, SC_STORAGE, "OT")
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = rgb.astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_signed_mr(path: Path, values: np.ndarray) -> Path:
    path = Path(path)
    ds = _base(path, "1.2.840.10008.5.1.4.1.1.4", "MR")
    ds.Rows, ds.Columns = values.shape
    ds.PixelSpacing = [1.0, 1.0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = values.astype(np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path
