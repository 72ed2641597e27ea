"""Tests for notebook 01's added checks: tissue/preset/MONOCHROME1/de-identification quizzes,
presets per finding, lesion volume and the viewer exercise (headless)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from radnb import grading
from radnb.grading.checks import nb01_dicom
from radnb.grading.notebooks import graded_cells, student_version, validate_nbgrader

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "instructor" / "notebooks" / "01_dicom_windowing.ipynb"  # the source, with solutions


pytestmark = pytest.mark.usefixtures("fresh_grading_session")


def run(grade_id, *answers, seed=0):
    return grading.run_check(grade_id, *answers, seed=seed)


# --------------------------------------------------------------------------- quizzes


@pytest.mark.parametrize(
    "grade_id, right, wrong",
    [
        ("tissue_from_hu", "fat", "fluid"),
        ("deid_residual_risk", "burned_in", "uids"),
        ("monochrome1", "inverted", "normal"),
    ],
)
def test_quizzes_accept_the_right_answer_and_explain_a_wrong_one(grade_id, right, wrong):
    good = run(grade_id, lambda: right)
    assert good.status == "pass" and good.score == 1
    bad = run(grade_id, lambda: wrong)
    assert bad.status == "fail" and bad.score == 0
    assert bad.message == grading.get(grade_id).feedback[wrong] + f" Hint: {grading.get(grade_id).hint}"
    assert run(grade_id, lambda: "nonsense").status == "fail"


# --------------------------------------------------------------------------- presets per finding


def test_preset_for_finding_full_partial_and_not_done():
    right = {"pneumothorax": "lung", "subdural": "subdural", "fracture": "bone"}
    assert run("preset_for_finding", lambda: right).status == "pass"
    assert run("preset_for_finding", lambda: {"Pneumothorax": "Lung", "subdural": "Subdural", "fracture": "BONE"}).status == "pass"
    res = run("preset_for_finding", lambda: {**right, "subdural": "brain"})
    assert res.status == "partial" and res.score == pytest.approx(2.0)
    assert "subdural" in res.message and "skull" in res.message and "pneumothorax" not in res.message
    res = run("preset_for_finding", lambda: {**right, "fracture": "bones"})
    assert res.status == "partial" and "not a radnb preset" in res.message
    res = run("preset_for_finding", lambda: {"pneumothorax": "mediastinum", "subdural": "brain", "fracture": "soft_tissue"})
    assert res.status == "fail" and res.score == 0 and "0 of 3" in res.message
    assert run("preset_for_finding", lambda: {"pneumothorax": "", "subdural": "", "fracture": ""}).status == "not_done"
    assert run("preset_for_finding", lambda: "lung").status == "fail"
    res = run("preset_for_finding", lambda: {"chest": "lung"})
    assert res.status == "fail" and "'pneumothorax'" in res.message

    def unfinished():
        raise NotImplementedError()

    assert run("preset_for_finding", unfinished).status == "not_done"


# --------------------------------------------------------------------------- lesion volume


def volume_right(mask, spacing):
    return float((mask == 2).sum() * np.prod(spacing) / 1000.0)


@pytest.mark.parametrize("seed", range(6))
def test_lesion_volume_right_answer_passes(seed):
    assert run("lesion_volume", volume_right, seed=seed).status == "pass"
    # numpy scalars, 0-d arrays and the voxel volume written out by hand all count
    assert run("lesion_volume", lambda m, s: np.float32(volume_right(m, s)), seed=seed).status == "pass"
    assert run("lesion_volume", lambda m, s: (m == 2).sum() * s[0] * s[1] * s[2] / 1000, seed=seed).status == "pass"


@pytest.mark.parametrize(
    "wrong, phrase",
    [
        (lambda m, s: (m == 2).sum(), "number of lesion voxels"),
        (lambda m, s: (m == 2).sum() * np.prod(s), "mm³"),
        (lambda m, s: (m == 2).sum() * s[1] * s[2] / 1000, "pixel area only"),
        (lambda m, s: (m > 0).sum() * np.prod(s) / 1000, "liver included"),
        (lambda m, s: m.sum() * np.prod(s) / 1000, "label values"),
        (lambda m, s: (m == 2).sum() * s[0] ** 3 / 1000, "not cubes"),
        (lambda m, s: 1.0 + (m == 2).sum(), "the volume is"),
    ],
)
@pytest.mark.parametrize("seed", range(3))
def test_lesion_volume_mistakes_get_specific_feedback(wrong, phrase, seed):
    res = run("lesion_volume", wrong, seed=seed)
    assert res.status == "fail" and res.score == 0
    assert phrase in res.message


def test_lesion_volume_without_lesion_must_be_zero():
    def never_zero(mask, spacing):
        return max(volume_right(mask, spacing), 0.001)

    res = run("lesion_volume", never_zero)
    assert res.status == "fail" and "0 mL" in res.message


def test_lesion_volume_odd_returns():
    assert run("lesion_volume", lambda m, s: [1.0, 2.0]).status == "fail"
    assert run("lesion_volume", lambda m, s: None).status == "not_done"


# --------------------------------------------------------------------------- the viewer exercise (headless)


def show_lesion_right(series, mask):
    import radnb

    viewer = radnb.show(series, labels=mask)
    viewer.preset = "liver"
    viewer.slice = int((mask == 2).sum(axis=(1, 2)).argmax())
    return viewer


@pytest.mark.parametrize("seed", range(8))
def test_viewer_exercise_right_answer_passes(seed):
    assert run("viewer_on_lesion", show_lesion_right, seed=seed).status == "pass"


def test_viewer_exercise_cases_have_one_clear_answer():
    for seed in range(30):
        rng = np.random.default_rng(seed)
        series, mask, lesion_z, liver_z = nb01_dicom._lesion_volume_case(rng)
        areas = (mask == 2).sum(axis=(1, 2))
        assert int(areas.argmax()) == lesion_z and np.sum(areas == areas.max()) == 1
        assert int((mask > 0).sum(axis=(1, 2)).argmax()) == liver_z != lesion_z
        assert lesion_z not in (len(series) // 2, len(series) // 2 - 1)
        assert series.units == "HU" and series.modality == "CT"


def _viewer(preset="liver", slice_of=lambda mask: int((mask == 2).sum(axis=(1, 2)).argmax()), **kw):
    def show_lesion(series, mask):
        import radnb

        viewer = radnb.show(series, **kw)
        if preset:
            viewer.preset = preset
        if slice_of is not None:
            viewer.slice = slice_of(mask)
        return viewer

    return show_lesion


@pytest.mark.parametrize(
    "answer, status, phrase",
    [
        (_viewer(preset="lung"), "partial", "'lung' window"),
        (_viewer(preset=None), "partial", "'soft_tissue' window"),
        (_viewer(preset=None, window=150, level=30), "pass", ""),
        (_viewer(slice_of=lambda m: int((m == 2).sum(axis=(1, 2)).argmax()) + 1), "partial", "one too far"),
        (_viewer(slice_of=None), "partial", "still on the slice it opens on"),
        (_viewer(slice_of=lambda m: int((m > 0).sum(axis=(1, 2)).argmax())), "partial", "most liver"),
        (_viewer(slice_of=lambda m: 0), "partial", "argmax"),
        (_viewer(preset="bone", slice_of=None), "fail", "'bone' window"),
        (_viewer(views="coronal"), "partial", "coronal view"),
    ],
)
@pytest.mark.parametrize("seed", range(3))
def test_viewer_exercise_mistakes(answer, status, phrase, seed):
    res = run("viewer_on_lesion", answer, seed=seed)
    assert res.status == status, res.message
    assert phrase in res.message


def test_viewer_exercise_wrong_objects():
    import radnb

    res = run("viewer_on_lesion", lambda series, mask: int((mask == 2).sum(axis=(1, 2)).argmax()))
    assert res.status == "fail" and "return viewer" in res.message
    res = run("viewer_on_lesion", lambda series, mask: radnb.show(series, static=True))
    assert res.status == "fail" and "static" in res.message
    res = run("viewer_on_lesion", lambda series, mask: radnb.show(mask, modality="CT"))
    assert res.status == "fail" and "label map" in res.message
    res = run("viewer_on_lesion", lambda series, mask: radnb.show(series.array[:3], modality="CT"))
    assert res.status == "fail" and "shape" in res.message


def test_viewer_exercise_survives_the_graders_fresh_radnb_import():
    """`radnb course grade` re-imports radnb before checking, so the student's viewer comes from an older
    copy of the module than the check's: the check must not rely on class identity."""
    script = textwrap.dedent('''
        import sys
        import radnb

        def show_lesion(series, mask):
            viewer = radnb.show(series)
            viewer.preset = "liver"
            viewer.slice = int((mask == 2).sum(axis=(1, 2)).argmax())
            return viewer

        for name in [m for m in list(sys.modules) if m == "radnb" or m.startswith("radnb.")]:
            del sys.modules[name]
        import importlib
        core = importlib.import_module("radnb.grading.core")
        result = core.run_check("viewer_on_lesion", show_lesion, seed=3)
        print(result.status, result.message)
    ''')
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("pass"), out.stdout


# --------------------------------------------------------------------------- the notebook uses every check of nb01


def _load_notebook():
    if not NOTEBOOK.exists():
        pytest.skip("notebook 01 not written yet")
    return nbformat.read(str(NOTEBOOK), as_version=4)


def test_notebook_grades_every_registered_nb01_check_with_matching_points():
    nb = _load_notebook()
    assert validate_nbgrader(nb) == []
    cells = {c.grade_id: c for c in graded_cells(nb)}
    registered = {c.grade_id: c for c in grading.all_checks("01")}
    assert set(cells) == set(registered)
    # registration order = notebook order, so the score table reads like the notebook
    assert [g.grade_id for g in graded_cells(nb)] == list(registered)
    for grade_id, cell in cells.items():
        assert cell.points == registered[grade_id].points, grade_id
        assert grade_id in cell.source


def test_notebook_student_version_has_no_solutions():
    nb = _load_notebook()
    student = student_version(nb)
    text = "\n".join(c.source for c in student.cells)
    assert "### BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # committed without outputs
