"""The check registry: every graded exercise and quiz question, keyed by grade id.

Checks live in the installed package (``radnb/grading/checks/nbNN_topic.py``,
one module per notebook), never in the notebook, so a student cannot pass by
editing a cell, and the same checks work in Colab, Binder and JupyterLab.

Examples
--------
>>> from radnb.grading.registry import get
>>> get("hu_conversion").inputs
('to_hu',)
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import InvalidArgumentError, RadnbError, UnknownCheckError  # noqa: F401

GRADE_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_\-]+$")


@dataclass(frozen=True)
class Check:
    """A registered code exercise check.

    Attributes
    ----------
    grade_id
        Unique id; also the nbgrader ``grade_id`` of the notebook's check cell.
    func
        ``func(*student_objects, rng)``: returns ``None`` when everything is right,
        raises :class:`~radnb.grading.Incorrect` (teaching message, optional partial
        score) or :class:`~radnb.grading.NotDone`.
    inputs
        Names of the student's objects the check needs, in order (e.g. ``("to_hu",)``).
        The grader looks them up in the submission's namespace.
    points
        Points for the exercise (must equal the ``points`` of the notebook's grade cell).
    notebook
        Two-digit notebook number the check belongs to (``"01"``), from the module name.
    title
        Short human-readable name shown in the score table.
    timeout
        Seconds the check may run before it is stopped (student code with an endless loop).
    """

    grade_id: str
    func: Callable[..., Any]
    inputs: Tuple[str, ...]
    points: float
    notebook: str
    title: str
    timeout: float = 30.0
    kind: str = "code"
    module: str = ""


@dataclass(frozen=True)
class Quiz:
    """A registered multiple-choice or short-answer question.

    ``options`` maps an answer key (what the student returns, e.g. ``"lung"``)
    to the label shown on the widget. ``correct`` is the right key(s), or for a
    short answer a function ``correct(answer) -> bool``. ``feedback`` maps keys to
    an explanation shown when that answer is chosen (right or wrong).
    """

    grade_id: str
    question: str
    options: Dict[str, str]
    correct: Union[Tuple[str, ...], Callable[[Any], bool]]
    inputs: Tuple[str, ...]
    points: float
    notebook: str
    title: str
    feedback: Dict[str, str] = field(default_factory=dict)
    hint: str = ""
    timeout: float = 10.0
    kind: str = "quiz"
    module: str = ""


_REGISTRY: Dict[str, Union[Check, Quiz]] = {}
_IMPORT_ERRORS: Dict[str, str] = {}
_DISCOVERED = False


def hash_id(grade_id: str) -> int:
    """A stable 32-bit number for a grade id (seeds each check's own random stream).

    Examples
    --------
    >>> hash_id("hu_conversion") == hash_id("hu_conversion")
    True
    """
    import zlib

    return zlib.crc32(grade_id.encode("utf-8"))


def _notebook_of(module: str) -> str:
    """``radnb.grading.checks.nb01_dicom`` -> ``"01"``."""
    leaf = module.rsplit(".", 1)[-1]
    m = re.match(r"^nb(\d+)", leaf)
    return m.group(1) if m else leaf


def notebook_key(name: Any) -> str:
    """Normalise a notebook name to its number: ``"01_dicom.ipynb"`` -> ``"01"``.

    Examples
    --------
    >>> notebook_key("notebooks/00_welcome.ipynb"), notebook_key("nb03_train"), notebook_key(3)
    ('00', '03', '03')
    """
    if isinstance(name, int):
        return f"{name:02d}"
    leaf = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    m = re.match(r"^(?:nb)?(\d+)", leaf)
    return m.group(1) if m else leaf.rsplit(".", 1)[0]


def _add(item: Union[Check, Quiz]) -> None:
    if not GRADE_ID_PATTERN.match(item.grade_id):
        raise InvalidArgumentError(
            f"Grade id {item.grade_id!r} may only contain letters, digits, '_' and '-' (nbgrader's rule)."
        )
    old = _REGISTRY.get(item.grade_id)
    if old is not None and old.module != item.module:  # re-importing the same module is fine
        raise InvalidArgumentError(f"Grade id {item.grade_id!r} is registered twice (grade ids must be unique).")
    _REGISTRY[item.grade_id] = item


def register(
    grade_id: str,
    *,
    inputs: Sequence[str],
    points: float = 1,
    title: Optional[str] = None,
    timeout: float = 30.0,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator that registers a code-exercise check under ``grade_id``.

    The decorated function receives the student's objects (one per name in
    ``inputs``) and a keyword ``rng`` (a fresh ``numpy.random.Generator``) and
    checks their *behaviour* on inputs it makes itself.

    Examples
    --------
    >>> from radnb.grading import register, call, Incorrect
    >>> @register("doc_double", inputs=["double"], points=1, title="Double a number")
    ... def check_double(double, *, rng):
    ...     x = int(rng.integers(1, 100))
    ...     if call(double, x) != 2 * x:
    ...         raise Incorrect("double(x) should return x + x.")
    >>> from radnb.grading import run_check
    >>> run_check("doc_double", lambda x: 2 * x).status
    'pass'
    """
    def deco(func: Callable[..., Any]) -> Callable[..., Any]:
        _add(
            Check(
                grade_id=grade_id,
                func=func,
                inputs=tuple(inputs),
                points=float(points),
                notebook=_notebook_of(func.__module__),
                title=title or grade_id.replace("_", " "),
                timeout=float(timeout),
                module=func.__module__,
            )
        )
        return func

    return deco


def register_quiz(
    grade_id: str,
    *,
    question: str,
    correct: Union[str, Sequence[str], Callable[[Any], bool]],
    options: Optional[Dict[str, str]] = None,
    inputs: Optional[Sequence[str]] = None,
    points: float = 1,
    title: Optional[str] = None,
    feedback: Optional[Dict[str, str]] = None,
    hint: str = "",
    module: Optional[str] = None,
) -> Quiz:
    """Register a multiple-choice (``options``) or short-answer question.

    The student answers in a small function ``answer_<grade_id>()`` that
    returns their choice (default input name), so the answer is saved in the
    notebook and survives nbgrader's release; :func:`radnb.grading.quiz` shows
    the question as a widget too.

    Examples
    --------
    >>> q = register_quiz("doc_colour", question="Colour of the sky?", correct="blue",
    ...                   options={"blue": "Blue", "green": "Green"}, module="nb99_doc")
    >>> q.inputs, q.notebook
    (('answer_doc_colour',), '99')
    """
    if module is None:
        import inspect

        frame = inspect.currentframe()
        module = frame.f_back.f_globals.get("__name__", "") if frame and frame.f_back else ""
    if isinstance(correct, str):
        correct_value: Union[Tuple[str, ...], Callable[[Any], bool]] = (correct,)
    elif callable(correct):
        correct_value = correct
    else:
        correct_value = tuple(correct)
    if options and not callable(correct_value):
        missing = [c for c in correct_value if c not in options]
        if missing:
            raise InvalidArgumentError(f"Quiz {grade_id!r}: correct answer(s) {missing} are not among the options.")
    quiz = Quiz(
        grade_id=grade_id,
        question=question,
        options=dict(options or {}),
        correct=correct_value,
        inputs=tuple(inputs) if inputs else (f"answer_{grade_id}",),
        points=float(points),
        notebook=_notebook_of(module or ""),
        title=title or grade_id.replace("_", " "),
        feedback=dict(feedback or {}),
        hint=hint,
        module=module or "",
    )
    _add(quiz)
    return quiz


def discover() -> Dict[str, str]:
    """Import every module in :mod:`radnb.grading.checks` (once).

    A module that fails to import is remembered (and reported when one of its
    checks is asked for) instead of breaking every other notebook's checks.
    Returns ``{module: error}`` for the modules that failed.
    """
    global _DISCOVERED
    if not _DISCOVERED:
        from . import checks

        for info in pkgutil.iter_modules(checks.__path__):
            name = f"{checks.__name__}.{info.name}"
            try:
                importlib.import_module(name)
            except Exception as exc:  # keep the other notebooks' checks usable
                _IMPORT_ERRORS[name] = f"{type(exc).__name__}: {exc}"
        _DISCOVERED = True
    return dict(_IMPORT_ERRORS)


def get(grade_id: str) -> Union[Check, Quiz]:
    """The registered check or quiz for ``grade_id``.

    Raises
    ------
    UnknownCheckError
        With the list of known ids (and any check module that failed to import).
    """
    discover()
    try:
        return _REGISTRY[grade_id]
    except KeyError:
        broken = "".join(f"\n  (could not import {m}: {e})" for m, e in _IMPORT_ERRORS.items())
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownCheckError(
            f"There is no radnb check called {grade_id!r}. Check the spelling in the cell, or update radnb "
            f"(%pip install -U radnb). Known checks: {known}.{broken}"
        ) from None


def all_checks(notebook: Any = None) -> List[Union[Check, Quiz]]:
    """Every registered check (of one notebook, when given), in registration order.

    Examples
    --------
    >>> [c.grade_id for c in all_checks("00_welcome.ipynb")][:1]
    ['welcome_size_mm']
    """
    discover()
    items = list(_REGISTRY.values())
    if notebook is not None:
        key = notebook_key(notebook)
        items = [c for c in items if c.notebook == key]
    return items
