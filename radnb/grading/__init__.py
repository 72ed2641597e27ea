"""Self-checks for the curriculum's exercises, and the instructor's course tools.

For students
------------
An exercise is a function the student completes; the cell after it asks radnb
to check it::

    from radnb import grading

    def to_hu(stored, slope, intercept):
        # YOUR CODE HERE
        raise NotImplementedError()

    grading.check("hu_conversion", to_hu)

:func:`check` looks up the check registered as ``"hu_conversion"`` in the
installed package (``radnb/grading/checks/nb01_dicom.py``), runs the student's
function on **fresh inputs** whose right answers radnb's reference code
computes, and shows teaching feedback ("You multiplied by the slope but forgot
to add the intercept"). An unfinished exercise (the placeholder raises
``NotImplementedError`` or returns ``None``/``...``) gets a friendly
"Not done yet"; an error or endless loop in the student's code becomes feedback
too. Nothing is raised into the notebook, so *Run All* never stops at a check.

Quiz questions are answered by a one-line function, so the answer is saved in
the notebook, and shown as a widget with a *Check* button for practice::

    def answer_choose_preset():
        return "lung"

    grading.quiz("choose_preset", answer_choose_preset)

The notebook's last cell shows the score per exercise::

    grading.score("01")

Results
-------
Every :func:`check` / :func:`quiz` records a :class:`CheckResult` (latest
attempt wins): :func:`results` returns them, :func:`score_table` builds the
table, and when ``RADNB_GRADING_RESULTS`` names a file every result is also
written there as JSON (``{"results": [...]}``; see :func:`read_results`). The
score cell's output also carries the machine-readable MIME type
``application/vnd.radnb.score+json``. ``RADNB_GRADING_SEED`` makes the fresh
inputs reproducible; ``RADNB_GRADING_CHECK_TIMEOUT`` (seconds) overrides every
check's time limit for the student's code (default 30 s, nbgrader's per-cell default). Under nbgrader's autograder (``NBGRADER_EXECUTION`` set) a
failed check raises ``AssertionError``, so nbgrader withholds its points.

For notebook authors
--------------------
Register checks in ``radnb/grading/checks/nbNN_topic.py`` (NN = the notebook's
number) with :func:`register` (code exercises) and :func:`register_quiz`
(quiz questions); helpers :func:`call`, :func:`close`, :func:`expect_close`,
:class:`Incorrect`, :class:`NotDone`. The notebook conventions (nbgrader
metadata, the install cell, the ``parameters`` cell, the score cell) and the
step-by-step recipe are in ``docs/CURRICULUM.md``.

For instructors
---------------
:func:`radnb.grading.course.release` writes student versions (``radnb course
release``); :func:`radnb.grading.course.grade` runs every submission in a fresh
kernel and re-runs the package's checks on what the student defined, keyed by
the grade ids of the *source* notebook (``radnb course grade``), writing
``gradebook.csv`` and per-student feedback. :func:`radnb.grading.notebooks.clean_notebooks`
strips outputs and Colab metadata (``radnb notebooks clean``).

Examples
--------
>>> from radnb import grading
>>> def to_hu(stored, slope, intercept):
...     return stored * slope
>>> result = grading.run_check("hu_conversion", to_hu)
>>> result.status, "intercept" in result.message
('fail', True)
"""
from __future__ import annotations

from .core import (
    RESULTS_ENV,
    SEED_ENV,
    CheckResult,
    Incorrect,
    NotDone,
    ScoreTable,
    as_array,
    call,
    check,
    close,
    expect_close,
    quiz,
    read_results,
    reset,
    results,
    run_check,
    score,
    score_table,
)
from .registry import Check, Quiz, UnknownCheckError, all_checks, get, register, register_quiz

__all__ = [
    "check",
    "quiz",
    "score",
    "score_table",
    "results",
    "reset",
    "run_check",
    "read_results",
    "CheckResult",
    "ScoreTable",
    "Incorrect",
    "NotDone",
    "call",
    "close",
    "expect_close",
    "as_array",
    "register",
    "register_quiz",
    "all_checks",
    "get",
    "Check",
    "Quiz",
    "UnknownCheckError",
    "RESULTS_ENV",
    "SEED_ENV",
]
