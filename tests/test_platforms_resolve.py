"""radnb's dependency layout against Colab's published stack, checked by pip's resolver.

Nothing is installed: ``pip install --dry-run --report`` resolves for Python 3.13
(Colab's) from wheel metadata on the package index (about 40 s, less with pip's cache).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platforms"))
import resolve_check  # noqa: E402

pytestmark = pytest.mark.timeout(900)


def _names(reqs):
    return {resolve_check.canonical(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) for r in reqs}


def test_core_dependencies_bring_no_front_end_and_lab_extra_does():
    core = _names(resolve_check.core_requirements())
    assert not core & set(resolve_check.FORBIDDEN_IN_CORE), core & set(resolve_check.FORBIDDEN_IN_CORE)
    assert {"anywidget", "ipywidgets", "ipykernel", "pydicom", "torch", "fastai"} <= core
    lab = _names(resolve_check.core_requirements(extras=["lab"]))
    assert {"jupyterlab", "notebook"} <= lab
    dev = _names(resolve_check.core_requirements(extras=["dev"]))
    assert {"jupyterlab", "playwright", "pytest"} <= dev  # dev includes lab


def test_installing_radnb_on_colab_moves_none_of_its_packages(capsys):
    pins = resolve_check.read_pins(resolve_check.COLAB_CONSTRAINTS)
    assert pins["ipywidgets"] == "7.7.1" and pins["torch"] == "2.11.0"
    result = resolve_check.resolve(resolve_check.core_requirements())
    assert result.ok, "\n".join(result.problems)
    for name in resolve_check.PROTECTED:
        assert result.installs[name] == pins[name]
    assert "pydicom" in result.added and "jupyterlab" not in result.installs
    with capsys.disabled():
        print(f"\n[colab resolver] {result.seconds:.1f} s; radnb adds {len(result.added)} distributions: "
              + ", ".join(f"{k} {v}" for k, v in sorted(result.added.items())))


def test_the_check_catches_the_old_requirements():
    """radnb's requirements before the split (ipywidgets>=8, jupyterlab>=4) must fail the check."""
    result = resolve_check.resolve(["ipywidgets>=8.0"])
    assert not result.ok and "ipywidgets" in result.problems[0]
    result = resolve_check.resolve(["jupyterlab>=4.0"])
    assert not result.ok and any("jupyterlab" in p for p in result.problems)
