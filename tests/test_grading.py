"""Tests for radnb.grading: checks, quizzes, score table, notebook metadata, release, cleaning, grading."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from radnb import grading
from radnb.grading import authoring as A
from radnb.grading import course, launch, registry
from radnb.grading.notebooks import (
    NotebookError,
    clean_notebooks,
    graded_cells,
    student_version,
    validate_nbgrader,
)

ROOT = Path(__file__).resolve().parent.parent
WELCOME = ROOT / "instructor" / "notebooks" / "00_welcome.ipynb"  # the source, with solutions


pytestmark = pytest.mark.usefixtures("fresh_grading_session")


GRADING_MODULES = [
    "radnb.grading", "radnb.grading.registry", "radnb.grading.core", "radnb.grading.notebooks",
    "radnb.grading.launch", "radnb.grading.authoring", "radnb.grading.widgets", "radnb.grading.execute",
    "radnb.grading.checks.nb00_welcome", "radnb.grading.checks.nb01_dicom", "radnb.grading.course",
]


@pytest.mark.parametrize("module", GRADING_MODULES)
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


# --------------------------------------------------------------------------- the DICOM lesson's checks


def to_hu_right(stored, slope, intercept):
    return stored.astype(np.float32) * slope + intercept


def window_ct_right(stored, slope, intercept, center, width):
    hu = stored.astype(np.float64) * slope + intercept
    return np.clip((hu - (center - width / 2)) / width, 0, 1)


@pytest.mark.parametrize("seed", range(5))
def test_correct_answers_pass_on_fresh_inputs(seed):
    assert grading.run_check("hu_conversion", to_hu_right, seed=seed).status == "pass"
    assert grading.run_check("windowing", window_ct_right, seed=seed).status == "pass"
    # the DICOM standard's formula passes too
    from radnb.dicom.window import voi_linear

    dicom_way = lambda s, m, b, c, w: voi_linear(s.astype(float) * m + b, c, w)  # noqa: E731
    assert grading.run_check("windowing", dicom_way, seed=seed).status == "pass"


def test_fresh_inputs_differ_between_runs():
    seen = []

    def spy(stored, slope, intercept):
        seen.append(stored.copy())
        return to_hu_right(stored, slope, intercept)

    grading.run_check("hu_conversion", spy)
    grading.run_check("hu_conversion", spy)
    assert not any(np.array_equal(a, b) for a in seen[:3] for b in seen[3:])


@pytest.mark.parametrize(
    "wrong, phrase",
    [
        (lambda s, m, b: s * m, "forgot to add the intercept"),
        (lambda s, m, b: s.astype(float) + b, "did not multiply by the slope"),
        (lambda s, m, b: (s.astype(float) - b) / m, "backwards"),
        (lambda s, m, b: s.astype(float) * b + m, "swapped slope and intercept"),
        (lambda s, m, b: np.zeros((2, 2)), "shape"),
    ],
)
def test_hu_mistakes_get_teaching_feedback(wrong, phrase):
    result = grading.run_check("hu_conversion", wrong, seed=1)
    assert result.status == "fail" and result.score == 0
    assert phrase in result.message


def test_hu_integer_result_gets_partial_credit():
    result = grading.run_check("hu_conversion", lambda s, m, b: np.round(s * m + b).astype(np.int32), seed=3)
    # slope 0.5/1.5 make fractional HU, so rounding is wrong; whole-number slopes only lose the dtype half-point
    assert result.status in ("fail", "partial")
    assert result.score < result.points


@pytest.mark.parametrize(
    "wrong, phrase, status",
    [
        (lambda s, m, b, c, w: np.clip((s - (c - w / 2)) / w, 0, 1), "raw stored values: apply the rescale first", "fail"),
        (lambda s, m, b, c, w: (s * m + b - (c - w / 2)) / w, "clipped", "partial"),
        (lambda s, m, b, c, w: 1 - window_ct_right(s, m, b, c, w), "inverted", "fail"),
        (lambda s, m, b, c, w: np.clip((s * m + b - (c - w)) / (2 * w), 0, 1), "twice as wide", "fail"),
        (lambda s, m, b, c, w: 255 * window_ct_right(s, m, b, c, w), "0 to 255", "partial"),
    ],
)
def test_windowing_mistakes_get_teaching_feedback(wrong, phrase, status):
    result = grading.run_check("windowing", wrong, seed=2)
    assert result.status == status, result.message
    assert phrase in result.message


def test_not_done_is_kind_and_does_not_raise(capsys):
    def to_hu(stored, slope, intercept):
        # YOUR CODE HERE
        raise NotImplementedError()

    grading.check("hu_conversion", to_hu)  # must not raise
    assert "Not done yet" in capsys.readouterr().out
    assert grading.results()["hu_conversion"].status == "not_done"
    for placeholder in (lambda s, m, b: None, lambda s, m, b: ...):
        assert grading.run_check("hu_conversion", placeholder).status == "not_done"
    assert "return" in grading.run_check("hu_conversion", lambda s, m, b: None).message


def test_student_exceptions_and_endless_loops_become_feedback(monkeypatch):
    def broken(stored, slope, intercept):
        return stored / undefined_name  # noqa: F821

    result = grading.run_check("hu_conversion", broken)
    assert result.status == "fail" and "NameError" in result.message and "undefined_name" in result.message

    def exits(stored, slope, intercept):
        sys.exit(3)

    assert grading.run_check("hu_conversion", exits).status == "fail"

    monkeypatch.setenv("RADNB_GRADING_CHECK_TIMEOUT", "0.5")

    def loops(stored, slope, intercept):
        while True:
            pass

    result = grading.run_check("hu_conversion", loops)
    assert result.status == "fail" and "endless loop" in result.message


def test_student_cannot_change_the_checks_data():
    def mutates(stored, slope, intercept):
        stored[...] = 0
        return stored.astype(float) * slope + intercept

    assert grading.run_check("hu_conversion", mutates).status == "fail"


def test_quiz_answers_and_feedback():
    assert grading.run_check("choose_preset", lambda: "lung").status == "pass"
    assert grading.run_check("choose_preset", lambda: " Lung ").status == "pass"
    assert grading.run_check("choose_preset", "Lung (W 1500 / L -600)").status == "pass"
    wrong = grading.run_check("choose_preset", lambda: "mediastinum")
    assert wrong.status == "fail" and "-125 HU" in wrong.message
    assert "not one of the choices" in grading.run_check("choose_preset", lambda: "abdomen").message

    def unanswered():
        raise NotImplementedError()

    assert grading.run_check("choose_preset", unanswered).status == "not_done"


def test_quiz_widget_is_built_from_ipywidgets():
    from radnb.grading.widgets import quiz_widget

    item = registry.get("choose_preset")
    box = quiz_widget(item, grading.run_check("choose_preset", None))
    radio, button, feedback = box.children[1], box.children[2], box.children[3]
    assert [v for _, v in radio.options] == ["lung", "mediastinum", "bone", "brain"]
    assert "Not done yet" in feedback.value
    radio.value = "bone"
    button.click()
    assert "Not yet right" in feedback.value and "return &quot;bone&quot;" in feedback.value
    radio.value = "lung"
    button.click()
    assert "Correct" in feedback.value


def test_unknown_check_is_reported_not_raised(capsys):
    grading.check("no_such_check", lambda: 1)
    out = capsys.readouterr().out
    assert "no_such_check" in out and "hu_conversion" in out


def test_wrong_number_of_inputs():
    result = grading.run_check("hu_conversion")
    assert result.status == "fail" and "to_hu" in result.message


def test_results_file_and_score_table(tmp_path, monkeypatch, capsys):
    path = tmp_path / "results.json"
    monkeypatch.setenv(grading.RESULTS_ENV, str(path))
    grading.check("welcome_size_mm", lambda n, s: n * s)
    grading.quiz("welcome_device", lambda: "cloud")
    recorded = grading.read_results(path)
    assert recorded["welcome_size_mm"].status == "pass" and recorded["welcome_device"].status == "fail"
    table = grading.score_table("00_welcome.ipynb")
    assert (table.earned, table.possible) == (1.0, 2.0)
    bundle = table._repr_mimebundle_()
    assert bundle["application/vnd.radnb.score+json"]["earned"] == 1.0
    assert "Total" in bundle["text/plain"] and "<table" in bundle["text/html"]
    # exercises never attempted still appear, as not done
    grading.reset()
    assert [r.status for r in grading.score_table("00").rows] == ["not_done", "not_done"]


def test_nbgrader_autograde_mode_raises_on_failure(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    grading.check("welcome_size_mm", lambda n, s: n * s)  # passes: no exception
    with pytest.raises(AssertionError, match="welcome_size_mm"):
        grading.check("welcome_size_mm", lambda n, s: n / s)


def test_registry_rules():
    with pytest.raises(grading.UnknownCheckError):
        registry.get("nope")
    with pytest.raises(Exception, match="letters, digits"):
        registry.register("bad id!", inputs=["f"])(lambda f, rng: None)
    ids = [c.grade_id for c in registry.all_checks()]
    assert len(ids) == len(set(ids))
    assert {"hu_conversion", "windowing", "choose_preset"} <= {c.grade_id for c in registry.all_checks("01")}
    assert registry.discover() == {}, "a check module failed to import"


# --------------------------------------------------------------------------- notebook metadata, release, clean


def _cell(source, cell_type="code", **nbg):
    cell = nbformat.v4.new_code_cell(source) if cell_type == "code" else nbformat.v4.new_markdown_cell(source)
    if nbg:
        cell.metadata["nbgrader"] = nbg
    return cell


@pytest.mark.parametrize(
    "meta, cell_type, problem",
    [
        (dict(schema_version=2, grade=False, solution=True, locked=False, grade_id="a"), "code", "schema_version"),
        (dict(schema_version=3, grade=False, solution=True, locked=False), "code", "grade_id"),
        (dict(schema_version=3, grade=True, solution=False, locked=True, grade_id="a"), "code", "points"),
        (dict(schema_version=3, grade=True, solution=False, locked=True, grade_id="a", points=-1), "code", "points"),
        (dict(schema_version=3, grade=False, solution=True, locked=False, grade_id="a b"), "code", "letters"),
        (dict(schema_version=3, grade=False, solution=True, locked=False, grade_id="a", extra=1), "code", "unknown"),
        (dict(schema_version=3, grade=False, solution=False, locked=True, grade_id="a", task=True), "code", "task"),
        (dict(schema_version=3, grade=True, solution=False, locked=False, grade_id="a", points=1), "markdown", "markdown grade"),
        (dict(schema_version=3, solution=True, locked=False, grade_id="a"), "code", "'grade' is required"),
    ],
)
def test_nbgrader_schema_violations_are_found(meta, cell_type, problem):
    nb = nbformat.v4.new_notebook(cells=[_cell("x = 1", cell_type, **meta)])
    problems = validate_nbgrader(nb)
    assert any(problem in p for p in problems), problems


def test_duplicate_grade_ids_and_stray_markers():
    meta = dict(schema_version=3, grade=False, solution=True, locked=False, grade_id="a")
    nb = nbformat.v4.new_notebook(cells=[_cell("x = 1", **meta), _cell("y = 1", **meta)])
    assert any("already used" in p for p in validate_nbgrader(nb))
    nb = nbformat.v4.new_notebook(cells=[_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")])
    assert any("not a solution cell" in p for p in validate_nbgrader(nb))
    nb = nbformat.v4.new_notebook(cells=[_cell("### BEGIN SOLUTION\nx = 1", **meta)])
    assert any("without" in p for p in validate_nbgrader(nb))


def test_student_version_of_the_welcome_notebook():
    nb = nbformat.read(str(WELCOME), as_version=4)
    student = student_version(nb)
    text = json.dumps(student)
    assert "### BEGIN SOLUTION" not in text and "return n_pixels * pixel_spacing_mm" not in text and '"cpu"\\n' not in text
    solutions = [c for c in student.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert solutions and all("# YOUR CODE HERE\n    raise NotImplementedError()" in c.source for c in solutions)
    for cell in student.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False
    assert nb.cells[0].source == student.cells[0].source  # the source notebook is not modified


def test_hidden_tests_are_removed_and_markdown_solutions_stubbed():
    grade = dict(schema_version=3, grade=True, solution=False, locked=True, grade_id="t", points=1)
    answer = dict(schema_version=3, grade=True, solution=True, locked=False, grade_id="m", points=2)
    nb = nbformat.v4.new_notebook(
        cells=[
            _cell("grading.check('t', f)\n### BEGIN HIDDEN TESTS\nassert f(2) == 4\n### END HIDDEN TESTS", **grade),
            _cell("The answer is 42.", "markdown", **answer),
        ]
    )
    student = student_version(nb)
    assert student.cells[0].source == "grading.check('t', f)"
    assert student.cells[1].source == "YOUR ANSWER HERE"


def test_release_writes_student_versions(tmp_path):
    written = course.release(ROOT / "instructor" / "notebooks", tmp_path / "release")
    assert (tmp_path / "release" / "00_welcome.ipynb") in written
    for path in written:
        assert "### BEGIN SOLUTION" not in path.read_text()
    with pytest.raises(grading.registry.InvalidArgumentError):
        course.release(ROOT / "instructor" / "notebooks", ROOT / "instructor" / "notebooks")


def test_release_refuses_invalid_metadata(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nb = nbformat.v4.new_notebook(cells=[_cell("x", schema_version=3, grade=True, solution=False, locked=True)])
    nbformat.write(nb, str(src / "bad.ipynb"))
    with pytest.raises(NotebookError, match="bad.ipynb.*grade_id"):
        course.release(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_clean_strips_outputs_and_colab_metadata(tmp_path):
    cell = nbformat.v4.new_code_cell("print(1)", execution_count=4)
    cell.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    cell.metadata.update({"colab": {"base_uri": "https://localhost:8080/"}, "outputId": "abc",
                          "executionInfo": {"user": {"displayName": "Dr Jane Roe", "userId": "123"}}, "id": "xyz",
                          "tags": ["parameters"]})
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata.update({"colab": {"name": "x", "provenance": []}, "accelerator": "GPU",
                        "widgets": {"application/vnd.jupyter.widget-state+json": {}}})
    path = tmp_path / "sub" / "x.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, str(path))
    assert clean_notebooks([tmp_path]) == [path]
    text = path.read_text()
    assert "Jane Roe" not in text and "colab" not in text and "accelerator" not in text and "widget-state" not in text
    cleaned = nbformat.read(str(path), as_version=4)
    assert cleaned.cells[0].outputs == [] and cleaned.cells[0].execution_count is None
    assert cleaned.cells[0].metadata["tags"] == ["parameters"]
    assert clean_notebooks([path]) == []  # idempotent, file untouched
    with pytest.raises(NotebookError):
        clean_notebooks([tmp_path / "missing.ipynb"])


def test_cli_release_and_clean(tmp_path):
    radnb = [sys.executable, "-m", "radnb.cli"]
    out = subprocess.run(radnb + ["course", "release", str(ROOT / "instructor" / "notebooks"), str(tmp_path / "rel")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "00_welcome.ipynb" in out.stdout
    out = subprocess.run(radnb + ["notebooks", "clean", str(tmp_path / "rel")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout == ""  # released notebooks are already clean
    out = subprocess.run(radnb + ["course", "grade", str(tmp_path / "nothing")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "radnb:" in out.stderr and "Traceback" not in out.stderr


def test_launch_links_use_one_org_constant():
    assert launch.GITHUB_ORG in launch.binder_url("x.ipynb") and launch.GITHUB_ORG in launch.colab_url("x.ipynb")
    assert launch.binder_url("x.ipynb").endswith("?urlpath=lab/tree/notebooks/x.ipynb")
    assert launch.colab_url("x.ipynb").startswith("https://colab.research.google.com/github/")
    assert launch.install_spec() in launch.install_cell_source()


def test_authoring_helpers_follow_the_conventions():
    nb = A.new_notebook([A.install_cell(), A.code("from radnb import grading"),
                         A.solution_cell("def to_hu(s, m, b):\n    ### BEGIN SOLUTION\n    return s\n    ### END SOLUTION", "hu_conversion"),
                         A.check_cell("hu_conversion"), A.check_cell("choose_preset"), A.score_cell("01_dicom.ipynb")])
    assert validate_nbgrader(nb) == []
    assert [(g.grade_id, g.points) for g in graded_cells(nb)] == [("hu_conversion", 2.0), ("choose_preset", 1.0)]
    assert nb.cells[4].source == 'grading.quiz("choose_preset", answer_choose_preset)'
    assert nb.cells[5].source == 'grading.score("01")'


# --------------------------------------------------------------------------- grading a class


def _small_welcome() -> nbformat.NotebookNode:
    """Notebook 00 without its slow cells (doctor, device): only the imports and the graded cells."""
    nb = nbformat.read(str(WELCOME), as_version=4)
    nb.cells = [
        c for c in nb.cells
        if c.cell_type == "markdown" or "nbgrader" in c.metadata or "from radnb import grading" in c.source
    ]
    return nb


def _with_answers(size_body: str, quiz_answer: str) -> nbformat.NotebookNode:
    """The student version of (the small) notebook 00 with these answers typed in."""
    nb = student_version(_small_welcome())
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "welcome_size_mm_answer":
            cell.source = cell.source.replace("# YOUR CODE HERE\n    raise NotImplementedError()", size_body)
        elif gid == "welcome_device_answer":
            cell.source = cell.source.replace("# YOUR CODE HERE\n    raise NotImplementedError()", f"return {quiz_answer!r}")
    return nb


def _index_of(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """A small class graded with notebook 00: perfect, partial, crashing, looping, tampered, broken, missing."""
    root = tmp_path_factory.mktemp("class")
    subs = root / "submissions"

    def put(student, nb):
        folder = subs / student
        folder.mkdir(parents=True)
        if isinstance(nb, str):
            (folder / "00_welcome.ipynb").write_text(nb)
        else:
            nbformat.write(nb, str(folder / "00_welcome.ipynb"))

    source = root / "source" / "00_welcome.ipynb"
    source.parent.mkdir()
    nbformat.write(_small_welcome(), str(source))
    put("perfect", _small_welcome())
    put("partial", _with_answers("return n_pixels * pixel_spacing_mm", "cloud"))

    crashing = _with_answers("import os\n    os._exit(1)", "cpu")  # the function kills the kernel when checked
    crashing.cells.insert(3, nbformat.v4.new_code_cell("import os\nos._exit(1)"))  # and so does a top-level cell
    crashing.cells.insert(4, nbformat.v4.new_code_cell("1 / 0"))
    put("crashing", crashing)

    looping = _with_answers("while True:\n        pass", "cpu")
    looping.cells.insert(3, nbformat.v4.new_code_cell("while True:\n    pass"))
    put("looping", looping)

    tampered = _with_answers("return n_pixels + pixel_spacing_mm", "error")
    # deletes the size check cell, retypes the function (correctly) in a new cell without metadata ...
    del tampered.cells[_index_of(tampered, "welcome_size_mm")]
    tampered.cells.insert(
        _index_of(tampered, "welcome_size_mm_answer") + 1,
        nbformat.v4.new_code_cell("def size_in_mm(n_pixels, pixel_spacing_mm):\n    return n_pixels * pixel_spacing_mm"),
    )
    # ... edits the quiz's check cell and patches radnb's grading to report success, with a faked output
    quiz_cell = tampered.cells[_index_of(tampered, "welcome_device")]
    quiz_cell.source = "print('✔ Correct')"
    quiz_cell.outputs = [nbformat.v4.new_output("stream", text="✔ Correct 1/1\n")]
    tampered.cells.insert(
        3,
        nbformat.v4.new_code_cell(
            "import radnb.grading.core as _c\n"
            "_real = _c.run_check\n"
            "def _fake(grade_id, *a, **k):\n"
            "    r = _real(grade_id, *a, **k)\n"
            "    r.status, r.score = 'pass', r.points\n"
            "    return r\n"
            "_c.run_check = _fake\n"
            "_c.grade_namespace.__globals__['run_check'] = _fake"
        ),
    )
    put("tampered", tampered)
    put("broken", "{this is not a notebook")
    (subs / "missing").mkdir()

    summary = course.grade(subs, source=source, out=root / "grades", timeout=15, check_timeout=2)
    return summary, root / "grades"


def _gradebook(grades_dir):
    with (grades_dir / "gradebook.csv").open() as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


@pytest.mark.slow
def test_gradebook_of_the_fixture_class(graded_class):
    summary, grades = graded_class
    book = _gradebook(grades)
    size, quiz = "00_welcome:welcome_size_mm", "00_welcome:welcome_device"
    expected = {
        "perfect": ("1", "1", "2"),
        "partial": ("1", "0", "1"),
        "crashing": ("0", "1", "1"),
        "looping": ("0", "1", "1"),
        "tampered": ("1", "0", "1"),
        "broken": ("0", "0", "0"),
        "missing": ("0", "0", "0"),
    }
    got = {s: (row[size], row[quiz], row["total"]) for s, row in book.items()}
    assert got == expected
    assert all(row["possible"] == "2" for row in book.values())
    assert book["perfect"]["notes"] == ""
    assert "crashed the Python kernel" in book["crashing"]["notes"] and "ZeroDivisionError" in book["crashing"]["notes"]
    assert "crashed the kernel" in book["crashing"]["notes"]
    assert "time limit" in book["looping"]["notes"]
    assert "missing" in book["tampered"]["notes"] and "edited" in book["tampered"]["notes"]
    assert "not a valid notebook" in book["broken"]["notes"]
    assert "not submitted" in book["missing"]["notes"]
    assert "Total" not in str(summary) and "perfect" in str(summary) and "2/2" in str(summary)


@pytest.mark.slow
def test_feedback_files_explain_each_item(graded_class):
    _, grades = graded_class
    partial = (grades / "feedback" / "partial.md").read_text()
    assert "1 / 2 points" in partial and "cloud" in partial.lower() or "never sends" in partial
    looping = (grades / "feedback" / "looping.md").read_text()
    assert "still running" in looping
    with (grades / "gradebook_items.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["student"] for r in rows} == {"perfect", "partial", "crashing", "looping", "tampered", "broken", "missing"}
    assert all(r["message"] for r in rows)


@pytest.mark.slow
def test_cli_grade_writes_gradebook_and_feedback(tmp_path):
    source = tmp_path / "source" / "00_welcome.ipynb"
    source.parent.mkdir()
    nbformat.write(_small_welcome(), str(source))
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(_with_answers("return n_pixels * pixel_spacing_mm", "cpu"), str(subs / "dana.ipynb"))
    out = subprocess.run(
        [sys.executable, "-m", "radnb.cli", "course", "grade", str(subs), "--source", str(source.parent),
         "--out", str(tmp_path / "grades"), "--timeout", "120"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "dana" in out.stdout and "2/2" in out.stdout
    book = _gradebook(tmp_path / "grades")
    assert book["dana"]["total"] == "2" and book["dana"]["notes"] == ""
    assert "Everything passed" in (tmp_path / "grades" / "feedback" / "dana.md").read_text()
    summary = json.loads((tmp_path / "grades" / "summary.json").read_text())
    assert summary["students"]["dana"]["total"] == 2


def test_short_answer_quiz_with_a_rule():
    quiz = registry.register_quiz(
        "test_short_nodule_mm", question="A nodule spans 10 pixels at 0.5 mm: how many mm?",
        correct=lambda a: abs(float(a) - 5) < 0.25, hint="pixels × spacing", module="nb98_tests",
    )
    assert quiz.inputs == ("answer_test_short_nodule_mm",) and quiz.notebook == "98"
    assert grading.run_check("test_short_nodule_mm", lambda: 5.1).status == "pass"
    assert grading.run_check("test_short_nodule_mm", lambda: "5").status == "pass"
    wrong = grading.run_check("test_short_nodule_mm", lambda: 20)
    assert wrong.status == "fail" and "pixels × spacing" in wrong.message
    unreadable = grading.run_check("test_short_nodule_mm", lambda: "about five")
    assert unreadable.status == "fail" and "could not read" in unreadable.message

    from radnb.grading.widgets import quiz_widget

    box = quiz_widget(quiz, grading.run_check("test_short_nodule_mm", None))
    text, button, feedback = box.children[1], box.children[2], box.children[3]
    text.value = "5"
    button.click()
    assert "Correct" in feedback.value
