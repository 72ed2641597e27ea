"""Checks for notebook 01 (DICOM and windowing).

Expected answers are computed by radnb's own reference code on fresh inputs:
the stored pixel values are put into a small in-memory CT DICOM dataset and
read back with :func:`radnb.dicom.read.image_from_dataset` (the modality LUT of
PS3.3 C.11.1), and windowed with :func:`radnb.dicom.window.voi_linear`.

Exercises (the student's function, then the grade id)
-----------------------------------------------------
Registered in the order notebook 01 asks them, which is the order of its score table.

``answer_deid_residual_risk()`` -> ``deid_residual_risk`` (quiz)
    What a clean header report does not prove (text burned into the pixels).
``to_hu(stored, slope, intercept)`` -> ``hu_conversion``
    Stored values (an integer array) to Hounsfield units (floats):
    ``HU = stored * RescaleSlope + RescaleIntercept``.
``answer_tissue_from_hu()`` -> ``tissue_from_hu`` (quiz)
    Which tissue an ROI of about -90 HU holds.
``window_ct(stored, slope, intercept, center, width)`` -> ``windowing``
    Stored values to display brightness in [0, 1]: rescale to HU first, then
    apply the window (centre and width in HU), clipping outside the window.
``answer_choose_preset()`` -> ``choose_preset`` (quiz)
    Which preset to look at a lung nodule with.
``answer_preset_for_finding()`` -> ``preset_for_finding``
    A dict naming the preset for a pneumothorax, a subdural haematoma and a
    fracture (one point each).
``answer_monochrome1()`` -> ``monochrome1`` (quiz)
    How a MONOCHROME1 radiograph looks when its stored values are shown as they are.
``lesion_volume_ml(mask, spacing)`` -> ``lesion_volume``
    Volume in millilitres of the voxels labelled 2 (lesion) in a label map,
    given the voxel spacing (slice, row, column) in mm.
``show_lesion(series, mask)`` -> ``viewer_on_lesion``
    Returns a :func:`radnb.show` viewer set to the liver window and to the
    axial slice where the lesion (label 2) is largest. Only the viewer's
    Python-side state (``preset``/``window``/``level``, ``slice``, ``view``) is
    read, so the check runs headless (no browser) in CI and in the grader.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ..core import Incorrect, NotDone, as_array, call, close, expect_close
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


# --------------------------------------------------------------------------- de-identification

register_quiz(
    "deid_residual_risk",
    question="You de-identified a folder with `radnb.deidentify`, and `radnb.phi_report` now finds nothing. "
    "Which risk remains that you must still check yourself before sharing the images?",
    options={
        "burned_in": "Names or numbers burned into the pixels (screenshots, scanned forms, ultrasound labels)",
        "pixel_spacing": "The pixel spacing, which could identify the patient",
        "uids": "The study and series UIDs, which still point to the hospital's PACS",
        "none": "None: a clean report means the files are safe to publish",
    },
    correct="burned_in",
    feedback={
        "burned_in": "Right: header tools only edit the header. Text in the image itself (and, for head CT/MR, a "
        "face that can be reconstructed in 3D) must be checked by looking at the images.",
        "pixel_spacing": "No: pixel spacing is a property of the scan (millimetres per pixel) and is needed to measure "
        "anything; it does not identify the patient.",
        "uids": "No: `radnb.deidentify` replaces every UID with a new one derived from a secret salt, so the copies "
        "still belong together but no longer match the hospital's originals.",
        "none": "Not quite: the report only reads the header. Text burned into the pixels and 3D-reconstructable "
        "faces are not in the header at all.",
    },
    hint="What part of a DICOM file does a header report not read?",
    points=1,
    title="What de-identification leaves behind",
)


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


# --------------------------------------------------------------------------- tissue densities

register_quiz(
    "tissue_from_hu",
    question="On an unenhanced CT, an ROI drawn inside a small, well-defined kidney lesion measures about -90 HU. "
    "What does the lesion contain?",
    options={
        "fat": "Fat",
        "fluid": "Simple fluid (water)",
        "soft_tissue": "Soft tissue",
        "calcium": "Calcium or bone",
    },
    correct="fat",
    feedback={
        "fat": "Right: fat measures about -100 to -50 HU. Macroscopic fat in a kidney lesion is the hallmark of an "
        "angiomyolipoma.",
        "fluid": "Not quite: water is 0 HU by definition, and simple fluid measures about -10 to +20 HU. -90 HU is "
        "well below that.",
        "soft_tissue": "No: soft tissue (muscle, liver, kidney) measures about +20 to +70 HU; -90 HU is much lower.",
        "calcium": "No: calcium and bone are bright, from a few hundred HU upwards (cortical bone above +1000).",
    },
    hint="Place -90 HU on the scale: air -1000, water 0, soft tissue about +40, bone several hundred and more.",
    points=1,
    title="Tissue from its HU value",
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


# --------------------------------------------------------------------------- presets per finding

#: The finding -> preset question of the "presets" section, with why each answer is right or wrong.
FINDING_PRESETS = {
    "pneumothorax": (
        "lung",
        "a pneumothorax is air outside the lung: only the wide lung window (W 1500 / L -600) separates the black "
        "pleural air from grey aerated lung and shows the thin visceral pleural line",
    ),
    "subdural": (
        "subdural",
        "a thin subdural haematoma lies against the bright skull: the subdural window (W 200 / L 75) is wide enough "
        "to tell blood from bone, where the narrow brain window blends them",
    ),
    "fracture": (
        "bone",
        "a fracture line runs through cortical bone of +1000 HU and more: only the bone window (W 1800 / L 400) "
        "shows detail inside bone instead of plain white",
    ),
}


def _preset_key(value) -> str:
    return str(value).strip().lower().replace(" ", "_").replace("-", "_")


@register("preset_for_finding", inputs=["answer_preset_for_finding"], points=3,
          title="Choose the window for the finding")
def check_preset_for_finding(answer_preset_for_finding, *, rng):
    from ...dicom.window import PRESETS

    answer = call(answer_preset_for_finding)
    if not isinstance(answer, dict):
        raise Incorrect(
            "Return a dictionary such as `{\"pneumothorax\": \"...\", \"subdural\": \"...\", \"fracture\": \"...\"}` "
            f"(you returned a {type(answer).__name__})."
        )
    given = {_preset_key(k): v for k, v in answer.items()}
    missing = [k for k in FINDING_PRESETS if k not in given]
    if len(missing) == len(FINDING_PRESETS):
        raise Incorrect(f"The dictionary needs the keys {', '.join(repr(k) for k in FINDING_PRESETS)}; "
                        f"yours has {', '.join(repr(k) for k in answer) or 'none'}.")
    right, notes = 0, []
    for finding, (wanted, why) in FINDING_PRESETS.items():
        if finding not in given:
            notes.append(f"{finding}: no answer yet.")
            continue
        value = given[finding]
        if value is None or value is Ellipsis or _preset_key(value) in ("", "..."):
            notes.append(f"{finding}: no answer yet.")
            continue
        key = _preset_key(value)
        if key == wanted:
            right += 1
        elif key not in PRESETS:
            notes.append(f"{finding}: {value!r} is not a radnb preset (choose from {', '.join(PRESETS)}).")
        else:
            notes.append(f"{finding}: not {key!r}; {why}.")
    if right == len(FINDING_PRESETS):
        return "All three right: lung for a pneumothorax, subdural for a thin subdural haematoma, bone for a fracture."
    if right == 0 and all(n.endswith("no answer yet.") for n in notes):
        raise NotDone("Fill in a preset name for each finding.")
    raise Incorrect(f"{right} of {len(FINDING_PRESETS)} right. " + " ".join(notes), score=right / len(FINDING_PRESETS))


register_quiz(
    "monochrome1",
    question="A CR chest radiograph is stored as MONOCHROME1. If you display its stored values as they are, with "
    "the usual grey scale (lowest value black), how does it look?",
    options={
        "normal": "Normal: bones and heart white, lungs black",
        "inverted": "Like a negative: bones and heart dark, lungs bright",
        "grey": "Uniformly grey, because the values are not in HU",
    },
    correct="inverted",
    feedback={
        "inverted": "Right: in MONOCHROME1 the lowest value is meant to be shown white, so a viewer (or your code) "
        "must invert it. `radnb.window` and the viewers do this for you (`image.invert` is True).",
        "normal": "No: that is MONOCHROME2, where the lowest value is black. MONOCHROME1 is the other way round.",
        "grey": "No: the contrast is all there, only upside down. Radiograph values are never HU; each image has "
        "its own window in the header.",
    },
    hint="MONOCHROME1 means: the minimum value is intended to be displayed as white.",
    points=1,
    title="MONOCHROME1",
)


# --------------------------------------------------------------------------- volume from a label map


def _label_case(rng: np.random.Generator, with_lesion: bool = True):
    """A small (Z, H, W) label map (0 background, 1 liver, 2 lesion) and an anisotropic spacing."""
    nz, ny, nx = int(rng.integers(4, 9)), int(rng.integers(8, 14)), int(rng.integers(8, 14))
    mask = np.zeros((nz, ny, nx), np.uint8)
    mask[:, 1:-1, 1:-1] = (rng.random((nz, ny - 2, nx - 2)) < 0.8).astype(np.uint8)
    if with_lesion:
        lesion = rng.random((nz, ny, nx)) < rng.uniform(0.08, 0.25)
        mask[lesion & (mask == 1)] = 2
        if not (mask == 2).any():
            mask[nz // 2, ny // 2, nx // 2] = 2
    slice_mm = float(rng.choice([1.25, 2.5, 3.0, 5.0]))
    pixel_mm = float(np.round(rng.uniform(0.55, 0.98), 3))
    col_mm = float(np.round(pixel_mm * rng.choice([1.0, 1.0, 1.1]), 3))
    return mask, (slice_mm, pixel_mm, col_mm)


@register("lesion_volume", inputs=["lesion_volume_ml"], points=2, title="Lesion volume in mL")
def check_lesion_volume(lesion_volume_ml, *, rng):
    for with_lesion in (True, True, False):
        mask, spacing = _label_case(rng, with_lesion)
        slice_mm, row_mm, col_mm = spacing
        n = int((mask == 2).sum())
        voxel_mm3 = slice_mm * row_mm * col_mm
        expected = n * voxel_mm3 / 1000.0
        got = call(lesion_volume_ml, mask, spacing)
        try:
            value = float(as_array(got).astype(float).reshape(()))
        except (TypeError, ValueError):
            raise Incorrect(f"`lesion_volume_ml` should return one number (millilitres), but returned {got!r:.60}.")
        if close(value, expected, atol=1e-6, rtol=1e-3):
            continue
        setting = f"(spacing {slice_mm:g} × {row_mm:g} × {col_mm:g} mm, {n} lesion voxels)"
        wrong = [
            (n, f"You returned the number of lesion voxels {setting}. Multiply by the volume of one voxel "
                "(slice × row × column spacing, in mm³) and convert to mL."),
            (n * voxel_mm3, f"That is the volume in mm³ {setting}. One millilitre is 1 cm³ = 1000 mm³: divide by 1000."),
            (n * row_mm * col_mm / 1000.0, "You used the pixel area only: a voxel also has a depth, the slice "
             f"spacing ({slice_mm:g} mm here). Multiply by all three spacings."),
            (n * row_mm * col_mm, "You used the pixel area only (and mm rather than mL): multiply by all three spacings, "
             "then divide by 1000."),
            (int((mask > 0).sum()) * voxel_mm3 / 1000.0, "You counted every labelled voxel, liver included. The lesion "
             "is the voxels whose label is 2: `(mask == 2).sum()`."),
            (int(mask.sum()) * voxel_mm3 / 1000.0, "You added up the label values (1 for liver, 2 for lesion) instead "
             "of counting lesion voxels. Count them with `(mask == 2).sum()`."),
            (n * slice_mm ** 3 / 1000.0, "CT voxels are not cubes: use the slice spacing and both pixel spacings, "
             "not one of them cubed."),
            (n * row_mm ** 3 / 1000.0, "CT voxels are not cubes: the slice spacing is usually larger than the pixel "
             "spacing. Multiply all three spacings."),
        ]
        for candidate, message in wrong:
            if n and close(value, candidate, atol=1e-6, rtol=1e-3):
                raise Incorrect(message)
        if not with_lesion:
            raise Incorrect(f"For a label map without any lesion voxels the volume is 0 mL, but yours returned {value:.4g}.")
        raise Incorrect(
            f"For {n} lesion voxels at {slice_mm:g} × {row_mm:g} × {col_mm:g} mm the volume is {expected:.4g} mL, "
            f"but yours returned {value:.4g}. Volume = number of voxels × voxel volume (mm³) / 1000."
        )


# --------------------------------------------------------------------------- the viewer


def _lesion_volume_case(rng: np.random.Generator):
    """A small in-memory CT series (HU) and its label map: lesion largest on one slice, liver largest on another."""
    from ...dicom.image import DicomSeries

    nz, n = int(rng.integers(9, 14)), 28
    middle = nz // 2
    choices = [k for k in range(1, nz - 1) if k not in (middle, middle - 1)]
    lesion_z = int(rng.choice(choices))
    liver_z = int(rng.choice([k for k in range(nz) if abs(k - lesion_z) >= 3]))
    yy, xx = np.mgrid[0:n, 0:n]
    hu = np.full((nz, n, n), -1000.0, np.float32)
    mask = np.zeros((nz, n, n), np.uint8)
    body = (yy - n / 2) ** 2 + (xx - n / 2) ** 2 < (0.47 * n) ** 2
    hu[:, body] = -90.0
    for z in range(nz):
        r_liver = max(10.0 - 0.7 * abs(z - liver_z), 6.0)  # always wider than the lesion (radius <= 4.5)
        liver = (yy - 13) ** 2 + (xx - 11) ** 2 <= r_liver ** 2
        mask[z][liver] = 1
        r_lesion = 4.5 - 1.5 * abs(z - lesion_z)
        if r_lesion > 0:
            lesion = ((yy - 13) ** 2 + (xx - 11) ** 2 <= r_lesion ** 2) & liver
            mask[z][lesion] = 2
    hu[mask == 1] = 60.0
    hu[mask == 2] = 15.0
    hu += rng.normal(0, 5, hu.shape).astype(np.float32)
    series = DicomSeries(array=hu, spacing=(float(rng.choice([2.5, 3.0, 5.0])), 0.8, 0.8), modality="CT",
                         units="HU", default_window=(50.0, 400.0))
    return series, mask, lesion_z, liver_z


_VIEWER_STATE = ("preset", "window", "level", "view", "slice", "volume")


@register("viewer_on_lesion", inputs=["show_lesion"], points=2, title="Open the viewer on the lesion")
def check_viewer_on_lesion(show_lesion, *, rng):
    from ...dicom.window import PRESETS

    series, mask, lesion_z, liver_z = _lesion_volume_case(rng)
    viewer = call(show_lesion, series, mask)
    # duck typing, not isinstance: the grader re-imports radnb, so the student's viewer class may be
    # an earlier copy of SliceViewer
    if not all(hasattr(viewer, name) for name in _VIEWER_STATE):
        if type(viewer).__name__ == "StaticImage":
            raise Incorrect("You returned a static picture (`static=True`): return the interactive viewer, "
                            "`radnb.show(series)`, so its slice and window can be read.")
        raise Incorrect("`show_lesion` should return the viewer that `radnb.show(series)` gives you "
                        f"(end with `return viewer`), but it returned a {type(viewer).__name__}.")
    image = np.asarray(viewer.volume.array)
    if image.shape[:3] != series.array.shape:
        raise Incorrect(f"The viewer shows an image of shape {image.shape[:3]}, but the series you were given has shape "
                        f"{series.array.shape}: show `series` itself.")
    if np.array_equal(image, mask):
        raise Incorrect("The viewer shows the label map, not the CT: use `radnb.show(series)` (you may pass the "
                        "mask as an overlay with `labels=mask`).")
    problems, earned = [], 0.0
    liver = PRESETS["liver"]
    if viewer.preset == "liver" or (abs(viewer.window - liver.width) < 0.5 and abs(viewer.level - liver.center) < 0.5):
        earned += 0.5
    elif viewer.preset:
        problems.append(f"The viewer is in the {viewer.preset!r} window (W {viewer.window:g} / L {viewer.level:g}); "
                        "set `viewer.preset = \"liver\"`.")
    else:
        problems.append(f"The window is W {viewer.window:g} / L {viewer.level:g}; the liver window is "
                        f"W {liver.width:g} / L {liver.center:g}: set `viewer.preset = \"liver\"`.")
    if viewer.view != "axial":
        problems.append(f"The viewer shows the {viewer.view} view; the exercise asks for an axial slice "
                        "(leave `view` as it opens, 'axial').")
    elif viewer.slice == lesion_z:
        earned += 0.5
    elif viewer.slice == lesion_z + 1:
        problems.append("Your slice is one too far: Python counts slices from 0 and so does `viewer.slice` (the "
                        "viewer's caption shows slice k+1 of n for human readers). Use the index from `argmax()` as it is.")
    elif viewer.slice == len(series) // 2:
        problems.append("The viewer is still on the slice it opens on (the middle one). Set `viewer.slice` to the "
                        "slice with the most lesion voxels.")
    elif viewer.slice == liver_z:
        problems.append("That is the slice with the most liver. The lesion is label 2: count `(mask == 2)` per slice.")
    else:
        areas = (mask == 2).sum(axis=(1, 2))
        problems.append(f"On slice {viewer.slice} the lesion covers {int(areas[viewer.slice])} pixels, but on slice "
                        f"{lesion_z} it covers {int(areas[lesion_z])}. Count lesion pixels per slice with "
                        "`(mask == 2).sum(axis=(1, 2))` and take the `argmax()`.")
    if earned >= 1.0:
        return None
    raise Incorrect(" ".join(problems), score=earned)
