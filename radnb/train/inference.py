"""Saving, loading and using trained models: radnb's one path from images to probabilities.

:func:`save_model` writes one file holding the weights *and* everything needed
to feed the model the way it was trained: windows, image size, 2.5D context,
normalisation statistics, class names. :func:`load_model` restores it and
:func:`predict` always prepares images with those stored settings, so inference
cannot silently differ from training.

Every radnb function that runs a model on images goes through this module:
:func:`prepare_batch` (prepared images -> a normalised batch on the model's device)
and :func:`forward_probabilities` (-> class probabilities) serve :func:`predict`,
:func:`predict_volume`, :func:`radnb.evaluate` (through :func:`item_probabilities`),
and :mod:`radnb.train.interpret` (Grad-CAM's input, top losses' probabilities), so a
change to preparation or normalisation reaches all of them.

Examples
--------
>>> import numpy as np, tempfile, radnb.train as rt
>>> x = np.random.default_rng(0).normal(0, 100, (8, 32, 32)).astype("float32")
>>> dls = rt.classification_dls(x, label=[0, 1] * 4, patient=range(8), windows="soft_tissue", size=32)
>>> learn = rt.classifier(dls, arch="compact")
>>> path = rt.save_model(learn, tempfile.mkdtemp() + "/model.pth")
>>> model = rt.load_model(path)
>>> model.preprocessing.windows
('soft_tissue',)
"""
from __future__ import annotations

import datetime as _dt
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
import torch

from ..errors import InvalidArgumentError, ModelFileError, RadnbError  # noqa: F401
from .cache import PreprocessCache
from .learners import ModelInfo, build_model
from .prep import (IMAGE_SUFFIXES, ArrayItem, Preprocessing, SliceItem, load_image, load_volume)

PathLike = Union[str, Path]
FORMAT = "radnb-model"
FORMAT_VERSION = 1

__all__ = ["save_model", "load_model", "predict", "predict_volume", "RadnbModel", "ModelFileError",
           "model_and_info", "prepare_batch", "activation", "forward_probabilities", "item_probabilities"]


class RadnbModel:
    """A trained network plus the settings it was trained with (what :func:`load_model` returns).

    Attributes
    ----------
    model
        The ``torch.nn.Module`` (in eval mode).
    info
        :class:`~radnb.train.learners.ModelInfo`: kind, arch, classes, positive class.
    preprocessing
        :class:`~radnb.train.prep.Preprocessing` (windows, size, normalisation).

    Use it with :func:`predict`, :func:`radnb.train.interpret.gradcam`, or
    fine-tune it further with ``radnb.classifier(dls, pretrained=path)``.
    """

    def __init__(self, model: torch.nn.Module, info: ModelInfo, meta: Optional[dict] = None):
        self.model, self.info = model.eval(), info
        self.preprocessing = info.prep
        self.meta = meta or {}

    @property
    def vocab(self) -> List[str]:
        return list(self.info.vocab)

    def predict(self, source: Any, **kwargs) -> pd.DataFrame:
        """Same as :func:`predict` with this model."""
        return predict(self, source, **kwargs)

    def __repr__(self) -> str:
        return (f"RadnbModel({self.info.kind}, {self.info.arch}, classes={self.vocab}, "
                f"{self.preprocessing.describe()})")


def model_and_info(obj: Any) -> Tuple[torch.nn.Module, ModelInfo]:
    """The network and its :class:`~radnb.train.learners.ModelInfo` of a radnb learner or :class:`RadnbModel`.

    Examples
    --------
    >>> model_and_info(object())  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    radnb.errors.InvalidArgumentError: Expected a learner from radnb.classifier/segmenter ...
    """
    if isinstance(obj, RadnbModel):
        return obj.model, obj.info
    info = getattr(obj, "radnb", None)
    if isinstance(info, ModelInfo):
        return obj.model, info
    raise InvalidArgumentError("Expected a learner from radnb.classifier/segmenter or a model from radnb.load_model.")


_model_and_info = model_and_info  # the name radnb used before it was public


def save_model(learner: Any, path: PathLike) -> Path:
    """Write weights and preprocessing to one file (``torch.save`` of plain data; ``.pth``).

    Parameters
    ----------
    learner
        A learner from :func:`radnb.classifier` / :func:`radnb.segmenter` (or a
        :class:`RadnbModel`).
    path
        File to write; parent folders are created. In distributed training
        (several processes) only process 0 writes; the others return the path.

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np, radnb.train as rt
    >>> x = np.random.default_rng(0).normal(0, 100, (12, 32, 32)).astype("float32")
    >>> learn = rt.classifier(rt.classification_dls(x, label=["normal", "opacity"] * 6, patient=range(12)), arch="compact")
    >>> import pathlib, tempfile
    >>> path = save_model(learn, pathlib.Path(tempfile.mkdtemp()) / "model.pth")
    >>> load_model(path).vocab
    ['normal', 'opacity']
    """
    from .distributed import is_main_process

    path = Path(path)
    if not is_main_process():  # distributed training: the processes hold the same weights; process 0 writes
        return path
    model, info = model_and_info(learner)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "info": asdict(info), "state_dict": state,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    from .. import __version__

    payload["radnb_version"] = __version__
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_model(path: PathLike, device: Any = None) -> RadnbModel:
    """Load a model written by :func:`save_model`, with its preprocessing.

    Parameters
    ----------
    path
        The ``.pth`` file.
    device
        ``"cpu"``, ``"cuda"``...; default :func:`radnb.device_info`.

    Returns
    -------
    RadnbModel

    Examples
    --------
    >>> load_model("missing.pth")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    radnb.train.inference.ModelFileError: missing.pth: no such file
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file. Save a model with radnb.train.save_model(learn, path) first.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(f"{path}: not a readable model file ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a radnb model file (it has no radnb preprocessing). For plain weights use "
                             "radnb.classifier(dls, pretrained=path).")
    if payload.get("version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"{path}: written by a newer radnb; upgrade radnb (%pip install -U radnb).")
    info = ModelInfo(**payload["info"])
    model = build_model(info.kind, info.arch, info.n_in, info.n_out, info.prep.size, None, **info.model_kwargs)
    model.load_state_dict(payload["state_dict"])
    from ..system import device_info

    dev = torch.device(device) if device is not None else device_info().torch_device
    model.to(dev)
    meta = {k: v for k, v in payload.items() if k not in ("state_dict", "info")}
    return RadnbModel(model, info, meta)


# ------------------------------------------------------------------ prediction
def _collect_items(source: Any) -> List[Any]:
    if isinstance(source, np.ndarray):
        arrays = [source] if source.ndim == 2 else list(source)
        return [ArrayItem(np.asarray(a), name=f"array[{i}]") for i, a in enumerate(arrays)]
    if isinstance(source, pd.DataFrame):
        from .data import FILE_COLUMNS, _find_column

        col = _find_column(source, "auto", FILE_COLUMNS, "file")
        if col is None:
            raise InvalidArgumentError(f"The table needs a file column; columns are {list(source.columns)}.")
        return [Path(p) for p in source[col]]
    if isinstance(source, (list, tuple)):
        out = []
        for i, s in enumerate(source):
            out.append(ArrayItem(np.asarray(s), name=f"array[{i}]") if isinstance(s, np.ndarray) else s)
        return out
    path = Path(source)
    if path.is_dir():
        from ..dicom import sniff_dicom

        files = [p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".")]
        return [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES or sniff_dicom(p)]
    if not path.exists():
        raise InvalidArgumentError(f"{path}: no such file or folder.")
    return [path]


def _patient_of(item: Any) -> str:
    if isinstance(item, (str, Path)) and Path(item).suffix.lower() not in IMAGE_SUFFIXES:
        from .data import _header_patient

        return _header_patient(Path(item)) or ""
    return ""


def prepare_batch(images: Sequence[np.ndarray], preprocessing: Preprocessing, device: Any = None) -> torch.Tensor:
    """Prepared images -> one float32 batch normalised with the model's statistics, on ``device``.

    Parameters
    ----------
    images
        Arrays (C, size, size) from :func:`radnb.train.prep.load_image` (windowed to [0, 1]), or one
        array (N, C, size, size).
    preprocessing
        The model's :class:`~radnb.train.prep.Preprocessing` (its ``mean`` / ``std`` per channel).
    device
        Where the batch goes (default the CPU).

    Returns
    -------
    torch.Tensor
        (N, C, size, size): ``(image - mean) / std`` per channel.

    Examples
    --------
    >>> prep = Preprocessing(windows=("auto",), size=8, mean=(0.5,), std=(0.25,))
    >>> prepare_batch([np.ones((1, 8, 8), np.float32)], prep).unique().tolist()
    [2.0]
    """
    batch = np.asarray(images, dtype=np.float32) if isinstance(images, np.ndarray) else np.stack(images).astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(batch)).to(device if device is not None else "cpu")
    mean = torch.tensor(preprocessing.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(preprocessing.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def activation(logits: torch.Tensor, multilabel: bool = False) -> torch.Tensor:
    """Logits -> probabilities: softmax over the class axis (dim 1), or a sigmoid per label when ``multilabel``.

    The one place radnb turns a network's output into probabilities (radnb's batches and fastai's alike).

    Examples
    --------
    >>> p = activation(torch.zeros(2, 4))
    >>> p.shape, float(p.sum(1)[0])
    (torch.Size([2, 4]), 1.0)
    """
    return torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1)


def forward_probabilities(model: torch.nn.Module, images: Sequence[np.ndarray], preprocessing: Preprocessing, *,
                          multilabel: bool = False, bs: int = 64) -> np.ndarray:
    """Run ``model`` in eval mode on prepared images -> class probabilities (numpy, on the CPU).

    Softmax over the class axis (classifiers: (N, C); segmenters: (N, C, H, W)), or a sigmoid
    per label when ``multilabel``. The model's train/eval mode is restored afterwards.

    Parameters
    ----------
    model
        The network (``learn.model`` or ``RadnbModel.model``).
    images
        Prepared arrays (C, size, size), see :func:`prepare_batch`.
    preprocessing
        The model's preprocessing (normalisation statistics).
    multilabel
        Sigmoid outputs instead of softmax.
    bs
        Images per forward pass.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    >>> prep = Preprocessing(windows=("auto",), size=8, mean=(0.5,), std=(0.25,))
    >>> p = forward_probabilities(net, [np.zeros((1, 8, 8), np.float32)] * 5, prep, bs=2)
    >>> p.shape, bool(np.allclose(p.sum(1), 1.0))
    ((5, 3), True)
    """
    dev = _device_of(model)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            for start in range(0, len(images), bs):
                logits = model(prepare_batch(images[start:start + bs], preprocessing, dev)).float()
                outputs.append(activation(logits, multilabel).cpu())
    finally:
        model.train(was_training)
    return torch.cat(outputs).numpy() if outputs else np.zeros((0,), dtype=np.float32)


def item_probabilities(learner: Any, items: Sequence[Any], *, bs: int = 64,
                       cache: Optional[PreprocessCache] = None) -> np.ndarray:
    """Load items with the model's stored preprocessing and return their class probabilities.

    ``items`` are what :func:`radnb.train.prep.load_image` reads (paths, ``ArrayItem``,
    ``SliceItem``); ``learner`` a radnb learner or :class:`RadnbModel`.

    Examples
    --------
    >>> import radnb.train as rt
    >>> x = np.random.default_rng(0).normal(0, 100, (8, 32, 32)).astype("float32")
    >>> learn = rt.classifier(rt.classification_dls(x, label=[0, 1] * 4, patient=range(8), windows="auto", size=32), arch="compact")
    >>> item_probabilities(learn, [ArrayItem(x[0])]).shape
    (1, 2)
    """
    model, info = model_and_info(learner)
    prep = info.prep
    chunks = [forward_probabilities(model, [load_image(it, prep, cache) for it in items[start:start + bs]], prep,
                                    multilabel=info.multilabel, bs=bs)
              for start in range(0, len(items), bs)]  # loaded a batch at a time: a large set never sits in memory
    return np.concatenate(chunks) if chunks else np.zeros((0,), dtype=np.float32)


def predict(learner: Any, source: Any, *, bs: int = 64, threshold: Optional[float] = None,
            cache: Union[bool, PreprocessCache] = True) -> pd.DataFrame:
    """Predict every image in a file, folder, list, table or array.

    Images are prepared with the model's stored preprocessing (windows, size,
    normalisation) - never with new settings.

    Parameters
    ----------
    learner
        A radnb learner or a :class:`RadnbModel` from :func:`load_model`.
    source
        A DICOM/PNG file, a folder (searched recursively), a list of paths, a
        DataFrame with a file column, or an array (H, W) / (N, H, W).
    bs
        Images per forward pass.
    threshold
        For binary classifiers: call the positive class when its probability is
        at least this (default: the most probable class).

    Returns
    -------
    pandas.DataFrame
        Classifier: file, patient, ``prob_<class>`` per class, prediction (and
        error for files that could not be read). Segmenter: file, patient, mask
        (label map at the model's size), and ``fraction_<class>`` per class.

    Examples
    --------
    >>> import numpy as np, radnb.train as rt
    >>> x = np.random.default_rng(0).normal(0, 100, (8, 32, 32)).astype("float32")
    >>> learn = rt.classifier(rt.classification_dls(x, label=[0, 1] * 4, patient=range(8), windows="auto", size=32), arch="compact")
    >>> list(predict(learn, x[:2]).columns)
    ['file', 'patient', 'prob_0', 'prob_1', 'prediction']
    """
    model, info = model_and_info(learner)
    prep = info.prep
    store = cache if isinstance(cache, PreprocessCache) else PreprocessCache(enabled=bool(cache))
    items = _collect_items(source)
    if not items:
        raise InvalidArgumentError(f"{source}: no images found to predict.")
    rows, arrays, errors = [], [], {}
    good = []
    for item in items:
        try:
            arrays.append(load_image(item, prep, store))
            good.append(item)
        except RadnbError as exc:
            errors[str(item)] = str(exc)
    if errors:
        warnings.warn(f"{len(errors)} file(s) could not be read: " + "; ".join(list(errors.values())[:3]), stacklevel=2)
    probs = forward_probabilities(model, arrays, prep, multilabel=info.multilabel, bs=bs)
    vocab = list(info.vocab)
    for item, p in zip(good, probs):
        row = {"file": str(item), "patient": _patient_of(item)}
        if info.kind == "segmenter":
            mask = p.argmax(axis=0).astype(np.int64)
            row["mask"] = mask
            for k, name in enumerate(vocab):
                row[f"fraction_{name}"] = float((mask == k).mean())
        else:
            for k, name in enumerate(vocab):
                row[f"prob_{name}"] = float(p[k])
            if info.multilabel:
                row["prediction"] = "|".join(v for k, v in enumerate(vocab) if p[k] >= (threshold or 0.5))
            elif threshold is not None and info.positive is not None:
                row["prediction"] = vocab[info.positive] if p[info.positive] >= threshold else vocab[1 - info.positive]
            else:
                row["prediction"] = vocab[int(p.argmax())]
        rows.append(row)
    df = pd.DataFrame(rows)
    if errors:
        err = pd.DataFrame([{"file": f, "patient": "", "error": e} for f, e in errors.items()])
        df = pd.concat([df, err], ignore_index=True)
    return df


def predict_volume(learner: Any, volume: Any, *, bs: int = 32, probabilities: bool = False,
                   cache: Union[bool, PreprocessCache] = True) -> np.ndarray:
    """Segment a whole volume slice by slice -> label map (Z, size, size) (or probabilities (Z, C, size, size)).

    ``volume`` is a DICOM series folder, a multi-frame file, a 3-D ``.npy`` /
    NIfTI file or a 3-D array; 2.5D models get their neighbouring slices.

    Examples
    --------
    >>> import numpy as np, radnb.train as rt
    >>> vols = [np.random.default_rng(i).normal(0, 50, (4, 32, 32)).astype("float32") for i in range(4)]
    >>> learn = rt.segmenter(rt.segmentation_dls(vols, [(v > 50).astype("uint8") for v in vols], size=32), arch="compact")
    >>> predict_volume(learn, vols[0]).shape, predict_volume(learn, vols[0], probabilities=True).shape
    ((4, 32, 32), (4, 2, 32, 32))
    """
    model, info = model_and_info(learner)
    if info.kind != "segmenter":
        raise InvalidArgumentError("predict_volume needs a segmentation model (radnb.segmenter).")
    prep = info.prep
    store = cache if isinstance(cache, PreprocessCache) else PreprocessCache(enabled=bool(cache))
    if isinstance(volume, ArrayItem):
        source = volume
    elif isinstance(volume, np.ndarray):
        source = ArrayItem(np.asarray(volume), name="volume")
    else:
        source = Path(volume)
    depth = load_volume(source, prep, store).shape[0]
    outs = []
    for start in range(0, depth, bs):
        batch = [load_image(SliceItem(source, z), prep, store) for z in range(start, min(depth, start + bs))]
        outs.append(forward_probabilities(model, batch, prep, bs=bs))
    probs = np.concatenate(outs)
    return probs if probabilities else probs.argmax(axis=1).astype(np.int64)
