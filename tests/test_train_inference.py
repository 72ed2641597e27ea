"""One inference path: predict, evaluate, top_losses, Grad-CAM, predict_volume and the learner's own
(fastai) validation pipeline give the same probabilities for the same images."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import radnb.train as rt
from radnb.train.callbacks import TrainingWarning
from radnb.train import inference as inf
from radnb.train.interpret import gradcam, top_losses


@pytest.fixture
def small_classifier(tmp_data_dir):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 100, (24, 32, 32)).astype("float32")
    x[1::2, 8:20, 8:20] += 300  # the "opacity" class is brighter in the middle
    labels = ["normal", "opacity"] * 12
    dls = rt.classification_dls(x, label=labels, patient=range(24), windows="soft_tissue", size=32, bs=8,
                                augment=False, seed=1)
    learn = rt.classifier(dls, arch="compact", keep_best=False)
    with learn.no_bar(), learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingWarning)  # two epochs on noise may collapse; irrelevant here
        learn.fit_one_cycle(2)
    return learn, x


def test_predict_evaluate_and_the_training_pipeline_agree(small_classifier):
    learn, x = small_classifier
    valid = list(learn.dls.valid_idx)
    assert len(valid) >= 4
    pos = learn.radnb.positive_name
    by_predict = inf.predict(learn, x[valid], cache=False)[f"prob_{pos}"].to_numpy()
    report = rt.evaluate(learn, n_bootstrap=20)
    by_evaluate = report.table[f"prob_{pos}"].to_numpy()
    np.testing.assert_allclose(by_evaluate, by_predict, rtol=1e-5, atol=1e-6)
    # the learner's fastai validation DataLoader (batch Normalize transform) is the same preparation
    with learn.no_bar():
        fastai_probs, _ = learn.get_preds(ds_idx=1)
    k = list(learn.dls.vocab).index(pos)
    np.testing.assert_allclose(fastai_probs[:, k].numpy(), by_predict, rtol=1e-4, atol=1e-5)
    # Grad-CAM explains the same probabilities
    cam = gradcam(learn, 0)
    np.testing.assert_allclose(cam.probabilities[k], by_predict[0], rtol=1e-5, atol=1e-6)


def test_top_losses_ranks_with_fastai_and_reports_predict_probabilities(small_classifier):
    learn, x = small_classifier
    worst = top_losses(learn, k=5)
    assert list(worst.loss) == sorted(worst.loss, reverse=True)
    valid = np.array(learn.dls.valid_idx)
    probs = inf.predict(learn, x[valid[worst.valid_index.to_numpy()]], cache=False)
    vocab = list(learn.dls.vocab)
    expected = np.array([probs.loc[i, f"prob_{label}"] for i, label in enumerate(worst.label)])
    np.testing.assert_allclose(worst.prob_of_label.to_numpy(), expected, rtol=1e-5, atol=1e-6)
    # the learner trains with cross-entropy, so its loss is -log p(label)
    np.testing.assert_allclose(worst.loss.to_numpy(), -np.log(expected), rtol=1e-3, atol=1e-4)
    assert set(worst.prediction) <= set(vocab)


def test_forward_probabilities_restores_train_mode_and_batches_consistently():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten())
    net.train()
    prep = inf.Preprocessing(windows=("auto",), size=8, mean=(0.2,), std=(0.5,))
    images = [np.random.default_rng(i).random((1, 8, 8)).astype(np.float32) for i in range(7)]
    one_go = inf.forward_probabilities(net, images, prep, bs=64)
    in_threes = inf.forward_probabilities(net, images, prep, bs=3)
    assert net.training
    np.testing.assert_allclose(one_go, in_threes, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one_go.sum(1), 1.0, rtol=1e-6)
    multilabel = inf.forward_probabilities(net, images, prep, multilabel=True)
    assert multilabel.shape == (7, 2) and not np.allclose(multilabel.sum(1), 1.0)


def test_predict_volume_matches_forward_probabilities_slice_by_slice(tmp_data_dir):
    vols = [np.random.default_rng(i).normal(0, 50, (4, 32, 32)).astype("float32") for i in range(4)]
    dls = rt.segmentation_dls(vols, [(v > 50).astype("uint8") for v in vols], windows="auto", size=32, bs=4)
    learn = rt.segmenter(dls, arch="compact")
    probs = inf.predict_volume(learn, vols[0], probabilities=True, bs=3, cache=False)
    from radnb.train.prep import ArrayItem, SliceItem

    item = ArrayItem(vols[0], name="volume")
    direct = inf.item_probabilities(learn, [SliceItem(item, z) for z in range(4)], bs=2)
    np.testing.assert_allclose(probs, direct, rtol=1e-5, atol=1e-6)
    assert inf.predict_volume(learn, vols[0], cache=False).shape == (4, 32, 32)


def test_focal_loss_is_fastais_and_the_old_name_warns():
    from fastai.losses import FocalLossFlat

    from radnb.train.learners import FocalLoss

    logits, target = torch.randn(6, 3), torch.randint(0, 3, (6,))
    with pytest.warns(DeprecationWarning, match="FocalLossFlat"):
        old = FocalLoss(gamma=2.0)
    p_t = torch.softmax(logits, 1)[torch.arange(6), target]
    by_hand = (-(1 - p_t) ** 2 * torch.log(p_t)).mean()
    assert float(old(logits, target)) == pytest.approx(float(by_hand), rel=1e-5)
    assert float(FocalLossFlat()(logits, target)) == pytest.approx(float(by_hand), rel=1e-5)
    seg_logits, seg_target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert float(FocalLoss()(seg_logits, seg_target)) == pytest.approx(
            float(FocalLossFlat(axis=1)(seg_logits, seg_target)), rel=1e-5)


def test_classifier_losses_are_fastais(small_classifier):
    from fastai.losses import CrossEntropyLossFlat, FocalLossFlat

    learn, _ = small_classifier
    focal = rt.classifier(learn.dls, arch="compact", loss="focal")
    assert isinstance(focal.loss_func, FocalLossFlat)
    weighted = rt.classifier(learn.dls, arch="compact", loss="weighted_ce")
    assert isinstance(weighted.loss_func, CrossEntropyLossFlat)
    assert weighted.loss_func.func.weight is not None
