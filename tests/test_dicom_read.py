"""radnb.dicom reading: real files written with pydicom, pydicom's own test files and pydicom-data."""
from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

import radnb
from radnb.errors import (CorruptDicomError, DicomFileNotFoundError, InconsistentSeriesError, NoPixelDataError,
                          NotDicomError, RadnbError, UnsupportedTransferSyntaxError)

from dicom_factory import write_ct_series, write_radiograph, write_rgb, write_signed_mr


def _corpus():
    files = glob.glob(os.path.join(os.path.dirname(pydicom.data.__file__), "test_files", "**", "*"), recursive=True)
    try:
        import data_store  # the pydicom-data package

        files += glob.glob(os.path.join(os.path.dirname(data_store.__file__), "data", "*"))
    except ImportError:  # pragma: no cover - pydicom-data is a dev dependency
        pass
    return sorted(f for f in files if os.path.isfile(f) and not f.endswith((".py", ".pyc")))


CORPUS = _corpus()


def test_corpus_is_the_real_one():
    # pydicom's bundled files plus pydicom-data: well over a hundred files, many vendors and syntaxes
    assert len(CORPUS) > 150


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: os.path.relpath(p, os.path.dirname(os.path.dirname(p))))
def test_every_corpus_file_loads_or_raises_a_radnb_error(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            obj = radnb.load(path)
        except RadnbError as exc:
            message = str(exc)
            assert os.path.basename(path) in message  # names the file
            assert len(exc.reason) > 20  # and says what is wrong
            if type(exc).__name__ == "SegmentationObjectError":  # a SEG is a mask: radnb says how to load it as one
                assert "load_mask" in message
                return
            # a file pydicom can decode is never worse in radnb
            try:
                decoded = pydicom.dcmread(path, force=True).pixel_array
            except BaseException as pydicom_exc:  # noqa: B902 - any failure, panics included
                if isinstance(pydicom_exc, (KeyboardInterrupt, SystemExit)):
                    raise
                return
            pytest.fail(f"radnb refused a file pydicom decodes ({decoded.shape}): {exc}")
    assert isinstance(obj, (radnb.DicomImage, radnb.DicomSeries))
    arr = obj.array
    if obj.is_color:
        assert arr.dtype == np.uint8 and arr.shape[-1] == 3
    else:
        assert arr.dtype == np.float32
        assert arr.ndim == obj.ndim
        assert np.isfinite(arr).all()
    ds = obj.meta
    if not obj.is_color and obj.ndim == 2:
        assert arr.shape == (int(ds.Rows), int(ds.Columns))
    assert "PixelData" not in ds  # pixel data dropped from the kept header


def test_ct_small_is_in_hounsfield_units():
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    ct = radnb.load(path)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(ct.array, expected)
    assert ct.units == "HU" and ct.modality == "CT"
    assert ct.spacing == pytest.approx((0.661468, 0.661468))


def test_written_ct_gives_air_and_water_in_hu(tmp_path):
    hu = np.zeros((3, 16, 16), np.float32)
    hu[:, :8] = -1000  # air
    hu[:, 8:, :4] = 1000  # bone
    write_ct_series(tmp_path / "s", hu)
    series = radnb.load(tmp_path / "s")
    assert isinstance(series, radnb.DicomSeries)
    assert series.array[0, 0, 0] == -1000 and series.array[0, 12, 8] == 0 and series.array[1, 12, 1] == 1000
    assert series.default_window == (40.0, 400.0)


def test_monochrome1_is_flagged_and_window_inverts(tmp_path):
    stored = np.tile(np.linspace(0, 4000, 32, dtype=np.float32), (8, 1))
    m1 = radnb.load(write_radiograph(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1"))
    m2 = radnb.load(write_radiograph(tmp_path / "m2.dcm", stored, photometric="MONOCHROME2"))
    assert m1.invert and not m2.invert
    np.testing.assert_allclose(m1.array, m2.array)  # values are untouched ...
    w1, w2 = radnb.window(m1, 2000, 4000), radnb.window(m2, 2000, 4000)
    np.testing.assert_allclose(w1, 1.0 - w2, atol=1e-6)  # ... display is inverted


def test_real_monochrome1_file_is_inverted_for_display():
    import data_store

    path = os.path.join(os.path.dirname(data_store.__file__), "data", "RG1_UNCI.dcm")
    img = radnb.load(path)
    assert img.photometric == "MONOCHROME1" and img.invert
    shown = radnb.window(img, preset="auto")
    raw_window = radnb.window(img.array, preset="auto")
    np.testing.assert_allclose(shown, 1.0 - raw_window, atol=1e-6)


def test_multiframe_file_is_a_series():
    s = radnb.load(get_testdata_file("emri_small.dcm"))
    assert isinstance(s, radnb.DicomSeries)
    assert len(s) == 10 and s.array.shape == (10, 64, 64)
    assert isinstance(s[3], radnb.DicomImage) and s[3].array.shape == (64, 64)
    with pytest.raises(IndexError, match="10 slices"):
        s[10]


@pytest.mark.parametrize(
    "name", ["MR_small_jp2klossless.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm"]
)
def test_compressed_and_big_endian_files_match_the_uncompressed_one(name):
    reference = radnb.load(get_testdata_file("MR_small.dcm")).array
    np.testing.assert_array_equal(radnb.load(get_testdata_file(name)).array, reference)


def test_signed_16_bit_values_survive(tmp_path):
    values = np.array([[-32768, -1], [0, 32767]], np.int16)
    img = radnb.load(write_signed_mr(tmp_path / "mr", values))
    np.testing.assert_array_equal(img.array, values.astype(np.float32))
    assert img.units == "raw"


def test_rgb_and_palette_colour():
    rgb = radnb.load(get_testdata_file("SC_rgb.dcm"))
    assert rgb.is_color and rgb.array.dtype == np.uint8 and rgb.array.shape[-1] == 3
    pal = radnb.load(get_testdata_file("OT-PAL-8-face.dcm"))
    assert pal.is_color and pal.array.shape == (480, 640, 3)
    with pytest.raises(radnb.InvalidArgumentError, match="colour"):
        radnb.window(rgb)


def test_missing_decoder_names_the_pip_package():
    code = (
        "import radnb, pydicom.data\n"
        "from pydicom.pixels import get_decoder\n"
        "from pydicom.uid import JPEG2000Lossless\n"
        "d = get_decoder(JPEG2000Lossless)\n"
        "[d.remove_plugin(n) for n in list(d.available_plugins)]\n"
        "try:\n"
        "    radnb.load(pydicom.data.get_testdata_file('MR_small_jp2klossless.dcm'))\n"
        "except radnb.UnsupportedTransferSyntaxError as e:\n"
        "    print('MESSAGE', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "MESSAGE" in out
    assert "pylibjpeg-openjpeg" in out and "JPEG 2000" in out and "MR_small_jp2klossless.dcm" in out


def test_errors_for_bad_single_files(tmp_path):
    with pytest.raises(DicomFileNotFoundError, match="no such file"):
        radnb.load(tmp_path / "missing.dcm")
    (tmp_path / "notes.txt").write_text("Patient doing well.\n")
    with pytest.raises(NotDicomError, match="notes.txt: not a DICOM file"):
        radnb.load(tmp_path / "notes.txt")
    with pytest.raises(NoPixelDataError, match="no image"):
        radnb.load(get_testdata_file("rtplan.dcm"))
    good = get_testdata_file("CT_small.dcm")
    data = Path(good).read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDicomError, match="cut.dcm"):
        radnb.load(tmp_path / "cut.dcm")


def test_dicom_recognised_by_content_not_extension(tmp_path):
    target = tmp_path / "1.2.3.4"  # a typical PACS export name
    target.write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    assert radnb.load(target).modality == "CT"


def test_folder_with_a_broken_file_loads_the_rest(tmp_path):
    hu = np.random.default_rng(0).normal(40, 10, (6, 16, 16)).astype(np.float32)
    paths = write_ct_series(tmp_path / "study", hu)
    good_bytes = paths[0].read_bytes()
    (tmp_path / "study" / "IM_broken").write_bytes(good_bytes[:400])
    (tmp_path / "study" / "labels.csv").write_text("file,label\n")
    (tmp_path / "study" / "readme_no_ext").write_text("not an image")
    series = radnb.load(tmp_path / "study")
    assert isinstance(series, radnb.DicomSeries) and len(series) == 6
    np.testing.assert_allclose(series.array, np.round(hu), atol=0.5)
    failed = {e.path.name: type(e.error) for e in series.errors}
    assert failed == {"IM_broken": CorruptDicomError, "readme_no_ext": NotDicomError}
    assert "IM_broken" in str(series.errors[0]) or "IM_broken" in str(series.errors[1])


def test_series_sorted_by_position_with_spacing(tmp_path):
    hu = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((5, 8, 8), np.float32)
    write_ct_series(tmp_path / "s", hu, spacing=(3.0, 0.5, 0.6), shuffle=True)
    s = radnb.load(tmp_path / "s")
    assert s.array[:, 0, 0].tolist() == [0, 1, 2, 3, 4]
    assert s.spacing == pytest.approx((3.0, 0.5, 0.6))
    assert s.positions[:, 2].tolist() == [0, 3, 6, 9, 12]
    assert not s.warnings


def test_gap_in_series_is_reported(tmp_path):
    hu = np.zeros((6, 8, 8), np.float32)
    write_ct_series(tmp_path / "s", hu, spacing=(2.0, 1, 1), skip=[3])
    s = radnb.load(tmp_path / "s")
    assert len(s) == 5 and s.spacing[0] == pytest.approx(2.0)
    assert any("Gap after slice 2" in w for w in s.warnings)


def test_mixed_folder_gives_a_collection_grouped_by_series(tmp_path):
    write_ct_series(tmp_path / "mixed" / "a", np.zeros((3, 8, 8), np.float32))
    write_ct_series(tmp_path / "mixed" / "b", np.ones((4, 8, 8), np.float32))
    write_radiograph(tmp_path / "mixed" / "cxr", np.zeros((10, 10)))
    c = radnb.load(tmp_path / "mixed")
    assert isinstance(c, radnb.SeriesCollection)
    assert sorted(len(s) for s in c.series()) == [3, 4]
    assert len(c.images()) == 1 and c.errors == []


def test_list_of_files_and_odd_size_slice(tmp_path):
    paths = write_ct_series(tmp_path / "s", np.zeros((4, 8, 8), np.float32), shuffle=False)
    # a slice of another size in the same series is reported, the rest stacked
    odd = write_ct_series(tmp_path / "odd", np.zeros((1, 6, 6), np.float32),
                          series_uid=str(pydicom.dcmread(paths[0]).SeriesInstanceUID))
    s = radnb.load(paths + odd)
    assert isinstance(s, radnb.DicomSeries) and len(s) == 4
    assert len(s.errors) == 1 and isinstance(s.errors[0].error, InconsistentSeriesError)


def test_folder_with_nothing_readable_says_why(tmp_path):
    (tmp_path / "a.dcm").write_text("nope")
    with pytest.raises(RadnbError, match="none of the 1 file"):
        radnb.load(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotDicomError, match="no DICOM files"):
        radnb.load(empty)


def test_repr_hides_patient_identifiers(tmp_path):
    paths = write_ct_series(tmp_path / "s", np.zeros((2, 8, 8), np.float32), patient="SMITH^JOHN")
    text = repr(radnb.load(tmp_path / "s")) + repr(radnb.load(paths[0]))
    assert "SMITH" not in text and "MRN" not in text


def test_import_radnb_is_light():
    code = "import sys, radnb; print(sorted(m for m in ('torch', 'fastai', 'pydicom', 'ipywidgets', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip()
    assert out == "[]"


def _rle_frame(segments):
    """An RLE Lossless frame (PS3.5 Annex G): a 64-byte header of segment offsets, then the segments."""
    import struct

    header = struct.pack("<I", len(segments))
    offset, offsets = 64, []
    for segment in segments:
        offsets.append(offset)
        offset += len(segment)
    header += b"".join(struct.pack("<I", o) for o in offsets) + b"\0" * 4 * (15 - len(segments))
    return header + b"".join(segments)


def write_panicking_rle(path: Path) -> Path:
    """A 2x2 16-bit RLE image whose second segment's literal run overruns the frame.

    pylibjpeg-rle (a Rust extension) panics on it: pyo3_runtime.PanicException,
    which derives from BaseException, not Exception.
    """
    from pydicom.encaps import encapsulate
    from pydicom.uid import RLELossless

    src = write_ct_series(path.parent / "_rle_src", np.zeros((1, 2, 2), np.float32))[0]
    ds = pydicom.dcmread(src)
    ds.PixelData = encapsulate([_rle_frame([bytes([3, 1, 2, 3, 4]), bytes([127]) + bytes(128)])])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = RLELossless
    ds.save_as(path, enforce_file_format=True)
    for p in (path.parent / "_rle_src").iterdir():
        p.unlink()
    (path.parent / "_rle_src").rmdir()
    return path


def test_crafted_rle_really_makes_the_decoder_panic(tmp_path):
    # the premise of the next test: the raw decoder raises a BaseException that is not an Exception
    ds = pydicom.dcmread(write_panicking_rle(tmp_path / "panic.dcm"))
    code = (
        "import pydicom, sys\n"
        f"ds = pydicom.dcmread({str(tmp_path / 'panic.dcm')!r})\n"
        "try:\n    ds.pixel_array\nexcept Exception:\n    print('Exception')\n"
        "except BaseException as e:\n    print('BaseException', type(e).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "BaseException PanicException" in out.stdout, out.stdout + out.stderr
    assert "panicked" in out.stderr  # Rust writes the panic to stderr
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless


def test_decoder_panic_in_a_folder_loads_the_rest_and_names_the_file(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    write_panicking_rle(folder / "IM_panic")
    for name in ("CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm"):
        (folder / name).write_bytes(Path(get_testdata_file(name)).read_bytes())
    loaded = radnb.load(folder)
    assert sum(len(x) if isinstance(x, radnb.DicomSeries) else 1 for x in loaded) == 3
    assert [e.path.name for e in loaded.errors] == ["IM_panic"]
    err = loaded.errors[0].error
    assert isinstance(err, CorruptDicomError) and "IM_panic" in str(err) and "decoder crashed" in str(err)
    with pytest.raises(CorruptDicomError, match="IM_panic"):
        radnb.load(folder / "IM_panic")


def test_decoder_panic_backtrace_does_not_reach_stderr(tmp_path):
    # a notebook shows whatever reaches file descriptor 2; run in a child so fd 2 can be read
    path = write_panicking_rle(tmp_path / "panic.dcm")
    code = (
        "import radnb\n"
        f"try:\n    radnb.load({str(path)!r})\nexcept radnb.CorruptDicomError as e:\n    print('caught', e.path.name)\n"
        "import sys; sys.stderr.write('still-works\\n')\n"
    )
    env = dict(os.environ, RUST_BACKTRACE="1", PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert "caught panic.dcm" in out.stdout, out.stdout + out.stderr
    assert "panicked" not in out.stderr and "backtrace" not in out.stderr.lower()
    assert "still-works" in out.stderr  # stderr is restored afterwards


def test_keyboard_interrupt_is_never_swallowed(monkeypatch):
    from radnb.dicom import read

    class Interrupting:
        file_meta = None

        @property
        def pixel_array(self):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        read.decode_pixels(Interrupting(), "x.dcm")


def test_broken_modality_lut_degrades_to_rescale_with_a_warning(tmp_path):
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    item = Dataset()  # a Modality LUT item without its LUT Descriptor: a damaged optional module
    item.ModalityLUTType = "HU"
    item.add_new(0x00283006, "US", [0] * 16)
    ds.ModalityLUTSequence = [item]
    ds.save_as(tmp_path / "lut.dcm")
    assert pydicom.dcmread(tmp_path / "lut.dcm").pixel_array.shape == (128, 128)  # pydicom decodes it
    with pytest.warns(UserWarning, match="Modality LUT"):
        img = radnb.load(tmp_path / "lut.dcm")
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(img.array, expected)
    assert len(img.warnings) == 1 and "Rescale Slope/Intercept" in img.warnings[0]
    assert "1 warning(s)" in repr(img)
    del ds.RescaleSlope, ds.RescaleIntercept  # nothing to fall back on: the stored values
    ds.save_as(tmp_path / "lut_raw.dcm")
    with pytest.warns(UserWarning, match="stored values"):
        raw = radnb.load(tmp_path / "lut_raw.dcm")
    np.testing.assert_array_equal(raw.array, ds.pixel_array.astype(np.float32))


def test_a_damaged_jpeg_frame_header_is_refused_before_decoding(tmp_path):
    # a JPEG whose frame header claims 65280 columns: libjpeg would build a huge image for seconds
    from pydicom.encaps import encapsulate, generate_fragmented_frames

    ds = pydicom.dcmread(get_testdata_file("SC_jpeg_no_color_transform.dcm"))
    frame = bytearray(b"".join(next(generate_fragmented_frames(ds.PixelData))))
    sof = frame.index(b"\xff\xc0")
    frame[sof + 7:sof + 9] = (65280).to_bytes(2, "big")  # SOF0: length(2) precision(1) rows(2) columns(2)
    ds.PixelData = encapsulate([bytes(frame)])
    ds.save_as(tmp_path / "bomb.dcm")
    with pytest.raises(CorruptDicomError, match=r"bomb\.dcm.*declares 65280×256"):
        radnb.load(tmp_path / "bomb.dcm")


def test_a_header_asking_for_more_memory_than_there_is_is_refused(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("MR_small_RLE.dcm"))
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 60000
    ds.save_as(tmp_path / "huge.dcm")
    with pytest.raises(CorruptDicomError, match=r"huge\.dcm.*GiB"):
        radnb.load(tmp_path / "huge.dcm")


def test_folder_with_a_malformed_instance_number_still_loads(tmp_path):
    # found by the fuzz test: slices without positions are ordered by InstanceNumber, which may be garbage
    paths = write_ct_series(tmp_path / "ct", np.zeros((3, 4, 4), np.float32), shuffle=False)
    for k, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        del ds.ImagePositionPatient
        ds.InstanceNumber = str(k + 1)
        ds.save_as(p)
    bad = paths[1].read_bytes().replace(b"\x20\x00\x13\x00IS\x02\x002 ", b"\x20\x00\x13\x00IS\x02\x002\xc2")
    assert bad != paths[1].read_bytes()
    paths[1].write_bytes(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = radnb.load(tmp_path / "ct")
    count = sum(len(x) if isinstance(x, radnb.DicomSeries) else 1 for x in (loaded if isinstance(loaded, list) else [loaded]))
    assert count == 3


def test_folder_with_a_value_pydicom_cannot_convert_still_loads(tmp_path):
    # found by make fuzz (seed 4242): a SeriesNumber whose VR bytes are garbage fails only when read, lazily
    a = write_radiograph(tmp_path / "a.dcm", np.zeros((8, 8)))
    b = write_radiograph(tmp_path / "b.dcm", np.ones((8, 8)))
    for p in (a, b):
        ds = pydicom.dcmread(p)
        ds.SeriesNumber = "7"
        ds.save_as(p)
    raw = b.read_bytes()
    b.write_bytes(raw.replace(b"\x20\x00\x11\x00IS", b"\x20\x00\x11\x00I\xb3"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = radnb.load(tmp_path)
    assert len(loaded) == 2 and not loaded.errors
