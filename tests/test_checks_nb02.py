"""Notebook 02's checks (patient split, sensitivity/specificity, screening threshold, quizzes).

Right answers pass on fresh inputs; typical mistakes fail with the message that
teaches the fix; the numpy references agree with radnb.train.metrics.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radnb import grading
from radnb.grading.checks import nb02_classification as nb02
from radnb.train.data import patient_split  # imported here, not inside a timed check
from radnb.train.metrics import roc_curve


pytestmark = pytest.mark.usefixtures("fresh_grading_session")


# ------------------------------------------------------------------ right answers
def split_by_patient(patient_ids, valid_fraction=0.2, seed=0):
    ids = np.asarray(patient_ids)
    patients = np.unique(ids)
    shuffled = np.random.default_rng(seed).permutation(patients)
    n_valid = max(1, int(round(valid_fraction * len(patients))))
    is_valid = np.isin(ids, shuffled[:n_valid])
    return np.flatnonzero(~is_valid), np.flatnonzero(is_valid)


def split_with_pandas(patient_ids, valid_fraction=0.2, seed=0):
    """Another correct way: radnb's own patient_split on a DataFrame (lists of ints)."""
    train, valid = patient_split(pd.DataFrame({"patient_id": list(patient_ids)}), "patient_id", valid_fraction, seed)
    return list(train), list(valid)


def sensitivity_specificity(y_true, y_pred):
    y, p = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    tp, fn = np.sum(y & p), np.sum(y & ~p)
    tn, fp = np.sum(~y & ~p), np.sum(~y & p)
    return tp / (tp + fn), tn / (tn + fp)


def threshold_for_sensitivity(y_true, probs, target=0.95):
    y, p = np.asarray(y_true).astype(bool), np.asarray(probs, dtype=float)
    for t in np.sort(p[y])[::-1]:
        if np.mean(p[y] >= t) >= target:
            return float(t)
    return float(p.min())


def threshold_from_roc(y_true, probs, target=0.95):
    _, tpr, thr = roc_curve(y_true, probs)
    return float(thr[np.argmax(tpr >= target)])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("grade_id, answer", [
    ("patient_split", split_by_patient), ("patient_split", split_with_pandas),
    ("sensitivity_specificity", sensitivity_specificity),
    ("screening_threshold", threshold_for_sensitivity), ("screening_threshold", threshold_from_roc),
])
def test_right_answers_pass(seed, grade_id, answer):
    result = grading.run_check(grade_id, answer, seed=seed)
    assert result.status == "pass", result.message
    assert result.seconds < 5


def test_unfinished_exercises_are_not_done():
    def placeholder(*args):
        raise NotImplementedError()

    for gid in ("patient_split", "sensitivity_specificity", "screening_threshold"):
        result = grading.run_check(gid, placeholder, seed=0)
        assert result.status == "not_done" and result.score == 0


# ------------------------------------------------------------------ typical mistakes
def split_by_image(patient_ids, valid_fraction=0.2, seed=0):
    n = len(patient_ids)
    order = np.random.default_rng(seed).permutation(n)
    k = int(round(valid_fraction * n))
    return np.sort(order[k:]), np.sort(order[:k])


def test_image_wise_split_fails_and_names_the_leak():
    result = grading.run_check("patient_split", split_by_image, seed=1)
    assert result.status == "fail"
    assert "training *and* validation" in result.message and "split by image" in result.message


def test_unseeded_split_gets_partial_credit():
    unseeded = lambda ids, f, seed: split_by_patient(ids, f, None)  # noqa: E731
    result = grading.run_check("patient_split", unseeded, seed=2)
    assert result.status == "partial" and "default_rng(seed)" in result.message


def test_split_mistakes():
    as_mask = lambda ids, f, s: tuple(np.isin(np.arange(len(ids)), split_by_patient(ids, f, s)[i]) for i in (0, 1))  # noqa: E731
    assert "positions" in grading.run_check("patient_split", as_mask, seed=0).message
    drops = lambda ids, f, s: (split_by_patient(ids, f, s)[0][1:], split_by_patient(ids, f, s)[1])  # noqa: E731
    assert "missing" in grading.run_check("patient_split", drops, seed=0).message
    everything_valid = lambda ids, f, s: (np.array([], int), np.arange(len(ids)))  # noqa: E731
    assert "empty" in grading.run_check("patient_split", everything_valid, seed=0).message
    half = lambda ids, f, s: split_by_patient(ids, 0.5, s)  # noqa: E731
    r = grading.run_check("patient_split", half, seed=0)
    assert r.status == "fail" and "valid_fraction" in r.message
    returns_one = lambda ids, f, s: split_by_patient(ids, f, s)[1]  # noqa: E731
    assert "two things" in grading.run_check("patient_split", returns_one, seed=0).message


@pytest.mark.parametrize("wrong, words", [
    (lambda y, p: sensitivity_specificity(y, p)[::-1], "swapped"),
    (lambda y, p: ((np.asarray(y, bool) & np.asarray(p, bool)).sum() / np.asarray(p, bool).sum(),
                   sensitivity_specificity(y, p)[1]), "positive predictive value"),
    (lambda y, p: (sensitivity_specificity(y, p)[0],
                   (~np.asarray(y, bool) & ~np.asarray(p, bool)).sum() / (~np.asarray(p, bool)).sum()),
     "negative predictive value"),
    (lambda y, p: (sensitivity_specificity(y, p)[0], 1 - sensitivity_specificity(y, p)[1]), "false-positive rate"),
    (lambda y, p: (int((np.asarray(y, bool) & np.asarray(p, bool)).sum()), 0.5), "counts"),
])
def test_sensitivity_specificity_mistakes(wrong, words):
    result = grading.run_check("sensitivity_specificity", wrong, seed=3)
    assert result.status == "fail" and words in result.message


def test_threshold_mistakes():
    too_high = grading.run_check("screening_threshold", lambda y, p, t: 0.5, seed=4)
    assert too_high.status == "fail" and "Lower the threshold" in too_high.message
    lowest = grading.run_check("screening_threshold", lambda y, p, t: float(np.min(p)), seed=4)
    assert lowest.status == "partial" and "*highest* threshold" in lowest.message
    # just below the right threshold is as good (no case lies in between)
    nudged = lambda y, p, t: threshold_for_sensitivity(y, p, t) - 1e-9  # noqa: E731
    assert grading.run_check("screening_threshold", nudged, seed=4).status == "pass"


# ------------------------------------------------------------------ references agree with radnb.train.metrics
@pytest.mark.parametrize("seed", range(5))
def test_references_agree_with_radnb_metrics(seed):
    from radnb.train import metrics as M

    rng = np.random.default_rng(seed)
    y, pred = nb02._labels_and_predictions(rng)
    assert nb02.reference_sens_spec(y, pred) == pytest.approx((M.sensitivity(y, pred), M.specificity(y, pred)))
    y, probs = nb02._validation_probs(rng)
    for target in (0.8, 0.9, 0.95, 1.0):
        t = nb02.reference_threshold(y, probs, target)
        assert M.sensitivity(y, probs, t) >= target
        above = probs[probs > t].min() if (probs > t).any() else None
        if above is not None:  # the next higher score would miss the target
            assert M.sensitivity(y, probs, above) < target


def test_quizzes():
    assert grading.run_check("threshold_choice", lambda: "low_then_high").status == "pass"
    wrong = grading.run_check("threshold_choice", lambda: "high_then_low")
    assert wrong.status == "fail" and "sensitivity" in wrong.message
    assert grading.run_check("leakage_report", lambda: "patient").status == "pass"
    assert grading.run_check("leakage_report", lambda: "image").status == "fail"


def test_registered_for_notebook_02():
    ids = [c.grade_id for c in grading.all_checks("02")]
    assert ids == ["patient_split", "sensitivity_specificity", "screening_threshold", "threshold_choice",
                   "leakage_report"]
    assert sum(c.points for c in grading.all_checks("02")) == 8
