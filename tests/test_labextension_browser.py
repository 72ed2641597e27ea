"""radnb's JupyterLab extension in a real JupyterLab 4 (and Notebook 7) driven by headless Chromium.

DICOM is opened from the file browser the way a resident would: right-click a study folder ->
"Open in radnb viewer", double-click a radiograph, Open With -> radnb viewer on a DICOM file
without an extension, and on a text file (which must say plainly that it is not DICOM).
Expected grey levels come from Python (radnb.show on the same files + window_to_uint8).
The server loads this checkout's extension uninstalled (radnb.serverext.development_environment).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import radnb
from radnb.viewers.display import window_to_uint8
from radnb.viewers.testing import JupyterServer, browser, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

if chromium_path() is None:
    pytest.skip("chromium is not installed (Debian package 'chromium'); browser tests skipped", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the 'playwright' Python package is needed for browser tests")

LABEXT = Path(radnb.__file__).parent / "labextension" / "package.json"
if not LABEXT.is_file():
    pytest.skip("the lab extension is not built (make labextension)", allow_module_level=True)

SHAPE = (10, 64, 64)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from radnb.data.synthetic import make_chest_xrays, make_ct_volumes
    from radnb.serverext import development_environment

    work = tmp_path_factory.mktemp("labext")
    root = work / "root"
    root.mkdir()
    cases = make_ct_volumes(work / "ct", n_patients=1, shape=SHAPE)
    shutil.copytree(work / "ct" / cases.series[0], root / "study")
    xr = make_chest_xrays(work / "xr", n_patients=1, images_per_patient=(1, 1), size=96, monochrome1_fraction=0.0)
    first_xr = sorted((work / "xr").rglob("*.dcm"))[0]
    shutil.copy(first_xr, root / "chest.dcm")
    shutil.copy(sorted((root / "study").glob("*.dcm"))[3], root / "IMG0004")  # DICOM without an extension
    (root / "notes.txt").write_text("This is a text file, not an image.\n")
    # a folder with two series and a broken file
    shutil.copytree(work / "ct" / cases.series[0], root / "mixed" / "ct")
    shutil.copy(first_xr, root / "mixed" / "chest.dcm")
    (root / "mixed" / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x40\x00" + b"1.2")
    old = {k: os.environ.get(k) for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_PATH")}
    os.environ.update(development_environment(work))
    try:
        yield {"root": root, "work": work}
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    del xr


@pytest.fixture(scope="module")
def lab(files, artifacts_dir):
    server = JupyterServer(files["root"]).start()
    try:
        with browser() as b:
            page = b.new_page(viewport={"width": 1300, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.url}/lab?token={server.token}")
            page.wait_for_selector(".jp-DirListing-item >> text=study", timeout=90_000)
            yield {"page": page, "server": server, "errors": errors, "artifacts": artifacts_dir, "browser": b, **files}
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _fresh_main_area(lab):
    """Each test finds only its own viewer, even after a failure in the previous one."""
    yield
    _close_all(lab["page"])


def _item(page, name):
    return page.locator(f".jp-DirListing-item[title^='Name: {name}']").first


def _close_all(page):
    """Close the radnb tabs so the next test finds only its own viewer in the page."""
    tabs = page.locator(".jp-MainAreaWidget .lm-TabBar-tab, #jp-main-dock-panel .lm-TabBar-tab")
    for _ in range(10):
        current = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon")
        if page.locator(".jp-RadnbViewer").count() == 0 or current.count() == 0:
            break
        current.first.click()
        page.wait_for_timeout(200)
    assert page.locator(".jp-RadnbViewer").count() == 0, tabs.all_inner_texts()


def _wait_viewer(page, timeout=60_000):
    page.wait_for_function(
        "() => { const v = (window.__radnbViewers || []).at(-1);"
        " return !!v && v.perf.firstPaint !== null && v.loaded() === v.shape[0]; }",
        timeout=timeout,
    )


def _grey(page, r, c):
    return page.evaluate("([r, c]) => window.__radnbViewers.at(-1).basePixel(0, r, c)[0]", [r, c])


def _state(page):
    return page.evaluate("() => { const v = window.__radnbViewers.at(-1); return {position: v.st.position,"
                         " window: v.st.window, level: v.st.level, preset: v.st.preset, shape: v.shape}; }")


def test_study_folder_opens_from_the_context_menu(lab):
    page = lab["page"]
    _item(page, "study").click(button="right")
    page.locator(".lm-Menu-item", has_text="Open in radnb viewer").click()
    page.wait_for_selector(".jp-RadnbViewer[data-ready='true']", timeout=60_000)
    _wait_viewer(page)
    expected = radnb.show(lab["root"] / "study")
    st = _state(page)
    assert st["shape"] == list(SHAPE)
    assert (st["window"], st["level"], st["preset"]) == (expected.window, expected.level, expected.preset)
    z = st["position"][0]
    assert z == SHAPE[0] // 2
    # grey levels painted for the known window, from Python's formula on the loaded HU
    hu = expected.slice_array("axial", z)
    points = [(r, c) for r in (5, 20, 32, 45) for c in (10, 32, 50)]
    want = [int(window_to_uint8(hu[r, c], expected.level, expected.window, function=expected.voi_function))
            for r, c in points]
    got = [_grey(page, r, c) for r, c in points]
    assert got == want
    assert len(set(want)) > 2  # the points show tissue, air and bone, not one flat value
    # series list and a copyable notebook line
    assert page.locator(".jp-RadnbViewer-seriesItem").count() == 1
    assert "CT" in page.locator(".jp-RadnbViewer-seriesItem").inner_text()
    page.locator(".jp-RadnbViewer-copy").click()
    copied = page.locator(".jp-RadnbViewer").get_attribute("data-copied")
    assert copied == 'import radnb\nradnb.show("study")'
    # the mouse wheel scrolls: the next slice is drawn, with its own pixels
    box = page.locator(".jp-RadnbViewer .radnb-canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    # PACS convention: wheel-down goes one slice towards the feet, i.e. the next slice number on screen
    expected.slice = z
    number = expected.slice_number
    z_next = next(k for k in (z - 1, z + 1) if (setattr(expected, "slice", k) or expected.slice_number == number + 1))
    page.mouse.wheel(0, 120)
    page.wait_for_function("(z) => window.__radnbViewers.at(-1).st.position[0] === z", arg=z_next)
    page.wait_for_timeout(100)
    hu_next = expected.slice_array("axial", z_next)
    want_next = [int(window_to_uint8(hu_next[r, c], expected.level, expected.window, function=expected.voi_function))
                 for r, c in points]
    assert [_grey(page, r, c) for r, c in points] == want_next
    label = f"{number + 1}/{SHAPE[0]}"
    assert label in page.locator(".jp-RadnbViewer .radnb-tl").first.inner_text() or \
        label in page.locator(".jp-RadnbViewer").inner_text()
    # window/level drag changes the window
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 160, box["y"] + 130, steps=4)
    page.mouse.up()
    st2 = _state(page)
    assert st2["window"] > expected.window and st2["preset"] == ""
    # the header: identifying values hidden
    page.locator(".jp-RadnbViewer .radnb-header-btn").click()
    header = page.locator(".jp-RadnbViewer .radnb-header-table")
    header.wait_for()
    name_row = header.locator("tr", has_text="PatientName")
    assert "(hidden)" in name_row.inner_text()
    real_name = str(radnb.load(lab["root"] / "study").meta.PatientName)
    assert real_name and real_name not in page.locator(".jp-RadnbViewer").inner_text()
    page.screenshot(path=str(lab["artifacts"] / "labext-study-folder.png"))
    # no one-click reveal in the browser: identifying values need show_phi=True in code, which a notebook records
    assert page.locator(".jp-RadnbViewer .radnb-phi-toggle").count() == 0
    assert lab["errors"] == []
    _close_all(page)


def test_folder_with_two_series_and_a_broken_file(lab):
    page = lab["page"]
    _item(page, "mixed").click(button="right")
    page.locator(".lm-Menu-item", has_text="Open in radnb viewer").click()
    page.wait_for_selector(".jp-RadnbViewer[data-ready='true']", timeout=60_000)
    _wait_viewer(page)
    items = page.locator(".jp-RadnbViewer-seriesItem")
    assert items.count() == 2
    assert _state(page)["shape"] == list(SHAPE)  # the largest series first, as radnb.show(folder)
    errors = page.locator(".jp-RadnbViewer-error").all_inner_texts()
    assert len(errors) == 1 and "broken.dcm" in errors[0], errors
    assert "1 file(s) not loaded" in page.locator(".jp-RadnbViewer-series").inner_text().lower()
    other = page.locator(".jp-RadnbViewer-seriesItem:not(.jp-mod-selected)")
    index = int(other.get_attribute("data-index"))
    other.click()
    page.wait_for_function("(k) => document.querySelector('.jp-RadnbViewer').dataset.series === String(k)"
                           " && window.__radnbViewers.at(-1).shape[0] === 1", arg=index)
    _wait_viewer(page)
    assert _state(page)["shape"][0] == 1
    page.locator(".jp-RadnbViewer-copy").click()
    assert page.locator(".jp-RadnbViewer").get_attribute("data-copied") == \
        f'import radnb\nradnb.show(radnb.load("mixed")[{index}])'
    page.screenshot(path=str(lab["artifacts"] / "labext-two-series.png"))
    _close_all(page)


def test_radiograph_opens_on_double_click(lab):
    page = lab["page"]
    requests = []
    page.on("request", lambda req: requests.append(req.url))
    _item(page, "chest.dcm").dblclick()
    page.wait_for_selector(".jp-RadnbViewer[data-ready='true']", timeout=60_000)
    _wait_viewer(page)
    expected = radnb.show(lab["root"] / "chest.dcm")
    st = _state(page)
    assert st["shape"] == list(expected.shape)
    assert (st["window"], st["level"]) == (expected.window, expected.level)
    img = expected.slice_array("axial", 0)
    points = [(r, c) for r in (10, 48, 80) for c in (10, 30, 48, 70)]
    want = [int(window_to_uint8(img[r, c], expected.level, expected.window, invert=expected.invert,
                                function=expected.voi_function)) for r, c in points]
    assert [_grey(page, r, c) for r, c in points] == want
    assert len(set(want)) > 2
    # a single image: no series list, and the copied code opens the file
    assert page.locator(".jp-RadnbViewer-series").is_hidden()
    page.locator(".jp-RadnbViewer-copy").click()
    assert page.locator(".jp-RadnbViewer").get_attribute("data-copied") == 'import radnb\nradnb.show("chest.dcm")'
    # the file is read on the server only: the document model asks the Contents API for no content
    contents = [u for u in requests if "/api/contents/chest.dcm?" in u]
    assert contents and all("content=0" in u for u in contents), contents
    # the tab is a document of the dicom file type (double-click used the radnb factory)
    assert page.locator(".lm-TabBar-tab.lm-mod-current", has_text="chest.dcm").count() == 1
    page.screenshot(path=str(lab["artifacts"] / "labext-radiograph.png"))
    _close_all(page)


def _open_with_radnb(page, name):
    _item(page, name).click(button="right")
    page.locator(".lm-Menu-item", has_text="Open With").hover()
    page.locator(".lm-Menu-item", has_text="radnb viewer").last.click()


def test_dicom_without_extension_opens_with_open_with(lab):
    page = lab["page"]
    _open_with_radnb(page, "IMG0004")
    page.wait_for_selector(".jp-RadnbViewer[data-ready='true']", timeout=60_000)
    _wait_viewer(page)
    st = _state(page)
    assert st["shape"] == [1, SHAPE[1], SHAPE[2]]
    assert st["preset"] == radnb.show(lab["root"] / "IMG0004").preset
    _close_all(page)


def test_non_dicom_file_shows_a_clear_message(lab):
    page = lab["page"]
    _open_with_radnb(page, "notes.txt")
    page.wait_for_selector(".jp-RadnbViewer[data-ready='error']", timeout=60_000)
    message = page.locator(".jp-RadnbViewer-message").inner_text()
    assert "notes.txt" in message and "not a DICOM file" in message
    assert "opens DICOM files" in message  # says what the viewer can open
    assert page.locator(".jp-RadnbViewer .radnb-canvas").count() == 0
    page.screenshot(path=str(lab["artifacts"] / "labext-not-dicom.png"))
    _close_all(page)


def test_notebook7_file_page_and_document_page(lab):
    """Notebook 7: a folder opens as a tab of the file page; a .dcm file opens on its document page."""
    files, artifacts_dir = lab, lab["artifacts"]
    server = JupyterServer(files["root"], app="notebook").start()
    try:
        if True:  # the module's browser; a second Playwright instance cannot run beside it
            page = lab["browser"].new_page(viewport={"width": 1200, "height": 850})
            errors = []
            page.on("pageerror", lambda e: errors.append(f"{e}\n{e.stack}"))
            page.goto(f"{server.url}/tree?token={server.token}")
            page.wait_for_selector(".jp-DirListing-item >> text=study", timeout=90_000)
            _item(page, "study").click(button="right")
            page.locator(".lm-Menu-item", has_text="Open in radnb viewer").click()
            page.wait_for_selector(".jp-RadnbViewer[data-ready='true']", timeout=60_000)
            _wait_viewer(page)
            assert _state(page)["shape"] == list(SHAPE)
            assert page.locator(".lm-TabBar-tab.lm-mod-current", has_text="study").count() == 1
            page.screenshot(path=str(artifacts_dir / "labext-notebook7-folder.png"))
            page.goto(f"{server.url}/doc/tree/chest.dcm?token={server.token}")
            page.wait_for_selector(".jp-RadnbViewer[data-ready='true']", timeout=60_000)
            _wait_viewer(page)
            expected = radnb.show(files["root"] / "chest.dcm")
            img = expected.slice_array("axial", 0)
            points = [(20, 20), (48, 30), (70, 60)]
            want = [int(window_to_uint8(img[r, c], expected.level, expected.window, invert=expected.invert,
                                        function=expected.voi_function)) for r, c in points]
            assert [_grey(page, r, c) for r, c in points] == want
            page.screenshot(path=str(artifacts_dir / "labext-notebook7-document.png"))
            # Notebook 7 itself may log a settings-schema error when the page is left while loading;
            # none may come from radnb's code (its bundles and viewer.js are served under .../radnb...)
            assert [e for e in errors if "radnb" in e] == []
            page.close()
    finally:
        server.stop()
