"""What one check found (:class:`CheckResult`) and how it is worded, below both the check
runner (:mod:`radnb.grading.core`) and the quiz widget (:mod:`radnb.grading.widgets`),
so neither imports the other to share it.

Examples
--------
>>> r = CheckResult("x", "An exercise", "00", "code", "pass", 1.0, 1.0, "Use `np.mean`.")
>>> str(r)
'[PASS] An exercise (1/1): Use `np.mean`.'
>>> "<code>np.mean</code>" in r._repr_html_()
True
"""
from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass
from typing import Any, Dict, Tuple

from . import registry

STATUSES = ("pass", "partial", "fail", "not_done", "error")


@dataclass
class CheckResult:
    """The outcome of one check.

    Attributes
    ----------
    grade_id, title, notebook, kind
        Which exercise (``kind`` is ``"code"`` or ``"quiz"``).
    status
        ``"pass"``, ``"partial"``, ``"fail"``, ``"not_done"`` or ``"error"`` (a bug in the check).
    score, points
        Points earned and points possible.
    message
        The feedback shown to the student.
    seconds
        How long the check took.
    """

    grade_id: str
    title: str
    notebook: str
    kind: str
    status: str
    score: float
    points: float
    message: str
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        label = _LABELS[self.status][1]
        return f"{label} {self.title} ({_fmt(self.score)}/{_fmt(self.points)}): {self.message}"

    def _repr_html_(self) -> str:
        colour, label = _COLOURS[self.status], _LABELS[self.status][0]
        return (
            f'<div class="radnb-check radnb-{self.status}" style="border-left:6px solid {colour};'
            f'padding:6px 10px;margin:4px 0;background:{colour}14">'
            f"<b>{label}</b> &nbsp;<i>{html.escape(self.title)}</i> &nbsp;"
            f"<span style='opacity:.75'>({_fmt(self.score)}/{_fmt(self.points)} points)</span>"
            f"<div style='margin-top:4px'>{_markup(self.message)}</div></div>"
        )


_COLOURS = {"pass": "#1a7f37", "partial": "#9a6700", "fail": "#cf222e", "not_done": "#0969da", "error": "#8250df"}
_LABELS = {
    "pass": ("✔ Correct", "[PASS]"),
    "partial": ("◐ Partly right", "[PARTIAL]"),
    "fail": ("✘ Not yet right", "[FAIL]"),
    "not_done": ("… Not done yet", "[NOT DONE]"),
    "error": ("⚠ Check could not run", "[ERROR]"),
}


def _fmt(x: float) -> str:
    return f"{x:g}"


def _markup(message: str) -> str:
    """Escape a message and show `backticks` as code."""
    text = html.escape(message)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text).replace("\n", "<br>")


def _normalise_answer(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.strip().lower().replace("_", " ").split())
    return value


def _judge_quiz(item: registry.Quiz, answer: Any) -> Tuple[str, float, str]:
    explain = ""
    if callable(item.correct):
        try:
            ok = bool(item.correct(answer))
        except Exception:  # e.g. float("about five"): the answer's form is wrong, not the check
            ok = False
            explain = f"radnb could not read {answer!r} as an answer to this question."
    else:
        wanted = {_normalise_answer(c) for c in item.correct}
        given = _normalise_answer(answer)
        # accept the key ("lung") or the option's label text
        keys = {_normalise_answer(k): k for k in item.options}
        labels = {_normalise_answer(v): k for k, v in item.options.items()}
        key = keys.get(given) or labels.get(given)
        if item.options and key is None and isinstance(answer, str):
            choices = ", ".join(f'"{k}"' for k in item.options)
            return "fail", 0.0, f"{answer!r} is not one of the choices. Return one of: {choices}."
        ok = _normalise_answer(key if key is not None else answer) in wanted
        explain = item.feedback.get(key, "") if key is not None else ""
    if ok:
        return "pass", 1.0, explain or "That's right."
    msg = explain or "That is not the best answer."
    if item.hint:
        msg += f" Hint: {item.hint}"
    return "fail", 0.0, msg
