"""The command line, and `make lab` bringing up JupyterLab on the curriculum."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from radnb.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("doctor", "data", "course", "notebooks"):
        assert command in out


def test_doctor_reports_what_a_helper_needs(capsys, tmp_data_dir):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for key in ("python", "torch", "fastai", "pydicom", "ipywidgets", "device", "data dir", "jupyterlab widgets"):
        assert key in out
    import re

    from radnb.serverext import labextension_status

    assert re.search(r"jupyterlab extension\s*: " + re.escape(labextension_status()), out)
    assert str(tmp_data_dir) in out and "writable" in out
    assert "cpu" in out or "cuda" in out


def test_doctor_flags_an_unwritable_data_dir(capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("RADNB_DATA", str(blocker / "sub"))
    main(["doctor"])
    assert "NOT writable" in capsys.readouterr().out


def test_console_script_installed():
    exe = Path(sys.executable).parent / "radnb"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "radnb" in out.stdout


def test_radnb_errors_become_a_message_not_a_traceback(capsys, tmp_data_dir):
    code = main(["data", "prepare", "--only", "no_such_set"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("radnb: ") and "Traceback" not in err


def test_parser_wires_subcommands():
    parser = build_parser()
    assert parser.parse_args(["course", "grade", "subs"]).timeout == 600
    assert parser.parse_args(["data", "get", "pneumoniamnist"]).name == "pneumoniamnist"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_serves_the_notebooks(tmp_path):
    venv = ROOT / ".venv"
    if Path(sys.prefix).resolve() != venv.resolve():
        pytest.skip("make lab is tested from the project's own .venv")
    port, token = _free_port(), "radnb-test-token"
    env = dict(os.environ, RADNB_DATA=os.environ.get("RADNB_DATA", str(tmp_path / "data")))
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --IdentityProvider.token={token}"
    proc = subprocess.Popen(["make", "lab", f"LAB_ARGS={args}"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        listing = None
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=5) as r:
                    listing = json.load(r)
                    break
            except OSError:
                time.sleep(1)
        assert listing is not None, "JupyterLab did not come up: " + (proc.stdout.read() if proc.poll() is not None else "")
        names = {item["name"] for item in listing["content"]}
        expected = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
        assert expected and expected <= names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as r:
            assert r.status == 200 and b"JupyterLab" in r.read()
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            continue
