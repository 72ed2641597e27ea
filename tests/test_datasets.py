"""radnb.datasets: registry form, and real download+verify+extract+load against a local server."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import radnb
from radnb.data import datasets
from radnb.data.fetch import ChecksumError, OfflineError
from radnb.errors import InvalidArgumentError
from test_fetch import closed_port_url, server, sha  # noqa: F401 - shared local HTTP server fixture

# --------------------------------------------------------------------------- fixture archives


def medmnist_npz(n_classes: int = 2, multilabel: int = 0, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        if multilabel:
            arrays[f"{split}_labels"] = rng.integers(0, 2, size=(n, multilabel)).astype(np.uint8)
        else:
            arrays[f"{split}_labels"] = (np.arange(n) % n_classes).reshape(n, 1).astype(np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def png_bytes(value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (16, 16), color=value).save(buf, format="PNG")
    return buf.getvalue()


def openi_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        root = "Open_I_abd_vs_CXRs"
        for split, n in (("TRAIN", 3), ("VAL", 1)):
            for i in range(n):
                zf.writestr(f"{root}/{split}/abd/abd{i}.png", png_bytes(10 + i))
                zf.writestr(f"{root}/{split}/chest/chest{i}.png", png_bytes(200 - i))
        zf.writestr(f"{root}/TEST/chest2.png", png_bytes(190))
        zf.writestr(f"{root}/TEST/abd2.png", png_bytes(20))
        zf.writestr(f"__MACOSX/{root}/TRAIN/abd/._abd0.png", b"resource fork junk")
    return buf.getvalue()


def dicom_bytes(patient_id: str, value: int) -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = patient_id
    ds.Modality = "DX"
    ds.Rows, ds.Columns = 16, 16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.full((16, 16), value, dtype=np.uint16).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def add_tar_member(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def siim_tgz() -> bytes:
    buf = io.BytesIO()
    rows = ["file,label"]
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i in range(6):
            label = "Pneumothorax" if i % 2 else "No Pneumothorax"
            rel = f"train/{label}/{i:06d}.dcm"
            add_tar_member(tf, f"siim_small/{rel}", dicom_bytes(f"PAT{i // 2:03d}", 100 * i))
            rows.append(f"{rel},{label}")
        add_tar_member(tf, "siim_small/labels.csv", ("\n".join(rows) + "\n").encode())
    return buf.getvalue()


def nifti_gz(array: np.ndarray) -> bytes:
    import nibabel as nib

    img = nib.Nifti1Image(array, affine=np.eye(4))
    return gzip.compress(img.to_bytes())


def msd_tar() -> bytes:
    meta = {
        "name": "Hippocampus", "labels": {"0": "background", "1": "Anterior", "2": "Posterior"},
        "training": [{"image": f"./imagesTr/hippocampus_{i:03d}.nii.gz",
                      "label": f"./labelsTr/hippocampus_{i:03d}.nii.gz"} for i in (1, 3, 4)],
        "test": ["./imagesTs/hippocampus_002.nii.gz"],
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        root = "Task04_Hippocampus"
        add_tar_member(tf, f"{root}/dataset.json", json.dumps(meta).encode())
        for i in (1, 3, 4):
            image = np.full((6, 7, 5), float(i), dtype=np.float32)
            mask = np.zeros((6, 7, 5), dtype=np.uint8)
            mask[1:3, 1:3, 1:3] = 1
            mask[3:5, 3:5, 2:4] = 2
            add_tar_member(tf, f"{root}/imagesTr/hippocampus_{i:03d}.nii.gz", nifti_gz(image))
            add_tar_member(tf, f"{root}/labelsTr/hippocampus_{i:03d}.nii.gz", nifti_gz(mask))
        add_tar_member(tf, f"{root}/imagesTs/hippocampus_002.nii.gz", nifti_gz(np.zeros((6, 7, 5), np.float32)))
        add_tar_member(tf, f"{root}/imagesTr/._hippocampus_001.nii.gz", b"AppleDouble junk")
    return buf.getvalue()


def point_at(monkeypatch, server, name: str, blob: bytes) -> datasets.DatasetInfo:
    """Make a registry entry download the fixture from the local server, pinned to its sha256."""
    entry = datasets.REGISTRY[name]
    url = server.add(entry.filename, blob)
    patched = replace(entry, url=url, md5=None, head_md5=None, size_bytes=None, sha256=sha(blob))
    monkeypatch.setitem(datasets.REGISTRY, name, patched)
    return patched


# --------------------------------------------------------------------------- registry form (data, not fetched)

HEX = re.compile(r"^[0-9a-f]+$")


def test_registry_has_the_required_real_datasets():
    names = set(datasets.REGISTRY)
    assert {"pneumoniamnist", "breastmnist", "chestmnist", "organamnist", "chest_abdomen_xray", "siim_small",
            "msd_hippocampus"} <= names


@pytest.mark.parametrize("name", sorted(datasets.REGISTRY))
def test_registry_entries_are_well_formed(name):
    e = datasets.REGISTRY[name]
    assert e.url.startswith("https://")
    assert e.url.split("?")[0].rsplit("/", 1)[-1] == e.filename
    assert e.task in ("classification", "segmentation", "characterisation")
    assert e.modality and e.licence and e.citation and e.short_citation and e.homepage.startswith("http")
    assert e.loader in datasets._LOADERS
    if e.sha256 is not None:
        assert len(e.sha256) == 64 and HEX.match(e.sha256)
    for value in (e.md5, e.head_md5):
        if value is not None:
            assert len(value) == 32 and HEX.match(value)
    if not (e.sha256 or e.md5 or e.head_md5):
        assert "first" in e.checksum_source  # honest about trust on first use
    else:
        assert e.checksum_source


def test_medmnist_entries_use_the_official_zenodo_files_and_md5s():
    expected = {  # MedMNIST v2.1.0 medmnist/info.py
        "pneumoniamnist": "28209eda62fecd6e6a2d98b1501bb15f",
        "breastmnist": "750601b1f35ba3300ea97c75c52ff8f6",
        "chestmnist": "02c8a6516a18b556561a56cbdd36c4a8",
        "organamnist": "866b832ed4eeba67bfb9edee1d5544e6",
    }
    for name, md5 in expected.items():
        e = datasets.REGISTRY[name]
        assert e.md5 == md5
        assert e.url == f"https://zenodo.org/record/6496656/files/{name}.npz?download=1"
        assert e.licence == "CC BY 4.0" and "Scientific Data" in e.citation


def test_paper_benchmarks_are_stored_beside_the_medmnist_sets():
    table = datasets.benchmarks()
    for name in ("pneumoniamnist", "breastmnist", "chestmnist", "organamnist"):
        rows = table[table.dataset == name]
        assert {"ResNet-18 (28)", "ResNet-18 (224)"} <= set(rows.method)
        assert rows.auc.between(0.5, 1.0).all() and rows.acc.between(0.5, 1.0).all()
    pneu = table[(table.dataset == "pneumoniamnist") & (table.method == "ResNet-18 (28)")].iloc[0]
    assert (pneu.auc, pneu.acc) == (0.944, 0.854)


def test_available_is_a_dataframe_with_cache_state(tmp_data_dir):
    table = radnb.datasets.available()
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["name", "modality", "task", "size", "licence", "citation", "cached", "checksum"]
    assert len(table) == len(datasets.REGISTRY)
    assert not table.cached.any()
    assert set(table.task) <= {"classification", "segmentation", "characterisation"}


def test_old_list_name_warns_and_gives_the_same_table(tmp_data_dir):
    for module in (radnb.datasets, datasets):
        with pytest.warns(FutureWarning, match=r"available\(\)"):
            table = module.list()
        assert table.equals(datasets.available())
    assert "list" not in vars(datasets) and "list" not in vars(radnb.datasets)  # the builtin is not shadowed
    with pytest.raises(AttributeError):
        radnb.datasets.no_such_name


def test_import_radnb_datasets_is_a_real_module():
    code = ("import sys, radnb.datasets, radnb.data.datasets\n"
            "assert sys.modules['radnb.datasets'] is radnb.datasets\n"
            "assert radnb.datasets.REGISTRY is radnb.data.datasets.REGISTRY\n"
            "from radnb.datasets import available, load\n"
            "print(len(available()), load is radnb.data.datasets.load)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(len(datasets.REGISTRY)), "True"]


def test_unknown_name_suggests_close_matches():
    with pytest.raises(InvalidArgumentError, match="pneumoniamnist"):
        datasets.load("pneumonia_mnist")


# --------------------------------------------------------------------------- loading through the local server


def test_medmnist_download_load_and_offline_reuse(server, tmp_data_dir, monkeypatch, capsys):
    blob = medmnist_npz()
    point_at(monkeypatch, server, "breastmnist", blob)
    ds = radnb.datasets.load("breastmnist", progress=False)
    out = capsys.readouterr().out
    assert "CC BY 4.0" in out and "Scientific Data" in out  # licence + citation on first use
    assert isinstance(ds, datasets.MedMNISTData)
    x, y = ds.arrays("train")
    assert x.shape == (6, 28, 28) and x.dtype == np.uint8 and y.tolist() == [0, 1, 0, 1, 0, 1]
    with np.load(io.BytesIO(blob)) as ref:
        assert np.array_equal(ds.arrays("test")[0], ref["test_images"])
    assert len(ds) == 11 and ds.split.value_counts().to_dict() == {"train": 6, "test": 3, "val": 2}
    assert set(ds.labels.label_name) == {"malignant", "normal, benign"}
    assert {"ResNet-18 (28)", "ResNet-18 (224)"} <= set(ds.benchmarks.method)
    assert radnb.datasets.available().set_index("name").loc["breastmnist", "cached"]

    server.stop()  # re-running uses the cache, no network, no second licence notice
    again = radnb.datasets.load("breastmnist", timeout=0.5)
    assert np.array_equal(again.arrays("train")[0], x)
    assert "Licence" not in capsys.readouterr().out
    assert len(server.gets("breastmnist.npz")) == 1


def test_medmnist_to_folder_gives_radnb_standard_form(server, tmp_data_dir, monkeypatch):
    point_at(monkeypatch, server, "pneumoniamnist", medmnist_npz())
    ds = datasets.load("pneumoniamnist", progress=False)
    folder = ds.to_folder(limit=2)
    assert isinstance(folder, datasets.ImageDataset)
    assert list(folder.labels.columns) == ["file", "label", "patient_id", "split"]
    assert len(folder) == 6 and set(folder.split) == {"train", "valid", "test"}
    assert all(p.is_file() for p in folder.files)
    from PIL import Image

    first = folder.labels.iloc[0]
    assert np.array_equal(np.asarray(Image.open(folder.path / first.file)), ds.arrays("train")[0][0])
    assert pd.read_csv(folder.path / "labels.csv").shape == (6, 4)


def test_multilabel_chestmnist(server, tmp_data_dir, monkeypatch):
    point_at(monkeypatch, server, "chestmnist", medmnist_npz(multilabel=14))
    ds = datasets.load("chestmnist", progress=False)
    x, y = ds.arrays("val")
    assert y.shape == (2, 14) and ds.multilabel
    names = ds.labels.label_name.iloc[0]
    assert names == "no finding" or all(n in datasets._CHEST_LABELS.values() for n in names.split(";"))


def test_chest_vs_abdomen_png_zip(server, tmp_data_dir, monkeypatch):
    point_at(monkeypatch, server, "chest_abdomen_xray", openi_zip())
    ds = datasets.load("chest_abdomen_xray", progress=False)
    assert isinstance(ds, datasets.ImageDataset)
    labels = ds.labels
    assert len(labels) == 10  # __MACOSX junk skipped
    assert labels.label.value_counts().to_dict() == {"abdomen": 5, "chest": 5}
    assert labels.split.value_counts().to_dict() == {"train": 6, "valid": 2, "test": 2}
    assert labels.set_index("file").loc["Open_I_abd_vs_CXRs/TEST/abd2.png", "label"] == "abdomen"
    assert all(p.is_file() for p in ds.files)
    assert ds.path == tmp_data_dir / "datasets" / "chest_abdomen_xray" / "extracted"


def test_siim_small_dicom_tar(server, tmp_data_dir, monkeypatch):
    import pydicom

    point_at(monkeypatch, server, "siim_small", siim_tgz())
    ds = datasets.load("siim_small", progress=False)
    labels = ds.labels
    assert len(labels) == 6
    assert labels.label.value_counts().to_dict() == {"No Pneumothorax": 3, "Pneumothorax": 3}
    assert set(labels.patient_id) == {"PAT000", "PAT001", "PAT002"}  # read from the DICOM headers
    # patient-level split: both images of a patient land in the same split
    assert labels.groupby("patient_id").split.nunique().max() == 1
    first = pydicom.dcmread(ds.files[1])
    assert first.pixel_array.shape == (16, 16) and int(first.pixel_array[0, 0]) == 100


def test_msd_hippocampus_tar(server, tmp_data_dir, monkeypatch):
    point_at(monkeypatch, server, "msd_hippocampus", msd_tar())
    ds = datasets.load("msd_hippocampus", progress=False)
    assert isinstance(ds, datasets.SegmentationDataset)
    assert len(ds) == 4 and (ds.split == "test").sum() == 1
    assert ds.label_names == {0: "background", 1: "Anterior", 2: "Posterior"}
    row = ds.labels[ds.labels.patient_id == "hippocampus_003"].index[0]
    image, mask = ds.load_case(row)
    assert image.shape == (6, 7, 5) and float(image[0, 0, 0]) == 3.0
    assert set(np.unique(mask)) == {0, 1, 2}
    test_row = ds.labels[ds.labels.split == "test"].index[0]
    assert ds.load_case(test_row)[1] is None


def test_checksum_mismatch_is_never_loaded(server, tmp_data_dir, monkeypatch):
    entry = datasets.REGISTRY["organamnist"]  # real published md5, fixture content: must be refused
    url = server.add(entry.filename, medmnist_npz(n_classes=11))
    monkeypatch.setitem(datasets.REGISTRY, "organamnist", replace(entry, url=url))
    with pytest.raises(ChecksumError, match="discarded"):
        datasets.load("organamnist", progress=False)
    assert not entry.archive_path.exists()
    assert not datasets.is_cached("organamnist")


def test_mirror_env_serves_the_registry_files(server, tmp_data_dir, monkeypatch):
    blob = medmnist_npz()
    entry = datasets.REGISTRY["breastmnist"]
    server.add(entry.filename, blob)
    # registry keeps the real Zenodo URL; only the checksum is swapped for the fixture's
    monkeypatch.setitem(datasets.REGISTRY, "breastmnist", replace(entry, md5=None, sha256=sha(blob)))
    monkeypatch.setenv("RADNB_MIRROR", server.base)
    ds = datasets.load("breastmnist", progress=False)
    assert ds.arrays("val")[0].shape == (2, 28, 28)
    assert server.gets("breastmnist.npz")


def test_offline_load_says_how_to_proceed(tmp_data_dir, monkeypatch):
    entry = datasets.REGISTRY["pneumoniamnist"]
    url = closed_port_url(entry.filename)
    monkeypatch.setitem(datasets.REGISTRY, "pneumoniamnist", replace(entry, url=url))
    with pytest.raises(OfflineError) as err:
        datasets.load("pneumoniamnist", timeout=1)
    message = str(err.value)
    assert url in message
    assert str(entry.archive_path) in message
    assert "radnb.sample_data(" in message
    assert not datasets.is_cached("pneumoniamnist")


def test_manually_placed_file_with_right_checksum_loads_offline(tmp_data_dir, monkeypatch):
    blob = medmnist_npz(seed=3)
    entry = datasets.REGISTRY["breastmnist"]
    monkeypatch.setitem(datasets.REGISTRY, "breastmnist",
                        replace(entry, url=closed_port_url(entry.filename), md5=hashlib.md5(blob).hexdigest()))
    target = datasets.REGISTRY["breastmnist"].archive_path
    target.parent.mkdir(parents=True)
    target.write_bytes(blob)
    ds = datasets.load("breastmnist", timeout=0.5)
    assert ds.arrays("train")[0].shape == (6, 28, 28)


def test_cli_data_get_uses_the_registry(server, tmp_data_dir, monkeypatch, capsys):
    from radnb.cli import main

    point_at(monkeypatch, server, "breastmnist", medmnist_npz())
    assert main(["data", "get", "breastmnist"]) == 0
    assert str(tmp_data_dir / "datasets" / "breastmnist" / "breastmnist.npz") in capsys.readouterr().out
    monkeypatch.setitem(datasets.REGISTRY, "organcmnist",
                        replace(datasets.REGISTRY["organcmnist"], url=closed_port_url("organcmnist.npz")))
    assert main(["data", "get", "organcmnist"]) == 1
    assert "sample_data" in capsys.readouterr().err


def test_siim_reload_keeps_the_source_table(server, tmp_data_dir, monkeypatch):
    point_at(monkeypatch, server, "siim_small", siim_tgz())
    first = datasets.load("siim_small", progress=False)
    second = datasets.load("siim_small", progress=False)  # from the cache, extraction reused
    pd.testing.assert_frame_equal(first.labels, second.labels)
    written = pd.read_csv(first.path / "labels.csv")
    assert {"file", "label", "patient_id", "split"} <= set(written.columns)
    assert (first.path / "labels_source.csv").is_file()


# --------------------------------------------------------------------------- radnb's training helpers accept them


@pytest.mark.timeout(120)
def test_training_helpers_accept_loaded_datasets(server, tmp_data_dir, monkeypatch):
    train = pytest.importorskip("radnb.train")
    point_at(monkeypatch, server, "chest_abdomen_xray", openi_zip())
    folder_ds = datasets.load("chest_abdomen_xray", progress=False)
    dls = train.classification_dls(folder_ds, size=16, bs=2, cache=False, num_workers=0)
    assert set(dls.vocab) == {"abdomen", "chest"}

    point_at(monkeypatch, server, "siim_small", siim_tgz())
    dls = train.classification_dls(datasets.load("siim_small", progress=False), size=16, bs=2, cache=False,
                                   num_workers=0)
    assert set(dls.vocab) == {"No Pneumothorax", "Pneumothorax"}

    point_at(monkeypatch, server, "breastmnist", medmnist_npz())
    mnist = datasets.load("breastmnist", progress=False)
    x, y = mnist.arrays("train")
    dls = train.classification_dls(x, label=y, patient=mnist.labels.query("split == 'train'").patient_id.tolist(),
                                   size=16, bs=2, cache=False, num_workers=0)
    assert len(dls.train_ds) + len(dls.valid_ds) == len(x)

    point_at(monkeypatch, server, "msd_hippocampus", msd_tar())
    seg = datasets.load("msd_hippocampus", progress=False)
    dls = train.segmentation_dls(seg.path, size=16, bs=2, cache=False, num_workers=0)
    assert list(dls.codes) == ["background", "Anterior", "Posterior"]


def _child_load(name, data_dir, queue):
    import os

    os.environ["RADNB_DATA"] = data_dir
    try:
        ds = datasets.load(name, progress=False)
        queue.put((str(ds.path), len(ds.labels)))
    except Exception as exc:  # report to the parent
        queue.put(("ERROR", f"{type(exc).__name__}: {exc}"))


def test_two_processes_loading_at_once_share_one_download_and_extraction(server, tmp_data_dir, monkeypatch):
    import multiprocessing

    point_at(monkeypatch, server, "chest_abdomen_xray", openi_zip())
    server.modes["/Open_I_abd_vs_CXRs.zip"] = "slow"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child_load, args=("chest_abdomen_xray", str(tmp_data_dir), queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert results[0] == results[1] == (str(tmp_data_dir / "datasets" / "chest_abdomen_xray" / "extracted"), 10)
    assert len(server.gets("Open_I_abd_vs_CXRs.zip")) == 1
    leftovers = list((tmp_data_dir / "datasets" / "chest_abdomen_xray").glob(".*extracting*"))
    assert leftovers == []
