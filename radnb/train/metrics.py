"""Radiology metrics as plain numpy functions, plus fastai metric wrappers.

The numpy functions are the reference the curriculum's graded exercises compare
student code against, so each one follows a textbook formula and is checked
against scikit-learn in ``tests/test_train_metrics.py``.

Conventions
-----------
* Binary scores: a case is called positive when ``score >= threshold``.
* A ratio whose denominator is zero (e.g. sensitivity with no positive cases)
  is ``nan``, never a silent 0 or 1.
* Segmentation metrics take integer label maps; class 0 is background and is
  excluded. For a class absent from *both* prediction and reference the Dice
  (and IoU) is ``nan`` (nothing to find, nothing found: undefined, so averages
  with ``np.nanmean`` skip it - MONAI's ``ignore_empty`` convention); a class
  absent from the reference but predicted scores 0.
* ``hd95`` is ``nan`` when both masks are empty and ``inf`` when exactly one is.

Examples
--------
>>> import numpy as np
>>> from radnb.train.metrics import auroc, sensitivity, dice
>>> round(auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 2)
0.75
>>> sensitivity([0, 1, 1], [0.2, 0.9, 0.3], threshold=0.5)
0.5
>>> dice(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]])).tolist()
[0.8]
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InvalidArgumentError

ArrayLike = Union[np.ndarray, Sequence[float]]

__all__ = [
    "auroc", "bootstrap_auroc", "roc_curve", "confusion_counts", "sensitivity", "specificity", "ppv", "npv",
    "balanced_accuracy", "accuracy", "threshold_metrics", "dice", "iou", "hd95",
    "AUROC", "Sensitivity", "Specificity", "BalancedAccuracy", "ForegroundDice", "ForegroundIoU",
]


def _as_1d(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    return arr


def _binary_truth(y_true) -> np.ndarray:
    y = _as_1d(y_true, "y_true")
    values = np.unique(y)
    if not np.isin(values, [0, 1, True, False]).all():
        raise InvalidArgumentError(
            f"y_true must hold only 0/1 (or False/True) labels, found {values[:5].tolist()}. "
            "For several classes pass one column per class (one-vs-rest)."
        )
    return y.astype(bool)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties get the mean of the ranks they span."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2.0)[inverse.reshape(-1)]


def auroc(y_true: ArrayLike, y_score: ArrayLike, average: Optional[str] = "macro") -> Union[float, np.ndarray]:
    """Area under the ROC curve (Mann-Whitney U statistic, ties counted as 1/2).

    The AUROC is the probability that a random positive case scores higher than a
    random negative one. With 2-D inputs (N cases x K labels, multi-label) each
    column is scored on its own; ``average="macro"`` returns their mean,
    ``average=None`` the per-label array. A label with only one class present
    gives ``nan`` (AUROC is undefined without both positives and negatives).

    Parameters
    ----------
    y_true
        0/1 labels, shape (N,) or (N, K).
    y_score
        Scores or probabilities of the positive class, same shape.
    average
        ``"macro"`` or ``None`` (multi-label only).

    Examples
    --------
    >>> auroc([0, 1, 0, 1], [0.2, 0.9, 0.3, 0.6])
    1.0
    >>> auroc([[0, 1], [1, 0], [1, 1]], [[0.1, 0.8], [0.7, 0.3], [0.9, 0.6]], average=None).tolist()
    [1.0, 1.0]
    """
    yt, ys = np.asarray(y_true), np.asarray(y_score, dtype=float)
    if yt.shape != ys.shape:
        raise InvalidArgumentError(f"y_true has shape {yt.shape} but y_score has shape {ys.shape}; they must match.")
    if yt.ndim == 2:
        per_label = np.array([auroc(yt[:, k], ys[:, k]) for k in range(yt.shape[1])])
        if average is None:
            return per_label
        if average != "macro":
            raise InvalidArgumentError(f"average must be 'macro' or None, not {average!r}.")
        return float(np.nanmean(per_label)) if np.isfinite(per_label).any() else float("nan")
    pos = _binary_truth(yt)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(_as_1d(ys, "y_score"))
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def bootstrap_auroc(y_true: Sequence[int], y_score: Sequence[float], groups: Optional[Sequence[Any]] = None,
                    n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> Tuple[float, float]:
    """Percentile bootstrap interval of the AUROC, resampling ``groups`` (patients) if given.

    Resamples with only one class (AUROC undefined) are skipped. Numpy only, like every
    function above, so the course's self-checks use it without importing torch.

    Examples
    --------
    >>> lo, hi = bootstrap_auroc([0, 0, 1, 1, 0, 1], [0.1, 0.3, 0.7, 0.8, 0.6, 0.4], n_bootstrap=200)
    >>> 0.0 <= lo <= hi <= 1.0
    True
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(y_score, dtype=float)
    g = np.asarray(groups if groups is not None else np.arange(len(y))).astype(str)
    uniq, inv = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(len(uniq))]
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_bootstrap):
        pick = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([members[k] for k in pick])
        a = auroc(y[idx], s[idx])
        if a == a:
            stats.append(a)
    if not stats:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def roc_curve(y_true: ArrayLike, y_score: ArrayLike) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds of the ROC curve.

    One point per distinct score (highest threshold first), plus the starting
    point (0, 0) at threshold ``inf``, like ``sklearn.metrics.roc_curve`` with
    ``drop_intermediate=False``.

    Examples
    --------
    >>> fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    pos = _binary_truth(y_true)
    ys = _as_1d(np.asarray(y_score, dtype=float), "y_score")
    order = np.argsort(-ys, kind="mergesort")
    ys_sorted, pos_sorted = ys[order], pos[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(ys_sorted)), len(ys_sorted) - 1]
    tps = np.cumsum(pos_sorted)[last_of_run].astype(float)
    fps = (last_of_run + 1 - tps).astype(float)
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    thresholds = np.r_[np.inf, ys_sorted[last_of_run]]
    n_pos, n_neg = tps[-1], fps[-1]
    tpr = tps / n_pos if n_pos else np.full_like(tps, np.nan)
    fpr = fps / n_neg if n_neg else np.full_like(fps, np.nan)
    return fpr, tpr, thresholds


def confusion_counts(y_true: ArrayLike, y_score: ArrayLike, threshold: float = 0.5) -> Dict[str, int]:
    """True/false positives/negatives when cases with ``score >= threshold`` are called positive.

    Examples
    --------
    >>> confusion_counts([0, 0, 1, 1], [0.2, 0.7, 0.6, 0.4])
    {'tp': 1, 'fp': 1, 'tn': 1, 'fn': 1}
    """
    pos = _binary_truth(y_true)
    called = _as_1d(np.asarray(y_score, dtype=float), "y_score") >= threshold
    if called.shape != pos.shape:
        raise InvalidArgumentError(f"y_true has {pos.size} cases but y_score has {called.size}.")
    return {
        "tp": int((called & pos).sum()),
        "fp": int((called & ~pos).sum()),
        "tn": int((~called & ~pos).sum()),
        "fn": int((~called & pos).sum()),
    }


def sensitivity(y_true: ArrayLike, y_score: ArrayLike, threshold: float = 0.5) -> float:
    """Sensitivity (recall, true-positive rate) = TP / (TP + FN).

    Examples
    --------
    >>> sensitivity([1, 1, 1, 0], [0.9, 0.8, 0.1, 0.7])
    0.6666666666666666
    """
    c = confusion_counts(y_true, y_score, threshold)
    return _ratio(c["tp"], c["tp"] + c["fn"])


def specificity(y_true: ArrayLike, y_score: ArrayLike, threshold: float = 0.5) -> float:
    """Specificity (true-negative rate) = TN / (TN + FP).

    Examples
    --------
    >>> specificity([0, 0, 1], [0.1, 0.6, 0.9])
    0.5
    """
    c = confusion_counts(y_true, y_score, threshold)
    return _ratio(c["tn"], c["tn"] + c["fp"])


def ppv(y_true: ArrayLike, y_score: ArrayLike, threshold: float = 0.5) -> float:
    """Positive predictive value (precision) = TP / (TP + FP).

    Examples
    --------
    >>> ppv([0, 1, 1], [0.9, 0.8, 0.1])
    0.5
    """
    c = confusion_counts(y_true, y_score, threshold)
    return _ratio(c["tp"], c["tp"] + c["fp"])


def npv(y_true: ArrayLike, y_score: ArrayLike, threshold: float = 0.5) -> float:
    """Negative predictive value = TN / (TN + FN).

    Examples
    --------
    >>> npv([0, 1, 0], [0.1, 0.2, 0.9])
    0.5
    """
    c = confusion_counts(y_true, y_score, threshold)
    return _ratio(c["tn"], c["tn"] + c["fn"])


def balanced_accuracy(y_true: ArrayLike, y_score: ArrayLike, threshold: float = 0.5) -> float:
    """Mean of sensitivity and specificity (robust to class imbalance).

    Examples
    --------
    >>> balanced_accuracy([0, 0, 0, 1], [0.1, 0.2, 0.7, 0.9])
    0.8333333333333333
    """
    return (sensitivity(y_true, y_score, threshold) + specificity(y_true, y_score, threshold)) / 2.0


def accuracy(y_true: ArrayLike, y_score: ArrayLike, threshold: float = 0.5) -> float:
    """Fraction of cases called correctly at ``threshold``.

    Examples
    --------
    >>> accuracy([0, 1, 1, 0], [0.2, 0.8, 0.3, 0.1])
    0.75
    """
    c = confusion_counts(y_true, y_score, threshold)
    return _ratio(c["tp"] + c["tn"], sum(c.values()))


def threshold_metrics(y_true: ArrayLike, y_score: ArrayLike, threshold: float = 0.5) -> Dict[str, float]:
    """All threshold metrics at once: sensitivity, specificity, PPV, NPV, balanced accuracy, accuracy.

    Examples
    --------
    >>> m = threshold_metrics([0, 1, 1, 0], [0.2, 0.8, 0.3, 0.1])
    >>> m["sensitivity"], m["specificity"]
    (0.5, 1.0)
    """
    c = confusion_counts(y_true, y_score, threshold)
    sens = _ratio(c["tp"], c["tp"] + c["fn"])
    spec = _ratio(c["tn"], c["tn"] + c["fp"])
    return {
        "threshold": float(threshold),
        "sensitivity": sens,
        "specificity": spec,
        "ppv": _ratio(c["tp"], c["tp"] + c["fp"]),
        "npv": _ratio(c["tn"], c["tn"] + c["fn"]),
        "balanced_accuracy": (sens + spec) / 2.0,
        "accuracy": _ratio(c["tp"] + c["tn"], sum(c.values())),
        **{k: float(v) for k, v in c.items()},
    }


def _label_maps(pred, target, n_classes):
    p, t = np.asarray(pred), np.asarray(target)
    if p.shape != t.shape:
        raise InvalidArgumentError(f"prediction has shape {p.shape} but the reference mask has {t.shape}; they must match.")
    if p.dtype == bool:
        p = p.astype(np.int64)
    if t.dtype == bool:
        t = t.astype(np.int64)
    if n_classes is None:
        n_classes = int(max(p.max(initial=0), t.max(initial=0), 1)) + 1
    return p, t, n_classes


def _overlap(pred, target, n_classes, kind: str) -> np.ndarray:
    p, t, n_classes = _label_maps(pred, target, n_classes)
    out = np.empty(n_classes - 1, dtype=float)
    for c in range(1, n_classes):
        pc, tc = p == c, t == c
        inter = np.logical_and(pc, tc).sum()
        size_p, size_t = pc.sum(), tc.sum()
        if size_p + size_t == 0:
            out[c - 1] = np.nan
        elif kind == "dice":
            out[c - 1] = 2.0 * inter / (size_p + size_t)
        else:
            out[c - 1] = inter / (size_p + size_t - inter)
    return out


def dice(pred: np.ndarray, target: np.ndarray, n_classes: Optional[int] = None) -> np.ndarray:
    """Dice coefficient 2|P∩T| / (|P|+|T|) per foreground class.

    Returns an array whose entry ``k`` is the Dice of class ``k + 1`` (class 0,
    background, is excluded). A class absent from both maps gives ``nan``.

    Parameters
    ----------
    pred, target
        Integer label maps of the same shape (2-D or 3-D); booleans count as class 1.
    n_classes
        Number of classes including background; inferred from the maps if omitted.

    Examples
    --------
    >>> import numpy as np
    >>> dice(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), n_classes=3).tolist()
    [0.6666666666666666, 0.6666666666666666]
    """
    return _overlap(pred, target, n_classes, "dice")


def iou(pred: np.ndarray, target: np.ndarray, n_classes: Optional[int] = None) -> np.ndarray:
    """Intersection over union (Jaccard) |P∩T| / |P∪T| per foreground class.

    Same conventions as :func:`dice`; IoU = Dice / (2 - Dice).

    Examples
    --------
    >>> import numpy as np
    >>> iou(np.array([0, 1, 1]), np.array([0, 1, 0])).tolist()
    [0.5]
    """
    return _overlap(pred, target, n_classes, "iou")


def hd95(pred: np.ndarray, target: np.ndarray, spacing: Optional[Sequence[float]] = None) -> float:
    """95th-percentile symmetric Hausdorff distance between two binary masks' surfaces.

    Distances are in pixels, or in mm when ``spacing`` (one value per axis) is
    given. ``nan`` when both masks are empty, ``inf`` when only one is.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((20, 20), bool); a[5:10, 5:10] = True
    >>> b = np.roll(a, 2, axis=1)
    >>> hd95(a, b)
    2.0
    """
    from scipy import ndimage

    p, t = np.asarray(pred).astype(bool), np.asarray(target).astype(bool)
    if p.shape != t.shape:
        raise InvalidArgumentError(f"prediction has shape {p.shape} but the reference mask has {t.shape}.")
    if not p.any() and not t.any():
        return float("nan")
    if not p.any() or not t.any():
        return float("inf")
    sampling = None if spacing is None else tuple(float(s) for s in spacing)
    structure = ndimage.generate_binary_structure(p.ndim, 1)

    def surface(m):
        return m & ~ndimage.binary_erosion(m, structure=structure, border_value=0)

    sp, st = surface(p), surface(t)
    dist_to_t = ndimage.distance_transform_edt(~st, sampling=sampling)
    dist_to_p = ndimage.distance_transform_edt(~sp, sampling=sampling)
    distances = np.concatenate([dist_to_t[sp], dist_to_p[st]])
    return float(np.percentile(distances, 95))


# ---------------------------------------------------------------- fastai metrics
# Factories, so that this module imports without torch or fastai: the classes live in
# radnb.train.fastai_metrics (fastai's AccumMetric / Metric), imported at the first call.
def AUROC(pos_class: Optional[int] = 1, name: Optional[str] = None, multilabel: bool = False):
    """fastai metric computing :func:`auroc` over the validation set.

    ``pos_class`` is the positive class of a binary task; ``None`` gives the
    macro average of one-vs-rest AUROCs (several classes); ``multilabel=True``
    scores each label's sigmoid output (macro average).

    Examples
    --------
    >>> m = AUROC()
    >>> m.name
    'auroc'
    """
    from .fastai_metrics import ProbabilityMetric

    return ProbabilityMetric(auroc, pos_class, None, name or "auroc", multilabel=multilabel)


def Sensitivity(pos_class: int = 1, threshold: float = 0.5, name: Optional[str] = None):
    """fastai metric computing :func:`sensitivity` at ``threshold``.

    Examples
    --------
    >>> Sensitivity(threshold=0.3).threshold
    0.3
    """
    from .fastai_metrics import ProbabilityMetric

    return ProbabilityMetric(sensitivity, pos_class, threshold, name or "sensitivity")


def Specificity(pos_class: int = 1, threshold: float = 0.5, name: Optional[str] = None):
    """fastai metric computing :func:`specificity` at ``threshold``.

    Examples
    --------
    >>> Specificity().name
    'specificity'
    """
    from .fastai_metrics import ProbabilityMetric

    return ProbabilityMetric(specificity, pos_class, threshold, name or "specificity")


def BalancedAccuracy(pos_class: int = 1, threshold: float = 0.5, name: Optional[str] = None):
    """fastai metric computing :func:`balanced_accuracy` at ``threshold``.

    Examples
    --------
    >>> BalancedAccuracy().name
    'balanced_accuracy'
    """
    from .fastai_metrics import ProbabilityMetric

    return ProbabilityMetric(balanced_accuracy, pos_class, threshold, name or "balanced_accuracy")


def ForegroundDice(n_classes: Optional[int] = None, name: Optional[str] = None):
    """fastai metric: mean Dice over foreground classes, pixels pooled over the validation set.

    Examples
    --------
    >>> ForegroundDice().name
    'dice'
    """
    from .fastai_metrics import ForegroundOverlap

    return ForegroundOverlap(n_classes, name, kind="dice")


def ForegroundIoU(n_classes: Optional[int] = None, name: Optional[str] = None):
    """fastai metric: mean IoU over foreground classes, pixels pooled over the validation set.

    Examples
    --------
    >>> ForegroundIoU().name
    'iou'
    """
    from .fastai_metrics import ForegroundOverlap

    return ForegroundOverlap(n_classes, name, kind="iou")
