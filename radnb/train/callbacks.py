"""Training that cannot go wrong silently: keep the best epoch, warn when predictions collapse or loss diverges.

Both are fastai callbacks that :func:`radnb.classifier` / :func:`radnb.segmenter`
attach by default, so ``learn.fit_one_cycle(n)`` and ``learn.fine_tune(n)`` stay
the verbs:

* :class:`KeepBestEpoch` is fastai's ``SaveModelCallback`` watching the
  validation metric that matters (AUROC for a classifier, foreground Dice for
  a segmenter; the validation loss when neither is there). At the end of each
  fit it puts back the weights of the best epoch and says which one it kept,
  so a late collapse does not become the model the user goes on with.
* :class:`TrainingWatch` looks at every validation pass and warns, in plain
  words, when every validation image was given the same class, or the
  validation loss ran away from its best value - the two ways a run fails
  while its table of numbers looks busy.

Examples
--------
>>> import numpy as np, radnb.train as rt
>>> x = np.random.default_rng(0).normal(0, 100, (16, 32, 32)).astype("float32")
>>> dls = rt.classification_dls(x, label=[0, 1] * 8, patient=np.arange(16), windows="soft_tissue", size=32)
>>> learn = rt.classifier(dls)
>>> type(learn.keep_best_epoch).__name__, type(learn.training_watch).__name__
('KeepBestEpoch', 'TrainingWatch')
"""
from __future__ import annotations

import math
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from . import _fastai  # noqa: F401  (imports fastai quietly; see radnb/train/_fastai.py)
from fastai.callback.core import Callback
from fastai.callback.tracker import SaveModelCallback, TrackerCallback

from ..errors import TrainingWarning

__all__ = ["KeepBestEpoch", "TrainingWatch", "TrainingWarning"]

PREFERRED_MONITORS = ("auroc", "dice", "foreground_dice", "foregrounddice")


class KeepBestEpoch(SaveModelCallback):
    """fastai's ``SaveModelCallback``, watching AUROC / Dice, that says which epoch it kept.

    Parameters
    ----------
    monitor
        ``"auto"`` (default): ``auroc`` if the learner has it, else a Dice
        metric, else ``valid_loss``; or any name in the epoch table.
    tolerance
        A metric within this much of the best value seen counts as a tie, and
        ties go to the epoch with the lower validation loss (default 0: exact
        ties only). On a validation set of a few dozen images an AUROC 0.007
        higher is noise while a far lower loss is a better calibrated model:
        ``KeepBestEpoch(tolerance=0.01)`` then keeps that one (on radnb's
        synthetic chest set the AUROC-best epoch called 55 of 58 images
        "opacity"; with 0.01 the epoch kept had balanced accuracy 0.72).
    verbose
        Print one line at the end of a fit naming the epoch kept (fastai's
        per-epoch "Better model found" lines are not printed; ``learn.no_logging()``
        silences it with the epoch table).

    After a fit, ``epoch`` (fastai's epoch number, as in the table), ``best``
    (its metric value), ``last`` (the last epoch's value) and ``monitor`` tell
    what happened. A tie in the metric (within ``tolerance``)
    goes to the epoch with the lower validation loss, and an epoch whose
    validation images were all predicted one class at 0.5 (see
    :class:`TrainingWatch`) is kept only when every epoch was like that. Weights are kept in a
    temporary file that is removed after the fit.

    Examples
    --------
    >>> KeepBestEpoch().monitor
    'auto'
    """

    def __init__(self, monitor: str = "auto", verbose: bool = True, tolerance: float = 0.0):
        super().__init__(monitor="valid_loss" if monitor == "auto" else monitor, fname="radnb-best-epoch")
        self.wanted, self.verbose, self.tolerance = monitor, verbose, tolerance
        self.monitor = monitor
        self.epoch_kept: Optional[int] = None
        self.last: float = float("nan")
        self._tmpdir: Optional[Path] = None

    # where the best weights wait: a private temporary folder, so no models/ folder appears in the user's cwd
    def _file(self) -> Path:
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="radnb-best-"))
        return self._tmpdir / f"{self.fname}.pth"

    def _save(self, name):
        from fastai.learner import save_model

        save_model(self._file(), self.learn.model, None, with_opt=False)
        self.last_saved_path = self._file()

    def before_fit(self):
        # learn.validate() and get_preds() send fit events too, but never before_train: the run starts there,
        # so the result of the last real fit (epoch_kept, best) survives a later validate()
        self.fitting = False

    def before_train(self):
        if self.fitting:
            return
        names = list(self.recorder.metric_names[1:]) if hasattr(self, "recorder") else []
        if self.wanted == "auto":
            self.monitor = next((n for n in PREFERRED_MONITORS if n in names), "valid_loss")
        else:
            self.monitor = self.wanted
        self.comp = np.less if "loss" in self.monitor or "error" in self.monitor else np.greater
        self._reset()
        if self.monitor not in names:  # e.g. the recorder is switched off: nothing to watch
            self.run = False
            return
        super().before_fit()
        self.fitting = self.run
        self.loss_idx = names.index("valid_loss") if "valid_loss" in names else None

    def _reset(self):
        """Nothing kept yet (fastai's TrackerCallback.before_fit resets ``best``)."""
        self.epoch_kept, self.best_loss, self.last, self.best_one_class = None, float("inf"), float("nan"), False
        self.top = float("nan")

    def after_epoch(self):
        if not self.fitting:
            return
        values = self.recorder.values[-1]
        val = float(values[self.idx])
        loss = float(values[self.loss_idx]) if self.loss_idx is not None else float("nan")
        self.last = val
        if math.isnan(val):
            self.new_best = False
            return
        one_class = self._one_class()
        if self.epoch_kept is not None and one_class != self.best_one_class:
            # an epoch that calls every validation image the same at 0.5 ranks below every epoch that does not,
            # whatever its AUROC: it would be a useless model at the threshold users read
            self.new_best = not one_class
            if self.new_best:
                self.top = val  # the first two-class epoch: the band starts here
        else:
            # a value within `tolerance` of the best one seen is a tie (small validation sets make AUROC noisy),
            # and ties go to the lower validation loss: the better calibrated model at the 0.5 threshold
            if math.isnan(self.top) or self.comp(val, self.top):
                self.top = val
            kept_in_band = self.epoch_kept is not None and self._in_band(self.best)
            self.new_best = self._in_band(val) and (not kept_in_band or loss < self.best_loss)
        if self.new_best:
            self.best, self.best_loss, self.epoch_kept, self.best_one_class = val, loss, self.epoch, one_class
            self._save(self.fname)

    def _in_band(self, value: float) -> bool:
        slack = self.tolerance + 1e-9
        return value >= self.top - slack if self.comp is np.greater else value <= self.top + slack

    def _one_class(self) -> bool:
        """Whether this epoch's validation predictions were all one class (TrainingWatch counts them)."""
        watch = getattr(self.learn, "training_watch", None)
        return watch is not None and watch.one_class_index() is not None

    def _say(self, text: str) -> None:
        from fastai.imports import noop  # the one learn.no_logging() puts in place

        if self.verbose and self.learn.logger is not noop:  # learn.no_logging() silences it, like the epoch table
            print(text)

    def after_fit(self, **kwargs):
        from fastai.learner import load_model

        try:
            if not self.fitting:
                return
            if self.epoch_kept is None:
                if self.n_epoch:
                    self._say(f"No epoch had a usable validation {self.monitor} (nan: is only one class in the validation "
                          "set?), so the weights of the last epoch are kept.")
                return
            last_epoch = self.n_epoch - 1
            if self.epoch_kept != last_epoch and self._file().exists():  # (a distributed child rank saves nothing)
                load_model(self._file(), self.learn.model, None, with_opt=False, device=self.dls.device)
            where = ("the last epoch" if self.epoch_kept == last_epoch else
                     f"the last epoch ({last_epoch}) had {self.last:.4g}")
            rank = ("the best of this run" if not self.comp(self.top, self.best) else
                    f"within {self.tolerance:g} of this run's best, {self.top:.4g}, with a lower validation loss")
            self._say(f"Kept the model of epoch {self.epoch_kept} ({self.monitor} {self.best:.4g} on the validation "
                      f"set, {rank}; {where}).")
        finally:
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None
            TrackerCallback.after_fit(self)


class TrainingWatch(Callback):
    """Warn when validation predictions collapse to one class or the validation loss diverges.

    Parameters
    ----------
    diverge_ratio
        The validation loss "diverges" when, after its best epoch, it rises to
        more than this many times its best value (and by more than 0.5).

    After a fit, ``collapsed`` lists ``(epoch, class name)`` for every epoch
    whose validation predictions were all one class (while the validation set
    holds several) - leaving out the first epochs of a run that had not begun
    to learn yet, unless the run never did - and ``diverged`` tells whether
    the loss ran away.

    Examples
    --------
    >>> TrainingWatch().diverge_ratio
    3.0
    """

    order = 70  # after the recorder has logged the epoch and after KeepBestEpoch (61)

    def __init__(self, diverge_ratio: float = 3.0):
        self.diverge_ratio = diverge_ratio
        self.collapsed: List[Tuple[int, str]] = []
        self.diverged = False

    def before_fit(self):
        self.run = not hasattr(self, "lr_finder") and not hasattr(self, "gather_preds")
        self.fitting = False

    def before_train(self):
        if not self.fitting:  # the first training pass of a real fit (learn.validate() has none)
            self.collapsed, self.diverged, self.losses, self.fitting = [], False, [], True

    def before_validate(self):
        self.pred_counts, self.targ_counts = None, None

    def after_batch(self):
        if self.training or getattr(self.learn, "pred", None) is None or not len(self.yb):
            return
        info = getattr(self.learn, "radnb", None)
        if info is not None and info.multilabel:
            return
        pred = self.learn.pred[0] if isinstance(self.learn.pred, (tuple, list)) else self.learn.pred
        if pred.ndim < 2 or pred.shape[1] < 2:
            return
        import torch

        n = pred.shape[1]
        p = torch.bincount(pred.detach().argmax(1).flatten().cpu(), minlength=n)[:n]
        t = torch.bincount(self.yb[0].detach().long().flatten().cpu().clamp(0, n - 1), minlength=n)[:n]
        self.pred_counts = p if self.pred_counts is None else self.pred_counts + p
        self.targ_counts = t if self.targ_counts is None else self.targ_counts + t

    def after_epoch(self):
        if not self.fitting:
            return
        names = list(self.recorder.metric_names[1:])
        if "valid_loss" in names and self.recorder.values:
            self.losses.append(float(self.recorder.values[-1][names.index("valid_loss")]))
        k = self.one_class_index()
        if k is not None:
            vocab = getattr(getattr(self.learn, "radnb", None), "vocab", None) or []
            self.collapsed.append((self.epoch, str(vocab[k]) if k < len(vocab) else str(k)))

    def one_class_index(self) -> Optional[int]:
        """The class every image of the last validation pass was predicted as (while it held several), else None."""
        p, t = getattr(self, "pred_counts", None), getattr(self, "targ_counts", None)
        if p is None or t is None or int((t > 0).sum()) < 2 or int((p > 0).sum()) != 1:
            return None
        return int(p.argmax())

    def _divergence(self) -> Optional[str]:
        losses = np.array(self.losses, dtype=float)
        if not len(losses):
            return None
        if not np.isfinite(losses).all():
            bad = int(np.flatnonzero(~np.isfinite(losses))[0])
            return f"the validation loss became {losses[bad]} at epoch {bad}"
        best = int(losses.argmin())
        after = losses[best:]
        worst = best + int(after.argmax())
        if losses[worst] > self.diverge_ratio * losses[best] and losses[worst] - losses[best] > 0.5:
            return (f"the validation loss rose from {losses[best]:.3g} (epoch {best}) to {losses[worst]:.3g} "
                    f"(epoch {worst})")
        return None

    def after_fit(self):
        if not self.fitting:
            return
        kept = getattr(self.learn, "keep_best_epoch", None)
        kept_epoch = getattr(kept, "epoch_kept", None) if kept is not None else None
        problems = []
        # the first epochs of a run often predict one class before learning starts: that is no problem; a
        # collapse after the model had told the classes apart (or one that never ends) is
        n_epochs = len(self.losses) or (self.collapsed[-1][0] + 1 if self.collapsed else 0)
        leading = 0
        while leading < len(self.collapsed) and self.collapsed[leading][0] == leading:
            leading += 1
        if leading < n_epochs:
            # ...unless the model kept is one of them: then it is the model the user goes on with
            self.collapsed = [c for i, c in enumerate(self.collapsed) if i >= leading or c[0] == kept_epoch]
        if self.collapsed:
            epochs = [e for e, _ in self.collapsed]
            classes = sorted({c for _, c in self.collapsed})
            span = f"epoch {epochs[0]}" if len(epochs) == 1 else f"{len(epochs)} epochs ({_ranges(epochs)})"
            problems.append(f"in {span} every validation image was predicted {' / '.join(map(repr, classes))} - the "
                            "model gave up telling the classes apart at the 0.5 threshold")
        reason = self._divergence()
        if reason:
            self.diverged = True
            problems.append(reason + " - training became unstable")
        if not problems:
            return
        kept_text = ""
        if kept_epoch is not None:
            collapsed_kept = any(e == kept_epoch for e, _ in self.collapsed)
            kept_text = (f" The model kept (epoch {kept_epoch}) is itself one of the collapsed epochs: its ranking "
                         "(AUROC) may still be good, but at 0.5 it calls every image the same; choose a threshold "
                         "with radnb.evaluate(learn).thresholds before reading its sensitivity."
                         if collapsed_kept else
                         f" radnb kept the model of epoch {kept_epoch} (its best validation epoch, not a "
                         "collapsed one), so this run is usable.")
        warnings.warn("Training problem: " + "; ".join(problems) + "." + kept_text +
                      " Usually the learning rate is too high for this data or the run too long: try "
                      "learn.fit_one_cycle(n, learn.lr / 3) on a freshly built learner, or fewer epochs.",
                      TrainingWarning, stacklevel=2)


def _ranges(epochs: List[int]) -> str:
    """[3, 4, 5, 9] -> '3-5, 9'."""
    out, start, prev = [], epochs[0], epochs[0]
    for e in epochs[1:] + [None]:
        if e is not None and e == prev + 1:
            prev = e
            continue
        out.append(f"{start}-{prev}" if prev != start else f"{start}")
        if e is not None:
            start = prev = e
    return ", ".join(out)
