"""Learners for radiology: a classifier and a U-Net segmenter, as ordinary fastai ``Learner``s.

Both attach radiology metrics, pick the device (:func:`radnb.device_info`: CUDA
with mixed precision and channels-last, else Apple MPS, else CPU with its threads
set), accept pretrained weights (``"imagenet"``, a file or folder, a radnb
checkpoint from :func:`radnb.pretrain`) and record what the model needs at
inference (``learn.radnb``: preprocessing, classes, architecture), which
:func:`save_model` writes next to the weights.

With ``arch="auto"`` (the default) the model follows the device: on a CPU a
compact CNN / U-Net (a few hundred thousand parameters) so a run takes a minute
or two; on a GPU a ResNet-18 classifier / fastai's ``DynamicUnet`` on a ResNet-18
encoder. Each learner's default learning rate (``learn.lr``, used by
``fit_one_cycle`` when no rate is given) suits its architecture.

Examples
--------
>>> import numpy as np, radnb.train as rt
>>> x = np.random.default_rng(0).normal(0, 100, (16, 32, 32)).astype("float32")
>>> dls = rt.classification_dls(x, label=[0, 1] * 8, patient=np.arange(16), windows="soft_tissue", size=32, bs=8)
>>> learn = rt.classifier(dls, pretrained=False)
>>> [m.name for m in learn.metrics][:2]
['auroc', 'sensitivity']
"""
from __future__ import annotations

import inspect
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import InvalidArgumentError, PretrainedWeightsError, RadnbError  # noqa: F401
from .prep import Preprocessing, imagenet_stats

# fastai adds fit_one_cycle / fine_tune / lr_find, summary, progress bars and mixed precision to its Learner in these modules
from . import _fastai  # noqa: F401  (imports fastai quietly; see radnb/train/_fastai.py)
import fastai.callback.channelslast  # noqa: E402,F401
import fastai.callback.fp16  # noqa: E402,F401
import fastai.callback.hook  # noqa: E402,F401  (Learner.summary)
import fastai.callback.progress  # noqa: E402,F401
import fastai.callback.schedule  # noqa: E402,F401
from fastai.learner import Learner  # noqa: E402
from fastcore.meta import delegates  # noqa: E402

PathLike = Union[str, Path]

TORCHVISION_ARCHS = ("resnet18", "resnet34", "resnet50", "densenet121", "efficientnet_b0")
COMPACT_ARCHS = ("compact",)
NEGATIVE_NAMES = {"normal", "negative", "0", "no", "false", "benign", "healthy", "absent", "none", "control"}

__all__ = ["classifier", "segmenter", "ModelInfo", "CompactUNet", "CompactCNN", "DiceCELoss", "FocalLoss",
           "class_weights", "setup_device", "build_model", "pick_positive", "default_classifier_arch",
           "default_segmenter_arch"]


@dataclass
class ModelInfo:
    """What a trained model needs to be used again: stored on ``learn.radnb`` and in saved files.

    Examples
    --------
    >>> info = ModelInfo("classifier", "resnet18", 1, 2, vocab=["normal", "opacity"], positive=1)
    >>> info.positive_name
    'opacity'
    """

    kind: str
    arch: str
    n_in: int
    n_out: int
    vocab: List[str] = field(default_factory=list)
    positive: Optional[int] = None
    multilabel: bool = False
    preprocessing: Optional[Dict[str, Any]] = None
    model_kwargs: Dict[str, Any] = field(default_factory=dict)
    pretrained: str = "none"

    @property
    def positive_name(self) -> Optional[str]:
        return None if self.positive is None else self.vocab[self.positive]

    @property
    def prep(self) -> Preprocessing:
        if self.preprocessing is None:
            raise InvalidArgumentError(
                "This model was trained on fastai DataLoaders built by hand, so radnb does not know how to prepare "
                "new images for it (windows, size, normalisation). Use fastai's learn.predict / learn.get_preds, or "
                "train on radnb.classification_dls / segmentation_dls.")
        return Preprocessing.from_dict(self.preprocessing)


# ------------------------------------------------------------------ compact models for CPUs
def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class CompactEncoder(nn.Module):
    """Four conv blocks (``base``, 2x, 4x, 8x channels) with 2x down-sampling between them."""

    def __init__(self, n_in: int, base: int = 16, depth: int = 4):
        super().__init__()
        chans = [base * 2 ** i for i in range(depth)]
        self.blocks = nn.ModuleList()
        c = n_in
        for co in chans:
            self.blocks.append(_conv_block(c, co))
            c = co
        self.channels = chans

    def forward(self, x):
        feats = []
        for i, block in enumerate(self.blocks):
            if i:
                x = F.max_pool2d(x, 2)
            x = block(x)
            feats.append(x)
        return feats


class CompactUNet(nn.Module):
    """A small U-Net (encoder of :class:`CompactEncoder`, transposed-conv decoder with skips).

    About 0.5 M parameters at ``base=16``: trains on a CPU in minutes at 96 px.

    Examples
    --------
    >>> m = CompactUNet(n_in=1, n_out=3)
    >>> m(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 3, 64, 64])
    """

    def __init__(self, n_in: int, n_out: int, base: int = 16, depth: int = 4):
        super().__init__()
        self.encoder = CompactEncoder(n_in, base, depth)
        chans = self.encoder.channels
        self.ups, self.decs = nn.ModuleList(), nn.ModuleList()
        for c_deep, c_skip in zip(chans[::-1][:-1], chans[::-1][1:]):
            self.ups.append(nn.ConvTranspose2d(c_deep, c_skip, 2, stride=2))
            self.decs.append(_conv_block(2 * c_skip, c_skip))
        self.head = nn.Conv2d(chans[0], n_out, 1)

    def forward(self, x):
        h, w = x.shape[-2:]
        feats = self.encoder(x)
        y = feats[-1]
        for up, dec, skip in zip(self.ups, self.decs, feats[::-1][1:]):
            y = up(y)
            if y.shape[-2:] != skip.shape[-2:]:
                y = F.interpolate(y, size=skip.shape[-2:], mode="nearest")
            y = dec(torch.cat([y, skip], dim=1))
        return self.head(y)


class CompactCNN(nn.Module):
    """A small classification CNN: :class:`CompactEncoder` + global pooling + a linear head.

    Examples
    --------
    >>> CompactCNN(n_in=1, n_out=2)(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 2])
    """

    def __init__(self, n_in: int, n_out: int, base: int = 16, depth: int = 4, p: float = 0.2):
        super().__init__()
        self.encoder = CompactEncoder(n_in, base, depth)
        c = self.encoder.channels[-1]
        self.head = nn.Sequential(nn.Dropout(p), nn.Linear(2 * c, n_out))

    def forward(self, x):
        f = self.encoder(x)[-1]
        pooled = torch.cat([F.adaptive_avg_pool2d(f, 1), F.adaptive_max_pool2d(f, 1)], dim=1).flatten(1)
        return self.head(pooled)


def _compact_split(model):
    enc = list(model.encoder.parameters())
    enc_ids = {id(p) for p in enc}
    rest = [p for p in model.parameters() if id(p) not in enc_ids]
    return [enc, rest]


# ------------------------------------------------------------------ losses
def FocalLoss(gamma: float = 2.0, weight: Optional[torch.Tensor] = None):
    """Deprecated: use fastai's ``FocalLossFlat(gamma=gamma)`` (``axis=1`` for segmentation), as radnb does.

    Returns fastai's ``FocalLoss`` module: focal loss (Lin et al. 2017), cross-entropy
    down-weighting easy cases by ``(1 - p_t) ** gamma``, for classification logits (N, C) and
    segmentation logits (N, C, H, W) alike (what radnb's own class did).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     loss = FocalLoss(gamma=2.0)
    >>> float(loss(torch.tensor([[4.0, -4.0]]), torch.tensor([0]))) < 0.001
    True
    """
    from fastai.losses import FocalLoss as FastaiFocalLoss

    warnings.warn("radnb.train.learners.FocalLoss is deprecated; use fastai.losses.FocalLossFlat(gamma=...) "
                  "(axis=1 for segmentation), which radnb.classifier(dls, loss='focal') uses.", DeprecationWarning,
                  stacklevel=2)
    return FastaiFocalLoss(gamma=gamma, weight=weight)


class DiceCELoss(nn.Module):
    """Soft Dice loss over the foreground classes plus cross-entropy (a robust default for segmentation).

    Cross-entropy gives smooth early gradients; the Dice term keeps small
    structures (a lesion of a few hundred pixels) from being swamped by the
    background. Classes absent from both the batch's target and prediction do
    not count.

    Examples
    --------
    >>> logits = torch.zeros(1, 2, 4, 4); logits[:, 1] = 5.0
    >>> float(DiceCELoss()(logits, torch.ones(1, 4, 4, dtype=torch.long))) < 0.05
    True
    """

    def __init__(self, dice_weight: float = 1.0, ce_weight: float = 1.0, smooth: float = 1.0,
                 class_weight: Optional[torch.Tensor] = None):
        super().__init__()
        self.dice_weight, self.ce_weight, self.smooth = dice_weight, ce_weight, smooth
        self.class_weight = class_weight

    def forward(self, logits, target):
        logits = logits.float()
        target = target.long()
        ce = F.cross_entropy(logits, target, weight=None if self.class_weight is None else self.class_weight.to(logits.device))
        probs = F.softmax(logits, dim=1)
        onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).float()
        dims = (0, 2, 3)
        inter = (probs * onehot).sum(dims)
        denom = probs.sum(dims) + onehot.sum(dims)
        dice = (2 * inter + self.smooth) / (denom + self.smooth)
        dice_loss = 1 - dice[1:].mean() if logits.shape[1] > 1 else 1 - dice.mean()
        return self.ce_weight * ce + self.dice_weight * dice_loss

    def activation(self, x):
        return F.softmax(x, dim=1)

    def decodes(self, x):
        return x.argmax(dim=1)


def _weighted_ce(weight: torch.Tensor, axis: int = -1):
    """fastai's cross-entropy with class weights (fastai moves the weights to the learner's device);
    ``axis=1`` for segmentation logits (N, C, H, W)."""
    from fastai.losses import CrossEntropyLossFlat

    return CrossEntropyLossFlat(weight=weight, axis=axis)


def class_weights(dls) -> torch.Tensor:
    """Inverse-frequency class weights from the training set (mean 1), for weighted cross-entropy.

    Examples
    --------
    >>> import radnb.train as rt
    >>> x = np.zeros((16, 16, 16), dtype="float32")
    >>> dls = rt.classification_dls(x, label=["rare"] * 4 + ["common"] * 12, patient=range(16), size=16, bs=4)
    >>> w = class_weights(dls)
    >>> bool(w[list(dls.vocab).index("rare")] > w[list(dls.vocab).index("common")])
    True
    """
    from .record import dataset_info

    vocab = list(dls.vocab)
    labels = [r.label for r in dataset_info(dls, derive=True).train_records]
    counts = np.array([sum(1 for y in labels if y == v) for v in vocab], dtype=float)
    counts = np.maximum(counts, 1)
    w = counts.sum() / (len(vocab) * counts)
    return torch.tensor(w / w.mean(), dtype=torch.float32)


# ------------------------------------------------------------------ device
def setup_device(learn=None):
    """Pick the device and configure it; with a learner, move it and enable mixed precision/channels-last on CUDA.

    On a CPU, torch's thread count is capped at the cores this process may use
    (containers often report the host's cores, and oversubscription is slow).

    Examples
    --------
    >>> setup_device().kind in {"cpu", "cuda", "mps"}
    True
    """
    from ..system import device_info

    info = device_info()
    if info.kind == "cpu":
        try:
            usable = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS / Windows
            usable = os.cpu_count() or 1
        if torch.get_num_threads() > usable:
            torch.set_num_threads(usable)
    if learn is not None:
        learn.dls.to(info.torch_device)
        learn.model.to(info.torch_device)
        if info.kind == "cuda":
            learn.to_channelslast()  # also adds fp16 mixed precision (fastai's MixedPrecision)
        # where this session runs the learner, not a property of the model: so not on learn.radnb (saved with it)
        learn.device_info = info
    return info


# ------------------------------------------------------------------ building models
def _check_arch(arch: str, kind: str) -> str:
    arch = str(arch).lower()
    if arch not in TORCHVISION_ARCHS + COMPACT_ARCHS:
        raise InvalidArgumentError(
            f"Unknown arch {arch!r}. Use one of {', '.join(TORCHVISION_ARCHS + COMPACT_ARCHS)} "
            f"('compact' is radnb's small {'U-Net' if kind == 'segmenter' else 'CNN'} for CPUs).")
    return arch


def _torchvision_fn(arch: str):
    import torchvision.models as tvm

    return getattr(tvm, arch)


def _tv_meta(arch: str) -> Dict[str, Any]:
    from fastai.vision.learner import _default_meta, model_meta

    return model_meta.get(_torchvision_fn(arch), _default_meta)


def _load_state(path: Path) -> Dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PretrainedWeightsError(f"{path}: could not be read as PyTorch weights ({type(exc).__name__}: {exc}). "
                                     "Re-download it, or pass pretrained=False.") from exc


def _normalise_pretrained(pretrained: Any) -> Any:
    """fastai's idiom ``pretrained=True`` means ImageNet weights; ``False``/``None`` a random start."""
    if pretrained is True:
        return "imagenet"
    if pretrained is None or pretrained is False:
        return False
    if isinstance(pretrained, (str, Path)) or (isinstance(pretrained, os.PathLike)):
        return pretrained
    raise InvalidArgumentError(
        f"pretrained={pretrained!r} is not understood: use True or 'imagenet' (ImageNet weights), False (random "
        "start), a weights file or folder, or a model file from radnb.pretrain().")


def _torchvision_state(arch: str, pretrained: Any) -> Optional[Dict[str, Any]]:
    """ImageNet / file / folder -> a torchvision state dict, or None for a radnb checkpoint / no weights."""
    if pretrained in (False, None, "none"):
        return None
    if isinstance(pretrained, str) and pretrained.lower() in ("imagenet", "imagenet_v2"):
        if arch in COMPACT_ARCHS:
            raise InvalidArgumentError(
                "There are no ImageNet weights for radnb's compact models. Use arch='resnet18' with "
                "pretrained='imagenet', or pretrain the compact model with radnb.pretrain(arch='compact').")
        from ..data.weights import weights_path

        return _load_state(weights_path(arch, pretrained.lower()))
    path = Path(pretrained)
    if path.is_dir():
        from ..data.weights import WEIGHTS

        info = WEIGHTS.get((arch, "imagenet"))
        candidates = ([path / info.filename] if info else []) + sorted(path.glob(f"{arch}*.pth")) + sorted(path.glob("*.pth"))
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise PretrainedWeightsError(
                f"{path}: no weights file for {arch} in this folder (looked for "
                f"{info.filename if info else arch + '*.pth'}). Put the file there or pass its path.")
        path = found
    if not path.is_file():
        raise PretrainedWeightsError(
            f"pretrained={pretrained!r} is neither 'imagenet', False, nor an existing weights file or folder.")
    state = _load_state(path)
    if isinstance(state, dict) and state.get("format") == "radnb-model":
        return None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state


def _radnb_checkpoint(pretrained: Any) -> Optional[Dict[str, Any]]:
    if pretrained in (False, None) or isinstance(pretrained, str) and pretrained.lower() in ("imagenet", "imagenet_v2", "none"):
        return None
    path = Path(pretrained)
    if path.is_file():
        state = _load_state(path)
        if isinstance(state, dict) and state.get("format") == "radnb-model":
            return state
    return None


def _encoder_prefix(model: nn.Module) -> str:
    if isinstance(model, (CompactUNet, CompactCNN)):
        return "encoder."
    return "0."  # fastai: model[0] is the body / encoder


def _transfer_encoder(model: nn.Module, checkpoint: Dict[str, Any], arch: str) -> int:
    """Copy the encoder weights of a radnb checkpoint into ``model``; returns how many tensors were copied."""
    if checkpoint["info"]["arch"] != arch:
        raise PretrainedWeightsError(
            f"The pretrained model is a {checkpoint['info']['arch']} but this model is a {arch}; "
            f"use arch={checkpoint['info']['arch']!r}.")
    src_prefix = "encoder." if arch in COMPACT_ARCHS else "0."
    dst_prefix = _encoder_prefix(model)
    own = model.state_dict()
    copied, skipped = 0, []
    for key, value in checkpoint["state_dict"].items():
        if not key.startswith(src_prefix):
            continue
        target = dst_prefix + key[len(src_prefix):]
        if target in own and own[target].shape == value.shape:
            own[target] = value
            copied += 1
        else:
            skipped.append(key)
    if not copied:
        raise PretrainedWeightsError("No encoder weights of the pretrained model fit this model.")
    if skipped:
        warnings.warn(f"{len(skipped)} pretrained tensor(s) did not fit (e.g. {skipped[0]}: different input channels?) "
                      "and keep their random start.", stacklevel=3)
    model.load_state_dict(own)
    return copied


def build_model(kind: str, arch: str, n_in: int, n_out: int, img_size: int = 64, state: Optional[dict] = None,
                **model_kwargs) -> nn.Module:
    """Create the network for ``kind`` (``"classifier"`` / ``"segmenter"``); ``state`` = torchvision weights.

    Examples
    --------
    >>> build_model("segmenter", "compact", 1, 2)(torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 2, 32, 32])
    """
    if arch in COMPACT_ARCHS:
        if kind == "segmenter":
            return CompactUNet(n_in, n_out, **model_kwargs)
        return CompactCNN(n_in, n_out, **model_kwargs)
    from fastai.vision.learner import add_head, create_body, num_features_model

    tv = _torchvision_fn(arch)(weights=None)
    if state is not None:
        try:
            tv.load_state_dict(state)
        except RuntimeError as exc:
            raise PretrainedWeightsError(f"The weights do not fit a {arch}: {str(exc).splitlines()[0]}. "
                                         "Check the arch or the file.") from None
    body = create_body(tv, n_in=n_in, pretrained=state is not None, cut=_tv_meta(arch)["cut"])
    if kind == "segmenter":
        from fastai.vision.models.unet import DynamicUnet

        return DynamicUnet(body, n_out, (img_size, img_size), **model_kwargs)
    nf = num_features_model(nn.Sequential(*body.children()))
    return add_head(body, nf, n_out, **model_kwargs)


def pick_positive(vocab: Sequence[str], positive: Any = None) -> Optional[int]:
    """Index of the positive class for binary metrics (the finding, not 'normal').

    Examples
    --------
    >>> pick_positive(["normal", "opacity"]), pick_positive(["malignant", "benign"])
    (1, 0)
    """
    vocab = [str(v) for v in vocab]
    if positive is not None:
        if str(positive) not in vocab:
            raise InvalidArgumentError(f"positive={positive!r} is not one of the classes {vocab}.")
        return vocab.index(str(positive))
    if len(vocab) != 2:
        return None
    negatives = [i for i, v in enumerate(vocab) if v.lower() in NEGATIVE_NAMES]
    if len(negatives) == 1:
        return 1 - negatives[0]
    return 1


def _check_normalisation(prep: Preprocessing, pretrained: Any) -> None:
    if isinstance(pretrained, str) and pretrained.lower().startswith("imagenet"):
        mean, std = imagenet_stats(prep.n_channels)
        if not np.allclose(prep.mean, mean, atol=1e-3) or not np.allclose(prep.std, std, atol=1e-3):
            warnings.warn(
                f"ImageNet weights expect ImageNet normalisation (mean {mean}, std {std}) but the data are normalised "
                f"with mean {prep.mean}, std {prep.std}. Build the DataLoaders with normalize='imagenet'.", stacklevel=3)


# default peak learning rates for fit_one_cycle: the compact models (BatchNorm, trained from scratch) take
# larger steps; 1e-3 is fastai's default for the torchvision encoders
DEFAULT_LR = {"compact": 1e-2}
FASTAI_DEFAULT_LR = 1e-3
# default base rates for fine_tune. fastai's 2e-3 suits ImageNet torchvision bodies; for the compact CNN from a radnb
# source it predicted one class for every validation image in 7 of 9 PneumoniaMNIST runs (32/64/128 images x 3
# seeds, benchmarks/real_data.py), its own fit_one_cycle rate in none. fastai's lr_mult=100 spreads the rate over a
# ResNet's three layer groups; the compact CNN has two (body, head), where 100 leaves the body at 1/200 of base_lr,
# barely trained: 10 beat training from scratch on more PneumoniaMNIST subsets and seeds (self-supervised source)
FINE_TUNE_LR = {"compact": 1e-2}
FASTAI_FINE_TUNE_LR = 2e-3
FINE_TUNE_LR_MULT = {"compact": 10}
FASTAI_FINE_TUNE_LR_MULT = 100



class RadnbLearner(Learner):
    """fastai's ``Learner`` whose ``fine_tune`` defaults to the architecture's fine-tuning rate.

    fastai's ``fine_tune(epochs, base_lr=2e-3, ...)`` fixes one rate for every model; radnb's learners
    carry their own (``learn.fine_tune_lr``: 1e-2 for the compact CNN, fastai's 2e-3 otherwise) and
    their own spread between body and head (``learn.fine_tune_lr_mult``: 10 for the compact CNN's two
    layer groups, fastai's 100 otherwise). Every other argument and the behaviour are fastai's.

    Examples
    --------
    >>> import inspect
    >>> inspect.signature(RadnbLearner.fine_tune).parameters["base_lr"].default is None
    True
    """

    def fine_tune(self, epochs, base_lr=None, freeze_epochs=1, lr_mult=None, pct_start=0.3, div=5.0, **kwargs):
        base_lr = getattr(self, "fine_tune_lr", FASTAI_FINE_TUNE_LR) if base_lr is None else base_lr
        lr_mult = getattr(self, "fine_tune_lr_mult", FASTAI_FINE_TUNE_LR_MULT) if lr_mult is None else lr_mult
        return super().fine_tune(epochs, base_lr, freeze_epochs=freeze_epochs, lr_mult=lr_mult,
                                 pct_start=pct_start, div=div, **kwargs)


def default_classifier_arch(device=None, pretrained: Any = False) -> str:
    """The architecture ``arch="auto"`` picks for :func:`classifier`.

    ``"compact"`` on a CPU (it reaches the synthetic opacity task's AUROC bar in
    about a minute where a ResNet-18 at the same size does not), ``"resnet18"``
    on a GPU or whenever ImageNet weights are asked for; with a radnb model file
    as ``pretrained``, that model's own architecture.

    Examples
    --------
    >>> default_classifier_arch("cpu"), default_classifier_arch("cpu", pretrained="imagenet")
    ('compact', 'resnet18')
    """
    pretrained = _normalise_pretrained(pretrained)
    checkpoint = _radnb_checkpoint(pretrained)
    if checkpoint is not None:
        return str(checkpoint["info"]["arch"])
    from .data import _device_kind

    if _device_kind(device) != "cpu" or pretrained not in (False, None, "none"):
        return "resnet18"
    return "compact"


def _pretrained_label(pretrained: Any) -> str:
    if pretrained in (False, None):
        return "none"
    return str(pretrained)


def _watch_callbacks(keep_best: Any) -> list:
    """The callbacks every radnb learner trains with: keep the best epoch, warn on collapse / divergence."""
    from .callbacks import KeepBestEpoch, TrainingWatch

    cbs = [TrainingWatch()]
    if isinstance(keep_best, KeepBestEpoch):
        cbs.insert(0, keep_best)
    elif keep_best:
        cbs.insert(0, KeepBestEpoch(keep_best if isinstance(keep_best, str) else "auto"))
    return cbs


LEARNER_HIDDEN = ["loss_func", "lr", "splitter"]  # passed through, but not in the signature (fastai's defaults mislead)
# fastai Learner's own keywords (opt_func, cbs, wd, path, moms...; read from fastai so they stay true): passed through
LEARNER_ARGS = tuple(p for p in inspect.signature(Learner).parameters if p not in ("dls", "model", "metrics"))


def _split_kwargs(kwargs: Dict[str, Any]):
    """(fastai ``Learner`` keywords, model keywords) from a builder's ``**kwargs``."""
    return ({k: v for k, v in kwargs.items() if k in LEARNER_ARGS},
            {k: v for k, v in kwargs.items() if k not in LEARNER_ARGS})


def _input_shape(dls, info) -> tuple:
    """(channels, side) of the model's input: radnb's preprocessing, else one fastai batch (DataLoaders by hand)."""
    if info.preprocessing is not None:
        return info.preprocessing.n_channels, info.preprocessing.size
    xb = dls.one_batch()[0]
    return int(xb.shape[1]), int(xb.shape[-1])


def _make_learner(dls, kind: str, arch: str, pretrained: Any, loss_func, metrics, model_kwargs, info_extra,
                  keep_best: Any = True, learner_kwargs: Optional[Dict[str, Any]] = None):
    from fastcore.basics import listify

    from .record import dataset_info

    data = dataset_info(dls, derive=True)
    if data.test_set:
        raise InvalidArgumentError(
            "These DataLoaders are a held-out test set (valid_patients lists every patient), so there is nothing to "
            "train on. Build the model on training DataLoaders and use the test set only with "
            "radnb.evaluate(learn, test_dls).")
    if len(dls.train_ds) < 2:
        raise InvalidArgumentError(
            f"Only {len(dls.train_ds)} item is left for training after the patient split; a model needs at least 2 "
            "(batch normalisation compares the items of a batch). Give more patients or lower valid_pct.")
    prep: Optional[Preprocessing] = data.preprocessing
    n_in, size = _input_shape(dls, data)
    n_out = info_extra.pop("n_out")
    checkpoint = _radnb_checkpoint(pretrained)
    state = None if checkpoint is not None else _torchvision_state(arch, pretrained)
    if checkpoint is not None:
        ck_prep = checkpoint["info"].get("preprocessing") or {}
        if prep is not None and ck_prep and ck_prep.get("windows") != prep.to_dict()["windows"]:
            warnings.warn(f"The pretrained model was trained with windows {ck_prep.get('windows')}, these data use "
                          f"{prep.to_dict()['windows']}; fine-tuning will adapt, but matching windows transfer better.",
                          stacklevel=3)
        model_kwargs = {**checkpoint["info"].get("model_kwargs", {}), **model_kwargs}
    elif prep is not None:  # fastai DataLoaders by hand normalise as their author chose
        _check_normalisation(prep, pretrained)
    model = build_model(kind, arch, n_in, n_out, size, state, **model_kwargs)
    if checkpoint is not None:
        _transfer_encoder(model, checkpoint, arch)
    options = dict(learner_kwargs or {})
    cbs = _watch_callbacks(keep_best) + listify(options.pop("cbs", None))  # fastai's: one callback, a list or None
    options = {"loss_func": loss_func, "splitter": _compact_split if arch in COMPACT_ARCHS else _tv_meta(arch)["split"],
               "lr": DEFAULT_LR.get(arch, FASTAI_DEFAULT_LR), **options}
    learn = RadnbLearner(dls, model, metrics=metrics, cbs=cbs, **options)  # fastai's, with the arch's fine_tune rate
    learn.fine_tune_lr = FINE_TUNE_LR.get(arch, FASTAI_FINE_TUNE_LR)
    learn.fine_tune_lr_mult = FINE_TUNE_LR_MULT.get(arch, FASTAI_FINE_TUNE_LR_MULT)
    learn.radnb = ModelInfo(kind=kind, arch=arch, n_in=n_in, n_out=n_out,
                            preprocessing=prep.to_dict() if prep is not None else None,
                            model_kwargs=dict(model_kwargs), pretrained=_pretrained_label(pretrained), **info_extra)
    if pretrained not in (False, None, "none"):
        learn.freeze()
    setup_device(learn)
    return learn


# ------------------------------------------------------------------ public builders
@delegates(Learner, keep=True, but=LEARNER_HIDDEN)
def classifier(dls, arch: str = "auto", pretrained: Any = False, *, loss: str = "ce", positive: Any = None,
               threshold: float = 0.5, metrics: Optional[list] = None, keep_best: Union[bool, str, Any] = True,
               **kwargs):
    """A fastai ``Learner`` for image classification with radiology metrics.

    Parameters
    ----------
    dls
        From :func:`radnb.classification_dls`.
    arch
        ``"auto"`` (default: ``"compact"`` on a CPU, ``"resnet18"`` on a GPU or with
        ImageNet weights, the source model's with a radnb model file; see
        :func:`default_classifier_arch`), or name one: ``"resnet18"``, ``"resnet34"``,
        ``"resnet50"``, ``"densenet121"``, ``"efficientnet_b0"`` or ``"compact"``
        (a small CNN that trains fast on a CPU).
    pretrained
        ``False`` (random start), ``True`` or ``"imagenet"`` (downloaded once via
        :func:`radnb.data.weights.weights_path`; offline it stops with a message
        saying exactly how to proceed), a weights file or folder, or a radnb model
        file from :func:`radnb.pretrain` / :func:`save_model` (its encoder is
        reused). A pretrained learner starts *frozen*: use ``learn.fine_tune(...)``
        (or ``fit_one_cycle`` then ``unfreeze()`` and discriminative learning
        rates, ``lr_max=slice(1e-5, 1e-3)``).
    loss
        ``"ce"`` (cross-entropy), ``"weighted_ce"`` (inverse class-frequency
        weights, for imbalanced data) or ``"focal"``. Multi-label data use
        binary cross-entropy.
    positive
        The class treated as positive by sensitivity/specificity/AUROC (binary
        tasks; default: the class that is not 'normal'/'negative', else the second).
    threshold
        Probability threshold of the threshold metrics.
    metrics
        Replace the default metrics (AUROC, sensitivity, specificity, balanced
        accuracy, accuracy).
    keep_best
        ``True`` (default): after every ``fit_one_cycle`` / ``fine_tune`` the
        learner holds the weights of the epoch with the best validation AUROC
        and prints which epoch that was (fastai's ``SaveModelCallback``, see
        :class:`~radnb.train.callbacks.KeepBestEpoch`; ``learn.keep_best_epoch.epoch_kept``).
        A metric name to watch another column; a ``KeepBestEpoch(...)`` of your own
        (e.g. ``KeepBestEpoch(tolerance=0.01)``: near ties go to the lower loss);
        ``False`` keeps the last epoch.
        Either way :class:`~radnb.train.callbacks.TrainingWatch` warns when the
        validation predictions collapse to one class or the loss diverges.
    **kwargs
        fastai ``Learner`` arguments go to fastai's ``Learner`` (shown in the
        signature: ``opt_func``, ``cbs`` - added to radnb's callbacks -, ``wd``,
        ``path``, ``moms``...; also ``loss_func``, ``lr`` and ``splitter``, which
        replace radnb's choice); any other keyword goes to the model
        (:func:`build_model`, e.g. ``base=32`` for the compact CNN).

    Returns
    -------
    fastai.learner.Learner
        With ``learn.radnb`` (:class:`ModelInfo`, saved with the model) and
        ``learn.device_info`` (the :func:`radnb.device_info` the learner was set
        up on: a fact of this session, so not saved); ``learn.lr`` is the
        architecture's default peak learning rate, so ``learn.fit_one_cycle(10)``
        needs no rate.

    Examples
    --------
    >>> import numpy as np
    >>> import radnb.train as rt
    >>> x = np.random.default_rng(0).normal(size=(8, 32, 32)).astype("float32")
    >>> dls = rt.classification_dls(x, label=["normal", "opacity"] * 4, patient=range(8), windows="auto", size=32)
    >>> rt.classifier(dls, arch="compact").radnb.positive_name
    'opacity'
    >>> rt.classifier(dls, arch="compact", wd=0.1).wd  # a fastai Learner argument, passed through
    0.1
    """
    from fastai.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, FocalLossFlat
    from fastai.metrics import accuracy, accuracy_multi

    from . import metrics as rm

    pretrained = _normalise_pretrained(pretrained)
    if arch == "auto":
        arch = default_classifier_arch(dls.device, pretrained)
    arch = _check_arch(arch, "classifier")
    from .record import dataset_info

    data = dataset_info(dls, derive=True)
    vocab = list(data.classes)
    multilabel = data.multilabel
    pos = None if multilabel else pick_positive(vocab, positive)
    if multilabel:
        loss_func = BCEWithLogitsLossFlat()
        default_metrics = [rm.AUROC(multilabel=True), accuracy_multi]
    else:
        if loss == "ce":
            loss_func = CrossEntropyLossFlat()
        elif loss == "weighted_ce":
            loss_func = _weighted_ce(class_weights(dls))
        elif loss == "focal":
            loss_func = FocalLossFlat()
        else:
            raise InvalidArgumentError(f"loss={loss!r}: use 'ce', 'weighted_ce' or 'focal'.")
        if pos is not None:
            default_metrics = [rm.AUROC(pos), rm.Sensitivity(pos, threshold), rm.Specificity(pos, threshold),
                               rm.BalancedAccuracy(pos, threshold), accuracy]
        else:
            default_metrics = [rm.AUROC(None), accuracy]
    learner_kwargs, model_kwargs = _split_kwargs(kwargs)
    return _make_learner(dls, "classifier", arch, pretrained, loss_func,
                         metrics if metrics is not None else default_metrics, model_kwargs,
                         {"n_out": len(vocab), "vocab": vocab, "positive": pos, "multilabel": multilabel}, keep_best,
                         learner_kwargs)


def default_segmenter_arch(device=None) -> str:
    """``"resnet18"`` (fastai U-Net) on a GPU, ``"compact"`` (small U-Net) on a CPU.

    Examples
    --------
    >>> default_segmenter_arch("cpu")
    'compact'
    """
    from .data import _device_kind

    return "compact" if _device_kind(device) == "cpu" else "resnet18"


@delegates(Learner, keep=True, but=LEARNER_HIDDEN)
def segmenter(dls, arch: str = "auto", pretrained: Any = False, *, loss: str = "dice_ce",
              metrics: Optional[list] = None, keep_best: Union[bool, str, Any] = True, **kwargs):
    """A fastai ``Learner`` for segmentation (a U-Net) with Dice and IoU metrics.

    Parameters
    ----------
    dls
        From :func:`radnb.segmentation_dls`.
    arch
        ``"auto"``: fastai's ``DynamicUnet`` on a ResNet-18 encoder on a GPU,
        radnb's compact U-Net on a CPU (fast enough for a class). Or name one:
        ``"resnet18"``, ``"resnet34"``, ... or ``"compact"``.
    pretrained
        As for :func:`classifier` (encoder weights).
    loss
        ``"dice_ce"`` (Dice + cross-entropy, default), ``"ce"``, ``"weighted_ce"`` or ``"focal"``.
    metrics
        Replace the default metrics (foreground Dice and IoU, pixels pooled over
        the validation set; background excluded).
    keep_best
        As for :func:`classifier`, watching the foreground Dice.
    **kwargs
        As for :func:`classifier`: fastai ``Learner`` arguments go to the
        ``Learner``, the others to the model.

    Returns
    -------
    fastai.learner.Learner

    Examples
    --------
    >>> import numpy as np
    >>> import radnb.train as rt
    >>> vols = [np.random.default_rng(i).normal(0, 50, (4, 32, 32)).astype("float32") for i in range(4)]
    >>> dls = rt.segmentation_dls(vols, [(v > 50).astype("uint8") for v in vols], windows="auto", size=32, bs=4)
    >>> rt.segmenter(dls, arch="compact").radnb.kind
    'segmenter'
    """
    from fastai.losses import CrossEntropyLossFlat, FocalLossFlat

    from . import metrics as rm

    pretrained = _normalise_pretrained(pretrained)
    if arch == "auto":
        arch = default_segmenter_arch(dls.device) if pretrained in (False, None) else "resnet18"
    arch = _check_arch(arch, "segmenter")
    from .record import dataset_info

    data = dataset_info(dls, derive=True)
    if data.task != "segmentation":
        raise InvalidArgumentError("segmenter needs segmentation DataLoaders (radnb.segmentation_dls, or fastai's with "
                                   "a MaskBlock); these hold classification labels: use radnb.classifier.")
    codes = list(data.classes)
    n = len(codes)
    if loss == "dice_ce":
        loss_func = DiceCELoss()
    elif loss == "ce":
        loss_func = CrossEntropyLossFlat(axis=1)
    elif loss == "weighted_ce":
        counts = np.ones(n)
        for m in _training_masks(dls, data):
            counts += np.bincount(np.asarray(m).ravel().astype(np.int64), minlength=n)[:n]
        w = counts.sum() / (n * counts)
        loss_func = _weighted_ce(torch.tensor(w / w.mean(), dtype=torch.float32), axis=1)
    elif loss == "focal":
        loss_func = FocalLossFlat(axis=1)
    else:
        raise InvalidArgumentError(f"loss={loss!r}: use 'dice_ce', 'ce', 'weighted_ce' or 'focal'.")
    default_metrics = [rm.ForegroundDice(n), rm.ForegroundIoU(n)]
    learner_kwargs, model_kwargs = _split_kwargs(kwargs)
    return _make_learner(dls, "segmenter", arch, pretrained, loss_func,
                         metrics if metrics is not None else default_metrics, model_kwargs,
                         {"n_out": n, "vocab": codes, "positive": None, "multilabel": False}, keep_best,
                         learner_kwargs)


def _training_masks(dls, data, n: int = 50):
    """About ``n`` training masks (for class frequencies): radnb's cache, or fastai's dataset for DataLoaders by hand."""
    from .prep import load_mask

    idx = data.train_idx[:: max(1, len(data.train_idx) // n)]
    if data.preprocessing is None:
        return [dls.train_ds[int(i)][1] for i in idx]
    return [load_mask(data.records[int(i)].label, data.preprocessing.size, data.cache) for i in idx]
