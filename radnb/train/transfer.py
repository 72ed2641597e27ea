"""Transfer learning that works offline: pretrain on a larger related task, then fine-tune.

ImageNet weights need a download, which offline classrooms do not have.
:func:`pretrain` trains a *source* model on a larger related task and saves it;
``radnb.classifier(dls, pretrained=path)`` then starts a *target* model from its
encoder. Comparing that with ``pretrained=False`` on a small target set is the
"pretrained vs. from scratch" lesson, runnable anywhere.

Two synthetic source tasks ship with radnb, and they teach that *related sources
transfer best*:

* ``"chest_xray_external"`` (default): opacity vs normal on ~450 chest
  radiographs from another hospital (another scanner, other patients), like a
  public chest dataset. Its features are the target's (lung texture, airspace
  shadowing); fine-tuning on a few dozen local images clearly beats training
  from scratch (``benchmarks/train_tasks.py`` prints the margin).
* ``"body_part"``: chest vs abdomen radiographs. Easy (the body outline gives it
  away), so its features say little about the lungs; it transfers little.

Examples
--------
>>> from radnb.train.transfer import pretrained_file
>>> pretrained_file("body_part", "resnet18", 64, ("auto",)).name.startswith("pretrained-body_part-resnet18-64")
True
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from ..errors import InvalidArgumentError

PathLike = Union[str, Path]
TASKS = {"chest_xray_external": "chest_xray_external", "body_part": "body_part", "chest_xray": "chest_xray"}
SELF_SUPERVISED = ("self_supervised", "ssl", "contrastive")

__all__ = ["pretrain", "pretrained_file"]


def pretrained_file(task: str, arch: str, size: int, windows: Sequence[Any], epochs: Optional[int] = None,
                    **settings: Any) -> Path:
    """Where :func:`pretrain` keeps a source model (under the data dir), named by its settings.

    Every setting that changes the trained model (windows, epochs and the
    ``settings`` given: learning rate, batch size, ``max_items``, seed, data)
    goes into the name, so a model trained one way is never reused for another.
    """
    from ..config import data_dir

    key = [list(w) if isinstance(w, tuple) else w for w in windows] + [epochs]
    if settings:
        key.append({k: str(v) for k, v in sorted(settings.items())})
    tag = hashlib.blake2b(json.dumps(key).encode(), digest_size=4).hexdigest()
    return data_dir() / "models" / f"pretrained-{task}-{arch}-{size}-{tag}.pth"


def _data_key(data: Any) -> str:
    """A stable name for user-supplied training data: the resolved path, or a hash of a table's content."""
    if isinstance(data, (str, Path)):
        return str(Path(data).resolve())
    if hasattr(data, "path") and hasattr(data, "labels"):  # a radnb.datasets dataset
        return f"{type(data).__name__}-{Path(data.path).resolve()}"
    import numpy as np

    if isinstance(data, np.ndarray):
        from .prep import array_digest

        return "array-" + array_digest(data)
    try:
        import pandas as pd

        return hashlib.blake2b(pd.util.hash_pandas_object(data, index=False).values.tobytes(), digest_size=8).hexdigest()
    except Exception:  # arrays or other objects: never reuse a cached model for them
        return f"object-{time.time_ns()}"


def pretrain(task: str = "chest_xray_external", arch: str = "auto", *, data: Optional[PathLike] = None,
             windows: Any = "auto", size: Optional[int] = None, epochs: Optional[int] = None,
             lr: Optional[float] = None, bs: Optional[int] = None, max_items: Optional[int] = None,
             path: Optional[PathLike] = None, force: bool = False, seed: int = 0, verbose: bool = True) -> Path:
    """Train a source model on a larger related task and save it for fine-tuning.

    Parameters
    ----------
    task
        ``"chest_xray_external"`` (default: opacity vs normal on chest
        radiographs from another hospital, ``radnb.sample_data("chest_xray_external")``;
        a related source), ``"body_part"`` (chest vs abdomen radiographs; an
        easy, less related source) or ``"chest_xray"``; or
        ``"self_supervised"``: contrastive pretraining (SimCLR-style, see
        :mod:`radnb.train.selfsup`) on *your own unlabelled images*, given as
        ``data=`` (``benchmarks/real_data.py`` compares it with training from
        scratch on real radiographs: ahead on most subsets and seeds, not on
        all; the tables there say where).
        Rows marked ``split == "test"`` are left out even though no labels
        are used.
    arch
        Encoder architecture (default ``"auto"``: the compact CNN on a CPU,
        ResNet-18 on a GPU, as :func:`radnb.classifier` picks). The target model
        built with ``pretrained=`` this file takes the same architecture.
    data
        Use another labelled folder / CSV instead of the sample set; for
        ``"self_supervised"`` any images (folder, table, array, a
        :func:`radnb.datasets.load` dataset), labels not needed.
    windows, size
        Preprocessing; use the same for the target task (default: automatic
        window, the device's default size or the images' own when smaller).
    epochs, lr, bs
        Training schedule (one-cycle, peak rate ``lr``, default 3e-3); default 4
        epochs on a CPU, 8 on a GPU; self-supervised: 15 epochs in batches of
        :func:`self_supervised_bs` images (256 up to 32 pixels, fewer for larger images).
    max_items
        Train on the first ``max_items`` images only (quick demos and tests).
    seed
        Seeds the split and the training (fastai's ``set_seed``), so the same
        settings always give the same source model; the caller's random state
        is restored afterwards.
    verbose
        Print what happens, with fastai's progress bar and epoch table;
        ``False`` trains silently.
    path
        Where to save; default under ``radnb.config.data_dir()/models``. An
        existing file with the same settings is reused unless ``force=True``.

    Returns
    -------
    Path
        A radnb model file: pass it as ``radnb.classifier(dls, pretrained=path)``
        (its encoder is copied; the new head starts fresh and the learner starts
        frozen, so ``learn.fine_tune(...)`` trains head first, then everything
        with discriminative learning rates).

    Examples
    --------
    >>> import radnb                                               # doctest: +SKIP
    >>> source = radnb.pretrain(epochs=3)                          # doctest: +SKIP
    >>> learn = radnb.classifier(dls_small, pretrained=source)     # doctest: +SKIP
    >>> learn.fine_tune(5)                                         # doctest: +SKIP
    """
    from .data import classification_dls, default_size
    from .inference import save_model
    from .learners import classifier

    user_data = data
    self_supervised = task in SELF_SUPERVISED
    if self_supervised and data is None:
        raise InvalidArgumentError(
            f"task={task!r} learns from your own images: pass them as data= (a folder, a table, an array of images "
            "or a radnb.datasets dataset; labels are not needed and not used).")
    if data is None:
        if task not in TASKS:
            raise InvalidArgumentError(f"Unknown pretraining task {task!r}; use one of {list(TASKS)} or pass data=.")
        from ..data.synthetic import sample_data

        data = sample_data(TASKS[task])
    size = size or _data_side(data)
    win = windows if isinstance(windows, (list, tuple)) and not (len(windows) == 2 and all(isinstance(v, (int, float)) for v in windows)) else (windows,)
    from .learners import setup_device

    info = setup_device()
    epochs = epochs or (SELF_SUPERVISED_EPOCHS if self_supervised else 4 if info.kind == "cpu" else 8)
    if arch == "auto":
        from .learners import default_classifier_arch

        arch = default_classifier_arch(info.kind)
    if self_supervised:
        task = "self_supervised"
        lr = lr if lr is not None else 3e-3
        bs = bs or self_supervised_bs(size)
    lr = lr if lr is not None else 3e-3
    settings = {"lr": lr, "bs": bs, "max_items": max_items, "seed": seed}
    if user_data is not None:
        settings["data"] = _data_key(user_data)
    if self_supervised:  # files saved before the fix that made the contrastive loss train (it never did) are not reused
        settings["objective"] = "nt_xent-2"
    target = Path(path) if path is not None else pretrained_file(task, arch, size, win, epochs, **settings)
    if target.exists() and not force:
        if verbose:
            print(f"Using the pretrained {arch} already saved at {target} (force=True retrains).")
        return target
    from . import _fastai  # noqa: F401
    from fastai.torch_core import no_random

    start = time.perf_counter()
    # The saved file is reused by its settings, seed included, so the model it holds must depend on them alone,
    # not on whatever random state the session happened to be in; and since a cached call trains nothing, the
    # caller's random state is put back afterwards (no_random) so a rerun draws the same numbers either way.
    with no_random(seed, reproducible=False):
        if self_supervised:
            learn = _self_supervised(data, arch, win, size, bs, epochs, lr, seed, max_items, verbose, info.kind)
            save_model(learn, target)
            if verbose:
                print(f"Saved the self-supervised model to {target} after {time.perf_counter() - start:.0f} s.")
            return target
        dls = classification_dls(data, windows=win, size=size, bs=bs, seed=seed, max_items=max_items,
                                 progress=verbose)
        learn = classifier(dls, arch=arch, pretrained=False)
        if verbose:
            print(f"Pretraining {arch} on {task} ({len(dls.train_ds)} training images, {size}px) on {info.kind}...")
            learn.fit_one_cycle(epochs, lr)
        else:
            with learn.no_bar(), learn.no_logging():
                learn.fit_one_cycle(epochs, lr)
    save_model(learn, target)
    if verbose:
        print(f"Saved the source model to {target} after {time.perf_counter() - start:.0f} s.")
    return target


SELF_SUPERVISED_EPOCHS = 15  # not tuned: benchmarks/real_data.py runs it on all 3,882 training images (--ssl-epochs)
SELF_SUPERVISED_BS = 256  # a contrastive batch: each image is told apart from 2 * 255 others


def self_supervised_bs(size: int) -> int:
    """The default contrastive batch for ``size``-pixel images: 256 up to 32 pixels, then fewer (at least 64).

    Both views of every image go through the network at once, so a batch of 256 at 64 pixels needs
    four times the activation memory of one at 32 (about 1 GB more on radnb's compact CNN, past what
    a 2 GB Binder session has to spare); the batch shrinks with the pixel count instead.

    Examples
    --------
    >>> self_supervised_bs(28), self_supervised_bs(64), self_supervised_bs(224)
    (256, 64, 64)
    """
    return int(max(64, min(SELF_SUPERVISED_BS, SELF_SUPERVISED_BS * (32 / size) ** 2)))


def _data_side(data: Any) -> int:
    """The default size for ``data``: the device default, or the images' own when smaller (as classification_dls)."""
    import numpy as np

    from .data import data_size, default_size
    from .prep import ArrayItem

    if isinstance(data, np.ndarray) and data.ndim in (3, 4):
        return data_size([ArrayItem(a) for a in data[:16]], "classification")
    if hasattr(data, "arrays") and hasattr(data, "splits"):
        return data_size([ArrayItem(a) for a in data.arrays("train")[0][:16]], "classification")
    return default_size("classification")


def _unlabelled_dls(data: Any, windows, size, bs, seed, max_items, verbose):
    """DataLoaders over every non-test image of ``data`` (labels, if any, are replaced by one placeholder)."""
    import warnings

    import numpy as np
    import pandas as pd

    from .data import _classification_records, classification_dls
    from .prep import ArrayItem

    if isinstance(data, np.ndarray) or (isinstance(data, (list, tuple)) and data and isinstance(data[0], np.ndarray)):
        items = list(data)[:max_items] if max_items else list(data)
    else:
        if isinstance(data, pd.DataFrame) and "label" not in data.columns:  # unlabelled, as promised: fine
            data = data.assign(label="image")
        records, _, _ = _classification_records(data, "label", "auto", "auto", None, "auto", max_items)
        items = [r.item for r in records if r.split != "test"]  # test images stay unseen, even unlabelled
    n = len(items)
    if n < 4:
        raise InvalidArgumentError(f"Self-supervised pretraining needs at least 4 images; got {n}.")
    common = dict(label=["image"] * n, patient=[f"u{i}" for i in range(n)], windows=windows, size=size,
                  bs=min(bs, int(0.9 * n)), seed=seed, valid_pct=0.1, stratify=False, progress=verbose, split=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no patient ids": irrelevant without labels
        if all(isinstance(i, (np.ndarray, ArrayItem)) for i in items):
            return classification_dls([np.asarray(getattr(i, "array", i)) for i in items], **common)
        table = pd.DataFrame({"file": [str(i) for i in items], "label": common.pop("label"),
                              "patient_id": common.pop("patient")})
        return classification_dls(table, **common)


def _self_supervised(data, arch, windows, size, bs, epochs, lr, seed, max_items, verbose, device_kind):
    """Contrastive pretraining of a classifier's encoder on ``data``'s images (labels, if any, unused)."""
    from .learners import classifier
    from .selfsup import pretrain_selfsupervised

    dls = _unlabelled_dls(data, windows, size, bs, seed, max_items, verbose)
    learn = classifier(dls, arch=arch, pretrained=False, keep_best=False)
    if verbose:
        print(f"Self-supervised pretraining of {arch} on {len(dls.train_ds)} unlabelled images "
              f"({dls.radnb.preprocessing.size}px, {epochs} epochs) on {device_kind}...")
    pretrain_selfsupervised(learn, epochs, lr, verbose=verbose)
    return learn
