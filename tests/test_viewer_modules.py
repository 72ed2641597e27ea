"""The viewers' browser code: ES modules joined into one module for anywidget, and the tool registry.

Node.js (when installed) runs the joined module and the unjoined files, as the browser would;
the browser tests (test_viewers_browser.py, test_labextension_browser.py) prove it paints.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from radnb.errors import InvalidArgumentError, RadnbError
from radnb.viewers import assets, tools
from radnb.viewers.assets import STATIC_DIR, ModuleBundleError, bundle, gallery_module, viewer_module

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed; the joined module is run by the browser tests")

MODULE_HEADER = re.compile(r"^// ---- module (\S+) ----$", re.M)
IMPORT = re.compile(r'^import .*"\./([^"]+)";$', re.M)


def _node_tools(module: Path) -> list:
    """Import ``module`` with Node as an ES module and return the names in its TOOLS registry."""
    script = f"const m = await import({json.dumps(module.as_uri())}); console.log(JSON.stringify(m.TOOLS.map((t) => t.name)));"
    out = subprocess.run([NODE, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_joined_viewer_module_holds_every_module_after_its_imports():
    js = viewer_module()
    joined = MODULE_HEADER.findall(js)
    on_disk = sorted(f"viewer/{p.name}" for p in (STATIC_DIR / "viewer").glob("*.js"))
    assert sorted(joined[:-1]) == on_disk and joined[-1] == "viewer.js"  # the entry last
    assert len(on_disk) >= 8  # state, events, render, tools, overlays, measurements, ...
    position = {name: k for k, name in enumerate(joined)}
    for name in joined:
        source = (STATIC_DIR / name).read_text()
        for dep in IMPORT.findall(source):
            dep = (Path(name).parent / dep).as_posix()
            assert position[dep] < position[name], f"{name} is placed before {dep}, which it imports"
    # no relative import is left (a blob-URL module could not resolve it); the entry's exports stay
    assert not re.search(r"^import ", js, re.M)
    assert js.rstrip().endswith("export default { render };") and "export { TOOLS };" in js


def test_the_widgets_and_the_server_use_the_joined_modules():
    from radnb.viewers.gallery import Gallery
    from radnb.viewers.viewer import SliceViewer

    assert SliceViewer._esm == viewer_module()
    assert Gallery._esm == gallery_module() and "// ---- module viewer/util.js ----" in Gallery._esm
    assert assets.viewer_module() is assets.viewer_module()  # cached until a file changes


def test_python_and_browser_register_the_same_tools():
    from radnb.viewers.viewer import SliceViewer

    names = tools.tool_names()
    assert SliceViewer.class_traits()["tool"].values == names
    js = viewer_module()
    for tool in names:  # each tool object names itself in the browser code
        assert re.search(rf'name: "{tool}"', js), tool


@needs_node
def test_joined_and_unjoined_modules_run_and_register_the_python_tools(tmp_path):
    joined = tmp_path / "joined.mjs"
    joined.write_text(viewer_module())
    assert _node_tools(joined) == list(tools.tool_names())
    # the files themselves are real ES modules (what a browser could import directly)
    copy = tmp_path / "static"
    shutil.copytree(STATIC_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (copy / "package.json").write_text('{"type": "module"}')
    assert _node_tools(copy / "viewer.js") == list(tools.tool_names())


@needs_node
def test_a_new_tool_is_one_module_plus_one_registration(tmp_path):
    copy = tmp_path / "static"
    shutil.copytree(STATIC_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (copy / "viewer" / "probe.js").write_text(
        'import { axisOf } from "./geometry.js";\n'
        "const hidden = 1; // private: the same name in another module does not clash\n"
        'export const probe = { name: "probe", label: "Probe", move(v, d, dx) { d.seen = dx + hidden + axisOf("axial"); } };\n'
    )
    entry = copy / "viewer.js"
    source = entry.read_text()
    source = source.replace('import { allocate } from "./viewer/util.js";\n',
                            'import { allocate } from "./viewer/util.js";\nimport { probe } from "./viewer/probe.js";\n')
    source = source.replace("registerTool(tool);\n", "registerTool(tool);\nregisterTool(probe);\n", 1)
    entry.write_text(source)
    js = bundle(entry)
    assert "// ---- module viewer/probe.js ----" in js
    joined = tmp_path / "joined.mjs"
    joined.write_text(js)
    assert _node_tools(joined) == [*tools.tool_names(), "probe"]


def _write(folder: Path, files: dict) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder / "main.js"


def test_bundle_refuses_cycles_missing_exports_and_unsupported_syntax(tmp_path):
    cases = {
        "cycle": ({"a.js": 'import { b } from "./b.js";\nexport const a = 1;\n',
                   "b.js": 'import { a } from "./a.js";\nexport const b = 2;\n',
                   "main.js": 'import { a } from "./a.js";\nexport default { a };\n'}, "import cycle"),
        "missing": ({"a.js": "export const a = 1;\n", "main.js": 'import { nope } from "./a.js";\nexport default {};\n'},
                    "does not export"),
        "let": ({"a.js": "export let a = 1;\n", "main.js": 'import { a } from "./a.js";\nexport default {};\n'}, "export let"),
        "bare": ({"main.js": 'import x from "lodash";\nexport default {};\n'}, "can be joined"),
        "default": ({"a.js": "export default 1;\n", "main.js": 'import "./a.js";\nexport default {};\n'}, "entry module"),
        "absent": ({"main.js": 'import { a } from "./gone.js";\nexport default {};\n'}, "does not exist"),
    }
    for name, (files, words) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        with pytest.raises(ModuleBundleError, match=words):
            bundle(_write(folder, files))
    assert issubclass(ModuleBundleError, RadnbError)


def test_bundle_keeps_private_names_private(tmp_path):
    main = _write(tmp_path, {
        "a.js": "const hidden = 1;\nexport const one = hidden;\n",
        "b.js": 'import { one } from "./a.js";\nconst hidden = 2;\nexport function three() { return one + hidden; }\n',
        "main.js": 'import { three } from "./b.js";\nimport { one as uno } from "./a.js";\nexport default { value: three() + uno };\n',
    })
    js = bundle(main)
    assert js.count("const hidden") == 2 and "const { one: uno } = __radnb_module_0;" in js
    if NODE:
        out = subprocess.run([NODE, "--input-type=module", "-e", js + "\nconsole.log(three() + uno);"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.strip() == "4", out.stderr


def test_python_tool_registry_dispatches_measurements(monkeypatch):
    monkeypatch.setattr(tools, "_TOOLS", dict(tools._TOOLS))
    probe = tools.register_tool(tools.Tool("probe", "Probe", measure=lambda plane, m, sp, units: float(plane.sum()) * sp[0]))
    assert tools.tool_names()[-1] == "probe" and tools.get_tool("probe") is probe
    m = {"kind": "probe", "view": "axial", "index": 0, "p0": [0, 0], "p1": [1, 1]}
    assert tools.measure_one(np.ones((2, 3)), m, (0.5, 0.5)) == 3.0
    roi = tools.measure_one(np.full((10, 10), 7.0), {**m, "kind": "rectangle", "p1": [4, 4]}, (1.0, 1.0), "HU")
    assert (roi.mean, roi.n_pixels, roi.units) == (7.0, 16, "HU")
    with pytest.raises(InvalidArgumentError, match="draws no measurements"):
        tools.measure_one(np.ones((2, 2)), {**m, "kind": "pan"}, (1.0, 1.0))
    with pytest.raises(InvalidArgumentError, match="no viewer tool 'angle'"):
        tools.get_tool("angle")


def test_static_alias_warns_with_the_new_name():
    import importlib

    static = importlib.import_module("radnb.viewers.static")
    png = importlib.import_module("radnb.viewers.png")
    with pytest.warns(DeprecationWarning, match="radnb.viewers.png.render_viewer_png_fast"):
        assert static.render_viewer_png_fast is png.render_viewer_png_fast
    with pytest.raises(AttributeError):
        static.no_such_name
