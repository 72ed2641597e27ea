"""Evaluation reports: ROC with a bootstrap confidence interval, confusion matrix, thresholds, calibration.

Numbers come back as data (floats, ``pandas.DataFrame``); figures are matplotlib
and made only when asked (``report.plot()``).

The 95 % confidence interval of the AUROC is a *patient-level* bootstrap:
patients (not images) are resampled with replacement, because images of one
patient are correlated and resampling them independently makes the interval
too narrow.

Examples
--------
>>> import numpy as np, radnb.train as rt
>>> x = np.random.default_rng(0).normal(0, 100, (24, 32, 32)).astype("float32")
>>> dls = rt.classification_dls(x, label=["normal", "opacity"] * 12, patient=range(24), windows="auto", size=32)
>>> report = rt.evaluate(rt.classifier(dls, arch="compact"), n_bootstrap=50)
>>> sorted(report.confusion.columns.tolist())
['predicted normal', 'predicted opacity']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..errors import InvalidArgumentError
from . import metrics as M
from .metrics import bootstrap_auroc  # defined beside auroc (numpy only); importable from here as before

__all__ = ["evaluate", "ClassificationReport", "SegmentationReport", "bootstrap_auroc", "calibration_table",
           "expected_calibration_error", "threshold_table"]


def threshold_table(y_true: Sequence[int], y_score: Sequence[float],
                    thresholds: Optional[Sequence[float]] = None) -> pd.DataFrame:
    """Sensitivity, specificity, PPV, NPV... at each threshold (default 0.05 to 0.95).

    Examples
    --------
    >>> float(threshold_table([0, 1], [0.2, 0.8], [0.5]).loc[0, "sensitivity"])
    1.0
    """
    if thresholds is None:
        thresholds = np.round(np.arange(0.05, 0.96, 0.05), 2)
    return pd.DataFrame([M.threshold_metrics(y_true, y_score, t) for t in thresholds])


def calibration_table(y_true: Sequence[int], y_score: Sequence[float], n_bins: int = 10) -> pd.DataFrame:
    """Reliability bins: mean predicted probability vs observed fraction of positives per bin.

    Examples
    --------
    >>> calibration_table([0, 1, 1], [0.05, 0.95, 0.9], n_bins=2)["count"].tolist()
    [1, 2]
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(y_score, dtype=float)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(s, edges[1:-1], right=False), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = which == b
        if m.any():
            rows.append({"bin_low": edges[b], "bin_high": edges[b + 1], "mean_predicted": float(s[m].mean()),
                         "fraction_positive": float(y[m].mean()), "count": int(m.sum())})
    return pd.DataFrame(rows)


def expected_calibration_error(y_true: Sequence[int], y_score: Sequence[float], n_bins: int = 10) -> float:
    """Expected calibration error: the count-weighted mean gap between predicted probability and observed frequency.

    The bins are those of :func:`calibration_table`; ECE = sum over bins of
    (images in bin / all images) * |mean predicted probability - fraction positive|.

    Examples
    --------
    >>> expected_calibration_error([0, 1, 1, 0], [0.1, 0.9, 0.9, 0.1], n_bins=10)
    0.1
    """
    table = calibration_table(y_true, y_score, n_bins)
    if table.empty:
        return float("nan")
    gaps = (table["mean_predicted"] - table["fraction_positive"]).abs()
    return round(float((gaps * table["count"]).sum() / table["count"].sum()), 12)


@dataclass
class ClassificationReport:
    """Results of :func:`evaluate` for a classifier. All numbers are plain data.

    Attributes
    ----------
    table
        One row per image: item, patient, label, probability of the positive class, prediction.
    positive, threshold
        The positive class and the decision threshold used.
    auc, auc_ci
        AUROC and its patient-level bootstrap 95 % interval.
    roc
        DataFrame fpr, tpr, threshold.
    confusion
        2x2 DataFrame (rows actual, columns predicted) at ``threshold``.
    metrics
        Sensitivity, specificity, PPV, NPV, balanced accuracy, accuracy at ``threshold``.
    thresholds
        The same metrics over a grid of thresholds.
    calibration
        Reliability bins.
    per_patient, patient_auc
        Per-patient aggregation (a patient is positive if any image is; score = max
        probability) and the AUROC at patient level.
    """

    table: pd.DataFrame
    positive: str
    negative: str
    threshold: float
    auc: float
    auc_ci: Tuple[float, float]
    roc: pd.DataFrame
    confusion: pd.DataFrame
    metrics: Dict[str, float]
    thresholds: pd.DataFrame
    calibration: pd.DataFrame
    per_patient: pd.DataFrame
    patient_auc: float
    per_class_auc: Dict[str, float] = field(default_factory=dict)

    @property
    def ece(self) -> float:
        """Expected calibration error of the positive-class probability (see :func:`expected_calibration_error`)."""
        c = self.calibration
        if c is None or c.empty:
            return float("nan")
        gaps = (c["mean_predicted"] - c["fraction_positive"]).abs()
        return float((gaps * c["count"]).sum() / c["count"].sum())

    def summary(self) -> pd.DataFrame:
        """Headline numbers as a one-column table."""
        rows = {"AUROC": self.auc, "AUROC 95% CI low": self.auc_ci[0], "AUROC 95% CI high": self.auc_ci[1],
                "patient-level AUROC": self.patient_auc, "threshold": self.threshold}
        rows.update({k: v for k, v in self.metrics.items() if k not in ("threshold",)})
        rows["images"] = len(self.table)
        rows["patients"] = len(self.per_patient)
        # counts (tp, fp, tn, fn, images, patients) stay whole numbers: an object column keeps each type
        rows = {k: int(v) if float(v).is_integer() and k in ("tp", "fp", "tn", "fn", "images", "patients") else v
                for k, v in rows.items()}
        return pd.DataFrame({"value": pd.Series(rows, dtype=object)})

    def _repr_html_(self) -> str:
        return (f"<b>{self.positive} vs {self.negative}</b>: AUROC {self.auc:.3f} "
                f"(95% CI {self.auc_ci[0]:.3f}–{self.auc_ci[1]:.3f})" + self.summary().to_html(float_format=lambda v: f"{v:.3f}"))

    def __repr__(self) -> str:
        m = self.metrics
        return (f"ClassificationReport({self.positive} vs {self.negative}: AUROC {self.auc:.3f} "
                f"[{self.auc_ci[0]:.3f}, {self.auc_ci[1]:.3f}], at {self.threshold:g}: sensitivity "
                f"{m['sensitivity']:.3f}, specificity {m['specificity']:.3f}; {len(self.table)} images)")

    # ---- figures
    def plot_roc(self, ax=None):
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(4, 4))[1]
        ax.plot(self.roc.fpr, self.roc.tpr, lw=2, label=f"AUROC {self.auc:.3f} ({self.auc_ci[0]:.2f}–{self.auc_ci[1]:.2f})")
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
        ax.scatter([1 - self.metrics["specificity"]], [self.metrics["sensitivity"]], color="red", zorder=3,
                   label=f"threshold {self.threshold:g}")
        ax.set(xlabel="1 - specificity (false-positive rate)", ylabel="sensitivity", title="ROC curve", xlim=(0, 1), ylim=(0, 1.02))
        ax.legend(loc="lower right", fontsize=8)
        return ax

    def plot_confusion(self, ax=None):
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(3.5, 3.5))[1]
        values = self.confusion.to_numpy()
        ax.imshow(values, cmap="Blues")
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, str(v), ha="center", va="center", color="black", fontsize=12)
        ax.set_xticks(range(values.shape[1]), self.confusion.columns, rotation=20)
        ax.set_yticks(range(values.shape[0]), self.confusion.index)
        ax.set_title(f"Confusion matrix at {self.threshold:g}")
        return ax

    def plot_calibration(self, ax=None):
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(4, 4))[1]
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
        c = self.calibration
        ax.plot(c.mean_predicted, c.fraction_positive, "o-")
        ax.set(xlabel="mean predicted probability", ylabel="observed fraction positive", title="Calibration",
               xlim=(0, 1), ylim=(0, 1))
        return ax

    def plot_thresholds(self, ax=None):
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(4, 4))[1]
        t = self.thresholds
        for col in ("sensitivity", "specificity", "ppv", "npv"):
            ax.plot(t.threshold, t[col], label=col)
        ax.axvline(self.threshold, color="grey", lw=1, ls=":")
        ax.set(xlabel="threshold", ylim=(0, 1.02), title="Metrics vs threshold")
        ax.legend(fontsize=8)
        return ax

    def plot(self):
        """All four figures in one matplotlib ``Figure``."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 4, figsize=(17, 4))
        self.plot_roc(axes[0])
        self.plot_confusion(axes[1])
        self.plot_thresholds(axes[2])
        self.plot_calibration(axes[3])
        fig.tight_layout()
        return fig


@dataclass
class SegmentationReport:
    """Results of :func:`evaluate` for a segmenter.

    Attributes
    ----------
    per_case
        One row per validation case (volume, or image for 2-D data) and foreground
        class: case, class, dice, iou (and hd95 in pixels if requested).
    mean_dice, mean_iou
        Per class, averaged over cases (``nan`` cases, where the class is absent
        from both prediction and reference, are skipped).
    mean_foreground_dice
        Mean of ``mean_dice`` over classes.
    """

    per_case: pd.DataFrame
    mean_dice: Dict[str, float]
    mean_iou: Dict[str, float]
    mean_foreground_dice: float

    def __repr__(self) -> str:
        per = ", ".join(f"{k} {v:.3f}" for k, v in self.mean_dice.items())
        return f"SegmentationReport(mean foreground Dice {self.mean_foreground_dice:.3f}: {per}; {self.per_case['case'].nunique()} cases)"

    def plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        classes = list(self.mean_dice)
        data = [self.per_case.loc[self.per_case["class"] == c, "dice"].dropna() for c in classes]
        ax.boxplot(data, labels=classes)
        ax.set(ylabel="Dice per case", ylim=(0, 1.02), title=f"Mean foreground Dice {self.mean_foreground_dice:.3f}")
        return fig


def _cases_to_score(learner, data):
    """What :func:`evaluate` scores -> (DataLoaders or None, their DatasetInfo or None, records, whole cases?).

    DataLoaders built by hand with fastai get a record derived from fastai
    (:meth:`~radnb.train.record.DatasetInfo.from_fastai`): their validation set, their vocab.
    """
    from .record import dataset_info

    own = getattr(learner, "dls", None)
    if data is None:
        if own is None:
            raise InvalidArgumentError("Pass the data to evaluate on: evaluate(learn, test_table) or "
                                       "evaluate(learn, dls) (from radnb.classification_dls / segmentation_dls).")
        info = dataset_info(own, derive=True)
        return own, info, info.valid_records, False
    if isinstance(data, str) and data.lower() == "test":
        info = dataset_info(own)
        if info is None or not info.test_records:
            raise InvalidArgumentError(
                "The learner's DataLoaders hold no test rows: give the table a split column with 'test' rows "
                "(radnb.datasets.load(...) tables have one), or pass the test data: evaluate(learn, test_table).")
        return own, info, list(info.test_records), True
    if hasattr(data, "train_ds") and hasattr(data, "valid_ds"):  # DataLoaders: radnb's, or fastai's built by hand
        info = dataset_info(data, derive=True)
        return data, info, info.valid_records, False
    from ..errors import RadnbError
    from .data import _classification_records, _hold_out_test

    try:
        records, _, _ = _classification_records(data, "label", "auto", "auto", None, "auto", None)
    except RadnbError as exc:
        raise InvalidArgumentError(f"Could not read the test data: {exc}") from None
    rest, test = _hold_out_test(records)
    if not test and any(r.split for r in rest):
        raise InvalidArgumentError("The split column has no 'test' rows, so there is nothing held out to score; "
                                   "evaluate(learn) scores the validation rows.")
    return own, dataset_info(own), test or rest, True


def _learner_cache(learner):
    from .record import dataset_info

    info = dataset_info(getattr(learner, "dls", None))
    return info.cache if info is not None else None


def _probabilities(learner, items, bs=64):
    from .inference import item_probabilities, model_and_info

    return item_probabilities(learner, items, bs=bs, cache=_learner_cache(learner)), model_and_info(learner)[1]


def _fastai_outputs(learner, dl):
    """(probabilities, targets) of a fastai DataLoader's batches as its own transforms prepare them: the way to
    score DataLoaders built by hand with fastai, whose preprocessing radnb does not know."""
    import torch

    from .inference import activation, model_and_info

    model, info = model_and_info(learner)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    probs, targets = [], []
    try:
        with torch.no_grad():
            for *xb, yb in dl:
                probs.append(activation(model(*(x.to(dev) for x in xb)).float(), info.multilabel).cpu())
                targets.append(torch.as_tensor(yb).cpu())
    finally:
        model.train(was_training)
    return torch.cat(probs).numpy(), torch.cat(targets).numpy()


def _scores(learner, dls, data, records, whole_cases: bool, bs: int = 64):
    """Probabilities of ``records``: through radnb's preprocessing, or the fastai loaders' own transforms."""
    from .inference import model_and_info

    if data is not None and data.origin == "fastai" and not whole_cases:
        return _fastai_outputs(learner, dls.valid)[0], model_and_info(learner)[1]
    return _probabilities(learner, [r.item for r in records], bs=bs)


def evaluate(learner: Any, dls: Any = None, *, threshold: float = 0.5, n_bootstrap: int = 1000, seed: int = 0,
             hd95: bool = False):
    """Evaluate on the validation set, a held-out test split or other data, and return a report.

    Parameters
    ----------
    learner
        From :func:`radnb.classifier` / :func:`radnb.segmenter`, or :func:`radnb.load_model`.
    dls
        What to score (the model's own preprocessing - windows, size,
        normalisation - is always used):

        * ``None`` (default): the learner's validation rows;
        * ``"test"``: the rows of the learner's table marked ``split == "test"``
          (held out by :func:`radnb.classification_dls`, never trained on);
        * a table, folder, CSV or :func:`radnb.datasets.load` dataset: its
          ``test`` rows (every row when it has no split column), so
          ``radnb.evaluate(learn, test)`` scores a test split in one line;
        * DataLoaders: their validation rows (``valid_patients=`` listing every
          patient makes a test set of them).
    threshold
        Decision threshold for the positive class (binary classifiers).
    n_bootstrap, seed
        Patient-level bootstrap of the AUROC's 95 % interval.
    hd95
        Also compute the 95th-percentile Hausdorff distance (segmentation; slower).

    Returns
    -------
    ClassificationReport or SegmentationReport

    Examples
    --------
    >>> import numpy as np, radnb.train as rt
    >>> x = np.random.default_rng(0).normal(0, 100, (12, 32, 32)).astype("float32")
    >>> learn = rt.classifier(rt.classification_dls(x, label=["normal", "opacity"] * 6, patient=range(12)), arch="compact")
    >>> report = evaluate(learn, n_bootstrap=50)
    >>> type(report).__name__, 0.0 <= report.auc <= 1.0, report.confusion.shape
    ('ClassificationReport', True, (2, 2))
    """
    from .inference import model_and_info

    _, info = model_and_info(learner)
    dls, data, records, whole_cases = _cases_to_score(learner, dls)
    if info.kind == "segmenter":
        return _evaluate_segmentation(learner, dls, data, records, info, hd95, whole_cases)
    items = [r.item for r in records]
    probs, info = _scores(learner, dls, data, records, whole_cases)
    vocab = list(info.vocab)
    patients = [str(r.patient) for r in records]
    if info.multilabel or info.positive is None:
        # several classes: one-vs-rest AUROCs and a full confusion matrix
        if info.multilabel:
            y = np.array([r.label for r in records], dtype=int)
            per = M.auroc(y, probs, average=None)
            pred = (probs >= threshold).astype(int)
            conf = pd.DataFrame({"label": vocab, "positives": y.sum(0), "predicted": pred.sum(0)})
        else:
            y_idx = np.array([vocab.index(str(r.label)) for r in records])
            y = np.eye(len(vocab), dtype=int)[y_idx]
            per = M.auroc(y, probs, average=None)
            pred_idx = probs.argmax(1)
            conf = pd.crosstab(pd.Series([vocab[i] for i in y_idx], name="actual"),
                               pd.Series([vocab[i] for i in pred_idx], name="predicted"))
        table = pd.DataFrame({"item": [str(i) for i in items], "patient": patients,
                              **{f"prob_{v}": probs[:, k] for k, v in enumerate(vocab)}})
        auc = float(np.nanmean(per))
        return ClassificationReport(table, "(macro)", "(rest)", threshold, auc, (float("nan"), float("nan")),
                                    pd.DataFrame(), conf, {"sensitivity": float("nan"), "specificity": float("nan")},
                                    pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), float("nan"),
                                    per_class_auc=dict(zip(vocab, map(float, per))))
    pos = info.positive
    neg = 1 - pos
    y = np.array([1 if str(r.label) == vocab[pos] else 0 for r in records])
    score = probs[:, pos]
    fpr, tpr, thr = M.roc_curve(y, score)
    auc = M.auroc(y, score)
    ci = bootstrap_auroc(y, score, patients, n_bootstrap=n_bootstrap, seed=seed)
    c = M.confusion_counts(y, score, threshold)
    confusion = pd.DataFrame([[c["tn"], c["fp"]], [c["fn"], c["tp"]]],
                             index=[f"actual {vocab[neg]}", f"actual {vocab[pos]}"],
                             columns=[f"predicted {vocab[neg]}", f"predicted {vocab[pos]}"])
    table = pd.DataFrame({"item": [str(i) for i in items], "patient": patients, "label": [str(r.label) for r in records],
                          f"prob_{vocab[pos]}": score,
                          "prediction": np.where(score >= threshold, vocab[pos], vocab[neg])})
    per_patient = (pd.DataFrame({"patient": patients, "y": y, "score": score})
                   .groupby("patient").agg(label=("y", "max"), prob_max=("score", "max"), prob_mean=("score", "mean"),
                                           n_images=("y", "size")).reset_index())
    patient_auc = M.auroc(per_patient.label.to_numpy(), per_patient.prob_max.to_numpy())
    return ClassificationReport(
        table=table, positive=vocab[pos], negative=vocab[neg], threshold=threshold, auc=auc, auc_ci=ci,
        roc=pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr}), confusion=confusion,
        metrics=M.threshold_metrics(y, score, threshold), thresholds=threshold_table(y, score),
        calibration=calibration_table(y, score), per_patient=per_patient, patient_auc=patient_auc,
        per_class_auc={vocab[pos]: auc})


def _evaluate_segmentation(learner, dls, data, records, info, with_hd95: bool, whole_cases: bool = False) -> SegmentationReport:
    from .data import _is_volume
    from .inference import predict_volume
    from .prep import SliceItem, load_mask

    codes = list(info.vocab)
    n = len(codes)
    size = info.prep.size if info.preprocessing is not None else None  # None: fastai DataLoaders by hand
    rows = []
    cases = []
    cache = data.cache if data is not None else None
    volumes = data.volumes if data is not None else []
    if data is not None and data.origin == "fastai" and not whole_cases:  # fastai DataLoaders built by hand
        probs, targets = _fastai_outputs(learner, dls.valid)
        cases = [(str(r.item), p.argmax(0), t) for r, p, t in zip(records, probs, targets)]
    elif whole_cases:  # held-out test cases: (image or volume, mask, patient)
        for r in records:
            if _is_volume(r.item):
                pred = predict_volume(learner, r.item, cache=cache)
                ref = np.stack([load_mask(SliceItem(r.label, z), size, cache) for z in range(pred.shape[0])])
            else:
                pred = _probabilities(learner, [r.item], bs=1)[0][0].argmax(0)
                ref = load_mask(r.label, size, cache)
            cases.append((str(r.patient), pred, ref))
    elif volumes:
        for img, msk, pid in volumes:
            pred = predict_volume(learner, img, cache=cache)
            ref = np.stack([load_mask(SliceItem(msk, z), size, cache) for z in range(pred.shape[0])])
            cases.append((str(pid), pred, ref))
    else:
        items = [r.item for r in records]
        probs, _ = _probabilities(learner, items, bs=32)
        for r, p in zip(records, probs):
            cases.append((str(r.item), p.argmax(0), load_mask(r.label, size, cache)))
    for case, pred, ref in cases:
        d, j = M.dice(pred, ref, n), M.iou(pred, ref, n)
        for k in range(1, n):
            row = {"case": case, "class": codes[k], "dice": d[k - 1], "iou": j[k - 1]}
            if with_hd95:
                row["hd95"] = M.hd95(pred == k, ref == k)
            rows.append(row)
    per_case = pd.DataFrame(rows)
    mean_dice = per_case.groupby("class", sort=False)["dice"].mean().to_dict()
    mean_iou = per_case.groupby("class", sort=False)["iou"].mean().to_dict()
    return SegmentationReport(per_case, mean_dice, mean_iou, float(np.nanmean(list(mean_dice.values()))))
