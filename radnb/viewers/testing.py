"""Drive the viewers in a real JupyterLab / Notebook 7 with headless Chromium (tests and benchmarks).

Used by ``tests/test_viewers_browser.py`` and ``benchmarks/viewer.py``. It starts
the current environment's ``jupyter`` on 127.0.0.1 (free port, random token, a
temporary root folder and settings), and Debian's ``chromium`` through the
``playwright`` package (never ``playwright install``).

Examples
--------
>>> from radnb.viewers.testing import chromium_path
>>> chromium_path() is None or chromium_path().endswith("chromium")
True
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


#: JupyterLab settings radnb installs (pyproject shared-data -> share/jupyter/lab/settings/overrides.d);
#: the test servers apply the same file, so the tests check what users get.
SHIPPED_LAB_OVERRIDES = Path(__file__).resolve().parents[2] / "jupyter-config" / "lab" / "settings" / "overrides.d" / "radnb.json"


def _shipped_settings() -> dict:
    """The shipped overrides as user-settings files ({"pkg/plugin.jupyterlab-settings": {...}})."""
    if not SHIPPED_LAB_OVERRIDES.exists():
        return {}
    out = {}
    for plugin_id, values in json.loads(SHIPPED_LAB_OVERRIDES.read_text()).items():
        package, plugin = plugin_id.split(":")
        out[f"{package}/{plugin}.jupyterlab-settings"] = values
    return out


def chromium_path() -> Optional[str]:
    """Path of the system Chromium, or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, cells: List[str]) -> Path:
    """Write a notebook of code cells (no outputs) with the python3 kernel."""
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": f"c{k}", "metadata": {}, "outputs": [],
             "source": src}
            for k, src in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


class JupyterServer:
    """A JupyterLab (``app="lab"``) or Notebook 7 (``app="notebook"``) server in a subprocess."""

    def __init__(self, root_dir: Path, app: str = "lab"):
        self.root_dir = Path(root_dir)
        self.app = app
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = self.root_dir.parent / f"jupyter-{app}-{self.port}.log"

    def start(self, timeout: float = 60.0) -> "JupyterServer":
        settings = self.root_dir.parent / f"lab-settings-{self.port}"
        for name, value in {**_shipped_settings(), **_SETTINGS}.items():
            target = settings / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(value))
        env = dict(os.environ)
        env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
        env["JUPYTERLAB_WORKSPACES_DIR"] = str(settings / "workspaces")
        env["JUPYTER_RUNTIME_DIR"] = str(self.root_dir.parent / "runtime")
        env["IPYTHONDIR"] = str(self.root_dir.parent / "ipython")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")]))
        jupyter = Path(sys.executable).with_name("jupyter")
        cmd = [
            str(jupyter) if jupyter.exists() else "jupyter", self.app, "--no-browser",
            f"--ServerApp.port={self.port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
            cmd.append("--allow-root")
        self._log = open(self.log_path, "w")
        self.proc = start_server(cmd, env, f"{self.url}/api/status?token={self.token}", self._log, self.log_path,
                                 f"jupyter {self.app}", timeout)
        return self

    def notebook_url(self, name: str) -> str:
        if self.app == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?token={self.token}"

    def stop(self) -> None:
        stop_server(self.proc, getattr(self, "_log", None))


def start_server(cmd: List[str], env: Dict[str, str], status_url: str, log: Any, log_path: Path, name: str,
                 timeout: float = 60.0) -> subprocess.Popen:
    """Start a server subprocess (output to ``log``) and wait until ``status_url`` answers 200.

    Raises RuntimeError with the end of the server's log if it exits or does not answer within ``timeout`` s.
    """
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {Path(log_path).read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(status_url, timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop_server(proc, None)
    raise RuntimeError(f"{name} did not start in {timeout} s: {Path(log_path).read_text()[-2000:]}")


def stop_server(proc: Optional[subprocess.Popen], log: Any = None) -> None:
    """Terminate a server started by :func:`start_server` (kill after 10 s) and close its log."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if log is not None:
        log.close()


@contextmanager
def browser(headless: bool = True) -> Iterator["object"]:
    """A Playwright Chromium browser using the system ``chromium``."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium is not installed (Debian package 'chromium').")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=headless, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class NotebookPage:
    """Helpers to run cells of an open notebook and read their outputs."""

    def __init__(self, page, app: str = "lab"):
        self.page = page
        self.app = app

    def wait_ready(self, timeout: float = 60_000) -> None:
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout)
        # kernel started and idle
        self.page.wait_for_function(
            "() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator, .jp-NotebookPanel-toolbar');"
            " return !!s; }",
            timeout=timeout,
        )

    def cell(self, k: int):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(k)

    def run_cell(self, k: int, wait_text: Optional[str] = None, timeout: float = 60_000) -> None:
        """Run cell ``k`` (retrying the key press until the kernel takes it), optionally wait for output text."""
        cell = self.cell(k)
        before = cell.locator(".jp-InputPrompt").inner_text()
        for _attempt in range(int(timeout / 5000) + 1):
            cell.locator(".jp-InputArea-editor").click()
            self.page.keyboard.press("Escape")  # command mode on this cell
            self.page.keyboard.press("Control+Enter")
            try:
                self.page.wait_for_function(
                    "([k, before]) => { const c = document.querySelectorAll('.jp-Notebook .jp-Cell')[k];"
                    " return !!c && c.querySelector('.jp-InputPrompt').innerText !== before; }",
                    arg=[k, before],
                    timeout=5000,
                )
                break
            except Exception:
                continue
        if wait_text:
            cell.locator(".jp-OutputArea-output", has_text=wait_text).first.wait_for(timeout=timeout)

    def output_text(self, k: int) -> str:
        return self.cell(k).locator(".jp-OutputArea").inner_text()

    def run_and_read(self, k: int, marker: str, timeout: float = 60_000) -> str:
        """Run cell ``k`` and return the text after ``marker`` in its output (the cell prints it)."""
        self.run_cell(k, timeout=timeout)
        self.page.wait_for_function(
            "([k, marker]) => { const c = document.querySelectorAll('.jp-Notebook .jp-Cell')[k];"
            " if (!c) return false; const p = c.querySelector('.jp-InputPrompt').innerText;"
            " return !p.includes('*') && c.querySelector('.jp-OutputArea').innerText.includes(marker); }",
            arg=[k, marker],
            timeout=timeout,
        )
        text = self.output_text(k)
        for line in text.splitlines():
            if line.startswith(marker):
                return line[len(marker):].strip()
        raise AssertionError(f"cell {k} printed no line starting with {marker!r}: {text[:1000]}")
