"""The public API is small, documented, and importing radnb has no side effects."""
from __future__ import annotations

import doctest
import importlib
import inspect
import subprocess
import sys

import pytest

import radnb

# modules whose docstring examples run as tests (no network or GPU; widgets are built, not displayed)
DOCTEST_MODULES = [
    "radnb.errors", "radnb.config", "radnb.system", "radnb.cli",
    "radnb.dicom", "radnb.dicom.read", "radnb.dicom.series", "radnb.dicom.window", "radnb.dicom.deid",
    "radnb.dicom.image", "radnb.dicom.masks", "radnb.dicom.seg", "radnb.train.export",
    "radnb.data.synthetic", "radnb.data.fetch", "radnb.data.datasets", "radnb.data.weights", "radnb.data.patches",
    "radnb.train", "radnb.train.blocks", "radnb.train.cache", "radnb.train.data", "radnb.train.evaluate",
    "radnb.train.inference", "radnb.train.interpret", "radnb.train.learners", "radnb.train.metrics",
    "radnb.train.prep", "radnb.train.record", "radnb.train.transfer",
    "radnb.viewers.display", "radnb.viewers.volume", "radnb.viewers.gallery", "radnb.viewers.header",
    "radnb.viewers.measure", "radnb.viewers.static", "radnb.viewers.viewer",
]


@pytest.mark.parametrize("module", DOCTEST_MODULES)
def test_docstring_examples_run(module, tmp_data_dir):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0


FUNCTIONS = [name for name in radnb.__all__ if not name[0].isupper() and name not in ("datasets", "PRESETS")]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_public_functions_have_documented_examples(name):
    obj = getattr(radnb, name)
    doc = inspect.getdoc(obj) or ""
    assert "Examples" in doc or ">>>" in doc, f"radnb.{name} needs a docstring with a short example"
    assert "Parameters" in doc or len(inspect.signature(obj).parameters) == 0 or name == "device_info" or "Returns" in doc


def test_every_lazy_name_resolves():
    for name in radnb.__all__:
        assert getattr(radnb, name) is not None


def test_errors_share_one_base():
    for name in radnb.__all__:
        obj = getattr(radnb, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert issubclass(obj, radnb.RadnbError)


def test_import_does_not_patch_pydicom():
    code = (
        "import pydicom, radnb\n"
        "before = set(dir(pydicom.Dataset))\n"
        "radnb.load, radnb.window, radnb.show\n"
        "import radnb.train\n"
        "print(sorted(set(dir(pydicom.Dataset)) - before))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # fastai.medical would add e.g. 'windowed', 'hist_scaled'
