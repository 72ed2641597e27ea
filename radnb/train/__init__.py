"""fastai training helpers for radiology: data, models, transfer learning, metrics, interpretation.

The few-lines path for a resident::

    import radnb
    dls = radnb.classification_dls(radnb.sample_data("chest_xray"), windows="auto")
    learn = radnb.classifier(dls)   # a compact CNN on a CPU, ResNet-18 on a GPU
    learn.fit_one_cycle(20)         # the learner's default rate (learn.lr) suits its architecture
    report = radnb.evaluate(learn)

Everything returned is ordinary fastai (``DataLoaders``, ``Learner``), so a
researcher keeps full control. Submodules: :mod:`~radnb.train.metrics` (numpy
reference metrics; fastai wrappers in :mod:`~radnb.train.fastai_metrics`),
:mod:`~radnb.train.inference` (the one path from images to probabilities),
:mod:`~radnb.train.interpret` (Grad-CAM, top losses), :mod:`~radnb.train.blocks`
(fastai blocks), :mod:`~radnb.train.cache` (preprocessing cache), :mod:`~radnb.train.prep`.

The names below are imported on first use (like ``radnb``'s own), so
``import radnb.train.metrics`` or ``radnb.train.evaluate`` loads neither torch nor fastai.

Examples
--------
>>> import radnb, radnb.train as rt
>>> radnb.classifier is rt.classifier and radnb.evaluate is rt.evaluate   # radnb's names are these
True
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> submodule that defines it
_LAZY = {
    "classification_dls": "data", "segmentation_dls": "data", "patient_split": "data",
    "save_seg": "export",
    "load_model": "inference", "predict": "inference", "predict_volume": "inference", "save_model": "inference",
    "classifier": "learners", "segmenter": "learners",
    "pretrain": "transfer",
}

__all__ = ["classification_dls", "segmentation_dls", "patient_split", "classifier", "segmenter", "pretrain",
           "predict", "predict_volume", "evaluate", "save_model", "load_model", "save_seg"]


# The one eager import: the submodule radnb.train.evaluate shares the function's name, and importing a
# submodule sets the package attribute to the module, so the function is bound here after it (numpy and
# pandas only, no torch).
from .evaluate import evaluate  # noqa: E402


_SUBMODULES = ("blocks", "cache", "callbacks", "data", "distributed", "evaluate", "export", "fastai_metrics",
               "inference", "interpret", "learners", "metrics", "prep", "selfsup", "transfer")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    elif name in _SUBMODULES:  # ``rt.prep.load_image`` works without importing radnb.train.prep first, as before
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'radnb.train' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .data import classification_dls, patient_split, segmentation_dls
    from .export import save_seg
    from .inference import load_model, predict, predict_volume, save_model
    from .learners import classifier, segmenter
    from .transfer import pretrain
