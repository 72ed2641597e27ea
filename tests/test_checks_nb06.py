"""Checks of notebook 06 (capstone) and the lesion-patch helpers they build on."""
from __future__ import annotations

import numpy as np
import pytest

from radnb import grading
from radnb.data import patches as P
from radnb.errors import InvalidArgumentError
from radnb.grading import registry
from radnb.grading.checks import nb06_capstone as nb06

# --------------------------------------------------------------------------- radnb.data.patches


def test_crop_at_fills_outside_the_image():
    image = np.arange(16, dtype=float).reshape(4, 4)
    patch = P.crop_at(image, (0, 3), 3, fill=-1)
    assert patch.tolist() == [[-1, -1, -1], [2, 3, -1], [6, 7, -1]]
    assert P.crop_at(image, (10, 10), 2, fill=5).tolist() == [[5, 5], [5, 5]]


def test_crop_around_lesion_centres_the_largest_slice():
    rng = np.random.default_rng(0)
    volume = rng.normal(size=(5, 30, 30))
    mask = np.zeros(volume.shape, bool)
    mask[1, 10:13, 10:13] = True
    mask[3, 18:23, 5:10] = True  # largest, centred at (20, 7)
    patch = P.crop_around_lesion(volume, mask, 8)
    assert patch.dtype == np.float32 and patch.shape == (8, 8)
    np.testing.assert_allclose(patch, volume[3, 16:24, 3:11], rtol=1e-6)
    assert P.largest_lesion_slice(mask) == 3 and P.lesion_centre(mask[3]) == (20, 7)


def test_lesion_patches_follow_the_lesion_and_cut_masks_alike():
    volume = np.random.default_rng(1).normal(size=(6, 24, 24))
    mask = np.zeros(volume.shape, bool)
    mask[1, 5:7, 5:7] = True           # too small (4 < half of 25)
    mask[2, 4:9, 4:9] = True           # 25 voxels, centre (6, 6)
    mask[3, 10:15, 12:16] = True       # 20 voxels, centre (12, 14)
    patches, masks, slices = P.lesion_patches(volume, mask, 6)
    assert slices == [2, 3] and patches.shape == (2, 6, 6) and masks.dtype == bool
    np.testing.assert_allclose(patches[1], volume[3, 9:15, 11:17], rtol=1e-6)
    assert masks[1].sum() == 20 and masks[1][3, 3]


def test_patch_helpers_reject_bad_input():
    with pytest.raises(InvalidArgumentError, match="empty"):
        P.crop_around_lesion(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), 3)
    with pytest.raises(InvalidArgumentError, match="same shape"):
        P.crop_around_lesion(np.zeros((2, 4, 4)), np.ones((2, 4, 5)), 3)
    with pytest.raises(InvalidArgumentError, match="min_area_fraction"):
        P.lesion_patches(np.zeros((2, 4, 4)), np.ones((2, 4, 4)), 3, min_area_fraction=0)


# --------------------------------------------------------------------------- reference code


def test_reference_statistics_match_radnb_train():
    from radnb.train.evaluate import bootstrap_auroc
    from radnb.train.metrics import auroc

    rng = np.random.default_rng(0)
    for k in range(4):
        labels, scores, patients = nb06._clustered(rng, 12, (2, 5))
        scores = np.round(scores, 2)  # with ties
        assert nb06.reference_auroc(labels, scores) == pytest.approx(auroc(labels, scores), abs=1e-12)
        assert nb06.reference_bootstrap_ci(labels, scores, patients, n_boot=200, seed=k) == pytest.approx(
            bootstrap_auroc(labels, scores, patients, n_bootstrap=200, seed=k), abs=1e-12)


def test_reference_operating_point_is_the_best_feasible_threshold():
    rng = np.random.default_rng(5)
    probs, labels = nb06._scores(rng, 60)
    for m in (0.8, 0.9, 1.0):
        t = nb06.reference_operating_point(probs, labels, m)
        sens, spec = nb06.confusion(labels, probs, t)
        assert sens >= m
        feasible = [nb06.confusion(labels, probs, u)[1] for u in np.unique(probs)
                    if nb06.confusion(labels, probs, u)[0] >= m]
        assert spec == max(feasible)


# --------------------------------------------------------------------------- right answers


def crop_right(volume, mask, size, fill=-1000.0):
    z = int(np.argmax(np.asarray(mask).sum(axis=(1, 2))))
    rows, cols = np.nonzero(mask[z])
    cy, cx = int(np.round(rows.mean())), int(np.round(cols.mean()))
    padded = np.pad(np.asarray(volume[z], dtype=np.float32), size, constant_values=fill)
    return padded[cy - size // 2 + size:cy - size // 2 + 2 * size, cx - size // 2 + size:cx - size // 2 + 2 * size]


def split_right(patient_ids, test_fraction, seed):
    ids = np.asarray(patient_ids)
    unique = np.unique(ids)
    test = np.random.default_rng(seed).choice(unique, int(round(test_fraction * len(unique))), replace=False)
    is_test = np.isin(ids, test)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def op_right(probs, labels, min_sensitivity):
    best = float(np.min(probs))
    for t in np.unique(probs):
        if np.sum((probs >= t) & (labels == 1)) / np.sum(labels == 1) >= min_sensitivity:
            best = float(t)
    return best


def bootstrap_right(labels, probs, patients, n_boot=1000, seed=0, *, by_patient=True, skip=True):
    from radnb.train.metrics import auroc

    labels, probs = np.asarray(labels), np.asarray(probs)
    groups = np.asarray(patients) if by_patient else np.arange(len(labels))
    rng = np.random.default_rng(seed)
    unique = np.unique(groups)
    rows_of = {g: np.flatnonzero(groups == g) for g in unique}
    aucs = []
    for _ in range(n_boot):
        rows = np.concatenate([rows_of[g] for g in rng.choice(unique, len(unique), replace=True)])
        if skip and len(np.unique(labels[rows])) < 2:
            continue
        aucs.append(auroc(labels[rows], probs[rows]))
    return np.percentile(aucs, 2.5), np.percentile(aucs, 97.5)


def test_notebook_06_registers_its_exercises():
    ids = [c.grade_id for c in registry.all_checks("06")]
    assert ids == ["cap_crop", "cap_split", "cap_operating_point", "cap_bootstrap",
                   "cap_leakage", "cap_confidence", "cap_gradcam", "cap_ppv"]


@pytest.mark.parametrize("seed", range(4))
def test_right_answers_pass_on_fresh_inputs(seed):
    assert grading.run_check("cap_crop", crop_right, seed=seed).status == "pass"
    assert grading.run_check("cap_crop", P.crop_around_lesion, seed=seed).status == "pass"
    assert grading.run_check("cap_split", split_right, seed=seed).status == "pass"
    assert grading.run_check("cap_operating_point", op_right, seed=seed).status == "pass"


@pytest.mark.parametrize("seed", range(3))
def test_right_bootstrap_passes(seed):
    result = grading.run_check("cap_bootstrap", bootstrap_right, seed=seed)
    assert result.status == "pass", result.message


# --------------------------------------------------------------------------- mistakes


def _crop_from(cy_shift, cx_shift, fill_override=None, slice_pick=None):
    def crop(volume, mask, size, fill=-1000.0):
        z = int(np.argmax(mask.sum(axis=(1, 2)))) if slice_pick is None else slice_pick(volume)
        zz = int(np.argmax(mask.sum(axis=(1, 2))))
        rows, cols = np.nonzero(mask[zz])
        cy, cx = int(np.round(rows.mean())) + cy_shift(size), int(np.round(cols.mean())) + cx_shift(size)
        return P.crop_at(volume[z], (cy, cx), size, fill if fill_override is None else fill_override)
    return crop


def _no_padding(volume, mask, size, fill=-1000.0):
    z = int(np.argmax(mask.sum(axis=(1, 2))))
    rows, cols = np.nonzero(mask[z])
    cy, cx = int(np.round(rows.mean())), int(np.round(cols.mean()))
    return volume[z, max(cy - size // 2, 0):cy - size // 2 + size, max(cx - size // 2, 0):cx - size // 2 + size]


@pytest.mark.parametrize("wrong, phrase, status", [
    (_crop_from(lambda s: s // 2, lambda s: s // 2), "top-left corner", "fail"),
    (_crop_from(lambda s: 0, lambda s: 0, slice_pick=lambda v: 0), "largest on slice", "fail"),
    (_crop_from(lambda s: 1, lambda s: 0), "one pixel off", "partial"),
    (_crop_from(lambda s: 0, lambda s: 0, fill_override=0.0), "should be `fill`", "partial"),
    (_no_padding, "fill those pixels", "fail"),
])
def test_crop_mistakes_get_teaching_feedback(wrong, phrase, status):
    result = grading.run_check("cap_crop", wrong, seed=2)
    assert result.status == status and phrase in result.message, result.message


def test_split_mistakes_get_teaching_feedback():
    def by_image(ids, fraction, seed):
        order = np.random.default_rng(seed).permutation(len(ids))
        n = int(round(fraction * len(ids)))
        return order[n:], order[:n]

    leak = grading.run_check("cap_split", by_image, seed=1)
    assert leak.status == "fail" and "both sides" in leak.message
    fixed = grading.run_check("cap_split", lambda ids, f, s: split_right(ids, f, 0), seed=1)
    assert fixed.status == "partial" and "seed" in fixed.message
    unseeded = grading.run_check("cap_split", lambda ids, f, s: split_right(ids, f, None), seed=1)
    assert unseeded.status == "partial" and "same seed" in unseeded.message
    lopsided = grading.run_check("cap_split", lambda ids, f, s: split_right(ids, 0.5, s), seed=1)
    assert lopsided.status == "fail" and "patients should be in the test set" in lopsided.message


def test_operating_point_mistakes_get_teaching_feedback():
    too_low = grading.run_check("cap_operating_point", lambda p, y, m: 0.0, seed=1)
    assert too_low.status == "partial" and "highest" in too_low.message
    too_high = grading.run_check("cap_operating_point", lambda p, y, m: 0.99, seed=1)
    assert too_high.status == "fail" and "below" in too_high.message


def test_bootstrap_mistakes_get_teaching_feedback():
    images = grading.run_check("cap_bootstrap", lambda *a: bootstrap_right(*a, by_patient=False), seed=0)
    assert images.status == "partial" and "too narrow" in images.message and "patients" in images.message
    no_skip = grading.run_check("cap_bootstrap", lambda *a: bootstrap_right(*a, skip=False), seed=0)
    assert no_skip.status == "fail" and ("one class" in no_skip.message or "single class" in no_skip.message)
    unseeded = grading.run_check("cap_bootstrap", lambda l, p, g, n=1000, s=0: bootstrap_right(l, p, g, n, None), seed=0)
    assert unseeded.status == "partial" and "same seed" in unseeded.message


def test_unfinished_exercises_are_not_done():
    def placeholder(*args, **kwargs):
        raise NotImplementedError()

    for grade_id in ("cap_crop", "cap_split", "cap_operating_point", "cap_bootstrap"):
        assert grading.run_check(grade_id, placeholder).status == "not_done"


def test_quizzes():
    assert grading.run_check("cap_leakage", "optimistic").status == "pass"
    assert grading.run_check("cap_leakage", "unchanged").status == "fail"
    assert grading.run_check("cap_confidence", "imprecise").status == "pass"
    assert grading.run_check("cap_gradcam", "investigate").status == "pass"
    assert grading.run_check("cap_gradcam", "ignore").status == "fail"
    for answer in (1 / 3, 0.333, 33.3):
        assert grading.run_check("cap_ppv", answer).status == "pass"
    assert grading.run_check("cap_ppv", 0.9).status == "fail"
    assert grading.run_check("cap_ppv", lambda: "many").status == "fail"
