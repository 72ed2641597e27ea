"""The public API is small, documented, and importing radnb has no side effects."""
from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
import subprocess
import sys

import pytest

import radnb

# modules whose docstring examples run as tests (no network or GPU; widgets are built, not displayed)
DOCTEST_MODULES = [
    "radnb.errors", "radnb.config", "radnb.system", "radnb.cli",
    "radnb.dicom", "radnb.dicom.read", "radnb.dicom.series", "radnb.dicom.window", "radnb.dicom.deid",
    "radnb.dicom.image", "radnb.dicom.masks", "radnb.dicom.seg", "radnb.train.export",
    "radnb.data.synthetic", "radnb.data.fetch", "radnb.data.datasets", "radnb.datasets", "radnb.data.weights", "radnb.data.patches",
    "radnb.train", "radnb.train.blocks", "radnb.train.cache", "radnb.train.data", "radnb.train.evaluate",
    "radnb.train.inference", "radnb.train.interpret", "radnb.train.learners", "radnb.train.metrics",
    "radnb.train.fastai_metrics",
    "radnb.train.prep", "radnb.train.record", "radnb.train.transfer",
    "radnb.viewers.display", "radnb.viewers.volume", "radnb.viewers.gallery", "radnb.viewers.header",
    "radnb.viewers.measure", "radnb.viewers.static", "radnb.viewers.viewer", "radnb.viewers.png",
    "radnb.viewers.assets", "radnb.viewers.tools", "radnb.grading.results", "radnb.viewers.render3d",
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


RADNB_DIR = Path(radnb.__file__).parent
SOURCES = sorted(p for p in RADNB_DIR.rglob("*.py") if "labextension" not in p.parts)


def _module_globals(body):
    """(name, line) of every name a module's top level binds (defs, classes, imports, assignments)."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name, node.lineno
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                yield (alias.asname or alias.name).split(".")[0], node.lineno
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For)):
            targets = [node.target]
        elif isinstance(node, ast.With):
            targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
        for target in targets:
            yield from ((n.id, node.lineno) for n in ast.walk(target) if isinstance(n, ast.Name))
        for field in ("body", "orelse", "finalbody", "handlers"):  # if / try / with blocks at module level
            if isinstance(getattr(node, field, None), list):
                yield from _module_globals(getattr(node, field))


# read in a fresh interpreter: IPython (imported by other tests) adds `display` and friends to builtins, doctests `_`
_PLAIN_BUILTINS = set(subprocess.run([sys.executable, "-I", "-c", "import builtins; print(*dir(builtins))"],
                                     capture_output=True, text=True, check=True).stdout.split()) - {"_"}


def _shadowed_builtins(source: str):
    names = _PLAIN_BUILTINS
    return [(name, line) for name, line in _module_globals(ast.parse(source).body) if name in names]


def test_no_module_defines_a_global_named_like_a_builtin():
    assert _shadowed_builtins("import os\ndef list():\n    pass\nif True:\n    id = 1\n") == [("list", 2), ("id", 5)]
    found = {str(p.relative_to(RADNB_DIR)): _shadowed_builtins(p.read_text()) for p in SOURCES}
    assert {k: v for k, v in found.items() if v} == {}


def test_every_exception_and_warning_class_lives_in_radnb_errors():
    import radnb.errors

    elsewhere, checked = [], 0
    for info in pkgutil.walk_packages(radnb.__path__, "radnb."):
        module = importlib.import_module(info.name)  # radnb[dev] installs every optional dependency
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, (BaseException, Warning)) and obj.__module__.startswith("radnb"):
                checked += 1
                if obj.__module__ != "radnb.errors":
                    elsewhere.append(f"{info.name}.{name} (defined in {obj.__module__})")
    assert elsewhere == []
    assert checked > 30  # the re-exports were seen, so the walk reached the modules that raise them
    ours = [c for c in vars(radnb.errors).values() if inspect.isclass(c) and c.__module__ == "radnb.errors"]
    for cls in ours:
        assert issubclass(cls, (radnb.errors.RadnbError, radnb.errors.RadnbWarning, radnb.errors.CheckTimeout)), cls
    assert issubclass(radnb.errors.InvalidArgumentError, ValueError)
    from radnb.data.fetch import DownloadError

    assert DownloadError is radnb.errors.DownloadError


def test_importing_radnb_errors_stays_light():
    code = "import sys, radnb.errors\nprint(sorted({'numpy', 'torch', 'pandas', 'pydicom'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


_EMPTY_WANT = re.compile(r"<(function|class|bound method|module|built-in function) [^>]*>")


def test_docstring_examples_assert_something():
    parser = doctest.DocTestParser()
    weak = []
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        for node in [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]:
            doc = ast.get_docstring(node) or ""
            for example in parser.get_examples(doc):
                source = example.source.strip()
                if _EMPTY_WANT.fullmatch(example.want.strip()) or re.match(r"callable\([^)]*\)( and callable\([^)]*\))*$", source):
                    weak.append(f"{path.relative_to(RADNB_DIR)}:{getattr(node, 'name', '<module>')}: {source}")
    assert weak == []
