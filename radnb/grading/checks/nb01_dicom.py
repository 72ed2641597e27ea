"""Checks for notebook 01 (DICOM and windowing).

Expected answers are computed by radnb's own reference code on fresh inputs:
the stored pixel values are put into a small in-memory CT DICOM dataset and
read back with :func:`radnb.dicom.read.image_from_dataset` (the modality LUT of
PS3.3 C.11.1), and windowed with :func:`radnb.dicom.window.voi_linear`.

Exercises (the student's function, then the grade id)
-----------------------------------------------------
``to_hu(stored, slope, intercept)`` -> ``hu_conversion``
    Stored values (an integer array) to Hounsfield units (floats):
    ``HU = stored * RescaleSlope + RescaleIntercept``.
``window_ct(stored, slope, intercept, center, width)`` -> ``windowing``
    Stored values to display brightness in [0, 1]: rescale to HU first, then
    apply the window (centre and width in HU), clipping outside the window.
``answer_choose_preset()`` -> ``choose_preset`` (quiz)
    Which preset to look at a lung nodule with.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ..core import Incorrect, as_array, call, close, expect_close
from ..registry import register, register_quiz


def reference_hu(stored: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """HU from stored values, computed by radnb's DICOM reader on an in-memory CT dataset.

    Examples
    --------
    >>> reference_hu(np.array([[0, 1024]], dtype=np.uint16), 1.0, -1024.0).tolist()
    [[-1024.0, 0.0]]
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    from ...dicom.read import image_from_dataset

    stored = np.ascontiguousarray(stored)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Modality = "CT"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if stored.dtype.kind == "i" else 0
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = f"{intercept:g}"
    ds.RescaleType = "HU"
    ds.PixelData = stored.astype("<i2" if stored.dtype.kind == "i" else "<u2").tobytes()
    return image_from_dataset(ds).array


def reference_window(hu: np.ndarray, center: float, width: float) -> np.ndarray:
    """Display values in [0, 1] by radnb's DICOM linear VOI function."""
    from ...dicom.window import voi_linear

    return voi_linear(hu, center, width)


def _ct_case(rng: np.random.Generator, unsigned: bool) -> Tuple[np.ndarray, float, float]:
    """A small block of stored CT values covering air, fat, soft tissue and bone."""
    shape = (int(rng.integers(3, 7)), int(rng.integers(3, 7)))
    if unsigned:  # the classic scanner encoding: 0..4095 stored, intercept -1024
        slope, intercept = 1.0, float(rng.choice([-1024.0, -1000.0]))
        hu = rng.uniform(-1000, 2000, size=shape)
    else:
        slope, intercept = float(rng.choice([0.5, 2.0, 1.5])), float(rng.choice([-1024.0, -2048.0, -512.0]))
        hu = rng.uniform(-1000, 1500, size=shape)
    stored = np.round((hu - intercept) / slope)
    stored = stored.astype(np.uint16 if unsigned else np.int16)
    return stored, slope, intercept


def _wrapped(stored: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """What integer arithmetic without converting to float gives (wrap-around)."""
    with np.errstate(all="ignore"):
        return (stored * stored.dtype.type(slope) + np.array(intercept).astype(stored.dtype)).astype(stored.dtype)


@register("hu_conversion", inputs=["to_hu"], points=2, title="Convert stored values to HU")
def check_hu_conversion(to_hu, *, rng):
    for unsigned in (False, True, bool(rng.integers(0, 2))):
        stored, slope, intercept = _ct_case(rng, unsigned)
        expected = reference_hu(stored, slope, intercept)
        got = call(to_hu, stored, slope, intercept)
        if close(got, expected, atol=1e-3):
            continue
        setting = f"(RescaleSlope {slope:g}, RescaleIntercept {intercept:g})"
        if close(got, stored.astype(float) * slope, atol=1e-3):
            raise Incorrect(f"You multiplied by the slope but forgot to add the intercept {setting}.")
        if close(got, stored, atol=1e-3):
            raise Incorrect(
                f"You returned the stored values unchanged {setting}. Hounsfield units are "
                "stored × RescaleSlope + RescaleIntercept."
            )
        if close(got, stored.astype(float) + intercept, atol=1e-3):
            raise Incorrect(f"You added the intercept but did not multiply by the slope first {setting}.")
        if close(got, (stored.astype(float) - intercept) / slope, atol=1e-3):
            raise Incorrect(
                "You applied the formula backwards (that turns HU into stored values). "
                "HU = stored × slope + intercept."
            )
        if close(got, stored.astype(float) * intercept + slope, atol=1e-3):
            raise Incorrect("You swapped slope and intercept: multiply by the slope, then add the intercept.")
        if close(got, _wrapped(stored, slope, intercept), atol=1e-3):
            raise Incorrect(
                f"Your numbers wrapped around: the stored values are unsigned integers ({stored.dtype}), which "
                "cannot hold negative HU such as air (-1000). Convert to float first, e.g. "
                "`stored.astype(np.float32) * slope + intercept`."
            )
        expect_close(got, expected, f"the HU values {setting}", atol=1e-3)
    hu = as_array(got)
    if hu.dtype.kind not in "fc":
        raise Incorrect(
            "The values are right, but the result is an integer array. HU from a fractional slope are not whole "
            "numbers: return floats (`.astype(np.float32)`).",
            score=0.5,
        )


def _window_diagnosis(got: np.ndarray, stored, slope, intercept, center, width) -> None:
    hu = reference_hu(stored, slope, intercept)
    expected = reference_window(hu, center, width)
    tol = 1.0 / (width - 1) + 1e-3  # accepts the textbook (x - low) / width as well as DICOM's formula
    if close(got, expected, atol=tol):
        return
    raw = np.asarray(stored, dtype=np.float64)
    lo = center - width / 2
    setting = f"(centre {center:g}, width {width:g} HU)"
    if close(got, reference_window(raw, center, width), atol=tol):
        raise Incorrect(
            f"Your window width is in HU but the image is raw stored values: apply the rescale first "
            f"(HU = stored × {slope:g} {'-' if intercept < 0 else '+'} {abs(intercept):g}), then window {setting}."
        )
    if close(got, 1 - expected, atol=tol):
        raise Incorrect("Your image is inverted: dense tissue (high HU) should be bright, i.e. close to 1.")
    if center >= 1 and close(got, reference_window(hu, width, center), atol=tol):
        raise Incorrect("It looks like you swapped centre and width. The centre (level) comes first, then the width.")
    if close(got, reference_window(hu, center, 2 * width), atol=tol):
        raise Incorrect(
            "Your window is twice as wide as it should be. The width is the whole range shown: it reaches "
            "width/2 below the centre and width/2 above it."
        )
    if close(got, (hu - lo) / width, atol=tol):
        raise Incorrect(
            "The scaling is right, but values outside the window must be clipped: everything below the window "
            "is 0 (black), everything above it 1 (white). Try `np.clip(..., 0, 1)`.",
            score=0.5,
        )
    if np.nanmax(got) > 1.5 and close(got / 255.0, expected, atol=tol + 0.01):
        raise Incorrect("Your values run from 0 to 255. radnb works with brightness from 0 to 1: divide by 255.", score=0.5)
    if np.nanmin(got) < -1e-6 or np.nanmax(got) > 1 + 1e-6:
        raise Incorrect(
            f"Display values must lie between 0 and 1, but yours run from {np.nanmin(got):.3g} to {np.nanmax(got):.3g} "
            f"{setting}. Subtract the window's lowest HU, divide by the width, and clip to [0, 1]."
        )
    expect_close(got, expected, f"the display values {setting}", atol=tol)


@register("windowing", inputs=["window_ct"], points=2, title="Window a CT image")
def check_windowing(window_ct, *, rng):
    from ...dicom.window import PRESETS

    names = list(rng.permutation(["lung", "mediastinum", "bone", "brain", "liver", "abdomen"]))[:3]
    for k, name in enumerate(names):
        stored, slope, intercept = _ct_case(rng, unsigned=(k != 1))
        preset = PRESETS[str(name)]
        got = call(window_ct, stored, slope, intercept, preset.center, preset.width)
        try:
            arr = as_array(got).astype(float)
        except (TypeError, ValueError):
            raise Incorrect(f"`window_ct` should return an array of numbers, but returned a {type(got).__name__}.")
        if arr.shape != stored.shape:
            raise Incorrect(f"The result should have the image's shape {stored.shape}, but has shape {arr.shape}.")
        _window_diagnosis(arr, stored, slope, intercept, preset.center, preset.width)


register_quiz(
    "choose_preset",
    question="You are looking for a small nodule in the lung on a chest CT. Which window shows it best?",
    options={
        "lung": "Lung (W 1500 / L -600)",
        "mediastinum": "Mediastinum (W 350 / L 50)",
        "bone": "Bone (W 1800 / L 400)",
        "brain": "Brain (W 80 / L 40)",
    },
    correct="lung",
    feedback={
        "lung": "Right: the wide, low lung window spreads the air-to-soft-tissue range over the grey scale, so a "
        "soft-tissue nodule stands out against aerated lung.",
        "mediastinum": "Not quite: with the mediastinal window all lung tissue below about -125 HU is black, so a "
        "small nodule's edges and the surrounding lung are lost. Use it for nodes and vessels.",
        "bone": "Not quite: the bone window is centred far above lung (about -850 HU), which it shows as "
        "almost uniform black.",
        "brain": "No: the brain window is only 80 HU wide around 40 HU; the whole lung is black.",
    },
    hint="Think about which HU range the lung and a nodule occupy (air about -1000, soft tissue about +40).",
    points=1,
    title="Choose a window preset",
)
