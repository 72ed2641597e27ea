"""The quiz widget: the question, its choices, a "Check" button and the feedback.

Built from plain ipywidgets (RadioButtons, Text, Button, HTML), which render in
JupyterLab 4, Notebook 7, VS Code and Colab without extra extensions.
"""
from __future__ import annotations

from typing import Any

from . import registry
from .results import _COLOURS, _LABELS, CheckResult, _judge_quiz, _markup


def _feedback_html(status: str, message: str, saved_hint: str = "") -> str:
    colour = _COLOURS[status]
    extra = f"<div style='margin-top:4px;opacity:.8'>{_markup(saved_hint)}</div>" if saved_hint else ""
    return (
        f"<div style='border-left:6px solid {colour};padding:4px 10px;background:{colour}14'>"
        f"<b>{_LABELS[status][0]}</b> {_markup(message)}{extra}</div>"
    )


def quiz_text(item: registry.Quiz, result: CheckResult) -> str:
    """Plain-text rendering of a quiz (outside Jupyter, or without ipywidgets).

    Examples
    --------
    >>> from radnb.grading.registry import get
    >>> from radnb.grading import run_check
    >>> print(quiz_text(get("welcome_device"), run_check("welcome_device", None)).splitlines()[0])
    Quiz: On a computer without a GPU, what does radnb do when you train a model?
    """
    lines = [f"Quiz: {item.question}"]
    for key, label in item.options.items():
        lines.append(f'  "{key}": {label}')
    lines.append(str(result))
    return "\n".join(lines)


def quiz_widget(item: registry.Quiz, result: CheckResult) -> Any:
    """An ipywidgets box for ``item``, showing ``result`` (the saved answer's outcome)."""
    import ipywidgets as W

    function = item.inputs[0]
    question = W.HTML(f"<b>Quiz:</b> {_markup(item.question)}")
    if item.options:
        chooser = W.RadioButtons(
            options=[(label, key) for key, label in item.options.items()],
            value=None,
            layout=W.Layout(width="max-content"),
        )
    else:
        chooser = W.Text(placeholder="type your answer")
    button = W.Button(description="Check", button_style="primary", icon="check")
    feedback = W.HTML(_feedback_html(result.status, result.message))

    def on_click(_):
        answer = chooser.value
        if answer in (None, ""):
            feedback.value = _feedback_html("not_done", "Choose an answer first.")
            return
        status, _, message = _judge_quiz(item, answer)
        hint = (
            f'To hand this answer in, make `{function}()` return "{answer}" and run its cell: '
            "clicking here is for practice and is not saved in the notebook."
        )
        feedback.value = _feedback_html(status, message, hint)

    button.on_click(on_click)
    box = W.VBox([question, chooser, button, feedback], layout=W.Layout(border="1px solid #d0d7de", padding="6px"))
    box.add_class("radnb-quiz")
    return box


def show_quiz(item: registry.Quiz, result: CheckResult) -> None:
    """Display the quiz as a widget in Jupyter, else as text."""
    try:
        from IPython import get_ipython

        in_ipython = get_ipython() is not None
    except ImportError:
        in_ipython = False
    if in_ipython:
        try:
            widget = quiz_widget(item, result)
        except ImportError:
            widget = None
        if widget is not None:
            from IPython.display import display

            # the widget, plus the quiz as plain text for where no widget can render (an exported
            # notebook, a viewer without widget support); JupyterLab prefers the widget
            if hasattr(widget, "_repr_mimebundle_"):  # ipywidgets 8
                bundle = widget._repr_mimebundle_() or {}
                bundle["text/plain"] = quiz_text(item, result)
                display(bundle, raw=True)
            else:  # ipywidgets 7 (Colab) displays itself through _ipython_display_
                display(widget)
            return
    print(quiz_text(item, result))
