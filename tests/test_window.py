"""Windowing against hand-computed values of the DICOM linear VOI function (PS3.3 C.11.2.1.2.1)."""
from __future__ import annotations

import numpy as np
import pytest

import radnb
from radnb.dicom.window import AUTO_WINDOWS, PRESETS, auto_window, voi_linear, window, window_stack
from radnb.errors import InvalidArgumentError


def test_hand_computed_values_center_40_width_400():
    # c - 0.5 - (w-1)/2 = 40 - 0.5 - 199.5 = -160 -> 0 ; c - 0.5 + (w-1)/2 = 239 -> 1
    x = np.array([-1000, -160, -159, 39.5, 40, 239, 240, 3000], np.float32)
    expected = [0.0, 0.0, 1 / 399, 0.5, 0.5 + 0.5 / 399, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(voi_linear(x, 40, 400), expected, atol=1e-6)


def test_lung_window_edges():
    lo, hi = PRESETS["lung"].limits
    assert (lo, hi) == (-1350, 150)
    out = window(np.array([-1400.0, -600.0, 200.0]), "lung")
    assert out[0] == 0 and out[2] == 1 and out[1] == pytest.approx(0.5 + 0.5 / 1499, abs=1e-6)


def test_width_one_is_a_threshold_and_smaller_is_refused():
    np.testing.assert_array_equal(voi_linear(np.array([0.0, 0.5, 1.0]), 1, 1), [0, 0, 1])
    with pytest.raises(InvalidArgumentError, match="at least 1"):
        voi_linear(np.zeros(2), 0, 0.5)


def test_reference_presets_match_the_teaching_table():
    table = {"brain": (80, 40), "subdural": (200, 75), "stroke": (40, 40), "lung": (1500, -600),
             "mediastinum": (350, 50), "bone": (1800, 400)}
    for name, (w, c) in table.items():
        assert (PRESETS[name].width, PRESETS[name].center) == (w, c)
    assert PRESETS["liver"].width == 150 and 30 <= PRESETS["liver"].center <= 90
    assert PRESETS["abdomen"].width == 400 and 40 <= PRESETS["abdomen"].center <= 50
    assert all(p.source.startswith("Radiopaedia") for p in PRESETS.values())


def test_output_is_float32_same_shape_and_in_range():
    x = np.random.default_rng(1).normal(0, 500, (3, 7, 5))
    y = window(x, 0, 300)
    assert y.dtype == np.float32 and y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_preset_by_keyword_and_position_agree():
    x = np.linspace(-1000, 1000, 11)
    np.testing.assert_array_equal(window(x, "bone"), window(x, preset="bone"))
    np.testing.assert_array_equal(window(x, "bone"), window(x, 400, 1800))


def test_unknown_preset_and_half_a_window_explain_themselves():
    with pytest.raises(InvalidArgumentError, match="Known presets: brain"):
        window(np.zeros(3), "lungs")
    with pytest.raises(InvalidArgumentError, match="both a window centre"):
        window(np.zeros(3), center=40)


def test_hu_preset_refused_for_non_hu_images(tmp_path):
    from dicom_factory import write_signed_mr

    mr = radnb.load(write_signed_mr(tmp_path / "mr", np.arange(16, dtype=np.int16).reshape(4, 4)))
    with pytest.raises(InvalidArgumentError, match="Hounsfield"):
        window(mr, "brain")
    assert window(mr, "auto").max() == 1.0


def test_defaults_header_then_soft_tissue_then_auto(tmp_path):
    from dicom_factory import write_ct_series

    hu = np.linspace(-500, 500, 64, dtype=np.float32).reshape(1, 8, 8)
    ct = radnb.load(write_ct_series(tmp_path / "ct", hu)[0])
    np.testing.assert_array_equal(window(ct), window(ct.array, 40, 400))  # header window
    ct.default_window = None
    np.testing.assert_array_equal(window(ct), window(ct.array, "soft_tissue"))
    x = np.arange(101.0)
    np.testing.assert_array_equal(window(x), window(x, *auto_window(x)))


def test_auto_window_percentiles_and_minmax():
    x = np.concatenate([np.arange(100.0), [1e6]])  # one hot pixel
    c, w = auto_window(x)
    assert c + w / 2 < 200  # the outlier does not wash out the image
    assert window(x, "minmax")[-1] == 1.0
    assert set(AUTO_WINDOWS) == {"auto", "percentile", "minmax"}


def test_window_stack_channels():
    x = np.array([[-800.0, 40.0, 700.0]])
    stack = window_stack(x, ("lung", "mediastinum", "bone"))
    assert stack.shape == (3, 1, 3)
    for k, name in enumerate(("lung", "mediastinum", "bone")):
        np.testing.assert_array_equal(stack[k], window(x, name))
    with pytest.raises(InvalidArgumentError):
        window_stack(x, [])


def test_torch_tensor_input():
    torch = pytest.importorskip("torch")
    t = torch.linspace(-1000, 1000, 5)
    np.testing.assert_allclose(window(t, "lung"), window(t.numpy(), "lung"))
