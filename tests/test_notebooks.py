"""The curriculum's notebooks: conventions, full runs, student versions, nbgrader compatibility.

* Structure (fast): every source notebook in ``instructor/notebooks/`` follows docs/CURRICULUM.md,
  and ``notebooks/`` (what residents open: ``make lab``, Binder, Colab) holds exactly the student
  versions ``make student-notebooks`` generates from them.
* Source runs (slow): each notebook runs top to bottom in a fresh kernel on the CPU with
  synthetic data (``RADNB_DATA`` = one tmp dir for the session, so sample data are made once),
  within 600 s, without errors, and every graded check passes.
* Student runs (slow): the released student version runs top to bottom; no cell raises
  except cells tagged ``raises-exception``, and every check reports "not done".
* nbgrader (when installed): ``nbgrader generate_assignment`` gives the same student
  version as ``radnb course release``, and ``nbgrader autograde`` awards full points to the
  source notebook and none to the unanswered student version.

``RADNB_NOTEBOOK_RUNS=source`` (or ``student``) limits the full runs to one kind, e.g. when
CI time is short. Wall time and peak memory of each run are written to ``<artifacts>/notebook-runs.json``
(``benchmarks/curriculum.py`` prints them as a table against the budgets).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from radnb.grading import launch, registry
from radnb.grading.core import read_results
from radnb.grading.execute import run_notebook
from radnb.grading.notebooks import clear_outputs, graded_cells, nbgrader_meta, student_version, validate_nbgrader

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "instructor" / "notebooks"  # solution-bearing sources (instructors)
STUDENT = ROOT / "notebooks"  # generated student versions (what residents open)
NOTEBOOKS = sorted(SOURCES.glob("[0-9][0-9]_*.ipynb"))
NOTEBOOK_TIMEOUT = 600
IDS = [p.stem for p in NOTEBOOKS]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.fixture(scope="session")
def curriculum_data_dir(tmp_path_factory) -> Path:
    """One radnb data directory for every notebook run of the session."""
    return tmp_path_factory.mktemp("radnb-data")


def _record_run(artifacts_dir: Path, key: str, report) -> None:
    path = artifacts_dir / "notebook-runs.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = {"wall_s": report.wall_s, "peak_rss_mb": report.peak_rss_mb}
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


def _kernel_env(data_dir: Path, results: Path) -> dict:
    return {
        "RADNB_DATA": str(data_dir),
        "RADNB_GRADING_RESULTS": str(results),
        "RADNB_GRADING_SEED": "",
        "RADNB_DEVICE": "cpu",
        "NBGRADER_EXECUTION": "",
    }


def _runs_enabled(kind: str) -> None:
    """``RADNB_NOTEBOOK_RUNS`` ("source,student", the default) picks which full runs CI does."""
    wanted = {k.strip() for k in os.environ.get("RADNB_NOTEBOOK_RUNS", "source,student").split(",")}
    if kind not in wanted:
        pytest.skip(f"{kind} runs disabled by RADNB_NOTEBOOK_RUNS={os.environ.get('RADNB_NOTEBOOK_RUNS')!r}")


def test_curriculum_exists():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_welcome.ipynb"


# --------------------------------------------------------------------------- conventions (fast)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path):
    nb = _read(path)
    nbformat.validate(nb)
    assert not clear_outputs(nb), f"{path.name} has outputs or editor metadata: run `radnb notebooks clean {path}`"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_nbgrader_metadata_is_valid(path):
    assert validate_nbgrader(_read(path)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_title_cell(path):
    first = _read(path).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    for heading in ("Learning objectives", "Prerequisites", "Estimated time"):
        assert heading in first.source, f"{path.name}: the title cell needs '{heading}'"
    assert launch.binder_url(path.name) in first.source and launch.colab_url(path.name) in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_install_parameters_and_score_cells(path):
    nb = _read(path)
    code = _code_cells(nb)
    assert code[0].source == launch.install_cell_source(), f"{path.name}: the first code cell must be the install cell"
    assert launch.INSTALL_TAG in code[0].metadata.get("tags", [])
    params = [c for c in code if launch.PARAMETERS_TAG in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
    assert "FAST" in params[0].source
    key = registry.notebook_key(path.name)
    assert code[-1].source == f'grading.score("{key}")' and launch.SCORE_TAG in code[-1].metadata.get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_graded_cell_runs_a_registered_check(path):
    nb = _read(path)
    key = registry.notebook_key(path.name)
    cells = graded_cells(nb)
    ids = [g.grade_id for g in cells]
    registered = [c.grade_id for c in registry.all_checks(key)]
    assert sorted(ids) == sorted(registered), f"{path.name}: grade cells {ids} vs checks registered for {key}: {registered}"
    solution_ids = {nbgrader_meta(c)["grade_id"]: i for i, c in enumerate(nb.cells)
                    if nbgrader_meta(c) and nbgrader_meta(c).get("solution")}
    for g in cells:
        item = registry.get(g.grade_id)
        assert g.points == item.points, f"{g.grade_id}: {g.points} points in the notebook, {item.points} registered"
        func = "quiz" if isinstance(item, registry.Quiz) else "check"
        call = re.fullmatch(rf'grading\.{func}\("{re.escape(g.grade_id)}", (.+)\)', g.source.strip())
        assert call, f"cell {g.index + 1}: expected grading.{func}(\"{g.grade_id}\", ...), got {g.source!r}"
        assert [a.strip() for a in call.group(1).split(",")] == list(item.inputs)
        answer = solution_ids.get(g.grade_id + "_answer")
        assert answer is not None and answer < g.index, f"{g.grade_id}: needs a solution cell '{g.grade_id}_answer' above it"
        for name in item.inputs:
            assert re.search(rf"^def {name}\(", nb.cells[answer].source, re.M), f"{name} is defined in its solution cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_solutions_are_inside_functions(path):
    """So that the student version defines every function and runs without errors."""
    for cell in student_version(_read(path)).cells:
        for line in cell.source.splitlines():
            assert line != "raise NotImplementedError()", f"{path.name}: a solution region is not inside a function"


# --------------------------------------------------------------------------- full runs (slow)


@pytest.mark.slow
@pytest.mark.timeout(NOTEBOOK_TIMEOUT + 120)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_source_notebook_runs_and_passes_every_check(path, curriculum_data_dir, artifacts_dir, tmp_path):
    _runs_enabled("source")
    results = tmp_path / "results.json"
    report = run_notebook(path, timeout=NOTEBOOK_TIMEOUT, env=_kernel_env(curriculum_data_dir, results), cwd=path.parent)
    _record_run(artifacts_dir, f"{path.stem}", report)
    assert not report.timed_out, f"{path.name} ran past {NOTEBOOK_TIMEOUT} s"
    assert report.errors == [] and report.dead_cells == [], [str(e) for e in report.errors]
    recorded = read_results(results)
    for g in graded_cells(_read(path)):
        assert g.grade_id in recorded, f"{g.grade_id} was never checked"
        assert recorded[g.grade_id].status == "pass", f"{g.grade_id}: {recorded[g.grade_id].message}"
    # the score cell's machine-readable output agrees
    score = report.notebook.cells[-1] if report.notebook.cells[-1].cell_type == "code" else _code_cells(report.notebook)[-1]
    bundle = next(o["data"]["application/vnd.radnb.score+json"] for o in score.outputs if o.get("output_type") == "display_data")
    assert bundle["earned"] == bundle["possible"] > 0


@pytest.mark.slow
@pytest.mark.timeout(NOTEBOOK_TIMEOUT + 120)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_version_runs_and_every_check_says_not_done(path, curriculum_data_dir, artifacts_dir, tmp_path):
    _runs_enabled("student")
    student = tmp_path / path.name
    nbformat.write(student_version(_read(path)), str(student))
    results = tmp_path / "results.json"
    report = run_notebook(student, timeout=NOTEBOOK_TIMEOUT, env=_kernel_env(curriculum_data_dir, results), cwd=path.parent)
    _record_run(artifacts_dir, f"{path.stem} (student)", report)
    assert not report.timed_out and report.dead_cells == []
    expected_errors = [e for e in report.errors
                       if "raises-exception" not in report.notebook.cells[e.index].metadata.get("tags", [])]
    assert expected_errors == [], [str(e) for e in expected_errors]
    recorded = read_results(results)
    for g in graded_cells(_read(path)):
        assert recorded[g.grade_id].status == "not_done", f"{g.grade_id}: {recorded[g.grade_id].message}"
        assert "Not done yet" in recorded[g.grade_id].message


# --------------------------------------------------------------------------- nbgrader itself (optional)


def _nbgrader_env():
    spec = importlib.util.find_spec("nbgrader")
    if spec is None or not spec.origin:
        pytest.skip("nbgrader is not installed (optional; `pip install nbgrader` to run this check)")
    env = dict(os.environ)
    site = Path(spec.origin).parent.parent
    extra = [str(site / "bin")] if (site / "bin").is_dir() else []  # a `pip install --target` location
    extra.append(str(Path(sys.executable).parent))
    env["PATH"] = os.pathsep.join(extra + [env.get("PATH", "")])
    if extra and str(site) not in sys.path[:1]:
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if shutil.which("alembic", path=env["PATH"]) is None:
        pytest.skip("nbgrader's 'alembic' command is not on PATH")
    for key in ("RADNB_GRADING_RESULTS", "RADNB_GRADING_SEED"):
        env.pop(key, None)
    return env


def _nbgrader(env, *args, cwd):
    out = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={cwd}"],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


@pytest.mark.slow
def test_nbgrader_generates_and_autogrades_the_same_assignment(tmp_path, curriculum_data_dir):
    env = _nbgrader_env()
    env["RADNB_DATA"] = str(curriculum_data_dir)
    course = tmp_path / "course"
    source = course / "source" / "curriculum"
    source.mkdir(parents=True)
    for path in NOTEBOOKS:
        shutil.copy(path, source / path.name)
    _nbgrader(env, "generate_assignment", "curriculum", "--force", cwd=course)
    for path in NOTEBOOKS:
        theirs = _read(course / "release" / "curriculum" / path.name)
        ours = student_version(_read(path))
        assert [c.source for c in theirs.cells] == [c.source for c in ours.cells]
    # autograde notebook 00: the instructor version gets every point, the unanswered student version none
    welcome = NOTEBOOKS[0]
    (course / "source" / "welcome").mkdir()
    shutil.copy(welcome, course / "source" / "welcome" / welcome.name)
    _nbgrader(env, "generate_assignment", "welcome", "--force", cwd=course)
    for student, nb in (("complete", _read(welcome)), ("blank", student_version(_read(welcome)))):
        folder = course / "submitted" / student / "welcome"
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / welcome.name))
    # nbgrader allows 30 s per cell and 4 s for a cell's output to arrive; the doctor cell imports torch
    _nbgrader(env, "autograde", "welcome", "--create", "--force", "--Execute.timeout=600",
              "--Execute.iopub_timeout=60", cwd=course)
    script = (
        "import json, sys\nfrom nbgrader.api import Gradebook\n"
        f"with Gradebook('sqlite:///{course}/gradebook.db') as gb:\n"
        "    print(json.dumps({s: [gb.find_submission('welcome', s).score, gb.find_submission('welcome', s).max_score]"
        " for s in ('complete', 'blank')}))\n"
    )
    scores = json.loads(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                       check=True).stdout)
    possible = sum(g.points for g in graded_cells(_read(welcome)))
    assert scores == {"complete": [possible, possible], "blank": [0.0, possible]}


# --------------------------------------------------------------------------- Binder


def test_binder_configuration():
    binder = ROOT / "binder"
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"
    reqs = [line.strip() for line in (binder / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in reqs
    assert any(r.startswith("torch") and not r.startswith("torchvision") for r in reqs)
    post = binder / "postBuild"
    assert os.access(post, os.X_OK), "postBuild must be executable"
    text = post.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -e" in text
    assert re.search(r"pip install .*\.$", text, re.M), "installs radnb from the repo"
    assert "https://download.pytorch.org/whl/cpu" in text, "with the CPU-only torch index"
    assert "radnb data prepare" in text
    subprocess.run(["bash", "-n", str(post)], check=True)
    # the radnb subcommands postBuild runs exist
    from radnb.cli import build_parser

    assert build_parser().parse_args(["data", "prepare"]).func.__name__ == "_cmd_data_prepare"


# --------------------------------------------------------------------------- a student in a real browser


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_welcome_exercise_and_quiz_in_the_browser(app, tmp_path, artifacts_dir):
    """JupyterLab 4 and Notebook 7: a student completes notebook 00's exercise and quiz."""
    testing = pytest.importorskip("radnb.viewers.testing")
    if testing.chromium_path() is None:
        pytest.skip("chromium is not installed (Debian package 'chromium')")
    pytest.importorskip("playwright.sync_api")
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    student = student_version(_read(NOTEBOOKS[0]))
    nbformat.write(student, str(nbdir / NOTEBOOKS[0].name))

    def index(pred):
        return next(i for i, c in enumerate(student.cells) if pred(c))

    def gid(c):
        return (nbgrader_meta(c) or {}).get("grade_id")

    imports = index(lambda c: "from radnb import grading" in c.source)
    answer, check = index(lambda c: gid(c) == "welcome_size_mm_answer"), index(lambda c: gid(c) == "welcome_size_mm")
    quiz_answer, quiz = index(lambda c: gid(c) == "welcome_device_answer"), index(lambda c: gid(c) == "welcome_device")
    score = len(student.cells) - 1 - [c.cell_type for c in reversed(student.cells)].index("code")

    server = testing.JupyterServer(nbdir, app=app).start()
    try:
        with testing.browser() as chrome:
            page = chrome.new_page(viewport={"width": 1300, "height": 1000})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.notebook_url(NOTEBOOKS[0].name))
            nb = testing.NotebookPage(page, app=app)
            nb.wait_ready()
            for k in (imports, answer):
                nb.run_cell(k, timeout=120_000)
            nb.run_cell(check, wait_text="Not done yet", timeout=120_000)

            # the student writes the function, reruns it and the check
            editor = nb.cell(answer).locator(".jp-InputArea-editor")
            editor.click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text("def size_in_mm(n_pixels, pixel_spacing_mm):\n    return n_pixels * pixel_spacing_mm")
            nb.run_cell(answer)
            nb.run_cell(check, wait_text="Correct", timeout=60_000)

            # the quiz widget: practise with the buttons, then hand in through the answer function
            nb.run_cell(quiz_answer)
            nb.run_cell(quiz, timeout=60_000)
            widget = nb.cell(quiz).locator(".radnb-quiz")
            widget.wait_for(timeout=60_000)
            widget.get_by_text("It uploads the images to a cloud GPU.").click()
            widget.locator("button", has_text="Check").click()
            widget.get_by_text("Not yet right").wait_for(timeout=30_000)
            widget.get_by_text("It trains on the CPU, with smaller and faster settings.").click()
            widget.locator("button", has_text="Check").click()
            widget.get_by_text("Correct").wait_for(timeout=30_000)
            page.screenshot(path=str(artifacts_dir / f"welcome-quiz-{app}.png"), full_page=True)

            nb.run_cell(score, wait_text="Total", timeout=60_000)
            table = nb.output_text(score)
            assert "Pixels to millimetres" in table and "GPU or CPU?" in table
            assert "1/2" in table.replace(" ", "")  # the quiz still counts as not done: it is not saved yet
            # Notebook 7 itself reports this one on load, for an empty notebook too (a settings plugin)
            errors = [e for e in errors if "reading 'schema'" not in e]
            assert errors == []
    finally:
        server.stop()


def test_student_notebooks_are_generated_from_the_sources(tmp_path):
    """What residents open holds no solutions and is exactly what `make student-notebooks` writes."""
    from radnb.grading.course import release

    written = release(SOURCES, tmp_path / "student")
    committed = sorted(p.name for p in STUDENT.glob("*.ipynb"))
    assert committed == sorted(p.name for p in written), "notebooks/ and instructor/notebooks/ list different notebooks"
    stale = [p.name for p in written if (STUDENT / p.name).read_text() != p.read_text()]
    assert not stale, (f"notebooks/ is out of step with instructor/notebooks/ for {stale}: "
                       "edit the source in instructor/notebooks/, then run `make student-notebooks`")
    for path in STUDENT.glob("*.ipynb"):
        text = path.read_text()
        assert "### BEGIN SOLUTION" not in text and "### BEGIN HIDDEN TESTS" not in text, path.name


def test_welcome_prose_quotes_the_real_output():
    """Notebook 00 quotes the float-rounding result of a cell; the quote must match what Python prints."""
    nb = _read(NOTEBOOKS[0])
    k = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "n_pixels * pixel_spacing_mm" in c.source
             and "def " not in c.source)
    quoted = re.search(r"Python shows `([^`]+)`", nb.cells[k + 1].source).group(1)
    report = run_notebook(nbformat.v4.new_notebook(cells=[nb.cells[k]]), timeout=60)
    assert report.notebook.cells[0].outputs[0]["data"]["text/plain"] == quoted
