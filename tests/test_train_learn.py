"""Real (tiny) training runs, transfer, export/load/predict, evaluation, Grad-CAM, pretrained weights."""
from __future__ import annotations

import hashlib
import http.server
import socketserver
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fastai.torch_core import set_seed  # seeds python's random too: fastai's DataLoader shuffles with it

import radnb.train as rt
from radnb.errors import InvalidArgumentError
from radnb.train import metrics as M
from radnb.train.inference import RadnbModel
from radnb.train.interpret import gradcam, top_losses
from radnb.train.learners import ModelInfo


def blob_images(n=64, size=32, seed=0):
    """Noisy 'CT' patches in HU; label 1 = a bright (+200 HU) blob somewhere."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, labels, centres = [], [], []
    for i in range(n):
        img = rng.normal(40, 25, (size, size)).astype(np.float32)
        label = i % 2
        cy, cx = rng.integers(8, size - 8, 2)
        if label:
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < 16] += 200
        images.append(img)
        labels.append(label)
        centres.append((cy, cx))
    return np.stack(images), labels, centres


def _blob_dls():
    x, y, _ = blob_images()
    return rt.classification_dls(x, label=[["normal", "lesion"][v] for v in y], patient=np.arange(len(y)) // 2,
                                 windows=(40, 400), size=32, bs=16, device="cpu", seed=0)


@pytest.fixture
def blob_dls(tmp_data_dir):
    return _blob_dls()


@pytest.fixture(scope="module")
def trained_blob(tmp_path_factory):
    """A compact classifier trained once on the blob task: (learner, validation loss before training)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RADNB_DATA", str(tmp_path_factory.mktemp("radnb-data")))
        set_seed(0)
        learn = rt.classifier(_blob_dls(), arch="compact")
        before = learn.validate()[0]
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(5, 1e-2)
        yield learn, before


def test_classifier_learns_and_metrics_beat_chance(trained_blob):
    learn, before = trained_blob
    assert learn.radnb.positive_name == "lesion"
    after = learn.validate()
    assert after[0] < before  # validation loss fell
    names = [m.name for m in learn.metrics]
    assert after[1 + names.index("auroc")] > 0.8
    report = rt.evaluate(learn, n_bootstrap=100)
    # the report's numbers are the reference metrics on its own table
    y = (report.table.label == "lesion").astype(int).to_numpy()
    s = report.table["prob_lesion"].to_numpy()
    assert report.auc == pytest.approx(M.auroc(y, s))
    assert report.auc_ci[0] <= report.auc <= report.auc_ci[1]
    assert int(report.confusion.to_numpy().sum()) == len(y)
    assert report.metrics["sensitivity"] == pytest.approx(M.sensitivity(y, s))
    assert set(report.thresholds.columns) >= {"threshold", "sensitivity", "specificity", "ppv", "npv"}
    assert report.calibration["count"].sum() == len(y)
    assert len(report.per_patient) == report.table.patient.nunique()
    fig = report.plot()
    assert len(fig.axes) == 4


def test_evaluate_on_a_fully_held_out_test_set(trained_blob):
    learn, _ = trained_blob
    x, y, _ = blob_images(12, seed=7)  # new images of new patients
    labels = [["normal", "lesion"][v] for v in y]
    patients = [f"test{i}" for i in range(12)]
    test = rt.classification_dls(x, label=labels, patient=patients, valid_patients=patients, windows=(40, 400),
                                 size=32, device="cpu")
    assert test.radnb.test_set and len(test.valid_ds) == 12 and list(test.radnb.train_idx) == []
    report = rt.evaluate(learn, test, n_bootstrap=50)
    assert len(report.table) == 12 and set(report.table.patient) == set(patients)
    assert report.auc > 0.8  # the blob model generalises to new patients
    with pytest.raises(InvalidArgumentError, match="test set.*nothing to train"):
        rt.classifier(test)
    with pytest.raises(InvalidArgumentError, match="valid_patients"):
        rt.classification_dls(x, label=labels, patient=patients, valid_patients=["nobody"], windows=(40, 400), size=32)


def test_defaults_follow_the_device_and_summary_works(blob_dls):
    from radnb.train.learners import default_classifier_arch

    learn = rt.classifier(blob_dls)  # arch="auto": this machine's CPU -> the compact CNN
    assert learn.radnb.arch == "compact" and learn.lr == pytest.approx(1e-2)
    assert default_classifier_arch("cuda") == "resnet18"
    assert default_classifier_arch("cpu", pretrained="imagenet") == "resnet18"
    assert rt.classifier(blob_dls, arch="resnet18").lr == pytest.approx(1e-3)  # fastai's default
    assert rt.data.default_size("classification", "cpu") == 128
    assert rt.data.default_size("classification", "cuda") == 224
    text = learn.summary()  # fastai's summary runs one batch; radnb metrics must cope with no epoch
    assert "CompactCNN" in text and "Total params" in text


def test_resnet_classifier_on_dicom_trains_and_round_trips(tmp_data_dir, tmp_path):
    from radnb.data.synthetic import make_chest_xrays

    make_chest_xrays(tmp_path / "cxr", n_patients=12, size=64, seed=5)
    set_seed(0)
    dls = rt.classification_dls(tmp_path / "cxr", windows="auto", size=32, bs=8, device="cpu")
    learn = rt.classifier(dls, arch="resnet18", loss="weighted_ce")
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(5, 3e-3)
    losses = [float(v) for v in learn.recorder.losses]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])  # (smoothed) training loss fell
    path = rt.save_model(learn, tmp_path / "model.pth")
    model = rt.load_model(path, device="cpu")
    assert model.preprocessing == dls.radnb.preprocessing
    folder = tmp_path / "cxr" / "images"
    direct = rt.predict(learn, folder)
    loaded = rt.predict(model, folder)
    np.testing.assert_allclose(direct.prob_opacity, loaded.prob_opacity, atol=1e-6)
    assert len(loaded) == len(list(folder.glob("*.dcm")))
    assert set(loaded.patient) == set(pd.read_csv(tmp_path / "cxr" / "labels.csv").patient_id)
    assert set(loaded.prediction) <= {"normal", "opacity"}
    # probabilities through fastai's own pipeline agree with radnb's inference path
    probs, _ = learn.get_preds(ds_idx=1)
    valid_items = [str(dls.radnb.records[i].item) for i in dls.radnb.valid_idx]
    by_file = direct.set_index("file").loc[valid_items, "prob_opacity"].to_numpy()
    np.testing.assert_allclose(probs[:, 1].numpy(), by_file, atol=1e-4)


def test_segmenter_learns_squares(tmp_data_dir):
    rng = np.random.default_rng(0)
    vols, masks = [], []
    for _ in range(5):
        v = rng.normal(0, 20, (6, 32, 32)).astype(np.float32)
        m = np.zeros(v.shape, np.uint8)
        for z in range(6):
            y0, x0 = rng.integers(4, 20, 2)
            m[z, y0:y0 + 8, x0:x0 + 8] = 1
        v[m == 1] += 150
        vols.append(v)
        masks.append(m)
    dls = rt.segmentation_dls(vols, masks, windows=(50, 300), size=32, bs=8, device="cpu", valid_pct=0.4,
                              augment=False)
    set_seed(0)
    learn = rt.segmenter(dls, arch="compact", base=8)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(6, 1e-2)
    report = rt.evaluate(learn)
    assert report.mean_foreground_dice > 0.6
    assert len(report.per_case) == len(dls.radnb.volumes)
    pred = rt.predict_volume(learn, vols[0])
    assert pred.shape == (6, 32, 32)
    assert M.dice(pred, masks[0])[0] > 0.5


def test_pretrain_then_fine_tune_copies_the_encoder(tmp_data_dir, tmp_path):
    from radnb.data.synthetic import make_body_parts

    make_body_parts(tmp_path / "bp", n_images=24, size=64, seed=1)
    source = rt.pretrain(data=tmp_path / "bp", arch="compact", size=32, epochs=1, verbose=False)
    assert rt.pretrain(data=tmp_path / "bp", arch="compact", size=32, epochs=1, verbose=False) == source  # reused
    # a model trained on fewer images (or other data) is never mistaken for this one
    fewer = rt.pretrain(data=tmp_path / "bp", arch="compact", size=32, epochs=1, max_items=12, verbose=False)
    assert fewer != source and fewer.exists()
    make_body_parts(tmp_path / "bp2", n_images=24, size=64, seed=2)
    assert rt.pretrain(data=tmp_path / "bp2", arch="compact", size=32, epochs=1, verbose=False) not in (source, fewer)
    x, y, _ = blob_images(16)
    dls = rt.classification_dls(x, label=y, patient=range(16), windows="auto", size=32, device="cpu")
    learn = rt.classifier(dls, pretrained=source)  # arch="auto" takes the source model's architecture
    assert learn.radnb.arch == "compact"
    ck = torch.load(source, weights_only=True)["state_dict"]
    own = learn.model.state_dict()
    for key in ("encoder.blocks.0.0.weight", "encoder.blocks.3.3.weight"):
        torch.testing.assert_close(own[key].cpu(), ck[key])
    # pretrained learners start frozen: only the head trains first
    trainable = {n for n, p in learn.model.named_parameters() if p.requires_grad}
    assert trainable and all(not n.startswith("encoder.") or ".1." in n or ".4." in n for n in trainable)
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(1, 1e-3)
    lrs = [g["lr"] for g in learn.opt.hypers]
    assert len(lrs) == 2


def test_export_load_predict_same_probabilities_segmenter(tmp_data_dir, tmp_path):
    vols = [np.random.default_rng(i).normal(0, 50, (4, 32, 32)).astype("float32") for i in range(4)]
    dls = rt.segmentation_dls(vols, [(v > 50).astype("uint8") for v in vols], windows=(0, 200), size=32, bs=4,
                              device="cpu")
    learn = rt.segmenter(dls, arch="compact")
    path = rt.save_model(learn, tmp_path / "seg.pth")
    model = rt.load_model(path, device="cpu")
    a = rt.predict_volume(learn, vols[0], probabilities=True)
    b = rt.predict_volume(model, vols[0], probabilities=True)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_gradcam_matches_hand_computation():
    # conv(1x1, w=1) -> ReLU -> mean pool -> linear [-1, +1]: the class-1 CAM is the ReLU'd input itself
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1, bias=False), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(1, 2, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[4].weight.copy_(torch.tensor([[-1.0], [1.0]]))
    prep = {"windows": [[0.5, 1.0]], "size": 16, "context": 0, "mean": [0.0], "std": [1.0], "task": "classification"}
    wrapped = RadnbModel(model, ModelInfo("classifier", "custom", 1, 2, vocab=["no", "yes"], positive=1, preprocessing=prep))
    img = np.zeros((16, 16), np.float32)
    img[3:6, 10:13] = 1.0
    img[12, 2] = 0.5
    cam = gradcam(wrapped, img, target="yes", layer=model[1])
    expected = np.maximum(cam.image[0], 0)  # the windowed input, through conv(w=1) and ReLU
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    np.testing.assert_allclose(cam.heatmap, expected, atol=1e-5)
    assert np.unravel_index(cam.heatmap.argmax(), img.shape)[1] >= 10  # the bright square, not the background
    assert cam.target_name == "yes"


def test_gradcam_finds_the_lesion_in_a_trained_model(trained_blob):
    learn, _ = trained_blob
    blob_dls = learn.dls
    worst = top_losses(learn, k=3)
    assert list(worst.loss) == sorted(worst.loss, reverse=True)
    _, _, centres = blob_images()
    yy, xx = np.mgrid[:32, :32]
    lesions = [(k, r) for k, r in enumerate(blob_dls.radnb.valid_idx) if blob_dls.radnb.records[r].label == "lesion"]
    assert lesions
    for k, r in lesions:
        cam = gradcam(learn, k, target="lesion")
        cy, cx = centres[r]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < 16
        # the evidence for "lesion" sits on the lesion
        assert cam.heatmap[disc].mean() > 1.3 * cam.heatmap[~disc].mean()


def test_imagenet_offline_error_says_how_to_proceed(blob_dls, tmp_path, monkeypatch):
    from radnb.data.fetch import OfflineError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("RADNB_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("RADNB_MIRROR", "http://127.0.0.1:9")  # nothing listens: offline
    with pytest.raises(OfflineError) as info:
        rt.classifier(blob_dls, arch="resnet18", pretrained="imagenet")
    msg = str(info.value)
    assert "resnet18-f37072fd.pth" in msg and "pretrained=False" in msg and "RADNB_WEIGHTS_DIR" in msg


def test_imagenet_weights_download_from_local_server(blob_dls, tmp_data_dir, tmp_path, monkeypatch):
    import torchvision

    from radnb.data import weights as W

    # a small fixture "checkpoint": a resnet18 state dict with distinctive values
    torch.manual_seed(1)
    fixture = torchvision.models.resnet18(weights=None).state_dict()
    fixture["conv1.weight"] = torch.full_like(fixture["conv1.weight"], 0.01)
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
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
        monkeypatch.delenv("RADNB_WEIGHTS_DIR", raising=False)
        learn = rt.classifier(blob_dls, arch="resnet18", pretrained="imagenet")
        server.shutdown()
    # 1-channel input: fastai's convention sums the RGB filters of the first layer
    first = learn.model[0][0].weight.detach().cpu()
    torch.testing.assert_close(first, torch.full_like(first, 0.03))
    torch.testing.assert_close(learn.model[0][4][0].conv1.weight.detach().cpu(), fixture["layer1.0.conv1.weight"])
    assert (tmp_data_dir / "weights" / "resnet18-f37072fd.pth").exists()
    assert learn.radnb.pretrained == "imagenet"


def test_local_weights_file_and_bad_file(blob_dls, tmp_path):
    import torchvision

    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, tmp_path / "resnet18-custom.pth")
    learn = rt.classifier(blob_dls, arch="resnet18", pretrained=tmp_path)  # a folder with the file
    torch.testing.assert_close(learn.model[0][4][0].conv1.weight.detach().cpu(), state["layer1.0.conv1.weight"])
    (tmp_path / "junk.pth").write_text("nope")
    with pytest.raises(rt.learners.PretrainedWeightsError, match="junk.pth"):
        rt.classifier(blob_dls, arch="resnet18", pretrained=tmp_path / "junk.pth")


def test_multilabel_classifier_trains_and_reports_per_label_auroc(tmp_data_dir, tmp_path):
    """Two findings per image (a bright blob, a dark band), from a table of PNG files."""
    from PIL import Image

    rng = np.random.default_rng(3)
    rows = []
    for i in range(48):
        img = rng.normal(100, 12, (32, 32))
        blob, band = bool(i % 2), bool((i // 2) % 2)
        if blob:
            cy, cx = rng.integers(8, 24, 2)
            img[cy - 3:cy + 3, cx - 3:cx + 3] += 120
        if band:
            img[rng.integers(4, 24):, :][:6] -= 80
        name = f"img{i:02d}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(tmp_path / name)
        rows.append({"file": name, "patient_id": f"p{i // 2}", "blob": int(blob), "band": int(band)})
    table = pd.DataFrame(rows)
    dls = rt.classification_dls(table, label=["blob", "band"], folder=tmp_path, size=32, bs=8, device="cpu",
                                normalize="dataset")
    assert dls.radnb.multilabel and list(dls.vocab) == ["blob", "band"]
    set_seed(0)
    learn = rt.classifier(dls, arch="compact")
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(8)
    report = rt.evaluate(learn)
    assert set(report.per_class_auc) == {"blob", "band"}
    assert min(report.per_class_auc.values()) > 0.75  # both findings learnt, not just one
    assert report.auc == pytest.approx(np.mean(list(report.per_class_auc.values())))


def test_focal_loss_trains_and_lr_find_suggests_a_rate(tmp_data_dir):
    set_seed(0)
    dls = _blob_dls()
    learn = rt.classifier(dls, arch="compact", loss="focal")
    with learn.no_bar(), learn.no_logging():
        suggestion = learn.lr_find(num_it=20, show_plot=False)
    assert 1e-6 < suggestion.valley < 1.0
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(5)
    losses = [float(v) for v in learn.recorder.losses]  # read before validate(), which resets the recorder
    assert np.mean(losses[-3:]) < np.mean(losses[:3])  # (smoothed) training loss fell
    assert learn.validate()[1] >= 0.9  # and the lesions are ranked first


def test_pretrain_is_seeded_and_silent_when_not_verbose(tmp_data_dir, tmp_path, capsys):
    """The cached file is reused by its settings, so the same settings must give the same model whatever random
    state the session is in; verbose=False shows no progress bar or epoch table."""
    from radnb.data.synthetic import make_body_parts

    make_body_parts(tmp_path / "bp", n_images=24, size=64, seed=1)
    capsys.readouterr()
    first = rt.pretrain(data=tmp_path / "bp", arch="compact", size=32, epochs=1, path=tmp_path / "a.pth",
                        verbose=False)
    out = capsys.readouterr()
    assert out.out == "" and "epoch" not in out.err and "valid_loss" not in out.err
    torch.manual_seed(123)  # a different session state before the second run
    np.random.seed(17)
    expected = (torch.rand(3), np.random.rand(3))
    torch.manual_seed(123)
    np.random.seed(17)
    second = rt.pretrain(data=tmp_path / "bp", arch="compact", size=32, epochs=1, path=tmp_path / "b.pth",
                         verbose=False)
    # the caller's random numbers go on as if pretrain had not run (a cached call draws none either)
    after = (torch.rand(3), np.random.rand(3))
    torch.testing.assert_close(after[0], expected[0])
    np.testing.assert_array_equal(after[1], expected[1])
    a = torch.load(first, weights_only=True)["state_dict"]
    b = torch.load(second, weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=f"pretrain(seed=0) gave different {key}")
    other = rt.pretrain(data=tmp_path / "bp", arch="compact", size=32, epochs=1, path=tmp_path / "c.pth",
                        seed=1, verbose=False)
    c = torch.load(other, weights_only=True)["state_dict"]
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_training_set_smaller_than_a_batch_still_trains(tmp_data_dir):
    """fastai drops the last incomplete training batch; with fewer items than bs nothing would train."""
    x, y, _ = blob_images(10)
    with pytest.warns(UserWarning, match="fewer than the batch size 64"):  # bs was the user's choice: say so
        dls = rt.classification_dls(x, label=y, patient=range(10), windows=(40, 400), size=32, bs=64,
                                    device="cpu", seed=0)
    assert dls.train.bs == len(dls.train_ds) == 8
    assert len(dls.train) == 1  # one batch per epoch, not zero
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # radnb's default batch size is only a ceiling: shrunk without a warning
        quiet = rt.classification_dls(x, label=y, patient=range(10), windows=(40, 400), size=32, device="cpu",
                                      seed=0)
    assert quiet.train.bs == 4 and len(quiet.train) == 2  # small sets: several optimiser steps an epoch
    set_seed(0)
    learn = rt.classifier(dls, arch="compact")
    before = [p.detach().clone() for p in learn.model.parameters()]
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2)
    assert any(not torch.equal(p0, p1.detach()) for p0, p1 in zip(before, learn.model.parameters()))


def test_one_training_item_is_refused_with_a_clear_message(tmp_data_dir):
    x, y, _ = blob_images(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dls = rt.classification_dls(x, label=y, patient=range(4), windows=(40, 400), size=32, device="cpu",
                                    valid_patients=["1", "2", "3"])
    with pytest.raises(InvalidArgumentError, match="Only 1 item is left for training"):
        rt.classifier(dls, arch="compact")
