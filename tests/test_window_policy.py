"""One windowing policy: the same DICOM file opens in the same window in radnb.window, radnb.show
(and its static picture), radnb.gallery and the training preprocessing of classification_dls.

The files are real DICOM written with pydicom: a CT whose header says W1500/L300 (radnb.show used
to open it at W400/L50), a CT without a header window, a head CT without one (brain preset by body
part) and a MONOCHROME1 radiograph without one (percentile window, inverted).
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import radnb
from radnb.dicom.window import PRESETS, WindowChoice, default_window, percentile_window, resolve_window
from radnb.errors import InvalidArgumentError
from radnb.viewers.display import window_to_uint8

SIDE = 32


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from dicom_factory import write_ct_series, write_radiograph

    root = tmp_path_factory.mktemp("policy")
    hu = np.linspace(-1000, 1500, SIDE * SIDE).round().reshape(1, SIDE, SIDE).astype(np.float32)
    stored = np.add.outer(np.arange(SIDE), np.arange(SIDE)).astype(np.uint16) * 60 + 100
    return {
        "ct_header": write_ct_series(root / "ct_header", hu, window=(300, 1500))[0],
        "ct_plain": write_ct_series(root / "ct_plain", hu, window=None)[0],
        "ct_head": write_ct_series(root / "ct_head", hu, window=None, body_part="HEAD")[0],
        "xray_m1": write_radiograph(root / "m1.dcm", stored, photometric="MONOCHROME1"),
    }


def _expected(name, img):
    """The policy written out by hand: header, else CT preset by body part, else percentile; MONOCHROME1 inverted."""
    if name == "ct_header":
        return 300.0, 1500.0, "header", False
    if name == "ct_plain":
        return PRESETS["soft_tissue"].center, PRESETS["soft_tissue"].width, "preset:soft_tissue", False
    if name == "ct_head":
        return PRESETS["brain"].center, PRESETS["brain"].width, "preset:brain", False
    lo, hi = np.percentile(img.array, [1, 99])
    return float((lo + hi) / 2), float(hi - lo), "auto", True


NAMES = ["ct_header", "ct_plain", "ct_head", "xray_m1"]


@pytest.mark.parametrize("name", NAMES)
def test_default_window_follows_the_policy(files, name):
    img = radnb.load(files[name])
    choice = default_window(img)
    center, width, source, invert = _expected(name, img)
    assert isinstance(choice, WindowChoice)
    assert (choice.center, choice.width) == pytest.approx((center, width))
    assert (choice.source, choice.invert, choice.function) == (source, invert, "LINEAR")
    assert radnb.default_window is default_window


@pytest.mark.parametrize("name", NAMES)
def test_radnb_window_uses_the_default_window(files, name):
    img = radnb.load(files[name])
    center, width, _, invert = _expected(name, img)
    by_hand = np.clip((img.array.astype(np.float64) - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    if invert:
        by_hand = 1 - by_hand
    np.testing.assert_allclose(radnb.window(img), by_hand, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_show_opens_in_the_same_window_and_paints_it(files, name):
    img = radnb.load(files[name])
    center, width, source, invert = _expected(name, img)
    for x in (files[name], img):  # a path and a loaded image open alike
        v = radnb.show(x)
        assert (v.level, v.window) == pytest.approx((center, width)) and v.invert is invert
        assert (v._initial["level"], v._initial["window"]) == pytest.approx((center, width))
    assert v.preset == (source[len("preset:"):] if source.startswith("preset:") else "")
    if name == "ct_header":  # W1500/L300 from the header, not the soft-tissue preset
        assert (v.window, v.level) != (PRESETS["soft_tissue"].width, PRESETS["soft_tissue"].center)
        assert {"name": "header", "center": 300.0, "width": 1500.0} in v._presets
    # the static picture embedded with the widget paints those grey levels
    from PIL import Image

    grey = window_to_uint8(img.array, center, width, invert)
    png = np.asarray(Image.open(io.BytesIO(v._repr_mimebundle_()[0]["image/png"])).convert("L"))
    rows = [int((r + 0.5) * png.shape[0] / SIDE) for r in range(SIDE // 2, SIDE)]  # below the W/L caption
    cols = [int((c + 0.5) * png.shape[1] / SIDE) for c in range(SIDE)]
    np.testing.assert_array_equal(png[np.ix_(rows, cols)], grey[SIDE // 2:])


def test_gallery_uses_the_same_default_windows(files):
    g = radnb.gallery([files[n] for n in NAMES])
    for k, name in enumerate(NAMES):
        img = radnb.load(files[name])
        center, width, _, invert = _expected(name, img)
        np.testing.assert_array_equal(g._images[k], window_to_uint8(img.array, center, width, invert))
        # and radnb.window's float32 values round to the same grey levels (within one level)
        assert np.abs(g._images[k].astype(int) - np.floor(radnb.window(img) * 255 + 0.5)).max() <= 1


def test_classification_dls_preprocesses_with_the_same_default_window(files, tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("RADNB_DATA", str(tmp_path))
    table = pd.DataFrame({"file": [str(files[n]) for n in NAMES], "label": ["a", "b", "a", "b"],
                          "patient_id": NAMES})
    dls = radnb.classification_dls(table, size=SIDE, bs=2, valid_pct=0.5, cache=False, augment=False,
                                   num_workers=0, device="cpu")
    expected = {n: radnb.window(radnb.load(files[n])) for n in NAMES}
    found = set()
    for ds in (dls.train_ds, dls.valid_ds):
        for i in range(len(ds)):
            x = np.asarray(ds[i][0], dtype=np.float32)[0]  # (C, H, W) before batch normalisation
            # items are kept as float16 (2**-12 steps in [0, 1]); another window differs by far more
            matches = [n for n, e in expected.items() if np.abs(x - e).max() <= 2.0**-11]
            assert len(matches) == 1, "a training image was windowed differently from radnb.window"
            found.update(matches)
    assert found == set(NAMES)


def test_show_auto_and_header_windows(files):
    img = radnb.load(files["ct_header"])
    v = radnb.show(img, window="auto")  # the viewer's dropdown offers it, so show accepts it
    auto = percentile_window(img.array)
    assert (v.level, v.window) == pytest.approx(auto)
    assert {"name": "auto", "center": v.level, "width": v.window} in v._presets
    v.preset = "header"
    assert (v.level, v.window) == (300.0, 1500.0)
    assert radnb.show(img, window="header").window == 1500.0
    assert radnb.show(img, window=(35, 420)).preset == ""
    assert radnb.show(img, window=(50, 400)).preset == "soft_tissue"  # a pair equal to a preset is named
    with pytest.raises(InvalidArgumentError, match="no window in its header"):
        radnb.show(files["ct_plain"], window="header")
    with pytest.raises(InvalidArgumentError, match="Known presets: brain"):
        radnb.show(img, window="lungs")
    with pytest.raises(InvalidArgumentError, match="Hounsfield"):
        radnb.show(files["xray_m1"], window="lung")


def test_window_stack_and_preprocessing_take_the_same_spellings(files):
    img = radnb.load(files["ct_header"])
    stack = radnb.window_stack(img, windows=(None, "header", "lung", (300, 1500)))
    np.testing.assert_array_equal(stack[0], stack[1])
    np.testing.assert_array_equal(stack[0], stack[3])
    np.testing.assert_array_equal(stack[2], radnb.window(img, "lung"))
    from radnb.train.prep import Preprocessing, load_image

    prep = Preprocessing(windows=(None, "header", "lung"), size=SIDE)
    np.testing.assert_array_equal(load_image(files["ct_header"], prep), stack[:3])


def _future(match):
    return pytest.warns(FutureWarning, match=match)


def test_old_spellings_warn_and_give_the_same_result(files):
    img = radnb.load(files["ct_header"])
    new = radnb.window(img, (40, 400))
    with _future(r"radnb.window\(image, window=\(center, width\)\)"):
        np.testing.assert_array_equal(radnb.window(img, 40, 400), new)
    with _future(r"window=\(center, width\)"):
        np.testing.assert_array_equal(radnb.window(img, center=40, width=400), new)
    with _future(r"window='lung'"):
        np.testing.assert_array_equal(radnb.window(img, preset="lung"), radnb.window(img, "lung"))
    with _future(r"windows=\.\.\."):
        np.testing.assert_array_equal(radnb.window_stack(img, presets=["lung", (40, 400)]),
                                      radnb.window_stack(img, windows=["lung", (40, 400)]))
    with _future(r"radnb.show\(\.\.\., window='lung'\)"):
        old = radnb.show(img, preset="lung")
    assert (old.level, old.window, old.preset) == (-600.0, 1500.0, "lung")
    with _future(r"radnb.show\(\.\.\., window=\(center, width\)\)"):
        old = radnb.show(img, window=400, level=40)
    new_v = radnb.show(img, window=(40, 400))
    assert (old.level, old.window) == (new_v.level, new_v.window) == (40.0, 400.0)
    with _future(r"radnb.compare\(\.\.\., window='bone'\)"):
        assert radnb.compare(img, preset="bone").window == PRESETS["bone"].width
    with _future(r"radnb.gallery\(\.\.\., window='bone'\)"):
        old_g = radnb.gallery([img, img], preset="bone")
    np.testing.assert_array_equal(old_g._images[0], radnb.gallery([img, img], window="bone")._images[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new spellings warn about nothing
        radnb.window(img, "lung"), radnb.show(img, window="lung"), radnb.window_stack(img, ["lung"])
    with pytest.raises(InvalidArgumentError, match="needs both"):
        radnb.show(img, window=400)
    with pytest.raises(InvalidArgumentError, match="not both"):
        radnb.show(img, window="lung", preset="bone")
    with pytest.raises(InvalidArgumentError, match="both a window centre"):
        radnb.window(img, center=40)


def test_resolve_window_on_fractional_arrays_uses_linear_exact():
    unit = np.linspace(0.0, 1.0, 101).reshape(1, 101)
    choice = resolve_window(unit, None)
    assert (choice.source, choice.function) == ("auto", "LINEAR_EXACT")
    assert choice.pair == pytest.approx((0.5, 0.98))  # not a width clamped to 1
    out = radnb.window(unit)  # used to raise: a width under 1 is invalid for LINEAR
    np.testing.assert_allclose(out, np.clip((unit - 0.5) / 0.98 + 0.5, 0, 1), atol=1e-6)
    v = radnb.show(unit)
    assert (v.level, v.window) == pytest.approx((0.5, 0.98)) and v.voi_function == "LINEAR_EXACT"


def test_one_voi_implementation_handles_scalars_and_both_precisions():
    from radnb.dicom.window import voi_linear, voi_linear_exact
    from radnb.viewers import display

    assert display.linear_voi is not voi_linear  # a float64 front of the same function, not a copy
    x = np.arange(-1200.0, 1300.0, 0.5)
    np.testing.assert_allclose(display.linear_voi(x, 40, 400), voi_linear(x, 40, 400), atol=1e-6)
    assert display.linear_voi(x, 40, 400).dtype == np.float64 and voi_linear(x, 40, 400).dtype == np.float32
    np.testing.assert_allclose(display.linear_exact_voi(x, 0.3, 0.07), voi_linear_exact(x, 0.3, 0.07), atol=1e-6)
    assert display.percentile_window is percentile_window
    # 0-d input (one hovered pixel in the browser tests) stays a number in [0, 1]
    assert int(window_to_uint8(np.float64(40.0), 40, 400)) == 128
    assert float(voi_linear_exact(np.float64(0.25), 0.5, 1.0)) == 0.25
    assert float(radnb.window(np.float64(-1000.0), "lung")) == pytest.approx(0.5 + (-400 + 0.5) / 1499)
