"""radnb.train.metrics against scikit-learn and textbook formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from radnb.train import metrics as M


@pytest.fixture
def binary_case():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    # rounded scores create many ties, the case naive implementations get wrong
    s = np.round(np.clip(y * 0.3 + rng.normal(0.4, 0.25, 200), 0, 1), 1)
    return y, s


def test_auroc_matches_sklearn_with_ties(binary_case):
    y, s = binary_case
    assert M.auroc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)


def test_auroc_multilabel_macro_and_per_label():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (150, 4))
    s = np.clip(y * 0.4 + rng.random((150, 4)) * 0.8, 0, 1)
    per = M.auroc(y, s, average=None)
    expected = skm.roc_auc_score(y, s, average=None)
    np.testing.assert_allclose(per, expected, atol=1e-12)
    assert M.auroc(y, s) == pytest.approx(skm.roc_auc_score(y, s, average="macro"))


def test_auroc_undefined_with_one_class_is_nan():
    assert math.isnan(M.auroc([1, 1, 1], [0.2, 0.5, 0.9]))


def test_roc_curve_matches_sklearn(binary_case):
    y, s = binary_case
    fpr, tpr, thr = M.roc_curve(y, s)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert np.trapezoid(tpr, fpr) == pytest.approx(M.auroc(y, s))


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_threshold_metrics_match_sklearn(binary_case, threshold):
    y, s = binary_case
    pred = (s >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert M.confusion_counts(y, s, threshold) == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    assert M.sensitivity(y, s, threshold) == pytest.approx(skm.recall_score(y, pred))
    assert M.specificity(y, s, threshold) == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert M.ppv(y, s, threshold) == pytest.approx(skm.precision_score(y, pred))
    assert M.npv(y, s, threshold) == pytest.approx(skm.precision_score(y, pred, pos_label=0))
    assert M.balanced_accuracy(y, s, threshold) == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert M.accuracy(y, s, threshold) == pytest.approx(skm.accuracy_score(y, pred))


def test_zero_denominators_are_nan_not_zero():
    assert math.isnan(M.sensitivity([0, 0], [0.9, 0.1]))  # no positive cases
    assert math.isnan(M.ppv([0, 1], [0.1, 0.2]))  # nothing called positive


def test_labels_must_be_binary():
    with pytest.raises(M.InvalidArgumentError):
        M.sensitivity([0, 2], [0.1, 0.9])


def test_dice_and_iou_per_class_match_sklearn():
    rng = np.random.default_rng(2)
    target = rng.integers(0, 3, (40, 40))
    pred = np.where(rng.random((40, 40)) < 0.7, target, rng.integers(0, 3, (40, 40)))
    d, j = M.dice(pred, target, 3), M.iou(pred, target, 3)
    np.testing.assert_allclose(d, skm.f1_score(target.ravel(), pred.ravel(), labels=[1, 2], average=None))
    np.testing.assert_allclose(j, skm.jaccard_score(target.ravel(), pred.ravel(), labels=[1, 2], average=None))
    np.testing.assert_allclose(j, d / (2 - d))


def test_dice_empty_mask_conventions():
    empty = np.zeros((8, 8), int)
    some = empty.copy()
    some[2:4, 2:4] = 1
    assert math.isnan(M.dice(empty, empty, 2)[0])  # nothing to find, nothing found: undefined
    assert M.dice(some, empty, 2)[0] == 0.0  # false positive on an empty reference
    assert M.dice(empty, some, 2)[0] == 0.0  # missed everything
    assert M.dice(some, some)[0] == 1.0


def test_hd95_reference_values():
    a = np.zeros((30, 30), bool)
    a[10:20, 10:20] = True
    b = np.roll(a, 3, axis=0)
    assert M.hd95(a, b) == pytest.approx(3.0)
    assert M.hd95(a, b, spacing=(2.0, 1.0)) == pytest.approx(6.0)
    assert M.hd95(a, a) == 0.0
    assert math.isnan(M.hd95(np.zeros_like(a), np.zeros_like(a)))
    assert M.hd95(a, np.zeros_like(a)) == math.inf


class _FakeLearn:
    def __init__(self, pred, targ):
        self.pred, self.yb = pred, (targ,)


def test_fastai_metric_wrappers_agree_with_numpy(binary_case):
    y, s = binary_case
    logits = torch.tensor(np.stack([np.zeros_like(s), np.log(s + 1e-3) - np.log(1 - s + 1e-3)], 1), dtype=torch.float32)
    probs = torch.softmax(logits, 1)[:, 1].numpy()
    for metric, ref in [(M.AUROC(), M.auroc(y, probs)), (M.Sensitivity(), M.sensitivity(y, probs)),
                        (M.Specificity(), M.specificity(y, probs)), (M.BalancedAccuracy(), M.balanced_accuracy(y, probs))]:
        metric.reset()
        for chunk in range(0, 200, 64):  # accumulated over several batches
            metric.accumulate(_FakeLearn(logits[chunk:chunk + 64], torch.tensor(y[chunk:chunk + 64])))
        assert metric.value == pytest.approx(ref, abs=1e-6), metric.name


def test_fastai_dice_pools_pixels_over_batches():
    rng = np.random.default_rng(3)
    target = rng.integers(0, 3, (4, 16, 16))
    pred_labels = np.where(rng.random((4, 16, 16)) < 0.8, target, 0)
    logits = torch.nn.functional.one_hot(torch.tensor(pred_labels), 3).permute(0, 3, 1, 2).float() * 5
    metric = M.ForegroundDice(3)
    metric.reset()
    metric.accumulate(_FakeLearn(logits[:2], torch.tensor(target[:2])))
    metric.accumulate(_FakeLearn(logits[2:], torch.tensor(target[2:])))
    assert metric.value == pytest.approx(np.nanmean(M.dice(pred_labels, target, 3)))


def test_metrics_and_evaluation_helpers_import_without_torch_or_fastai():
    import subprocess
    import sys

    code = ("import sys\n"
            "import radnb.train.metrics as M, radnb.train.evaluate, radnb.grading.checks.nb06_capstone\n"
            "assert M.auroc([0, 1], [0.2, 0.7]) == 1.0\n"
            "print(sorted(m for m in ('torch', 'fastai') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_fastai_metric_factories_import_fastai_without_the_jit_warning():
    import subprocess
    import sys

    code = ("import warnings\n"
            "warnings.simplefilter('always')\n"
            "with warnings.catch_warnings(record=True) as seen:\n"
            "    warnings.simplefilter('always')\n"
            "    import radnb.train.metrics as M\n"
            "    m = M.AUROC()\n"
            "import fastai.metrics\n"
            "assert isinstance(m, fastai.metrics.AccumMetric)\n"
            "print([str(w.message) for w in seen if 'jit' in str(w.message)])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_fastai_metric_is_nan_before_any_batch_and_for_one_class():
    metric = M.AUROC()
    metric.reset()
    assert math.isnan(metric.value)
    metric.accumulate(_FakeLearn(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 1])))
    assert math.isnan(metric.value)  # only positives: AUROC undefined (sklearn's would raise)


def test_radnb_train_names_and_submodules_resolve_lazily():
    import subprocess
    import sys

    code = ("import sys, radnb.train as rt\n"
            "assert callable(rt.evaluate) and rt.metrics.auroc([0, 1], [0.1, 0.9]) == 1.0\n"
            "assert 'torch' not in sys.modules\n"
            "assert callable(rt.classifier) and callable(rt.prep.load_image) and 'torch' in sys.modules\n"
            "try:\n"
            "    rt.no_such_name\n"
            "except AttributeError as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "no attribute 'no_such_name'" in out.stdout
