"""fastai metrics computing radnb's reference metrics (:mod:`radnb.train.metrics`) over a validation set.

They are fastai's own metric classes: :class:`ProbabilityMetric` is fastai's ``AccumMetric``
(which stores each batch through ``learn.to_detach``, so under distributed training every
process's predictions are gathered and fastai's padding dropped before one score is computed);
:class:`ForegroundOverlap` is a fastai ``Metric``. Build them through the factories in
:mod:`radnb.train.metrics` (``AUROC()``, ``Sensitivity()``, ``ForegroundDice()``...), which keep
that module importable without torch.

Examples
--------
>>> import torch
>>> from radnb.train.metrics import AUROC
>>> m = AUROC()
>>> m(torch.tensor([[2.0, -2.0], [-1.0, 1.0], [0.0, 0.5]]), torch.tensor([0, 1, 1]))
1.0
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

from . import _fastai  # noqa: F401  (imports fastai quietly; see radnb/train/_fastai.py)
import torch
from fastai.learner import Metric
from fastai.metrics import AccumMetric

from . import metrics as M

__all__ = ["ProbabilityMetric", "ForegroundOverlap", "class_probabilities"]


def class_probabilities(pred: torch.Tensor) -> torch.Tensor:
    """Logits -> probabilities: softmax over classes, or a sigmoid for a single output column.

    Examples
    --------
    >>> class_probabilities(torch.zeros(2, 2)).tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    if pred.ndim == 1 or pred.shape[-1] == 1:
        return torch.sigmoid(pred.reshape(-1).float())
    return torch.softmax(pred.float(), dim=-1)


def _detach(learn):
    # fastai's accum_values takes learn.to_detach (the gathering one under DDP); a bare object
    # standing in for a learner (tests, a hand-made loop) has none, and then fastai's plain to_detach serves
    return learn if hasattr(learn, "to_detach") else None


class ProbabilityMetric(AccumMetric):
    """fastai's ``AccumMetric`` over class probabilities, scored by a radnb numpy metric.

    Kept as a thin subclass (not fastai's ``RocAucBinary``/``skm_to_fastai``) for radnb's
    conventions: the positive class of a binary task, a decision ``threshold``, ``nan`` rather than
    an exception when the validation set holds one class only (sklearn raises), and ``nan`` before any batch.

    Parameters
    ----------
    score
        ``score(y_true, y_score[, threshold=])`` from :mod:`radnb.train.metrics`.
    pos_class
        Positive class; ``None`` scores every class one-vs-rest (macro average).
    threshold
        Passed to ``score`` when not ``None``.
    multilabel
        Sigmoid outputs, one 0/1 column per label.

    Examples
    --------
    >>> m = ProbabilityMetric(M.sensitivity, pos_class=1, threshold=0.5, name="sensitivity")
    >>> m(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 1]))
    0.5
    """

    def __init__(self, score: Callable, pos_class: Optional[int] = 1, threshold: Optional[float] = None,
                 name: Optional[str] = None, multilabel: bool = False):
        self.score, self.pos_class, self.threshold, self.multilabel = score, pos_class, threshold, multilabel
        super().__init__(self._score, to_np=True, invert_arg=True, flatten=False,
                         name=name or getattr(score, "__name__", "metric"))

    def _probabilities(self, pred: torch.Tensor) -> torch.Tensor:
        pred = pred.detach()
        return torch.sigmoid(pred.float()) if self.multilabel else class_probabilities(pred)

    def accumulate(self, learn):
        pred = learn.pred[0] if isinstance(learn.pred, (tuple, list)) else learn.pred
        self.accum_values(self._probabilities(pred), learn.yb[0], _detach(learn))

    def __call__(self, preds: torch.Tensor, targs: torch.Tensor) -> float:
        """The metric of one batch of logits (fastai's per-batch use)."""
        self.reset()
        self.accum_values(self._probabilities(preds), targs)
        return self.value

    def _score(self, targs: np.ndarray, probs: np.ndarray) -> float:
        kwargs = {} if self.threshold is None else {"threshold": self.threshold}
        if self.multilabel or probs.ndim == 1:
            return self.score(targs.astype(int), probs, **kwargs)
        if self.pos_class is None:  # several classes: macro one-vs-rest
            onehot = np.eye(probs.shape[1], dtype=int)[targs.astype(int)]
            return self.score(onehot, probs, **kwargs)
        return self.score((targs == self.pos_class).astype(int), probs[:, self.pos_class], **kwargs)

    @property
    def value(self) -> float:
        if not self.preds:  # no batch seen (e.g. fastai's learn.summary()): no score, not a crash
            return float("nan")
        return super().value


class ForegroundOverlap(Metric):
    """Dice or IoU over the whole epoch per foreground class (pixels pooled), averaged over classes.

    fastai's ``DiceMulti``/``JaccardCoeffMulti`` average over background too and count pixels on
    each process separately; this one excludes class 0 and counts through ``learn.to_detach``
    (gathered under DDP), so the number is :func:`radnb.train.metrics.dice` over the validation set.

    Examples
    --------
    >>> m = ForegroundOverlap(2)
    >>> m.name
    'dice'
    """

    def __init__(self, n_classes: Optional[int] = None, name: Optional[str] = None, kind: str = "dice"):
        self.n_classes, self.kind = n_classes, kind
        self._name = name or kind
        self.reset()

    def reset(self):
        self.inter, self.sum_p, self.sum_t = {}, {}, {}

    def accumulate(self, learn):
        pred = learn.pred[0] if isinstance(learn.pred, (tuple, list)) else learn.pred
        detach = getattr(learn, "to_detach", None) or (lambda t: t.detach().cpu())
        labels, targ = detach(pred.argmax(dim=1)), detach(learn.yb[0])
        n = self.n_classes or pred.shape[1]
        for c in range(1, n):
            pc, tc = labels == c, targ == c
            self.inter[c] = self.inter.get(c, 0) + int((pc & tc).sum())
            self.sum_p[c] = self.sum_p.get(c, 0) + int(pc.sum())
            self.sum_t[c] = self.sum_t.get(c, 0) + int(tc.sum())

    def per_class(self) -> Dict[int, float]:
        out = {}
        for c in self.inter:
            i, sp, st = self.inter[c], self.sum_p[c], self.sum_t[c]
            if sp + st == 0:
                out[c] = float("nan")
            elif self.kind == "dice":
                out[c] = 2.0 * i / (sp + st)
            else:
                out[c] = i / (sp + st - i)
        return out

    @property
    def value(self) -> float:
        vals = [v for v in self.per_class().values() if v == v]
        return float(np.mean(vals)) if vals else float("nan")

    @property
    def name(self) -> str:
        return self._name
