"""Viewer speed in a real browser: radnb.show versus a matplotlib + ipywidgets.interact viewer.

Starts JupyterLab 4 on 127.0.0.1 and headless Debian Chromium (playwright with
``executable_path``), opens a notebook holding a 512x512x300 CT volume (HU, int16
values) and measures, with ``performance.now()`` in the page:

* time to first paint: from pressing Ctrl+Enter on the cell to the first slice on screen
  (and, for radnb, until every slice has arrived);
* scroll: one slice per wheel notch (radnb) or per slider step (matplotlib);
* window/level: one mouse-move of a left-drag (radnb) or one window-width slider step
  (matplotlib).

radnb numbers are the event-to-painted latency of each frame (includes waiting for the
next animation frame) and the pure drawing work per frame. The baseline re-renders a
matplotlib figure in the kernel and ships a PNG per change. Targets: first paint < 2 s,
scroll and window/level < 16 ms per frame at 512x512.

The lab extension is measured on the same size of CT written as 300 DICOM files and opened
from JupyterLab's file browser (right-click -> Open in radnb viewer): first paint with the
study not yet read by the server and again from its cache, then the same scroll and
window/level measurements; printed next to the notebook widget's figures.

Run:  .venv/bin/python benchmarks/viewer.py
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from radnb.viewers.testing import JupyterServer, NotebookPage, browser, chromium_path, write_notebook  # noqa: E402

SHAPE = (300, 512, 512)
N_STEPS = 40
N_MPL_STEPS = 12
EXT_FOLDER = "ct_study"

SETUP = f"""
import numpy as np, radnb, json
rng = np.random.default_rng(0)
z, h, w = {SHAPE}
yy, xx = np.mgrid[0:h, 0:w]
body = ((yy - h / 2) / (0.42 * h)) ** 2 + ((xx - w / 2) / (0.47 * w)) ** 2 <= 1
liver = ((yy - 0.45 * h) / (0.17 * h)) ** 2 + ((xx - 0.36 * w) / (0.2 * w)) ** 2 <= 1
spine = ((yy - 0.75 * h) / (0.06 * h)) ** 2 + ((xx - w / 2) / (0.06 * w)) ** 2 <= 1
base = np.where(body, 30.0, -1000.0); base[liver] = 60.0; base[spine] = 700.0
vol = np.empty((z, h, w), np.int16)
for k in range(z):
    vol[k] = (base * (0.9 + 0.1 * np.sin(k / 30.0)) + rng.normal(0, 12, (h, w))).round()
print("READY", vol.shape, vol.nbytes // 2**20, "MiB")
"""

SHOW = 'v = radnb.show(vol, modality="CT", spacing=(1.0, 0.7, 0.7))\nv'

MPL = """
import matplotlib.pyplot as plt, ipywidgets as widgets
%matplotlib inline
def draw(k=150, width=400.0, level=50.0):
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(vol[k], cmap="gray", vmin=level - width / 2, vmax=level + width / 2, interpolation="nearest")
    ax.set_axis_off()
    plt.show()
widgets.interact(draw, k=widgets.IntSlider(value=150, min=0, max=299),
                 width=widgets.FloatSlider(value=400, min=1, max=4000, step=10),
                 level=widgets.FloatSlider(value=50, min=-1000, max=1000))
"""


def _stats(values):
    if not values:
        return float("nan"), float("nan")
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def _first_paint(page, nb: NotebookPage, cell: int, k: int) -> tuple:
    t0 = page.evaluate("performance.now()")
    nb.run_cell(cell)
    page.wait_for_function(
        "(k) => { const v = (window.__radnbViewers || [])[k]; return !!v && v.perf.firstPaint !== null; }",
        arg=k, timeout=120_000, polling=5)
    first = page.evaluate("(k) => window.__radnbViewers[k].perf.firstPaint", k) - t0
    page.wait_for_function("(k) => window.__radnbViewers[k].perf.loadedAll !== null", arg=k, timeout=180_000)
    full = page.evaluate("(k) => window.__radnbViewers[k].perf.loadedAll", k) - t0
    return first, full


FORCED = """([k, n, mode]) => {
    const v = window.__radnbViewers[k]; const times = [];
    for (let i = 0; i < n; i++) {
        if (mode === 'scroll') { v.st.position = v.st.position.slice(); v.st.position[0] = 100 + i; }
        else { v.st.window = 400 + 10 * i; v.st.level = 50 + 5 * i; }
        const t0 = performance.now(); v.drawFrame(); times.push(performance.now() - t0);
    }
    return times; }"""


def _interaction(page, k: int, canvas) -> dict:
    """Wheel-scroll and W/L-drag latencies, and forced frame costs, of viewer k (notebook or document)."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    reset = "(k) => { const p = window.__radnbViewers[k].perf; p.frames.length = 0; p.latencies.length = 0; }"
    collect = "(k) => { const p = window.__radnbViewers[k].perf; return [p.latencies.slice(), p.frames.slice()]; }"
    page.evaluate(reset, k)
    for i in range(N_STEPS):
        page.mouse.wheel(0, 100 if i < N_STEPS // 2 else -100)
        page.wait_for_timeout(25)
    page.wait_for_timeout(200)
    scroll = page.evaluate(collect, k)
    page.evaluate(reset, k)
    page.mouse.move(cx, cy)
    page.mouse.down()
    for i in range(N_STEPS):
        page.mouse.move(cx + 3 * (i + 1), cy + 2 * (i + 1))
        page.wait_for_timeout(25)
    page.mouse.up()
    page.wait_for_timeout(200)
    wl = page.evaluate(collect, k)
    forced_scroll = page.evaluate(FORCED, [k, N_STEPS, "scroll"])
    forced_wl = page.evaluate(FORCED, [k, N_STEPS, "wl"])
    return {"scroll": scroll, "wl": wl, "forced_scroll": forced_scroll, "forced_wl": forced_wl,
            "canvas": (box["width"], box["height"])}


def _run_radnb(page, nb: NotebookPage) -> dict:
    first_cold, full_cold = _first_paint(page, nb, 1, 0)
    first, full = _first_paint(page, nb, 2, 1)
    moves = _interaction(page, 1, page.locator(".radnb-canvas").nth(1))
    return {"first_cold": first_cold, "full_cold": full_cold, "first": first, "full": full, **moves}


def _open_from_file_browser(page, folder: str) -> tuple:
    """Right-click the study folder -> Open in radnb viewer.

    Returns ms to the first image on screen (a preview while the server reads the folder, or the
    study itself when it was read before), to the study's own viewer painted (scrollable), and to
    every slice in the browser; and the index of the study's viewer in ``window.__radnbViewers``.
    """
    page.evaluate("() => { window.__radnbFirst = null; const seen = window.__radnbSeen = new Set();"
                  " window.__radnbWatch = setInterval(() => { for (const v of (window.__radnbViewers || []))"
                  " if (!seen.has(v) && v.perf.firstPaint !== null) { seen.add(v);"
                  " if (window.__radnbFirst === null) window.__radnbFirst = v.perf.firstPaint; } }, 2); }")
    page.evaluate("() => { for (const v of (window.__radnbViewers || [])) window.__radnbSeen.add(v); }")
    page.locator(f".jp-DirListing-item[title^='Name: {folder}']").first.click(button="right")
    item = page.locator(".lm-Menu-item", has_text="Open in radnb viewer")
    item.wait_for()
    t0 = page.evaluate("performance.now()")
    item.click()
    page.wait_for_function("() => window.__radnbFirst !== null", timeout=180_000, polling=5)
    first = page.evaluate("() => window.__radnbFirst") - t0
    page.wait_for_selector(".jp-RadnbViewer[data-ready='true']", timeout=300_000)
    page.wait_for_function("() => { const v = window.__radnbViewers.at(-1); return v.perf.firstPaint !== null"
                           " && v.perf.loadedAll !== null; }", timeout=300_000)
    k = page.evaluate("() => window.__radnbViewers.length - 1")
    study = page.evaluate("(k) => window.__radnbViewers[k].perf.firstPaint", k) - t0
    full = page.evaluate("(k) => window.__radnbViewers[k].perf.loadedAll", k) - t0
    page.evaluate("() => clearInterval(window.__radnbWatch)")
    return first, study, full, k


def _run_extension(browser_, server, folder: str) -> dict:
    """The JupyterLab extension: the same 512x512x300 CT as DICOM files, opened from the file browser."""
    page = browser_.new_page(viewport={"width": 1300, "height": 1100})
    page.goto(f"{server.url}/lab?token={server.token}")
    page.wait_for_selector(f".jp-DirListing-item[title^='Name: {folder}']", timeout=120_000)
    first_cold, study_cold, full_cold, _ = _open_from_file_browser(page, folder)  # the server reads the files
    page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon").click()
    page.wait_for_timeout(300)
    first, study, full, k = _open_from_file_browser(page, folder)  # read already: the server's study cache
    moves = _interaction(page, k, page.locator(".jp-RadnbViewer .radnb-canvas").first)
    out = Path(__file__).resolve().parents[1] / "test-artifacts"
    out.mkdir(exist_ok=True)
    page.screenshot(path=str(out / "benchmark-viewer-extension.png"))
    page.close()
    return {"first_cold": first_cold, "study_cold": study_cold, "full_cold": full_cold, "first": first,
            "study": study, "full": full, **moves}


def _run_matplotlib(page, nb: NotebookPage) -> dict:
    cell = nb.cell(3)
    t0 = page.evaluate("performance.now()")
    nb.run_cell(3)
    cell.locator(".widget-interact img").first.wait_for(timeout=120_000)
    first = page.evaluate("performance.now()") - t0  # polled: an upper bound within a few ms
    page.evaluate(
        """() => {
        const cells = document.querySelectorAll('.jp-Notebook .jp-Cell');
        const out = cells[3].querySelector('.widget-interact');
        window.__mpl = { times: [], last: null };
        const seen = () => { const img = out.querySelector('img');
            if (img && img.src !== window.__mpl.last) { window.__mpl.last = img.src; window.__mpl.times.push(performance.now()); } };
        seen();
        new MutationObserver(seen).observe(out, { subtree: true, childList: true, attributes: true });
    }"""
    )
    results = {}
    for name, index in (("scroll", 0), ("wl", 1)):
        handle = cell.locator(".widget-interact .widget-slider").nth(index).locator(".noUi-handle, .ui-slider-handle").first
        handle.focus()
        lat = []
        for _ in range(N_MPL_STEPS):
            n_before = page.evaluate("() => window.__mpl.times.length")
            t = page.evaluate("performance.now()")
            page.keyboard.press("ArrowRight")
            page.wait_for_function("(n) => window.__mpl.times.length > n", arg=n_before, timeout=30_000, polling=5)
            lat.append(page.evaluate("() => window.__mpl.times[window.__mpl.times.length - 1]") - t)
        results[name] = lat
    results["first"] = first
    return results


def main() -> int:
    if chromium_path() is None:
        print("chromium is not installed (Debian package 'chromium'); cannot run the browser benchmark.")
        return 1
    if not (Path(__file__).resolve().parents[1] / "radnb" / "labextension" / "package.json").is_file():
        print("the lab extension is not built (make labextension); cannot measure it.")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "nb"
        root.mkdir()
        write_notebook(root / "bench.ipynb", [SETUP, SHOW, SHOW.replace("v =", "v2 =").replace("\nv", "\nv2"), MPL])
        # the same size of CT as DICOM files, for the lab extension (the server loads this checkout's
        # extension without installing it)
        from radnb.data.synthetic import make_ct_slices
        from radnb.serverext import development_environment

        t = time.perf_counter()
        make_ct_slices(root / EXT_FOLDER, n=SHAPE[0], size=SHAPE[1])
        print(f"wrote {SHAPE[0]} DICOM slices in {time.perf_counter() - t:.1f} s")
        os.environ.update(development_environment(tmp))
        server = JupyterServer(root, app="lab").start()
        try:
            with browser() as b:
                page = b.new_page(viewport={"width": 1300, "height": 1100})
                page.goto(server.notebook_url("bench.ipynb"))
                nb = NotebookPage(page)
                nb.wait_ready()
                print(nb.run_and_read(0, "READY", timeout=180_000))
                r = _run_radnb(page, nb)
                print(f"radnb: first paint {r['first_cold']:.0f} ms cold, {r['first']:.0f} ms warm")
                try:
                    m = _run_matplotlib(page, nb)
                except Exception:
                    page.screenshot(path="/tmp/bench-fail.png", full_page=True)
                    print(nb.output_text(3)[:2000])
                    raise
                out = Path(__file__).resolve().parents[1] / "test-artifacts"
                out.mkdir(exist_ok=True)
                page.screenshot(path=str(out / "benchmark-viewer.png"), full_page=True)
                page.close()
                e = _run_extension(b, server, EXT_FOLDER)
                print(f"extension: first paint {e['first_cold']:.0f} ms cold (preview; study {e['study_cold']:.0f} ms), "
                      f"{e['first']:.0f} ms warm")
        finally:
            server.stop()

    s_lat, s_work = (_stats(x) for x in r["scroll"])
    w_lat, w_work = (_stats(x) for x in r["wl"])
    s_forced, w_forced = _stats(r["forced_scroll"]), _stats(r["forced_wl"])
    ms, mw = _stats(m["scroll"]), _stats(m["wl"])
    rows = [
        ("first paint, first viewer in a fresh kernel", r["first_cold"], m["first"], 2000.0),
        ("first paint, next viewer", r["first"], m["first"], 2000.0),
        ("  all 300 slices in the browser (fresh / next)", (r["full_cold"], r["full"]), None, None),
        ("scroll: frame cost, drawn + rasterised (med/p95)", s_forced, None, 16.0),
        ("scroll: input event -> canvas drawn (med/p95)", s_lat, ms, None),
        ("W/L drag: frame cost, drawn + rasterised (med/p95)", w_forced, None, 16.0),
        ("W/L drag: input event -> canvas drawn (med/p95)", w_lat, mw, None),
    ]
    print(f"\nViewer benchmark: {SHAPE[1]}x{SHAPE[2]}x{SHAPE[0]} int16 CT ({SHAPE[0] * SHAPE[1] * SHAPE[2] * 2 // 2**20} MiB), "
          "JupyterLab 4, headless Chromium (software rendering, --disable-gpu), 2 CPU cores")
    print(f"radnb: {len(r['scroll'][0])} wheel frames, {len(r['wl'][0])} drag frames, {N_STEPS} forced frames each; "
          f"matplotlib+interact: {N_MPL_STEPS} slider steps each")
    header = f"{'action (ms)':52s} {'radnb':>15s} {'mpl+interact':>15s} {'speed-up':>9s} {'target':>7s}"
    print(header)
    print("-" * len(header))

    def cell(v):
        if v is None:
            return f"{'':>15s}"
        if isinstance(v, tuple):
            return f"{v[0]:7.1f}/{v[1]:7.1f}"
        return f"{v:15.1f}"

    for name, ours, base, target in rows:
        ours_med = ours[0] if isinstance(ours, tuple) else ours
        ratio = ""
        if base is not None:
            base_med = base[0] if isinstance(base, tuple) else base
            ratio = f"{base_med / ours_med:8.1f}x"
        verdict = ("ok" if ours_med < target else "MISSED") if target else ""
        print(f"{name:52s} {cell(ours)} {cell(base)} {ratio:>9s} {verdict:>7s}")
    print(f"radnb JS drawing work per frame without forced rasterisation: scroll {s_work[0]:.1f}/{s_work[1]:.1f}, "
          f"W/L {w_work[0]:.1f}/{w_work[1]:.1f} ms (median/p95)")
    print("frame cost = JS draws one slice / one W/L change and reads a pixel back (forces the raster).")
    print("input event -> drawn: from the event's timestamp to the canvas drawn (radnb; Chromium delivers wheel and")
    print("pointer events aligned to its ~16.7 ms frames) or from the slider key press to the new PNG in the page")
    print("(matplotlib: kernel re-draws the figure). speed-up = matplotlib / radnb, medians.")
    _print_extension(e, r)
    return 0


def _print_extension(e: dict, r: dict) -> None:
    """The lab extension (file browser -> radnb viewer) next to the notebook widget (radnb.show)."""
    rows = [
        ("first paint, study not read yet (a preview image)", e["first_cold"], r["first_cold"], 2000.0),
        ("  the study's own viewer painted (scrollable)", e["study_cold"], r["first_cold"], None),
        ("first paint, study read before (server cache)", e["first"], r["first"], 2000.0),
        ("  all 300 slices in the browser (first / again)", (e["full_cold"], e["full"]), (r["full_cold"], r["full"]), None),
        ("scroll: frame cost, drawn + rasterised (med/p95)", _stats(e["forced_scroll"]), _stats(r["forced_scroll"]), 16.0),
        ("scroll: input event -> canvas drawn (med/p95)", _stats(e["scroll"][0]), _stats(r["scroll"][0]), None),
        ("W/L drag: frame cost, drawn + rasterised (med/p95)", _stats(e["forced_wl"]), _stats(r["forced_wl"]), 16.0),
        ("W/L drag: input event -> canvas drawn (med/p95)", _stats(e["wl"][0]), _stats(r["wl"][0]), None),
    ]
    print(f"\nLab extension: {SHAPE[0]} DICOM files of {SHAPE[1]}x{SHAPE[2]} (synthetic CT) opened from the file browser")
    print("(right-click the folder -> Open in radnb viewer; the server reads them with radnb.load, no kernel),")
    print("next to the notebook widget on the same size of volume (radnb.show in a kernel, figures above).")
    header = f"{'action (ms)':52s} {'extension':>15s} {'notebook':>15s} {'ratio':>9s} {'target':>7s}"
    print(header)
    print("-" * len(header))
    for name, ours, nb, target in rows:
        fmt = lambda v: f"{v[0]:7.1f}/{v[1]:7.1f}" if isinstance(v, tuple) else f"{v:15.1f}"  # noqa: E731
        ours_med = ours[0] if isinstance(ours, tuple) else ours
        nb_med = nb[0] if isinstance(nb, tuple) else nb
        verdict = ("ok" if ours_med < target else "MISSED") if target else ""
        print(f"{name:52s} {fmt(ours)} {fmt(nb)} {ours_med / nb_med:8.2f}x {verdict:>7s}")
    (ew, eh), (nw, nh) = e["canvas"], r["canvas"]
    print(f"canvas on screen (CSS px): extension {ew:.0f}x{eh:.0f}, notebook {nw:.0f}x{nh:.0f} "
          f"({ew * eh / (nw * nh):.1f}x the pixels to draw per frame)")
    print("first paint = click on the menu entry (extension) or Ctrl+Enter (notebook) -> first slice on screen.")
    print("A study not read yet: one image of the folder is shown first (preview), the scrollable viewer once the")
    print("server has read every file (the notebook's figure starts from an array already in the kernel).")
    print("ratio = extension / notebook, medians. Measured on a shared 2-core machine under load from other users.")


if __name__ == "__main__":
    raise SystemExit(main())
