"""Checks for notebook 02 (Classification: pneumonia-like opacities on chest radiographs).

The patient split is judged by its properties (every image once, no patient on
both sides, the right share of patients, reproducible); sensitivity and
specificity, and the screening threshold, against small numpy references here
(a check must not wait for torch to import), which the tests confirm agree with
:mod:`radnb.train.metrics`.

Exercises (the student's function, then the grade id)
-----------------------------------------------------
``split_by_patient(patient_ids, valid_fraction, seed)`` -> ``patient_split``
    Row positions ``(train_idx, valid_idx)`` such that all images of a patient
    are on the same side and about ``valid_fraction`` of the *patients* are in
    validation; the same seed gives the same split.
``sensitivity_specificity(y_true, y_pred)`` -> ``sensitivity_specificity``
    ``(TP / (TP + FN), TN / (TN + FP))`` from 0/1 labels and 0/1 predictions.
``threshold_for_sensitivity(y_true, probs, target)`` -> ``screening_threshold``
    The highest threshold (a case is positive when ``prob >= threshold``) whose
    sensitivity is at least ``target``.
``answer_threshold_choice()`` -> ``threshold_choice`` (quiz)
    Which operating point suits screening, which confirmation.
``answer_leakage_report()`` -> ``leakage_report`` (quiz)
    Which validation score to report when an image-wise split scores higher.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from ..core import Incorrect, as_array, call, close
from ..registry import register, register_quiz


# ------------------------------------------------------------------ patient split
def _patients_table(rng: np.random.Generator) -> np.ndarray:
    """Patient ids, one per image, 1-4 images per patient, in shuffled order (like a PACS export)."""
    n_patients = int(rng.integers(10, 31))
    ids: List[str] = []
    for p in rng.choice(np.arange(100, 1000), size=n_patients, replace=False):
        ids += [f"P{int(p)}"] * int(rng.integers(1, 5))
    ids_arr = np.array(ids)
    return ids_arr[rng.permutation(len(ids_arr))]


def _as_index_array(value, what: str, n: int) -> np.ndarray:
    try:
        arr = as_array(value)
    except (TypeError, ValueError):
        raise Incorrect(f"{what} should be a list or array of row positions, but it is a {type(value).__name__}.")
    if arr.dtype == bool:
        raise Incorrect(
            f"{what} is a True/False mask. Return row *positions* instead, e.g. `np.flatnonzero(mask)` "
            "(or `np.where(mask)[0]`)."
        )
    if arr.ndim != 1:
        raise Incorrect(f"{what} should be one-dimensional (a list of row positions), but has shape {arr.shape}.")
    if arr.size and arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
            arr = arr.astype(int)
        else:
            raise Incorrect(
                f"{what} should hold whole-number row positions (0 to {n - 1}), but holds {arr.dtype} values such as "
                f"{arr[:2].tolist()}. Return positions of images, not patient ids."
            )
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise Incorrect(f"{what} contains positions outside 0 to {n - 1} (there are {n} images).")
    return arr.astype(int)


def _one_split(split_by_patient, ids: np.ndarray, frac: float, seed: int, as_list: bool) -> Tuple[np.ndarray, np.ndarray]:
    got = call(split_by_patient, list(ids) if as_list else ids, frac, seed)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Incorrect(
            "`split_by_patient` should return two things, `train_idx, valid_idx` (e.g. `return train_idx, valid_idx`), "
            f"but returned a {type(got).__name__}."
        )
    n = len(ids)
    train = _as_index_array(got[0], "train_idx", n)
    valid = _as_index_array(got[1], "valid_idx", n)
    return train, valid


@register("patient_split", inputs=["split_by_patient"], points=2, title="Split by patient")
def check_patient_split(split_by_patient, *, rng):
    for k in range(3):
        ids = _patients_table(rng)
        n = len(ids)
        frac = float(rng.choice([0.2, 0.25, 0.3]))
        seed = int(rng.integers(0, 10_000))
        train, valid = _one_split(split_by_patient, ids, frac, seed, as_list=(k == 1))
        both = np.concatenate([train, valid])
        if len(train) == 0 or len(valid) == 0:
            raise Incorrect(
                f"With {len(set(ids))} patients and valid_fraction={frac}, one side is empty "
                f"({len(train)} training and {len(valid)} validation images). Both sides need patients."
            )
        if len(np.unique(both)) != len(both):
            dup = int(both[np.flatnonzero(np.bincount(both) > 1)[0]]) if both.size else -1
            raise Incorrect(
                f"Image {dup} appears more than once (in both lists, or twice in one). Every image belongs to "
                "exactly one side."
            )
        if len(both) != n:
            missing = sorted(set(range(n)) - set(both.tolist()))[:3]
            raise Incorrect(
                f"There are {n} images but your two lists hold {len(both)}; e.g. image(s) {missing} are missing. "
                "Every image must go to training or validation."
            )
        train_p, valid_p = set(ids[train]), set(ids[valid])
        leaked = sorted(train_p & valid_p)
        if leaked:
            pid = leaked[0]
            raise Incorrect(
                f"Patient {pid} has images in training *and* validation ({len(leaked)} patient(s) leak across the "
                "split). That is a split by image: the model is then validated on patients it has already seen. "
                "Choose validation *patients* first (`np.unique(patient_ids)`), then take all of their images."
            )
        n_patients = len(train_p | valid_p)
        want = frac * n_patients
        if abs(len(valid_p) - want) > 1.0 + 1e-9:
            share_img = len(valid) / n
            hint = (" You took the fraction of *images*; take that fraction of the patients instead."
                    if abs(len(valid) - frac * n) <= 1 else "")
            raise Incorrect(
                f"{len(valid_p)} of {n_patients} patients ({len(valid_p) / n_patients:.0%}) are in validation, "
                f"but valid_fraction={frac} asks for about {want:.1f} patients ({share_img:.0%} of the images "
                f"went to validation).{hint}"
            )
        again_train, again_valid = _one_split(split_by_patient, ids, frac, seed, as_list=False)
        if set(again_train.tolist()) != set(train.tolist()):
            raise Incorrect(
                "The split is right, but calling it twice with the same seed gives different splits. Make it "
                "reproducible: create the generator from the seed, `rng = np.random.default_rng(seed)`, and use it "
                "for the shuffle.",
                score=0.5,
            )
    return None


# ------------------------------------------------------------------ sensitivity and specificity
def _counts(y_true, called) -> Tuple[int, int, int, int]:
    """TP, FN, TN, FP (plain numpy, so a check never waits for torch to import)."""
    y, c = np.asarray(y_true).astype(bool), np.asarray(called).astype(bool)
    return int((y & c).sum()), int((y & ~c).sum()), int((~y & ~c).sum()), int((~y & c).sum())


def reference_sens_spec(y_true, y_pred) -> Tuple[float, float]:
    """Sensitivity TP / (TP + FN) and specificity TN / (TN + FP) of 0/1 predictions.

    Agrees with :func:`radnb.train.metrics.sensitivity` / ``specificity`` at threshold 0.5
    (``tests/test_checks_nb02.py`` checks that).

    Examples
    --------
    >>> reference_sens_spec([1, 1, 0, 0], [1, 0, 0, 0])
    (0.5, 1.0)
    """
    tp, fn, tn, fp = _counts(y_true, y_pred)
    return tp / (tp + fn), tn / (tn + fp)


def _labels_and_predictions(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """0/1 labels and imperfect 0/1 predictions with sensitivity != specificity and PPV != sensitivity."""
    while True:
        n = int(rng.integers(20, 60))
        y = (rng.random(n) < rng.uniform(0.25, 0.6)).astype(int)
        flip = rng.random(n) < np.where(y == 1, rng.uniform(0.1, 0.4), rng.uniform(0.05, 0.3))
        pred = np.where(flip, 1 - y, y)
        tp, fn = int(((pred == 1) & (y == 1)).sum()), int(((pred == 0) & (y == 1)).sum())
        tn, fp = int(((pred == 0) & (y == 0)).sum()), int(((pred == 1) & (y == 0)).sum())
        if min(tp, fn, tn, fp) >= 1:
            sens, spec, ppv, npv = tp / (tp + fn), tn / (tn + fp), tp / (tp + fp), tn / (tn + fn)
            if len({round(v, 6) for v in (sens, spec, ppv, npv)}) == 4:
                return y, pred


@register("sensitivity_specificity", inputs=["sensitivity_specificity"], points=2,
          title="Sensitivity and specificity")
def check_sensitivity_specificity(sensitivity_specificity, *, rng):
    for k in range(3):
        y, pred = _labels_and_predictions(rng)
        args = (y.tolist(), pred.tolist()) if k == 1 else ((y == 1), (pred == 1)) if k == 2 else (y, pred)
        got = call(sensitivity_specificity, *args)
        if not isinstance(got, (tuple, list, np.ndarray)) or len(got) != 2:
            raise Incorrect(
                "Return two numbers, sensitivity first, then specificity: `return sens, spec`."
            )
        try:
            sens, spec = float(got[0]), float(got[1])
        except (TypeError, ValueError):
            raise Incorrect("Both values should be numbers between 0 and 1.")
        ref_sens, ref_spec = reference_sens_spec(y, pred)
        if close(sens, ref_sens, atol=1e-6) and close(spec, ref_spec, atol=1e-6):
            continue
        tp, fn = int(((pred == 1) & (y == 1)).sum()), int(((pred == 0) & (y == 1)).sum())
        tn, fp = int(((pred == 0) & (y == 0)).sum()), int(((pred == 1) & (y == 0)).sum())
        counts = f"(here TP={tp}, FN={fn}, TN={tn}, FP={fp})"
        if close(sens, ref_spec, atol=1e-6) and close(spec, ref_sens, atol=1e-6):
            raise Incorrect(f"You swapped them: return sensitivity first, then specificity {counts}.")
        if close(sens, tp, atol=1e-6) or close(spec, tn, atol=1e-6):
            raise Incorrect(f"You returned counts; divide them to get proportions between 0 and 1 {counts}.")
        if not close(sens, ref_sens, atol=1e-6):
            if close(sens, tp / (tp + fp), atol=1e-6):
                raise Incorrect(
                    f"Your sensitivity is TP / (TP + FP): that is the positive predictive value (precision). "
                    f"Sensitivity asks 'of the patients who *have* the finding, how many did we flag?': "
                    f"TP / (TP + FN) {counts}."
                )
            if close(sens, (tp + tn) / len(y), atol=1e-6):
                raise Incorrect(f"Your sensitivity is the accuracy. Sensitivity = TP / (TP + FN) {counts}.")
            raise Incorrect(
                f"Your sensitivity is {sens:.4g}, but it should be {ref_sens:.4g}: TP / (TP + FN), the share of "
                f"positive cases the model calls positive {counts}."
            )
        if close(spec, tn / (tn + fn), atol=1e-6):
            raise Incorrect(
                f"Your specificity is TN / (TN + FN): that is the negative predictive value. Specificity asks "
                f"'of the patients *without* the finding, how many did we call normal?': TN / (TN + FP) {counts}."
            )
        if close(spec, fp / (fp + tn), atol=1e-6):
            raise Incorrect(
                f"Your specificity is the false-positive rate FP / (FP + TN); specificity is 1 minus that, "
                f"TN / (TN + FP) {counts}."
            )
        raise Incorrect(
            f"Your specificity is {spec:.4g}, but it should be {ref_spec:.4g}: TN / (TN + FP), the share of negative "
            f"cases the model calls negative {counts}."
        )
    return None


# ------------------------------------------------------------------ screening threshold
def reference_threshold(y_true, probs, target: float) -> float:
    """Highest threshold (positive when ``prob >= threshold``) whose sensitivity is >= ``target``.

    Examples
    --------
    >>> reference_threshold([0, 1, 1, 1, 0], [0.1, 0.9, 0.6, 0.3, 0.5], 0.6)
    0.6
    """
    y, p = np.asarray(y_true).astype(bool), np.asarray(probs, dtype=float)
    positives = np.sort(p[y])[::-1]  # highest first
    needed = int(np.ceil(target * len(positives) - 1e-9))  # positives that must be called positive
    return float(positives[max(needed, 1) - 1])


def _sens_spec_at(y_true, probs, threshold: float) -> Tuple[float, float]:
    return reference_sens_spec(y_true, np.asarray(probs, dtype=float) >= threshold)


def _validation_probs(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Validation labels and probabilities of a fair-to-good model (distinct scores)."""
    n_pos, n_neg = int(rng.integers(20, 41)), int(rng.integers(30, 61))
    sep = rng.uniform(1.0, 2.2)
    logits = np.concatenate([rng.normal(sep / 2, 1, n_pos), rng.normal(-sep / 2, 1, n_neg)])
    probs = np.round(1 / (1 + np.exp(-logits)), 4)
    probs = probs + rng.uniform(0, 1e-5, size=probs.size)  # distinct values
    y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    order = rng.permutation(len(y))
    return y[order], probs[order]


@register("screening_threshold", inputs=["threshold_for_sensitivity"], points=2,
          title="A threshold for screening")
def check_screening_threshold(threshold_for_sensitivity, *, rng):
    for target in (0.95, float(rng.choice([0.8, 0.85, 0.9]))):
        y, probs = _validation_probs(rng)
        got = call(threshold_for_sensitivity, y, probs, target)
        try:
            t = float(np.asarray(got).reshape(-1)[0]) if np.size(got) == 1 else None
        except (TypeError, ValueError):
            t = None
        if t is None:
            raise Incorrect(f"Return one number, the threshold; you returned {type(got).__name__} {got!r:.60}.")
        ref = reference_threshold(y, probs, target)
        sens, spec = _sens_spec_at(y, probs, t)
        ref_spec = _sens_spec_at(y, probs, ref)[1]
        if sens < target - 1e-12:
            raise Incorrect(
                f"At your threshold {t:.4g} the sensitivity is only {sens:.1%}, below the target {target:.0%}: "
                "too many patients with the finding would be missed. Lower the threshold (call more cases positive)."
            )
        if spec < ref_spec - 1e-12:
            raise Incorrect(
                f"Your threshold {t:.4g} reaches the sensitivity ({sens:.1%} >= {target:.0%}), but a higher threshold "
                f"({ref:.4g}) would too, with fewer false alarms (specificity {ref_spec:.1%} instead of {spec:.1%}). "
                "Look for the *highest* threshold that still reaches the target, e.g. try the positive cases' "
                "probabilities from the highest down.",
                score=0.5,
            )
    return None


# ------------------------------------------------------------------ quizzes
register_quiz(
    "threshold_choice",
    question=(
        "Your opacity model gives each radiograph a probability. (1) As a screening tool it flags images for a "
        "radiologist to read first; (2) as a confirmation tool it should start antibiotics without a second read. "
        "Which operating points fit?"
    ),
    options={
        "low_then_high": "Screening: a low threshold (high sensitivity); confirmation: a high threshold (high specificity).",
        "high_then_low": "Screening: a high threshold (high specificity); confirmation: a low threshold (high sensitivity).",
        "same": "Both 0.5: the threshold a probability model was trained for.",
        "auc": "It does not matter: the AUROC is the same at every threshold.",
    },
    correct="low_then_high",
    feedback={
        "low_then_high": "Right: screening must not miss disease (a radiologist catches the false alarms), while "
        "acting without a second read must rarely be wrong about a positive call.",
        "high_then_low": "The other way round: a screening flag is cheap to check but a miss is costly, so it needs "
        "high sensitivity (a low threshold).",
        "same": "0.5 is only a default. The threshold is a clinical choice between misses and false alarms, made "
        "on validation data.",
        "auc": "The AUROC summarises all thresholds, but a deployed model runs at one: sensitivity and specificity "
        "change with it.",
    },
    hint="Which mistake is worse in each use: a missed opacity or a false alarm?",
    points=1,
    title="Screening vs confirmation",
)

register_quiz(
    "leakage_report",
    question=(
        "Your colleague splits the same radiographs twice: by image (validation AUROC 0.97) and by patient "
        "(validation AUROC 0.81). Which number tells you how the model will do on next month's patients?"
    ),
    options={
        "image": "0.97: the image-wise split used more training images.",
        "patient": "0.81: only the patient-wise split validates on patients the model has never seen.",
        "average": "The average, 0.89.",
    },
    correct="patient",
    feedback={
        "patient": "Right: new patients are what the model will meet. The image-wise number is inflated because "
        "other images of the same patients were in training.",
        "image": "No: with an image-wise split the model has seen other radiographs of most validation patients, so "
        "it partly recognises the *patient*. That advantage disappears on new patients.",
        "average": "No: averaging an honest number with a leaked one is still optimistic.",
    },
    points=1,
    title="Which validation score?",
)
