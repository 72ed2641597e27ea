"""The lab extension ships inside radnb's wheel: prebuilt assets, shared-data mapping, server config.

The wheel is built with pip (hatchling + hatch-jupyter-builder from the package index, as any
install does), installed into a temporary prefix, and Jupyter's own tools are asked about it.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import radnb
from radnb.serverext import NPM_NAME, development_environment

REPO = Path(__file__).resolve().parent.parent
BUILT = Path(radnb.__file__).parent / "labextension"
SOURCES = REPO / "labextension"

pytestmark = pytest.mark.timeout(300)


def _source_hash() -> str:
    """Python twin of the hash labextension/build.cjs writes after each build."""
    files = ["package.json", "tsconfig.json"]
    for folder in ("src", "style"):
        files += [f"{folder}/{name}" for name in sorted(os.listdir(SOURCES / folder))]
    digest = hashlib.sha256()
    for name in files:
        digest.update((name + "\n").encode())
        digest.update((SOURCES / name).read_bytes())
    return digest.hexdigest()


def test_committed_build_matches_the_typescript_sources():
    recorded = (BUILT / "source-hash.txt").read_text().strip()
    assert recorded == _source_hash(), (
        "radnb/labextension is older than labextension/ (TypeScript changed without a rebuild): "
        "run `make labextension` and commit radnb/labextension."
    )
    meta = json.loads((BUILT / "package.json").read_text())
    assert meta["name"] == NPM_NAME and "_build" in meta["jupyterlab"]
    assert (BUILT / "static" / meta["jupyterlab"]["_build"]["load"].split("/")[-1]).is_file()
    assert json.loads((BUILT / "install.json").read_text())["packageName"] == "radnb"


def test_development_environment_writes_the_shipped_server_config(tmp_path):
    env = development_environment(tmp_path)
    written = json.loads((Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.d" / "radnb.json").read_text())
    shipped = json.loads((REPO / "jupyter-config" / "jupyter_server_config.d" / "radnb.json").read_text())
    assert written == shipped == {"ServerApp": {"jpserver_extensions": {"radnb.serverext": True}}}


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, **kw)


def test_wheel_ships_the_extension_and_jupyter_lists_it(tmp_path):
    wheels = tmp_path / "wheels"
    res = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(REPO), "-w", str(wheels)])
    if res.returncode != 0 and any(w in res.stderr for w in ("Could not find a version", "NewConnectionError",
                                                             "No matching distribution")):
        pytest.skip(f"the package index is not reachable to fetch the build backend: {res.stderr[-300:]}")
    assert res.returncode == 0, res.stderr[-3000:]
    wheel = next(wheels.glob("radnb-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    data = next(n.split("/data/")[0] for n in names if ".data/data/" in n) + "/data/"
    share = f"{data}share/jupyter/labextensions/{NPM_NAME}/"
    assert f"{share}package.json" in names and f"{share}install.json" in names
    assert any(n.startswith(f"{share}static/remoteEntry.") for n in names)
    assert f"{data}etc/jupyter/jupyter_server_config.d/radnb.json" in names
    assert "radnb/serverext.py" in names and "radnb/viewers/static/viewer.js" in names
    # the viewer's ES modules, joined at run time by radnb.viewers.assets
    assert {f"radnb/viewers/static/viewer/{p.name}" for p in (REPO / "radnb/viewers/static/viewer").glob("*.js")} <= set(names)

    prefix = tmp_path / "prefix"
    res = _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", "--prefix", str(prefix), str(wheel)])
    assert res.returncode == 0, res.stderr[-3000:]
    env = dict(os.environ, JUPYTER_PATH=str(prefix / "share" / "jupyter"),
               JUPYTER_CONFIG_PATH=str(prefix / "etc" / "jupyter"), NO_COLOR="1")
    jupyter = Path(sys.executable).with_name("jupyter")
    res = _run([str(jupyter), "labextension", "list"], env=env)
    listing = (res.stdout + res.stderr).replace("\x1b[32m", "").replace("\x1b[0m", "")
    assert f"{NPM_NAME} v0.1.0 enabled OK (python, radnb)" in listing, listing
    # what `radnb doctor` says about that environment
    code = "from radnb.serverext import labextension_status as s; print(s())"
    res = _run([sys.executable, "-c", code], env=env)
    assert "lab extension 0.1.0 installed" in res.stdout and "server extension enabled" in res.stdout, res.stdout


def test_editable_install_from_a_clone_ships_the_committed_build(tmp_path):
    """`make lab` installs with `pip install -e .`: the committed build must reach share/jupyter without Node.

    SKIP_JUPYTER_BUILDER stands in for a machine without Node.js (editable installs otherwise try the npm
    build, which would rewrite radnb/labextension in this checkout).
    """
    prefix = tmp_path / "prefix"
    env = dict(os.environ, SKIP_JUPYTER_BUILDER="1")
    res = _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", "--prefix", str(prefix), "-e", str(REPO)],
               env=env)
    if res.returncode != 0 and "NewConnectionError" in res.stderr:
        pytest.skip("the package index is not reachable to fetch the build backend")
    assert res.returncode == 0, res.stderr[-3000:]
    share = prefix / "share" / "jupyter" / "labextensions" / NPM_NAME
    assert json.loads((share / "package.json").read_text())["name"] == NPM_NAME
    assert (share / "install.json").is_file() and list((share / "static").glob("remoteEntry.*.js"))
    config = prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "radnb.json"
    assert json.loads(config.read_text())["ServerApp"]["jpserver_extensions"]["radnb.serverext"] is True
