"""Helpers for notebook authors: radnb's standard cells with the right metadata.

Writing nbgrader metadata by hand is error-prone; these functions return
``nbformat`` cells that follow ``docs/CURRICULUM.md`` (and pass
:func:`radnb.grading.notebooks.validate_nbgrader`). Build a notebook in a short
script, or copy the cells' JSON from an existing notebook.

Examples
--------
>>> import nbformat
>>> from radnb.grading import authoring as A
>>> nb = A.new_notebook([
...     A.markdown("# Title"),
...     A.install_cell(),
...     A.code("import radnb\\nfrom radnb import grading"),
...     A.solution_cell("def to_hu(stored, slope, intercept):\\n    ### BEGIN SOLUTION\\n"
...                     "    return stored * slope + intercept\\n    ### END SOLUTION", "hu_conversion"),
...     A.check_cell("hu_conversion", "to_hu"),
...     A.score_cell("01"),
... ])
>>> from radnb.grading.notebooks import validate_nbgrader
>>> validate_nbgrader(nb)
[]
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

import nbformat

from . import launch, registry

SOLUTION_SUFFIX = "_answer"


def _nbgrader(grade: bool, solution: bool, locked: bool, grade_id: str, points: Optional[float] = None) -> dict:
    meta = {"schema_version": 3, "grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id}
    if grade:
        meta["points"] = points if points is not None else 0
    return meta


def markdown(text: str) -> nbformat.NotebookNode:
    """A plain markdown cell."""
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(source: str, tags: Sequence[str] = ()) -> nbformat.NotebookNode:
    """A plain code cell (optionally tagged)."""
    cell = nbformat.v4.new_code_cell(source.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def install_cell() -> nbformat.NotebookNode:
    """The first code cell: installs radnb on Colab only (tag ``radnb-install``)."""
    return code(launch.install_cell_source(), tags=[launch.INSTALL_TAG])


def parameters_cell(source: str) -> nbformat.NotebookNode:
    """The papermill ``parameters`` cell (``FAST``, ``EPOCHS``, ``IMAGE_SIZE``...)."""
    return code(source, tags=[launch.PARAMETERS_TAG])


def solution_cell(source: str, check_id: str) -> nbformat.NotebookNode:
    """The cell the student completes: ``### BEGIN/END SOLUTION`` inside a function body.

    Its grade id is ``<check_id>_answer`` (nbgrader needs one; the check cell uses ``check_id``).
    """
    cell = code(source)
    cell.metadata["nbgrader"] = _nbgrader(False, True, False, check_id + SOLUTION_SUFFIX)
    return cell


def check_cell(check_id: str, *inputs: str, points: Optional[float] = None) -> nbformat.NotebookNode:
    """The locked, graded cell that runs the registered check (or quiz) ``check_id``.

    ``points`` defaults to the registered check's points; ``inputs`` to its registered input names.
    """
    item = registry.get(check_id)
    names = ", ".join(inputs or item.inputs)
    func = "quiz" if isinstance(item, registry.Quiz) else "check"
    cell = code(f'grading.{func}("{check_id}", {names})')
    cell.metadata["nbgrader"] = _nbgrader(True, False, True, check_id, item.points if points is None else points)
    return cell


def score_cell(notebook: str) -> nbformat.NotebookNode:
    """The last cell: the score table of this notebook (locked, tag ``radnb-score``)."""
    key = registry.notebook_key(notebook)
    cell = code(f'grading.score("{key}")', tags=[launch.SCORE_TAG])
    cell.metadata["nbgrader"] = _nbgrader(False, False, True, "score")
    return cell


def new_notebook(cells: Iterable[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    """A notebook with the Python 3 kernelspec and the given cells."""
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def badges(notebook: str) -> str:
    """The Binder/Colab badge line for a notebook's title cell."""
    return launch.badges_markdown(notebook)


__all__: List[str] = [
    "markdown", "code", "install_cell", "parameters_cell", "solution_cell", "check_cell", "score_cell",
    "new_notebook", "badges",
]
