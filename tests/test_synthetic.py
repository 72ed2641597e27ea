"""radnb.data.synthetic: real DICOM files from seeded phantoms, read back with pydicom and radnb."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.dataset import validate_file_meta

import radnb
from radnb.data import synthetic
from radnb.data.synthetic import make_body_parts, make_chest_xrays, make_ct_slices, make_ct_volumes
from radnb.errors import InvalidArgumentError

CT_SHAPE = (12, 48, 48)


@pytest.fixture(scope="module")
def chest(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("chest")
    return out, make_chest_xrays(out, n_patients=10, images_per_patient=(1, 3), size=64, seed=3)


@pytest.fixture(scope="module")
def ct(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("ct")
    return out, make_ct_volumes(out, n_patients=4, shape=CT_SHAPE, seed=2)


def _strict_read(path: Path) -> pydicom.Dataset:
    """Read a file that must be a conformant DICOM file: preamble, DICM prefix, valid file meta."""
    assert path.read_bytes()[128:132] == b"DICM"
    ds = pydicom.dcmread(path, force=False)
    validate_file_meta(ds.file_meta, enforce_standard=True)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    return ds


def _pixels(path: Path) -> np.ndarray:
    return pydicom.dcmread(path).pixel_array


def test_chest_files_are_valid_dicom_with_fake_phi(chest):
    root, table = chest
    for rel in table.file:
        ds = _strict_read(root / rel)
        validate_file_meta(ds.file_meta, enforce_standard=True)
        assert ds.Modality in ("DX", "CR")
        expected_sop = pydicom.uid.ComputedRadiographyImageStorage if ds.Modality == "CR" else \
            pydicom.uid.DigitalXRayImageStorageForPresentation
        assert ds.SOPClassUID == expected_sop == ds.file_meta.MediaStorageSOPClassUID
        assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
        assert (ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation) == (16, 12, 0)
        assert ds.pixel_array.dtype == np.uint16 and ds.pixel_array.max() <= 4095
        assert ds.pixel_array.shape == (64, 64)
        assert float(ds.PixelSpacing[0]) == pytest.approx(1.4 * 256 / 64)
        assert float(ds.WindowWidth) > 0 and float(ds.RescaleSlope) == 1
        for keyword in ("PatientName", "PatientBirthDate", "StudyDate", "InstitutionName",
                        "ReferringPhysicianName", "AccessionNumber", "PatientAddress"):
            assert str(ds.data_element(keyword).value).strip(), keyword
        assert ds.PatientID == table.set_index("file").loc[rel, "patient_id"]
        assert ds.PhotometricInterpretation == table.set_index("file").loc[rel, "photometric"]
    uids = [pydicom.dcmread(root / rel, stop_before_pixels=True).SOPInstanceUID for rel in table.file]
    assert len(set(uids)) == len(uids)


def test_chest_label_table_matches_files_and_patients_repeat(chest):
    root, table = chest
    on_disk = pd.read_csv(root / "labels.csv")
    assert list(on_disk.columns[:3]) == ["file", "patient_id", "label"]
    assert {"sex", "age", "view", "photometric"} <= set(on_disk.columns)
    assert sorted(on_disk.file) == sorted(p.relative_to(root).as_posix() for p in root.rglob("*.dcm"))
    assert set(on_disk.label) == {"normal", "opacity"}
    counts = on_disk.groupby("patient_id").size()
    assert len(counts) == 10 and (counts > 1).any() and counts.max() <= 3
    assert on_disk.groupby("patient_id").label.nunique().max() == 1  # one label per patient
    assert "MONOCHROME1" in set(on_disk.photometric) and "MONOCHROME2" in set(on_disk.photometric)


def test_monochrome1_is_stored_inverted_and_radnb_reads_it(chest):
    root, table = chest
    row = table[table.photometric == "MONOCHROME1"].iloc[0]
    ds = pydicom.dcmread(root / row.file)
    assert ds.PresentationLUTShape == "INVERSE"
    stored = ds.pixel_array.astype(float)
    # in MONOCHROME1 air (outside the body, image corners) is stored bright
    corner, centre = stored[:4, :4].mean(), stored[28:36, 28:36].mean()
    assert corner > centre
    image = radnb.load(root / row.file)
    assert image.invert and image.photometric == "MONOCHROME1"
    shown = radnb.window(image)
    assert shown[:4, :4].mean() < shown[28:36, 28:36].mean()  # air is dark once displayed


def test_same_seed_same_pixels_other_seed_differs(tmp_path):
    a = make_chest_xrays(tmp_path / "a", n_patients=2, size=48, seed=7)
    b = make_chest_xrays(tmp_path / "b", n_patients=2, size=48, seed=7)
    c = make_chest_xrays(tmp_path / "c", n_patients=2, size=48, seed=8)
    assert a.drop(columns=[]).equals(b)
    first = a.file[0]
    np.testing.assert_array_equal(_pixels(tmp_path / "a" / first), _pixels(tmp_path / "b" / first))
    assert pydicom.dcmread(tmp_path / "a" / first).SOPInstanceUID == pydicom.dcmread(tmp_path / "b" / first).SOPInstanceUID
    if first in set(c.file):
        assert not np.array_equal(_pixels(tmp_path / "a" / first), _pixels(tmp_path / "c" / first))


def test_opacity_raises_lung_attenuation(tmp_path):
    normal = make_chest_xrays(tmp_path / "n", n_patients=6, images_per_patient=(1, 1), size=64, seed=1,
                              opacity_fraction=0.0, monochrome1_fraction=0.0)
    sick = make_chest_xrays(tmp_path / "o", n_patients=6, images_per_patient=(1, 1), size=64, seed=1,
                            opacity_fraction=1.0, monochrome1_fraction=0.0)
    assert set(normal.label) == {"normal"} and set(sick.label) == {"opacity"}
    # same patients (same seed), so the difference is the opacity: brighter lung fields
    diffs = [(_pixels(tmp_path / "o" / f).astype(float) - _pixels(tmp_path / "n" / f))[12:48, 8:56].mean()
             for f in normal.file]
    assert np.mean(diffs) > 20


def _corner(path: Path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    x = ds.pixel_array.astype(float)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        x = 4095 - x
    return x[:12, -30:]


def test_marker_train_is_label_correlated_and_test_is_not(tmp_path):
    train = make_chest_xrays(tmp_path / "tr", n_patients=40, images_per_patient=(1, 1), size=64, seed=0,
                             marker="train")
    test = make_chest_xrays(tmp_path / "te", n_patients=40, images_per_patient=(1, 1), size=64, seed=0,
                            marker="test")
    none = make_chest_xrays(tmp_path / "no", n_patients=3, images_per_patient=(1, 1), size=64, seed=0)
    assert not none.marker.any()
    rate = train.groupby("label").marker.mean()
    assert rate["opacity"] - rate["normal"] > 0.4
    rate_test = test.groupby("label").marker.mean()
    assert abs(rate_test["opacity"] - rate_test["normal"]) < 0.4 and 0.2 < test.marker.mean() < 0.8
    # the token is burned into the pixels: a bright glyph on a dark box in the top-right corner
    with_marker = _corner(tmp_path / "tr" / train[train.marker].file.iloc[0])
    without = _corner(tmp_path / "tr" / train[~train.marker].file.iloc[0])
    assert (with_marker > 3800).sum() > 10 and (without > 3800).sum() == 0


def test_scanner_b_is_a_domain_shift(tmp_path):
    a = make_chest_xrays(tmp_path / "a", n_patients=4, images_per_patient=(1, 1), size=64, seed=0,
                         monochrome1_fraction=0.0)
    b = make_chest_xrays(tmp_path / "b", n_patients=4, images_per_patient=(1, 1), size=64, seed=0,
                         monochrome1_fraction=0.0, scanner="B")
    assert set(b.scanner) == {"B"}
    ds_a, ds_b = pydicom.dcmread(tmp_path / "a" / a.file[0]), pydicom.dcmread(tmp_path / "b" / b.file[0])
    assert ds_a.ManufacturerModelName != ds_b.ManufacturerModelName
    assert float(ds_b.PixelSpacing[0]) > float(ds_a.PixelSpacing[0])

    def noise(rel: str, root: Path) -> float:  # pixel-to-pixel differences in the image
        x = _pixels(root / rel).astype(float)
        return float(np.median(np.abs(np.diff(x, axis=1))))

    def mean(rel: str, root: Path) -> float:
        return float(_pixels(root / rel).mean())

    shift = [abs(mean(fa, tmp_path / "a") - mean(fb, tmp_path / "b")) for fa, fb in zip(a.file, b.file)]
    assert np.mean(shift) > 50  # a different contrast curve and gain
    assert np.mean([noise(f, tmp_path / "b") for f in b.file]) != pytest.approx(
        np.mean([noise(f, tmp_path / "a") for f in a.file]), rel=0.1)


def test_body_parts(tmp_path):
    table = make_body_parts(tmp_path, n_images=16, size=64, seed=4)
    assert len(table) == 16 and list(table.columns[:3]) == ["file", "patient_id", "label"]
    assert set(table.label) == {"chest", "abdomen"}
    assert table.equals(pd.read_csv(tmp_path / "labels.csv"))
    for rel, part in zip(table.file, table.label):
        ds = _strict_read(tmp_path / rel)
        assert ds.BodyPartExamined == part.upper() and ds.pixel_array.shape == (64, 64)


def test_ct_headers_geometry_and_hounsfield_units(ct):
    root, cases = ct
    assert list(cases.columns[:5]) == ["patient_id", "series", "mask", "lesion_label", "lesion_volume_ml"]
    assert set(cases.lesion_label) <= {"benign", "malignant"}
    for row in cases.itertuples():
        files = sorted((root / row.series).glob("*.dcm"))
        assert len(files) == CT_SHAPE[0]
        datasets = [_strict_read(f) for f in files]
        for ds in datasets:
            validate_file_meta(ds.file_meta, enforce_standard=True)
            assert ds.SOPClassUID == pydicom.uid.CTImageStorage and ds.Modality == "CT"
            assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
            assert float(ds.PixelSpacing[0]) == pytest.approx(row.row_mm, abs=1e-3)
            assert 0.7 <= float(ds.PixelSpacing[0]) <= 1.0 and 2.5 <= float(ds.SliceThickness) <= 5.0
        assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
        assert [ds.InstanceNumber for ds in datasets] == list(range(1, CT_SHAPE[0] + 1))
        orientation = np.array(datasets[0].ImageOrientationPatient, float)
        normal = np.cross(orientation[:3], orientation[3:])
        along = np.array([np.dot(np.array(ds.ImagePositionPatient, float), normal) for ds in datasets])
        np.testing.assert_allclose(np.diff(along), float(datasets[0].SliceThickness), atol=1e-3)
        assert float(datasets[0].SliceThickness) == pytest.approx(row.slice_mm)

        series = radnb.load(root / row.series)
        assert series.units == "HU" and series.array.shape == CT_SHAPE
        np.testing.assert_allclose(series.spacing, (row.slice_mm, row.row_mm, row.col_mm), atol=1e-3)
        hu = series.array
        mask = np.load(root / row.mask)
        assert mask.dtype == np.uint8 and mask.shape == hu.shape and set(np.unique(mask)) == {0, 1, 2}
        assert hu[0, 0, 0] < -900  # air in the corner
        assert 45 < np.median(hu[mask == 1]) < 80  # liver
        assert -10 < np.median(hu[mask == 2]) < 80  # lesion darker than or near liver
        assert np.percentile(hu, 99.9) > 400  # bone
        body = hu[(hu > -200) & (hu < 0)]
        assert body.size > 100  # fat
        voxel_ml = row.slice_mm * row.row_mm * row.col_mm / 1000
        assert row.lesion_volume_ml == pytest.approx((mask == 2).sum() * voxel_ml, rel=1e-3, abs=1e-3)
    labels = json.loads((root / "labels.json").read_text())
    assert labels["codes"] == ["background", "liver", "lesion"]


def test_ct_lesions_differ_by_label(tmp_path):
    cases = make_ct_volumes(tmp_path, n_patients=12, shape=(12, 64, 64), seed=0)
    stats = []
    for row in cases.itertuples():
        hu = radnb.load(tmp_path / row.series).array
        mask = np.load(tmp_path / row.mask)
        stats.append((row.lesion_label, float(np.mean(hu[mask == 2]))))
    means = pd.DataFrame(stats, columns=["label", "hu"]).groupby("label").hu.mean()
    assert set(means.index) == {"benign", "malignant"}
    assert means["malignant"] > means["benign"] + 10  # heterogeneous + enhancing rim vs cyst-like


def test_ct_slices_for_the_benchmark(tmp_path):
    folder = make_ct_slices(tmp_path, n=4, size=64, seed=0)
    series = radnb.load(folder)
    assert series.array.shape == (4, 64, 64) and series.units == "HU"
    assert series.array.min() < -900 and series.array.max() > 400


def test_sample_data_caches_with_a_completion_marker(tmp_data_dir, monkeypatch):
    calls = []

    def tiny(out):
        calls.append(out)
        make_body_parts(out, n_images=4, size=32, seed=0)

    monkeypatch.setitem(synthetic._BUILDERS, "body_part", tiny)
    assert not synthetic.is_prepared("body_part")
    crashed = tmp_data_dir / "synthetic" / ".body_part-v1-crashed"  # temp folder of a killed run
    crashed.mkdir(parents=True)
    (crashed / "half.dcm").write_bytes(b"partial")
    folder = radnb.sample_data("body_part")
    assert not crashed.exists()
    assert folder == tmp_data_dir / "synthetic" / "body_part-v1"
    assert (folder / ".complete").exists() and (folder / "labels.csv").exists()
    assert synthetic.is_prepared("body_part")
    assert radnb.sample_data("body_part") == folder and len(calls) == 1  # cached
    # a half-written set (no marker) is regenerated
    (folder / ".complete").unlink()
    (folder / "junk.txt").write_text("left over")
    assert not synthetic.is_prepared("body_part")
    assert synthetic.sample_data("body_part") == folder and len(calls) == 2
    assert (folder / ".complete").exists() and not (folder / "junk.txt").exists()
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".body_part")] == []


def test_sample_data_concurrent_calls_build_once(tmp_data_dir, monkeypatch):
    calls = []

    def tiny(out):
        calls.append(out)
        make_body_parts(out, n_images=3, size=32, seed=0)

    monkeypatch.setitem(synthetic._BUILDERS, "body_part", tiny)
    results = []
    threads = [threading.Thread(target=lambda: results.append(synthetic.sample_data("body_part")))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 3
    assert len(calls) == 1
    assert len(pd.read_csv(results[0] / "labels.csv")) == 3


def test_prepare_all_and_unknown_names(tmp_data_dir, monkeypatch):
    monkeypatch.setitem(synthetic._BUILDERS, "ct", lambda out: make_ct_volumes(out, n_patients=1, shape=(4, 32, 32)))
    paths = synthetic.prepare_all(["ct"])
    assert list(paths) == ["ct"] and (paths["ct"] / "cases.csv").exists()
    assert set(synthetic.SAMPLE_SETS) == {"chest_xray", "body_part", "chest_xray_external", "ct"}
    with pytest.raises(InvalidArgumentError, match="chest_xray.*body_part.*ct"):
        synthetic.sample_data("mri_brain")
    with pytest.raises(radnb.RadnbError):
        synthetic.is_prepared("nope")
    with pytest.raises(InvalidArgumentError):
        synthetic.prepare_all(["ct", "nope"])
    with pytest.raises(InvalidArgumentError, match="marker"):
        make_chest_xrays(tmp_data_dir / "x", n_patients=1, marker="yes")


def test_external_chest_set_is_another_hospital(tmp_data_dir):
    """The pretraining source: other patients, scanner B, both labels, several hundred images."""
    folder = radnb.sample_data("chest_xray_external")
    table = pd.read_csv(folder / "labels.csv")
    local = make_chest_xrays(tmp_data_dir / "local", n_patients=3, size=32, seed=0)
    assert len(table) >= 400 and set(table.label) == {"normal", "opacity"}
    assert set(table.scanner) == {"B"} and table.patient_id.str.startswith("CXB").all()
    assert not set(table.patient_id) & set(local.patient_id)
    ds = pydicom.dcmread(folder / table.file[0], stop_before_pixels=True)
    assert float(ds.PixelSpacing[0]) == pytest.approx(1.6)
