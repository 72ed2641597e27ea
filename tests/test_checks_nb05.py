"""Checks of notebook 05 (interpretation): right answers pass on many seeds, each known mistake gets its message."""
from __future__ import annotations

import numpy as np
import pytest

from radnb.grading import run_check
from radnb.train.evaluate import calibration_table, expected_calibration_error
from radnb.train.interpret import fraction_in_box as reference_fraction_in_box

SEEDS = range(12)


# ---------------------------------------------------------------- student-style answers


def good_bins(probs, labels, n_bins):
    which = np.clip((np.asarray(probs) * n_bins).astype(int), 0, n_bins - 1)
    mean = np.full(n_bins, np.nan)
    frac = np.full(n_bins, np.nan)
    counts = np.zeros(n_bins, dtype=int)
    for b in range(n_bins):
        inside = which == b
        counts[b] = inside.sum()
        if counts[b]:
            mean[b] = probs[inside].mean()
            frac[b] = labels[inside].mean()
    return mean, frac, counts


def good_ece(probs, labels, n_bins):
    mean, frac, counts = good_bins(probs, labels, n_bins)
    filled = counts > 0
    return float(np.sum(counts[filled] / counts.sum() * np.abs(mean[filled] - frac[filled])))


def good_fraction(heatmap, box):
    top, bottom, left, right = box
    total = heatmap.sum()
    return 0.0 if total == 0 else float(heatmap[top:bottom, left:right].sum() / total)


# ---------------------------------------------------------------- references


def test_expected_calibration_error_reference():
    # two bins: 0.1-bin holds 0.1, 0.1 with labels 0, 1 (observed 0.5); 0.9-bin holds 0.9, 0.9 with 1, 1
    assert expected_calibration_error([0, 1, 1, 1], [0.1, 0.1, 0.9, 0.9], n_bins=10) == pytest.approx(
        0.5 * 0.4 + 0.5 * 0.1)
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0
    rng = np.random.default_rng(0)
    p = rng.uniform(size=500)
    y = (rng.uniform(size=500) < p).astype(int)  # calibrated by construction: small ECE
    assert expected_calibration_error(y, p) < 0.08
    assert expected_calibration_error(y, p ** 4) > 0.15  # squashed probabilities: badly calibrated
    # the report's property agrees with the function (same bins)
    table = calibration_table(y, p)
    gaps = (table.mean_predicted - table.fraction_positive).abs()
    assert float((gaps * table["count"]).sum() / table["count"].sum()) == pytest.approx(expected_calibration_error(y, p))


def test_fraction_in_box_reference():
    h = np.zeros((6, 8))
    h[1, 6] = 3.0
    h[4, 2] = 1.0
    assert reference_fraction_in_box(h, (0, 3, 4, 8)) == pytest.approx(0.75)
    assert reference_fraction_in_box(h, (0, 6, 0, 8)) == pytest.approx(1.0)
    assert reference_fraction_in_box(np.zeros((3, 3)), (0, 1, 0, 1)) == 0.0
    from radnb.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError):
        reference_fraction_in_box(np.zeros((2, 3, 3)), (0, 1, 0, 1))


# ---------------------------------------------------------------- right answers pass


@pytest.mark.parametrize("seed", SEEDS)
def test_right_answers_pass(seed):
    assert run_check("calibration_bins", good_bins, seed=seed).status == "pass"
    assert run_check("expected_calibration_error", good_ece, seed=seed).status == "pass"
    assert run_check("heatmap_fraction_in_box", good_fraction, seed=seed).status == "pass"
    # the package's own functions are accepted too
    assert run_check("expected_calibration_error", lambda p, y, n: expected_calibration_error(y, p, n),
                     seed=seed).status == "pass"
    assert run_check("heatmap_fraction_in_box", reference_fraction_in_box, seed=seed).status == "pass"


def test_unfinished_is_not_done():
    def placeholder(*args):
        raise NotImplementedError()

    for grade_id in ("calibration_bins", "expected_calibration_error", "heatmap_fraction_in_box"):
        assert run_check(grade_id, placeholder).status == "not_done"


# ---------------------------------------------------------------- calibration bins mistakes


def _message(grade_id, fn, seed=3):
    result = run_check(grade_id, fn, seed=seed)
    assert result.status in ("fail", "partial"), result
    return result


def test_bins_swapped_order():
    r = _message("calibration_bins", lambda p, y, n: tuple(np.array(good_bins(p, y, n))[[1, 0, 2]]))
    assert "swapped" in r.message


def test_bins_one_point_zero_dropped():
    def drops_one(p, y, n):
        which = (p * n).astype(int)
        mean, frac, counts = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, int)
        for b in range(n):
            m = which == b
            counts[b] = m.sum()
            if m.any():
                mean[b], frac[b] = p[m].mean(), y[m].mean()
        return mean, frac, counts

    assert "exactly 1.0" in _message("calibration_bins", drops_one).message


def test_bins_fraction_counts_and_centres_and_negatives():
    def fractions(p, y, n):
        m, f, c = good_bins(p, y, n)
        return m, f, c / c.sum()

    assert "whole numbers" in _message("calibration_bins", fractions).message

    def centres(p, y, n):
        m, f, c = good_bins(p, y, n)
        return np.where(c > 0, (np.arange(n) + 0.5) / n, np.nan), f, c

    assert "middle of each bin" in _message("calibration_bins", centres).message

    def negatives(p, y, n):
        m, f, c = good_bins(p, y, n)
        return m, 1 - f, c

    assert "negatives" in _message("calibration_bins", negatives).message


def test_bins_empty_bins_zero_is_partial():
    def zeros(p, y, n):
        m, f, c = good_bins(p, y, n)
        return np.nan_to_num(m), np.nan_to_num(f), c

    # with 20 bins and few images some bins are empty on most seeds
    results = [run_check("calibration_bins", zeros, seed=s) for s in SEEDS]
    partial = [r for r in results if r.status == "partial"]
    assert partial and all("np.nan" in r.message for r in partial)


def test_bins_wrong_shape_and_type():
    assert "three" in _message("calibration_bins", lambda p, y, n: good_bins(p, y, n)[:2]).message
    assert "shape" in _message("calibration_bins", lambda p, y, n: tuple(a[:-1] for a in good_bins(p, y, n))).message


# ---------------------------------------------------------------- ECE mistakes


def test_ece_mistakes():
    def unweighted(p, y, n):
        m, f, c = good_bins(p, y, n)
        return float(np.nanmean(np.abs(m - f)))

    assert "equal weight" in _message("expected_calibration_error", unweighted).message

    def signed(p, y, n):
        m, f, c = good_bins(p, y, n)
        k = c > 0
        return float(np.sum(c[k] / c.sum() * (m[k] - f[k])))

    assert "absolute" in _message("expected_calibration_error", signed).message

    def maximum(p, y, n):
        m, f, c = good_bins(p, y, n)
        return float(np.nanmax(np.abs(m - f)))

    assert "maximum" in _message("expected_calibration_error", maximum).message

    def undivided(p, y, n):
        m, f, c = good_bins(p, y, n)
        k = c > 0
        return float(np.sum(c[k] * np.abs(m[k] - f[k])))

    assert "divide" in _message("expected_calibration_error", undivided).message

    r = _message("expected_calibration_error", lambda p, y, n: 100 * good_ece(p, y, n))
    assert r.status == "partial" and "per cent" in r.message
    assert "should return one number" in _message("expected_calibration_error", lambda p, y, n: "small").message


# ---------------------------------------------------------------- fraction in box mistakes


def test_fraction_mistakes():
    def unnormalised(h, box):
        t, b, l, r = box
        return float(h[t:b, l:r].sum())

    assert "divide by the heat of the whole map" in _message("heatmap_fraction_in_box", unnormalised).message

    def swapped(h, box):
        t, b, l, r = box
        return float(h[l:r, t:b].sum() / h.sum())

    assert "swapped" in _message("heatmap_fraction_in_box", swapped).message

    def inclusive(h, box):
        t, b, l, r = box
        return float(h[t:b + 1, l:r + 1].sum() / h.sum())

    r = _message("heatmap_fraction_in_box", inclusive)
    assert r.status == "partial" and "one pixel too big" in r.message

    def area(h, box):
        t, b, l, r = box
        return (b - t) * (r - l) / h.size

    assert "area" in _message("heatmap_fraction_in_box", area).message

    def divides_by_zero(h, box):
        t, b, l, r = box
        return float(h[t:b, l:r].sum() / h.sum())

    r = run_check("heatmap_fraction_in_box", divides_by_zero, seed=1)
    assert r.status == "partial" and "all-zero" in r.message


# ---------------------------------------------------------------- quizzes


def test_quizzes():
    assert run_check("shortcut_diagnosis", lambda: "shortcut").status == "pass"
    r = run_check("shortcut_diagnosis", lambda: "epochs")
    assert r.status == "fail" and "shortcut" in r.message
    for good in (70, 70.0, "70", "70 %", 69):
        assert run_check("calibration_meaning", lambda good=good: good).status == "pass", good
    for bad in (7, 0.7, "seventy", True, 100):
        assert run_check("calibration_meaning", lambda bad=bad: bad).status == "fail", bad
    assert run_check("new_scanner", lambda: "local").status == "pass"
    assert run_check("new_scanner", lambda: "nothing").status == "fail"


def test_checks_are_fast():
    for grade_id, fn in (("calibration_bins", good_bins), ("expected_calibration_error", good_ece),
                         ("heatmap_fraction_in_box", good_fraction)):
        assert run_check(grade_id, fn, seed=0).seconds < 5
