"""Running checks: feedback for the student, results for the score table and the grader.

See :mod:`radnb.grading` for the overview. Everything here is careful never to
raise into the student's notebook: a wrong answer, an unfinished exercise, an
exception or an endless loop in the student's code all become a
:class:`CheckResult` with a kind, teaching message.
"""
from __future__ import annotations

import contextlib
import copy
import html
import json
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from ..errors import CheckTimeout, Incorrect, NotDone  # noqa: F401 - defined in radnb.errors, re-exported
from . import registry
from .results import _COLOURS, _LABELS, STATUSES, CheckResult, _fmt, _judge_quiz, _markup, _normalise_answer  # noqa: F401  (re-exported)

#: Environment variable naming a JSON file where every check result is also written.
RESULTS_ENV = "RADNB_GRADING_RESULTS"
#: Environment variable fixing the random seed of the checks' fresh inputs (tests, debugging).
SEED_ENV = "RADNB_GRADING_SEED"
#: Environment variable overriding every check's time limit for the student's code (seconds).
CHECK_TIMEOUT_ENV = "RADNB_GRADING_CHECK_TIMEOUT"
#: Set by nbgrader while it autogrades or validates; radnb's checks then raise on failure
#: so that nbgrader withholds the points of the check cell.
NBGRADER_ENV = "NBGRADER_EXECUTION"


# --------------------------------------------------------------------------- session state

_RESULTS: Dict[str, CheckResult] = {}


def results() -> Dict[str, CheckResult]:
    """Results recorded in this session, keyed by grade id (latest attempt wins).

    Examples
    --------
    >>> from radnb import grading
    >>> grading.reset(); grading.results()
    {}
    """
    return dict(_RESULTS)


def reset() -> None:
    """Forget the results recorded in this session."""
    _RESULTS.clear()


def _record(result: CheckResult) -> None:
    _RESULTS[result.grade_id] = result
    path = os.environ.get(RESULTS_ENV)
    if path:
        write_results(path, _RESULTS.values())


def write_results(path: Union[str, Path], items: Iterable[CheckResult]) -> Path:
    """Write results as JSON (``{"results": [ ... ]}``), atomically.

    Examples
    --------
    >>> import tempfile, os
    >>> p = write_results(os.path.join(tempfile.mkdtemp(), "r.json"), [])
    >>> read_results(p)
    {}
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"results": [r.to_dict() for r in items]}, indent=1))
    os.replace(tmp, path)
    return path


def read_results(path: Union[str, Path]) -> Dict[str, CheckResult]:
    """Read a results file written by :func:`write_results` (``{}`` when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {d["grade_id"]: CheckResult(**d) for d in data.get("results", [])}


# --------------------------------------------------------------------------- helpers for check authors


def _student_frame(tb: Any) -> Optional[traceback.FrameSummary]:
    """The innermost traceback frame in the student's own code (a notebook cell)."""
    frames = traceback.extract_tb(tb)
    own = [f for f in frames if "site-packages" not in f.filename and "/radnb/" not in f.filename.replace("\\", "/")]
    return own[-1] if own else (frames[-1] if frames else None)


def _name_of(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the student's function on (copies of) the inputs, turning problems into feedback.

    * ``NotImplementedError`` (the placeholder), a ``None`` or ``...`` result -> :class:`NotDone`;
    * any other exception -> :class:`Incorrect` naming the exception and the line it came from;
    * the inputs are deep-copied, so a function that modifies its input in place
      cannot change the check's own data.

    Examples
    --------
    >>> def to_hu(stored, slope, intercept):
    ...     raise NotImplementedError()
    >>> try:
    ...     call(to_hu, 1, 1, 0)
    ... except NotDone as e:
    ...     print("not done")
    not done
    """
    name = _name_of(fn)
    if fn is None or fn is Ellipsis:
        raise NotDone(f"`{name}` has no value yet.")
    if not callable(fn):
        raise Incorrect(f"`{name}` should be a function (defined with `def`), but it is a {type(fn).__name__}.")
    args = copy.deepcopy(args)
    kwargs = copy.deepcopy(kwargs)
    try:
        out = fn(*args, **kwargs)
    except NotImplementedError:
        raise NotDone(
            f"`{name}` still raises NotImplementedError: replace the `raise NotImplementedError()` line with your code."
        ) from None
    except (CheckTimeout, KeyboardInterrupt):
        raise
    except (Exception, SystemExit) as exc:  # the student's bug becomes feedback, never a crash
        frame = _student_frame(exc.__traceback__)
        where = f" on the line `{frame.line.strip()}`" if frame is not None and frame.line else ""
        raise Incorrect(f"`{name}` raised {type(exc).__name__}: {exc}{where}. Fix that error and run the check again.") from None
    if out is None or out is Ellipsis:
        raise NotDone(
            f"`{name}` returned {'None' if out is None else '...'}: if you have written it, make sure it ends with "
            "`return <your result>`."
        )
    return out


def as_array(value: Any) -> Any:
    """The student's result as a numpy array (numpy arrays, lists, numbers, torch tensors)."""
    import numpy as np

    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def close(got: Any, expected: Any, *, atol: float = 1e-4, rtol: float = 1e-4) -> bool:
    """True when ``got`` matches ``expected`` in shape and values (for spotting known mistakes).

    Examples
    --------
    >>> close([1.0, 2.0], [1.0, 2.00001])
    True
    """
    import numpy as np

    try:
        a, b = as_array(got).astype(float), as_array(expected).astype(float)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True))


def expect_close(got: Any, expected: Any, what: str, *, atol: float = 1e-4, rtol: float = 1e-4) -> None:
    """Raise :class:`Incorrect` unless ``got`` matches ``expected`` (shape, finiteness, values).

    Examples
    --------
    >>> expect_close([1.0, 2.0], [1.0, 2.0], "the HU values")
    >>> try:
    ...     expect_close([1.0, 5.0], [1.0, 2.0], "the HU values")
    ... except Incorrect as e:
    ...     print(e.message.split(":")[0])
    Some of the HU values are off
    """
    import numpy as np

    try:
        a = as_array(got).astype(float)
    except (TypeError, ValueError):
        raise Incorrect(f"{what.capitalize()} should be numbers (an array), but got a {type(got).__name__}.") from None
    b = as_array(expected).astype(float)
    if a.shape != b.shape:
        raise Incorrect(f"{what.capitalize()} should have shape {b.shape}, but yours has shape {a.shape}.")
    if not np.all(np.isfinite(a) | ~np.isfinite(b)):
        raise Incorrect(f"{what.capitalize()} contain NaN or infinite values: look for a division by zero.")
    bad = ~np.isclose(a, b, atol=atol, rtol=rtol, equal_nan=True)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at position {idx}" if a.ndim else ""
        raise Incorrect(
            f"Some of {what} are off: {int(bad.sum())} of {a.size} values differ, e.g.{where} yours is "
            f"{a[idx] if a.ndim else float(a):.6g} but it should be {b[idx] if b.ndim else float(b):.6g}."
        )


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Stop the student's code after ``seconds`` (main thread on Unix; elsewhere no limit)."""
    usable = (
        seconds
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _alarm(signum, frame):
        raise CheckTimeout()

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------- running checks


def _rng(grade_id: str, seed: Optional[int]):
    import numpy as np

    if seed is None and os.environ.get(SEED_ENV):
        seed = int(os.environ[SEED_ENV])
    if seed is None:
        return np.random.default_rng()  # fresh inputs every run: nothing to copy from a previous output
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, registry.hash_id(grade_id)])


def run_check(grade_id: str, *answers: Any, seed: Optional[int] = None) -> CheckResult:
    """Run one registered check and return its :class:`CheckResult` (no display, no recording).

    Parameters
    ----------
    grade_id
        The registered id (see :func:`radnb.grading.registry.all_checks`).
    *answers
        The student's objects, in the order of the check's ``inputs``.
    seed
        Seed for the fresh inputs (default: new random inputs every time,
        or ``RADNB_GRADING_SEED`` when set).

    Examples
    --------
    >>> def to_hu(stored, slope, intercept):
    ...     return stored * slope + intercept
    >>> run_check("hu_conversion", to_hu).status
    'pass'
    """
    start = time.perf_counter()
    limit = 0.0
    try:
        item = registry.get(grade_id)
    except registry.UnknownCheckError as exc:
        return CheckResult(grade_id, grade_id, "", "code", "error", 0.0, 0.0, str(exc))
    status, fraction, message = "error", 0.0, ""
    try:
        if len(answers) != len(item.inputs):
            wanted = ", ".join(item.inputs)
            raise Incorrect(
                f"This check needs {len(item.inputs)} thing(s) from your notebook ({wanted}) but got {len(answers)}. "
                f"The check cell should read: check({grade_id!r}, {wanted})."
            )
        limit = float(os.environ.get(CHECK_TIMEOUT_ENV) or item.timeout)
        with time_limit(limit):
            if isinstance(item, registry.Quiz):
                answer = answers[0]
                if callable(answer):
                    answer = call(answer)
                elif answer is None or answer is Ellipsis:
                    raise NotDone("No answer yet.")
                status, fraction, message = _judge_quiz(item, answer)
            else:
                outcome = item.func(*answers, rng=_rng(grade_id, seed))
                status, fraction = "pass", 1.0
                message = outcome if isinstance(outcome, str) and outcome else "Well done: it works on new inputs too."
    except NotDone as exc:
        status, fraction = "not_done", 0.0
        message = "Not done yet: complete the exercise above, run its cell, then run this check again."
        if exc.message:
            message += f" ({exc.message})"
    except Incorrect as exc:
        fraction = exc.score
        status = "partial" if 0 < fraction < 1 else ("pass" if fraction >= 1 else "fail")
        message = exc.message
    except CheckTimeout:
        status, fraction = "fail", 0.0
        message = (
            f"Your code was still running after {limit:g} s on a small test input: look for an endless loop "
            "(a `while` whose condition never becomes false)."
        )
    except KeyboardInterrupt:
        status, fraction, message = "not_done", 0.0, "The check was interrupted before it finished."
    except Exception as exc:  # a bug in the check itself: say so, never crash the notebook
        status, fraction = "error", 0.0
        message = (
            f"The check itself failed ({type(exc).__name__}: {exc}). This is a problem in radnb, not in your "
            "answer: please report it to your instructor together with `radnb doctor`'s output."
        )
    return CheckResult(
        grade_id=grade_id,
        title=item.title,
        notebook=item.notebook,
        kind=item.kind,
        status=status,
        score=round(item.points * fraction, 4),
        points=item.points,
        message=message,
        seconds=round(time.perf_counter() - start, 4),
    )


def _show(obj: Any) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display(obj)
            return
    except ImportError:
        pass
    print(str(obj))


def _nbgrader_strict(result: CheckResult) -> None:
    if os.environ.get(NBGRADER_ENV) and result.status != "pass":
        raise AssertionError(f"{result.grade_id}: {result.message}")


def check(grade_id: str, *answers: Any) -> None:
    """Check an exercise, show teaching feedback and record the result.

    Never raises into the notebook (except under nbgrader's autograder, where a
    failed check raises ``AssertionError`` so nbgrader withholds the points).

    Parameters
    ----------
    grade_id
        The exercise's id, e.g. ``"hu_conversion"``.
    *answers
        What the student wrote, usually their function: ``check("hu_conversion", to_hu)``.

    Examples
    --------
    >>> def to_hu(stored, slope, intercept):
    ...     raise NotImplementedError()
    >>> check("hu_conversion", to_hu)  # doctest: +ELLIPSIS
    [NOT DONE] Convert stored values to HU (0/2): Not done yet: ...
    """
    result = run_check(grade_id, *answers)
    _record(result)
    _show(result)
    _nbgrader_strict(result)


def quiz(grade_id: str, answer: Any = None) -> None:
    """Show a quiz question as a widget, and check and record the saved answer.

    Parameters
    ----------
    grade_id
        The question's id, e.g. ``"choose_preset"``.
    answer
        The student's answer function (``answer_choose_preset``) or value.
        Clicking in the widget gives instant feedback for practice; the answer
        that counts is the one the function returns, because that is saved in
        the notebook.

    Examples
    --------
    >>> def answer_welcome_device():
    ...     return "cpu"
    >>> quiz("welcome_device", answer_welcome_device)  # doctest: +ELLIPSIS
    Quiz: ...
    """
    item = registry.get(grade_id) if _known(grade_id) else None
    result = run_check(grade_id, answer)
    _record(result)
    if isinstance(item, registry.Quiz):
        from .widgets import show_quiz

        show_quiz(item, result)
    else:
        _show(result)
    _nbgrader_strict(result)


def _known(grade_id: str) -> bool:
    try:
        registry.get(grade_id)
        return True
    except registry.UnknownCheckError:
        return False


# --------------------------------------------------------------------------- score table


@dataclass
class ScoreTable:
    """Per-exercise results of one notebook (or of the whole session)."""

    rows: List[CheckResult]
    notebook: Optional[str] = None

    @property
    def earned(self) -> float:
        return round(sum(r.score for r in self.rows), 4)

    @property
    def possible(self) -> float:
        return round(sum(r.points for r in self.rows), 4)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "notebook": self.notebook,
            "earned": self.earned,
            "possible": self.possible,
            "results": [r.to_dict() for r in self.rows],
        }

    def __str__(self) -> str:
        width = max([len(r.title) for r in self.rows] + [8])
        lines = [f"{'Exercise'.ljust(width)}  {'Result':12s} Points"]
        for r in self.rows:
            lines.append(f"{r.title.ljust(width)}  {_LABELS[r.status][1]:12s} {_fmt(r.score)}/{_fmt(r.points)}")
        lines.append(f"{'Total'.ljust(width)}  {'':12s} {_fmt(self.earned)}/{_fmt(self.possible)}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include=None, exclude=None) -> Dict[str, Any]:
        rows = "".join(
            f"<tr><td>{html.escape(r.title)}</td><td style='color:{_COLOURS[r.status]}'>{_LABELS[r.status][0]}</td>"
            f"<td style='text-align:right'>{_fmt(r.score)}/{_fmt(r.points)}</td></tr>"
            for r in self.rows
        )
        table = (
            "<table class='radnb-score'><thead><tr><th style='text-align:left'>Exercise</th><th>Result</th>"
            f"<th>Points</th></tr></thead><tbody>{rows}</tbody><tfoot><tr><th style='text-align:left'>Total</th>"
            f"<th></th><th style='text-align:right'>{_fmt(self.earned)}/{_fmt(self.possible)}</th></tr></tfoot></table>"
        )
        return {
            "text/plain": str(self),
            "text/html": table,
            "application/vnd.radnb.score+json": self.to_dict(),
        }


def score_table(notebook: Any = None) -> ScoreTable:
    """Results per exercise: every registered exercise of ``notebook`` (attempted or not),
    or, without a notebook, everything checked in this session.

    Examples
    --------
    >>> from radnb import grading
    >>> grading.reset()
    >>> grading.score_table("00").earned
    0.0
    """
    if notebook is None:
        return ScoreTable(list(_RESULTS.values()))
    rows = []
    for item in registry.all_checks(notebook):
        got = _RESULTS.get(item.grade_id)
        if got is None:
            got = CheckResult(
                item.grade_id, item.title, item.notebook, item.kind, "not_done", 0.0, item.points,
                "Not checked yet: run the exercise's check cell.",
            )
        rows.append(got)
    return ScoreTable(rows, registry.notebook_key(notebook))


def score(notebook: Any = None) -> None:
    """Show the score per exercise (the last cell of every graded notebook).

    Examples
    --------
    >>> from radnb import grading
    >>> grading.reset(); grading.score("00")  # doctest: +ELLIPSIS
    Exercise ...
    """
    _show(score_table(notebook))


# --------------------------------------------------------------------------- the grader's entry point


def grade_namespace(
    namespace: Dict[str, Any], grade_ids: Sequence[str], out: Union[str, Path], seed: Optional[int] = None
) -> List[CheckResult]:
    """Re-run the package's checks on the objects a submission defined.

    The grader appends a cell calling this (with freshly imported radnb modules)
    to every submitted notebook: it trusts neither the student's check cells nor
    their outputs, only the functions and answers their code defined.
    """
    found = []
    for grade_id in grade_ids:
        try:
            item = registry.get(grade_id)
        except registry.UnknownCheckError as exc:
            found.append(CheckResult(grade_id, grade_id, "", "code", "error", 0.0, 0.0, str(exc)))
            write_results(out, found)
            continue
        missing = [name for name in item.inputs if name not in namespace]
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            found.append(
                CheckResult(
                    grade_id, item.title, item.notebook, item.kind, "not_done", 0.0, item.points,
                    f"{names} is not defined in the submitted notebook (its cell was deleted, renamed or did not run).",
                )
            )
            write_results(out, found)
            continue
        found.append(run_check(grade_id, *[namespace[name] for name in item.inputs], seed=seed))
        write_results(out, found)  # after each check, so a crash in a later one keeps these
    write_results(out, found)
    return found
