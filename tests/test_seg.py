"""DICOM SEG through highdicom: pydicom's real liver SEGs on a CT built from their plane positions, generated
sparse / overlapping SEGs placed on their referenced CT, geometry refused, and save_seg -> read round trips."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

import radnb
from radnb.dicom.masks import MaskGeometryError, MaskOverlapError, load_mask
from radnb.dicom.seg import SegmentationObjectError, read_seg, save_seg

hd = pytest.importorskip("highdicom")

LIVER_FILES = ["liver.dcm", "liver_expb.dcm"]  # 3 frames, explicit VR little / big endian (bit-packed frames)


def _liver_path(name):
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is not in this pydicom / pydicom-data installation")
    return Path(path)


def write_ct(folder: Path, *, shape=(6, 40, 50), spacing=(2.5, 0.8, 0.7), origin=(-10.0, -20.0, 5.0),
             orientation=(1, 0, 0, 0, 1, 0), series_uid=None, study_uid=None, frame_uid=None, sop_uids=None,
             positions=None, hu=None):
    """One file per slice, with the attributes a SEG copies (patient, study, frame of reference)."""
    folder.mkdir(parents=True, exist_ok=True)
    z, h, w = shape
    series_uid, study_uid, frame_uid = series_uid or generate_uid(), study_uid or generate_uid(), frame_uid or generate_uid()
    o = np.asarray(orientation, float)
    normal = np.cross(o[:3], o[3:])
    for k in range(z):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uids[k] if sop_uids else generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"ct{k:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = CTImageStorage, meta.MediaStorageSOPInstanceUID, "CT"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "TEST^PHANTOM", "P1", "", "O"
        ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "20240101", "000000", "", "", "1"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.Rows, ds.Columns = h, w
        ds.PixelSpacing, ds.SliceThickness = [spacing[1], spacing[2]], spacing[0]
        ds.ImageOrientationPatient = list(orientation)
        pos = positions[k] if positions is not None else np.asarray(origin) + normal * spacing[0] * k
        ds.ImagePositionPatient = [float(v) for v in pos]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = (np.zeros((h, w), np.int16) if hu is None else hu[k].astype(np.int16)).tobytes()
        ds.save_as(folder / f"ct{k:03d}.dcm", enforce_file_format=True)
    return folder


def ct_for_seg(seg_path: Path, folder: Path) -> Path:
    """The CT a SEG annotates, rebuilt from the SEG's own references and plane positions."""
    seg = pydicom.dcmread(seg_path)
    ref = seg.ReferencedSeriesSequence[0]
    fg = seg.PerFrameFunctionalGroupsSequence
    sops = [f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID for f in fg]
    positions = [[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] for f in fg]
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    orient = seg.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient
    return write_ct(folder, shape=(len(fg), seg.Rows, seg.Columns),
                    spacing=(float(measures.SliceThickness),) + tuple(float(v) for v in measures.PixelSpacing),
                    orientation=[float(v) for v in orient], series_uid=ref.SeriesInstanceUID,
                    study_uid=seg.StudyInstanceUID, frame_uid=seg.FrameOfReferenceUID, sop_uids=sops, positions=positions)


def make_seg(ct_folder: Path, masks: dict, path: Path, *, crop=None):
    """A SEG written by highdicom (independent of radnb's writer). masks: segment label -> bool (Z, H, W).

    crop=(slices, rows, cols) stores only that box (a sparse SEG with smaller frames)."""
    series = radnb.load(ct_folder)
    dss = [pydicom.dcmread(p, stop_before_pixels=True) for p in series.paths]
    from radnb.dicom.masks import grid_of

    grid = grid_of(series)
    stack = np.stack(list(masks.values()), axis=-1).astype(bool)
    affine = grid.affine
    if crop is not None:
        stack = stack[crop]
        shift = np.eye(4)
        shift[:3, 3] = [c.start for c in crop]
        affine = affine @ shift
    volume = hd.Volume(stack, affine, "PATIENT", str(dss[0].FrameOfReferenceUID),
                       channels={"SegmentNumber": list(range(1, len(masks) + 1))}) if stack.shape[-1] > 1 else \
        hd.Volume(stack[..., 0], affine, "PATIENT", str(dss[0].FrameOfReferenceUID))
    from pydicom.sr.codedict import codes

    descriptions = [hd.seg.SegmentDescription(
        segment_number=k + 1, segment_label=label, segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Tissue, algorithm_type="MANUAL") for k, label in enumerate(masks)]
    seg = hd.seg.Segmentation(
        source_images=dss, pixel_array=volume, segmentation_type="BINARY", segment_descriptions=descriptions,
        series_instance_uid=generate_uid(), series_number=50, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer="test", manufacturer_model_name="test", software_versions="1", device_serial_number="1")
    seg.save_as(path)
    return path


# ------------------------------------------------------------------ pydicom's real liver SEGs
@pytest.mark.parametrize("name", LIVER_FILES)
def test_real_liver_seg_on_its_referenced_ct(tmp_path, name):
    seg_path = _liver_path(name)
    folder = ct_for_seg(_liver_path("liver.dcm"), tmp_path / "ct")
    shutil.copy(seg_path, folder / "liver_seg.dcm")
    lm = load_mask(folder / "liver_seg.dcm")  # the referenced CT is found in the SEG's folder
    assert lm.classes == ["background", "Liver"] and lm.values == [0, 1]
    assert lm.array.shape == (3, 512, 512)
    # independent truth: pydicom's own frame decoding, frame k placed at the slice with its ImagePositionPatient
    raw = pydicom.dcmread(seg_path)
    frames = raw.pixel_array
    series = radnb.load(folder)
    z_of = {round(float(p[2]), 2): k for k, p in enumerate(series.positions)}
    for f, fg in enumerate(raw.PerFrameFunctionalGroupsSequence):
        z = z_of[round(float(fg.PlanePositionSequence[0].ImagePositionPatient[2]), 2)]
        np.testing.assert_array_equal(lm.array[z], frames[f].astype(np.uint8))
    assert lm.counts()["Liver"] == int(frames.sum()) > 0
    assert "Liver" in lm.mapping


def test_single_frame_liver_seg_lands_on_its_slice(tmp_path):
    one = _liver_path("liver_1frame.dcm")
    folder = ct_for_seg(_liver_path("liver.dcm"), tmp_path / "ct")
    series = radnb.load(folder)
    lm = load_mask(one, like=series)
    raw = pydicom.dcmread(one)
    z = float(raw.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient[2])
    k = int(np.argmin(np.abs(series.positions[:, 2] - z)))
    np.testing.assert_array_equal(lm.array[k], raw.pixel_array.astype(np.uint8))
    assert not np.delete(lm.array, k, axis=0).any()


def test_radnb_load_says_a_seg_is_a_mask():
    with pytest.raises(SegmentationObjectError, match=r"DICOM SEG .*Liver.*load_mask"):
        radnb.load(_liver_path("liver.dcm"))


def test_folder_with_ct_and_seg_loads_the_ct_and_names_the_seg(tmp_path):
    folder = ct_for_seg(_liver_path("liver.dcm"), tmp_path / "ct")
    shutil.copy(_liver_path("liver.dcm"), folder / "seg.dcm")
    series = radnb.load(folder)
    assert isinstance(series, radnb.DicomSeries) and series.array.shape == (3, 512, 512)
    assert [e.path.name for e in series.errors] == ["seg.dcm"] and "load_mask" in series.errors[0].reason


def test_seg_without_its_series_says_what_to_pass(tmp_path):
    shutil.copy(_liver_path("liver.dcm"), tmp_path / "seg.dcm")
    with pytest.raises(radnb.RadnbError, match=r"annotates series .* not in .*reference="):
        load_mask(tmp_path / "seg.dcm")


# ------------------------------------------------------------------ generated cases
def test_sparse_seg_lands_on_the_right_rows_columns_and_slices(tmp_path):
    folder = write_ct(tmp_path / "ct", shape=(6, 40, 50))
    truth = np.zeros((6, 40, 50), bool)
    truth[2, 7:20, 12:30] = True
    truth[3, 5:29, 10:48] = True
    truth[3, 10, 12] = False
    crop = (slice(2, 4), slice(5, 29), slice(10, 48))  # 2 frames of 24 × 38, as a sparse SEG stores them
    seg_path = make_seg(folder, {"lesion": truth}, tmp_path / "sparse_seg.dcm", crop=crop)
    stored = pydicom.dcmread(seg_path)
    assert (int(stored.NumberOfFrames), stored.Rows, stored.Columns) == (2, 24, 38)
    lm = load_mask(seg_path, like=folder)
    assert lm.array.shape == (6, 40, 50) and lm.classes == ["background", "lesion"]
    np.testing.assert_array_equal(lm.array, truth.astype(np.uint8))  # voxel by voxel


def test_overlapping_segments_explain_and_give_channels(tmp_path):
    folder = write_ct(tmp_path / "ct", shape=(4, 20, 24))
    liver = np.zeros((4, 20, 24), bool)
    liver[1:3, 4:14, 4:16] = True
    lesion = np.zeros_like(liver)
    lesion[2, 8:12, 8:12] = True  # inside the liver: overlaps
    vessel = np.zeros_like(liver)
    vessel[0, 15:18, 2:5] = True
    seg_path = make_seg(folder, {"liver": liver, "lesion": lesion, "vessel": vessel}, tmp_path / "ov.dcm")
    with pytest.raises(MaskOverlapError, match=r"1 'liver' and 2 'lesion' share 16 voxel.*overlap='channels'"):
        load_mask(seg_path, like=folder)
    lm = load_mask(seg_path, like=folder, overlap="channels")
    assert lm.channels and lm.classes == ["liver", "lesion", "vessel"] and lm.array.shape == (3, 4, 20, 24)
    for channel, truth in zip(lm.array, (liver, lesion, vessel)):
        np.testing.assert_array_equal(channel, truth.astype(np.uint8))
    viewer = radnb.show(radnb.load(folder), labels=lm)  # overlapping segments: one overlay each
    assert [layer.name for layer in viewer._layer_objs[1:]] == ["labels: liver", "labels: lesion", "labels: vessel"]
    chosen = load_mask(seg_path, like=folder, segments=["lesion", "vessel"])  # a non-overlapping choice
    assert chosen.classes == ["background", "lesion", "vessel"]
    np.testing.assert_array_equal(chosen.array, lesion * 1 + vessel * 2)


def test_geometry_mismatch_is_refused_naming_both_files(tmp_path):
    folder = write_ct(tmp_path / "ct", shape=(4, 20, 24))
    mask = np.zeros((4, 20, 24), bool)
    mask[1, 5:9, 5:9] = True
    seg_path = make_seg(folder, {"organ": mask}, tmp_path / "seg.dcm")
    # another series of the same scan (same frame of reference) with a different pixel spacing
    frame = str(pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True).FrameOfReferenceUID)
    other = write_ct(tmp_path / "other", shape=(4, 20, 24), spacing=(2.5, 0.5, 0.5), frame_uid=frame)
    with pytest.raises(MaskGeometryError, match=r"seg\.dcm.*does not match the image .*other"):
        load_mask(seg_path, like=other)
    # a different scan altogether (another frame of reference)
    stranger = write_ct(tmp_path / "stranger", shape=(4, 20, 24))
    with pytest.raises(MaskGeometryError, match=r"seg\.dcm.*another frame of reference .*stranger"):
        load_mask(seg_path, like=stranger)


def test_save_seg_round_trip(tmp_path):
    hu = np.random.default_rng(0).normal(0, 30, (5, 32, 36))
    folder = write_ct(tmp_path / "ct", shape=(5, 32, 36), spacing=(3.0, 0.9, 0.9), hu=hu)
    series = radnb.load(folder)
    pred = np.zeros((5, 32, 36), np.uint8)
    pred[1:4, 8:20, 10:25] = 1
    pred[2, 12:15, 14:18] = 2
    out = save_seg(pred, series, tmp_path / "pred_seg.dcm", classes=["background", "liver", "lesion"],
                   model_name="tiny unet", model_version="0.3")
    back = load_mask(out, like=series)
    np.testing.assert_array_equal(back.array, pred)
    assert back.classes == ["background", "liver", "lesion"]
    # highdicom reads it too, and it names the source series and the algorithm
    seg = hd.seg.segread(out)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series.series_uid
    referenced = {uid for _, _, uid in seg.get_source_image_uids()}
    assert referenced == {str(d.SOPInstanceUID) for d in series.datasets}
    assert int(seg.NumberOfFrames) == 4  # empty frames omitted: liver on 3 slices, lesion on 1
    segment = seg.get_segment_description(1)
    assert segment.algorithm_type.value == "AUTOMATIC"
    assert (segment.algorithm_identification[0].AlgorithmName, segment.algorithm_identification[0].AlgorithmVersion) \
        == ("tiny unet", "0.3")
    assert seg.StudyInstanceUID == series.meta.StudyInstanceUID
    # written next to its CT, the SEG finds its series by itself
    shutil.copy(out, folder / "seg.dcm")
    np.testing.assert_array_equal(load_mask(folder / "seg.dcm").array, pred)
    with pytest.raises(radnb.RadnbError, match="exists"):
        save_seg(pred, series, out)


def test_save_seg_resizes_a_smaller_prediction_nearest(tmp_path):
    folder = write_ct(tmp_path / "ct", shape=(2, 32, 32))
    pred = np.zeros((2, 16, 16), np.uint8)
    pred[:, 4:8, 4:8] = 1
    out = save_seg(pred, folder, tmp_path / "s.dcm")
    back = load_mask(out, like=folder)
    assert back.array.shape == (2, 32, 32) and set(np.unique(back.array)) == {0, 1}
    assert back.array[:, 8:16, 8:16].all() and back.array.sum() == 2 * 64


def test_show_takes_a_seg_path(tmp_path):
    folder = write_ct(tmp_path / "ct", shape=(4, 20, 24))
    mask = np.zeros((4, 20, 24), bool)
    mask[1, 5:9, 5:9] = True
    seg_path = make_seg(folder, {"kidney": mask}, tmp_path / "seg.dcm")
    series = radnb.load(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        viewer = radnb.show(series, labels=seg_path)
    layer = viewer._layer_objs[1]
    assert layer.kind == "labels" and layer.name == "labels: kidney"
    assert layer.meta["class_names"] == {"1": "kidney"}
    np.testing.assert_array_equal(layer.data, mask.astype(np.uint8))
    truth_layer = radnb.compare(series, truth=seg_path)._layer_objs[1]
    assert truth_layer.name == "truth: kidney" and int(truth_layer.data.sum()) == 16


def test_segmentation_dls_reads_seg_masks_on_their_series(tmp_path, tmp_data_dir):
    folders, segs, truths = [], [], []
    for k in range(3):
        hu = np.full((4, 24, 24), -100.0)
        truth = np.zeros((4, 24, 24), bool)
        truth[1:3, 6 + k:14 + k, 5:15] = True
        hu[truth] = 60.0
        folder = write_ct(tmp_path / f"p{k}" / "ct", shape=(4, 24, 24), hu=hu)
        folders.append(folder)
        segs.append(make_seg(folder, {"kidney": truth}, tmp_path / f"p{k}" / "seg.dcm"))
        truths.append(truth)
    dls = radnb.segmentation_dls(folders, segs, size=24, bs=2, device="cpu", valid_pct=0.34, augment=False,
                                 windows=(40, 400))
    assert dls.codes == ["background", "kidney"]  # the SEG's segment label, not "class1"
    from radnb.train.prep import load_mask as training_mask

    for rec in dls.records:
        k = folders.index(Path(rec.item.source))
        np.testing.assert_array_equal(training_mask(rec.label, 24, dls.cache), truths[k][rec.item.index])


def test_fractional_seg_with_8_bit_frames_is_thresholded_at_half(tmp_path):
    from pydicom.sr.codedict import codes

    folder = write_ct(tmp_path / "ct", shape=(3, 16, 16))
    dss = [pydicom.dcmread(p, stop_before_pixels=True) for p in radnb.load(folder).paths]
    prob = np.zeros((3, 16, 16), np.float32)
    prob[1, 4:8, 4:8] = 0.9
    prob[1, 8:10, 4:8] = 0.3  # below one half: outside
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label="liver", segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Liver, algorithm_type="AUTOMATIC",
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="test", family=codes.cid7162.ArtificialIntelligence, version="1"))
    hd.seg.Segmentation(
        source_images=dss, pixel_array=prob, segmentation_type="FRACTIONAL", segment_descriptions=[description],
        series_instance_uid=generate_uid(), series_number=5, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer="t", manufacturer_model_name="t", software_versions="1", device_serial_number="1",
    ).save_as(tmp_path / "frac.dcm")
    assert int(pydicom.dcmread(tmp_path / "frac.dcm").BitsAllocated) == 8  # not bit-packed
    lm = load_mask(tmp_path / "frac.dcm", like=folder)
    np.testing.assert_array_equal(lm.array, (prob >= 0.5).astype(np.uint8))
    assert any("FRACTIONAL" in n for n in lm.notes)


class _DecoderPanic(BaseException):
    """Stands in for pyo3_runtime.PanicException, which a Rust decoder raises and which is no Exception."""


def test_a_decoder_panic_inside_highdicom_is_a_clear_mask_error(tmp_path, monkeypatch):
    folder = ct_for_seg(_liver_path("liver.dcm"), tmp_path / "ct")
    shutil.copy(_liver_path("liver.dcm"), folder / "liver_seg.dcm")

    def panic(*args, **kwargs):
        raise _DecoderPanic("called `Result::unwrap()` on an `Err` value")

    monkeypatch.setattr(hd.seg.Segmentation, "from_dataset", panic)
    with pytest.raises(radnb.errors.RadnbError) as info:
        load_mask(folder / "liver_seg.dcm")
    assert "liver_seg.dcm" in str(info.value) and "could not be decoded" in str(info.value)
    with pytest.raises(KeyboardInterrupt):  # a request to stop is never swallowed
        monkeypatch.setattr(hd.seg.Segmentation, "from_dataset", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
        load_mask(folder / "liver_seg.dcm")
