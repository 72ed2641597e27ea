"""Run radnb's fast tests on other Pythons (3.10, the oldest allowed; 3.13, Colab's).

For each version: a venv ``.venvs/pyXY`` (made once, pyenv or PATH interpreter) with radnb's
core + dev requirements from ``pyproject.toml`` (pip's cache reuses wheels) and radnb's own wheel, then
``pytest -m "not slow and not browser"`` with this checkout on ``PYTHONPATH``. Prints a
table; exits 1 if a version fails. ``make test-pythons`` runs it for 3.10 and 3.13.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platforms"))
from colab_stack import find_python  # noqa: E402
from resolve_check import core_requirements  # noqa: E402


def ensure(version: str) -> Path:
    venv = ROOT / ".venvs" / f"py{version.replace('.', '')}"
    python = venv / "bin" / "python"
    base = find_python(version)
    if base == sys.executable and not sys.version.startswith(version + "."):
        raise SystemExit(f"no Python {version} found (pyenv install {version}, or put python{version} on PATH)")
    if not python.exists():
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    # a venv starts with the pip its Python bundled (23.0 on 3.10); resolve_check's Colab resolution needs a
    # current resolver (with 23.0 it ran past its 10-minute limit), as the Makefile's .venv gets
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *core_requirements(extras=["dev"])], check=True)
    # radnb itself too (built as a wheel, no dependencies): its console script and metadata, as a user gets them;
    # the tests still import this checkout (PYTHONPATH), so nothing has to be reinstalled after an edit
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)], check=True)
    return python


def main(versions) -> int:
    rows, failed = [], False
    for version in versions:
        python = ensure(version)
        start = time.perf_counter()
        proc = subprocess.run([str(python), "-m", "pytest", "-q", "-m", "not slow and not browser", "-p", "no:cacheprovider",
                               "tests"], cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
                              capture_output=True, text=True)
        summary = [line for line in proc.stdout.splitlines() if " passed" in line or " failed" in line or "error" in line]
        rows.append((version, f"{time.perf_counter() - start:.0f} s", summary[-1] if summary else proc.stdout[-300:]))
        failed |= proc.returncode != 0
        if proc.returncode != 0:
            print(proc.stdout[-6000:])
    print(f"{'python':<8} {'time':>7}  result")
    for row in rows:
        print(f"{row[0]:<8} {row[1]:>7}  {row[2]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["3.10", "3.13"]))
