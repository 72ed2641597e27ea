"""Notebook 03's checks (trainable parameters, discriminative learning rates, best epoch, quizzes)."""
from __future__ import annotations

import numpy as np
import pytest
import torch.nn as nn

from radnb import grading
from radnb.grading.checks import nb03_transfer as nb03


pytestmark = pytest.mark.usefixtures("fresh_grading_session")


def count_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def discriminative_lrs(lr_low, lr_high, n_groups):
    return list(np.geomspace(lr_low, lr_high, n_groups))


def lrs_by_multiplying(lr_low, lr_high, n_groups):
    step = (lr_high / lr_low) ** (1 / (n_groups - 1))
    return [lr_low * step ** k for k in range(n_groups)]


def best_epoch(valid_losses):
    return int(np.argmin(valid_losses))


def best_epoch_loop(valid_losses):
    best = 0
    for k, loss in enumerate(valid_losses):
        if loss < valid_losses[best]:
            best = k
    return best


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("grade_id, answer", [
    ("trainable_params", count_trainable), ("discriminative_lrs", discriminative_lrs),
    ("discriminative_lrs", lrs_by_multiplying), ("best_epoch", best_epoch), ("best_epoch", best_epoch_loop),
])
def test_right_answers_pass(seed, grade_id, answer):
    result = grading.run_check(grade_id, answer, seed=seed)
    assert result.status == "pass", result.message
    assert result.seconds < 5


def test_unfinished_exercises_are_not_done():
    def placeholder(*args):
        raise NotImplementedError()

    for gid in ("trainable_params", "discriminative_lrs", "best_epoch"):
        assert grading.run_check(gid, placeholder, seed=0).status == "not_done"


def test_reference_counts_match_fastai_freeze():
    """What the notebook shows on a real learner: freezing leaves only the head (and batch norm) trainable."""
    from fastai.torch_core import params

    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    model[0].weight.requires_grad_(False)
    assert nb03.reference_trainable(model) == 3 + 3 * 2 + 2
    assert nb03.reference_trainable(model) == sum(p.numel() for p in params(model) if p.requires_grad)


@pytest.mark.parametrize("wrong, words", [
    (lambda m: sum(p.numel() for p in m.parameters()), "counted all"),
    (lambda m: len([p for p in m.parameters() if p.requires_grad]), "tensors"),
    (lambda m: sum(p.numel() for p in m.parameters() if not p.requires_grad), "frozen parameters"),
])
def test_trainable_mistakes(wrong, words):
    result = grading.run_check("trainable_params", wrong, seed=1)
    assert result.status == "fail" and words in result.message


def test_lr_mistakes():
    linear = grading.run_check("discriminative_lrs", lambda a, b, n: list(np.linspace(a, b, n)), seed=0)
    assert linear.status == "partial" and "geomspace" in linear.message
    reverse = grading.run_check("discriminative_lrs", lambda a, b, n: discriminative_lrs(a, b, n)[::-1], seed=0)
    assert reverse.status == "fail" and "high to low" in reverse.message
    short = grading.run_check("discriminative_lrs", lambda a, b, n: [a, b], seed=0)
    assert short.status == "fail" and "one learning rate per layer group" in short.message


def test_reference_lrs_match_fastai():
    from fastai.torch_core import even_mults

    assert np.allclose(nb03.reference_lrs(1e-5, 1e-3, 4), even_mults(1e-5, 1e-3, 4))


@pytest.mark.parametrize("wrong, status, words", [
    (lambda v: min(v), "fail", "lowest loss itself"),
    (lambda v: int(np.argmin(v)) + 1, "fail", "Off by one"),
    (lambda v: len(v) - 1, "fail", "last epoch"),
    (lambda v: int(np.argmax(v)), "fail", "highest"),
    (lambda v: len(v) - 1 - int(np.argmin(np.asarray(v)[::-1])), "partial", "earlier one"),
])
def test_best_epoch_mistakes(wrong, status, words):
    result = grading.run_check("best_epoch", wrong, seed=2)
    assert result.status == status and words in result.message


def test_quizzes():
    assert grading.run_check("freeze_head_first", lambda: "protect").status == "pass"
    assert grading.run_check("freeze_head_first", lambda: "forever").status == "fail"
    assert grading.run_check("pretrained_small_data", lambda: "small").status == "pass"
    assert grading.run_check("pretrained_small_data", lambda: "large").status == "fail"


def test_registered_for_notebook_03():
    ids = [c.grade_id for c in grading.all_checks("03")]
    assert ids == ["trainable_params", "discriminative_lrs", "best_epoch", "freeze_head_first", "pretrained_small_data"]
    assert sum(c.points for c in grading.all_checks("03")) == 7
