"""Checks of notebook 04 (segmentation): right answers pass on fresh inputs, mistakes get taught."""
from __future__ import annotations

import numpy as np
import pytest

from radnb import grading
from radnb.grading import registry
from radnb.grading.checks import nb04_segmentation as nb04


# --------------------------------------------------------------------------- right answers


def dice_right(pred, truth):
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    total = pred.sum() + truth.sum()
    return float("nan") if total == 0 else 2 * (pred & truth).sum() / total


def accuracy_right(pred, truth):
    return np.mean(np.asarray(pred, dtype=bool) == np.asarray(truth, dtype=bool))


def volume_right(mask, spacing):
    return np.count_nonzero(mask) * spacing[0] * spacing[1] * spacing[2] / 1000.0


def test_reference_metrics_agree_with_radnb_train_metrics():
    from radnb.train.metrics import dice, iou

    rng = np.random.default_rng(0)
    pairs = [nb04._mask_pair(rng, 2), nb04._mask_pair(rng, 3), nb04._mask_pair(rng, 2, small=True)]
    empty = np.zeros((8, 8), bool)
    pairs += [(empty, empty), (empty, ~empty), (~empty, empty)]
    for pred, truth in pairs:
        np.testing.assert_allclose(nb04.reference_dice(pred, truth), dice(pred, truth, n_classes=2)[0], equal_nan=True)
        np.testing.assert_allclose(nb04.reference_iou(pred, truth), iou(pred, truth, n_classes=2)[0], equal_nan=True)


def test_notebook_04_registers_its_exercises():
    ids = [c.grade_id for c in registry.all_checks("04")]
    assert ids == ["seg_dice", "seg_pixel_accuracy", "seg_iou_from_dice", "seg_volume_ml",
                   "seg_accuracy_lies", "seg_skip_connections", "seg_small_lesion"]


@pytest.mark.parametrize("seed", range(5))
def test_right_answers_pass_on_fresh_inputs(seed):
    assert grading.run_check("seg_dice", dice_right, seed=seed).status == "pass"
    assert grading.run_check("seg_pixel_accuracy", accuracy_right, seed=seed).status == "pass"
    assert grading.run_check("seg_iou_from_dice", lambda d: d / (2 - d), seed=seed).status == "pass"
    assert grading.run_check("seg_volume_ml", volume_right, seed=seed).status == "pass"


def test_inputs_are_fresh_each_run():
    seen = []

    def spy(pred, truth):
        seen.append(int(np.sum(truth)))
        return dice_right(pred, truth)

    grading.run_check("seg_dice", spy)
    grading.run_check("seg_dice", spy)
    assert seen[0] != seen[len(seen) // 2]


# --------------------------------------------------------------------------- mistakes


def _iou(pred, truth):
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    return (pred & truth).sum() / (pred | truth).sum()


def _half_dice(pred, truth):
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    return (pred & truth).sum() / (pred.sum() + truth.sum())


def _or_denominator(pred, truth):
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    return 2 * (pred * truth).sum() / (pred + truth).sum()


def _python_ints(pred, truth):  # right, except 0/0 -> ZeroDivisionError for two empty masks
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    return 2 * int((pred & truth).sum()) / (int(pred.sum()) + int(truth.sum()))


def _empty_is_one(pred, truth):
    value = dice_right(pred, truth)
    return 1.0 if np.isnan(value) else value


@pytest.mark.parametrize("wrong, phrase, score", [
    (_iou, "IoU", 0.0),
    (_half_dice, "factor 2", 0.0),
    (_or_denominator, "logical OR", 0.0),
    (accuracy_right, "pixel accuracy", 0.0),
    (lambda p, t: 100 * dice_right(p, t), "per cent", 1.0),
    (_python_ints, "two empty masks", 1.0),
    (_empty_is_one, "float('nan')", 1.0),
])
def test_dice_mistakes_get_teaching_feedback(wrong, phrase, score):
    result = grading.run_check("seg_dice", wrong, seed=3)
    assert result.status in ("fail", "partial")
    assert phrase in result.message
    assert result.score == score


def test_pixel_accuracy_mistakes():
    counts = grading.run_check("seg_pixel_accuracy", lambda p, t: np.sum(np.asarray(p) == np.asarray(t)), seed=1)
    assert counts.status == "fail" and "number of pixels" in counts.message
    percent = grading.run_check("seg_pixel_accuracy", lambda p, t: 100 * accuracy_right(p, t), seed=1)
    assert percent.status == "partial" and "per cent" in percent.message
    assert "Dice" in grading.run_check("seg_pixel_accuracy", dice_right, seed=1).message


def test_iou_from_dice_mistakes():
    assert "Dice / 2" in grading.run_check("seg_iou_from_dice", lambda d: d / 2, seed=2).message
    assert "other direction" in grading.run_check("seg_iou_from_dice", lambda d: 2 * d / (1 + d), seed=2).message


@pytest.mark.parametrize("wrong, phrase, status", [
    (lambda m, s: np.count_nonzero(m) * np.prod(s), "cubic millimetres", "partial"),
    (lambda m, s: np.count_nonzero(m) * s[1] * s[2] / 1000, "distance between slices", "fail"),
    (lambda m, s: np.count_nonzero(m), "number of voxels", "fail"),
    (lambda m, s: np.size(m) * np.prod(s) / 1000, "every voxel", "fail"),
])
def test_volume_mistakes_get_teaching_feedback(wrong, phrase, status):
    result = grading.run_check("seg_volume_ml", wrong, seed=4)
    assert result.status == status and phrase in result.message


def test_unfinished_exercise_is_not_done():
    def dice(pred, truth):
        raise NotImplementedError()

    result = grading.run_check("seg_dice", dice)
    assert result.status == "not_done" and "Not done yet" in result.message


def test_quizzes():
    assert grading.run_check("seg_accuracy_lies", "acc_high_dice_zero").status == "pass"
    wrong = grading.run_check("seg_accuracy_lies", "both_high")
    assert wrong.status == "fail" and "lesion" in wrong.message
    assert grading.run_check("seg_skip_connections", lambda: "detail").status == "pass"
    assert grading.run_check("seg_skip_connections", "skip_slices").status == "fail"
    assert grading.run_check("seg_small_lesion", "lesion").status == "pass"
    assert grading.run_check("seg_small_lesion", "same").status == "fail"
