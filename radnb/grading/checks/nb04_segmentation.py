"""Checks for notebook 04 (Segmentation with U-Net).

Expected answers follow radnb's reference metrics in :mod:`radnb.train.metrics`
(Dice and IoU per foreground class, with its empty-mask convention; re-stated here
in plain numpy so a check never waits for torch to import), evaluated on
fresh synthetic masks: discs and ellipsoids at random places in 2-D slices and
3-D volumes, as booleans or as 0/1 integers.

Exercises (the student's function, then the grade id)
-----------------------------------------------------
``dice(pred, truth)`` -> ``seg_dice``
    Dice coefficient ``2 |P ∩ T| / (|P| + |T|)`` of two binary masks; ``nan`` when
    both are empty (radnb's convention: nothing to find and nothing found is
    undefined, so averages skip it), 0 when only one is.
``pixel_accuracy(pred, truth)`` -> ``seg_pixel_accuracy``
    Fraction of pixels (voxels) on which the two masks agree.
``iou_from_dice(d)`` -> ``seg_iou_from_dice``
    Convert a Dice coefficient to the IoU (Jaccard index) of the same masks: ``d / (2 - d)``.
``mask_volume_ml(mask, spacing)`` -> ``seg_volume_ml``
    Volume of a binary mask in millilitres: voxel count × voxel volume, with
    ``spacing = (slice_mm, row_mm, col_mm)`` as in ``DicomSeries.spacing``.
Quizzes: ``seg_accuracy_lies``, ``seg_skip_connections``, ``seg_small_lesion``.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Sequence, Tuple

import numpy as np

from ..core import Incorrect, as_array, call, close
from ..registry import register, register_quiz


# --------------------------------------------------------------------------- reference code and fixtures


def _overlap(pred: np.ndarray, truth: np.ndarray) -> Tuple[int, int, int]:
    p, t = np.asarray(pred).astype(bool), np.asarray(truth).astype(bool)
    return int(np.count_nonzero(p & t)), int(np.count_nonzero(p)), int(np.count_nonzero(t))


def reference_dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two binary masks, following :func:`radnb.train.metrics.dice` (``nan`` when both are empty).

    Plain numpy here, so a check never waits for torch to import (``tests/test_checks_nb04.py``
    asserts it agrees with :mod:`radnb.train.metrics`).

    Examples
    --------
    >>> reference_dice(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
    0.6666666666666666
    """
    inter, sp, st = _overlap(pred, truth)
    return 2.0 * inter / (sp + st) if sp + st else float("nan")


def reference_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU (Jaccard) of two binary masks, following :func:`radnb.train.metrics.iou`.

    Examples
    --------
    >>> reference_iou(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
    0.5
    """
    inter, sp, st = _overlap(pred, truth)
    return inter / (sp + st - inter) if sp + st else float("nan")


def reference_volume_ml(mask: np.ndarray, spacing: Sequence[float]) -> float:
    """Voxel count × voxel volume (mm³) / 1000.

    Examples
    --------
    >>> reference_volume_ml(np.ones((2, 10, 10), bool), (2.5, 0.8, 0.8))
    0.32
    """
    return float(np.count_nonzero(mask)) * float(np.prod(np.asarray(spacing, dtype=float))) / 1000.0


def _blob(rng: np.random.Generator, shape: Tuple[int, ...], radius: float, centre=None) -> np.ndarray:
    """A boolean disc (2-D) or ellipsoid (3-D, flatter along the first axis) at a random place."""
    grids = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    if centre is None:
        centre = [rng.uniform(radius, n - radius) if n > 2 * radius else n / 2 for n in shape]
    r2 = np.zeros(shape)
    for axis, (g, c) in enumerate(zip(grids, centre)):
        scale = radius * (0.5 if len(shape) == 3 and axis == 0 else 1.0) * rng.uniform(0.8, 1.25)
        r2 = r2 + ((g - c) / max(scale, 0.5)) ** 2
    return r2 <= 1.0


def _mask_pair(rng: np.random.Generator, ndim: int, small: bool = False):
    """A (prediction, truth) pair of overlapping blobs; truth is a small lesion when ``small``."""
    shape = (int(rng.integers(6, 12)), 40, 40) if ndim == 3 else (int(rng.integers(40, 72)), int(rng.integers(40, 72)))
    radius = float(rng.uniform(3, 5)) if small else float(rng.uniform(8, 14))
    truth = _blob(rng, shape, radius)
    centre = [float(np.mean(ix)) + rng.uniform(-0.6, 0.6) * radius for ix in np.nonzero(truth)]
    pred = _blob(rng, shape, radius * rng.uniform(0.7, 1.3), centre=centre)
    return pred, truth


def _scalar(got, what: str) -> float:
    arr = as_array(got)
    if arr.size != 1:
        raise Incorrect(f"`{what}` should return one number, but returned an array of shape {arr.shape}.")
    try:
        return float(arr.reshape(-1)[0])
    except (TypeError, ValueError):
        raise Incorrect(f"`{what}` should return a number, but returned a {type(got).__name__}.") from None


@contextlib.contextmanager
def _quiet():
    """Silence numpy's 0/0 warnings while the student's code runs (nan is a legitimate answer here)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------- Dice


def _dice_diagnosis(got: float, pred: np.ndarray, truth: np.ndarray) -> None:
    expected = reference_dice(pred, truth)
    if close(got, expected, atol=1e-6):
        return
    p, t = pred.astype(bool), truth.astype(bool)
    inter, sp, st = np.sum(p & t), np.sum(p), np.sum(t)
    iou = reference_iou(pred, truth)
    shape = "x".join(map(str, pred.shape))
    if close(got, iou, atol=1e-6):
        raise Incorrect(
            "You computed the IoU (Jaccard index): overlap / union. Dice counts the overlap twice and divides by "
            "the two mask sizes added up: 2 × |P ∩ T| / (|P| + |T|)."
        )
    if close(got, inter / (sp + st), atol=1e-6):
        raise Incorrect("You forgot the factor 2: Dice = 2 × |P ∩ T| / (|P| + |T|), so that a perfect match gives 1.")
    if close(got, 2 * iou, atol=1e-6):
        raise Incorrect(
            "Your denominator is the union of the masks. With True/False masks `pred + truth` is a logical OR, not "
            "a count: add the two sizes instead, `pred.sum() + truth.sum()`."
        )
    if close(got, float(np.mean(p == t)), atol=1e-6):
        raise Incorrect(
            "That is the pixel accuracy (fraction of pixels that agree), which the background dominates. Dice "
            "looks only at the structure: 2 × |P ∩ T| / (|P| + |T|)."
        )
    if close(got, 100 * expected, atol=1e-4):
        raise Incorrect("Your Dice is in per cent. Return a fraction between 0 and 1 (drop the × 100).", score=0.5)
    if close(got, inter / st if st else np.nan, atol=1e-6):
        raise Incorrect(
            "You divided the overlap by the size of the truth only: that is the sensitivity (fraction of the "
            "structure found). Dice also penalises what the prediction marks outside the truth."
        )
    raise Incorrect(
        f"For two {shape} masks with {int(sp)} and {int(st)} marked pixels overlapping in {int(inter)}, your "
        f"function returned {got:.4g}; the Dice is {expected:.4g} (2 × {int(inter)} / ({int(sp)} + {int(st)}))."
    )


@register("seg_dice", inputs=["dice"], points=2, title="Dice coefficient")
def check_dice(dice, *, rng):
    cases = [_mask_pair(rng, 2), _mask_pair(rng, 3), _mask_pair(rng, 2, small=True)]
    cases[1] = (cases[1][0].astype(np.uint8), cases[1][1].astype(np.uint8))  # 0/1 integers work too
    with _quiet():
        for pred, truth in cases:
            _dice_diagnosis(_scalar(call(dice, pred, truth), "dice"), pred, truth)
        # identical masks: 1; a prediction that misses entirely: 0
        pred, truth = _mask_pair(rng, 2)
        if not close(_scalar(call(dice, truth.copy(), truth), "dice"), 1.0, atol=1e-6):
            raise Incorrect("Two identical masks must have a Dice of exactly 1.")
        empty = np.zeros_like(truth)
        got_missed = _scalar(call(dice, empty, truth), "dice")
        if not close(got_missed, 0.0, atol=1e-6):
            raise Incorrect(
                f"When the prediction is empty but the truth is not (a missed lesion), the Dice is 0; you returned "
                f"{got_missed:.4g}."
            )
        got_false = _scalar(call(dice, truth, empty), "dice")
        if not close(got_false, 0.0, atol=1e-6):
            raise Incorrect(
                f"When the truth is empty but the prediction is not (a false-positive lesion), the Dice is 0; you "
                f"returned {got_false:.4g}."
            )
        # both empty: radnb's convention is nan
        try:
            got_empty = _scalar(call(dice, empty.copy(), empty), "dice")
        except Incorrect as exc:
            raise Incorrect(
                "Your Dice is right whenever there is something to find, but for two empty masks it failed "
                f"({exc.message}) Return `float('nan')` when both masks are empty: nothing to find and nothing "
                "found has no Dice (radnb's convention, so averages with `np.nanmean` skip those slices).",
                score=0.5,
            ) from None
        if not np.isnan(got_empty):
            raise Incorrect(
                f"Your Dice is right whenever there is something to find, but for two empty masks you returned "
                f"{got_empty:.4g}. radnb's convention is `float('nan')` (undefined): a slice without lesion and "
                "without prediction would otherwise count as a perfect 1 (or a failed 0) and distort the average.",
                score=0.5,
            )


# --------------------------------------------------------------------------- pixel accuracy


@register("seg_pixel_accuracy", inputs=["pixel_accuracy"], points=1, title="Pixel accuracy")
def check_pixel_accuracy(pixel_accuracy, *, rng):
    cases = [_mask_pair(rng, 2, small=True), _mask_pair(rng, 3)]
    cases.append((np.zeros_like(cases[0][1]), cases[0][1].astype(np.uint8)))  # all background
    with _quiet():
        for pred, truth in cases:
            got = _scalar(call(pixel_accuracy, pred, truth), "pixel_accuracy")
            p, t = np.asarray(pred).astype(bool), np.asarray(truth).astype(bool)
            expected = float(np.mean(p == t))
            if close(got, expected, atol=1e-6):
                continue
            agree = int(np.sum(p == t))
            if close(got, agree, atol=1e-6):
                raise Incorrect(
                    f"You returned the number of pixels that agree ({agree}); divide by the total number of pixels "
                    f"({p.size}) to get a fraction."
                )
            if close(got, 100 * expected, atol=1e-4):
                raise Incorrect("Your accuracy is in per cent. Return a fraction between 0 and 1.", score=0.5)
            if t.any() and close(got, np.sum(p & t) / np.sum(t), atol=1e-6):
                raise Incorrect(
                    "You counted agreement only inside the truth mask (that is the sensitivity). Pixel accuracy "
                    "counts every pixel, background included: `np.mean(pred == truth)`."
                )
            if close(got, reference_dice(p, t), atol=1e-6):
                raise Incorrect("That is the Dice coefficient. Pixel accuracy is the fraction of *all* pixels that agree.")
            raise Incorrect(
                f"For masks of {p.size} pixels that agree on {agree}, the pixel accuracy is {expected:.4f}; your "
                f"function returned {got:.4g}."
            )


# --------------------------------------------------------------------------- IoU from Dice


@register("seg_iou_from_dice", inputs=["iou_from_dice"], points=1, title="IoU from Dice")
def check_iou_from_dice(iou_from_dice, *, rng):
    pred, truth = _mask_pair(rng, 2)
    d_real = reference_dice(pred, truth)
    values = [d_real, float(rng.uniform(0.05, 0.5)), float(rng.uniform(0.5, 0.95)), 0.0, 1.0]
    with _quiet():
        for d in values:
            got = _scalar(call(iou_from_dice, d), "iou_from_dice")
            expected = d / (2 - d)
            if close(got, expected, atol=1e-6):
                continue
            if close(got, d / 2, atol=1e-6):
                raise Incorrect(
                    f"For Dice {d:.3f} you returned {got:.3f} = Dice / 2. Start from the definitions: with "
                    "I = overlap, Dice = 2I / (|P| + |T|) and IoU = I / (|P| + |T| - I). Solving gives IoU = D / (2 - D)."
                )
            if close(got, 2 * d / (1 + d), atol=1e-6):
                raise Incorrect("That is the other direction (Dice from IoU: 2J / (1 + J)). From Dice to IoU: D / (2 - D).")
            if close(got, d, atol=1e-6) and d not in (0.0, 1.0):
                raise Incorrect("IoU is never larger than Dice and equals it only at 0 and 1: convert with D / (2 - D).")
            raise Incorrect(f"For a Dice of {d:.4f} the IoU is {expected:.4f}, but your function returned {got:.4g}.")
        # must agree with the IoU of real masks
        got = _scalar(call(iou_from_dice, d_real), "iou_from_dice")
        if not close(got, reference_iou(pred, truth), atol=1e-6):
            raise Incorrect("Your conversion does not match the IoU measured on a pair of masks.")


# --------------------------------------------------------------------------- volume in ml


@register("seg_volume_ml", inputs=["mask_volume_ml"], points=2, title="Volume from a mask")
def check_volume_ml(mask_volume_ml, *, rng):
    spacings = [
        (float(rng.choice([2.5, 3.0, 5.0])), round(float(rng.uniform(0.6, 0.95)), 3), 0.0),
        (float(rng.choice([1.0, 1.25])), round(float(rng.uniform(0.5, 0.8)), 3), 0.0),
        (float(rng.choice([4.0, 5.0])), 0.7, 0.7),
    ]
    spacings = [(s, r, c or r) for s, r, c in spacings]
    for k, spacing in enumerate(spacings):
        shape = (int(rng.integers(8, 16)), 48, 48)
        mask = _blob(rng, shape, float(rng.uniform(6, 14)))
        if k == 1:
            mask = mask.astype(np.uint8)
        sp = tuple(spacing) if k != 2 else list(spacing)
        with _quiet():
            got = _scalar(call(mask_volume_ml, mask, sp), "mask_volume_ml")
        n = int(np.count_nonzero(mask))
        voxel = float(np.prod(spacing))
        expected = reference_volume_ml(mask, spacing)
        if close(got, expected, atol=1e-6, rtol=1e-6):
            continue
        where = f"({n} voxels of {spacing[0]:g} × {spacing[1]:g} × {spacing[2]:g} mm)"
        if close(got, n * voxel, rtol=1e-6):
            raise Incorrect(
                f"Your result is in cubic millimetres {where}. 1 ml = 1 cm³ = 1000 mm³: divide by 1000.", score=0.5
            )
        if close(got, n * voxel / 1e6, rtol=1e-6):
            raise Incorrect(f"You divided by a million; 1 ml is 1000 mm³ {where}.", score=0.5)
        if close(got, n * spacing[1] * spacing[2] / 1000.0, rtol=1e-6) or close(got, n * spacing[1] * spacing[2], rtol=1e-6):
            raise Incorrect(
                "You used the pixel spacing in the slice but not the distance between slices. A voxel is a small "
                "box: slice spacing × row spacing × column spacing (spacing[0] × spacing[1] × spacing[2])."
            )
        if close(got, n, rtol=1e-6):
            raise Incorrect(f"You returned the number of voxels ({n}); multiply by the volume of one voxel, in ml.")
        if close(got, mask.size * voxel / 1000.0, rtol=1e-6):
            raise Incorrect(
                "You counted every voxel of the volume, not only those inside the mask. Count the True (or 1) voxels, "
                "e.g. `np.count_nonzero(mask)`."
            )
        raise Incorrect(f"For {where} the volume is {expected:.4f} ml, but your function returned {got:.4g}.")


# --------------------------------------------------------------------------- quizzes

register_quiz(
    "seg_accuracy_lies",
    question="A liver lesion covers 0.3 % of the voxels of a CT volume. A model marks every voxel as background. "
    "What are its pixel accuracy and its lesion Dice?",
    options={
        "acc_high_dice_zero": "Pixel accuracy 99.7 %, Dice 0",
        "both_high": "Pixel accuracy 99.7 %, Dice 0.997",
        "acc_low_dice_zero": "Pixel accuracy 0.3 %, Dice 0",
        "both_undefined": "Both undefined: the model found nothing",
    },
    correct="acc_high_dice_zero",
    feedback={
        "acc_high_dice_zero": "Right: the 99.7 % background voxels are all 'correct', so accuracy looks excellent "
        "while the lesion is missed completely. Dice ignores the background and exposes it.",
        "both_high": "No: Dice only looks at the lesion. No lesion voxel was marked, so the overlap is 0 and so is "
        "the Dice.",
        "acc_low_dice_zero": "No: accuracy counts every voxel, and 99.7 % of them (the background) are right.",
        "both_undefined": "No: the truth holds a lesion, so both are defined. Accuracy is 99.7 %, Dice is 0. (Dice is "
        "undefined only when truth and prediction are both empty.)",
    },
    hint="Count how many voxels the all-background answer gets right, then how many lesion voxels overlap.",
    points=1,
    title="Why accuracy lies",
)

register_quiz(
    "seg_skip_connections",
    question="What do the skip connections of a U-Net do?",
    options={
        "detail": "Carry fine detail (edges, small structures) from the encoder straight to the decoder, so the "
        "outline is drawn at full resolution",
        "skip_slices": "Skip the slices that contain no organ, to save time",
        "context": "Shrink the image further so the network sees the whole abdomen",
        "priors": "Link the network to the patient's previous studies",
    },
    correct="detail",
    feedback={
        "detail": "Right: the encoder's deep layers know *what* is there (liver, lesion) but at coarse resolution; "
        "the skips hand over *where exactly* the edges are, like keeping the full-resolution image in view while "
        "you draw the contour.",
        "skip_slices": "No: the 'skip' is inside the network, from an encoder level to the decoder level of the same "
        "size. Every slice goes through the whole network.",
        "context": "No: that is the job of the encoder's down-sampling path. The skips do the opposite: they bring "
        "back full-resolution detail.",
        "priors": "No: a U-Net sees one image (here one slice) at a time.",
    },
    points=1,
    title="Skip connections",
)

register_quiz(
    "seg_small_lesion",
    question="A model draws every outline one pixel too wide, all the way round. Where does this cost more Dice?",
    options={
        "lesion": "On a 6 mm lesion",
        "liver": "On the whole liver",
        "same": "The same on both: the error is one pixel everywhere",
    },
    correct="lesion",
    feedback={
        "lesion": "Right: a one-pixel rim is a large fraction of a small lesion's area but a tiny fraction of the "
        "liver's. That is why lesion Dice is usually much lower than organ Dice for the same quality of outline, "
        "and why reports should give the lesion size next to its Dice.",
        "liver": "No: the liver's outline is longer, but its area is far larger still; the rim is a small fraction "
        "of it.",
        "same": "No: Dice is relative to the size of the structure, and the rim is a much larger share of a small one.",
    },
    hint="Compare the area of a one-pixel rim with the area inside it, for a small and a large circle.",
    points=1,
    title="Dice and lesion size",
)
