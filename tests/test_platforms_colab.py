"""The viewer and the graded checks on Colab's widget stack, in a real browser.

Colab's front end is closed, so the test uses the open front end closest to it: classic
Notebook 6.5.7 with ipywidgets 7.7.1 and anywidget 0.9.21 (Colab's published versions,
``platforms/colab-constraints.txt``) in a virtual environment of their own,
``.venvs/colab`` (Python 3.13 when pyenv has it, like Colab), built once from wheels
cached in ``.whl/``. The Notebook server and its kernel run in that environment with this
checkout's radnb on ``PYTHONPATH``; headless Chromium (Debian's ``chromium`` through
playwright) drives the page.
"""
from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import pytest

from radnb.viewers.display import window_to_uint8
from radnb.viewers.testing import _free_port, browser, chromium_path, start_server, stop_server, write_notebook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platforms"))
import colab_stack  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

if chromium_path() is None:
    pytest.skip("chromium is not installed (Debian package 'chromium'); browser tests skipped", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the 'playwright' Python package is needed for browser tests")

SHAPE = (12, 96, 96)
SOFT = (50.0, 400.0)  # radnb.PRESETS["soft_tissue"]


class ClassicNotebook:
    """Notebook 6.5 (``jupyter notebook``) in a subprocess of the Colab-like environment."""

    def __init__(self, python: Path, root_dir: Path):
        self.python, self.root_dir = python, root_dir
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root_dir.parent / f"notebook6-{self.port}.log"

    def start(self, timeout: float = 90.0) -> "ClassicNotebook":
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT)
        env["JUPYTER_RUNTIME_DIR"] = str(self.root_dir.parent / "runtime")
        env["IPYTHONDIR"] = str(self.root_dir.parent / "ipython")
        env["JUPYTER_CONFIG_DIR"] = str(self.root_dir.parent / "jupyter-config")  # not the user's ~/.jupyter
        env["RADNB_DATA"] = str(self.root_dir.parent / "radnb-data")
        cmd = [str(self.python), "-m", "notebook", "--no-browser", f"--port={self.port}", "--ip=127.0.0.1",
               "--port-retries=0", f"--NotebookApp.token={self.token}", f"--notebook-dir={self.root_dir}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log = open(self.log_path, "w")
        self.proc = start_server(cmd, env, f"{self.url}/api/status?token={self.token}", self._log, self.log_path,
                                 "Notebook 6", timeout)
        return self

    def stop(self) -> None:
        stop_server(self.proc, self._log)


class ClassicPage:
    """Runs cells of an open classic notebook through its own front end and reads the outputs."""

    def __init__(self, page):
        self.page = page

    def wait_kernel(self, timeout: float = 120_000) -> None:
        self.page.wait_for_function(
            "() => window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()"
            " && Jupyter.WidgetManager !== undefined", timeout=timeout)

    def run(self, k: int, marker: str = None, timeout: float = 120_000) -> str:
        """Select cell ``k`` and press Shift+Enter, as a student does; wait until it finished."""
        before = self.page.evaluate("(k) => Jupyter.notebook.get_cell(k).input_prompt_number", k)
        self.page.mouse.move(2, 2)  # a pointer left over a viewer would send the keys to the viewer
        for _attempt in range(6):  # retry the key press until the kernel takes the cell
            # a viewer that was scrolled or dragged keeps the keyboard focus: give it back to the notebook
            self.page.evaluate("(k) => { if (document.activeElement) document.activeElement.blur();"
                               " Jupyter.notebook.select(k); Jupyter.notebook.command_mode();"
                               " const el = Jupyter.notebook.get_cell(k).element[0]; el.scrollIntoView(); el.focus(); }", k)
            self.page.keyboard.press("Shift+Enter")
            try:
                self.page.wait_for_function(
                    "([k, before]) => Jupyter.notebook.get_cell(k).input_prompt_number !== before", arg=[k, before],
                    timeout=5000)
                break
            except Exception:
                continue
        self.page.wait_for_function(
            "([k, before]) => { const c = Jupyter.notebook.get_cell(k); const n = c.input_prompt_number;"
            " return n !== before && n !== '*' && n !== undefined && n !== null; }", arg=[k, before], timeout=timeout)
        text = self.output_text(k)
        if marker is None:
            return text
        for line in text.splitlines():
            if line.startswith(marker):
                return line[len(marker):].strip()
        raise AssertionError(f"cell {k} printed no line starting with {marker!r}: {text[:1500]}")

    def output_text(self, k: int) -> str:
        return self.page.locator("#notebook-container .cell").nth(k).locator(".output_wrapper").inner_text()


def _cells(data_dir: Path) -> dict:
    setup = f"""
import json, sys, numpy as np, ipywidgets, anywidget, notebook, radnb
from pathlib import Path
from radnb import grading
from radnb.data.synthetic import make_ct_volumes
DATA = Path({str(data_dir)!r})
cases = make_ct_volumes(DATA, n_patients=1, shape={SHAPE})
ct = radnb.load(DATA / cases.series[0])
print("VERSIONS", json.dumps({{"python": sys.version.split()[0], "ipywidgets": ipywidgets.__version__,
      "anywidget": anywidget.__version__, "notebook": notebook.__version__}}))
"""
    return {
        "setup": setup,
        "show": "v = radnb.show(ct)\nv",
        "state": 'import time; time.sleep(0.5)\nprint("STATE", json.dumps({"slice": v.slice, "window": v.window, "level": v.level, "preset": v.preset}))',
        "check_wrong": "def to_hu(stored, slope, intercept):\n    return stored * slope\n\ngrading.check('hu_conversion', to_hu)",
        "check_right": "def to_hu(stored, slope, intercept):\n    return stored * slope + intercept\n\ngrading.check('hu_conversion', to_hu)",
        "quiz": "def answer_choose_preset():\n    return 'bone'\n\ngrading.quiz('choose_preset', answer_choose_preset)",
        "doctor": "from radnb.system import detect_platform\nprint('PLATFORM', detect_platform().name)",
    }


@pytest.fixture(scope="module")
def colab_python():
    try:
        return colab_stack.ensure_venv()
    except colab_stack.StackUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def session(colab_python, tmp_path_factory, artifacts_dir):
    root = tmp_path_factory.mktemp("colab")
    nbdir = root / "notebooks"
    nbdir.mkdir()
    data_dir = root / "data"
    cells = _cells(data_dir)
    names = list(cells)
    write_notebook(nbdir / "colab.ipynb", [cells[n] for n in names])
    server = ClassicNotebook(colab_python, nbdir).start()
    with browser() as chrome:
        page = chrome.new_page(viewport={"width": 1300, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(f"{server.url}/notebooks/colab.ipynb?token={server.token}")
            nb = ClassicPage(page)
            nb.wait_kernel()
            versions = json.loads(nb.run(names.index("setup"), "VERSIONS", timeout=180_000))
            yield {"page": page, "nb": nb, "idx": names.index, "errors": errors, "versions": versions,
                   "data_dir": data_dir, "artifacts": artifacts_dir}
            page.screenshot(path=str(artifacts_dir / "colab-stack-final.png"), full_page=True)
        finally:
            page.close()
            server.stop()


def _state(s) -> dict:
    s["page"].wait_for_timeout(450)  # the viewer syncs to Python 250 ms after an interaction settles
    return json.loads(s["nb"].run(s["idx"]("state"), "STATE"))


def _canvas_box(page):
    canvas = page.locator(".radnb-canvas").first
    canvas.scroll_into_view_if_needed()
    return canvas.bounding_box()


def test_runs_colabs_versions(session):
    v = session["versions"]
    assert v["ipywidgets"] == "7.7.1" and v["anywidget"] == "0.9.21" and v["notebook"] == "6.5.7", v
    print(f"\n[colab stack] {v}")


def test_show_paints_expected_greys(session):
    import radnb

    page, nb = session["page"], session["nb"]
    nb.run(session["idx"]("show"))
    page.wait_for_function(
        "() => { const v = (window.__radnbViewers || [])[0]; return !!v && v.perf.firstPaint !== null && v.loaded() === v.shape[0]; }",
        timeout=60_000)
    st = _state(session)
    assert st["slice"] == SHAPE[0] // 2 and st["preset"] == "soft_tissue" and (st["level"], st["window"]) == SOFT
    from radnb.data.synthetic import make_ct_volumes  # the same seeded phantom, here in the test process

    cases = make_ct_volumes(session["data_dir"].parent / "expected", n_patients=1, shape=SHAPE)
    hu = radnb.load(session["data_dir"].parent / "expected" / cases.series[0]).array[st["slice"]]
    points = [(10, 10), (48, 48), (30, 70), (80, 20)]
    expected = [int(window_to_uint8(hu[r, c], *SOFT)) for r, c in points]
    got = [page.evaluate("([r, c]) => window.__radnbViewers[0].basePixel(0, r, c)", [r, c])[0] for r, c in points]
    assert got == expected
    page.screenshot(path=str(session["artifacts"] / "colab-stack-viewer.png"))


def test_wheel_scrolls_and_drag_changes_window_level(session):
    page = session["page"]
    box = _canvas_box(page)
    x0, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    before = page.evaluate("() => window.__radnbViewers[0].panels[0].canvas.toDataURL()")
    page.mouse.move(x0, y0)
    for _ in range(2):
        page.mouse.wheel(0, 100)
        page.wait_for_timeout(60)
    # PACS convention: wheel-down goes towards the feet; this synthetic CT is stored feet first, so the index falls
    assert _state(session)["slice"] == SHAPE[0] // 2 - 2
    assert page.evaluate("() => window.__radnbViewers[0].panels[0].canvas.toDataURL()") != before
    box = _canvas_box(page)
    x0, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 50, y0 + 25, steps=6)
    page.mouse.up()
    st = _state(session)
    assert st["window"] == pytest.approx(600.0) and st["level"] == pytest.approx(150.0) and st["preset"] == ""


def test_check_cells_show_feedback(session):
    nb, idx = session["nb"], session["idx"]
    wrong = nb.run(idx("check_wrong"))
    assert "intercept" in wrong and "0/2" in wrong, wrong
    right = nb.run(idx("check_right"))
    assert "2/2" in right, right
    cell = session["page"].locator("#notebook-container .cell").nth(idx("quiz"))
    nb.run(idx("quiz"))
    cell.locator(".widget-radio-box").first.wait_for(timeout=30_000)  # the quiz widget rendered (ipywidgets 7)
    cell.get_by_text("Lung (W 1500 / L -600)").click()
    cell.get_by_role("button", name="Check").click()
    cell.get_by_text("Correct", exact=False).first.wait_for(timeout=30_000)
    session["page"].screenshot(path=str(session["artifacts"] / "colab-stack-checks.png"), full_page=True)


def test_platform_is_detected_and_no_page_errors(session):
    assert session["nb"].run(session["idx"]("doctor"), "PLATFORM") == "local"
    assert not [e for e in session["errors"] if "radnb" in e or "anywidget" in e], session["errors"]
