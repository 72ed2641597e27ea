"""Training on several GPUs (or CPU processes) with fastai's distributed training and Hugging Face Accelerate.

radnb does not run its own multi-process engine: fastai's ``DistributedTrainer``
(PyTorch ``DistributedDataParallel`` set up by Accelerate) trains, and this
module adds what radiology training needs on top of it:

* the preprocessing cache is filled **once**: :func:`rank0_first` (fastai's)
  lets process 0 decode and window every file while the others wait, then they
  read the cached arrays. :func:`radnb.classification_dls` and
  :func:`radnb.segmentation_dls` do this by themselves when launched on several
  processes;
* every process makes the **same patient split** (the split depends on the
  seed only; fastai's ``DistributedDL`` hands each process its share of the
  batches, in the order process 0 drew);
* radnb's metrics (AUROC, sensitivity, specificity, Dice, IoU) gather the
  predictions of **all** processes through the learner's ``to_detach`` (what
  fastai's ``AccumMetric`` uses), so an AUROC is computed once over the whole
  validation set, never averaged over per-process AUROCs;
* :func:`radnb.save_model` writes on process 0 only, and :func:`train`
  evaluates there;
* nothing touches CUDA before the launch (:func:`notebook_train` refuses to
  start in a kernel that already did, with a message saying what to do).

Three ways in:

* a script: ``accelerate launch --num_processes 2 -m radnb.cli train data/ --out model.pth``
  (``--cpu`` on a machine without GPUs), see ``docs/SCALING.md``;
* a notebook: ``radnb.train.distributed.notebook_train("data/", num_processes=2, out="model.pth")``
  (Accelerate's ``notebook_launcher`` underneath);
* your own fastai code: build the DataLoaders and learner as usual inside the
  launched function and train ``with distrib_ctx(learn): learn.fit_one_cycle(5)``.

Examples
--------
>>> from radnb.train.distributed import world_size, is_main_process, rank0_first
>>> world_size(), is_main_process()          # a plain Python process is a world of one
(1, True)
>>> rank0_first(lambda: 6 * 7)              # without a launcher it just calls the function
42
"""
from __future__ import annotations

import functools
import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

from ..errors import DistributedSetupError, InvalidArgumentError, MissingDependencyError, RadnbError  # noqa: F401

PathLike = Union[str, Path]

__all__ = ["world_size", "rank", "is_main_process", "rank0_first", "rank0_first_when_distributed",
           "distrib_ctx", "train", "notebook_train", "TrainResult", "DistributedSetupError"]


# ------------------------------------------------------------------ where am I
def world_size() -> int:
    """Number of processes training together (``WORLD_SIZE``, set by the launcher; 1 otherwise).

    Examples
    --------
    >>> world_size() >= 1
    True
    """
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))


def rank() -> int:
    """This process's number among them (0 is the main process).

    Examples
    --------
    >>> rank() < world_size()
    True
    """
    return int(os.environ.get("RANK", "0") or 0)


def is_main_process() -> bool:
    """True in the process that saves models, evaluates and prints (rank 0), and in a plain process.

    Examples
    --------
    >>> is_main_process()
    True
    """
    return rank() == 0


def _require_accelerate(feature: str) -> None:
    try:
        import accelerate  # noqa: F401
    except ImportError:
        raise MissingDependencyError(feature, "accelerate", "'radnb[distributed]'") from None


def _ensure_process_group() -> None:
    """Join the process group the launcher prepared (Accelerate's ``PartialState``: NCCL on GPUs, gloo on CPUs)."""
    import torch
    import torch.distributed as dist

    if world_size() <= 1 or (dist.is_available() and dist.is_initialized()):
        return
    _require_accelerate("Distributed training")
    if not torch.cuda.is_available():
        # what `accelerate launch --cpu` sets; notebook_launcher and `accelerate launch --multi_gpu` on a machine
        # without GPUs do not (the latter sets it to False), and Accelerate would then not wrap the model in DDP
        os.environ["ACCELERATE_USE_CPU"] = "true"

    from accelerate import PartialState

    PartialState(cpu=not torch.cuda.is_available())
    if not dist.is_initialized():
        raise DistributedSetupError(
            f"This process was launched as rank {rank()} of {world_size()} but could not join the others. Launch with "
            "`accelerate launch` (add --cpu without GPUs), torchrun, or radnb.train.distributed.notebook_train.")


_RANK0_FIRST_ACTIVE = False


def rank0_first(func: Callable[..., Any], *args, **kwargs) -> Any:
    """Run ``func`` on process 0 first, then on the others (fastai's ``rank0_first``).

    For work that must happen once, such as downloading a dataset or filling
    the preprocessing cache: process 0 does it while the others wait; they then
    find the files ready. In a plain (single) process it simply calls ``func``.

    Examples
    --------
    >>> rank0_first(sorted, [3, 1, 2])
    [1, 2, 3]
    """
    global _RANK0_FIRST_ACTIVE
    if world_size() <= 1 or _RANK0_FIRST_ACTIVE:
        return func(*args, **kwargs)
    _ensure_process_group()
    from . import _fastai  # noqa: F401
    from fastai.distributed import rank0_first as fastai_rank0_first

    _RANK0_FIRST_ACTIVE = True  # a builder called inside another rank0_first must not wait at a second barrier
    try:
        return fastai_rank0_first(func, *args, **kwargs)
    finally:
        _RANK0_FIRST_ACTIVE = False


def rank0_first_when_distributed(builder: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: when launched on several processes, call ``builder`` through :func:`rank0_first`.

    Applied to :func:`radnb.classification_dls` and :func:`radnb.segmentation_dls`,
    so their preprocessing cache is filled by process 0 alone.

    Examples
    --------
    >>> @rank0_first_when_distributed
    ... def build(n):
    ...     return list(range(n))
    >>> build(3)
    [0, 1, 2]
    """

    @functools.wraps(builder)
    def wrapper(*args, **kwargs):
        if world_size() <= 1:
            return builder(*args, **kwargs)
        return rank0_first(builder, *args, **kwargs)

    return wrapper


# ------------------------------------------------------------------ fastai's trainer, also on CPUs
@functools.lru_cache(maxsize=None)
def _trainer_classes():
    import torch
    import torch.distributed as dist
    from . import _fastai  # noqa: F401
    from fastai.distributed import DistributedDL, DistributedTrainer

    class ProcessGroupDL(DistributedDL):
        """fastai's ``DistributedDL``, sharing process 0's batch order on the process group's own device.

        fastai moves the order to CUDA (NCCL needs it there); with gloo on a machine without GPUs that
        fails, so the order stays on the CPU when the group is gloo."""

        def _broadcast(self, t, rank):
            backend = str(dist.get_backend())
            device = "cpu" if "gloo" in backend and "nccl" not in backend else "cuda"
            t = torch.tensor(list(t), dtype=torch.long, device=device)
            dist.broadcast(t, rank)
            return t.cpu().tolist()

    class RadnbDistributedTrainer(DistributedTrainer):
        """fastai's ``DistributedTrainer`` using :class:`ProcessGroupDL` (works with NCCL and gloo)."""

        def _wrap_dl(self, dl):
            return dl if isinstance(dl, DistributedDL) else ProcessGroupDL(dl, device=self.learn.model.device)

    return ProcessGroupDL, RadnbDistributedTrainer


@contextmanager
def distrib_ctx(learn, sync_bn: Optional[bool] = None, **accelerator_kwargs) -> Iterator[Any]:
    """Train ``learn`` on every launched process: ``with distrib_ctx(learn): learn.fit_one_cycle(5)``.

    fastai's ``learn.distrib_ctx()`` with two differences: it also runs on CPUs
    (gloo), where fastai's batch-order broadcast needs CUDA, and ``sync_bn``
    defaults to ``True`` on GPUs only (PyTorch's ``SyncBatchNorm`` has no CPU
    implementation). On GPUs fastai's own ``learn.distrib_ctx()`` works as well
    and radnb's metrics gather across processes under either. In a plain
    process it changes nothing.

    Parameters
    ----------
    learn
        A fastai ``Learner`` (e.g. from :func:`radnb.classifier`), built inside the launched function.
    sync_bn
        Replace batch norm by ``SyncBatchNorm`` (statistics over all processes' batches).
    accelerator_kwargs
        Passed to ``accelerate.Accelerator`` (e.g. ``mixed_precision="fp16"``).

    Examples
    --------
    >>> import numpy as np, radnb.train as rt
    >>> x = np.random.default_rng(0).normal(0, 100, (8, 32, 32)).astype("float32")
    >>> dls = rt.classification_dls(x, label=[0, 1] * 4, patient=range(8), windows="auto", size=32, bs=4, progress=False)
    >>> learn = rt.classifier(dls, arch="compact")
    >>> with distrib_ctx(learn) as same:     # one process: the learner itself, untouched
    ...     same is learn
    True
    """
    if world_size() <= 1:
        yield learn
        return
    _ensure_process_group()
    from fastai.callback.progress import ProgressCallback

    _, trainer_cls = _trainer_classes()
    if sync_bn is None:
        sync_bn = getattr(learn.dls.device, "type", str(learn.dls.device)) == "cuda"
    import torch

    if not torch.cuda.is_available():
        accelerator_kwargs.setdefault("cpu", True)
    trainer = trainer_cls(sync_bn=sync_bn, **accelerator_kwargs)
    learn.add_cb(trainer)
    quiet = rank() != 0 and hasattr(learn, "progress")
    if quiet:  # one progress bar (process 0's), as fastai does
        learn.remove_cb(ProgressCallback)
    try:
        yield learn
    finally:
        learn.remove_cb(trainer)
        if quiet and not hasattr(learn, "progress"):
            learn.add_cb(ProgressCallback())


# ------------------------------------------------------------------ one training job
@dataclass
class TrainResult:
    """What a :func:`train` run produced (plain data; also written as JSON beside the model).

    Attributes
    ----------
    task
        ``"classification"`` or ``"segmentation"``.
    model_path
        The saved model (written by process 0).
    processes
        How many processes trained together.
    epochs, seconds
        Epochs trained and the wall time of the fit (process 0's clock).
    metrics
        The validation metrics of the epoch the learner kept (``learn.keep_best_epoch``: the
        weights saved in ``model_path``; the last epoch when none was kept) as fastai computed
        them during training, over the predictions gathered from **all** processes (e.g. ``auroc``, ``sensitivity``, ``dice``).
    evaluation
        :func:`radnb.evaluate` on process 0 after training (single-process): for a classifier
        ``auc``, ``sensitivity``, ``specificity``...; for a segmenter ``mean_foreground_dice``.
    n_train, n_valid
        Items (images or slices) on each side of the patient split.
    valid_patients
        The validation patients (identical on every process).
    cache
        Per process: ``{"rank", "prepared", "reused"}`` preprocessing-cache counts while the DataLoaders were built.
    metric_items
        Per process: how many validation predictions radnb's classification metrics saw in the last
        epoch (``n_valid`` on every process when the gathering works; ``None`` for segmentation).
    """

    task: str
    model_path: str
    processes: int
    epochs: int
    seconds: float
    metrics: Dict[str, float]
    evaluation: Dict[str, float]
    n_train: int
    n_valid: int
    valid_patients: List[str]
    cache: List[Dict[str, int]] = field(default_factory=list)
    metric_items: List[Optional[int]] = field(default_factory=list)

    @classmethod
    def load(cls, path: PathLike) -> "TrainResult":
        """Read the JSON that :func:`train` writes next to the model (``<model>.json``)."""
        return cls(**json.loads(Path(path).read_text()))


def _summary_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def _gather_objects(obj: Any) -> List[Any]:
    import torch.distributed as dist

    if world_size() <= 1 or not dist.is_initialized():
        return [obj]
    out: List[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def _share_cpu_threads() -> None:
    """Several processes on one CPU: split its cores between them instead of each taking all."""
    import torch

    if torch.cuda.is_available():
        return
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        usable = os.cpu_count() or 1
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world_size()) or 1)
    torch.set_num_threads(max(1, usable // max(1, local)))


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def train(source: Any, *, task: str = "classification", out: PathLike = "model.pth", epochs: int = 5,
          lr: Optional[float] = None, arch: str = "auto", seed: int = 42, verbose: bool = True,
          **dls_kwargs) -> TrainResult:
    """Build the DataLoaders, train, save and evaluate: one job, on one or several processes.

    Run it as it is in a plain process, or launched on several (``accelerate launch``,
    ``torchrun``, :func:`notebook_train`): every process builds the same DataLoaders
    (process 0 fills the cache first), trains its share of each batch under
    :func:`distrib_ctx`, and process 0 saves the model and evaluates it.

    Parameters
    ----------
    source
        What :func:`radnb.classification_dls` (or, for segmentation,
        :func:`radnb.segmentation_dls`) accepts: a folder, a CSV file...
    task
        ``"classification"`` or ``"segmentation"``.
    out
        Model file to write (``.pth``); the run's :class:`TrainResult` goes beside it as ``.json``.
    epochs, lr
        ``learn.fit_one_cycle(epochs, lr)``; ``lr=None`` uses the learner's default rate.
    arch
        Architecture (``"auto"``: a compact network on CPUs, ResNet-18 based on GPUs).
    seed
        Fixes the patient split, the initial weights and the shuffling (the same on every process).
    verbose
        Print one line per process (split and cache counts) and fastai's progress on process 0.
    dls_kwargs
        Passed to the DataLoaders builder (``windows=``, ``size=``, ``bs=``, ``label=``, ``valid_pct=``...).
        ``bs`` is the batch size **per process**.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from radnb.data.synthetic import make_chest_xrays
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = make_chest_xrays(tmp / "cxr", n_patients=10, images_per_patient=(1, 1), size=48)
    >>> result = train(tmp / "cxr", out=tmp / "model.pth", epochs=1, size=32, bs=4, verbose=False)
    >>> result.processes, (tmp / "model.pth").exists(), 0 <= result.metrics["auroc"] <= 1
    (1, True, True)
    """
    from . import _fastai  # noqa: F401
    from fastai.torch_core import set_seed

    from . import data as rdata
    from . import learners as rlearn
    from .evaluate import evaluate
    from .inference import save_model

    if task not in ("classification", "segmentation"):
        raise InvalidArgumentError(f"task={task!r}: use 'classification' or 'segmentation'.")
    if epochs < 1:
        raise InvalidArgumentError(f"epochs={epochs}: train for at least 1 epoch.")
    out = Path(out)
    _ensure_process_group()  # first, so each process picks its own GPU before anything touches CUDA
    device = None
    if world_size() > 1:
        from accelerate import PartialState

        device = PartialState().device
        _share_cpu_threads()
    set_seed(seed)
    if task == "classification":
        dls_kwargs.setdefault("progress", verbose and is_main_process())
        dls = rdata.classification_dls(source, seed=seed, device=device, **dls_kwargs)
    else:
        dls = rdata.segmentation_dls(source, seed=seed, device=device, **dls_kwargs)
    info = dls.radnb
    counts = {"rank": rank(), "prepared": int(getattr(info.cache, "misses", 0)), "reused": int(getattr(info.cache, "hits", 0))}
    valid_patients = sorted(set(map(str, info.table.patient[info.table.split == "valid"])))
    if verbose:
        print(f"radnb train [process {rank() + 1}/{world_size()}]: {len(dls.train_ds)} training / {len(dls.valid_ds)} "
              f"validation items, validation patients {', '.join(valid_patients[:6])}"
              f"{' ...' if len(valid_patients) > 6 else ''}; preprocessing cache: {counts['prepared']} prepared, "
              f"{counts['reused']} reused", flush=True)
    set_seed(seed)
    make = rlearn.classifier if task == "classification" else rlearn.segmenter
    learn = make(dls, arch=arch)
    if world_size() > 1:
        _share_cpu_threads()  # the learner set the threads for a single process
    if not verbose:
        from fastai.callback.progress import ProgressCallback
        from fastai.imports import noop  # the one learn.no_logging() uses, which radnb's callbacks recognise

        learn.remove_cb(ProgressCallback)
        learn.logger = noop  # fastai prints each epoch's row when there is no progress bar
    started = time.perf_counter()
    with distrib_ctx(learn):
        learn.fit_one_cycle(epochs, lr)
    seconds = time.perf_counter() - started
    names = list(learn.recorder.metric_names[1:-1])  # drop "epoch" and "time"
    # the metrics of the epoch whose weights the learner kept (KeepBestEpoch), i.e. of the model saved below
    kept = getattr(getattr(learn, "keep_best_epoch", None), "epoch_kept", None)
    values = list(learn.recorder.values[kept if kept is not None else -1])
    metrics = {n: _float(v) for n, v in zip(names, values) if n not in ("train_loss",)}
    # how many validation predictions radnb's metrics saw in the last epoch: all of them, once, on every process
    from .fastai_metrics import ProbabilityMetric

    seen = next((sum(len(p) for p in m.preds) for m in learn.metrics
                 if isinstance(m, ProbabilityMetric) and m.preds), None)
    all_counts = _gather_objects(counts)
    result = TrainResult(task=task, model_path=str(out), processes=world_size(), epochs=epochs,
                         seconds=round(seconds, 3), metrics=metrics, evaluation={}, n_train=len(dls.train_ds),
                         n_valid=len(dls.valid_ds), valid_patients=valid_patients, cache=all_counts,
                         metric_items=_gather_objects(seen))
    if is_main_process():
        save_model(learn, out)
        report = evaluate(learn, n_bootstrap=200)
        if task == "classification":
            result.evaluation = {"auc": _float(report.auc), **{k: _float(v) for k, v in report.metrics.items()}}
        else:
            result.evaluation = {"mean_foreground_dice": _float(report.mean_foreground_dice),
                                 **{f"dice_{k}": _float(v) for k, v in report.mean_dice.items()}}
        _summary_path(out).write_text(json.dumps(asdict(result), indent=2))
    _finish()
    return result


def _finish() -> None:
    """Wait for process 0 (saving, evaluating), then leave the process group."""
    import torch.distributed as dist

    if world_size() > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _launched_train(source: Any, out: str, train_kwargs: Dict[str, Any]) -> None:
    """What each process started by :func:`notebook_train` runs (a named function: the launcher needs one)."""
    train(source, out=out, **train_kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def notebook_train(source: Any, *, num_processes: int = 2, out: PathLike = "model.pth", **train_kwargs) -> TrainResult:
    """:func:`train` on ``num_processes`` processes from a notebook (Accelerate's ``notebook_launcher``).

    Call it **before anything in the kernel touches the GPU** (building
    DataLoaders or a learner, ``radnb.device_info()``...): CUDA cannot be
    shared with the processes the launcher forks. Each process gets one GPU;
    without GPUs, CPU processes train together (gloo), which is how radnb
    tests this.

    Parameters
    ----------
    source, out, train_kwargs
        As for :func:`train`.
    num_processes
        Processes to start (usually the number of GPUs).

    Returns
    -------
    TrainResult
        Read from the JSON that process 0 wrote beside the model.

    Examples
    --------
    >>> try:
    ...     notebook_train("data/", num_processes=0)
    ... except InvalidArgumentError as err:
    ...     print(err)
    num_processes=0: start at least 1.
    """
    import torch

    if num_processes < 1:
        raise InvalidArgumentError(f"num_processes={num_processes}: start at least 1.")
    if torch.cuda.is_initialized():
        raise DistributedSetupError(
            "This kernel has already used the GPU, so it cannot start training processes that share it. Restart the "
            "kernel (Kernel > Restart) and call notebook_train first, before building DataLoaders or learners.")
    _require_accelerate("notebook_train")
    from accelerate import notebook_launcher

    out = Path(out).resolve()
    summary = _summary_path(out)
    summary.unlink(missing_ok=True)
    notebook_launcher(_launched_train, args=(source, str(out), train_kwargs), num_processes=num_processes,
                      use_port=str(_free_port()))
    if not summary.exists():
        raise DistributedSetupError(f"The training processes ended without writing {summary}; see their output above.")
    return TrainResult.load(summary)
