"""Python side of the viewers: state, geometry, window math, measurements, PHI, transfer, fallbacks."""
from __future__ import annotations

import importlib.machinery
import json
import sys
import types

import numpy as np
import pydicom
import pytest

import radnb
from radnb.errors import DicomError, InvalidArgumentError, MissingDependencyError, NoPixelDataError
from radnb.viewers import display
from radnb.viewers.header import HIDDEN, header_rows
from radnb.viewers.measure import length_mm, roi_mask, roi_stats
from radnb.viewers.viewer import CHUNK_BYTES, SliceViewer

SHAPE = (12, 48, 40)


@pytest.fixture(scope="module")
def ct_case(tmp_path_factory):
    from radnb.data.synthetic import make_ct_volumes

    root = tmp_path_factory.mktemp("ct")
    cases = make_ct_volumes(root, n_patients=1, shape=SHAPE)
    folder = root / cases.series[0]
    return {"folder": folder, "series": radnb.load(folder), "mask": np.load(root / cases["mask"][0])}


def _collect(viewer: SliceViewer, first: int):
    sent = []
    viewer.send = lambda content, buffers=None: sent.append((content, [bytes(b) for b in buffers or []]))
    viewer._on_custom_msg(viewer, {"type": "load", "rid": "r1", "first": first}, [])
    return sent


# ----- opening state -------------------------------------------------------------------------
def test_ct_series_opens_in_soft_tissue_with_hu(ct_case):
    v = radnb.show(ct_case["series"])
    soft = radnb.PRESETS["soft_tissue"]
    assert (v.preset, v.window, v.level) == ("soft_tissue", soft.width, soft.center)
    assert v._units == "HU" and v.shape == SHAPE and v.slice == SHAPE[0] // 2
    assert v.presets[:3] == ["soft_tissue", "lung", "bone"]  # keys 1, 2, 3
    assert v._spacing == pytest.approx(list(ct_case["series"].spacing))


def test_preset_and_window_setters(ct_case):
    v = radnb.show(ct_case["series"])
    v.preset = "lung"
    assert (v.window, v.level) == (radnb.PRESETS["lung"].width, radnb.PRESETS["lung"].center)
    with pytest.raises(InvalidArgumentError, match="Unknown preset"):
        v.preset = "kidney"
    with pytest.raises(InvalidArgumentError, match="at least 1"):
        v.window = 0
    with pytest.raises(InvalidArgumentError, match="opacity"):
        v.opacity = 1.5
    v.window, v.level, v.invert, v.zoom = 800, 100, True, 2.0
    v.reset()
    assert (v.window, v.level, v.invert, v.zoom, v.preset) == (400.0, 50.0, False, 1.0, "soft_tissue")


def test_slice_follows_view_and_is_validated():
    v = radnb.show(np.zeros(SHAPE, np.float32))
    assert v.position == [6, 24, 20]
    v.slice = 11
    assert v.position[0] == 11
    v.view = "sagittal"
    assert v.slice == 20 and v.n_slices == SHAPE[2]
    v.slice = 3
    assert v.position == [11, 24, 3]
    with pytest.raises(InvalidArgumentError, match="outside"):
        v.slice = SHAPE[2]


def test_radiograph_uses_header_window_else_percentile(tmp_path):
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    ds.Modality = "CR"
    ds.WindowCenter, ds.WindowWidth = 300, 600
    v = radnb.show(ds)
    assert (v.level, v.window, v.preset) == (300.0, 600.0, "")
    arr = np.linspace(0, 1000, 64 * 64).reshape(64, 64)
    c, w = display.percentile_window(arr)
    v2 = radnb.show(arr)
    assert (v2.level, v2.window) == pytest.approx((c, w)) and v2.presets == ["auto"]


def test_inputs_path_dataset_tensor_and_errors(ct_case, tmp_path):
    import torch

    from_path = radnb.show(ct_case["folder"])
    assert from_path.shape == SHAPE
    ds = pydicom.dcmread(sorted(ct_case["folder"].glob("*.dcm"))[0])
    assert radnb.show(ds).shape == (1, SHAPE[1], SHAPE[2])
    t = torch.zeros(1, 1, 20, 30)
    assert radnb.show(t).shape == (1, 20, 30)
    with pytest.raises(InvalidArgumentError, match="shape"):
        radnb.show(np.zeros((2, 3, 4, 5)))
    with pytest.raises(InvalidArgumentError, match="numbers"):
        radnb.show(np.array([["a", "b"]]))
    with pytest.raises(DicomError, match="no such file"):
        radnb.show(tmp_path / "missing.dcm")
    empty = pydicom.Dataset()
    empty.PatientName = "X"
    with pytest.raises(NoPixelDataError):
        radnb.show(empty)


# ----- window math ---------------------------------------------------------------------------
def test_window_math_matches_radnb_dicom():
    from radnb.dicom import voi_linear

    x = np.linspace(-1500, 2000, 7001)
    for center, width in [(40, 400), (-600, 1500), (40, 80), (0.5, 1), (37.3, 2.5)]:
        ours = display.linear_voi(x, center, width)
        theirs = voi_linear(x, center, width)
        assert np.allclose(ours, theirs, atol=1e-6)
        windowed = radnb.window(x, center, width)
        assert np.abs(display.window_to_uint8(x, center, width).astype(int) - np.floor(windowed * 255 + 0.5)).max() <= 1
    assert display.window_to_uint8(np.array([40.0]), 40, 400).tolist() == [128]
    assert display.window_to_uint8(np.array([-1000.0, 1000.0]), 40, 400, invert=True).tolist() == [255, 0]


def _grey_spread(grey: np.ndarray) -> float:
    """5th-95th percentile span of grey levels: about 230 for a well-contrasted image, 0 for a blank one."""
    lo, hi = np.percentile(np.asarray(grey, dtype=float), [5, 95])
    return float(hi - lo)


def _well_contrasted(grey: np.ndarray) -> bool:
    """A wide grey span in many shades (a width-1 LINEAR window on [0, 1] data gives two levels)."""
    return _grey_spread(grey) > 150 and len(np.unique(grey)) > 100


def _png_pixels(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_unit_range_ramp_fills_the_grey_scale_with_linear_exact():
    ramp = np.linspace(0.0, 1.0, 256)
    assert display.voi_function_for(ramp) == "LINEAR_EXACT"
    # LINEAR_EXACT (PS3.3 C.11.2.1.3.2): y = (x - c) / w + 0.5, so c 0.5, w 1 maps [0, 1] onto 0..255 one to one
    assert display.window_to_uint8(ramp, 0.5, 1.0, function="LINEAR_EXACT").tolist() == list(range(256))
    assert display.window_to_uint8(ramp, 0.5, 1.0, invert=True, function="LINEAR_EXACT").tolist() == list(range(255, -1, -1))
    x = np.random.default_rng(0).uniform(-2, 3, 5000)
    expected = np.clip((x - 0.3) / 0.07 + 0.5, 0, 1)
    assert np.allclose(display.linear_exact_voi(x, 0.3, 0.07), expected, atol=1e-12)
    # the percentile window of a [0, 1] image is about 1 wide, not clamped to 1 (which washed it out)
    center, width = display.percentile_window(np.linspace(0.0, 1.0, 101))
    assert (center, width) == pytest.approx((0.5, 0.98))
    img = np.add.outer(np.linspace(0, 1, 64), np.linspace(0, 1, 64)).astype(np.float32) / 2
    v = radnb.show(img)
    assert v.voi_function == "LINEAR_EXACT" and v._voi_function == "LINEAR_EXACT" and v.window < 1
    grey = display.window_to_uint8(v.slice_array(), v.level, v.window, function=v.voi_function)
    assert grey.min() == 0 and grey.max() == 255 and _grey_spread(grey) > 200
    # the same image through DICOM LINEAR with the old width-1 clamp is the washed-out picture
    assert _grey_spread(display.window_to_uint8(img, 0.5, 1.0)) < 10
    # window/level drags move by ~1/256 of the range per pixel and readouts show 3 decimals
    assert v.wl_step == pytest.approx(v.window / 256) and v._wl_scale["digits"] == 3
    assert v._wl_scale["min_width"] == pytest.approx(v.window / 1000)
    v.window = 0.25  # below 1 is fine for fractional data
    assert v.window == 0.25
    with pytest.raises(InvalidArgumentError, match="greater than 0"):
        v.window = 0
    pic = _png_pixels(radnb.show(img, static=True).png)
    assert _grey_spread(pic[..., 0][pic[..., 0] > 0]) > 150


def test_whole_number_data_keeps_dicom_linear_exactly(ct_case):
    v = radnb.show(ct_case["series"])
    assert v.voi_function == "LINEAR" and v._wl_scale == {"step": 4.0, "min_width": 1.0, "digits": 1}
    hu = v.slice_array()
    lo = display.window_to_uint8(hu, 50.0, 400.0)
    by_hand = np.floor(np.clip((hu.astype(float) - 49.5) / 399.0 + 0.5, 0, 1) * 255 + 0.5)
    assert np.array_equal(lo, by_hand)  # default is LINEAR: CT presets paint as before
    with pytest.raises(InvalidArgumentError, match="at least 1"):
        v.window = 0.5
    # a float32 array of whole HU is whole-number data too: LINEAR, not decided by dtype
    assert radnb.show(ct_case["series"].array.astype(np.float32), modality="CT").voi_function == "LINEAR"
    # for wide windows the two functions differ by at most 255 / (w - 1) grey levels
    x = np.arange(-1200.0, 1300.0)
    diff = np.abs(display.window_to_uint8(x, 40, 400).astype(int)
                  - display.window_to_uint8(x, 40, 400, function="LINEAR_EXACT").astype(int))
    assert diff.max() <= 1
    # a downsampled CT (fractional block means) keeps the LINEAR function of its presets
    small = radnb.show(ct_case["series"], budget_bytes=SHAPE[0] * SHAPE[1] * SHAPE[2])
    assert small.downsample > 1 and small._layers[0]["dtype"] == "float32" and small.voi_function == "LINEAR"
    # a mostly-zero binary image: the collapsed percentile window falls back to the full range
    m = np.zeros((64, 64))
    m[:4, :4] = 1
    vm = radnb.show(m)
    assert (vm.level, vm.window) == (0.5, 1.0)
    assert display.window_to_uint8(m, vm.level, vm.window).tolist() == (m * 255).astype(np.uint8).tolist()
    with pytest.raises(InvalidArgumentError, match="VOI function"):
        display.window_to_uint8(m, 0.5, 1.0, function="SIGMOID")


def test_windowed_images_gallery_compare_and_overlays_have_full_contrast(ct_case):
    lung = radnb.window(ct_case["series"], preset="lung")[SHAPE[0] // 2]  # float32 in [0, 1]
    assert lung.min() >= 0 and lung.max() <= 1
    heat = np.zeros(lung.shape, np.float32)
    heat[10:30, 10:30] = 1.0
    mask = (ct_case["mask"][SHAPE[0] // 2] >= 1).astype(np.uint8)
    c = radnb.compare(lung, mask, heatmap=heat)
    assert c.voi_function == "LINEAR_EXACT" and c.window < 1
    base = display.window_to_uint8(c.slice_array(), c.level, c.window, function=c.voi_function)
    assert _well_contrasted(base)
    pic = _png_pixels(c._repr_mimebundle_()[0]["image/png"])  # the Pillow fallback: image | truth | heat map
    first_panel = pic[:, : pic.shape[1] // 3 - 4, 0]
    assert _grey_spread(first_panel) > 150
    v = radnb.show(lung, labels=mask, heatmap=heat)
    assert v.voi_function == "LINEAR_EXACT" and _grey_spread(_png_pixels(v.to_png())[..., 1]) > 100
    g = radnb.gallery(np.stack([lung, lung * 0.5, lung * 0.1 + 0.3]))
    thumbs = np.frombuffer(g._thumbs, np.uint8).reshape(3, *lung.shape)
    for thumb in thumbs:  # each tile spreads its own range over the grey scale
        assert _well_contrasted(thumb)


def test_show_gradcam_and_show_top_losses_images_have_full_contrast():
    pytest.importorskip("fastai")
    import radnb.train as rt
    from radnb.train.interpret import show_gradcam, show_top_losses

    rng = np.random.default_rng(0)
    rows = np.linspace(-400, 400, 32)
    x = (rows[None, :, None] + rng.normal(0, 60, (8, 32, 32))).astype(np.float32)  # a gradient + noise
    learn = rt.classifier(rt.classification_dls(x, label=[0, 1] * 4, patient=range(8), windows="auto", size=32),
                          arch="compact")
    v = show_gradcam(learn, x[0])
    assert isinstance(v, SliceViewer) and v.voi_function == "LINEAR_EXACT"
    assert _well_contrasted(display.window_to_uint8(v.slice_array(), v.level, v.window, function=v.voi_function))
    g = show_top_losses(learn, k=2, with_gradcam=False)
    tiles = np.frombuffer(g._thumbs, np.uint8)
    for t in g._tiles:
        assert _well_contrasted(tiles[t["offset"]: t["offset"] + t["rows"] * t["cols"]])


# ----- pixel transfer ------------------------------------------------------------------------
def test_chunks_carry_every_slice_once_current_first(ct_case):
    v = radnb.show(ct_case["series"], labels=ct_case["mask"])
    assert [layer["dtype"] for layer in v._layers] == ["int16", "uint8"]
    sent = _collect(v, first=9)
    assert sent[0][0]["z0"] <= 9 < sent[0][0]["z1"]
    for layer, array in ((0, ct_case["series"].array), (1, ct_case["mask"])):
        parts = sorted((c["z0"], c["z1"], b[0]) for c, b in sent if c["layer"] == layer)
        assert [p[0] for p in parts] == sorted({p[0] for p in parts})  # no slice sent twice
        got = np.frombuffer(b"".join(p[2] for p in parts), dtype=v._layers[layer]["dtype"]).reshape(SHAPE)
        assert np.array_equal(got, array)  # HU are whole numbers: int16 loses nothing


def test_fractional_values_go_as_float32():
    arr = np.random.default_rng(0).normal(size=(3, 8, 8)).astype(np.float64)
    v = radnb.show(arr)
    assert v._layers[0]["dtype"] == "float32"
    parts = sorted((c["z0"], b[0]) for c, b in _collect(v, 1))
    got = np.frombuffer(b"".join(p for _, p in parts), np.float32).reshape(3, 8, 8)
    assert np.array_equal(got, arr.astype(np.float32))


def test_512_ct_fits_budget_and_chunks_are_bounded():
    vol = np.zeros((300, 512, 512), np.int16)
    v = radnb.show(vol, modality="CT", spacing=(1.0, 0.7, 0.7))
    assert v.downsample == 1 and v._notices == [] and v.shape == (300, 512, 512)
    chunks = [(c["z0"], c["z1"]) for c, _ in _collect(v, 150)]
    assert chunks[0] == (150, 151)  # the slice on screen travels alone, first
    sizes = [z1 - z0 for z0, z1 in chunks]
    assert sum(sizes) == 300 and max(sizes) * 512 * 512 * 2 <= CHUNK_BYTES


def test_over_budget_downsamples_and_says_so():
    vol = np.arange(4 * 64 * 64, dtype=np.float32).reshape(4, 64, 64)
    v = radnb.show(vol, spacing=(2.0, 0.5, 0.5), budget_bytes=4 * 64 * 64)
    assert v.downsample == 2 and v.shape == (4, 32, 32)
    assert v._spacing == [2.0, 1.0, 1.0]
    assert any("downsampled 2×" in n for n in v._notices)
    assert v.slice_array("axial", 0)[0, 0] == pytest.approx(vol[0, :2, :2].mean())


# ----- geometry ------------------------------------------------------------------------------
def test_planes_and_spacing_per_view():
    vol = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    v = radnb.show(vol, spacing=(3.0, 0.8, 0.6))
    assert v.slice_array("axial", 2).shape == (48, 40)
    assert np.array_equal(v.slice_array("coronal", 5), vol[:, 5, :])
    assert np.array_equal(v.slice_array("sagittal", 7), vol[:, :, 7])
    assert v.pixel_spacing("coronal") == (3.0, 0.6) and v.pixel_spacing("sagittal") == (3.0, 0.8)


def test_coronal_puts_head_at_top(ct_case):
    series = ct_case["series"]
    v = radnb.show(series)
    z_of_row0 = series.positions[0, 2] if v._superior_first else series.positions[-1, 2]
    assert z_of_row0 == series.positions[:, 2].max()
    plane = v.slice_array("coronal", 10)
    top = series.array[0 if v._superior_first else -1, 10]
    assert np.array_equal(plane[0], top)


# ----- measurements --------------------------------------------------------------------------
def test_length_and_roi_numbers():
    assert length_mm((0, 0), (30, 40), (0.5, 0.5)) == pytest.approx(25.0)
    assert length_mm((10, 0), (10, 100), (1.0, 0.7)) == pytest.approx(70.0)
    img = np.random.default_rng(1).normal(40, 10, size=(64, 64))
    s = roi_stats(img, (10.2, 12.7), (40.9, 50.1), (0.8, 0.8), "ellipse", "HU")
    rows, cols = np.mgrid[0:64, 0:64] + 0.5
    inside = ((rows - 25.55) / 15.35) ** 2 + ((cols - 31.4) / 18.7) ** 2 <= 1
    assert s.n_pixels == inside.sum()
    assert s.mean == pytest.approx(img[inside].mean()) and s.sd == pytest.approx(img[inside].std())
    assert s.area_mm2 == pytest.approx(np.pi * 15.35 * 18.7 * 0.64)
    r = roi_stats(img, (4, 4), (8, 10), shape="rectangle")
    assert r.n_pixels == 24 and r.mean == pytest.approx(img[4:8, 4:10].mean())
    assert roi_mask((8, 8), (3, 3), (3, 6), "ellipse").sum() == 0
    assert "mean 40" in str(roi_stats(np.full((5, 5), 40.0), (0, 0), (5, 5), units="HU"))


def test_measure_recomputes_browser_measurements():
    vol = np.zeros((2, 32, 32), np.float32)
    vol[1, 8:24, 8:24] = 100
    v = radnb.show(vol, spacing=(5.0, 0.5, 0.5))
    v.measurements = [
        {"kind": "rectangle", "view": "axial", "index": 1, "p0": [8, 8], "p1": [24, 24]},
        {"kind": "length", "view": "coronal", "index": 16, "p0": [0, 0], "p1": [1, 0]},
    ]
    roi, length = v.measure()
    assert roi.mean == 100.0 and roi.n_pixels == 256 and roi.area_mm2 == pytest.approx(64.0)
    assert length["length_mm"] == pytest.approx(5.0)  # one slice apart in the coronal plane


# ----- overlays, compare, gallery -------------------------------------------------------------
def test_overlays_colours_and_validation(ct_case):
    mask = ct_case["mask"]
    v = radnb.show(ct_case["series"], labels={"truth": mask >= 1, "prediction": mask == 2},
                   heatmap=np.random.default_rng(0).random((SHAPE[0], 12, 10)), opacity=0.3)
    names = [(layer["name"], layer["kind"]) for layer in v._layers]
    assert names == [("ct", "image"), ("truth", "labels"), ("prediction", "labels"), ("heat map", "heatmap")]
    assert v._layers[1]["color"] != v._layers[2]["color"]
    assert v._layer_objs[3].data.shape == SHAPE  # low-resolution heat map resized to the image
    assert len(v._layers[3]["cmap"]) == 256 and v.opacity == 0.3
    with pytest.raises(InvalidArgumentError, match="must match"):
        radnb.show(ct_case["series"], labels=np.zeros((3, 4, 4)))
    with pytest.raises(InvalidArgumentError, match="fractional"):
        radnb.show(ct_case["series"], labels=np.full(SHAPE, 0.5))


def test_compare_links_panels_in_one_viewer(ct_case):
    mask = ct_case["mask"]
    c = radnb.compare(ct_case["series"], mask >= 1, np.roll(mask >= 1, 2, axis=2), heatmap=(mask == 2) * 1.0)
    assert [p["title"] for p in c._panels] == ["image", "truth", "prediction", "heat map", "truth vs prediction"]
    assert c._panels[-1]["layers"] == [1, 2] and c.overlay_style == "outline"
    with pytest.raises(InvalidArgumentError, match="titles"):
        radnb.compare(ct_case["series"], mask, titles=["one"])


def test_gallery_captions_marks_and_click():
    import torch

    batch = torch.rand(4, 1, 32, 32)
    g = radnb.gallery(batch, classes=[0, 1, 1, 0], predictions=[0, 0, 1, 1], probabilities=[0.9, 0.4, 0.8, 0.6])
    assert [t["mark"] for t in g._tiles] == ["right", "wrong", "right", "wrong"]
    assert g.captions[1] == "label 1\npred 0 (0.40)"
    assert len(g._thumbs) == 4 * 32 * 32
    g.selected = 2
    assert g._large["index"] == 2 and len(g._large_bytes) == 32 * 32
    with pytest.raises(InvalidArgumentError, match="one per image"):
        radnb.gallery(batch, classes=[0, 1])
    with pytest.raises(InvalidArgumentError, match="selected"):
        g.selected = 9


def test_gallery_old_labels_argument_warns_and_still_works():
    batch = np.random.default_rng(0).random((4, 16, 16))
    new = radnb.gallery(batch, classes=["a", "b", "b", "a"], predictions=["a", "a", "b", "b"])
    with pytest.warns(FutureWarning, match=r"classes="):
        old = radnb.gallery(batch, labels=["a", "b", "b", "a"], predictions=["a", "a", "b", "b"])
    assert old.captions == new.captions and [t["mark"] for t in old._tiles] == [t["mark"] for t in new._tiles]
    with pytest.raises(InvalidArgumentError, match="label maps"):
        radnb.gallery(batch, labels=[np.zeros((16, 16), np.uint8)] * 4)
    with pytest.raises(InvalidArgumentError, match="both"):
        radnb.gallery(batch, classes=[0] * 4, labels=[0] * 4)


# ----- PHI -----------------------------------------------------------------------------------
def test_header_hides_phi_until_instructor_reveals(ct_case):
    ds = pydicom.dcmread(sorted(ct_case["folder"].glob("*.dcm"))[0])
    name = str(ds.PatientName)
    rows = header_rows(ds)
    by_key = {r["keyword"]: r for r in rows}
    assert by_key["PatientName"]["value"] == HIDDEN and by_key["PatientName"]["phi"]
    assert by_key["Modality"]["value"] == "CT" and not by_key["Modality"]["phi"]
    assert "PixelData" not in by_key
    v = radnb.show(ds)
    assert name not in json.dumps(v._header) and str(ds.PatientID) not in json.dumps(v._header)
    v.show_phi = True
    assert name in json.dumps(v._header)


# ----- static fallback -----------------------------------------------------------------------
def test_static_png_and_mimebundle(ct_case):
    pic = radnb.show(ct_case["series"], labels=ct_case["mask"], static=True)
    assert pic.png.startswith(b"\x89PNG") and pic._repr_png_() is pic.png
    data, _ = radnb.compare(ct_case["series"], ct_case["mask"])._repr_mimebundle_()
    assert data["image/png"].startswith(b"\x89PNG")
    assert "application/vnd.jupyter.widget-view+json" in data
    assert radnb.gallery(np.zeros((3, 16, 16)), static=True).png.startswith(b"\x89PNG")


def test_exported_html_shows_the_picture(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np, radnb\nradnb.show(np.eye(32))")]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    html, _ = HTMLExporter().from_notebook_node(nb)
    # the picture of the output itself (JupyterLab's CSS holds PNGs too, so look inside an output)
    import re

    shown = re.search(r'<div class="jp-RenderedImage[^"]*"[^>]*>\s*<img [^>]*src="data:image/png;base64,', html)
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    snap = any(str(m.get("state", {}).get("_snapshot", "")).startswith("data:image/png") for m in state.values())
    assert shown or snap  # the fallback image, or (with widget state) the viewer's saved picture


# ----- 3D extra ------------------------------------------------------------------------------
def test_view3d_without_backend_says_what_to_install(monkeypatch):
    import radnb.viewers.render3d as v3

    monkeypatch.setattr(v3, "_available", lambda name: False)
    with pytest.raises(MissingDependencyError, match="pip install ipyniivue"):
        radnb.view3d(np.zeros((4, 8, 8)))


def test_view3d_with_ipyniivue_writes_nifti_with_spacing(monkeypatch):
    pytest.importorskip("nibabel")
    import nibabel as nib

    loaded = {}

    class FakeNiiVue:
        def load_volumes(self, volumes):
            loaded["volumes"] = volumes

    fake = types.ModuleType("ipyniivue")
    fake.__spec__ = importlib.machinery.ModuleSpec("ipyniivue", None)
    fake.NiiVue = FakeNiiVue
    monkeypatch.setitem(sys.modules, "ipyniivue", fake)
    labels = np.zeros((4, 8, 6), np.uint8)
    labels[1, 2, 3] = 1
    w = radnb.view3d(np.ones((4, 8, 6)), labels, spacing=(3.0, 0.5, 0.7))
    assert isinstance(w, FakeNiiVue)
    img = nib.load(loaded["volumes"][0]["path"])
    assert img.shape == (6, 8, 4) and img.header.get_zooms() == pytest.approx((0.7, 0.5, 3.0))
    assert nib.load(loaded["volumes"][1]["path"]).get_fdata()[3, 2, 1] == 1


# ----- IPython extension ---------------------------------------------------------------------
def test_extension_registers_display_and_magic(ct_case, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ds = pydicom.dcmread(sorted(ct_case["folder"].glob("*.dcm"))[0])
    widget_mime = "application/vnd.jupyter.widget-view+json"
    assert widget_mime not in ip.display_formatter.format(ds)[0]
    ip.run_line_magic("load_ext", "radnb")
    try:
        assert widget_mime in ip.display_formatter.format(ds)[0]
        assert widget_mime in ip.display_formatter.format(ct_case["series"])[0]
        header_only = pydicom.Dataset()
        header_only.Modality = "SR"
        assert widget_mime not in ip.display_formatter.format(header_only)[0]
        ip.run_line_magic("radnb", "")
        assert "device:" in capsys.readouterr().out
        ip.run_line_magic("radnb", "doctor")
        out = capsys.readouterr().out
        assert "pydicom" in out and "data dir" in out
    finally:
        ip.run_line_magic("unload_ext", "radnb")
    assert widget_mime not in ip.display_formatter.format(ds)[0]
    assert "radnb" not in ip.magics_manager.magics["line"]
    assert not hasattr(pydicom.Dataset, "_repr_mimebundle_")  # nothing patched on pydicom


def test_folder_with_several_series_shows_largest_and_says_so(tmp_path):
    import shutil

    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(pydicom.data.get_testdata_file(name), tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    v = radnb.show(tmp_path)
    assert v.shape == (1, 128, 128) and v._units == "HU"
    assert any("showing the largest" in n for n in v._notices)


def test_colour_image_is_sent_as_rgb():
    rgb = np.zeros((16, 20, 3), np.uint8)
    rgb[..., 0] = 200
    v = radnb.show(rgb)
    assert v._layers[0]["dtype"] == "rgb8" and v.shape == (1, 16, 20) and v.presets == []
    assert _collect(v, 0)[0][1][0][:3] == bytes([200, 0, 0])


# ----- issue 18: what a radiologist would distrust -----------------------------------------------
def test_phi_is_revealed_only_from_code(ct_case):
    """The browser cannot switch identifying values on: show_phi is no synced trait, only code sets it."""
    name = str(pydicom.dcmread(sorted(ct_case["folder"].glob("*.dcm"))[0]).PatientName)
    v = radnb.show(ct_case["series"])
    assert "show_phi" not in v.trait_names(sync=True)
    assert name not in json.dumps(v._header) and v._phi_shown is False
    shown = radnb.show(ct_case["series"], show_phi=True)
    assert name in json.dumps(shown._header) and shown._phi_shown is True


def test_pacs_slice_numbers_patient_geometry_and_header_per_slice(ct_case):
    series = ct_case["series"]
    v = radnb.show(series)
    assert series.positions[-1][2] > series.positions[0][2]  # the phantom stacks feet first
    assert v._superior_first is False
    v.slice = len(series) - 1  # the most superior slice is number 1 on screen
    assert v.slice_number == 1 and "slice 1/" in repr(v)
    geo = v._geometry
    assert np.allclose(geo["positions"], series.positions) and np.allclose(geo["orientation"], series.orientation)
    v.slice = 3
    instance = {r["keyword"]: r["value"] for r in v._header}["InstanceNumber"]
    assert instance == str(series.datasets[3].InstanceNumber) and v._header_slice == 3
    assert radnb.show(np.zeros((8, 8)))._geometry["spacing_known"] is False
    assert radnb.show(np.zeros((8, 8)), spacing=(0.5, 0.5))._geometry["spacing_known"] is True


def test_compare_colours_every_class_by_map_and_lists_them(ct_case):
    mask = ct_case["mask"]
    c = radnb.compare(ct_case["series"], mask, np.roll(mask, 2, axis=2))
    truth, pred = c._layers[1], c._layers[2]
    assert truth["classes"] == [1, 2] and pred["classes"] == [1, 2]
    assert all(g > r for r, g, _ in truth["colors"].values()) and all(r > g for r, g, _ in pred["colors"].values())
    assert len({tuple(v) for v in truth["colors"].values()}) == 2  # the two classes are told apart


def test_static_heat_map_paints_nothing_where_the_heat_is_zero():
    from PIL import Image
    import io

    img = np.full((40, 40), 0.5, np.float32)
    heat = np.zeros((40, 40), np.float32)
    heat[:, 20:] = 1.0
    png = radnb.compare(img, heatmap=heat)._repr_mimebundle_()[0]["image/png"]
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    panel = pixels[:, pixels.shape[1] // 2 + 4:]  # the heat-map panel (right half)
    width = panel.shape[1]
    cold, hot = panel[200, width // 4], panel[200, 3 * width // 4]
    grey = pixels[200, pixels.shape[1] // 4]
    assert np.abs(cold - grey).max() <= 1 and np.abs(hot - grey).max() > 40


@pytest.mark.timeout(300)
def test_exported_notebook_shows_viewer_picture_and_quiz_text(tmp_path):
    """Issue 18 item 6, exports: without a kernel the HTML shows each viewer's picture and each quiz's text."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import numpy as np, radnb\nfrom radnb import grading\nv = radnb.show(np.random.rand(4, 32, 32))\nv"),
        nbformat.v4.new_code_cell('grading.quiz("deid_residual_risk", "burned_in")'),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    # with the widget state (nbclient and JupyterLab's saveState store it) the export renders the widgets
    # themselves, and the viewer's model carries its last picture for when no kernel answers
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    viewer_id = nb.cells[0].outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert state[viewer_id]["state"]["_snapshot"].startswith("data:image/png;base64,")
    # without it (`radnb notebooks clean`, or a viewer of notebooks without widgets) the fallbacks show
    del nb.metadata["widgets"]
    html, _ = HTMLExporter().from_notebook_node(nb)
    import re

    assert re.search(r'<div class="jp-RenderedImage[^"]*"[^>]*>\s*<img [^>]*src="data:image/png;base64,', html)
    assert "Quiz: " in html and "burned" in html.lower()
