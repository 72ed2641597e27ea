"""Notebook files: nbgrader metadata, student versions, and cleaning.

* :func:`validate_nbgrader` checks cell metadata against nbgrader's schema
  version 3, so ``nbgrader generate_assignment`` accepts radnb's source notebooks.
* :func:`student_version` is what ``radnb course release`` writes: solution
  regions replaced by ``# YOUR CODE HERE`` / ``raise NotImplementedError()``,
  hidden tests removed, outputs cleared, graded and locked cells made read-only.
* :func:`clean_notebooks` (``radnb notebooks clean``) strips outputs, execution
  counts and editor metadata, including Colab's (which can hold a user's name).

Examples
--------
>>> import nbformat
>>> cell = nbformat.v4.new_code_cell("def f():\\n    ### BEGIN SOLUTION\\n    return 1\\n    ### END SOLUTION")
>>> cell.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": True, "locked": False,
...                              "grade_id": "f_answer"}
>>> nb = nbformat.v4.new_notebook(cells=[cell])
>>> validate_nbgrader(nb)
[]
>>> print(student_version(nb).cells[0].source)
def f():
    # YOUR CODE HERE
    raise NotImplementedError()
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import nbformat

from ..errors import NotebookError, RadnbError  # noqa: F401
from .registry import GRADE_ID_PATTERN

PathLike = Union[str, Path]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
MARKDOWN_STUB = "YOUR ANSWER HERE"
NBGRADER_KEYS = {"schema_version", "grade", "solution", "locked", "grade_id", "points", "task"}

#: Cell metadata keys that editors add and that do not belong in a committed notebook
#: (``metadata.id`` is Colab's; the cell's own ``id`` field is kept).
EDITOR_CELL_KEYS = ("collapsed", "scrolled", "execution", "colab", "colab_type", "outputId", "executionInfo", "id")
#: Notebook metadata keys that do (Colab's can hold the user's name and e-mail; widget state can be megabytes).
EDITOR_NOTEBOOK_KEYS = ("colab", "widgets", "accelerator", "gpuClass", "toc", "varInspector", "vscode", "papermill")


def read_notebook(path: PathLike) -> nbformat.NotebookNode:
    """Read a notebook (nbformat 4), raising :class:`NotebookError` with the reason if it is not one.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "broken.ipynb")
    >>> _ = open(p, "w").write("{not json")
    >>> try:
    ...     read_notebook(p)
    ... except NotebookError as e:
    ...     print("not a valid notebook" in str(e))
    True
    """
    path = Path(path)
    try:
        return nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise NotebookError("the file does not exist.", path) from None
    except Exception as exc:
        raise NotebookError(
            f"this is not a valid notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
            "Was it saved from Jupyter, and not renamed from another file type?",
            path,
        ) from None


def find_notebooks(paths: Union[PathLike, Iterable[PathLike]]) -> List[Path]:
    """Notebook files among ``paths`` (folders are searched recursively, checkpoints skipped), sorted."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: List[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        elif p.suffix == ".ipynb":
            if not p.exists():
                raise NotebookError("the file does not exist.", p)
            found.append(p)
        elif not p.exists():
            raise NotebookError("no such file or folder.", p)
    return sorted(set(found))


# --------------------------------------------------------------------------- nbgrader metadata


def nbgrader_meta(cell: Any) -> Optional[Dict[str, Any]]:
    """The cell's ``nbgrader`` metadata, or ``None``."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else None


def validate_nbgrader(nb: nbformat.NotebookNode) -> List[str]:
    """Problems with the notebook's nbgrader cell metadata (schema version 3); ``[]`` when valid.

    Rules: ``schema_version`` 3 and booleans ``grade``, ``solution``, ``locked`` are
    required; ``grade_id`` (``^[a-zA-Z0-9_\\-]*$``, unique) when any flag is set;
    ``points`` >= 0 for grade cells; ``task`` only on markdown cells; a markdown
    grade cell must also be a solution cell; no other keys. Solution and hidden-test
    markers must pair up and sit in the right kind of cell.
    """
    problems: List[str] = []
    seen: Dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        where = f"cell {index + 1}"
        meta = nbgrader_meta(cell)
        src = cell.get("source", "")
        has_solution_marker = BEGIN_SOLUTION in src or END_SOLUTION in src
        has_hidden_marker = BEGIN_HIDDEN in src or END_HIDDEN in src
        if meta is None:
            if "nbgrader" in cell.get("metadata", {}):
                problems.append(f"{where}: metadata 'nbgrader' must be a dictionary")
            if has_solution_marker:
                problems.append(f"{where}: has solution markers but is not a solution cell")
            if has_hidden_marker:
                problems.append(f"{where}: has hidden-test markers but is not a grade cell")
            continue
        extra = set(meta) - NBGRADER_KEYS
        if extra:
            problems.append(f"{where}: unknown nbgrader keys {sorted(extra)}")
        if meta.get("schema_version") != 3:
            problems.append(f"{where}: schema_version must be 3 (got {meta.get('schema_version')!r})")
        for flag in ("grade", "solution", "locked"):
            if not isinstance(meta.get(flag), bool):
                problems.append(f"{where}: '{flag}' is required and must be true or false")
        grade, solution, locked = bool(meta.get("grade")), bool(meta.get("solution")), bool(meta.get("locked"))
        task = bool(meta.get("task", False))
        if "task" in meta and not isinstance(meta["task"], bool):
            problems.append(f"{where}: 'task' must be true or false")
        if grade or solution or locked or task:
            gid = meta.get("grade_id")
            if not isinstance(gid, str) or not gid:
                problems.append(f"{where}: 'grade_id' is required when grade, solution, locked or task is set")
            elif not GRADE_ID_PATTERN.match(gid):
                problems.append(f"{where}: grade_id {gid!r} may only contain letters, digits, '_' and '-'")
            elif gid in seen:
                problems.append(f"{where}: grade_id {gid!r} is already used by cell {seen[gid] + 1}")
            else:
                seen[gid] = index
        if grade:
            pts = meta.get("points")
            if isinstance(pts, bool) or not isinstance(pts, (int, float)) or pts < 0:
                problems.append(f"{where}: grade cells need 'points', a number >= 0 (got {pts!r})")
        if task and cell.cell_type != "markdown":
            problems.append(f"{where}: 'task' is only allowed on markdown cells")
        if task and (grade or solution):
            problems.append(f"{where}: a task cell cannot also be a grade or solution cell")
        if cell.cell_type == "markdown" and grade and not solution:
            problems.append(f"{where}: a markdown grade cell must also be a solution cell")
        if has_solution_marker and not solution:
            problems.append(f"{where}: has solution markers but is not a solution cell")
        if has_hidden_marker and not grade:
            problems.append(f"{where}: has hidden-test markers but is not a grade cell")
        for begin, end, what in ((BEGIN_SOLUTION, END_SOLUTION, "solution"), (BEGIN_HIDDEN, END_HIDDEN, "hidden-test")):
            try:
                _replace_regions(src, begin, end, None)
            except ValueError as exc:
                problems.append(f"{where}: {what} markers: {exc}")
    return problems


@dataclass
class GradedCell:
    """A grade cell of a source notebook."""

    grade_id: str
    points: float
    index: int
    source: str


def graded_cells(nb: nbformat.NotebookNode) -> List[GradedCell]:
    """The notebook's grade cells (``grade: true``), in order.

    Examples
    --------
    >>> import nbformat
    >>> c = nbformat.v4.new_code_cell("grading.check('x', f)")
    >>> c.metadata["nbgrader"] = dict(schema_version=3, grade=True, solution=False, locked=True, grade_id="x", points=2)
    >>> graded_cells(nbformat.v4.new_notebook(cells=[c]))[0].points
    2.0
    """
    found = []
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if meta and meta.get("grade"):
            found.append(GradedCell(str(meta.get("grade_id")), float(meta.get("points", 0) or 0), index, cell.source))
    return found


# --------------------------------------------------------------------------- student versions


def _replace_regions(source: str, begin: str, end: str, stub: Optional[str]) -> str:
    """Replace each ``begin``..``end`` region (marker lines included) with ``stub``,
    indented like the ``begin`` line; ``stub=None`` removes the region."""
    lines = source.split("\n")
    out: List[str] = []
    inside = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(begin):
            if inside:
                raise ValueError(f"'{begin}' inside another region")
            inside = True
            if stub is not None:
                indent = line[: len(line) - len(line.lstrip())]
                out.extend(indent + s for s in stub.split("\n"))
            continue
        if stripped.startswith(end):
            if not inside:
                raise ValueError(f"'{end}' without '{begin}'")
            inside = False
            continue
        if not inside:
            out.append(line)
    if inside:
        raise ValueError(f"'{begin}' without '{end}'")
    return "\n".join(out)


def clear_outputs(nb: nbformat.NotebookNode) -> bool:
    """Remove outputs, execution counts and editor metadata in place; True if anything changed."""
    before = json.dumps(nb, sort_keys=True)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in EDITOR_CELL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        if "attachments" in cell and not cell["attachments"]:
            del cell["attachments"]
    for key in EDITOR_NOTEBOOK_KEYS:
        nb.metadata.pop(key, None)
    return json.dumps(nb, sort_keys=True) != before


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student copy of a source notebook (the input is not modified).

    Solution regions (or whole solution cells without markers) become the stub;
    hidden tests are removed; outputs are cleared; grade, solution and locked cells get
    ``deletable: false`` and grade and locked cells ``editable: false`` (as nbgrader does;
    honoured by JupyterLab and Notebook 7).
    Raises :class:`NotebookError` when the metadata is invalid.
    """
    problems = validate_nbgrader(nb)
    if problems:
        raise NotebookError("invalid nbgrader metadata: " + "; ".join(problems))
    out = copy.deepcopy(nb)
    for cell in out.cells:
        meta = nbgrader_meta(cell)
        if meta is None:
            continue
        if meta.get("solution"):
            stub = CODE_STUB if cell.cell_type == "code" else MARKDOWN_STUB
            if BEGIN_SOLUTION in cell.source:
                cell.source = _replace_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, stub)
            else:
                cell.source = stub
        if meta.get("grade") and BEGIN_HIDDEN in cell.source:
            cell.source = _replace_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, None).rstrip("\n")
        # like nbgrader: no graded or solution cell may be deleted; locked ones cannot be edited either
        if meta.get("locked") or meta.get("grade") or meta.get("solution"):
            cell.metadata["deletable"] = False
        if meta.get("locked") or (meta.get("grade") and not meta.get("solution")):
            cell.metadata["editable"] = False
    clear_outputs(out)
    for cell in out.cells:
        if BEGIN_SOLUTION in cell.source or BEGIN_HIDDEN in cell.source:
            raise NotebookError("a solution or hidden-test marker survived the release; check the markers")
    return out


# --------------------------------------------------------------------------- cleaning


def clean_notebooks(paths: Union[PathLike, Sequence[PathLike]]) -> List[Path]:
    """Strip outputs, execution counts, editor and Colab metadata from notebooks, in place.

    Parameters
    ----------
    paths
        Notebook files and/or folders (searched recursively).

    Returns
    -------
    list of Path
        The notebooks that changed (unchanged files are not rewritten).

    Examples
    --------
    >>> import nbformat, tempfile, os
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1", execution_count=3)])
    >>> nb.metadata["colab"] = {"name": "x.ipynb", "provenance": [{"user": {"displayName": "Dr A"}}]}
    >>> p = os.path.join(tempfile.mkdtemp(), "x.ipynb"); nbformat.write(nb, p)
    >>> [q.name for q in clean_notebooks([p])], clean_notebooks([p])
    (['x.ipynb'], [])
    """
    changed = []
    for path in find_notebooks(paths):
        nb = read_notebook(path)
        if clear_outputs(nb):
            nbformat.write(nb, str(path))
            changed.append(path)
    return changed
