"""Instructor tools: release student notebooks and grade submissions.

``radnb course release SOURCE DEST`` writes student versions of the source
(instructor) notebooks. ``radnb course grade SUBMISSIONS --source SOURCE --out OUT``
runs every submission in a fresh kernel with a time limit, then re-runs the
package's checks on what the student's code defined, keyed by the grade ids of
the **source** notebook: students who delete, duplicate, retype or edit graded
cells, or fake their outputs, are graded on their functions all the same. A
submission that crashes, loops or cannot be read gets zero for the affected
items and a clear note; the grader itself never stops on one bad submission.

Layout of ``SUBMISSIONS`` (either works; nbgrader's ``submitted/`` folder too)::

    submissions/alice/00_welcome.ipynb      one folder per student (searched recursively)
    submissions/bob.ipynb                   or one file per student, when grading one notebook

Outputs in ``OUT``: ``gradebook.csv`` (one row per student: points per exercise,
total, possible), ``gradebook_items.csv`` (one row per student and exercise, with
the feedback message) and ``feedback/<student>.md``.

Examples
--------
.. code-block:: console

    $ radnb course release instructor/notebooks/ notebooks/
    $ radnb course grade submissions/ --source instructor/notebooks/ --out grades/ --timeout 600
"""
from __future__ import annotations

import copy
import csv
import json
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import nbformat

from ..errors import InvalidArgumentError
from . import registry
from .core import CHECK_TIMEOUT_ENV, CheckResult, read_results
from .notebooks import NotebookError, find_notebooks, graded_cells, read_notebook, student_version

PathLike = Union[str, Path]


def release(source: PathLike, dest: PathLike) -> List[Path]:
    """Write the student version of every notebook in ``source`` (a folder or one notebook) to ``dest``.

    Sub-folders are kept. Every notebook is validated first, so a bad one stops
    the release before anything is written.

    Returns
    -------
    list of Path
        The notebooks written.

    Examples
    --------
    >>> import nbformat, pathlib, tempfile
    >>> lesson = pathlib.Path(tempfile.mkdtemp()) / "lesson.ipynb"
    >>> nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), str(lesson))
    >>> [p.name for p in release(lesson, tempfile.mkdtemp())]
    ['lesson.ipynb']
    """
    source, dest = Path(source), Path(dest)
    notebooks = find_notebooks(source)
    if not notebooks:
        raise NotebookError("no notebooks (*.ipynb) found to release.", source)
    base = source if source.is_dir() else source.parent
    if dest.resolve() == base.resolve():
        raise InvalidArgumentError("The release folder must differ from the source folder (it would overwrite the solutions).")
    versions = []
    for path in notebooks:
        try:
            versions.append((path, student_version(read_notebook(path))))
        except NotebookError as exc:
            raise NotebookError(str(exc).replace(f"{path}: ", ""), path) from None
    written = []
    for path, nb in versions:
        target = dest / path.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(target))
        written.append(target)
    return written


# --------------------------------------------------------------------------- grading


@dataclass
class Item:
    """One graded exercise of a source notebook."""

    notebook: str
    grade_id: str
    points: float
    title: str
    registered: bool

    @property
    def column(self) -> str:
        return f"{Path(self.notebook).stem}:{self.grade_id}"


@dataclass
class StudentGrade:
    """The outcome for one student."""

    student: str
    results: Dict[str, CheckResult] = field(default_factory=dict)  # keyed by Item.column
    notes: List[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def total(self) -> float:
        return round(sum(r.score for r in self.results.values()), 4)


@dataclass
class GradeSummary:
    """What :func:`grade` returns; ``print()`` it for a table."""

    students: List[StudentGrade]
    items: List[Item]
    gradebook: Path
    items_csv: Path
    feedback_dir: Path

    @property
    def possible(self) -> float:
        return round(sum(i.points for i in self.items), 4)

    def __str__(self) -> str:
        width = max([len(s.student) for s in self.students] + [7])
        lines = [f"{'Student'.ljust(width)}  Points   Notes"]
        for s in self.students:
            note = f"{len(s.notes)} note(s)" if s.notes else ""
            lines.append(f"{s.student.ljust(width)}  {s.total:g}/{self.possible:g}".ljust(width + 11) + f" {note}")
        lines.append(f"Gradebook: {self.gradebook}")
        lines.append(f"Feedback:  {self.feedback_dir}")
        return "\n".join(lines)


def _source_items(source: Path) -> Tuple[Dict[str, Path], List[Item]]:
    notebooks = find_notebooks(source)
    if not notebooks:
        raise NotebookError("no source notebooks (*.ipynb) found.", source)
    items: List[Item] = []
    by_name: Dict[str, Path] = {}
    for path in notebooks:
        nb = read_notebook(path)
        by_name[path.name] = path
        for cell in graded_cells(nb):
            try:
                check = registry.get(cell.grade_id)
                items.append(Item(path.name, cell.grade_id, cell.points, check.title, True))
            except registry.UnknownCheckError:
                items.append(Item(path.name, cell.grade_id, cell.points, cell.grade_id, False))
    return by_name, items


def _find_submissions(submissions: Path, names: Sequence[str]) -> Dict[str, Dict[str, List[Path]]]:
    """``{student: {source notebook name: [candidate files]}}``."""
    if not submissions.is_dir():
        raise NotebookError("the submissions folder does not exist.", submissions)
    found: Dict[str, Dict[str, List[Path]]] = {}
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            files = [p for p in sorted(entry.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
            matched: Dict[str, List[Path]] = {}
            for p in files:
                if p.name in names:
                    matched.setdefault(p.name, []).append(p)
            if not matched and len(names) == 1 and len(files) == 1:
                matched[names[0]] = files  # one notebook, renamed by the student
            found[entry.name] = matched
        elif entry.suffix == ".ipynb" and len(names) == 1:
            found[entry.stem] = {names[0]: [entry]}
    return found


def _injected_cell(grade_ids: Sequence[str], out: Path, seed: int) -> nbformat.NotebookNode:
    # Fresh radnb modules: whatever the submission did to the imported ones is left behind.
    code = (
        "import sys as _radnb_sys, importlib as _radnb_importlib\n"
        "for _radnb_name in [m for m in list(_radnb_sys.modules) if m == 'radnb' or m.startswith('radnb.')]:\n"
        "    del _radnb_sys.modules[_radnb_name]\n"
        "_radnb_importlib.import_module('radnb.grading.core').grade_namespace(\n"
        f"    globals(), {list(grade_ids)!r}, {str(out)!r}, seed={seed})\n"
    )
    return nbformat.v4.new_code_cell(code)


def _zero(item: Item, status: str, message: str) -> CheckResult:
    return CheckResult(item.grade_id, item.title, registry.notebook_key(item.notebook), "code", status, 0.0, item.points, message)


def _tamper_notes(source_nb: nbformat.NotebookNode, submitted: nbformat.NotebookNode, name: str) -> List[str]:
    """Notes on graded cells that were deleted, duplicated or changed (for the instructor; not penalised)."""
    from .notebooks import nbgrader_meta

    notes = []
    originals = {c.grade_id: c.source.strip() for c in graded_cells(source_nb)}
    seen: Dict[str, List[str]] = {}
    for cell in submitted.cells:
        meta = nbgrader_meta(cell)
        if meta and meta.get("grade_id") in originals:
            seen.setdefault(meta["grade_id"], []).append(cell.get("source", "").strip())
    for gid, original in originals.items():
        copies = seen.get(gid, [])
        if not copies:
            notes.append(f"{name}: the check cell '{gid}' is missing (deleted or retyped); graded from your code directly.")
        elif len(copies) > 1:
            notes.append(f"{name}: the check cell '{gid}' appears {len(copies)} times.")
        elif copies[0] != original:
            notes.append(f"{name}: the check cell '{gid}' was edited; radnb ignored it and ran its own check.")
    return notes


def _grade_one(
    path: Path,
    source_nb: nbformat.NotebookNode,
    items: List[Item],
    timeout: float,
    workdir: Path,
    check_timeout: Optional[float] = None,
) -> Tuple[Dict[str, CheckResult], List[str], float]:
    from .execute import run_notebook

    notes: List[str] = []
    results: Dict[str, CheckResult] = {}
    try:
        nb = read_notebook(path)
    except NotebookError as exc:
        for item in items:
            results[item.column] = _zero(item, "fail", "The submitted file could not be read as a notebook.")
        return results, [f"{path.name}: {str(exc).split(': ', 1)[-1]}"], 0.0
    notes.extend(_tamper_notes(source_nb, nb, path.name))
    nb.cells = [c for c in nb.cells if c.cell_type in ("code", "markdown", "raw")]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    runnable = [i for i in items if i.registered]
    for item in items:
        if not item.registered:
            results[item.column] = _zero(
                item, "error", f"No radnb check is registered for '{item.grade_id}' (grade it with nbgrader or by hand)."
            )
    env = {k: "" for k in ("RADNB_GRADING_RESULTS", "NBGRADER_EXECUTION", "RADNB_GRADING_SEED")}
    if check_timeout:
        env[CHECK_TIMEOUT_ENV] = str(check_timeout)
    student_cells = len(nb.cells)
    pending = list(runnable)
    wall = 0.0
    first = True
    while pending:
        out = workdir / f"results-{random.getrandbits(64):016x}.json"
        seed = random.getrandbits(31)
        attempt = copy.deepcopy(nb)
        attempt.cells.append(_injected_cell([i.grade_id for i in pending], out, seed))
        per_check = (check_timeout or 30.0) + 5.0
        report = run_notebook(
            attempt, timeout=timeout, final_cells=1, final_timeout=max(60.0, per_check * len(pending)), env=env, cwd=workdir
        )
        wall += report.wall_s
        if first:  # the student's own cells behave the same on every attempt: report them once
            for err in report.errors:
                if err.index < student_cells:
                    notes.append(f"{path.name}: {err}")
            for index in report.dead_cells:
                if index < student_cells:
                    notes.append(
                        f"{path.name}: cell {index + 1} crashed the Python kernel; it was skipped and the notebook "
                        "re-run without it."
                    )
            if report.timed_out:
                notes.append(
                    f"{path.name}: the notebook did not finish within {timeout:g} s; the cell running at the limit "
                    "was stopped."
                )
            first = False
        recorded = read_results(out)
        checks_died = student_cells in report.dead_cells
        still = []
        for item in pending:
            res = recorded.get(item.grade_id)
            if res is None:
                still.append(item)
                continue
            # points come from the source notebook, the instructor's authority
            fraction = (res.score / res.points) if res.points else 0.0
            res.score, res.points = round(item.points * fraction, 4), item.points
            results[item.column] = res
        if still and checks_died:
            # the first unrecorded exercise crashed the kernel: zero it, re-run for the others
            culprit = still.pop(0)
            results[culprit.column] = _zero(
                culprit, "fail", "Your code for this exercise crashed the Python kernel when it was checked."
            )
            notes.append(f"{path.name}: checking '{culprit.grade_id}' crashed the kernel.")
            pending = still
            continue
        for item in still:
            results[item.column] = _zero(item, "fail", "This exercise could not be checked (the grading step did not finish).")
        break
    return results, notes, wall


def _feedback_markdown(student: StudentGrade, items: List[Item]) -> str:
    possible = sum(i.points for i in items)
    lines = [f"# Feedback for {student.student}", "", f"**Total: {student.total:g} / {possible:g} points**", ""]
    current = None
    for item in items:
        if item.notebook != current:
            current = item.notebook
            lines += ["", f"## {current}", "", "| Exercise | Result | Points |", "|---|---|---|"]
        r = student.results[item.column]
        lines.append(f"| {item.title} | {r.status.replace('_', ' ')} | {r.score:g}/{r.points:g} |")
    lines += ["", "## Comments", ""]
    for item in items:
        r = student.results[item.column]
        if r.status != "pass":
            lines.append(f"- **{item.title}** ({item.notebook}): {r.message}")
    if student.notes:
        lines += ["", "## Notes from the grader", ""] + [f"- {n}" for n in student.notes]
    if all(student.results[i.column].status == "pass" for i in items) and not student.notes:
        lines.append("Everything passed. Well done!")
    return "\n".join(lines) + "\n"


def grade(
    submissions: PathLike,
    *,
    source: PathLike = "instructor/notebooks",
    out: PathLike = "grades",
    timeout: float = 600,
    check_timeout: Optional[float] = None,
) -> GradeSummary:
    """Grade every submission in ``submissions`` against the source notebooks.

    Parameters
    ----------
    submissions
        Folder with one sub-folder (or, for a single notebook, one ``.ipynb``) per student.
    source
        The instructor notebooks (a folder or one notebook): their grade cells
        (``grade_id``, ``points``) define what is graded.
    out
        Folder for ``gradebook.csv``, ``gradebook_items.csv`` and ``feedback/``.
    timeout
        Seconds each submitted notebook may run (the checks get their own time after that).
    check_timeout
        Seconds each check may spend in the student's code (default: the check's own, usually 30).

    Returns
    -------
    GradeSummary
        Printable summary with the per-student results and the output paths.
    """
    source, submissions, out = Path(source), Path(submissions), Path(out)
    by_name, items = _source_items(source)
    if not items:
        raise NotebookError("the source notebooks have no grade cells (nbgrader metadata 'grade': true).", source)
    source_nbs = {name: read_notebook(p) for name, p in by_name.items()}
    found = _find_submissions(submissions, list(by_name))
    if not found:
        raise NotebookError("no submissions found (expected one folder or notebook per student).", submissions)
    out.mkdir(parents=True, exist_ok=True)
    feedback_dir = out / "feedback"
    feedback_dir.mkdir(exist_ok=True)
    students: List[StudentGrade] = []
    with tempfile.TemporaryDirectory(prefix="radnb-grade-") as tmp:
        for student, matched in found.items():
            sg = StudentGrade(student)
            for name, src_path in by_name.items():
                nb_items = [i for i in items if i.notebook == name]
                if not nb_items:
                    continue
                candidates = matched.get(name, [])
                if not candidates:
                    sg.notes.append(f"{name}: not submitted.")
                    for item in nb_items:
                        sg.results[item.column] = _zero(item, "not_done", "Not submitted.")
                    continue
                if len(candidates) > 1:
                    sg.notes.append(f"{name}: {len(candidates)} copies submitted; graded {candidates[0].relative_to(submissions)}.")
                workdir = Path(tmp) / f"{len(students)}-{Path(name).stem}"
                workdir.mkdir()
                try:
                    res, notes, wall = _grade_one(candidates[0], source_nbs[name], nb_items, timeout, workdir, check_timeout)
                except Exception as exc:  # never let one submission stop the class's grading
                    res = {i.column: _zero(i, "error", "The grader could not run this notebook.") for i in nb_items}
                    notes, wall = [f"{name}: grading failed ({type(exc).__name__}: {exc}); please grade by hand."], 0.0
                sg.results.update(res)
                sg.notes.extend(notes)
                sg.wall_s += wall
            students.append(sg)

    gradebook = out / "gradebook.csv"
    with gradebook.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student"] + [i.column for i in items] + ["total", "possible", "notes"])
        possible = round(sum(i.points for i in items), 4)
        for s in students:
            writer.writerow(
                [s.student] + [f"{s.results[i.column].score:g}" for i in items] + [f"{s.total:g}", f"{possible:g}", " | ".join(s.notes)]
            )
    items_csv = out / "gradebook_items.csv"
    with items_csv.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "notebook", "grade_id", "status", "score", "points", "message"])
        for s in students:
            for i in items:
                r = s.results[i.column]
                writer.writerow([s.student, i.notebook, i.grade_id, r.status, f"{r.score:g}", f"{r.points:g}", r.message])
    for s in students:
        (feedback_dir / f"{s.student}.md").write_text(_feedback_markdown(s, items), encoding="utf-8")
    (out / "summary.json").write_text(
        json.dumps(
            {
                "possible": possible,
                "students": {
                    s.student: {"total": s.total, "notes": s.notes, "wall_s": round(s.wall_s, 2),
                                "results": {k: v.to_dict() for k, v in s.results.items()}}
                    for s in students
                },
            },
            indent=1,
        )
    )
    return GradeSummary(students, items, gradebook, items_csv, feedback_dir)
