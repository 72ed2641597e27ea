"""Checks for notebook 00 (Welcome): a first function and a first quiz.

Exercises
---------
``welcome_size_mm``
    ``size_in_mm(n_pixels, pixel_spacing_mm)``: how long a structure that spans
    ``n_pixels`` pixels really is, given the pixel spacing in millimetres.
``welcome_device`` (quiz)
    ``answer_welcome_device()`` returns what radnb does when no GPU is present.
"""
from __future__ import annotations

from ..core import Incorrect, call, close
from ..registry import register, register_quiz


@register("welcome_size_mm", inputs=["size_in_mm"], points=1, title="Pixels to millimetres")
def check_size_in_mm(size_in_mm, *, rng):
    """Behaviour on fresh spans and spacings (whole pixels, sub-millimetre spacing, arrays)."""
    import numpy as np

    cases = [
        (int(rng.integers(5, 60)), float(rng.choice([0.5, 0.7, 0.8]) + rng.integers(0, 3) * 0.1)),
        (int(rng.integers(60, 300)), float(round(rng.uniform(0.3, 1.5), 3))),
    ]
    for n_pixels, spacing in cases:
        got = call(size_in_mm, n_pixels, spacing)
        expected = n_pixels * spacing
        if close(got, expected, atol=1e-6):
            continue
        if close(got, n_pixels, atol=1e-6):
            raise Incorrect(
                f"For {n_pixels} pixels at {spacing} mm per pixel you returned {n_pixels}: that is still the number "
                "of pixels. Multiply by the pixel spacing to get millimetres."
            )
        if close(got, n_pixels / spacing, atol=1e-6):
            raise Incorrect(
                f"You divided by the spacing. Each pixel is {spacing} mm wide, so {n_pixels} pixels span "
                f"{n_pixels} × {spacing} mm: multiply instead."
            )
        if close(got, n_pixels + spacing, atol=1e-6):
            raise Incorrect("You added the spacing to the pixel count; multiply them instead.")
        try:
            shown = f"{float(np.asarray(got)):.4g}"
        except (TypeError, ValueError):
            shown = repr(got)
        raise Incorrect(
            f"For {n_pixels} pixels with a spacing of {spacing} mm, your function returned {shown}. "
            "Think of a ruler: how many millimetres do that many pixels cover?"
        )
    # the same formula must work element-wise on a numpy array of spans
    spans = rng.integers(1, 200, size=4)
    spacing = float(round(rng.uniform(0.4, 1.0), 3))
    got = call(size_in_mm, spans, spacing)
    if not close(got, spans * spacing, atol=1e-6):
        raise Incorrect(
            "Your function works for one number but not for a numpy array of pixel counts. Use plain arithmetic "
            "(`*`) rather than `int()`/`round()` or a loop that keeps only one value.",
            score=0.5,
        )
    return None


register_quiz(
    "welcome_device",
    question="On a computer without a GPU, what does radnb do when you train a model?",
    options={
        "error": "It stops with an error: deep learning needs a GPU.",
        "cpu": "It trains on the CPU, with smaller and faster settings.",
        "cloud": "It uploads the images to a cloud GPU.",
    },
    correct="cpu",
    feedback={
        "error": "No: radnb checks for a GPU with `radnb.device_info()` and falls back to the CPU.",
        "cpu": "Right: it uses the CPU and the notebooks' FAST settings (fewer epochs, smaller images).",
        "cloud": "No: radnb never sends your images anywhere; everything runs on the machine you are using.",
    },
    points=1,
    title="GPU or CPU?",
)
