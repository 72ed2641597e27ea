"""Self-supervised pretraining on the user's own unlabelled images (contrastive, SimCLR-style), with fastai.

Synthetic phantoms teach features of phantoms. The images a user already has -
even without a single label - are the closest source there is: a network that
learns to recognise two randomly cropped, rotated, re-exposed copies of the same
radiograph as "the same film" among all the others of a batch must encode what
films differ in (anatomy, texture, opacity), which is what the labelled task
needs. Chen et al. 2020 (SimCLR) describe the objective; it is written here in a
few lines of torch inside an ordinary fastai ``Learner`` (no new dependency).

:func:`pretrain_selfsupervised` returns a radnb model file, used exactly like one
from :func:`radnb.pretrain`: ``radnb.classifier(dls, pretrained=path)`` copies its
encoder and the learner starts frozen, ready for ``fine_tune``.

Examples
--------
>>> import torch
>>> z = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
>>> float(nt_xent(torch.cat([z, z]), temperature=0.5)) < float(nt_xent(torch.cat([z, z.roll(1, 0)]), 0.5))
True
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from . import _fastai  # noqa: F401  (imports fastai quietly; see radnb/train/_fastai.py)
from fastai.callback.core import Callback

__all__ = ["nt_xent", "two_views", "ContrastiveModel", "TwoViews", "pretrain_selfsupervised"]


def nt_xent(z: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Normalised-temperature cross-entropy: row ``i`` and row ``i + n/2`` are two views of one image.

    Each embedding must pick its partner out of all the other ``n - 2`` embeddings of the batch.
    """
    z = F.normalize(z.float(), dim=1)
    n = z.shape[0] // 2
    sim = z @ z.t() / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, partner)


def two_views(x: torch.Tensor, max_rotate: float = 10.0, min_scale: float = 0.6, noise: float = 0.1) -> torch.Tensor:
    """Two random views of each image of a normalised batch, stacked: (2B, C, H, W).

    Crop-and-zoom, a small rotation, a left-right flip, a contrast / brightness change
    (another exposure) and noise: what differs between two films of the same anatomy.
    """
    views = []
    b = x.shape[0]
    dev = x.device
    for _ in range(2):
        scale = torch.empty(b, device=dev).uniform_(min_scale, 1.0)
        angle = torch.empty(b, device=dev).uniform_(-max_rotate, max_rotate) * math.pi / 180
        flip = torch.where(torch.rand(b, device=dev) < 0.5, -1.0, 1.0)
        shift = (1 - scale).unsqueeze(1) * torch.empty(b, 2, device=dev).uniform_(-1, 1)
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                             torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        v = F.grid_sample(x, grid, padding_mode="reflection", align_corners=False)
        contrast = torch.empty(b, 1, 1, 1, device=dev).uniform_(0.7, 1.3)
        bright = torch.empty(b, 1, 1, 1, device=dev).uniform_(-0.3, 0.3)
        v = v * contrast + bright + noise * torch.randn_like(v)
        views.append(v)
    return torch.cat(views)


def _pooled(encoder_out: Any) -> torch.Tensor:
    f = encoder_out[-1] if isinstance(encoder_out, (list, tuple)) else encoder_out
    return torch.cat([F.adaptive_avg_pool2d(f, 1), F.adaptive_max_pool2d(f, 1)], dim=1).flatten(1)


class ContrastiveModel(nn.Module):
    """An encoder (shared with a radnb classifier) plus a small projection head for the contrastive loss."""

    def __init__(self, encoder: nn.Module, n_features: int, dim: int = 64):
        super().__init__()
        self.encoder = encoder
        self.projector = nn.Sequential(nn.Linear(n_features, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
                                       nn.Linear(256, dim))

    def forward(self, x):
        return self.projector(_pooled(self.encoder(x)))


class TwoViews(Callback):
    """Replace each batch by two augmented views of its images; the labels (if any) are not used."""

    order = 15  # after the DataLoader's own batch transforms (normalisation), before the model

    def __init__(self, **view_kwargs):
        self.view_kwargs = view_kwargs

    def before_batch(self):
        views = two_views(self.xb[0], **self.view_kwargs)
        self.learn.xb = (views,)
        # a placeholder target, not used by the loss: fastai skips the loss and the backward pass of a batch
        # without one (Learner._do_one_batch), which would leave the encoder untrained
        self.learn.yb = (torch.zeros(views.shape[0], device=views.device),)


def _encoder_of(model: nn.Module) -> nn.Module:
    """The part of a radnb classifier that :func:`radnb.classifier` copies from a pretrained file."""
    if hasattr(model, "encoder"):
        return model.encoder
    return model[0]  # fastai's body of a torchvision model


def pretrain_selfsupervised(learn, epochs: int, lr: float = 3e-3, temperature: float = 0.2, verbose: bool = True):
    """Train ``learn``'s encoder contrastively on its own DataLoaders' images (labels ignored), in place.

    ``learn`` is a radnb classifier (from :func:`radnb.classifier`); its encoder
    weights are what the contrastive run changes, so saving ``learn`` with
    :func:`radnb.save_model` afterwards gives a file for ``pretrained=``.
    :func:`radnb.pretrain` with ``task="self_supervised"`` does all of this.

    Returns
    -------
    list of float
        The contrastive loss after each epoch (training images).
    """
    from fastai.learner import Learner

    encoder = _encoder_of(learn.model)
    with torch.no_grad():
        probe = learn.dls.one_batch()[0][:2]
        n_features = _pooled(encoder.eval()(probe)).shape[1]
    encoder.train()
    model = ContrastiveModel(encoder, n_features).to(probe.device)
    ssl = Learner(learn.dls, model, loss_func=lambda z, _placeholder: nt_xent(z, temperature), cbs=[TwoViews()])
    if verbose:
        ssl.fit_one_cycle(epochs, lr)
    else:
        with ssl.no_bar(), ssl.no_logging():
            ssl.fit_one_cycle(epochs, lr)
    return [float(v[0]) for v in ssl.recorder.values]
