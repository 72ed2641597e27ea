"""Binder for real: build binder/ as repo2docker does in a fresh venv, run every notebook in it.

Slow (a fresh environment with torch, then the whole curriculum): ``make binder-check`` runs
the same from the command line. The table (build time, wall time and peak memory per
notebook against Binder's 2 GB) is printed and written to ``<artifacts>/binder-check.json``.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platforms"))
import binder_check  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3 * 3600)]


def test_runtime_python_matches_runtime_txt():
    python = binder_check.runtime_python(ROOT / "binder")
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11" and python


def test_binder_build_runs_every_notebook_within_binders_memory(artifacts_dir, capsys):
    # RADNB_BINDER_NOTEBOOKS="00 01" limits the run (CI time); unset = every notebook
    only = os.environ.get("RADNB_BINDER_NOTEBOOKS", "").split() or None
    report = binder_check.check(notebooks=only)
    (artifacts_dir / "binder-check.json").write_text(json.dumps(asdict(report), indent=1))
    with capsys.disabled():
        print("\n" + report.table())
    assert not report.build_error, report.build_error
    names = [n.name for n in report.notebooks]
    expected = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert names == [n for n in expected if not only or any(n.startswith(o) for o in only)]
    assert report.ok, [f"{n.name}: {n.problem}" for n in report.notebooks if not n.ok]
