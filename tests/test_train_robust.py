"""Training that cannot leak or collapse silently: the split column, evaluate(learn, test), pretrained=True,
batch sizing, native resolution, the best-epoch default and the collapse / divergence warnings."""
from __future__ import annotations

import hashlib
import http.server
import socketserver
import threading
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from fastai.torch_core import set_seed

import radnb
import radnb.train as rt
from radnb.errors import InvalidArgumentError
from radnb.train.callbacks import TrainingWarning, TrainingWatch
from test_train_learn import blob_images


def _png_table(tmp_path, n=24, size=24, broken_test=True):
    """PNG blob images with a split column; the test files are not images at all, so loading one would be seen."""
    from PIL import Image

    x, y, _ = blob_images(n, size=size, seed=3)
    rows = []
    for i in range(n):
        split = "test" if i >= n - 6 else ("valid" if i >= n - 12 else "train")
        path = tmp_path / f"img{i}.png"
        if split == "test" and broken_test:
            path.write_bytes(b"not a png")
        else:
            Image.fromarray(np.clip(x[i], 0, 255).astype(np.uint8)).save(path)
        rows.append({"file": path.name, "label": ["normal", "lesion"][y[i]], "patient_id": f"p{i}", "split": split})
    return pd.DataFrame(rows)


def test_split_column_is_honoured_and_test_rows_are_never_loaded(tmp_path, tmp_data_dir):
    table = _png_table(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a test file read for training would warn "could not be read"
        dls = rt.classification_dls(table, folder=tmp_path, windows=None, device="cpu")
    test_files = {str(tmp_path / f) for f in table.file[table.split == "test"]}
    train_items = {str(dls.radnb.records[i].item) for i in dls.radnb.train_idx}
    valid_items = {str(dls.radnb.records[i].item) for i in dls.radnb.valid_idx}
    assert not (train_items | valid_items) & test_files  # no test item in training or validation
    assert train_items == {str(tmp_path / f) for f in table.file[table.split == "train"]}
    assert valid_items == {str(tmp_path / f) for f in table.file[table.split == "valid"]}
    assert {str(r.item) for r in dls.radnb.test_records} == test_files
    assert dls.radnb.table.split.value_counts().to_dict() == {"train": 12, "valid": 6, "test": 6}
    assert dls.radnb.preprocessing.size == 24  # smaller than the default size: native resolution

    # without the column (split=None) the patient split is back, and the broken test files are reported
    with pytest.warns(UserWarning, match="could not be read"):
        rt.classification_dls(table, folder=tmp_path, windows=None, device="cpu", split=None)


def test_evaluate_scores_the_test_split_in_one_line(tmp_path, tmp_data_dir):
    table = _png_table(tmp_path, broken_test=False)
    dls = rt.classification_dls(table, folder=tmp_path, windows=None, device="cpu")
    learn = rt.classifier(dls)
    report = rt.evaluate(learn, "test", n_bootstrap=20)
    assert sorted(report.table["item"]) == sorted(str(tmp_path / f) for f in table.file[table.split == "test"])
    table_abs = table.assign(file=[str(tmp_path / f) for f in table.file])
    again = rt.evaluate(learn, table_abs, n_bootstrap=20)  # a whole table: its test rows
    assert list(again.table["item"]) == list(report.table["item"])
    np.testing.assert_allclose(again.table["prob_lesion"], report.table["prob_lesion"], rtol=1e-5)
    with pytest.raises(InvalidArgumentError, match="no 'test' rows"):
        rt.evaluate(learn, table_abs[table_abs.split != "test"])


def test_split_values_and_missing_valid_rows(tmp_data_dir):
    x, y, _ = blob_images(20, size=20)
    labels = [["normal", "lesion"][v] for v in y]
    with pytest.raises(InvalidArgumentError, match="'holdout-ish'.*not understood"):
        rt.classification_dls(x, label=labels, patient=range(20), split=["train"] * 19 + ["holdout-ish"],
                              windows=(40, 400), device="cpu")
    # no valid rows: the training rows are split by patient for validation; test rows stay out
    split = ["train"] * 16 + ["test"] * 4
    dls = rt.classification_dls(x, label=labels, patient=np.arange(20) // 2, split=split, windows=(40, 400),
                                device="cpu")
    assert len(dls.radnb.train_idx) and len(dls.radnb.valid_idx) and len(dls.radnb.test_records) == 4
    seen = {str(r.patient) for r in dls.radnb.records}
    assert not seen & {str(r.patient) for r in dls.radnb.test_records}
    # one patient on two sides of the user's column: kept, but said
    with pytest.warns(UserWarning, match="more than one side"):
        rt.classification_dls(x, label=labels, patient=np.arange(20) // 3, split=split, windows=(40, 400),
                              device="cpu")


def test_medmnist_dataset_goes_straight_in(tmp_path, tmp_data_dir):
    from radnb.data.datasets import MedMNISTData, info

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 20), ("val", 8), ("test", 6)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(-1, 1)
    np.savez(tmp_path / "pneumoniamnist.npz", **arrays)
    ds = MedMNISTData(info("pneumoniamnist"), tmp_path / "pneumoniamnist.npz")
    dls = rt.classification_dls(ds, windows=None, device="cpu")
    assert (len(dls.radnb.train_idx), len(dls.radnb.valid_idx), len(dls.radnb.test_records)) == (20, 8, 6)
    assert {r.split for r in dls.radnb.test_records} == {"test"} and dls.radnb.preprocessing.size == 28
    assert not {str(r.item) for r in dls.radnb.records} & {str(r.item) for r in dls.radnb.test_records}
    learn = rt.classifier(dls)
    assert len(rt.evaluate(learn, ds, n_bootstrap=10).table) == 6  # the dataset's own test split


def test_segmentation_split_column(tmp_data_dir):
    rng = np.random.default_rng(0)
    images = [rng.normal(0, 30, (24, 24)).astype("float32") for _ in range(10)]
    masks = []
    for img in images:
        m = np.zeros((24, 24), np.uint8)
        m[6:14, 6:14] = 1
        img[m == 1] += 150
        masks.append(m)
    split = ["train"] * 6 + ["valid"] * 2 + ["test"] * 2
    dls = rt.segmentation_dls(images, masks, split=split, windows=(40, 400), size=24, device="cpu")
    assert (len(dls.radnb.train_idx), len(dls.radnb.valid_idx), len(dls.radnb.test_records)) == (6, 2, 2)
    learn = rt.segmenter(dls)
    report = rt.evaluate(learn, "test")
    assert report.per_case["case"].nunique() == 2


# ------------------------------------------------------------------ pretrained=True
def test_pretrained_true_means_imagenet_offline_and_from_a_local_server(tmp_path, tmp_data_dir, monkeypatch):
    import torchvision

    from radnb.data import weights as W
    from radnb.data.fetch import OfflineError

    x, y, _ = blob_images(16, size=32)
    dls = rt.classification_dls(x, label=[["normal", "lesion"][v] for v in y], patient=range(16),
                                windows=(40, 400), size=32, device="cpu")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("RADNB_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("RADNB_MIRROR", "http://127.0.0.1:9")  # nothing listens: offline
    with pytest.raises(OfflineError, match="pretrained=False"):
        rt.classifier(dls, pretrained=True)
    with pytest.raises(InvalidArgumentError, match="not understood"):
        rt.classifier(dls, pretrained=3)

    torch.manual_seed(2)
    fixture = torchvision.models.resnet18(weights=None).state_dict()
    fixture["layer1.0.conv1.weight"] = torch.full_like(fixture["layer1.0.conv1.weight"], 0.02)
    served = tmp_path / "served"
    served.mkdir()
    torch.save(fixture, served / "resnet18-f37072fd.pth")
    digest = hashlib.sha256((served / "resnet18-f37072fd.pth").read_bytes()).hexdigest()
    info = W.WEIGHTS[("resnet18", "imagenet")]
    monkeypatch.setitem(W.WEIGHTS, ("resnet18", "imagenet"),
                        W.WeightsInfo(info.arch, info.source, info.url, digest, info.torchvision_enum))
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)
    with socketserver.TCPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        monkeypatch.setenv("RADNB_MIRROR", f"http://127.0.0.1:{server.server_address[1]}")
        learn = rt.classifier(dls, pretrained=True)  # fastai's idiom; arch="auto" -> resnet18
        server.shutdown()
    assert learn.radnb.arch == "resnet18" and learn.radnb.pretrained == "imagenet"
    torch.testing.assert_close(learn.model[0][4][0].conv1.weight.detach().cpu(), fixture["layer1.0.conv1.weight"])
    assert not learn.model[0][4][0].conv1.weight.requires_grad  # starts frozen (fastai's freeze; BatchNorm trains)


# ------------------------------------------------------------------ defaults that follow the data
def test_batches_give_several_steps_and_size_follows_the_data(tmp_data_dir):
    x, y, _ = blob_images(30, size=20)
    dls = rt.classification_dls(x, label=y, patient=range(30), windows=(40, 400), device="cpu", valid_pct=0.2)
    assert len(dls.train) >= 4  # optimiser steps an epoch (one batch of 24 would be one step)
    assert dls.radnb.preprocessing.size == 20  # native resolution, not upsampled to the default 128
    big = np.zeros((4, 300, 300), np.float32)
    assert rt.data.data_size([rt.prep.ArrayItem(a) for a in big], "classification", "cpu") == 128
    explicit = rt.classification_dls(x, label=y, patient=range(30), windows=(40, 400), device="cpu", bs=8, size=32)
    assert explicit.bs == 8 and explicit.radnb.preprocessing.size == 32


# ------------------------------------------------------------------ best epoch, collapse, divergence
def test_tiny_set_keeps_its_best_epoch_and_says_so(tmp_data_dir, capsys):
    x, y, _ = blob_images(40, size=24, seed=5)
    set_seed(0)
    dls = rt.classification_dls(x, label=[["normal", "lesion"][v] for v in y], patient=range(40),
                                windows=(40, 400), device="cpu", seed=1)
    learn = rt.classifier(dls)
    with learn.no_bar():
        learn.fit_one_cycle(6, 5e-2)  # a rate high enough that late epochs are not reliably the best
    keeper = learn.keep_best_epoch
    aurocs = [row[learn.recorder.metric_names[1:].index("auroc")] for row in learn.recorder.values]
    assert keeper.monitor == "auroc" and keeper.epoch_kept is not None
    assert keeper.best == pytest.approx(max(aurocs))
    assert keeper.best >= 0.8  # a sensible model, not a collapsed one
    kept_row = learn.recorder.values[keeper.epoch_kept]
    validated = learn.validate()  # the learner now holds the kept epoch's weights
    assert validated[0] == pytest.approx(kept_row[1], rel=1e-4)
    assert validated[1 + [m.name for m in learn.metrics].index("auroc")] == pytest.approx(keeper.best, abs=1e-6)
    assert f"Kept the model of epoch {keeper.epoch_kept}" in capsys.readouterr().out
    assert learn.keep_best_epoch.epoch_kept == keeper.epoch_kept  # validate() does not reset what was kept


def test_collapse_warning_fires_on_a_collapsing_run(tmp_data_dir):
    x, y, _ = blob_images(32, size=20, seed=2)
    set_seed(0)
    dls = rt.classification_dls(x, label=[["normal", "lesion"][v] for v in y], patient=range(32),
                                windows=(40, 400), device="cpu")
    learn = rt.classifier(dls)
    with pytest.warns(TrainingWarning, match="every validation image was predicted"):
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(3, 5.0)  # absurd rate: the network saturates on one class
    assert learn.training_watch.collapsed


def test_a_kept_epoch_from_before_learning_began_is_still_reported_as_collapsed():
    """Epochs 0-2 predicted one class (the run had not begun to learn, normally no problem), but the
    model kept is epoch 2: that is the model the user goes on with, so it is reported, never called usable."""
    from types import SimpleNamespace

    watch = TrainingWatch()
    watch.learn = SimpleNamespace(keep_best_epoch=SimpleNamespace(epoch_kept=2))
    watch.fitting, watch.losses = True, [0.69, 0.5, 0.4, 0.45, 0.5]
    watch.collapsed = [(0, "pneumonia"), (1, "pneumonia"), (2, "pneumonia"), (4, "pneumonia")]
    with pytest.warns(TrainingWarning, match=r"The model kept \(epoch 2\) is itself one of the collapsed") as caught:
        watch.after_fit()
    assert "this run is usable" not in str(caught[0].message)
    assert watch.collapsed == [(2, "pneumonia"), (4, "pneumonia")]
    watch.learn.keep_best_epoch.epoch_kept = 3  # kept a good epoch: the leading ones are left out as before
    watch.fitting, watch.collapsed = True, [(0, "pneumonia"), (1, "pneumonia"), (4, "pneumonia")]
    with pytest.warns(TrainingWarning, match="this run is usable"):
        watch.after_fit()
    assert watch.collapsed == [(4, "pneumonia")]


def _replay(keeper, epochs, one_class=()):
    """Feed KeepBestEpoch an epoch table of (auroc, valid_loss) rows; return the epoch it keeps."""
    import torch
    from types import SimpleNamespace

    keeper.fitting, keeper.idx, keeper.loss_idx, keeper.comp = True, 1, 0, np.greater
    keeper.best = -np.inf
    keeper._reset()
    keeper._save = lambda name: None
    watch = TrainingWatch()
    watch.targ_counts = torch.tensor([3, 4])
    learn = SimpleNamespace(recorder=SimpleNamespace(values=[]), training_watch=watch, epoch=0)
    keeper.learn = learn
    for epoch, (auroc, loss) in enumerate(epochs):
        learn.epoch = epoch
        watch.pred_counts = torch.tensor([0, 7]) if epoch in one_class else torch.tensor([3, 4])
        learn.recorder.values.append([loss, auroc])
        keeper.after_epoch()
    return keeper.epoch_kept


def test_keep_best_epoch_breaks_near_ties_by_the_validation_loss():
    """An AUROC within 0.01 of the best seen is a tie on a small validation set; the lower loss wins it."""
    from radnb.train.callbacks import KeepBestEpoch

    keeper = KeepBestEpoch()
    keeper.tolerance = 0.01
    table = [(0.80, 0.70), (0.903, 1.62), (0.896, 0.45), (0.899, 0.56), (0.885, 0.40)]
    assert _replay(keeper, table) == 2  # 0.896 with loss 0.45 beats 0.903 with 1.62; 0.885 is outside the band
    assert _replay(keeper, table + [(0.95, 0.90)]) == 5  # a clear gain moves the band: the old pick falls out
    keeper.tolerance = 0.0
    assert _replay(keeper, table) == 1  # tolerance 0: the plain AUROC maximum, as fastai's SaveModelCallback
    assert KeepBestEpoch().tolerance == 0.0  # the default: exact ties only


def test_classifier_takes_a_keep_best_epoch_of_ones_own(tmp_data_dir):
    from radnb.train.callbacks import KeepBestEpoch

    x = np.random.default_rng(0).normal(0, 100, (16, 32, 32)).astype("float32")
    dls = rt.classification_dls(x, label=[0, 1] * 8, patient=np.arange(16), windows="soft_tissue", size=32)
    mine = KeepBestEpoch(tolerance=0.01)
    learn = rt.classifier(dls, keep_best=mine)
    assert learn.keep_best_epoch is mine and sum(isinstance(c, KeepBestEpoch) for c in learn.cbs) == 1


def test_keep_best_epoch_never_prefers_a_one_class_epoch():
    from radnb.train.callbacks import KeepBestEpoch

    keeper = KeepBestEpoch()
    keeper.tolerance = 0.01
    table = [(0.70, 0.60), (0.94, 0.30), (0.90, 0.50), (0.91, 0.45)]
    assert _replay(keeper, table, one_class={1}) == 3  # epoch 1 ranks best but calls every image one class
    assert _replay(keeper, table, one_class={0, 1, 2, 3}) == 1  # every epoch one class: the best of them


def test_divergence_is_recognised():
    watch = TrainingWatch()
    watch.losses = [0.7, 0.4, 0.35, 0.9, 4.4]
    assert "rose from 0.35 (epoch 2) to 4.4 (epoch 4)" in watch._divergence()
    watch.losses = [0.7, 0.4, 0.35, 0.38, 0.41]  # ordinary noise
    assert watch._divergence() is None
    watch.losses = [0.7, float("nan")]
    assert "nan" in watch._divergence()



def test_fine_tune_defaults_to_the_architectures_rate(tmp_data_dir):
    x, y, _ = blob_images(24, size=20, seed=6)
    dls = rt.classification_dls(x, label=[["normal", "lesion"][v] for v in y], patient=range(24),
                                windows=(40, 400), device="cpu")
    learn = rt.classifier(dls, keep_best=False)
    assert learn.fine_tune_lr == rt.learners.FINE_TUNE_LR["compact"] != 2e-3  # not fastai's one rate for all
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(1)
    assert learn.fine_tune_lr_mult == 10  # two layer groups: the body at a tenth of the head's rate, not 1/100
    # fastai's schedule: the unfrozen phase peaks at base_lr / 2 (the head's group), the body lr_mult times lower
    assert max(learn.recorder.lrs) == pytest.approx(learn.fine_tune_lr / 2, rel=0.15)  # few steps: near the peak
    body, head = [h["lr"] for h in learn.opt.hypers]
    assert head / body == pytest.approx(learn.fine_tune_lr_mult, rel=1e-3)
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(1, 1e-3)  # an explicit rate is fastai's as before
    assert max(learn.recorder.lrs) == pytest.approx(5e-4, rel=0.15)
    resnet = rt.classifier(dls, arch="resnet18")
    assert (resnet.fine_tune_lr, resnet.fine_tune_lr_mult) == (2e-3, 100)  # torchvision bodies keep fastai's

# ------------------------------------------------------------------ self-supervised pretraining
def test_self_supervised_pretraining_trains_the_encoder_that_fine_tuning_reuses(tmp_path, tmp_data_dir):
    from radnb.train.selfsup import nt_xent

    z = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    assert float(nt_xent(torch.cat([z, z]))) < float(nt_xent(torch.cat([z, z.roll(1, 0)])))  # partners found
    x, y, _ = blob_images(24, size=20, seed=4)
    path = radnb.pretrain("self_supervised", data=x, windows=(40, 400), epochs=2, bs=16, path=tmp_path / "ssl.pth",
                          verbose=False)
    state = torch.load(path, weights_only=True)
    assert state["format"] == "radnb-model" and state["info"]["preprocessing"]["size"] == 20
    fresh = rt.classifier(rt.classification_dls(x, label=[["normal", "lesion"][v] for v in y], patient=range(24),
                                                windows=(40, 400), device="cpu"), keep_best=False)
    tuned = rt.classifier(fresh.dls, pretrained=path)
    key = "encoder.blocks.0.0.weight"
    torch.testing.assert_close(tuned.model.state_dict()[key].cpu(), state["state_dict"][key])
    assert not torch.equal(fresh.model.state_dict()[key].cpu(), state["state_dict"][key])
    with pytest.raises(InvalidArgumentError, match="data="):
        radnb.pretrain("self_supervised")


def test_the_contrastive_objective_changes_the_encoder(tmp_data_dir):
    from radnb.train.selfsup import pretrain_selfsupervised

    x, y, _ = blob_images(24, size=20, seed=4)
    set_seed(0)
    learn = rt.classifier(rt.classification_dls(x, label=y, patient=range(24), windows=(40, 400), device="cpu",
                                                bs=16), keep_best=False)
    before = {k: v.clone() for k, v in learn.model.encoder.state_dict().items() if k.endswith("weight")}
    losses = pretrain_selfsupervised(learn, 2, verbose=False)
    assert len(losses) == 2 and all(np.isfinite(losses)) and losses[0] > 0  # a loss was computed and trained on
    after = learn.model.encoder.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # gradients reached the weights


def test_self_supervised_pretraining_takes_a_table_without_labels(tmp_path, tmp_data_dir):
    table = _png_table(tmp_path).drop(columns="label")  # its test rows are not images: loading one would fail
    table["file"] = [str(tmp_path / f) for f in table.file]
    path = radnb.pretrain("self_supervised", data=table, windows=(40, 400), epochs=1, bs=8,
                          path=tmp_path / "ssl.pth", verbose=False)
    assert torch.load(path, weights_only=True)["format"] == "radnb-model"
