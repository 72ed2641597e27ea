"""Checks for notebook 06 (Capstone: lesion characterisation, benign vs malignant).

Expected answers come from radnb's reference code on fresh inputs: lesion crops
from :mod:`radnb.data.patches`; the AUROC and the patient-level bootstrap of
:mod:`radnb.train.metrics` (numpy only: importing it loads neither torch nor fastai,
so a check never waits for them).

Exercises (the student's function, then the grade id)
-----------------------------------------------------
``crop_around_lesion(volume, mask, size, fill=-1000.0)`` -> ``cap_crop``
    The ``size`` x ``size`` patch of ``volume`` (Z, H, W) on the slice where the
    lesion mask is largest, centred on the lesion's centroid (centre pixel at
    ``[size // 2, size // 2]``), outside the image filled with ``fill``.
``patient_level_split(patient_ids, test_fraction, seed)`` -> ``cap_split``
    Row positions ``(train_idx, test_idx)``: a ``test_fraction`` of the *patients*
    (rounded) go to the test side with all their rows; reproducible for a seed.
``choose_operating_point(probs, labels, min_sensitivity)`` -> ``cap_operating_point``
    The threshold (positive when ``prob >= threshold``) with the best specificity
    among those keeping sensitivity >= ``min_sensitivity``.
``bootstrap_auc_ci(labels, probs, patients, n_boot=1000, seed=0)`` -> ``cap_bootstrap``
    95 % percentile interval of the AUROC, resampling *patients* with replacement
    and skipping resamples with only one class.
Quizzes: ``cap_leakage``, ``cap_confidence``, ``cap_gradcam``, ``cap_ppv`` (short answer).
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ...data.patches import crop_around_lesion as reference_crop
from ...data.patches import crop_at
from ...train.metrics import auroc, bootstrap_auroc
from ..core import Incorrect, as_array, call, close
from ..registry import register, register_quiz


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _float(got: Any, what: str) -> float:
    arr = as_array(got)
    if arr.size != 1:
        raise Incorrect(f"`{what}` should return one number, but returned something of shape {arr.shape}.")
    try:
        return float(arr.reshape(-1)[0])
    except (TypeError, ValueError):
        raise Incorrect(f"`{what}` should return a number, but returned a {type(got).__name__}.") from None


# --------------------------------------------------------------------------- reference statistics


reference_auroc = auroc  # the Mann-Whitney AUROC (ties count 1/2) the checks compare against


def reference_bootstrap_ci(labels, scores, groups=None, n_boot: int = 1000, seed: int = 0,
                           level: float = 0.95) -> Tuple[float, float]:
    """:func:`radnb.train.metrics.bootstrap_auroc` under the notebook's argument name ``n_boot``.

    Examples
    --------
    >>> lo, hi = reference_bootstrap_ci([0, 0, 1, 1, 0, 1], [0.1, 0.3, 0.7, 0.8, 0.6, 0.4], n_boot=200)
    >>> 0.0 <= lo <= hi <= 1.0
    True
    """
    return bootstrap_auroc(labels, scores, groups, n_bootstrap=n_boot, seed=seed, level=level)


def confusion(labels, probs, threshold: float) -> Tuple[float, float]:
    """(sensitivity, specificity) when ``prob >= threshold`` is called positive."""
    y = np.asarray(labels).astype(bool)
    called = np.asarray(probs, dtype=float) >= threshold
    sens = float((called & y).sum() / y.sum()) if y.any() else float("nan")
    spec = float((~called & ~y).sum() / (~y).sum()) if (~y).any() else float("nan")
    return sens, spec


def reference_operating_point(probs, labels, min_sensitivity: float) -> float:
    """Highest threshold (among the scores) whose sensitivity is at least ``min_sensitivity``.

    Sensitivity only falls as the threshold rises, so the highest such threshold
    has the best specificity among them.

    Examples
    --------
    >>> reference_operating_point([0.1, 0.4, 0.6, 0.8, 0.9], [0, 1, 0, 1, 1], 0.6)
    0.8
    """
    best = float(np.min(probs))
    for t in np.unique(np.asarray(probs, dtype=float)):
        if confusion(labels, probs, t)[0] >= min_sensitivity - 1e-9:
            best = float(t)
    return best


# --------------------------------------------------------------------------- crop around a lesion


def _crop_case(rng: np.random.Generator, where: str, size: int):
    """A noisy volume with a symmetric (integer-centred) lesion, largest on one slice."""
    z_n, h, w = int(rng.integers(5, 9)), int(rng.integers(40, 56)), int(rng.integers(40, 56))
    volume = rng.normal(40, 30, (z_n, h, w)).round(1).astype(np.float32)
    half = int(rng.integers(2, 5))
    if where == "centre":
        cy, cx = int(rng.integers(size // 2 + 1, h - size // 2 - 1)), int(rng.integers(size // 2 + 1, w - size // 2 - 1))
    elif where == "top_left":
        cy, cx = int(rng.integers(half + 1, half + 5)), int(rng.integers(half + 1, half + 5))
    else:  # bottom_right
        cy, cx = h - int(rng.integers(half + 2, half + 6)), w - int(rng.integers(half + 2, half + 6))
    zc = int(rng.integers(1, z_n - 1))
    mask = np.zeros(volume.shape, bool)
    yy, xx = np.mgrid[:h, :w]
    for z, r in ((zc - 1, half - 1), (zc, half), (zc + 1, half - 1)):
        if r >= 1:
            mask[z] = (np.abs(yy - cy) + np.abs(xx - cx)) <= r  # a diamond: centroid exactly on (cy, cx)
        else:
            mask[z, cy, cx] = True
    volume[mask] += 60.0  # an enhancing lesion
    return volume, mask, (zc, cy, cx)


@register("cap_crop", inputs=["crop_around_lesion"], points=3, title="Crop around the lesion")
def check_crop(crop_around_lesion, *, rng):
    for where in ("centre", "top_left", "bottom_right"):
        size = int(rng.choice([16, 24, 32])) if where != "centre" else int(rng.choice([17, 21]))
        volume, mask, (zc, cy, cx) = _crop_case(rng, where, size)
        fill = -1000.0
        expected = reference_crop(volume, mask, size, fill)
        with _quiet():
            got = call(crop_around_lesion, volume, mask, size, fill)
        try:
            patch = as_array(got).astype(float)
        except (TypeError, ValueError):
            raise Incorrect(f"`crop_around_lesion` should return a 2-D array, not a {type(got).__name__}.") from None
        if patch.shape != (size, size):
            hint = ""
            if where != "centre" and patch.ndim == 2 and patch.shape[0] <= size and patch.shape[1] <= size:
                hint = (" Near the edge of the image part of the patch lies outside it: fill those pixels with "
                        "`fill` (e.g. start from `np.full((size, size), fill)` or use `np.pad`) instead of cutting "
                        "the patch short.")
            raise Incorrect(f"The patch should be {size} x {size} pixels, but yours has shape {patch.shape}.{hint}")
        if close(patch, expected, atol=1e-3):
            continue
        # diagnose
        for z in range(volume.shape[0]):
            if z != zc and close(patch, crop_at(volume[z], (cy, cx), size, fill), atol=1e-3):
                raise Incorrect(
                    f"You cropped slice {z}, but the lesion is largest on slice {zc}. Count the lesion voxels per slice "
                    "(`mask.sum(axis=(1, 2))`) and take the slice with the most (`np.argmax`)."
                )
        if close(patch, crop_at(volume[zc], (cy + size // 2, cx + size // 2), size, fill), atol=1e-3):
            raise Incorrect(
                "Your patch starts at the lesion's centre, so the lesion sits in its top-left corner. Start half a "
                "patch earlier: rows from `cy - size // 2`, columns from `cx - size // 2`."
            )
        if close(patch, crop_at(volume[zc], (cx, cy), size, fill), atol=1e-3):
            raise Incorrect("Rows and columns are swapped: arrays are indexed [row, column], i.e. [y, x].")
        if close(patch, crop_at(mask[zc].astype(float), (cy, cx), size, 0), atol=1e-3):
            raise Incorrect("You cropped the mask; crop the image (`volume`) and use the mask only to find where.")
        for shift in ((1, 0), (0, 1), (1, 1), (-1, 0), (0, -1), (-1, -1)):
            if close(patch, crop_at(volume[zc], (cy + shift[0], cx + shift[1]), size, fill), atol=1e-3):
                raise Incorrect(
                    f"Almost: your patch is one pixel off. The lesion's centre (row {cy}, column {cx}) must land on "
                    f"pixel [{size // 2}, {size // 2}] of the patch, i.e. the patch starts at row {cy - size // 2}.",
                    score=0.5,
                )
        inside = expected != fill
        if where != "centre" and close(patch[inside], expected[inside], atol=1e-3):
            raise Incorrect(
                f"The part inside the image is right; the pixels outside it should be `fill` ({fill:g} HU, air).",
                score=0.5,
            )
        raise Incorrect(
            f"For a lesion centred at row {cy}, column {cx} and largest on slice {zc}, your {size} x {size} patch "
            "differs from the expected one. Steps: find the slice with the most lesion voxels, the lesion's centroid "
            "on it (mean row, mean column, rounded), then cut the square centred there, filling outside the image."
        )


# --------------------------------------------------------------------------- patient-level split


def _as_index(got: Any, n: int, what: str) -> np.ndarray:
    arr = as_array(got)
    if arr.dtype == bool and arr.shape == (n,):
        return np.flatnonzero(arr)
    try:
        arr = arr.astype(np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise Incorrect(f"The {what} positions should be whole numbers (row positions), not {arr.dtype}.") from None
    return arr


@register("cap_split", inputs=["patient_level_split"], points=2, title="Split by patient")
def check_split(patient_level_split, *, rng):
    n_patients = int(rng.integers(25, 45))
    ids = [f"P{k:03d}" for k in rng.choice(900, n_patients, replace=False)]
    rows = np.repeat(ids, rng.integers(1, 7, n_patients))
    rows = rows[rng.permutation(len(rows))]
    patients = np.array(rows, dtype=object)
    fraction = float(rng.choice([0.2, 0.25, 0.3]))
    seed = int(rng.integers(0, 1000))
    got = call(patient_level_split, patients.copy(), fraction, seed)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Incorrect("Return two things: `train_idx, test_idx` (the row positions of each side).")
    train, test = _as_index(got[0], len(rows), "training"), _as_index(got[1], len(rows), "test")
    both = np.concatenate([train, test])
    if both.size and (both.min() < 0 or both.max() >= len(rows)):
        raise Incorrect(f"Row positions must lie between 0 and {len(rows) - 1} (there are {len(rows)} rows).")
    if len(set(train.tolist()) & set(test.tolist())):
        raise Incorrect("Some rows are on both sides: every row must be in exactly one of train_idx and test_idx.")
    if sorted(both.tolist()) != list(range(len(rows))):
        missing = len(rows) - len(set(both.tolist()))
        raise Incorrect(f"{missing} row(s) are on neither side: every row must be in train_idx or test_idx.")
    leaked = sorted(set(patients[train]) & set(patients[test]))
    if leaked:
        raise Incorrect(
            f"Patient {leaked[0]} (and {len(leaked) - 1} other(s)) has rows on both sides: the model would be tested "
            "on a patient it has already seen. Choose test *patients* first (`np.unique(patient_ids)`), then take all "
            "of their rows (`np.isin`)."
        )
    n_test = len(set(patients[test]))
    wanted = int(round(fraction * n_patients))
    if abs(n_test - wanted) > 1:
        image_share = len(test) / len(rows)
        extra = (" You took that share of the rows (images); take it of the *patients*." if abs(image_share - fraction) < 0.05
                 else "")
        raise Incorrect(
            f"With {n_patients} patients and test_fraction {fraction:g}, about {wanted} patients should be in the "
            f"test set, but yours has {n_test}.{extra}"
        )
    again = call(patient_level_split, patients.copy(), fraction, seed)
    if sorted(_as_index(again[1], len(rows), "test").tolist()) != sorted(test.tolist()):
        raise Incorrect(
            "Called twice with the same seed, your function gave two different splits. Make it reproducible: "
            "`rng = np.random.default_rng(seed)` and shuffle with `rng`.", score=0.5,
        )
    others = [call(patient_level_split, patients.copy(), fraction, seed + k) for k in (1, 2, 3)]
    if all(sorted(_as_index(o[1], len(rows), "test").tolist()) == sorted(test.tolist()) for o in others):
        raise Incorrect(
            "Different seeds always give the same split: use the `seed` argument for the random shuffle "
            "(`np.random.default_rng(seed)`), and do not pick the patients in a fixed order.", score=0.5,
        )
    if len(train) == 0 or len(test) == 0:
        raise Incorrect("One side of your split is empty.")


# --------------------------------------------------------------------------- operating point


def _scores(rng: np.random.Generator, n: int):
    labels = (rng.random(n) < rng.uniform(0.3, 0.6)).astype(int)
    labels[:2] = [0, 1]
    probs = np.where(labels == 1, rng.beta(4, 2, n), rng.beta(2, 4, n))
    return np.round(probs, 2), labels  # rounded: ties happen, as with real model outputs


@register("cap_operating_point", inputs=["choose_operating_point"], points=2, title="Choose an operating point")
def check_operating_point(choose_operating_point, *, rng):
    for min_sens in (0.9, float(rng.choice([0.8, 0.85, 0.95])), 1.0):
        probs, labels = _scores(rng, int(rng.integers(40, 90)))
        best_t = reference_operating_point(probs, labels, min_sens)
        best_sens, best_spec = confusion(labels, probs, best_t)
        with _quiet():
            t = _float(call(choose_operating_point, probs.copy(), labels.copy(), min_sens), "choose_operating_point")
        sens, spec = confusion(labels, probs, t)
        if sens < min_sens - 1e-9:
            raise Incorrect(
                f"At your threshold {t:.3g} the sensitivity is {sens:.3f}, below the {min_sens:g} you were asked to "
                f"guarantee (cases with probability >= threshold count as positive). A threshold of {best_t:g} keeps "
                f"sensitivity at {best_sens:.3f}."
            )
        if spec < best_spec - 1e-9:
            raise Incorrect(
                f"Your threshold {t:.3g} reaches the sensitivity (it is {sens:.3f}), but its specificity is only "
                f"{spec:.3f}: a higher threshold ({best_t:g}) still keeps sensitivity >= {min_sens:g} and gives "
                f"specificity {best_spec:.3f}. Choose the *highest* threshold that keeps the sensitivity.",
                score=0.5,
            )


# --------------------------------------------------------------------------- bootstrap AUC interval


def _clustered(rng: np.random.Generator, n_patients: int, per_patient: Tuple[int, int], spread: float = 0.02):
    """Scores of several near-identical images per patient (like neighbouring slices of one lesion)."""
    y_pat = np.array([0, 1] * (n_patients // 2) + [int(rng.integers(0, 2))] * (n_patients % 2))
    s_pat = np.clip(rng.normal(0.4 + 0.2 * y_pat, 0.2), 0.01, 0.99)
    counts = rng.integers(per_patient[0], per_patient[1] + 1, n_patients)
    patients = np.repeat([f"pt{k:02d}" for k in range(n_patients)], counts)
    labels = np.repeat(y_pat, counts)
    scores = np.clip(np.repeat(s_pat, counts) + rng.normal(0, spread, counts.sum()), 0, 1)
    order = rng.permutation(len(labels))
    return labels[order], scores[order], patients[order]


def _interval(got: Any) -> Tuple[float, float]:
    if not isinstance(got, (tuple, list, np.ndarray)) or len(got) != 2:
        raise Incorrect("Return the interval as two numbers: `(low, high)`.")
    return _float(got[0], "bootstrap_auc_ci (low)"), _float(got[1], "bootstrap_auc_ci (high)")


def _call_ci(fn, labels, scores, patients, n_boot: int, seed: int) -> Tuple[float, float]:
    with _quiet():
        try:
            got = call(fn, labels.copy(), scores.copy(), patients.copy(), n_boot, seed)
        except Incorrect as exc:
            if "class" in exc.message.lower():
                raise Incorrect(
                    exc.message + " A resample can, by chance, contain only benign (or only malignant) cases; its "
                    "AUC is undefined. Skip such resamples and keep going."
                ) from None
            raise
    return _interval(got)


@register("cap_bootstrap", inputs=["bootstrap_auc_ci"], points=3, title="Bootstrap AUC interval")
def check_bootstrap(bootstrap_auc_ci, *, rng):
    # 1. patients with several near-identical images: resampling images makes the interval far too narrow
    labels, scores, patients = _clustered(rng, int(rng.integers(12, 17)), (5, 8))
    seed = int(rng.integers(0, 10_000))
    lo, hi = _call_ci(bootstrap_auc_ci, labels, scores, patients, 500, seed)
    ref_lo, ref_hi = reference_bootstrap_ci(labels, scores, patients, n_boot=2000, seed=seed + 1)
    auc = reference_auroc(labels, scores)
    if any(np.isnan([lo, hi])):
        raise Incorrect(
            "Your interval contains nan. Some resamples have only one class (their AUC is undefined): skip those, "
            "and take the percentiles of the AUCs you could compute."
        )
    if lo > hi:
        raise Incorrect(f"Your interval ({lo:.3f}, {hi:.3f}) is upside down: return (low, high).")
    if not (0 <= lo <= 1 and 0 <= hi <= 1):
        raise Incorrect(f"An AUC lies between 0 and 1, but your interval is ({lo:.3f}, {hi:.3f}).")
    ref_width = ref_hi - ref_lo
    if ref_width > 0.05 and hi - lo < 0.65 * ref_width:
        img_lo, img_hi = reference_bootstrap_ci(labels, scores, None, n_boot=1000, seed=seed + 2)
        images = abs(lo - img_lo) <= 0.07 and abs(hi - img_hi) <= 0.07
        raise Incorrect(
            f"Your interval ({lo:.3f}–{hi:.3f}) is much too narrow; resampling *patients* gives about "
            f"{ref_lo:.3f}–{ref_hi:.3f}. "
            + ("That is what resampling *images* gives. " if images else "")
            + "Each patient here has several near-identical images, which are not independent evidence: draw "
            "patients with replacement and take all of each drawn patient's images.",
            score=1 / 3,
        )
    tol = 0.08  # Monte Carlo error of a 500-resample interval stays well below this
    if abs(lo - ref_lo) > tol or abs(hi - ref_hi) > tol:
        if abs(lo - (2 * auc - ref_hi)) <= tol and abs(hi - (2 * auc - ref_lo)) <= tol:
            raise Incorrect("That looks like a 'basic' (reflected) bootstrap interval; use the percentiles of the "
                            "bootstrap AUCs directly: the 2.5th and the 97.5th.", score=0.5)
        raise Incorrect(
            f"For this data set (AUC {auc:.3f}, {len(set(patients))} patients) the patient-level 95 % interval is about "
            f"{ref_lo:.3f}–{ref_hi:.3f}, but yours is {lo:.3f}–{hi:.3f}. Steps: repeat n_boot times: draw as many "
            "patients as there are, with replacement; collect all their images; compute the AUC (skip it if only one "
            "class was drawn). Then take the 2.5th and 97.5th percentiles."
        )
    # 2. very few patients: single-class resamples are common and must be skipped
    labels, scores, patients = _clustered(rng, 6, (1, 3), spread=0.05)
    lo2, hi2 = _call_ci(bootstrap_auc_ci, labels, scores, patients, 200, seed)
    if any(np.isnan([lo2, hi2])):
        raise Incorrect(
            "With only 6 patients your interval contains nan: some resamples hold a single class. Skip those "
            "resamples (their AUC is undefined) instead of keeping nan."
        )
    # 3. reproducible for a given seed
    labels, scores, patients = _clustered(rng, 12, (1, 3), spread=0.05)
    first = _call_ci(bootstrap_auc_ci, labels, scores, patients, 150, seed)
    again = _call_ci(bootstrap_auc_ci, labels, scores, patients, 150, seed)
    if not (close(again[0], first[0], atol=1e-12) and close(again[1], first[1], atol=1e-12)):
        raise Incorrect(
            "The same seed gave two different intervals. Use `rng = np.random.default_rng(seed)` for the resampling "
            "so that a report can be reproduced.", score=2 / 3,
        )


# --------------------------------------------------------------------------- quizzes

register_quiz(
    "cap_leakage",
    question="Each lesion gives 3-5 patches from neighbouring slices. What happens to the test AUC if you split the "
    "*patches* at random into training and test sets, instead of splitting the patients?",
    options={
        "optimistic": "It is too optimistic: the model is tested on near-copies of lesions it trained on",
        "pessimistic": "It is too pessimistic: the training set gets smaller",
        "unchanged": "Nothing changes: each patch is a different image",
        "undefined": "It cannot be computed",
    },
    correct="optimistic",
    feedback={
        "optimistic": "Right: neighbouring slices of one lesion look alike, so the test set measures memory of "
        "those lesions, not skill on new patients. A patient-level split is the fix.",
        "pessimistic": "No: the training set keeps the same size; the problem is what ends up in the test set.",
        "unchanged": "No: neighbouring slices of the same lesion are nearly the same picture; the model has "
        "effectively seen the test lesions.",
        "undefined": "It can be computed, and that is the danger: it looks fine and is too high.",
    },
    points=1,
    title="Leakage",
)

register_quiz(
    "cap_confidence",
    question="On 20 test patients your model has an AUC of 0.85 with a 95 % confidence interval of 0.68 to 0.96. "
    "Which conclusion fits?",
    options={
        "imprecise": "Promising but imprecise: the true AUC may be as low as about 0.7. Test on more patients, "
        "ideally from another hospital, before any clinical claim",
        "ready": "Ready for clinical use: the AUC is above 0.8",
        "chance": "No better than chance: the interval is wide",
        "ignore": "Report 0.85 on its own; intervals only matter in statistics papers",
    },
    correct="imprecise",
    feedback={
        "imprecise": "Right: the interval is the honest size of what 20 patients can tell you. It excludes chance "
        "(0.5) but is compatible with a mediocre model.",
        "ready": "No: the lower end of the interval (0.68) is a mediocre test, and 20 synthetic patients from one "
        "'scanner' say nothing about other hospitals.",
        "chance": "No: the whole interval lies above 0.5, so the data argue against chance; they are just not precise.",
        "ignore": "No: a point estimate without its uncertainty invites over-confidence; reporting guidelines for "
        "diagnostic accuracy studies (STARD) ask for confidence intervals.",
    },
    points=1,
    title="Confidence intervals",
)

register_quiz(
    "cap_gradcam",
    question="For a patch the model calls malignant, Grad-CAM lights up the black corner where the patch ran over "
    "the edge of the image, not the lesion. What do you do?",
    options={
        "investigate": "Treat it as a warning sign of a shortcut: look at more cases and check how the patches "
        "were made (padding, position) before trusting the model",
        "ignore": "Nothing: the prediction was right, so the reasoning does not matter",
        "proof": "Conclude that malignancy is found at the edge of the image",
        "retrain_longer": "Train for more epochs until the heat map moves to the lesion",
    },
    correct="investigate",
    feedback={
        "investigate": "Right: a model that is right for the wrong reason fails on the next hospital's data. If "
        "malignant lesions happen to lie nearer the liver's edge in this data set, padding is a shortcut; fix the "
        "data (e.g. fill with tissue-like values, or crop smaller) and check again.",
        "ignore": "No: being right for the wrong reason is the classic shortcut; it breaks as soon as the data change.",
        "proof": "No: Grad-CAM shows where the model looked, not where the disease is.",
        "retrain_longer": "No: more training on the same data strengthens the same shortcut.",
    },
    points=1,
    title="Reading Grad-CAM",
)


def _ppv_answer(answer: Any) -> bool:
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return False
    if value > 1.0:  # given in per cent
        value /= 100.0
    return abs(value - 0.09 / 0.27) < 0.01


register_quiz(
    "cap_ppv",
    question="Your model works at sensitivity 0.90 and specificity 0.80. In the clinic, 10 % of the lesions it will "
    "see are malignant. What fraction of the lesions it calls malignant are really malignant (the positive "
    "predictive value)? Return a number between 0 and 1.",
    correct=_ppv_answer,
    hint="Take 1000 lesions: 100 malignant, 900 benign. How many true positives (sensitivity × 100) and false "
    "positives ((1 − specificity) × 900)? PPV = TP / (TP + FP).",
    points=1,
    title="Positive predictive value",
)
