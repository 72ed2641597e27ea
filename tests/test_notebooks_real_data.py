"""The optional real-data sections of notebooks 02 and 03, run against a local HTTP server.

A classroom with a network downloads PneumoniaMNIST from Zenodo. Here a real HTTP server on 127.0.0.1
serves a small fixture cut from the real dataset instead (``tests/fixtures/pneumoniamnist_small.npz``:
48 / 16 / 16 real 28 x 28 paediatric chest radiographs in MedMNIST's own file layout; MedMNIST v2,
CC BY 4.0, see ``tests/fixtures/README.md``), and the kernel's registry entry is pointed at it, pinned to
the fixture's sha256, with the public :func:`radnb.datasets.register` (what a course hosting its own copy
does). Then the notebook's own cells run unchanged in a fresh kernel: its imports, its parameters cell with
``USE_REAL_DATA = True``, and every cell of its real-data section. The check cells appended after them assert
that the download happened, that the split column was honoured (no test image trained on) and that the test
split was scored.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
import pytest

from radnb.grading.execute import run_notebook
from test_fetch import server  # noqa: F401 - the shared local HTTP server fixture

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "pneumoniamnist_small.npz"
SECTIONS = {
    "02_classification": "## Optional · A real public dataset",
    "03_transfer_learning": "## Optional · Real radiographs",
}

pytestmark = pytest.mark.slow


def _section(nb, heading: str) -> list:
    """The cells from ``heading`` up to the next level-2 heading."""
    start = next(i for i, c in enumerate(nb.cells) if c.source.startswith(heading))
    end = next((i for i in range(start + 1, len(nb.cells))
                if nb.cells[i].cell_type == "markdown" and nb.cells[i].source.startswith("## ")), len(nb.cells))
    return nb.cells[start:end]


def _setup_cells(nb) -> list:
    """The notebook's imports cell and its parameters cell, with the real-data switch on."""
    imports = next(c for c in nb.cells if c.cell_type == "code" and "import radnb" in c.source
                   and "google.colab" not in c.source)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert "USE_REAL_DATA = False" in params.source, "the real-data switch is off by default"
    switched = nbformat.v4.new_code_cell(params.source.replace("USE_REAL_DATA = False", "USE_REAL_DATA = True"))
    return [imports, switched]


def _point_registry_at(url: str, digest: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(
        "from dataclasses import replace\n"
        "from radnb.data import datasets as _registry\n"
        "_registry.register(replace(_registry.REGISTRY['pneumoniamnist'], url=%r, sha256=%r, md5=None,\n"
        "                           head_md5=None, size_bytes=None))" % (url, digest))


CHECKS = {
    "02_classification": """
assert pneumonia is not None, "the download from the local server failed"
info = dls_real.radnb
assert info.split_source != "patient", info.split_source
assert info.table.split.value_counts().to_dict() == {"train": 48, "valid": 16, "test": 16}
train_names = {str(getattr(r.item, "name", r.item)) for r in info.train_records}
test_names = {str(getattr(r.item, "name", r.item)) for r in info.test_records}
assert len(test_names) == 16 and not train_names & test_names
assert all("[" in n and "/train[" in n for n in train_names), sorted(train_names)[:3]
report = radnb.evaluate(learn_real, "test")
assert len(report.table) == 16 and 0.0 <= report.auc <= 1.0
print("REAL-DATA-02-OK")
""",
    "03_transfer_learning": """
assert pneumonia is not None, "the download from the local server failed"
assert real_results is not None and list(real_results.index) == list(real_starts), real_results
assert real_results["test AUROC"].between(0, 1).all(), real_results
assert real_dls.radnb.table.split.value_counts().to_dict() == {"train": 48, "valid": 16, "test": 16}
assert len(real_dls.train_ds) == 48 and len(real_dls.valid_ds) == 16 and len(real_dls.radnb.test_records) == 16
print("REAL-DATA-03-OK")
""",
}


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_real_data_section_runs_against_a_local_server(name, server, tmp_path):  # noqa: F811
    nb = nbformat.read(str(ROOT / "instructor" / "notebooks" / f"{name}.ipynb"), as_version=4)
    blob = FIXTURE.read_bytes()
    url = server.add("pneumoniamnist.npz", blob)
    cells = _setup_cells(nb) + [_point_registry_at(url, hashlib.sha256(blob).hexdigest())]
    cells += [c for c in _section(nb, SECTIONS[name]) if c.cell_type == "code"]
    cells.append(nbformat.v4.new_code_cell(CHECKS[name]))
    env = {"RADNB_DATA": str(tmp_path / "data"), "RADNB_DEVICE": "cpu", "RADNB_GRADING_RESULTS": str(tmp_path / "r")}
    report = run_notebook(nbformat.v4.new_notebook(cells=cells), timeout=300, env=env, cwd=tmp_path)
    assert report.ok, "\n".join(f"{e}: {e.ename}: {e.evalue}" for e in report.errors)
    assert len(server.gets("pneumoniamnist.npz")) >= 1
    text = "".join(o.get("text", "") for c in report.notebook.cells for o in c.get("outputs", []))
    assert f"REAL-DATA-{name[:2]}-OK" in text
