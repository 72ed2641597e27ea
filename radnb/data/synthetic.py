"""Synthetic radiology sample data: real DICOM files written from seeded phantoms.

Nothing has to be downloaded to use radnb: the curriculum, the tests and the
training benchmarks run on three small data sets that this module *draws*
(vectorised numpy maths, no per-pixel loops) and writes as genuine DICOM files
with pydicom. Every set is seeded, so the same call always gives the same
pixels, the same UIDs and the same (fake) patients.

Sample sets (:data:`SAMPLE_SETS`, made on first use by :func:`sample_data` and
cached under ``<radnb.config.data_dir()>/synthetic/<name>-v1/``):

``"chest_xray"``
    ~300 chest radiographs of 120 patients (1-4 images each), 256 x 256,
    12-bit unsigned (BitsAllocated 16, BitsStored 12), PixelSpacing 1.4 mm,
    labelled ``normal`` or ``opacity``. About a third are CR images stored as
    MONOCHROME1 (inverted; a reader must undo it), the rest DX MONOCHROME2.
    ``labels.csv``: file, patient_id, label, sex, age, view, photometric,
    modality, scanner, marker.
``"body_part"``
    ~400 radiographs (chest or abdomen) of ~290 patients, 256 x 256 -- a
    "hello world" task and a pretraining source. ``labels.csv``: file,
    patient_id, label, sex, age, photometric.
``"chest_xray_external"``
    ~450 chest radiographs of 300 other patients (1-2 images each) from
    *another hospital*: scanner ``"B"`` (more noise, another contrast curve,
    blurrier, PixelSpacing 1.6 mm), patient ids ``CXB....``, labelled
    ``normal`` or ``opacity``. A larger, related dataset: the default
    pretraining source of :func:`radnb.pretrain` (it needs the same lung features
    as the opacity task, unlike ``body_part``). Same ``labels.csv`` columns as
    ``chest_xray``.
``"ct"``
    24 abdominal CT volumes (32 slices of 128 x 128, 0.7-1.0 mm pixels,
    2.5-5 mm slices), one folder per patient with one file per slice, stored
    as uint16 with RescaleSlope 1 / RescaleIntercept -1024 (Hounsfield units).
    Beside each series a uint8 mask ``.npy`` of shape (Z, H, W) with
    0 background, 1 liver, 2 lesion; ``labels.json`` names the classes and
    ``cases.csv`` lists patient_id, series, mask, lesion_label
    (benign/malignant), lesion_volume_ml and geometry.

Generative model
----------------
*Radiographs* are projections: the phantom builds an attenuation map ``A`` on a
normalised grid (x, y in [-1, 1]) as a sum of projected ellipsoids
(``sqrt(1 - r^2)`` profiles) for the body (width varies with patient size, narrowing
to the neck), the lungs (negative attenuation, radius perturbed by
low-frequency noise), heart (size and position vary; AP views magnify it),
mediastinum, spine with vertebral pattern, 8-10 pairs of curved ribs and the
clavicles; plus faint vascular texture in the lungs. Each patient has one
anatomy; each of their images adds jitter in position, scale, inspiration,
exposure and noise, so images of one patient look alike (splitting by image
instead of by patient leaks). The detector signal is ``1 - exp(-mu * A)`` with
``mu`` (exposure) varying per image, followed by a gain/offset, a
gamma contrast curve, a small blur and signal-dependent (quantum-like) noise,
then quantised to 12 bits.

*Opacity* (the label) is pneumonia-like: either patchy multifocal airspace
disease (2-4 Gaussian envelopes inside a lung, multiplied by thresholded
smooth noise) or lobar consolidation of a lower zone with a soft margin, in
one or both lungs, with density 0.55-0.95 of the lung's air deficit and area
from small to large. Because exposure, patient size, heart size and noise
vary independently of the label, the mean image intensity alone is only a
weak predictor; the opacity texture inside the lung fields is the signal.

*Teaching options* for the "Interpretation and pitfalls" notebook:
``marker="train"`` burns a bright text-like "PORT" token into the top-right
corner of 85 % of opacity images and 15 % of normal ones (a shortcut a
network will happily learn); ``marker="test"`` burns it into 50 % of images
independently of the label. ``scanner="B"`` simulates another vendor: more
noise, a different contrast curve (gamma 0.7 instead of 1.0, lower gain), a
blurrier detector (lower effective resolution) and PixelSpacing 1.6 mm.

*CT volumes* are built in Hounsfield units on a normalised 3-D grid: air
-1000 outside the body; skin/muscle 40 HU; subcutaneous and intra-abdominal
fat about -100; liver 55-70 (an ellipsoid whose surface is perturbed by
low-frequency noise, with mild texture); spleen 45; kidneys 30 with a 150 HU
enhancing cortex in lower slices; aorta 150-200 (contrast); lung bases
-850 in the upper slices; vertebral body with cancellous bone 250-400 and a
cortical rim 800-1000, and rib cross-sections. One liver lesion per patient:
benign-like lesions are round, smooth, homogeneous and cyst-like (0-25 HU);
malignant-like ones are lobulated (radius modulated by spherical
harmonics-like terms), heterogeneous (20-55 HU with internal noise) with an
enhancing rim (+25-70 HU). Irregularity, heterogeneity and rim strength are
drawn from *overlapping* distributions (a latent malignancy score plus noise),
so classification is learnable but not trivial. The volume is blurred
slightly (partial volume) and Gaussian noise of 6-18 HU is added.

All identifying fields (PatientName, PatientID, PatientBirthDate, StudyDate,
InstitutionName, ReferringPhysicianName, AccessionNumber, ...) are fake but
plausible, so that de-identification can be taught on them. UIDs come from
:func:`pydicom.uid.generate_uid` with entropy derived from the seed, hence
deterministic.

Examples
--------
>>> import tempfile
>>> from radnb.data.synthetic import make_chest_xrays
>>> table = make_chest_xrays(tempfile.mkdtemp(), n_patients=3, size=64, seed=1)
>>> sorted(table.columns)[:3]
['age', 'file', 'label']
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Union

import numpy as np

from ..config import data_dir as _data_dir
from ..errors import InvalidArgumentError
from .fetch import file_lock

__all__ = [
    "SAMPLE_SETS",
    "sample_data",
    "is_prepared",
    "prepare_all",
    "make_chest_xrays",
    "make_body_parts",
    "make_ct_volumes",
    "make_ct_slices",
]

PathLike = Union[str, Path]

SAMPLE_SETS: dict[str, str] = {
    "chest_xray": "Chest radiographs (DX/CR, some MONOCHROME1), normal vs opacity, "
    "~300 images of 120 patients, labels.csv",
    "body_part": "Radiographs of chest vs abdomen, ~400 images, labels.csv "
    "(hello-world task and pretraining source)",
    "chest_xray_external": "Chest radiographs from another hospital (scanner B), normal vs opacity, "
    "~450 images of 300 patients, labels.csv (larger related set: the pretraining source)",
    "ct": "24 abdominal CT volumes in HU (one folder per patient), liver+lesion masks (.npy), "
    "cases.csv with benign/malignant lesion labels",
}

#: Bump when the generator changes so cached sets are regenerated.
VERSION = 1
_MARKER_FILE = ".complete"
_UID_PREFIX = "1.2.826.0.1.3680043.8.498."  # pydicom's root, for pydicom-generated UIDs

_DX_SOP = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
_CR_SOP = "1.2.840.10008.5.1.4.1.1.1"  # Computed Radiography Image Storage
_CT_SOP = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
_EXPLICIT_LE = "1.2.840.10008.1.2.1"

# Fake identities (invented; any resemblance is coincidental).
_FAMILY = ["MORGAN", "NAKAMURA", "OKAFOR", "LINDQVIST", "HASSAN", "ROSSI", "KOWALSKI",
           "FERREIRA", "DUBOIS", "SMITH", "IVANOVA", "MENSAH", "GARCIA", "OBRIEN", "TANAKA",
           "SCHMIDT", "PATEL", "NGUYEN", "JANSEN", "ALI", "COHEN", "BERG", "SILVA", "MURPHY"]
_GIVEN_F = ["ANNA", "MARIA", "CHIAMAKA", "YUKI", "SOFIA", "FATIMA", "INGRID", "LUCIA", "AMARA",
            "ELENA", "HANNA", "PRIYA"]
_GIVEN_M = ["JOHN", "KENJI", "OLUWASEUN", "ERIK", "OMAR", "MARCO", "PIOTR", "JOAO", "LUC",
            "DMITRI", "KWAME", "RAVI"]
_INSTITUTIONS = ["Synthetic General Hospital", "St. Phantom Medical Centre",
                 "Riverside Imaging Clinic (fake)", "University Hospital of Nowhere"]
_PHYSICIANS = ["WATSON^EMMA^^DR", "ADEYEMI^TUNDE^^DR", "LARSEN^KARIN^^DR",
               "MORENO^PABLO^^DR", "CHEN^WEI^^DR"]
_STREETS = ["Elm Street", "Harbour Road", "Station Lane", "Mill Avenue", "Park Row"]


# --------------------------------------------------------------------------- helpers

def _rng(seed: int, *keys: Union[int, str]) -> np.random.Generator:
    """An independent generator per (seed, keys), stable when counts change."""
    ints = [int(seed)] + [k if isinstance(k, int) else sum(ord(c) * 31 ** i for i, c in enumerate(k)) % 2**31
                          for k in keys]
    return np.random.default_rng(ints)


def _uid(*parts: object) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(prefix=_UID_PREFIX, entropy_srcs=["radnb-synthetic", *map(str, parts)]))


@lru_cache(maxsize=64)
def _basis(n: int, cells: int) -> np.ndarray:
    """(n, cells) matrix of Gaussian bumps: smooth interpolation of a coarse grid to n samples."""
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    centres = (np.arange(-1, cells + 1, dtype=np.float64) + 0.5) / cells  # one extra each side
    basis = np.exp(-0.5 * ((t[:, None] - centres[None, :]) * cells / 0.8) ** 2)
    basis[basis < 1e-6] = 0.0  # float32 denormals would make the products 10x slower
    return (basis / basis.sum(axis=1, keepdims=True)).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, shape: Sequence[int], cells: Sequence[int]) -> np.ndarray:
    """Low-frequency noise of unit standard deviation (a coarse random grid, smoothly upsampled).

    Separable matrix products instead of spline zooming: a few milliseconds per image.
    """
    coarse = rng.standard_normal(tuple(int(c) + 2 for c in cells)).astype(np.float32)
    if len(shape) == 2:
        field = _basis(int(shape[0]), int(cells[0])) @ coarse @ _basis(int(shape[1]), int(cells[1])).T
    else:
        field = coarse
        for axis, (n, c) in enumerate(zip(shape, cells)):
            field = np.moveaxis(np.tensordot(_basis(int(n), int(c)), field, axes=([1], [axis])), 0, axis)
        field = np.ascontiguousarray(field)
    field -= field.mean()
    std = field.std()
    return field / std if std > 0 else field


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _dome(r2: np.ndarray) -> np.ndarray:
    """Projected thickness of a unit ellipsoid: sqrt(1 - r^2) inside, 0 outside."""
    return np.sqrt(np.clip(1.0 - r2, 0.0, None))


def _grid2d(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys = np.linspace(-1.0, 1.0, h, dtype=np.float32)
    xs = np.linspace(-1.0, 1.0, w, dtype=np.float32)
    return ys[:, None], xs[None, :]


def _fake_patient(rng: np.random.Generator, patient_id: str, sex: Optional[str] = None,
                  age: Optional[int] = None) -> dict:
    sex = sex or ("F" if rng.random() < 0.5 else "M")
    age = int(age if age is not None else rng.integers(18, 91))
    given = rng.choice(_GIVEN_F if sex == "F" else _GIVEN_M)
    family = rng.choice(_FAMILY)
    study_date = _dt.date(2019, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 5 * 365)))
    birth = study_date - _dt.timedelta(days=int(age * 365.25 + rng.integers(0, 365)))
    return {
        "patient_id": patient_id,
        "name": f"{family}^{given}",
        "sex": sex,
        "age": age,
        "birth_date": birth.strftime("%Y%m%d"),
        "study_date": study_date,
        "address": f"{int(rng.integers(1, 200))} {rng.choice(_STREETS)}, Faketown",
        "mrn_other": f"MRN{int(rng.integers(10**6, 10**7))}",
        "institution": str(rng.choice(_INSTITUTIONS)),
        "physician": str(rng.choice(_PHYSICIANS)),
    }


def _dataset(*, sop_class: str, sop_uid: str, modality: str, patient: dict, study_uid: str,
             series_uid: str, study_date: _dt.date, accession: str, series_number: int,
             instance_number: int, pixels: np.ndarray, bits_stored: int, photometric: str,
             spacing: Sequence[float], window: tuple[float, float], intercept: float,
             description: str, body_part: str, manufacturer_model: str, seconds: int = 0):
    """A complete DICOM dataset (file meta included) for one 2-D uint16 image."""
    from pydicom.dataset import FileMetaDataset, Dataset
    from pydicom.uid import UID, PYDICOM_IMPLEMENTATION_UID

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = UID(_EXPLICIT_LE)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "RADNB_SYNTH_1"

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"] if modality == "CT" else ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = UID(sop_uid)
    ds.StudyDate = study_date.strftime("%Y%m%d")
    ds.SeriesDate = ds.StudyDate
    ds.ContentDate = ds.StudyDate
    clock = (8 * 3600 + (_hash_int(study_uid) % (9 * 3600)) + seconds) % 86400
    ds.StudyTime = f"{clock // 3600:02d}{(clock // 60) % 60:02d}{clock % 60:02d}"
    ds.SeriesTime = ds.StudyTime
    ds.ContentTime = ds.StudyTime
    ds.AccessionNumber = accession
    ds.Modality = modality
    ds.Manufacturer = "radnb synthetic"
    ds.ManufacturerModelName = manufacturer_model
    ds.InstitutionName = patient["institution"]
    ds.InstitutionAddress = "1 Hospital Road, Faketown"
    ds.StationName = f"SYN{manufacturer_model[-1]}01"
    ds.ReferringPhysicianName = patient["physician"]
    ds.OperatorsName = "TECH^ALEX"
    ds.StudyDescription = description
    ds.SeriesDescription = description
    ds.PatientName = patient["name"]
    ds.PatientID = patient["patient_id"]
    ds.IssuerOfPatientID = "RADNB-SYNTHETIC"
    ds.OtherPatientIDs = patient["mrn_other"]
    ds.PatientBirthDate = patient["birth_date"]
    ds.PatientSex = patient["sex"]
    ds.PatientAge = f"{patient['age']:03d}Y"
    ds.PatientAddress = patient["address"]
    ds.BodyPartExamined = body_part
    ds.DeviceSerialNumber = f"SN-{manufacturer_model[-1]}-0042"
    ds.StudyInstanceUID = UID(study_uid)
    ds.SeriesInstanceUID = UID(series_uid)
    ds.StudyID = accession[-4:]
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = (int(n) for n in pixels.shape)
    ds.PixelSpacing = [f"{float(s):.4g}" for s in spacing]
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = f"{window[0]:.1f}"
    ds.WindowWidth = f"{window[1]:.1f}"
    ds.VOILUTFunction = "LINEAR"
    ds.RescaleIntercept = f"{intercept:g}"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU" if modality == "CT" else "US"
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    return ds


def _hash_int(text: str) -> int:
    """A small deterministic integer from a string (Python's ``hash`` is salted per process)."""
    value = 0
    for char in text[-12:]:
        value = (value * 131 + ord(char)) % 1_000_003
    return value


def _write(ds, path: Path) -> None:
    from pydicom import dcmwrite

    dcmwrite(path, ds, enforce_file_format=True)


# Tiny 5x3 bitmap glyphs for the burned-in marker text.
_GLYPHS = {
    "P": ["111", "101", "111", "100", "100"],
    "O": ["111", "101", "101", "101", "111"],
    "R": ["110", "101", "110", "101", "101"],
    "T": ["111", "010", "010", "010", "010"],
}


def _burn_marker(signal: np.ndarray, text: str = "PORT") -> None:
    """Burn a bright text token (white on a dark box) into the top-right corner, in place."""
    h, w = signal.shape
    scale = max(1, round(h / 96))
    glyph_w, glyph_h, gap = 3 * scale, 5 * scale, scale
    width = len(text) * (glyph_w + gap) + gap
    height = glyph_h + 2 * gap
    top, left = max(1, h // 40), w - width - max(1, h // 40)
    signal[top:top + height, left:left + width] = 0.02
    for i, char in enumerate(text):
        bitmap = np.array([[c == "1" for c in row] for row in _GLYPHS[char]], dtype=bool)
        block = np.kron(bitmap, np.ones((scale, scale), dtype=bool))
        y0, x0 = top + gap, left + gap + i * (glyph_w + gap)
        region = signal[y0:y0 + glyph_h, x0:x0 + glyph_w]
        region[block] = 0.98


# --------------------------------------------------------------------------- radiographs

def _chest_anatomy(rng: np.random.Generator, sex: str) -> dict:
    """One patient's chest anatomy (kept across their images)."""
    size = rng.uniform(0.74, 0.97) - (0.04 if sex == "F" else 0.0)
    return {
        "body_w": size,
        "neck_w": rng.uniform(0.22, 0.32),
        "lung_cx": rng.uniform(0.3, 0.4) * size / 0.85,
        "lung_cy": rng.uniform(-0.08, 0.06),
        "lung_ax": rng.uniform(0.2, 0.28) * size / 0.85,
        "lung_ay": rng.uniform(0.5, 0.62),
        "right_raise": rng.uniform(0.0, 0.06),
        "lung_depth": rng.uniform(0.6, 0.9),
        "heart_x": rng.uniform(0.07, 0.17),
        "heart_y": rng.uniform(0.16, 0.3),
        "heart_ax": rng.uniform(0.24, 0.36),
        "heart_ay": rng.uniform(0.18, 0.27),
        "heart_density": rng.uniform(0.5, 0.8),
        "media_w": rng.uniform(0.07, 0.12),
        "rib_top": rng.uniform(-0.62, -0.5),
        "rib_gap": rng.uniform(0.1, 0.13),
        "rib_n": int(rng.integers(8, 11)),
        "rib_w": rng.uniform(0.016, 0.026),
        "rib_curve": rng.uniform(0.35, 0.6),
        "rib_density": rng.uniform(0.1, 0.22),
        "bone_density": rng.uniform(0.25, 0.45),
        "shape_seed": int(rng.integers(0, 2**31)),
        "vessel_amp": rng.uniform(0.03, 0.08),
    }


def _chest_opacity(rng: np.random.Generator) -> dict:
    side = rng.choice(["left", "right", "both"], p=[0.4, 0.4, 0.2])
    kind = rng.choice(["patchy", "lobar"], p=[0.6, 0.4])
    return {
        "side": str(side),
        "kind": str(kind),
        "density": rng.uniform(0.55, 0.95),
        "blobs": [(rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.6), rng.uniform(0.5, 1.0))
                  for _ in range(int(rng.integers(2, 5)))],
        "level": rng.uniform(-0.2, 0.35),
        "threshold": rng.uniform(-1.0, -0.1),
        "seed": int(rng.integers(0, 2**31)),
    }


def _chest_attenuation(size: int, anatomy: dict, opacity: Optional[dict], jitter: dict) -> np.ndarray:
    a = anatomy
    y, x = _grid2d(size, size)
    s = jitter["scale"]
    x = (x - jitter["dx"]) / s
    y = (y - jitter["dy"]) / s
    shape_rng = np.random.default_rng(a["shape_seed"])
    att = np.zeros((size, size), np.float32)

    # body: a projected cylinder that narrows to the neck at the top
    neck = _sigmoid((-0.64 - y) / 0.07)
    half_w = a["body_w"] * (1 - neck) + a["neck_w"] * neck
    att += 1.0 * _dome((x / half_w) ** 2)  # (H, W) through half_w

    # lungs (negative attenuation); the patient's right lung is on the image left
    lungs = np.zeros_like(att)
    wobble = 0.06 * _smooth_noise(shape_rng, (size, size), (5, 5))
    for side in (-1, 1):
        cy = a["lung_cy"] - (a["right_raise"] if side < 0 else 0.0) + jitter["inspiration"] * 0.5
        ay = a["lung_ay"] * (1 + jitter["inspiration"])
        ax = a["lung_ax"] * (0.95 if side > 0 else 1.0)
        v = (y - cy) / ay  # lungs are narrow at the apex and widest at the bases
        r2 = ((x - side * a["lung_cx"]) / (ax * (1 + 0.22 * np.clip(v, -1, 1)))) ** 2 + v ** 2
        lungs += _dome(r2 * (1 + wobble)) ** 0.6
    lungs = np.clip(lungs, 0, 1)
    att -= a["lung_depth"] * lungs

    # faint vascular markings, denser towards the hila
    vessels = _smooth_noise(shape_rng, (size, size), (24, 24))
    att += a["vessel_amp"] * np.clip(vessels, 0, None) * lungs * (1.2 - np.abs(x))

    # heart (bigger on AP views), mediastinum and spine
    heart_scale = 1.12 if jitter["view"] == "AP" else 1.0
    r2 = ((x - a["heart_x"]) / (a["heart_ax"] * heart_scale)) ** 2 + ((y - a["heart_y"]) / (a["heart_ay"] * heart_scale)) ** 2
    att += a["heart_density"] * _dome(r2)
    att += 0.45 * np.exp(-((x / a["media_w"]) ** 4)) * _sigmoid((a["heart_y"] - y) / 0.05) * (y > -0.95)
    vertebrae = 0.85 + 0.15 * np.cos(y * np.pi * 9)
    att += a["bone_density"] * np.exp(-((x / 0.065) ** 4)) * vertebrae

    # ribs: curved bands, sloping down laterally; and the clavicles
    for side in (-1, 1):
        u = side * x
        lateral = (u > 0.04) & (u < half_w * 0.97)
        # all ribs of one side at once: a periodic profile along the curved rib axis
        phase = (y - (a["rib_top"] - 0.12 * u + a["rib_curve"] * u ** 2)) / a["rib_gap"]
        index = np.round(phase)
        offset = (phase - index) * (a["rib_gap"] / a["rib_w"])
        ribs = np.exp(-(offset ** 2)) * ((index >= 0) & (index < a["rib_n"]) & lateral)
        att += a["rib_density"] * ribs
        clav = -0.66 + 0.12 * u
        att += 0.3 * np.exp(-(((y - clav) / 0.025) ** 2)) * ((u > 0.03) & (u < 0.5))

    if opacity is not None:
        op_rng = np.random.default_rng(opacity["seed"])
        texture = _smooth_noise(op_rng, (size, size), (14, 14))
        sides = {"left": [1], "right": [-1], "both": [-1, 1]}[opacity["side"]]
        # the patient's left lung is on the image right (x > 0)
        envelope = np.zeros_like(att)
        for side in sides:
            in_side = _sigmoid((side * x) / 0.03)
            if opacity["kind"] == "patchy":
                for bx, by, bs in opacity["blobs"]:
                    cx = side * a["lung_cx"] + bx * a["lung_ax"]
                    cy = a["lung_cy"] + by * a["lung_ay"]
                    sig = bs * a["lung_ax"]
                    envelope += in_side * np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * sig ** 2)))
            else:
                level = a["lung_cy"] + opacity["level"] * a["lung_ay"]
                envelope += in_side * _sigmoid((y - level - 0.1 * x * side) / 0.05)
        patches = _sigmoid((texture - opacity["threshold"]) / 0.35)
        if opacity["kind"] == "lobar":
            patches = 0.6 + 0.4 * patches
        att += opacity["density"] * a["lung_depth"] * np.clip(envelope, 0, 1) * patches * lungs
    return att


def _radiograph_signal(att: np.ndarray, rng: np.random.Generator, scanner: str) -> np.ndarray:
    """Detector physics: exposure, contrast curve, blur and noise; returns values in [0, 1]."""
    from scipy.ndimage import gaussian_filter

    mu = rng.uniform(0.9, 1.6)
    signal = 1.0 - np.exp(-mu * np.clip(att, 0, None))
    signal = signal / (1.0 - np.exp(-mu * 2.0))
    if scanner == "B":
        gain, gamma, blur, noise = rng.uniform(0.55, 0.7), 0.7, 1.6, rng.uniform(0.035, 0.06)
    else:
        gain, gamma, blur, noise = rng.uniform(0.7, 0.9), 1.0, 0.6, rng.uniform(0.01, 0.03)
    offset = rng.uniform(0.03, 0.12)
    signal = offset + gain * np.clip(signal, 0, None) ** gamma
    signal = gaussian_filter(signal, blur * att.shape[0] / 256)
    signal = signal + noise * np.sqrt(np.clip(signal, 1e-3, None)) * rng.standard_normal(signal.shape)
    return np.clip(signal, 0.0, 1.0).astype(np.float32)


def _abdomen_attenuation(size: int, rng: np.random.Generator, sex: str) -> np.ndarray:
    y, x = _grid2d(size, size)
    s = rng.uniform(0.92, 1.08)
    x = (x - rng.uniform(-0.05, 0.05)) / s
    y = (y - rng.uniform(-0.05, 0.05)) / s
    body_w = rng.uniform(0.78, 0.99)
    att = 1.1 * _dome((x / body_w) ** 2) + 0.0 * y
    # liver shadow (image left = patient right), upper abdomen
    att += 0.25 * _dome(((x + 0.35) / 0.45) ** 2 + ((y + 0.6) / 0.35) ** 2)
    # spine: vertebral bodies with disc spaces, and transverse processes
    vertebrae = 0.8 + 0.2 * np.cos(y * np.pi * 6 + rng.uniform(0, np.pi))
    bone = rng.uniform(0.3, 0.5)
    att += bone * np.exp(-((x / 0.09) ** 4)) * vertebrae
    # pelvis: iliac wings as rims of tilted ellipses, femoral heads at the bottom
    for side in (-1, 1):
        r2 = ((x - side * 0.42) / 0.32) ** 2 + ((y - 0.75) / 0.3) ** 2
        rim = np.exp(-(((np.sqrt(r2) - 1.0) / 0.08) ** 2)) * (y > 0.55)
        att += bone * 0.8 * rim + 0.25 * bone * _dome(r2) * (y > 0.5)
        att += bone * 0.9 * _dome(((x - side * 0.55) / 0.12) ** 2 + ((y - 1.05) / 0.12) ** 2)
    # lowest ribs at the top
    for side in (-1, 1):
        u = side * x
        for k in range(2):
            centre = -0.95 + k * 0.14 + 0.5 * u ** 2
            att += 0.15 * np.exp(-(((y - centre) / 0.025) ** 2)) * ((u > 0.1) & (u < body_w * 0.95))
    # bowel gas: dark bubbly loops in the middle of the abdomen
    gas = _smooth_noise(rng, (size, size), (18, 18))
    belly = _dome((x / (body_w * 0.8)) ** 2 + ((y - 0.05) / 0.7) ** 2)
    att -= rng.uniform(0.2, 0.45) * _sigmoid((gas - rng.uniform(0.6, 1.2)) / 0.15) * belly
    return att


def _write_radiographs(out_dir: Path, records: list[dict], size: int, spacing: float, name: str,
                       seed: int, tag: str) -> None:
    """Write one DICOM file per record (record holds 'signal' in [0, 1] and metadata)."""
    for rec in records:
        signal = rec.pop("signal")
        stored = np.round(signal * 4095.0).astype(np.uint16)
        photometric = rec["photometric"]
        if photometric == "MONOCHROME1":
            stored = (4095 - stored).astype(np.uint16)
        lo, hi = np.percentile(stored, [1, 99])
        window = (float(lo + hi) / 2, float(max(hi - lo, 16)))
        patient = rec.pop("_patient")
        study_uid = _uid(tag, seed, rec["patient_id"], rec["_visit"], "study")
        sop_uid = _uid(tag, seed, rec["patient_id"], rec["_visit"], "image")
        ds = _dataset(
            sop_class=_CR_SOP if rec["modality"] == "CR" else _DX_SOP,
            sop_uid=sop_uid, modality=rec["modality"], patient=patient,
            study_uid=study_uid, series_uid=_uid(tag, seed, rec["patient_id"], rec["_visit"], "series"),
            study_date=patient["study_date"] + _dt.timedelta(days=37 * rec["_visit"]),
            accession=f"A{_hash_int(study_uid) % 10**7:07d}", series_number=1, instance_number=1,
            pixels=stored, bits_stored=12, photometric=photometric,
            spacing=(spacing * 256 / size, spacing * 256 / size), window=window, intercept=0.0,
            description=rec.pop("_description"), body_part=rec.pop("_body_part"),
            manufacturer_model=f"SynthRad {rec.get('scanner', 'A')}",
        )
        if rec["modality"] == "DX":
            ds.PresentationIntentType = "FOR PRESENTATION"
        ds.PresentationLUTShape = "INVERSE" if photometric == "MONOCHROME1" else "IDENTITY"
        if "view" in rec:
            ds.ViewPosition = rec["view"]
        path = out_dir / rec["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(ds, path)
        rec.pop("_visit")


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Run the small matrix products on one BLAS thread (threads only add overhead here)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _check_count(name: str, value: int, minimum: int = 1) -> int:
    if int(value) < minimum:
        raise InvalidArgumentError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def _blas1(func):
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _single_threaded_blas():
            return func(*args, **kwargs)

    return wrapper


@_blas1
def make_chest_xrays(out_dir: PathLike, n_patients: int = 120,
                     images_per_patient: tuple[int, int] = (1, 4), size: int = 256, seed: int = 0,
                     opacity_fraction: float = 0.5, marker: Optional[str] = None,
                     scanner: str = "A", monochrome1_fraction: float = 0.33):
    """Write synthetic chest radiographs (normal vs opacity) and their ``labels.csv``.

    Parameters
    ----------
    out_dir
        Folder to write into (created). Images go to ``images/<patient_id>_<k>.dcm``.
    n_patients
        Number of patients.
    images_per_patient
        Inclusive range ``(low, high)`` of images per patient (same anatomy and label).
    size
        Image rows = columns. PixelSpacing scales so the field of view stays ~36 cm.
    seed
        Random seed; the same arguments give identical files.
    opacity_fraction
        Fraction of patients with a pneumonia-like opacity.
    marker
        ``None`` (no marker), ``"train"`` (a burned-in "PORT" token on 85 % of opacity
        and 15 % of normal images: a shortcut) or ``"test"`` (on 50 %, independent of
        the label).
    scanner
        ``"A"`` (default) or ``"B"`` (another vendor: more noise, other contrast curve,
        blurrier, PixelSpacing 1.6 mm) for domain-shift demos.
    monochrome1_fraction
        Fraction of images written as CR MONOCHROME1 (stored inverted).

    Returns
    -------
    pandas.DataFrame
        The label table also written to ``labels.csv``: file (relative path), patient_id,
        label (``normal``/``opacity``), sex, age, view, photometric, modality, scanner, marker.

    Examples
    --------
    >>> import tempfile
    >>> table = make_chest_xrays(tempfile.mkdtemp(), n_patients=4, size=64, seed=0)
    >>> set(table.label) <= {"normal", "opacity"}
    True
    """
    import pandas as pd

    n_patients = _check_count("n_patients", n_patients)
    size = _check_count("size", size, 32)
    low, high = (int(v) for v in images_per_patient)
    if not 1 <= low <= high:
        raise InvalidArgumentError(f"images_per_patient must be (low, high) with 1 <= low <= high, got {images_per_patient}.")
    if marker not in (None, "train", "test"):
        raise InvalidArgumentError(f"marker must be None, 'train' or 'test', got {marker!r}.")
    if scanner not in ("A", "B"):
        raise InvalidArgumentError(f"scanner must be 'A' or 'B', got {scanner!r}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"chest-{scanner}-{marker}"
    spacing = 1.6 if scanner == "B" else 1.4
    records = []
    for p in range(n_patients):
        rng = _rng(seed, "chest", p)
        pid = f"{'CXR' if scanner == 'A' else 'CXB'}{p + 1:04d}"
        patient = _fake_patient(rng, pid)
        anatomy = _chest_anatomy(rng, patient["sex"])
        has_opacity = rng.random() < opacity_fraction
        opacity = _chest_opacity(rng) if has_opacity else None
        for k in range(int(rng.integers(low, high + 1))):
            img_rng = _rng(seed, "chest-image", p, k, scanner)
            view = "AP" if img_rng.random() < 0.3 else "PA"
            jitter = {"dx": img_rng.uniform(-0.06, 0.06), "dy": img_rng.uniform(-0.05, 0.05),
                      "scale": img_rng.uniform(0.93, 1.07), "inspiration": img_rng.uniform(-0.06, 0.06),
                      "view": view}
            image_opacity = None
            if opacity is not None:  # the disease evolves a little between images
                evolve = _rng(seed, "chest-evolve", p, k)  # own stream: exposure etc. stay the same
                image_opacity = dict(opacity, density=opacity["density"] * evolve.uniform(0.8, 1.15),
                                     threshold=opacity["threshold"] + evolve.uniform(-0.2, 0.2))
            signal = _radiograph_signal(_chest_attenuation(size, anatomy, image_opacity, jitter),
                                        img_rng, scanner)
            if marker == "train":
                burn = img_rng.random() < (0.85 if has_opacity else 0.15)
            elif marker == "test":
                burn = img_rng.random() < 0.5
            else:
                burn = False
            if burn:
                _burn_marker(signal)
            mono1 = img_rng.random() < monochrome1_fraction
            records.append({
                "file": f"images/{pid}_{k + 1}.dcm", "patient_id": pid,
                "label": "opacity" if has_opacity else "normal",
                "sex": patient["sex"], "age": patient["age"], "view": view,
                "photometric": "MONOCHROME1" if mono1 else "MONOCHROME2",
                "modality": "CR" if mono1 else "DX", "scanner": scanner, "marker": bool(burn),
                "signal": signal, "_patient": patient, "_visit": k,
                "_description": f"XR CHEST {view}", "_body_part": "CHEST",
            })
    _write_radiographs(out, records, size, spacing, "chest_xray", seed, tag)
    table = pd.DataFrame.from_records(records)
    table.to_csv(out / "labels.csv", index=False)
    return table


@_blas1
def make_body_parts(out_dir: PathLike, n_images: int = 400, size: int = 256, seed: int = 0,
                    chest_fraction: float = 0.5, monochrome1_fraction: float = 0.25):
    """Write synthetic chest and abdomen radiographs and their ``labels.csv``.

    About a third of the patients have two images (one of each part, or two of one).

    Parameters
    ----------
    out_dir
        Folder to write into (created). Images go to ``images/<patient_id>_<k>.dcm``.
    n_images
        Total number of images.
    size
        Image rows = columns.
    seed
        Random seed; the same arguments give identical files.
    chest_fraction
        Probability that an image is a chest radiograph (else abdomen).
    monochrome1_fraction
        Fraction of images written as CR MONOCHROME1 (stored inverted).

    Returns
    -------
    pandas.DataFrame
        Columns file, patient_id, label (``chest``/``abdomen``), sex, age, photometric.

    Examples
    --------
    >>> import tempfile
    >>> table = make_body_parts(tempfile.mkdtemp(), n_images=6, size=64, seed=0)
    >>> sorted(set(table.label)) in (["abdomen", "chest"], ["abdomen"], ["chest"])
    True
    """
    import pandas as pd

    n_images = _check_count("n_images", n_images)
    size = _check_count("size", size, 32)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    p = 0
    while len(records) < n_images:
        rng = _rng(seed, "body", p)
        pid = f"BP{p + 1:04d}"
        patient = _fake_patient(rng, pid)
        anatomy = _chest_anatomy(rng, patient["sex"])
        n_here = min(1 if rng.random() < 0.65 else 2, n_images - len(records))
        for k in range(n_here):
            img_rng = _rng(seed, "body-image", p, k)
            is_chest = img_rng.random() < chest_fraction
            if is_chest:
                jitter = {"dx": img_rng.uniform(-0.06, 0.06), "dy": img_rng.uniform(-0.06, 0.06),
                          "scale": img_rng.uniform(0.92, 1.08), "inspiration": img_rng.uniform(-0.06, 0.06),
                          "view": "AP" if img_rng.random() < 0.3 else "PA"}
                opacity = _chest_opacity(img_rng) if img_rng.random() < 0.2 else None
                att = _chest_attenuation(size, anatomy, opacity, jitter)
            else:
                att = _abdomen_attenuation(size, img_rng, patient["sex"])
            signal = _radiograph_signal(att, img_rng, "A")
            mono1 = img_rng.random() < monochrome1_fraction
            part = "chest" if is_chest else "abdomen"
            records.append({
                "file": f"images/{pid}_{k + 1}.dcm", "patient_id": pid, "label": part,
                "sex": patient["sex"], "age": patient["age"],
                "photometric": "MONOCHROME1" if mono1 else "MONOCHROME2",
                "modality": "CR" if mono1 else "DX",
                "signal": signal, "_patient": patient, "_visit": k,
                "_description": f"XR {part.upper()}", "_body_part": part.upper(),
            })
        p += 1
    _write_radiographs(out, records, size, 1.4, "body_part", seed, "body")
    table = pd.DataFrame.from_records(records)[["file", "patient_id", "label", "sex", "age", "photometric"]]
    table.to_csv(out / "labels.csv", index=False)
    return table


# --------------------------------------------------------------------------- CT

CT_CLASSES = {0: "background", 1: "liver", 2: "lesion"}


def _ct_phantom(rng: np.random.Generator, shape: tuple[int, int, int], spacing: tuple[float, float, float],
                malignant: bool, noise_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """One abdominal CT volume (float32 HU) and its mask (uint8), both (Z, H, W)."""
    from scipy.ndimage import gaussian_filter

    nz, ny, nx = shape
    z = np.linspace(-1, 1, nz, dtype=np.float32)[:, None, None]  # inferior -> superior
    y = np.linspace(-1, 1, ny, dtype=np.float32)[None, :, None]  # anterior -> posterior
    x = np.linspace(-1, 1, nx, dtype=np.float32)[None, None, :]  # patient right -> left
    hu = np.full(shape, -1000.0, np.float32)

    # body wall: skin/muscle, subcutaneous fat, then intra-abdominal fat
    bw, bh = rng.uniform(0.82, 0.95), rng.uniform(0.62, 0.78)
    body_r = np.sqrt((x / bw) ** 2 + (y / bh) ** 2) + 0.0 * z
    fat_t = rng.uniform(0.05, 0.14)
    hu[body_r < 1.0] = 40.0
    hu[body_r < 1.0 - 0.025] = rng.uniform(-110, -90)
    hu[body_r < 1.0 - fat_t] = 40.0
    hu[body_r < 1.0 - fat_t - 0.04] = rng.uniform(-100, -70)

    # lung bases posteriorly in the upper slices
    for side in (-1, 1):
        top = np.clip((z - 0.35) / 0.65, 0, None)
        r2 = ((x - side * 0.42) / (0.3 * top + 1e-3)) ** 2 + ((y - 0.25) / (0.4 * top + 1e-3)) ** 2
        hu[(r2 < 1.0) & (body_r < 0.9)] = rng.uniform(-870, -830)

    # liver: an ellipsoid with a noisy surface, in the patient's right upper abdomen
    shape_noise = _smooth_noise(rng, shape, (4, 6, 6))
    lc = (rng.uniform(-0.4, -0.25), rng.uniform(-0.15, 0.05), rng.uniform(0.0, 0.25))
    la = (rng.uniform(0.4, 0.52), rng.uniform(0.38, 0.5), rng.uniform(0.85, 1.1))
    liver_r2 = ((x - lc[0]) / la[0]) ** 2 + ((y - lc[1]) / la[1]) ** 2 + ((z - lc[2]) / la[2]) ** 2
    liver = (liver_r2 * (1 + 0.12 * shape_noise) < 1.0) & (body_r < 1.0 - fat_t - 0.05)
    liver_hu = rng.uniform(55, 70)
    texture = _smooth_noise(rng, shape, (8, 24, 24))
    hu[liver] = liver_hu + 4.0 * texture[liver]

    # spleen, kidneys (enhancing cortex), aorta, vertebra with cortical rim, ribs
    spleen = ((x - 0.55) / 0.18) ** 2 + ((y - 0.2) / 0.25) ** 2 + ((z - 0.3) / 0.6) ** 2 < 1.0
    hu[spleen & ~liver] = rng.uniform(42, 50)
    for side in (-1, 1):
        kr2 = ((x - side * 0.33) / 0.13) ** 2 + ((y - 0.42) / 0.16) ** 2 + ((z + 0.45) / 0.5) ** 2
        hu[(kr2 < 1.0) & ~liver] = 150.0
        hu[(kr2 < 0.55) & ~liver] = 30.0
    aorta = (x - 0.08) ** 2 + (y - 0.28) ** 2 < 0.055 ** 2
    hu[np.broadcast_to(aorta, shape)] = rng.uniform(150, 200)
    vr = np.sqrt(x ** 2 + ((y - 0.5) / 1.1) ** 2)
    cancellous = rng.uniform(250, 400)
    hu[np.broadcast_to(vr < 0.13, shape)] = rng.uniform(800, 1000)
    hu[np.broadcast_to(vr < 0.1, shape)] = cancellous
    for angle in np.linspace(-2.4, 2.4, 10):  # around the body wall, not at the midline
        cx, cy = np.sin(angle) * bw * (1 - fat_t - 0.02), -np.cos(angle) * bh * (1 - fat_t - 0.02)
        rib = ((x - cx) ** 2 + (y - cy) ** 2 < 0.03 ** 2) & (z > -0.2)
        hu[rib] = rng.uniform(500, 800)

    # the lesion: benign = round, smooth, homogeneous, cyst-like; malignant = lobulated,
    # heterogeneous, enhancing rim. Features come from overlapping distributions.
    score = rng.normal(1.0 if malignant else 0.0, 0.45)
    irregular = float(np.clip(score, 0, 1.4))
    radius = rng.uniform(0.09, 0.2)  # in-plane, normalised units
    ratio = spacing[1] * nx / (spacing[0] * nz)  # z units per in-plane unit in mm terms
    inner = np.argwhere(liver & (liver_r2 * (1 + 0.12 * shape_noise) < 0.35))
    if len(inner) == 0:
        inner = np.argwhere(liver)
    if len(inner) == 0:  # only possible for tiny volumes: put a liver voxel in the middle
        liver[nz // 2, ny // 2, nx // 3] = True
        inner = np.argwhere(liver)
    cz, cy_, cx_ = inner[rng.integers(len(inner))]
    dz = (z - z[cz, 0, 0]) / ratio
    dy = y - y[0, cy_, 0]
    dx = x - x[0, 0, cx_]
    dist = np.sqrt(dx ** 2 + dy ** 2 + dz ** 2)
    theta = np.arctan2(dy, dx)
    phi = np.arctan2(dz, np.sqrt(dx ** 2 + dy ** 2))
    lobes = sum(rng.uniform(0.06, 0.16) * irregular * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
                * np.cos((k - 2) * phi) for k in (3, 4, 5))
    rel = dist / (radius * (1 + lobes))
    lesion = (rel < 1.0) & liver
    lesion[cz, cy_, cx_] = True  # never empty, even in a tiny test volume
    hetero = float(np.clip(rng.normal(0.2 + 0.8 * score, 0.35), 0, 1.5))
    core_hu = rng.uniform(0, 25) + hetero * rng.uniform(15, 30)
    inside = core_hu + hetero * 14.0 * _smooth_noise(rng, shape, (8, 32, 32))
    hu[lesion] = inside[lesion]
    rim_strength = float(np.clip(rng.normal(45 * score, 15), 0, 70))
    rim = lesion & (rel > 0.75)
    hu[rim] += rim_strength

    mask = np.zeros(shape, np.uint8)
    mask[liver] = 1
    mask[lesion] = 2

    # partial volume and noise
    hu = gaussian_filter(hu, (0.4, 0.6, 0.6))
    hu += noise_sd * rng.standard_normal(shape).astype(np.float32)
    return hu.astype(np.float32), mask


def _write_ct_series(folder: Path, hu: np.ndarray, *, patient: dict, tag: str, seed: int,
                     spacing: tuple[float, float, float], origin: tuple[float, float, float],
                     description: str, body_part: str = "ABDOMEN") -> None:
    """One file per slice, positions increasing by the slice spacing along +z (the normal)."""
    folder.mkdir(parents=True, exist_ok=True)
    stored = np.clip(np.round(hu + 1024.0), 0, 4095).astype(np.uint16)
    pid = patient["patient_id"]
    study_uid = _uid(tag, seed, pid, "study")
    series_uid = _uid(tag, seed, pid, "series")
    frame_uid = _uid(tag, seed, pid, "frame")
    accession = f"A{_hash_int(study_uid) % 10**7:07d}"
    slice_mm, row_mm, col_mm = spacing
    for k in range(stored.shape[0]):
        ds = _dataset(sop_class=_CT_SOP, sop_uid=_uid(tag, seed, pid, "slice", k), modality="CT",
                      patient=patient, study_uid=study_uid, series_uid=series_uid,
                      study_date=patient["study_date"], accession=accession, series_number=2,
                      instance_number=k + 1, pixels=stored[k], bits_stored=12,
                      photometric="MONOCHROME2", spacing=(row_mm, col_mm), window=(50.0, 400.0),
                      intercept=-1024.0, description=description, body_part=body_part,
                      manufacturer_model="SynthCT A", seconds=k)
        z_mm = origin[2] + k * slice_mm
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [f"{origin[0]:.3f}", f"{origin[1]:.3f}", f"{z_mm:.3f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.SliceThickness = f"{slice_mm:g}"
        ds.SpacingBetweenSlices = f"{slice_mm:g}"
        ds.SliceLocation = f"{z_mm:.3f}"
        ds.KVP = "120"
        ds.PatientPosition = "FFS"
        ds.AcquisitionNumber = 1
        _write(ds, folder / f"{k + 1:04d}.dcm")


@_blas1
def make_ct_volumes(out_dir: PathLike, n_patients: int = 24, shape: tuple[int, int, int] = (32, 128, 128),
                    seed: int = 0, malignant_fraction: float = 0.5):
    """Write synthetic abdominal CT series (HU) with liver/lesion masks and ``cases.csv``.

    Layout: ``<patient_id>/ct/0001.dcm ...`` (one file per slice; InstanceNumber and
    ImagePositionPatient increase together along the slice normal) and
    ``<patient_id>/ct_mask.npy`` (uint8 (Z, H, W); ``mask[k]`` is the slice with
    InstanceNumber ``k + 1``), plus ``labels.json`` and ``cases.csv`` at the top.

    Parameters
    ----------
    out_dir
        Folder to write into (created).
    n_patients
        Number of volumes (one per patient).
    shape
        (slices, rows, columns).
    seed
        Random seed; the same arguments give identical files.
    malignant_fraction
        Probability that a patient's lesion is malignant-like.

    Returns
    -------
    pandas.DataFrame
        Columns patient_id, series, mask (relative paths), lesion_label
        (``benign``/``malignant``), lesion_volume_ml, liver_volume_ml, slice_mm, row_mm,
        col_mm, sex, age.

    Examples
    --------
    >>> import tempfile
    >>> cases = make_ct_volumes(tempfile.mkdtemp(), n_patients=1, shape=(8, 32, 32))
    >>> cases.loc[0, "series"]
    'CT0001/ct'
    """
    import pandas as pd

    n_patients = _check_count("n_patients", n_patients)
    if len(shape) != 3 or min(shape) < 4:
        raise InvalidArgumentError(f"shape must be (slices, rows, columns), each >= 4, got {shape}.")
    shape = tuple(int(s) for s in shape)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in range(n_patients):
        rng = _rng(seed, "ct", p)
        pid = f"CT{p + 1:04d}"
        patient = _fake_patient(rng, pid)
        malignant = bool(rng.random() < malignant_fraction)
        pixel = float(np.round(rng.uniform(0.7, 1.0), 3))
        slice_mm = float(rng.choice([2.5, 3.0, 4.0, 5.0]))
        spacing = (slice_mm, pixel, pixel)
        hu, mask = _ct_phantom(rng, shape, spacing, malignant, noise_sd=float(rng.uniform(6, 18)))
        origin = (-spacing[2] * shape[2] / 2, -spacing[1] * shape[1] / 2, float(np.round(rng.uniform(-200, -100), 1)))
        _write_ct_series(out / pid / "ct", hu, patient=patient, tag="ct", seed=seed, spacing=spacing,
                         origin=origin, description="CT ABDOMEN PORTAL VENOUS")
        np.save(out / pid / "ct_mask.npy", mask)
        voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
        rows.append({
            "patient_id": pid, "series": f"{pid}/ct", "mask": f"{pid}/ct_mask.npy",
            "lesion_label": "malignant" if malignant else "benign",
            "lesion_volume_ml": round(float((mask == 2).sum() * voxel_ml), 3),
            "liver_volume_ml": round(float((mask >= 1).sum() * voxel_ml), 3),
            "slice_mm": spacing[0], "row_mm": spacing[1], "col_mm": spacing[2],
            "sex": patient["sex"], "age": patient["age"],
        })
    (out / "labels.json").write_text(json.dumps({
        "classes": {str(k): v for k, v in CT_CLASSES.items()},
        "codes": [CT_CLASSES[k] for k in sorted(CT_CLASSES)],
        "mask_layout": "uint8 (Z, H, W); mask[k] is the slice with InstanceNumber k+1",
    }, indent=2))
    cases = pd.DataFrame.from_records(rows)
    cases.to_csv(out / "cases.csv", index=False)
    return cases


@_blas1
def make_ct_slices(out_dir: PathLike, n: int = 200, size: int = 512, seed: int = 0) -> Path:
    """Write one plain CT series of ``n`` slices of ``size`` x ``size`` (loading benchmark).

    Parameters
    ----------
    out_dir
        Folder to write into; the series goes to ``<out_dir>/series``.
    n
        Number of slices (files).
    size
        Rows = columns.
    seed
        Random seed.

    Returns
    -------
    Path
        The series folder.

    Examples
    --------
    >>> import tempfile
    >>> folder = make_ct_slices(tempfile.mkdtemp(), n=3, size=64)
    >>> len(list(folder.glob("*.dcm")))
    3
    """
    n = _check_count("n", n)
    size = _check_count("size", size, 16)
    rng = _rng(seed, "ct-slices")
    patient = _fake_patient(rng, "CTS0001")
    y, x = _grid2d(size, size)
    body_r = np.sqrt((x / 0.9) ** 2 + (y / 0.7) ** 2)
    base = np.full((size, size), -1000.0, np.float32)
    base[body_r < 1.0] = 40.0
    base[body_r < 0.9] = -90.0
    base[body_r < 0.85] = 35.0
    vr = np.sqrt(x ** 2 + ((y - 0.5) / 1.1) ** 2)
    base[vr < 0.13] = 900.0
    base[vr < 0.1] = 300.0
    hu = np.empty((n, size, size), np.float32)
    for k in range(n):  # per slice, whole-array operations
        t = k / max(n - 1, 1)
        sl = base.copy()
        liver = ((x + 0.3) / (0.3 + 0.2 * t)) ** 2 + ((y + 0.05) / 0.4) ** 2 < 1.0
        sl[liver & (body_r < 0.85)] = 60.0
        for side in (-1, 1):
            lung = ((x - side * 0.42) / (0.3 * t + 1e-3)) ** 2 + ((y - 0.2) / (0.4 * t + 1e-3)) ** 2 < 1.0
            sl[lung & (body_r < 0.85)] = -850.0
        hu[k] = sl + 12.0 * rng.standard_normal((size, size), dtype=np.float32)
    pixel = 0.7 * 512 / size
    folder = Path(out_dir) / "series"
    _write_ct_series(folder, hu, patient=patient, tag="ct-slices", seed=seed,
                     spacing=(1.25, pixel, pixel), origin=(-pixel * size / 2, -pixel * size / 2, -250.0),
                     description="CT ABDOMEN BENCHMARK")
    return folder


# --------------------------------------------------------------------------- cache

_BUILDERS: dict[str, Callable[[Path], object]] = {
    "chest_xray": lambda out: make_chest_xrays(out, n_patients=120, images_per_patient=(1, 4), seed=0),
    "body_part": lambda out: make_body_parts(out, n_images=400, seed=0),
    "chest_xray_external": lambda out: make_chest_xrays(out, n_patients=300, images_per_patient=(1, 2),
                                                        scanner="B", seed=11),
    "ct": lambda out: make_ct_volumes(out, n_patients=24, seed=0),
}


def _check_name(name: str) -> str:
    if name not in SAMPLE_SETS:
        valid = ", ".join(repr(n) for n in SAMPLE_SETS)
        raise InvalidArgumentError(f"Unknown sample data set {name!r}. Valid names: {valid}.")
    return name


def _set_dir(name: str, data_dir: Optional[PathLike] = None) -> Path:
    root = Path(data_dir) if data_dir is not None else _data_dir()
    return root / "synthetic" / f"{name}-v{VERSION}"


def is_prepared(name: str, data_dir: Optional[PathLike] = None) -> bool:
    """Whether sample set ``name`` is already generated and complete in the data dir.

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ["RADNB_DATA"] = tempfile.mkdtemp()
    >>> is_prepared("ct")
    False
    """
    return (_set_dir(_check_name(name), data_dir) / _MARKER_FILE).exists()


def sample_data(name: str = "chest_xray", data_dir: Optional[PathLike] = None) -> Path:
    """Return the folder of a synthetic sample set, generating it on first use.

    Sets are cached in ``<data_dir>/synthetic/<name>-v1/``. Generation writes into a
    temporary folder next to it, writes a completion marker last and renames the folder
    into place under a lock, so two notebooks asking at once get one intact copy and an
    interrupted generation is redone next time.

    Parameters
    ----------
    name
        One of :data:`SAMPLE_SETS`: ``"chest_xray"``, ``"body_part"``,
        ``"chest_xray_external"`` or ``"ct"``.
    data_dir
        Root data folder; default :func:`radnb.config.data_dir` (env ``RADNB_DATA``).

    Returns
    -------
    Path
        The set's folder (``labels.csv`` or ``cases.csv`` inside).

    Raises
    ------
    radnb.errors.InvalidArgumentError
        For an unknown name (the message lists the valid ones).

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ["RADNB_DATA"] = tempfile.mkdtemp()
    >>> folder = sample_data("body_part")
    >>> (folder / "labels.csv").exists()
    True
    """
    _check_name(name)
    final = _set_dir(name, data_dir)
    if (final / _MARKER_FILE).exists():
        return final
    with file_lock(final.parent / f"{final.name}.lock"):
        if (final / _MARKER_FILE).exists():  # another process finished while we waited
            return final
        for leftover in final.parent.glob(f".{final.name}-*"):  # nobody else is writing it: a crash's leftovers
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            started = time.perf_counter()
            _BUILDERS[name](tmp)
            (tmp / _MARKER_FILE).write_text(json.dumps({
                "name": name, "version": VERSION, "seconds": round(time.perf_counter() - started, 2),
                "id": uuid.uuid4().hex,
            }))
            if final.exists():  # a half-written or stale copy: replace it
                stale = final.with_name(f".{final.name}-stale-{uuid.uuid4().hex[:8]}")
                os.rename(final, stale)
                shutil.rmtree(stale, ignore_errors=True)
            try:
                os.rename(tmp, final)
            except OSError:  # without a lock another process may have won the race
                if not (final / _MARKER_FILE).exists():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def prepare_all(names: Optional[Sequence[str]] = None, data_dir: Optional[PathLike] = None) -> dict[str, Path]:
    """Generate (or reuse) several sample sets; returns ``{name: folder}``.

    Parameters
    ----------
    names
        Names from :data:`SAMPLE_SETS`; default all of them.
    data_dir
        Root data folder; default :func:`radnb.config.data_dir`.

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ["RADNB_DATA"] = tempfile.mkdtemp()
    >>> list(prepare_all(["ct"]))
    ['ct']
    """
    names = list(SAMPLE_SETS) if names is None else [_check_name(n) for n in names]
    return {name: sample_data(name, data_dir) for name in names}
