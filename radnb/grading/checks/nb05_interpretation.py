"""Checks for notebook 05 (Interpretation and pitfalls).

Expected answers come from radnb's reference code on fresh inputs:
:func:`radnb.train.evaluate.calibration_table` (reliability bins),
:func:`radnb.train.evaluate.expected_calibration_error` and
:func:`radnb.train.interpret.fraction_in_box`.

Exercises (the student's function, then the grade id)
-----------------------------------------------------
``calibration_bins(probs, labels, n_bins)`` -> ``calibration_bins``
    Split [0, 1] into ``n_bins`` equal bins (a probability of exactly 1.0 goes in
    the last bin); return three arrays of length ``n_bins``: the mean predicted
    probability per bin, the observed fraction of positives per bin (both
    ``nan`` for an empty bin) and the number of images per bin.
``expected_calibration_error(probs, labels, n_bins)`` -> ``expected_calibration_error``
    The count-weighted mean of |mean predicted - observed| over the bins.
``fraction_in_box(heatmap, box)`` -> ``heatmap_fraction_in_box``
    Share of a heat map's total inside ``heatmap[top:bottom, left:right]``
    (``box = (top, bottom, left, right)``); 0 for an all-zero map.
Quizzes: ``shortcut_diagnosis``, ``calibration_meaning``, ``new_scanner``.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ..core import Incorrect, as_array, call, close, expect_close
from ..registry import register, register_quiz


# --------------------------------------------------------------------------- references


def reference_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted, fraction positive, count) per bin, from radnb's ``calibration_table``; nan for empty bins.

    Examples
    --------
    >>> m, f, c = reference_bins(np.array([0.05, 0.95, 1.0]), np.array([0, 1, 1]), 2)
    >>> c.tolist(), f.tolist()
    ([1, 2], [0.0, 1.0])
    """
    from ...train.evaluate import calibration_table

    table = calibration_table(labels, probs, n_bins)
    mean = np.full(n_bins, np.nan)
    frac = np.full(n_bins, np.nan)
    count = np.zeros(n_bins, dtype=int)
    edges = np.linspace(0, 1, n_bins + 1)
    for row in table.itertuples():
        b = int(np.argmin(np.abs(edges[:-1] - row.bin_low)))
        mean[b], frac[b], count[b] = row.mean_predicted, row.fraction_positive, row.count
    return mean, frac, count


def reference_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    """ECE by :func:`radnb.train.evaluate.expected_calibration_error`."""
    from ...train.evaluate import expected_calibration_error

    return expected_calibration_error(labels, probs, n_bins)


def reference_fraction(heatmap: np.ndarray, box) -> float:
    """Share of the heat map inside the box, by :func:`radnb.train.interpret.fraction_in_box`."""
    from ...train.interpret import fraction_in_box

    return fraction_in_box(heatmap, box)


def _probabilities(rng: np.random.Generator, n: int, n_bins: int, overconfident: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Predicted probabilities (away from bin edges, plus an exact 0.0 and 1.0) and 0/1 labels.

    The labels are drawn from a *different* probability than the one predicted
    (over- or under-confident), so the bins' observed frequency differs from
    their mean prediction and mistakes show.
    """
    p = rng.uniform(0, 1, n)
    scaled = p * n_bins
    near = np.abs(scaled - np.round(scaled)) < 1e-3
    p[near] += 0.5 / n_bins / 10  # move off the bin edges, where conventions differ
    p = np.clip(p, 0.001, 0.999)
    p[0], p[1] = 0.0, 1.0
    true = 0.5 + (p - 0.5) * (0.5 if overconfident else 1.3)
    labels = (rng.uniform(0, 1, n) < np.clip(true, 0, 1)).astype(int)
    labels[1] = 1
    return p, labels


# --------------------------------------------------------------------------- calibration bins


def _unpack_bins(got, n_bins: int):
    if isinstance(got, dict):
        raise Incorrect("Return a tuple of three arrays, `return mean_predicted, observed, counts`, not a dict.")
    if hasattr(got, "columns"):
        raise Incorrect("Return a tuple of three arrays, `return mean_predicted, observed, counts`, not a table.")
    try:
        parts = list(got)
    except TypeError:
        raise Incorrect(f"`calibration_bins` should return three arrays, but returned a {type(got).__name__}.") from None
    if len(parts) != 3:
        raise Incorrect(
            f"`calibration_bins` should return three things (mean predicted, observed fraction, counts), "
            f"but returned {len(parts)}."
        )
    out = []
    for name, part in zip(("mean predicted probabilities", "observed fractions", "counts"), parts):
        try:
            arr = as_array(part).astype(float)
        except (TypeError, ValueError):
            raise Incorrect(f"The {name} should be numbers, but got a {type(part).__name__}.") from None
        if arr.shape != (n_bins,):
            raise Incorrect(
                f"The {name} should be one number per bin: shape ({n_bins},) for {n_bins} bins, but yours has "
                f"shape {arr.shape}."
            )
        out.append(arr)
    return out


def _diagnose_bins(got, probs, labels, n_bins) -> None:
    mean, frac, count = reference_bins(probs, labels, n_bins)
    g_mean, g_frac, g_count = _unpack_bins(got, n_bins)
    filled = count > 0
    if close(g_count, count) and close(g_mean[filled], mean[filled]) and close(g_frac[filled], frac[filled]):
        if not (np.all(np.isnan(g_mean[~filled])) and np.all(np.isnan(g_frac[~filled]))):
            raise Incorrect(
                "Right for the filled bins, but an empty bin has no mean: give it `np.nan` (not 0), so nobody reads "
                "an empty bin as 'the model predicted 0 %'.",
                score=0.5,
            )
        return
    if close(g_mean[filled], frac[filled]) and close(g_frac[filled], mean[filled]):
        raise Incorrect("You returned the two curves in swapped order: first the mean predicted probability, "
                        "then the observed fraction of positives.")
    if close(g_count * len(probs), count, atol=1e-6) or close(g_count, count / len(probs), atol=1e-6):
        raise Incorrect("The counts should be numbers of images (whole numbers), not fractions of all images.")
    if g_count.sum() == len(probs) - 1 and count[-1] and g_count[-1] == count[-1] - 1:
        raise Incorrect(
            "One image is missing: the one with probability exactly 1.0. `int(1.0 * n_bins)` is `n_bins`, one past "
            "the last bin: put it in the last bin, e.g. with `np.clip(..., 0, n_bins - 1)` or `min(b, n_bins - 1)`."
        )
    centres = (np.arange(n_bins) + 0.5) / n_bins
    if close(g_mean[filled], centres[filled]):
        raise Incorrect(
            "Your 'mean predicted probability' is the middle of each bin. Use the mean of the predicted "
            "probabilities that fall in the bin: within a bin of 0.6-0.7 they may average 0.62 or 0.68."
        )
    if not close(g_count, count):
        where = int(np.flatnonzero(~np.isclose(g_count, count))[0])
        lo, hi = where / n_bins, (where + 1) / n_bins
        raise Incorrect(
            f"The counts are off: the bin from {lo:.2g} to {hi:.2g} should hold {count[where]} image(s), but yours "
            f"holds {g_count[where]:g}. With {n_bins} equal bins, a probability p belongs in bin `int(p * n_bins)` "
            f"(and 1.0 in the last one)."
        )
    if close(g_frac[filled], 1 - frac[filled]):
        raise Incorrect("Your observed fractions are the fractions of *negatives*: count the images whose label is 1.")
    expect_close(g_mean[filled], mean[filled], "the mean predicted probabilities (filled bins)", atol=1e-6)
    expect_close(g_frac[filled], frac[filled], "the observed fractions of positives (filled bins)", atol=1e-6)


@register("calibration_bins", inputs=["calibration_bins"], points=2, title="Calibration bins")
def check_calibration_bins(calibration_bins, *, rng):
    for k, n_bins in enumerate((10, int(rng.choice([4, 5, 8])), 20)):
        probs, labels = _probabilities(rng, int(rng.integers(40, 120)), n_bins, overconfident=bool(k % 2 == 0))
        got = call(calibration_bins, probs, labels, n_bins)
        _diagnose_bins(got, probs, labels, n_bins)


# --------------------------------------------------------------------------- ECE


@register("expected_calibration_error", inputs=["expected_calibration_error"], points=2,
          title="Expected calibration error")
def check_ece(expected_calibration_error, *, rng):
    for k, n_bins in enumerate((10, int(rng.choice([5, 8])), 15)):
        probs, labels = _probabilities(rng, int(rng.integers(60, 200)), n_bins, overconfident=bool(k != 1))
        got = call(expected_calibration_error, probs, labels, n_bins)
        try:
            value = float(as_array(got))
        except (TypeError, ValueError):
            raise Incorrect(f"`expected_calibration_error` should return one number, but returned {got!r}.") from None
        expected = reference_ece(probs, labels, n_bins)
        if close(value, expected, atol=1e-6):
            continue
        mean, frac, count = reference_bins(probs, labels, n_bins)
        filled = count > 0
        gaps = mean[filled] - frac[filled]
        weights = count[filled] / count.sum()
        setting = f"({len(probs)} images, {n_bins} bins)"
        if close(value, np.abs(gaps).mean(), atol=1e-6):
            raise Incorrect(
                f"You averaged the bins' gaps with equal weight {setting}. Weight each bin by its share of the images "
                "(count / total): a bin with 2 images should count less than one with 50."
            )
        if close(value, abs(float((weights * gaps).sum())), atol=1e-6) or close(value, float((weights * gaps).sum()), atol=1e-6):
            raise Incorrect(
                "Take the absolute gap |mean predicted - observed| in every bin before adding: otherwise "
                "over-confident and under-confident bins cancel out."
            )
        if close(value, np.abs(gaps).max(), atol=1e-6):
            raise Incorrect("That is the largest gap of any bin (the *maximum* calibration error). The expected "
                            "calibration error is the weighted *average* gap.")
        if close(value, float((np.abs(gaps) * count[filled]).sum()), atol=1e-6):
            raise Incorrect(f"You weighted by the counts but did not divide by the number of images {setting}.")
        if close(value, float((weights * gaps ** 2).sum()), atol=1e-6):
            raise Incorrect("Use the absolute gap, not the squared gap.")
        if close(value, 100 * expected, atol=1e-4):
            raise Incorrect("Your value is in per cent; return a fraction between 0 and 1.", score=0.5)
        raise Incorrect(
            f"For {len(probs)} images in {n_bins} bins your function returned {value:.4g}, but the ECE is "
            f"{expected:.4g}. Use your `calibration_bins`: ECE = sum over filled bins of count/total × "
            "|mean predicted - observed|. (If `calibration_bins` did not pass its check, fix it first.)"
        )


# --------------------------------------------------------------------------- Grad-CAM mass in a box


def _heatmap_case(rng: np.random.Generator):
    h, w = int(rng.integers(20, 48)), int(rng.integers(24, 56))
    y, x = np.mgrid[0:h, 0:w]
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    heat = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * rng.uniform(3, 8) ** 2)) + 0.05 * rng.uniform(0, 1, (h, w))
    top = int(rng.integers(0, h // 2))
    bottom = int(rng.integers(top + 3, h))
    left = int(rng.integers(0, w // 2))
    right = int(rng.integers(left + 3, w))
    return heat.astype(np.float32), (top, bottom, left, right)


@register("heatmap_fraction_in_box", inputs=["fraction_in_box"], points=2, title="Heat map mass in a box")
def check_fraction_in_box(fraction_in_box, *, rng):
    for _ in range(4):
        heat, box = _heatmap_case(rng)
        while heat.shape[0] == heat.shape[1]:  # non-square, so a row/column swap shows
            heat, box = _heatmap_case(rng)
        top, bottom, left, right = box
        got = call(fraction_in_box, heat, box)
        try:
            value = float(as_array(got))
        except (TypeError, ValueError):
            raise Incorrect(f"`fraction_in_box` should return one number, but returned {got!r}.") from None
        expected = reference_fraction(heat, box)
        if close(value, expected, atol=1e-5):
            continue
        inside = heat[top:bottom, left:right]
        if close(value, inside.sum(), atol=1e-3):
            raise Incorrect("You returned the heat inside the box; divide by the heat of the whole map to get a share.")
        if close(value, inside.mean() / heat.mean(), atol=1e-5):
            raise Incorrect("You divided the box's *mean* heat by the map's mean heat; use sums (the box's share of "
                            "the total).")
        if close(value, reference_fraction(heat.T, box), atol=1e-5) or close(
            value, float(heat[left:right, top:bottom].sum() / heat.sum()), atol=1e-5
        ):
            raise Incorrect("Rows and columns are swapped: numpy indexes `heatmap[rows, columns]`, i.e. "
                            "`heatmap[top:bottom, left:right]`.")
        if close(value, float(heat[top:bottom + 1, left:right + 1].sum() / heat.sum()), atol=1e-5):
            raise Incorrect("Your box is one pixel too big: the ends are excluded, exactly as in "
                            "`heatmap[top:bottom, left:right]`.", score=0.5)
        if close(value, inside.size / heat.size, atol=1e-5):
            raise Incorrect("That is the box's share of the *area*; weight each pixel by its heat.")
        raise Incorrect(
            f"For a {heat.shape[0]} x {heat.shape[1]} heat map and box (top, bottom, left, right) = {box}, your "
            f"function returned {value:.4g}, but the box holds {expected:.4g} of the total heat. "
            "Sum the heat inside `heatmap[top:bottom, left:right]` and divide by the sum of the whole map."
        )
    got = call(fraction_in_box, np.zeros((8, 10), np.float32), (0, 4, 0, 5))
    try:
        value = float(as_array(got))
    except (TypeError, ValueError):
        value = float("nan")
    if not close(value, 0.0):
        raise Incorrect(
            "For an all-zero heat map (a model that looked nowhere in particular) return 0.0 instead of dividing "
            "by zero.",
            score=0.5,
        )


# --------------------------------------------------------------------------- quizzes


def _about(answer, target: float, tolerance: float) -> bool:
    """Whether a short numeric answer (number or text such as "70" or "70 %") is within ``tolerance``."""
    if isinstance(answer, bool):
        return False
    if isinstance(answer, str):
        answer = answer.replace("%", "").strip()
    try:
        return abs(float(answer) - target) <= tolerance
    except (TypeError, ValueError):
        return False


register_quiz(
    "shortcut_diagnosis",
    question=(
        "A chest radiograph classifier reaches an AUROC of 0.95 on validation images from its own hospital but only "
        "0.55 on another hospital's images. Erasing the radiographer's 'PORT' label from its own hospital's "
        "images, and changing nothing else, makes many of its 'opacity' calls flip to 'normal'. What is the most "
        "likely explanation?"
    ),
    options={
        "shortcut": "Shortcut learning: the label is linked to the disease in the training data, and the model learnt the label.",
        "epochs": "It trained for too few epochs; more training would fix it.",
        "small_test": "The second test set was too small to measure anything.",
        "gradcam_bug": "Grad-CAM is unreliable, so the heat map says nothing about the model.",
    },
    correct="shortcut",
    feedback={
        "shortcut": "Right: portable (ill, bed-bound) patients have more opacities, so 'PORT' predicts disease at "
        "the first hospital but not elsewhere. The model learnt the label, not the lungs.",
        "epochs": "Not likely: more training on the same data makes the shortcut stronger, not weaker. Remove the "
        "shortcut (mask or crop the label, or balance it across classes) and re-train.",
        "small_test": "A small test set widens the confidence interval, but a drop from 0.95 to 0.55 together "
        "with calls that flip when only the label is erased points to something specific.",
        "gradcam_bug": "Grad-CAM is coarse and can mislead, but this evidence does not come from a heat map: the "
        "same images with and without the label, and nothing else changed, is a direct test of what the model "
        "relies on.",
    },
    hint="Which feature of the images differs between the two hospitals?",
    points=1,
    title="Diagnose a shortcut",
)

register_quiz(
    "calibration_meaning",
    question=(
        "A well-calibrated model gives 100 patients each a probability of 0.7 for pneumonia. About how many of them "
        "have pneumonia? Answer with a number."
    ),
    correct=lambda answer: _about(answer, 70, 2),
    hint="Calibrated means: of all cases given probability p, a fraction p has the disease.",
    points=1,
    title="What 70 % means",
)

register_quiz(
    "new_scanner",
    question=(
        "Your department replaces its radiography units with another vendor's. A commercial AI tool was validated "
        "on the old units. What should happen before its results are relied on again?"
    ),
    options={
        "nothing": "Nothing: the vendor's published AUROC still applies.",
        "local": "Check it on a local sample of images from the new units against a reference standard, then keep monitoring.",
        "threshold": "Lower the decision threshold so it misses fewer cases.",
        "retrain": "Retrain it yourselves on the new images straight away.",
    },
    correct="local",
    feedback={
        "nothing": "No: a change of scanner is a dataset shift. Accuracy and calibration measured elsewhere may not "
        "hold on the new images.",
        "local": "Right: measure performance (and calibration) locally on the new images, and keep monitoring after "
        "go-live; involve the vendor, whose regulatory clearance covers the intended use it stated.",
        "threshold": "Not without measuring first: you do not yet know whether it now misses more cases or raises "
        "more false alarms.",
        "retrain": "Changing a regulated product yourself can take it outside its approved intended use; first measure, "
        "then involve the vendor.",
    },
    hint="Think about what a scanner change does to the images the model sees.",
    points=1,
    title="A new scanner",
)
