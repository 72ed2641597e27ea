"""The one mask loader: stored values mapped to named classes, NRRD / NIfTI geometry checked and placed on the image,
and the training / viewing hooks that use it."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from PIL import Image

import radnb
from radnb.dicom.masks import (MaskError, MaskGeometryError, MaskValueError, grid_of, load_mask, resize_nearest,
                               survey_values)

from test_seg import write_ct


def _lung_mask(h=40, w=32):
    m = np.zeros((h, w), np.uint8)
    m[8:30, 4:14] = 255
    m[8:30, 18:28] = 255
    return m


# ------------------------------------------------------------------ values -> classes
def test_png_0_255_gives_two_classes(tmp_path):
    Image.fromarray(_lung_mask()).save(tmp_path / "lungs.png")
    lm = load_mask(tmp_path / "lungs.png")
    assert lm.classes == ["background", "foreground"] and lm.values == [0, 255]
    assert set(np.unique(lm.array)) == {0, 1} and lm.counts()["foreground"] == 2 * 22 * 10
    assert lm.mapping == "0 → 0 background, 255 → 1 foreground"


@pytest.mark.parametrize("binary", [np.array([[0, 1], [1, 0]]), np.array([[False, True], [True, False]]),
                                    np.array([[0, 255], [255, 0]], np.uint8)])
def test_binary_conventions(binary):
    lm = load_mask(binary)
    assert lm.array.tolist() == [[0, 1], [1, 0]] and lm.classes == ["background", "foreground"]


def test_label_map_values_become_contiguous_classes_named_by_sidecar(tmp_path):
    m = np.zeros((10, 10), np.uint8)
    m[1:3, 1:3], m[5:7, 5:7], m[8, 8] = 10, 20, 40
    Image.fromarray(m).save(tmp_path / "case1.png")
    (tmp_path / "labels.json").write_text(json.dumps({"0": "background", "10": "liver", "20": "spleen",
                                                      "30": "kidney", "40": "lesion"}))
    lm = load_mask(tmp_path / "case1.png")
    # the sidecar's values define the classes, including kidney (absent here) so every case maps alike
    assert lm.classes == ["background", "liver", "spleen", "kidney", "lesion"] and lm.values == [0, 10, 20, 30, 40]
    assert lm.array[1, 1] == 1 and lm.array[5, 5] == 2 and lm.array[8, 8] == 4
    assert "20 → 2 spleen" in lm.mapping


def test_too_many_values_and_antialiased_masks_explain_what_to_do(tmp_path):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (30, 30), dtype=np.uint8)
    with pytest.raises(MaskValueError, match=r"\d+ distinct values.*max_classes=20.*does not look like a mask"):
        load_mask(photo)
    # a {0, 255} mask with smoothed edges: 0/255 dominate, a thin spread of in-between values
    from scipy.ndimage import gaussian_filter, uniform_filter

    light = np.clip(uniform_filter(_lung_mask(64, 64).astype(float), 3), 0, 255).astype(np.uint8)
    with pytest.warns(UserWarning, match=r"looks anti-aliased or JPEG-compressed.*threshold=128"):
        load_mask(light)
    smooth = np.clip(gaussian_filter(_lung_mask(64, 64).astype(float), 1.5), 0, 255).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "smooth.png")
    with pytest.raises(MaskValueError, match=r"smooth\.png.*distinct values.*anti-aliased.*threshold=128"):
        load_mask(tmp_path / "smooth.png")
    fixed = load_mask(tmp_path / "smooth.png", threshold=128)
    assert fixed.classes == ["background", "foreground"] and set(np.unique(fixed.array)) == {0, 1}
    # JPEG-compressed {0, 255} masks: noise values near both ends
    import io

    for quality, outcome in ((85, "error"), (95, "warning")):
        buffer = io.BytesIO()
        Image.fromarray(_lung_mask(64, 64)).save(buffer, "JPEG", quality=quality)
        jpeg = np.asarray(Image.open(buffer))
        if outcome == "error":
            with pytest.raises(MaskValueError, match=r"anti-aliased\) or JPEG-compressed.*threshold=128"):
                load_mask(jpeg)
        else:
            with pytest.warns(UserWarning, match="anti-aliased or JPEG-compressed"):
                load_mask(jpeg)
        assert load_mask(jpeg, threshold=128).classes == ["background", "foreground"]
    # JPEG: lossy, warned about
    Image.fromarray(_lung_mask(64, 64)).save(tmp_path / "lungs.jpg", quality=70)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            load_mask(tmp_path / "lungs.jpg", threshold=128)
        except MaskValueError:
            pass
    assert any("JPEG is lossy" in str(w.message) for w in caught)


def test_fractions_and_negative_values_are_refused():
    with pytest.raises(MaskValueError, match="probabilities"):
        load_mask(np.array([[0.2, 0.9]]))
    with pytest.raises(MaskValueError, match="negative"):
        load_mask(np.array([[-1, 0, 1]]))


def test_a_set_of_masks_shares_one_mapping():
    values, names = survey_values([np.array([0, 3]), np.array([0, 7]), np.array([0, 3, 7])])
    assert values == [0, 3, 7] and names == ["background", "class 3", "class 7"]
    only7 = load_mask(np.array([0, 7]), values=values)
    assert only7.array.tolist() == [0, 2]  # not "foreground" = 1: the set's mapping wins


def test_resize_is_nearest_neighbour():
    m = np.array([[0, 2], [1, 0]])
    big = resize_nearest(m, (4, 4))
    assert set(np.unique(big)) == {0, 1, 2} and big.tolist()[0] == [0, 0, 2, 2]


# ------------------------------------------------------------------ NRRD / NIfTI geometry
def _ct_and_truth(tmp_path, spacing=(2.0, 0.8, 0.6), origin=(-12.0, -30.0, 40.0)):
    folder = write_ct(tmp_path / "ct", shape=(5, 24, 20), spacing=spacing, origin=origin)
    series = radnb.load(folder)
    truth = np.zeros((5, 24, 20), np.uint8)
    truth[1:4, 5:15, 3:9] = 1
    truth[2, 10:12, 12:16] = 2
    return folder, series, truth


def test_nrrd_with_spacing_and_origin_is_checked_and_placed(tmp_path):
    nrrd = pytest.importorskip("nrrd")
    folder, series, truth = _ct_and_truth(tmp_path)
    grid = grid_of(series)
    # as 3D Slicer writes it: axes x (column), y (row), z (slice); LPS space; segment names in the header
    header = {"space": "left-posterior-superior",
              "space directions": np.array([[0.6, 0, 0], [0, 0.8, 0], [0, 0, 2.0]]),
              "space origin": grid.origin, "Segment0_Name": "liver", "Segment0_LabelValue": "1",
              "Segment1_Name": "lesion", "Segment1_LabelValue": "2"}
    nrrd.write(str(tmp_path / "seg.nrrd"), np.ascontiguousarray(truth.transpose(2, 1, 0)), header)
    lm = load_mask(tmp_path / "seg.nrrd", like=series)
    assert lm.classes == ["background", "liver", "lesion"] and lm.spacing == (2.0, 0.8, 0.6)
    np.testing.assert_array_equal(lm.array, truth)
    # a mask covering only slices 1-3 (origin one slice up): padded onto the right slices
    header["space origin"] = grid.origin + np.array([0, 0, 2.0])
    nrrd.write(str(tmp_path / "part.nrrd"), np.ascontiguousarray(truth[1:4].transpose(2, 1, 0)), header)
    np.testing.assert_array_equal(load_mask(tmp_path / "part.nrrd", like=series).array, truth)
    # another spacing: refused, naming both
    header["space directions"] = np.array([[0.6, 0, 0], [0, 0.8, 0], [0, 0, 3.0]])
    nrrd.write(str(tmp_path / "wrong.nrrd"), np.ascontiguousarray(truth.transpose(2, 1, 0)), header)
    with pytest.raises(MaskGeometryError, match=r"wrong\.nrrd.*does not match the image .*ct.*3 × 0.8 × 0.6"):
        load_mask(tmp_path / "wrong.nrrd", like=folder)


def test_nifti_in_ras_with_flipped_axes_lands_on_the_dicom_grid(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    folder, series, truth = _ct_and_truth(tmp_path, spacing=(2.5, 0.7, 0.9))
    grid = grid_of(series)
    # dcm2niix-style: RAS, x and y flipped relative to DICOM's LPS, so the array is stored mirrored
    zyx = truth[:, ::-1, ::-1]
    xyz = np.ascontiguousarray(zyx.transpose(2, 1, 0))
    affine = np.diag([0.9, 0.7, 2.5, 1.0])
    last_lps = grid.affine @ np.array([0, 23, 19, 1])  # the voxel at the far row / column corner
    affine[:3, 3] = [-last_lps[0], -last_lps[1], last_lps[2]]  # LPS -> RAS
    nibabel.save(nibabel.Nifti1Image(xyz, affine), str(tmp_path / "mask.nii.gz"))
    lm = load_mask(tmp_path / "mask.nii.gz", like=series)
    assert lm.spacing == (2.5, 0.7, 0.9)
    np.testing.assert_array_equal(lm.array, truth)
    # one voxel off in position is a different place: refused
    affine[:3, 3] += [0.0, 0.0, 100.0]
    nibabel.save(nibabel.Nifti1Image(xyz, affine), str(tmp_path / "far.nii.gz"))
    with pytest.raises(MaskGeometryError, match="fall outside the image"):
        load_mask(tmp_path / "far.nii.gz", like=series)


def test_mask_of_another_size_is_refused_naming_both(tmp_path):
    np.save(tmp_path / "m.npy", np.zeros((5, 10, 10), np.uint8))
    folder, series, _ = _ct_and_truth(tmp_path)
    with pytest.raises(MaskGeometryError, match=r"m\.npy.*5×10×10 voxels but the image .*ct.* 5×24×20"):
        load_mask(tmp_path / "m.npy", like=folder)
    with pytest.raises(MaskError, match="no such mask file"):
        load_mask(tmp_path / "missing.png")


# ------------------------------------------------------------------ the hooks
def test_show_with_a_png_mask_path(tmp_path):
    Image.fromarray(_lung_mask()).save(tmp_path / "lungs.png")
    (tmp_path / "lungs.json").write_text(json.dumps({"0": "background", "255": "lung"}))
    image = np.random.default_rng(0).normal(size=(40, 32))
    viewer = radnb.show(image, labels=tmp_path / "lungs.png")
    layer = viewer._layer_objs[1]
    assert layer.name == "labels: lung" and layer.meta["class_names"] == {"1": "lung"}
    assert set(np.unique(layer.data)) == {0, 1}
    with pytest.raises(MaskGeometryError, match="lungs.png"):
        radnb.show(np.zeros((20, 20)), labels=str(tmp_path / "lungs.png"))


def test_segmentation_dls_with_0_255_png_masks_has_two_classes(tmp_path, tmp_data_dir):
    rng = np.random.default_rng(1)
    images, masks = [], []
    for k in range(4):
        m = _lung_mask()
        img = np.where(m > 0, 60, 200).astype(np.uint8) + rng.integers(0, 20, m.shape, dtype=np.uint8)
        Image.fromarray(img).save(tmp_path / f"cxr{k}.jpg")
        Image.fromarray(m).save(tmp_path / f"cxr{k}_mask.png")
        images.append(tmp_path / f"cxr{k}.jpg")
        masks.append(tmp_path / f"cxr{k}_mask.png")
    (tmp_path / "labels.json").write_text(json.dumps({"0": "background", "255": "lung field"}))
    dls = radnb.segmentation_dls(images, masks, size=32, bs=2, device="cpu", valid_pct=0.25, augment=False)
    assert dls.codes == ["background", "lung field"]
    _, y = dls.one_batch()
    assert set(np.unique(y.cpu().numpy())) <= {0, 1} and int(y.max()) == 1


def test_evaluate_reports_the_named_class_not_255(tmp_path, tmp_data_dir):
    rng = np.random.default_rng(2)
    images, masks = [], []
    for k in range(4):
        m = _lung_mask(32, 32)
        Image.fromarray((np.where(m > 0, 60, 200) + rng.integers(0, 20, m.shape)).astype(np.uint8)).save(
            tmp_path / f"i{k}.png")
        Image.fromarray(m).save(tmp_path / f"i{k}_mask.png")
        images.append(tmp_path / f"i{k}.png")
        masks.append(tmp_path / f"i{k}_mask.png")
    dls = radnb.segmentation_dls(images, masks, codes=["background", "lung"], size=32, bs=2, device="cpu",
                                 valid_pct=0.5, augment=False)
    learn = radnb.segmenter(dls)
    report = radnb.evaluate(learn)
    assert set(report.per_case["class"]) == {"lung"} and list(report.mean_dice) == ["lung"]


def test_like_may_be_a_picture_or_a_nifti_path(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    Image.fromarray(_lung_mask()).save(tmp_path / "lungs.png")
    Image.fromarray(np.zeros((40, 32), np.uint8)).save(tmp_path / "cxr.png")
    assert load_mask(tmp_path / "lungs.png", like=tmp_path / "cxr.png").array.shape == (40, 32)
    image = nibabel.Nifti1Image(np.zeros((6, 5, 4), np.int16), np.diag([0.5, 0.5, 2.0, 1.0]))
    nibabel.save(image, str(tmp_path / "mr.nii.gz"))
    mask = np.zeros((6, 5, 4), np.uint8)
    mask[2:4, 1:3, 1] = 1
    nibabel.save(nibabel.Nifti1Image(mask, np.diag([0.5, 0.5, 2.0, 1.0])), str(tmp_path / "mr_mask.nii.gz"))
    lm = load_mask(tmp_path / "mr_mask.nii.gz", like=tmp_path / "mr.nii.gz")
    assert lm.array.shape == (4, 5, 6) and lm.spacing == (2.0, 0.5, 0.5) and lm.array[1, 1:3, 2:4].all()


def test_nifti_without_geometry_is_matched_by_size_only(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    folder, series, truth = _ct_and_truth(tmp_path)
    nibabel.save(nibabel.Nifti1Image(np.ascontiguousarray(truth.transpose(2, 1, 0)), None), str(tmp_path / "m.nii"))
    lm = load_mask(tmp_path / "m.nii", like=series)  # sform/qform codes 0: the affine means nothing
    assert lm.grid is None and lm.classes == ["background", "class 1", "class 2"]
    np.testing.assert_array_equal(lm.array, truth)
