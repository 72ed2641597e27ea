"""The training core's record (dls.radnb), fastai DataLoaders built by hand, and fastai Learner pass-through."""
from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.torch_core import set_seed
from PIL import Image

import radnb.train as rt
from radnb.errors import InvalidArgumentError
from radnb.train.interpret import top_losses
from radnb.train.record import DatasetInfo, RadnbDataLoaders, dataset_info

OLD_NAMES = ("preprocessing", "table", "records", "load_errors", "test_set", "test_records", "train_idx", "valid_idx",
             "multilabel", "cache")


def _arrays(n=16, side=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 30, (n, side, side)).astype("float32")
    labels = ["normal", "lesion"] * (n // 2)
    x[1::2, 4:10, 4:10] += 200
    return x, labels


def test_the_record_is_attached_once_and_the_old_names_warn_with_the_new_spelling():
    x, labels = _arrays()
    dls = rt.classification_dls(x, label=labels, patient=np.arange(16) // 2, windows="soft_tissue", size=16, bs=4,
                                device="cpu")
    assert isinstance(dls, DataLoaders) and isinstance(dls, RadnbDataLoaders)
    info = dataset_info(dls)
    assert info is dls.radnb and isinstance(info, DatasetInfo)
    assert info.task == "classification" and info.classes == ["lesion", "normal"] and info.origin == "radnb"
    assert info.split_source == "patient" and not info.test_set and info.load_errors == []
    assert len(info.train_idx) == len(dls.train_ds) and len(info.valid_idx) == len(dls.valid_ds)
    assert [str(r.item) for r in info.valid_records] == list(info.table.item[info.table.split == "valid"])
    for name in OLD_NAMES:
        with pytest.warns(FutureWarning, match=rf"dls\.{name} is deprecated .* use dls\.radnb\.{name}"):
            old = getattr(dls, name)
        new = getattr(info, name)
        assert old is new or (isinstance(new, bool) and old == new)
    with pytest.raises(AttributeError):  # class names of classification data: .classes / fastai's vocab
        dls.radnb.codes

    vols = [np.random.default_rng(i).normal(0, 50, (5, 24, 24)).astype("float32") for i in range(4)]
    seg = rt.segmentation_dls(vols, [(v > 60).astype("uint8") for v in vols], windows="auto", size=24, bs=4,
                              device="cpu")
    assert seg.radnb.task == "segmentation" and seg.radnb.codes == seg.radnb.classes == ["background", "foreground"]
    with pytest.warns(FutureWarning, match=r"dls\.radnb\.codes"):
        assert seg.codes == ["background", "foreground"]
    with pytest.warns(FutureWarning, match=r"dls\.radnb\.volumes"):
        assert seg.volumes == seg.radnb.volumes and len(seg.volumes) >= 1
    assert dataset_info(object()) is None  # not DataLoaders: no record


def test_split_source_says_how_the_split_was_made():
    x, labels = _arrays(12)
    common = dict(label=labels, patient=np.arange(12), windows="auto", size=16, bs=4, device="cpu")
    assert rt.classification_dls(x, **common).radnb.split_source == "patient"
    given = rt.classification_dls(x, valid_patients=["0", "1", "2", "3"], **common).radnb
    assert given.split_source == "valid_patients" and len(given.valid_idx) == 4
    sides = ["train"] * 8 + ["valid"] * 2 + ["test"] * 2
    column = rt.classification_dls(x, split=sides, **common).radnb
    assert column.split_source == "column" and len(column.test_records) == 2
    no_valid = rt.classification_dls(x, split=["train"] * 10 + ["test"] * 2, **common).radnb
    assert no_valid.split_source == "column+patient" and len(no_valid.valid_idx) > 0


def test_radnb_code_reads_the_record_not_the_deprecated_names(tmp_path):
    x, labels = _arrays()
    dls = rt.classification_dls(x, label=labels, patient=np.arange(16), windows="soft_tissue", size=16, bs=4,
                                device="cpu", split=["train"] * 12 + ["test"] * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        learn = rt.classifier(dls, arch="compact", loss="weighted_ce")
        rt.evaluate(learn, n_bootstrap=5)
        rt.evaluate(learn, "test", n_bootstrap=5)
        top_losses(learn, 2)
        rt.save_model(learn, tmp_path / "m.pth")


def _png_folder(root, n=12, side=24, seed=0):
    """fastai's folder layout: one sub-folder per class of 8-bit PNGs (a bright square = lesion)."""
    rng = np.random.default_rng(seed)
    for k in range(n):
        for label in ("lesion", "normal"):
            img = rng.integers(0, 60, (side, side)).astype(np.uint8)
            if label == "lesion":
                img[6:16, 6:16] = 220
            (root / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / label / f"{label}{k}.png")
    return root


def test_fastai_dataloaders_built_by_hand_train_evaluate_and_give_top_losses(tmp_path):
    from fastai.vision.data import ImageDataLoaders

    set_seed(0)
    dls = ImageDataLoaders.from_folder(_png_folder(tmp_path / "png"), valid_pct=0.25, seed=1, bs=4, device="cpu")
    assert dataset_info(dls) is None  # no record: radnb derives what it needs from fastai
    derived = dataset_info(dls, derive=True)
    assert derived.origin == "fastai" and derived.classes == ["lesion", "normal"] and derived.preprocessing is None
    assert [r.item for r in derived.valid_records] == list(dls.valid_ds.items)
    assert [r.label for r in derived.valid_records] == [p.parent.name for p in dls.valid_ds.items]

    learn = rt.classifier(dls, arch="compact")
    assert learn.radnb.n_in == 3 and learn.radnb.vocab == ["lesion", "normal"] and learn.radnb.positive_name == "lesion"
    learn.fit(1, 1e-2)
    report = rt.evaluate(learn, n_bootstrap=10)
    assert list(report.table["item"]) == [str(p) for p in dls.valid_ds.items]
    assert list(report.table["label"]) == [p.parent.name for p in dls.valid_ds.items]
    fastai_probs = learn.get_preds(dl=dls.valid)[0].numpy()[:, 0]  # fastai's own pipeline, class 0 = lesion
    np.testing.assert_allclose(report.table["prob_lesion"], fastai_probs, rtol=1e-4, atol=1e-6)
    assert 0.0 <= report.auc <= 1.0
    again = rt.evaluate(learn, dls, n_bootstrap=10)  # the same DataLoaders passed explicitly
    np.testing.assert_allclose(again.table["prob_lesion"], report.table["prob_lesion"], rtol=1e-5)

    worst = top_losses(learn, 3)
    assert len(worst) == 3 and list(worst.loss) == sorted(worst.loss, reverse=True)
    rows = report.table.set_index("item")
    for r in worst.itertuples():
        assert r.label == rows.loc[r.item, "label"]
        expected = -np.log(max(rows.loc[r.item, "prob_lesion"] if r.label == "lesion"
                               else 1 - rows.loc[r.item, "prob_lesion"], 1e-7))
        assert r.loss == pytest.approx(expected, rel=1e-4, abs=1e-5)
    with pytest.raises(InvalidArgumentError, match="built by hand"):  # radnb cannot prepare new files for it
        rt.predict(learn, tmp_path / "png" / "lesion" / "lesion0.png")
    with pytest.raises(InvalidArgumentError, match="segmentation DataLoaders"):
        rt.segmenter(dls, arch="compact")


def test_fastai_segmentation_dataloaders_built_by_hand_work_with_segmenter_and_evaluate(tmp_path):
    from fastai.vision.data import SegmentationDataLoaders

    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    (tmp_path / "lbl").mkdir()
    for k in range(12):
        img = rng.integers(0, 60, (24, 24)).astype(np.uint8)
        mask = np.zeros((24, 24), np.uint8)
        mask[4 + k % 5:12 + k % 5, 6:14] = 1
        img[mask == 1] = 200
        Image.fromarray(img).save(tmp_path / "img" / f"case{k}.png")
        Image.fromarray(mask).save(tmp_path / "lbl" / f"case{k}.png")
    files = sorted((tmp_path / "img").glob("*.png"))
    dls = SegmentationDataLoaders.from_label_func(tmp_path, files, lambda f: tmp_path / "lbl" / f.name,
                                                  codes=["background", "lesion"], valid_pct=0.25, seed=0, bs=4,
                                                  device="cpu")
    learn = rt.segmenter(dls, arch="compact", loss="weighted_ce")
    assert learn.radnb.vocab == ["background", "lesion"] and learn.radnb.n_in == 3
    learn.fit(1, 1e-2)
    report = rt.evaluate(learn)
    assert set(report.per_case["case"]) == {str(f) for f in dls.valid_ds.items}
    assert list(report.mean_dice) == ["lesion"] and 0.0 <= report.mean_foreground_dice <= 1.0
    with pytest.raises(InvalidArgumentError, match="segmentation DataLoaders"):  # and a classifier's data is refused
        from fastai.vision.data import ImageDataLoaders

        rt.segmenter(ImageDataLoaders.from_folder(_png_folder(tmp_path / "cls"), valid_pct=0.25, bs=4, device="cpu"))


class _Counts(Callback):
    order = 100

    def before_fit(self):
        self.fits = getattr(self, "fits", 0) + 1


def test_fastai_learner_arguments_pass_through_and_show_in_the_signature():
    from fastai.optimizer import SGD

    for builder in (rt.classifier, rt.segmenter):
        params = inspect.signature(builder).parameters
        assert {"wd", "cbs", "opt_func", "moms", "path", "model_dir"} <= set(params)
        assert "loss_func" not in params and "lr" not in params  # radnb picks them (still accepted)
    x, labels = _arrays()
    dls = rt.classification_dls(x, label=labels, patient=np.arange(16), windows="auto", size=16, bs=4, device="cpu")
    counts = _Counts()
    learn = rt.classifier(dls, arch="compact", wd=0.1, cbs=counts, opt_func=SGD, lr=3e-3, base=8)
    assert learn.wd == 0.1 and learn.opt_func is SGD and learn.lr == 3e-3
    assert counts in learn.cbs and learn.keep_best_epoch is not None  # radnb's callbacks are kept too
    assert learn.model.encoder.channels[0] == 8 and learn.radnb.model_kwargs == {"base": 8}  # model keyword
    learn.fit(1)
    assert counts.fits == 1

    vols = [np.random.default_rng(i).normal(0, 50, (4, 24, 24)).astype("float32") for i in range(4)]
    seg_dls = rt.segmentation_dls(vols, [(v > 60).astype("uint8") for v in vols], windows="auto", size=24, bs=4,
                                  device="cpu")
    seg = rt.segmenter(seg_dls, arch="compact", wd=0.2, cbs=[_Counts()], loss_func=rt.learners.DiceCELoss(ce_weight=0))
    assert seg.wd == 0.2 and isinstance(seg.loss_func, rt.learners.DiceCELoss) and seg.loss_func.ce_weight == 0
    assert any(isinstance(cb, _Counts) for cb in seg.cbs)


def test_segmentation_records_share_one_value_to_class_map():
    """Masks holding different subsets of the stored values still map each value to the same class."""
    from radnb.train.prep import load_mask

    vols, masks = [], []
    for k, values in enumerate([(10,), (20,), (10, 20), (10, 20)]):
        v = np.random.default_rng(k).normal(0, 30, (3, 16, 16)).astype("float32")
        m = np.zeros((3, 16, 16), np.uint8)
        for j, value in enumerate(values):
            m[:, 2 + 6 * j:6 + 6 * j, 4:10] = value
        vols.append(v)
        masks.append(m)
    dls = rt.segmentation_dls(vols, masks, codes=["background", "liver", "spleen"], windows="auto", size=16, bs=2,
                              device="cpu", valid_patients=["case1"], augment=False)
    info = dls.radnb
    spleen_only = [r for r in info.records if r.patient == "case1"]
    assert spleen_only and all(set(np.unique(load_mask(r.label, 16, info.cache))) == {0, 2} for r in spleen_only)


def test_a_datablock_over_arrays_is_scored_by_position():
    from fastai.data.block import CategoryBlock, DataBlock
    from fastai.data.transforms import RandomSplitter
    from fastai.vision.data import ImageBlock

    x, labels = _arrays(16, side=16)
    items = [((a - a.min()) / np.ptp(a) * 255).astype(np.uint8) for a in x]
    dblock = DataBlock(blocks=(ImageBlock, CategoryBlock), get_x=lambda i: items[i], get_y=lambda i: labels[i],
                       splitter=RandomSplitter(0.25, seed=0))
    dls = dblock.dataloaders(list(range(16)), bs=4, device="cpu")  # items: positions into the arrays
    learn = rt.classifier(dls, arch="compact", keep_best=False)
    report = rt.evaluate(learn, n_bootstrap=5)
    assert list(report.table["item"]) == [f"valid[{k}]" for k in range(len(dls.valid_ds))]
    assert list(report.table["label"]) == [labels[i] for i in dls.valid_ds.items]
    assert report.table["patient"].nunique() == len(dls.valid_ds)  # each image its own patient
