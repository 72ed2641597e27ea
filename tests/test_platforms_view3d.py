"""radnb.view3d (ipyniivue) in a real JupyterLab, in Chromium's software WebGL (SwiftShader).

The 3D canvas is photographed and must not be blank: enough of it differs from the
background and it holds many grey levels (a rendered CT, not a cleared canvas).
"""
from __future__ import annotations

import io

import numpy as np
import pytest

from radnb.viewers.testing import CHROMIUM_ARGS, JupyterServer, NotebookPage, chromium_path, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

if chromium_path() is None:
    pytest.skip("chromium is not installed (Debian package 'chromium'); browser tests skipped", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the 'playwright' Python package is needed for browser tests")
pytest.importorskip("ipyniivue", reason="radnb.view3d needs the view3d extra (ipyniivue)")
pytest.importorskip("nibabel", reason="radnb.view3d with ipyniivue writes NIfTI through nibabel")

# --disable-gpu stays; WebGL then runs on SwiftShader, which Chromium only offers when asked
WEBGL_ARGS = [*CHROMIUM_ARGS, "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def test_view3d_renders_a_ct_volume_in_webgl(tmp_path, artifacts_dir):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    setup = (
        "import numpy as np, radnb\n"
        "from radnb.data.synthetic import make_ct_volumes\n"
        f"cases = make_ct_volumes({str(tmp_path / 'data')!r}, n_patients=1, shape=(24, 96, 96))\n"
        f"ct = radnb.load({str(tmp_path / 'data')!r} + '/' + cases.series[0])\n"
        f"mask = np.load({str(tmp_path / 'data')!r} + '/' + cases['mask'][0])\n"
        "print('READY', ct.array.shape)"
    )
    write_notebook(nbdir / "view3d.ipynb", [setup, "w = radnb.view3d(ct, labels=(mask >= 1).astype(np.uint8))\nw",
                                            "print('BACKEND', type(w).__module__)"])
    server = JupyterServer(nbdir, app="lab").start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=WEBGL_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.goto(server.notebook_url("view3d.ipynb"))
            nb = NotebookPage(page)
            nb.wait_ready()
            assert nb.run_and_read(0, "READY", timeout=120_000)
            assert page.evaluate("() => !!document.createElement('canvas').getContext('webgl2')"), "no WebGL2 in Chromium"
            nb.run_cell(1)
            assert nb.run_and_read(2, "BACKEND").startswith("ipyniivue")
            canvas = nb.cell(1).locator("canvas").first
            canvas.wait_for(timeout=60_000)
            canvas.scroll_into_view_if_needed()
            page.wait_for_timeout(4000)  # niivue loads the NIfTI volumes and draws
            shot = canvas.screenshot()
            page.screenshot(path=str(artifacts_dir / "view3d-niivue.png"))
            browser.close()
    finally:
        server.stop()
    (artifacts_dir / "view3d-canvas.png").write_bytes(shot)
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=np.int16)
    background = np.bincount(pixels.ravel()).argmax()
    drawn = np.abs(pixels - background) > 8
    print(f"\n[view3d] canvas {pixels.shape}, {drawn.mean():.1%} drawn, {len(np.unique(pixels))} grey levels")
    assert drawn.mean() > 0.03, f"the 3D canvas is blank ({drawn.mean():.2%} of pixels differ from the background)"
    assert len(np.unique(pixels[drawn])) > 20
