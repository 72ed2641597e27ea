"""Checks for notebook 03 (Transfer learning).

Exercises (the student's function, then the grade id)
-----------------------------------------------------
``count_trainable(model)`` -> ``trainable_params``
    The number of parameters (numbers, not tensors) that training would change,
    i.e. of the parameters with ``requires_grad`` set; checked on fresh small
    PyTorch models with some layers frozen.
``discriminative_lrs(lr_low, lr_high, n_groups)`` -> ``discriminative_lrs``
    One learning rate per layer group, from ``lr_low`` (first, earliest layers)
    to ``lr_high`` (last, the head), evenly spaced on a log scale (each a fixed
    multiple of the one before), as fastai does for ``slice(lr_low, lr_high)``.
``best_epoch(valid_losses)`` -> ``best_epoch``
    The (0-based) epoch with the lowest validation loss; the earliest on ties.
``answer_freeze_head_first()`` -> ``freeze_head_first`` (quiz)
    Why a pretrained model is first trained with its body frozen.
``answer_pretrained_small_data()`` -> ``pretrained_small_data`` (quiz)
    When pretraining helps most.
"""
from __future__ import annotations

from typing import List

import numpy as np

from ..core import Incorrect, as_array, call, close
from ..registry import register, register_quiz


# ------------------------------------------------------------------ trainable parameters
def _tiny_model(rng: np.random.Generator):
    """A small CNN (conv/batch-norm body, linear head) with fresh sizes."""
    import torch.nn as nn

    c1, c2 = int(rng.integers(2, 9)), int(rng.integers(4, 13))
    k = int(rng.choice([3, 5]))
    n_out = int(rng.integers(2, 5))
    body = nn.Sequential(
        nn.Conv2d(int(rng.choice([1, 3])), c1, k, padding=k // 2), nn.BatchNorm2d(c1), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, padding=1, bias=bool(rng.integers(0, 2))), nn.BatchNorm2d(c2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    head = nn.Sequential(nn.Linear(c2, int(rng.integers(3, 9))), nn.ReLU())
    head.append(nn.Linear(head[0].out_features, n_out))
    return nn.Sequential(body, head)


def reference_trainable(model) -> int:
    """Number of trainable parameter values (elements of tensors with ``requires_grad``).

    Examples
    --------
    >>> import torch.nn as nn
    >>> m = nn.Linear(3, 2); m.bias.requires_grad_(False)  # doctest: +ELLIPSIS
    Parameter containing:...
    >>> reference_trainable(m)
    6
    """
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


@register("trainable_params", inputs=["count_trainable"], points=2, title="Count trainable parameters")
def check_trainable_params(count_trainable, *, rng):
    for state in ("frozen_body", "unfrozen", "frozen_all_but_last"):
        model = _tiny_model(rng)
        if state == "frozen_body":
            for p in model[0].parameters():
                p.requires_grad_(False)
        elif state == "frozen_all_but_last":
            for p in list(model.parameters())[:-2]:
                p.requires_grad_(False)
        expected = reference_trainable(model)
        total = int(sum(p.numel() for p in model.parameters()))
        got = call(count_trainable, model)
        try:
            value = float(np.asarray(as_array(got)).reshape(-1)[0]) if np.size(got) == 1 else None
        except (TypeError, ValueError):
            value = None
        if value is None:
            raise Incorrect(f"Return one whole number, the count; you returned a {type(got).__name__}.")
        if value == expected:
            continue
        where = {"frozen_body": "with its body frozen", "unfrozen": "with nothing frozen",
                 "frozen_all_but_last": "with everything but the last layer frozen"}[state]
        n_tensors = sum(1 for p in model.parameters() if p.requires_grad)
        if value == total and total != expected:
            raise Incorrect(
                f"For a model {where} you counted all {total} parameters, but only {expected} can be trained. "
                "Count only the parameters whose `p.requires_grad` is True."
            )
        if value == total - expected and expected != total - expected:
            raise Incorrect(
                f"You counted the frozen parameters ({int(value)}); count the trainable ones (`p.requires_grad` "
                f"True): {expected} for this model {where}."
            )
        if value == n_tensors:
            raise Incorrect(
                f"You counted {n_tensors} parameter *tensors* (weights and biases). Count the numbers inside them: "
                "`p.numel()` gives the size of each tensor."
            )
        raise Incorrect(
            f"For a small model {where} you returned {value:g}, but {expected} of its {total} parameters are "
            "trainable. Loop over `model.parameters()`, keep those with `p.requires_grad`, and add up `p.numel()`."
        )
    return None


# ------------------------------------------------------------------ discriminative learning rates
def reference_lrs(lr_low: float, lr_high: float, n_groups: int) -> np.ndarray:
    """Learning rates spaced evenly on a log scale from ``lr_low`` to ``lr_high`` (fastai's ``even_mults``).

    Examples
    --------
    >>> reference_lrs(1e-5, 1e-3, 3).tolist()
    [1e-05, 0.0001, 0.001]
    """
    if n_groups == 1:
        return np.array([lr_high])
    return np.geomspace(lr_low, lr_high, n_groups)


@register("discriminative_lrs", inputs=["discriminative_lrs"], points=2, title="Discriminative learning rates")
def check_discriminative_lrs(discriminative_lrs, *, rng):
    cases = [(1e-5, 1e-3, 3)]
    for _ in range(2):
        high = float(10 ** rng.uniform(-3.5, -2)) * float(rng.choice([1, 3]))
        low = high / float(rng.choice([20, 50, 100, 300]))
        cases.append((round(low, 10), round(high, 10), int(rng.integers(3, 7))))
    for low, high, n in cases:
        got = call(discriminative_lrs, low, high, n)
        try:
            arr = as_array(got).astype(float).reshape(-1)
        except (TypeError, ValueError):
            raise Incorrect(f"Return a list of {n} learning rates (numbers); you returned a {type(got).__name__}.")
        expected = reference_lrs(low, high, n)
        setting = f"discriminative_lrs({low:.3g}, {high:.3g}, {n})"
        if len(arr) != n:
            raise Incorrect(f"{setting} should give one learning rate per layer group, {n} in all, not {len(arr)}.")
        if close(arr, expected, rtol=1e-6, atol=0):
            continue
        if close(arr, expected[::-1], rtol=1e-6, atol=0):
            raise Incorrect(
                f"Your rates run from high to low. The earliest layers (general edges and textures) should change "
                f"least: start at lr_low ({low:.3g}) and end at lr_high ({high:.3g}) for the head."
            )
        if close(arr, np.linspace(low, high, n), rtol=1e-6, atol=0):
            raise Incorrect(
                f"Your rates are evenly spaced in plain steps ({setting} gave {np.round(arr, 8).tolist()}). Space them "
                "on a log scale instead, so each is the same *multiple* of the one before: try `np.geomspace`.",
                score=0.5,
            )
        if not (close(arr[0], low, rtol=1e-6, atol=0) and close(arr[-1], high, rtol=1e-6, atol=0)):
            raise Incorrect(
                f"{setting}: the first rate should be lr_low ({low:.3g}) and the last lr_high ({high:.3g}); yours "
                f"run from {arr[0]:.3g} to {arr[-1]:.3g}."
            )
        raise Incorrect(
            f"{setting} gave {[float(f'{v:.3g}') for v in arr]}, but should give "
            f"{[float(f'{v:.3g}') for v in expected]}: each rate a constant multiple of the one before."
        )
    return None


# ------------------------------------------------------------------ best epoch
def _learning_curve(rng: np.random.Generator) -> List[float]:
    """A validation-loss curve that falls, bottoms out and rises (overfitting), with noise."""
    n = int(rng.integers(8, 16))
    best = int(rng.integers(2, n - 3))
    epochs = np.arange(n)
    curve = 0.35 + 0.5 * np.exp(-epochs / max(best / 2, 1)) + 0.03 * np.clip(epochs - best, 0, None) ** 1.3
    curve = curve + rng.normal(0, 0.004, n)
    curve[best] = curve.min() - 0.01  # a clear minimum, not at the end
    return [round(float(v), 4) for v in curve]


@register("best_epoch", inputs=["best_epoch"], points=1, title="Pick the best epoch")
def check_best_epoch(best_epoch, *, rng):
    curves = [_learning_curve(rng) for _ in range(3)]
    tie = _learning_curve(rng)
    k = int(np.argmin(tie))
    tie[k + 2] = tie[k]  # a later epoch equally good: the earlier one is the better choice
    curves.append(tie)
    for i, curve in enumerate(curves):
        got = call(best_epoch, list(curve) if i % 2 == 0 else np.array(curve))
        expected = int(np.argmin(curve))
        try:
            value = float(np.asarray(got).reshape(-1)[0]) if np.size(got) == 1 else None
        except (TypeError, ValueError):
            value = None
        if value is None:
            raise Incorrect(f"Return one number, the epoch; you returned a {type(got).__name__}.")
        if value == expected:
            continue
        if close(value, min(curve), atol=1e-9):
            raise Incorrect("You returned the lowest loss itself; return its *epoch* (its position in the list).")
        if value == expected + 1:
            raise Incorrect(
                "Off by one: count epochs from 0 like Python lists (and fastai's table), so the first epoch is 0."
            )
        if value == len(curve) - 1:
            raise Incorrect(
                "You returned the last epoch. The validation loss rose again after its minimum (overfitting): pick "
                "the epoch where it was lowest."
            )
        if value == int(np.argmax(curve)):
            raise Incorrect("You picked the epoch with the *highest* loss; lower is better.")
        if i == len(curves) - 1 and curve[int(value)] == curve[expected]:
            raise Incorrect(
                f"Epochs {expected} and {int(value)} tie for the lowest loss; take the earlier one (fewer epochs, the "
                "same result). `np.argmin` does that.",
                score=0.5,
            )
        raise Incorrect(
            f"For the losses {curve} the best epoch is {expected} (loss {curve[expected]}), not {value:g}."
        )
    return None


# ------------------------------------------------------------------ quizzes
register_quiz(
    "freeze_head_first",
    question=(
        "A pretrained model gets a new, randomly initialised head for your task. Why does fastai's fine_tune first "
        "train with the pretrained body frozen?"
    ),
    options={
        "protect": "So the large, random errors of the new head do not wreck the pretrained features before the head "
        "has learned something sensible.",
        "speed": "Only to save time; accuracy would be the same.",
        "forever": "Because pretrained layers must never change.",
        "memory": "Because the whole model does not fit in memory.",
    },
    correct="protect",
    feedback={
        "protect": "Right: once the head makes sensible predictions, unfreezing lets the body adapt gently, with "
        "small learning rates for the earliest layers.",
        "speed": "It is faster per epoch, but that is not the point: an untrained head sends large, noisy gradients "
        "back into the body.",
        "forever": "No: after the head is trained, fine_tune unfreezes everything and adapts the body too.",
        "memory": "No: a frozen body still has to run forward; freezing saves some memory, but that is not why.",
    },
    points=1,
    title="Why freeze first?",
)

register_quiz(
    "pretrained_small_data",
    question="When does starting from a pretrained model help most, compared with training from scratch?",
    options={
        "small": "When the target task has few labelled images (tens to hundreds).",
        "large": "When the target task has millions of labelled images.",
        "never": "Never for radiology: natural images and radiographs are too different.",
    },
    correct="small",
    feedback={
        "small": "Right: with little data the pretrained features (edges, textures, shapes) do much of the work; with "
        "plenty of data, training from scratch catches up.",
        "large": "With millions of images a model can learn good features itself; the head start matters most when "
        "labels are scarce.",
        "never": "Even ImageNet features transfer to radiographs (edges and textures are generic), and pretraining on "
        "related radiographs transfers better still.",
    },
    points=1,
    title="When does pretraining help?",
)
