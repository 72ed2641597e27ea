"""Build (once) the Colab-like virtual environment the browser test runs Notebook 6.5 in.

``ensure_venv()`` returns ``.venvs/colab/bin/python``: Colab's published widget and
notebook versions (``colab-constraints.txt``) plus what radnb's viewers and grading import
(``colab-browser-stack.txt``), on Python 3.13 when one is found (Colab's), else on the
running Python. Wheels are cached in ``.whl/`` so a second build needs no network; a stamp
file records the requirement files' hash, so editing them rebuilds the environment.
"""
from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venvs" / "colab"
WHEELS = ROOT / ".whl"
CONSTRAINTS = ROOT / "platforms" / "colab-constraints.txt"
STACK = ROOT / "platforms" / "colab-browser-stack.txt"


class StackUnavailable(RuntimeError):
    """The Colab-like environment could not be built (the message says why)."""


def find_python(version: str = "3.13") -> str:
    """An interpreter of ``version`` (PATH, then pyenv), else the running one."""
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python")))[::-1]
    candidates.append(shutil.which(f"python{version}") or "")
    for candidate in filter(None, candidates):
        works = subprocess.run([candidate, "-c", "import sys, venv; print(sys.version_info[:2])"],
                               capture_output=True, text=True)  # pyenv shims exist but may refuse
        if works.returncode == 0 and works.stdout.strip() == str(tuple(int(x) for x in version.split("."))):
            return candidate
    return sys.executable


def _digest() -> str:
    return hashlib.sha256(CONSTRAINTS.read_bytes() + STACK.read_bytes()).hexdigest()[:16]


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True)


def ensure_venv(venv: Path = VENV) -> Path:
    """Create or refresh the environment; return its Python."""
    python = venv / "bin" / "python"
    stamp = venv / ".radnb-colab-stack"
    if python.exists() and stamp.exists() and stamp.read_text() == _digest():
        return python
    if venv.exists():
        shutil.rmtree(venv)
    base = find_python()
    made = subprocess.run([base, "-m", "venv", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        raise StackUnavailable(f"could not create {venv} with {base}: {made.stderr[-1000:]}")
    reqs = ["-c", str(CONSTRAINTS), "-r", str(STACK)]
    WHEELS.mkdir(exist_ok=True)
    done = _pip(python, "install", "-q", "--no-index", "--find-links", str(WHEELS), *reqs)
    if done.returncode != 0:  # not all cached yet: download into the cache, then install from it
        got = _pip(python, "download", "-q", "-d", str(WHEELS), *reqs)
        if got.returncode != 0:
            raise StackUnavailable(f"could not download Colab's stack: {got.stderr[-2000:]}")
        done = _pip(python, "install", "-q", "--no-index", "--find-links", str(WHEELS), *reqs)
    if done.returncode != 0:
        raise StackUnavailable(f"could not install Colab's stack into {venv}: {done.stderr[-2000:]}")
    stamp.write_text(_digest())
    return python


if __name__ == "__main__":
    print(ensure_venv())
