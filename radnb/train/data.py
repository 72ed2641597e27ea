"""One-line fastai ``DataLoaders`` for radiology: classification and segmentation.

Both builders split **by patient**: every image of a patient goes to the same
side (training or validation). Splitting by image lets near-identical pictures
of one patient sit on both sides, and the validation score then measures
memory of that patient, not skill on new ones - a classic way published models
overstate their accuracy.

Examples
--------
>>> import numpy as np
>>> import radnb.train as rt
>>> images = np.random.default_rng(0).normal(0, 100, (20, 32, 32)).astype("float32")
>>> dls = rt.classification_dls(images, label=[0, 1] * 10, patient=np.arange(20) // 2,
...                             windows="soft_tissue", size=32, bs=4)
>>> dls.radnb.preprocessing.n_channels, len(dls.valid_ds) > 0
(1, True)
"""
from __future__ import annotations

import json
import warnings
from operator import attrgetter
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..errors import InvalidArgumentError, RadnbError
from .cache import PreprocessCache
from .distributed import rank0_first_when_distributed
from .prep import (ArrayItem, Preprocessing, SliceItem, TrainingDataError, _is_image_file, imagenet_stats,
                   load_image, load_mask, load_volume)
from .record import DatasetInfo, RadnbDataLoaders, Record

PathLike = Union[str, Path]

FILE_COLUMNS = ("file", "path", "filename", "image", "series", "dicom")
PATIENT_COLUMNS = ("patient_id", "patient", "PatientID", "patientid", "subject", "subject_id")

__all__ = ["patient_split", "classification_dls", "segmentation_dls", "default_size", "default_bs", "data_size",
           "Record", "DatasetInfo"]


# ------------------------------------------------------------------ device-aware defaults
def _device_kind(device=None) -> str:
    if device is not None:
        import torch

        return torch.device(device).type
    from ..system import device_info

    return device_info().kind


def default_size(task: str = "classification", device=None) -> int:
    """Image side length radnb uses when ``size`` is not given.

    On a CPU smaller images keep a training run to a minute or two (128 px for
    classification, with the compact CNN that :func:`radnb.classifier` picks on a
    CPU; 96 px for segmentation); on a GPU the usual 224 / 256 px.

    Examples
    --------
    >>> default_size("classification", "cpu")
    128
    """
    gpu = _device_kind(device) != "cpu"
    if task == "segmentation":
        return 256 if gpu else 96
    return 224 if gpu else 128


def default_bs(task: str = "classification", device=None) -> int:
    """Batch size radnb uses when ``bs`` is not given.

    Examples
    --------
    >>> default_bs("segmentation", "cpu")
    16
    """
    gpu = _device_kind(device) != "cpu"
    if task == "segmentation":
        return 16
    return 64 if gpu else 32


def _native_side(item: Any) -> Optional[int]:
    """The longer side of an image in pixels, read cheaply (array shape, PNG header, DICOM Rows/Columns)."""
    try:
        if isinstance(item, ArrayItem):
            shape = np.asarray(item.array).shape
            return int(max(shape[:2])) if len(shape) in (2, 3) else None
        if isinstance(item, SliceItem):
            return None
        path = Path(item)
        if _is_image_file(path):
            from PIL import Image

            with Image.open(path) as im:
                return int(max(im.size))
        if path.is_file():
            from ..dicom import read_dataset

            ds = read_dataset(path, stop_before_pixels=True)
            rows, cols = int(getattr(ds, "Rows", 0) or 0), int(getattr(ds, "Columns", 0) or 0)
            return max(rows, cols) or None
    except Exception:  # unreadable here: the loader reports it properly later
        return None
    return None


def data_size(items: Sequence[Any], task: str = "classification", device=None, sample: int = 16) -> int:
    """The image side radnb trains at when ``size`` is not given: the device default, or the images' own
    (native) size when they are smaller - upsampling 28-pixel images to 128 adds pixels, not information,
    and costs about 20 times the compute.

    Examples
    --------
    >>> import numpy as np
    >>> from radnb.train.prep import ArrayItem
    >>> data_size([ArrayItem(np.zeros((28, 28)))] * 3, "classification", "cpu")
    28
    """
    default = default_size(task, device)
    step = max(1, len(items) // sample)
    sides = [_native_side(it) for it in list(items)[::step][:sample]]
    if not sides or any(s is None for s in sides):
        return default
    return int(min(default, max(max(sides), 16)))


# ------------------------------------------------------------------ split
def patient_split(df: pd.DataFrame, patient_col: str = "patient_id", valid_pct: float = 0.2, seed: int = 42,
                  stratify: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Split rows into training and validation **by patient**.

    All rows of one patient land on the same side, so the validation set holds
    only patients the model has never seen. With ``stratify`` (a column name),
    patients are split within each group of that column (a patient's group is
    their most frequent value), so rare labels appear on both sides. The same
    ``seed`` always gives the same split.

    Parameters
    ----------
    df
        One row per image (or slice).
    patient_col
        Column holding the patient identifier.
    valid_pct
        Fraction of *patients* for validation (at least one patient per side).
    seed
        Random seed.
    stratify
        Optional column to stratify on (e.g. the label).

    Returns
    -------
    (train_idx, valid_idx)
        Integer row positions (sorted).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"patient_id": ["a", "a", "b", "c", "c", "d"], "label": [0, 0, 1, 0, 0, 1]})
    >>> train, valid = patient_split(df, "patient_id", valid_pct=0.5, seed=0)
    >>> set(df.patient_id[train]) & set(df.patient_id[valid])
    set()
    """
    if patient_col not in df.columns:
        raise InvalidArgumentError(f"No column {patient_col!r} to split by; columns are {list(df.columns)}.")
    if not 0 < valid_pct < 1:
        raise InvalidArgumentError(f"valid_pct must be between 0 and 1 (e.g. 0.2), not {valid_pct}.")
    patients = df[patient_col].astype(str)
    unique = sorted(patients.unique())
    if len(unique) < 2:
        raise InvalidArgumentError("A patient split needs at least two patients; all rows belong to one patient.")
    rng = np.random.default_rng(seed)
    if stratify is not None:
        if stratify not in df.columns:
            raise InvalidArgumentError(f"No column {stratify!r} to stratify on; columns are {list(df.columns)}.")
        group_of = df.groupby(patients)[stratify].agg(lambda s: s.astype(str).value_counts().index[0])
        groups = [sorted(group_of[group_of == g].index) for g in sorted(group_of.unique())]
    else:
        groups = [unique]
    valid_patients: List[str] = []
    for members in groups:
        members = list(members)
        rng.shuffle(members)
        n_valid = int(round(valid_pct * len(members)))
        valid_patients += members[:n_valid]
    if not valid_patients:  # tiny sets: still hold out one patient
        valid_patients = [unique[int(rng.integers(len(unique)))]]
    if len(valid_patients) == len(unique):
        valid_patients = valid_patients[:-1]
    is_valid = patients.isin(set(valid_patients)).to_numpy()
    return np.flatnonzero(~is_valid), np.flatnonzero(is_valid)


# ------------------------------------------------------------------ helpers
def _splitter(train_idx, valid_idx):
    """fastai splitter for fixed index lists; a test set (no training items) repeats the test items on the
    training side because fastai sets its transforms up on a training item (training on it is refused:
    :func:`radnb.classifier` checks ``dls.radnb.test_set``)."""
    train = list(map(int, train_idx)) if len(train_idx) else list(map(int, valid_idx))
    valid = list(map(int, valid_idx))
    return lambda items: (train, valid)


def _check_split(train_idx, valid_idx, valid_patients, what: str) -> None:
    """Both sides need items, except a test set: ``valid_patients`` naming every patient (nothing to train on)."""
    if len(valid_idx) == 0:
        if valid_patients is not None:
            raise InvalidArgumentError(
                f"None of the valid_patients {list(valid_patients)[:5]} has {what} in this data; check the patient ids "
                "(they are compared as text).")
        raise InvalidArgumentError(f"The split left no {what} for validation; give more patients or raise valid_pct.")
    if len(train_idx) == 0 and valid_patients is None:
        raise InvalidArgumentError(f"The split left no {what} for training; give more patients or lower valid_pct.")


STEPS_PER_EPOCH = 4  # the default batch is at most a quarter of the training set...
MIN_BATCH = 4  # ...but not below 4 items (batch normalisation compares the items of a batch)


def _batch_size(bs: Optional[int], task: str, dev, n_train: int, what: str) -> int:
    """The batch size to use: at most the number of training items.

    fastai drops the last incomplete training batch, so a training set smaller
    than one batch would train on nothing at all, silently. Shrink the batch
    instead (and say so when the batch size was the user's choice).
    """
    if bs is None:
        # radnb's default is a ceiling: a small set gets smaller batches, so that an epoch still takes several
        # optimiser steps (one step an epoch on a 50-image set barely trains; fastai drops the incomplete batch)
        wanted = default_bs(task, dev)
        if n_train == 0:
            return wanted
        return int(max(min(n_train, MIN_BATCH), min(wanted, n_train // STEPS_PER_EPOCH)))
    wanted = bs
    if n_train == 0 or wanted <= n_train:  # a test set (nothing to train on) or enough items
        return wanted
    warnings.warn(f"Only {n_train} {what} for training, fewer than the batch size {wanted}: using batches of "
                  f"{n_train} so every epoch trains on them (pass bs= to choose).", stacklevel=5)
    return n_train


def _find_column(df: pd.DataFrame, wanted: Optional[str], candidates: Sequence[str], what: str) -> Optional[str]:
    if wanted not in (None, "auto"):
        if wanted not in df.columns:
            raise InvalidArgumentError(f"No {what} column {wanted!r}; the table has columns {list(df.columns)}.")
        return wanted
    lower = {c.lower(): c for c in df.columns}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def _header_patient(path: Path) -> Optional[str]:
    if _is_image_file(path):
        return None
    try:
        from ..dicom import read_dataset

        ds = read_dataset(path, stop_before_pixels=True)
        pid = str(getattr(ds, "PatientID", "") or "").strip()
        return pid or None
    except RadnbError:
        return None


def _table_from_folder(folder: Path) -> Tuple[pd.DataFrame, Path]:
    for name in ("labels.csv", "cases.csv"):
        if (folder / name).exists():
            return pd.read_csv(folder / name), folder
    rows = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(sub.rglob("*")):
            if f.is_file() and not f.name.startswith("."):
                rows.append({"file": str(f), "label": sub.name})
    if not rows:
        raise InvalidArgumentError(
            f"{folder}: found no labels.csv and no class sub-folders. Put images in one folder per class "
            "(e.g. normal/, opacity/) or add a labels.csv with columns file, patient_id, label.")
    return pd.DataFrame(rows), folder


def _as_table(source: Any, folder: Optional[PathLike]) -> Tuple[pd.DataFrame, Path]:
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True), Path(folder) if folder else Path.cwd()
    path = Path(source)
    if not path.exists():
        raise InvalidArgumentError(f"{path}: no such file or folder.")
    if path.is_dir():
        return _table_from_folder(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        df = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
        return df, Path(folder) if folder else path.parent
    raise InvalidArgumentError(f"{path}: give a folder, a CSV file, a DataFrame or an array of images.")


def _resolve_path(value: Any, base: Path) -> Path:
    p = Path(str(value))
    return p if p.is_absolute() else base / p


def _stats(normalize: Any, prep: Preprocessing, records: Sequence[Record], cache) -> Tuple[tuple, tuple]:
    if isinstance(normalize, (tuple, list)) and len(normalize) == 2:
        mean, std = (np.atleast_1d(np.asarray(v, dtype=float)) for v in normalize)
        if mean.size == 1:
            mean, std = np.repeat(mean, prep.n_channels), np.repeat(std, prep.n_channels)
        return tuple(mean.tolist()), tuple(std.tolist())
    if normalize == "imagenet":
        return imagenet_stats(prep.n_channels)
    if normalize == "dataset":
        sample = [load_image(r.item, prep, cache) for r in list(records)[:64]]
        stack = np.stack(sample)
        mean = stack.mean(axis=(0, 2, 3))
        std = stack.std(axis=(0, 2, 3)) + 1e-6
        return tuple(np.round(mean, 4).tolist()), tuple(np.round(std, 4).tolist())
    raise InvalidArgumentError(
        f"normalize={normalize!r} is not understood. Use 'imagenet' (default; right for pretrained models), "
        "'dataset' (statistics of the training images) or a (mean, std) pair.")


def _preload(records: List[Record], load: Callable[[Any], Any], what: str,
             progress: bool = True) -> Tuple[List[Record], List[str]]:
    """Prepare every item once (fills the cache); drop and report the broken ones."""
    kept, errors = [], []
    bar = records
    if progress and len(records) > 200:
        try:
            from fastprogress.fastprogress import progress_bar

            bar = progress_bar(records, leave=False)
        except Exception:  # pragma: no cover - fastprogress ships with fastai
            pass
    for rec in bar:
        try:
            load(rec)
            kept.append(rec)
        except RadnbError as exc:
            errors.append(str(exc))
    if errors:
        shown = "\n  ".join(errors[:10]) + ("\n  ..." if len(errors) > 10 else "")
        warnings.warn(f"{len(errors)} {what} could not be read and were left out:\n  {shown}", stacklevel=4)
    if not kept:
        raise TrainingDataError(f"None of the {len(records)} {what} could be read. First problem: {errors[0]}")
    return kept, errors


def _split_records(records: List[Record], valid_pct: float, seed: int, stratify: bool, valid_patients=None):
    """(train_idx, valid_idx, split_source): the user's valid patients, the split column, else a patient split."""
    df = pd.DataFrame({"patient": [str(r.patient) for r in records],
                       "label": [str(r.label) if not isinstance(r.label, (list, tuple, np.ndarray)) else "|".join(map(str, r.label))
                                 if not isinstance(r.label, SliceItem) else "" for r in records]})
    if valid_patients is not None:
        is_valid = df.patient.isin(set(map(str, valid_patients))).to_numpy()
        return np.flatnonzero(~is_valid), np.flatnonzero(is_valid), "valid_patients"
    sides = np.array([r.split or "" for r in records], dtype=object)
    if (sides != "").any():  # a split column: the user's train / valid sides
        train_idx, valid_idx = np.flatnonzero(sides == "train"), np.flatnonzero(sides == "valid")
        if len(valid_idx) == 0 and len(train_idx):  # no valid rows: validate on some training patients
            sub_train, sub_valid = patient_split(df.iloc[train_idx].reset_index(drop=True), "patient",
                                                 valid_pct=valid_pct, seed=seed, stratify="label" if stratify else None)
            return train_idx[sub_train], train_idx[sub_valid], "column+patient"
        return train_idx, valid_idx, "column"
    train_idx, valid_idx = patient_split(df, "patient", valid_pct=valid_pct, seed=seed,
                                         stratify="label" if stratify else None)
    return train_idx, valid_idx, "patient"


# ------------------------------------------------------------------ the pipeline both builders share
def _separate_test(records: List[Record]) -> Tuple[List[Record], List[Record]]:
    """(records to train and validate on, test records never loaded for training); warns on a leaking column."""
    kept, test = _hold_out_test(records)
    _warn_shared_patients(kept, test)
    return kept, test


def _preprocessing(windows: Any, size: int, cache: Union[bool, PreprocessCache], task: str,
                   context: int = 0) -> Tuple[Preprocessing, PreprocessCache]:
    store = cache if isinstance(cache, PreprocessCache) else PreprocessCache(enabled=bool(cache))
    prep = Preprocessing(windows=windows if windows is not None else (None,), size=size, context=context, task=task)
    return prep, store


def _assemble(records: List[Record], train_idx, valid_idx, yblock, prep: Preprocessing, store: PreprocessCache, *,
              normalize: Any, augment: bool, flip: bool, bs: Optional[int], dev, num_workers: int, what: str):
    """fastai's DataBlock over the records with the fixed split, normalised with the training items' statistics."""
    from fastai.data.block import DataBlock

    from .blocks import RadImageBlock, normalize_tfm, radiology_augmentations

    prep.mean, prep.std = _stats(normalize, prep, [records[i] for i in (train_idx if len(train_idx) else valid_idx)],
                                 store)
    batch_tfms = (radiology_augmentations(flip=flip) if augment else []) + [normalize_tfm(prep)]
    dblock = DataBlock(blocks=(RadImageBlock(prep, store), yblock), get_x=attrgetter("item"), get_y=attrgetter("label"),
                       splitter=_splitter(train_idx, valid_idx), batch_tfms=batch_tfms)
    return dblock.dataloaders(records, bs=_batch_size(bs, prep.task, dev, len(train_idx), what), device=dev,
                              num_workers=num_workers, verbose=False)


def _table(records: List[Record], test_records: List[Record], valid_idx, label_column: str) -> pd.DataFrame:
    """One row per item (training and validation items, then the test rows): item, label/mask, patient, split."""
    shown = list(records) + list(test_records)
    sides = np.array(["train"] * len(records) + ["test"] * len(test_records), dtype=object)
    sides[valid_idx] = "valid"
    labels = [r.label for r in shown] if label_column == "label" else [str(r.label) for r in shown]
    return pd.DataFrame({"item": [str(r.item) for r in shown], label_column: labels,
                         "patient": [str(r.patient) for r in shown], "split": sides})


def _device_and_workers(device, num_workers):
    import torch

    from ..system import device_info

    dev = torch.device(device) if device is not None else device_info().torch_device
    if num_workers is None:
        import os

        num_workers = min(8, (os.cpu_count() or 1)) if dev.type == "cuda" else 0
    return dev, num_workers


# ------------------------------------------------------------------ split column
SPLIT_WORDS = {"train": "train", "training": "train", "valid": "valid", "val": "valid", "validation": "valid",
               "dev": "valid", "test": "test", "testing": "test", "holdout": "test", "hold-out": "test"}


def _split_value(value: Any, where: str) -> str:
    """One cell of a split column -> ``"train"`` / ``"valid"`` / ``"test"`` (a clear error otherwise)."""
    word = str(value).strip().lower()
    if word not in SPLIT_WORDS:
        raise InvalidArgumentError(
            f"{where}: split value {value!r} is not understood. Use 'train', 'valid' (or 'val') or 'test'; "
            "pass split=None to ignore the column and split by patient.")
    return SPLIT_WORDS[word]


def _split_list(split: Any, n: int) -> Optional[List[str]]:
    """A per-item split given as a list (arrays / lists of images) -> normalised values, or None."""
    if split is None or isinstance(split, str):
        return None
    values = [_split_value(v, f"split[{i}]") for i, v in enumerate(split)]
    if len(values) != n:
        raise InvalidArgumentError(f"{n} images but {len(values)} split values.")
    return values


def _is_medmnist(source: Any) -> bool:
    return hasattr(source, "arrays") and hasattr(source, "splits") and hasattr(source, "labels")


def _medmnist_records(ds: Any, max_items: Optional[int]) -> List[Record]:
    """A :class:`radnb.data.datasets.MedMNISTData` -> records with its own train / val / test split."""
    if getattr(ds, "multilabel", False):
        raise InvalidArgumentError(
            f"{ds.name} is multi-label: write it as files with ds.to_folder() and pass label columns, or use the "
            "arrays of one split with label=[...].")
    names = ds.label_names
    records: List[Record] = []
    for split in ds.splits:
        images, labels = ds.arrays(split)
        n = len(images) if max_items is None else min(len(images), max_items)
        side = _split_value(split, ds.name)
        for i in range(n):
            records.append(Record(ArrayItem(images[i], name=f"{ds.name}/{split}[{i}]"),
                                  names.get(int(labels[i]), str(int(labels[i]))), f"{split}-{i}", side))
    return records


def _classification_records(source: Any, label: Any, patient: Any, split: Any, folder: Optional[PathLike],
                            file_col: str, max_items: Optional[int]) -> Tuple[List[Record], bool, Optional[list]]:
    """Whatever the user gave (arrays, a table, a folder, a radnb dataset) -> records with label, patient, split."""
    multilabel = False
    records: List[Record] = []
    vocab = None
    if _is_medmnist(source):
        return _medmnist_records(source, max_items), False, None
    if isinstance(source, np.ndarray) or (isinstance(source, (list, tuple)) and source and isinstance(source[0], np.ndarray)):
        arrays = list(source)
        if label is None or isinstance(label, str):
            raise InvalidArgumentError("With arrays, pass the labels themselves: label=[...] (one per image).")
        labels = list(np.asarray(label).tolist())
        if len(labels) != len(arrays):
            raise InvalidArgumentError(f"{len(arrays)} images but {len(labels)} labels.")
        if patient is None or isinstance(patient, str):
            warnings.warn("No patient ids given: each image counts as its own patient. If a patient has several "
                          "images, pass patient=[...] so the split cannot leak.", stacklevel=4)
            patients = [f"img{i}" for i in range(len(arrays))]
        else:
            patients = [str(p) for p in patient]
        splits = _split_list(split, len(arrays)) or [None] * len(arrays)
        for i, (a, y, p, s) in enumerate(zip(arrays, labels, patients, splits)):
            records.append(Record(ArrayItem(np.asarray(a), name=f"array[{i}]"), y, p, s))
        return records, multilabel, vocab
    df, base = _as_table(source, folder)
    fcol = _find_column(df, file_col, FILE_COLUMNS, "file")
    if fcol is None:
        raise InvalidArgumentError(f"No file column found; name it 'file' or pass file_col=. Columns: {list(df.columns)}.")
    if isinstance(label, (list, tuple)):
        multilabel = True
        missing = [c for c in label if c not in df.columns]
        if missing:
            raise InvalidArgumentError(f"Label columns {missing} are not in the table {list(df.columns)}.")
        vocab = list(label)
    else:
        label = _find_column(df, label, ("label",), "label")
        if label is None:
            raise InvalidArgumentError(f"No label column; pass label='column'. Columns: {list(df.columns)}.")
    pcol = _find_column(df, patient, PATIENT_COLUMNS, "patient") if (patient is None or isinstance(patient, str)) else None
    scol = _find_column(df, split, ("split",), "split") if isinstance(split, str) else None
    splits = _split_list(split, len(df))
    if max_items is not None:
        df = df.iloc[:max_items]
    for i, row in df.iterrows():
        path = _resolve_path(row[fcol], base)
        y = [int(row[c]) for c in label] if multilabel else row[label]
        if pcol is not None:
            pid = str(row[pcol])
        elif patient not in (None, "auto"):
            pid = str(list(patient)[i])
        else:
            pid = _header_patient(path) or path.stem
        side = _split_value(row[scol], f"row {i} ({path.name})") if scol is not None else (splits[i] if splits else None)
        records.append(Record(path, y, pid, side))
    if patient == "auto" and pcol is None:
        warnings.warn("No patient column: patients were taken from the DICOM PatientID (or one per file). "
                      "Pass patient='column' if the table has one.", stacklevel=4)
    return records, multilabel, vocab


def _hold_out_test(records: List[Record]) -> Tuple[List[Record], List[Record]]:
    """(records to train and validate on, test records that are never loaded for training)."""
    return [r for r in records if r.split != "test"], [r for r in records if r.split == "test"]


def _warn_shared_patients(records: Sequence[Record], test_records: Sequence[Record]) -> None:
    """A split column that puts one patient on two sides leaks; say so (the user's column is kept)."""
    sides = {}
    for r in list(records) + list(test_records):
        sides.setdefault(str(r.patient), set()).add(r.split or "train")
    shared = sorted(p for p, s in sides.items() if len(s) > 1)
    if shared:
        warnings.warn(f"{len(shared)} patient(s) have images on more than one side of the split column "
                      f"(e.g. {shared[:3]}): their validation/test images measure memory of that patient, not skill. "
                      "Give each patient a single split value.", stacklevel=5)


# ------------------------------------------------------------------ classification
@rank0_first_when_distributed  # several processes: process 0 fills the cache, the others reuse it
def classification_dls(
    source: Any,
    label: Union[str, Sequence[Any], None] = "label",
    patient: Union[str, Sequence[Any], None] = "auto",
    *,
    windows: Any = None,
    size: Optional[int] = None,
    bs: Optional[int] = None,
    valid_pct: float = 0.2,
    seed: int = 42,
    stratify: bool = True,
    valid_patients: Optional[Sequence[str]] = None,
    split: Union[str, Sequence[str], None] = "auto",
    augment: bool = True,
    flip: bool = False,
    normalize: Any = "imagenet",
    folder: Optional[PathLike] = None,
    file_col: str = "auto",
    max_items: Optional[int] = None,
    cache: Union[bool, PreprocessCache] = True,
    preload: bool = True,
    progress: bool = True,
    device: Any = None,
    num_workers: Optional[int] = None,
):
    """fastai ``DataLoaders`` for image classification from DICOM, PNG/JPEG or arrays.

    The split is **by patient** (see :func:`patient_split`): no patient has
    images in both training and validation, and the same ``seed`` gives the
    same split. It is stratified on the label by default.

    Parameters
    ----------
    source
        * a folder with ``labels.csv`` (columns file, patient_id, label), or with
          one sub-folder per class (``normal/``, ``opacity/``);
        * a CSV file or a ``pandas.DataFrame`` with a file column (paths relative
          to ``folder`` / the CSV's folder);
        * an array (N, H, W) or a list of 2-D arrays (values in HU or other
          physical units; uint8 arrays count as already windowed).
    label
        Label column name; a list of column names for multi-label (0/1 columns);
        with arrays, the labels themselves.
    patient
        Patient column name, ``"auto"`` (a patient_id-like column, else the
        DICOM PatientID, else one patient per image), or per-image ids for arrays.
    windows
        One window per channel, spelled as :func:`radnb.window`'s ``window=``: a preset
        name (``"lung"``), ``(center, width)``, ``"auto"``, ``"header"`` or ``None`` (the
        default: each image's :func:`radnb.dicom.default_window`, the window ``radnb.show``
        opens it in), or a tuple of them, e.g. ``("lung", "mediastinum", "bone")`` for three channels.
    size, bs
        Image side and batch size; defaults depend on the device and the data
        (:func:`data_size`: the device's :func:`default_size`, or the images'
        own size when they are smaller; :func:`default_bs`, lowered on small
        sets so that an epoch takes at least four optimiser steps).
    valid_pct, seed, stratify, valid_patients
        The patient split; ``valid_patients`` fixes the validation patients.
        Listing *every* patient makes a held-out **test set** (nothing to train
        on) for :func:`radnb.evaluate`: ``evaluate(learn, test_dls)``.
        ``seed`` fixes the split only. The order the training images are
        shuffled in is drawn when the DataLoaders are made (fastai's way), so
        for a run that repeats exactly call ``fastai.torch_core.set_seed(n)``
        before this function, and again before building the model.
    split
        A split column (default ``"auto"``: a column named ``split``, as
        :func:`radnb.datasets.load` tables have) with ``train`` / ``valid``
        (or ``val``) / ``test`` per row, or one such value per image (arrays).
        ``train`` rows train, ``valid`` rows validate (none: some training
        patients are held out by the patient split), and ``test`` rows are
        **never loaded for training**: they are kept on ``dls.radnb.test_records``
        for ``radnb.evaluate(learn, "test")``. ``None`` ignores the column.
        Without a split column the split is by patient, as described above.
    augment, flip
        Radiology-safe augmentation (:func:`~radnb.train.blocks.radiology_augmentations`);
        left-right flips only with ``flip=True``.
    normalize
        ``"imagenet"`` (default, what pretrained encoders expect; for 1 channel
        the averaged ImageNet statistics), ``"dataset"`` or ``(mean, std)``.
        The values are stored in ``dls.radnb.preprocessing`` and saved with the model.
    cache
        Keep decoded, windowed, resized arrays on disk (memory-mapped) so later
        epochs do not parse DICOM again; ``False`` to switch off, or a
        :class:`~radnb.train.cache.PreprocessCache`.
    preload
        Prepare every image before training: fills the cache and leaves out
        (with a warning) files that cannot be read.
    progress
        Show a progress bar while more than 200 images are prepared.
    device, num_workers
        Where batches go (default: :func:`radnb.device_info`) and loader processes.

    Returns
    -------
    radnb.train.record.RadnbDataLoaders
        Ordinary fastai ``DataLoaders`` with what radnb knows about the data on
        ``dls.radnb`` (:class:`~radnb.train.record.DatasetInfo`): ``preprocessing``
        (:class:`~radnb.train.prep.Preprocessing`), ``table`` (one row per image:
        item, label, patient, split), ``split_source``, ``load_errors``,
        ``test_records`` (the rows marked ``test``) and ``test_set`` (True when
        every patient is in ``valid_patients``, or every row is a test row: for
        evaluation only).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(1).normal(size=(12, 16, 16)).astype("float32")
    >>> dls = classification_dls(x, label=["a", "b"] * 6, patient=np.arange(12), windows="auto", size=32, bs=4)
    >>> list(dls.vocab)
    ['a', 'b']
    """
    from . import _fastai  # noqa: F401
    from fastai.data.block import CategoryBlock, MultiCategoryBlock

    dev, num_workers = _device_and_workers(device, num_workers)
    records, multilabel, vocab = _classification_records(source, label, patient, split, folder, file_col, max_items)
    if not records:
        raise InvalidArgumentError("No images to train on.")
    records, test_records = _separate_test(records)
    if not records:  # a table of test rows only: a held-out test set for radnb.evaluate
        records, test_records = [Record(r.item, r.label, r.patient, None) for r in test_records], []
        valid_patients = sorted({str(r.patient) for r in records})
    prep, store = _preprocessing(windows, size or data_size([r.item for r in records], "classification", dev), cache,
                                 "classification")
    errors: List[str] = []
    if preload:
        records, errors = _preload(records, lambda r: load_image(r.item, prep, store), "images", progress)
    train_idx, valid_idx, split_source = _split_records(records, valid_pct, seed, stratify and not multilabel,
                                                        valid_patients)
    _check_split(train_idx, valid_idx, valid_patients, "images")
    yblock = (MultiCategoryBlock(encoded=True, vocab=vocab) if multilabel
              else CategoryBlock(vocab=sorted({r.label for r in records + test_records}, key=str)))
    dls = _assemble(records, train_idx, valid_idx, yblock, prep, store, normalize=normalize, augment=augment,
                    flip=flip, bs=bs, dev=dev, num_workers=num_workers, what="images")
    info = DatasetInfo("classification", [str(v) for v in dls.vocab], prep,
                       _table(records, test_records, valid_idx, "label"), records, train_idx, valid_idx,
                       test_records, split_source, errors, multilabel, store)
    return RadnbDataLoaders.wrap(dls, info)


# ------------------------------------------------------------------ segmentation
def _is_volume(item: Any) -> bool:
    if isinstance(item, ArrayItem):
        return np.asarray(item.array).ndim == 3 and np.asarray(item.array).shape[-1] not in (3, 4)
    path = Path(item)
    if path.is_dir():
        return True
    if path.suffix.lower() == ".npy":
        return np.load(path, mmap_mode="r").ndim == 3
    if str(path).lower().endswith((".nii", ".nii.gz")):
        return True
    return False


def _codes_from(folder: Optional[Path], n_classes: int) -> List[str]:
    if folder is not None and (folder / "labels.json").exists():
        info = json.loads((folder / "labels.json").read_text())
        if isinstance(info, dict) and isinstance(info.get("codes"), list):
            return [str(c) for c in info["codes"]]
        if isinstance(info, dict) and isinstance(info.get("classes"), dict):
            return [str(info["classes"][k]) for k in sorted(info["classes"], key=int)]
    return ["background"] + [f"class{c}" for c in range(1, n_classes)]


def _shared_classes(mask_items: List[Any], image_items: List[Any], codes: Optional[Sequence[str]],
                    base: Optional[Path]) -> Tuple[List[Any], List[str]]:
    """One value -> class mapping for every mask of the set (radnb.dicom.masks), and its class names."""
    from ..dicom.masks import MaskSource, survey_values

    folder_names = dict(enumerate(_codes_from(base, 0))) if base is not None and (base / "labels.json").exists() else None
    values, names = survey_values([m.array if isinstance(m, ArrayItem) else m for m in mask_items], names=folder_names)
    if len(values) == 1:  # every mask empty: still a background / foreground task
        values, names = [0, 1], [names[0], "foreground"]
    if codes is not None:
        codes = [str(c) for c in codes]
        if len(codes) != len(values) and set(values) <= set(range(len(codes))):
            values = list(range(len(codes)))  # the masks hold class numbers; some classes are absent here
        elif len(codes) != len(values):
            raise InvalidArgumentError(
                f"The masks hold {len(values)} classes (stored values {values}) but codes names {len(codes)}: {codes}.")
        names = codes
    wrapped = [MaskSource(m, tuple(values), tuple(names), reference=i) for m, i in zip(mask_items, image_items)]
    return wrapped, list(names)


def _segmentation_inputs(images: Any, masks: Any, patient: Any, split: Any):
    """A folder with cases.csv, or lists of images and masks -> (image items, mask items, patients, sides, folder)."""
    base: Optional[Path] = None
    if isinstance(images, (str, Path)) and Path(images).is_dir() and masks is None:
        base = Path(images)
        csv = next((base / n for n in ("cases.csv", "labels.csv") if (base / n).exists()), None)
        if csv is None:
            raise InvalidArgumentError(f"{base}: no cases.csv; pass images=[...] and masks=[...] instead.")
        df = pd.read_csv(csv)
        icol = _find_column(df, "auto", FILE_COLUMNS, "image")
        mcol = _find_column(df, "auto", ("mask", "label_map", "segmentation"), "mask")
        if icol is None or mcol is None:
            raise InvalidArgumentError(f"{csv}: needs an image column (series/file) and a mask column.")
        pcol = _find_column(df, "auto", PATIENT_COLUMNS, "patient")
        image_items = [_resolve_path(v, base) for v in df[icol]]
        mask_items = [_resolve_path(v, base) for v in df[mcol]]
        patients = [str(v) for v in df[pcol]] if pcol else [str(p) for p in image_items]
        scol = _find_column(df, split, ("split",), "split") if isinstance(split, str) else None
        sides = ([_split_value(v, f"{csv.name} row {i}") for i, v in enumerate(df[scol])] if scol is not None
                 else _split_list(split, len(image_items)))
        return image_items, mask_items, patients, sides or [None] * len(image_items), base
    if isinstance(images, np.ndarray) and images.ndim in (3, 4) and isinstance(masks, np.ndarray):
        images, masks = list(images), list(masks)
    image_list = list(images)
    if callable(masks):
        mask_list = [masks(i) for i in image_list]
    elif masks is None:
        raise InvalidArgumentError("Pass masks=[...] (one label map per image), or a folder with cases.csv.")
    else:
        mask_list = list(masks)
    if len(mask_list) != len(image_list):
        raise InvalidArgumentError(f"{len(image_list)} images but {len(mask_list)} masks.")
    wrap = lambda v, n: ArrayItem(np.asarray(v), name=f"{n}") if isinstance(v, np.ndarray) else Path(v)
    image_items = [wrap(v, f"image[{i}]") for i, v in enumerate(image_list)]
    mask_items = [wrap(v, f"mask[{i}]") for i, v in enumerate(mask_list)]
    patients = [str(p) for p in patient] if patient is not None else [f"case{i}" for i in range(len(image_items))]
    sides = _split_list(split, len(image_items))
    return image_items, mask_items, patients, sides or [None] * len(image_items), base


def _slices(cases: List[Record], prep: Preprocessing, store: PreprocessCache):
    """Cut volumes into slice records, reading each volume and mask once (fills the cache); broken pairs are
    left out and reported. -> (records, volumes as (image, mask, patient), load errors, classes seen)."""
    records: List[Record] = []
    errors: List[str] = []
    volumes = []
    n_classes = 2
    for case in cases:
        img, msk, pid = case.item, case.label, case.patient
        try:
            if _is_volume(img):
                depth = load_volume(img, prep, store).shape[0]
                mask_vol = np.stack([load_mask(SliceItem(msk, z), prep.size, store) for z in range(depth)]) if depth else None
                if mask_vol is None or mask_vol.shape[0] != depth:
                    raise TrainingDataError(f"{msk}: the mask has a different number of slices than {img}.")
                n_classes = max(n_classes, int(mask_vol.max()) + 1)
                volumes.append((img, msk, pid))
                records += [Record(SliceItem(img, z), SliceItem(msk, z), pid, case.split) for z in range(depth)]
            else:
                load_image(img, prep, store)
                n_classes = max(n_classes, int(load_mask(msk, prep.size, store).max()) + 1)
                records.append(Record(img, msk, pid, case.split))
        except RadnbError as exc:
            errors.append(str(exc))
    if errors:
        warnings.warn(f"{len(errors)} image/mask pair(s) could not be read and were left out:\n  " + "\n  ".join(errors[:10]),
                      stacklevel=4)
    if not records:
        raise TrainingDataError("No image/mask pairs could be read." + (f" First problem: {errors[0]}" if errors else ""))
    return records, volumes, errors, n_classes


def _thin_empty_slices(records: List[Record], train_idx, valid_idx, size: int, store, empty_slices: float, seed: int):
    """Keep every training slice with foreground and a random ``empty_slices`` share of the empty ones (they
    teach little and cost time); validation keeps every slice. -> (records, train_idx, valid_idx) renumbered."""
    rng = np.random.default_rng(seed)
    keep = [i for i in train_idx if not isinstance(records[i].label, SliceItem)
            or load_mask(records[i].label, size, store).any() or rng.random() < empty_slices]
    used = np.sort(np.concatenate([np.array(keep, dtype=int), valid_idx]))
    remap = {old: new for new, old in enumerate(used)}
    return ([records[i] for i in used], np.array([remap[i] for i in keep], dtype=int),
            np.array([remap[i] for i in valid_idx], dtype=int))


@rank0_first_when_distributed  # several processes: process 0 fills the cache, the others reuse it
def segmentation_dls(
    images: Any,
    masks: Any = None,
    *,
    patient: Optional[Sequence[Any]] = None,
    codes: Optional[Sequence[str]] = None,
    windows: Any = None,
    size: Optional[int] = None,
    context: int = 0,
    bs: Optional[int] = None,
    valid_pct: float = 0.2,
    seed: int = 42,
    valid_patients: Optional[Sequence[str]] = None,
    split: Union[str, Sequence[str], None] = "auto",
    empty_slices: float = 0.2,
    augment: bool = True,
    flip: bool = False,
    normalize: Any = "imagenet",
    max_items: Optional[int] = None,
    cache: Union[bool, PreprocessCache] = True,
    device: Any = None,
    num_workers: Optional[int] = None,
):
    """fastai ``DataLoaders`` for segmentation: 2-D images or slices of 3-D series with label maps.

    Volumes (a DICOM series folder, a multi-frame file, a 3-D ``.npy`` / NIfTI
    or a 3-D array) are cut into 2-D slices; ``context=1`` adds the slice above
    and below as extra channels (2.5D). Training keeps every slice with
    foreground and a random ``empty_slices`` fraction of the empty ones;
    validation keeps every slice. The split is **by patient** (a volume's slices
    never straddle training and validation).

    Parameters
    ----------
    images
        A folder with ``cases.csv`` (columns series/file, mask, patient_id; the
        synthetic CT set), or a list of images/volumes (paths or arrays).
    masks
        Masks matching ``images`` (PNG, ``.npy``, NIfTI, NRRD, DICOM SEG or arrays),
        or a function image -> mask path. Not needed with a folder. They are read by
        :func:`radnb.dicom.load_mask`: stored values become classes shared by the
        whole set (``{0, 255}`` -> background/foreground; a DICOM SEG is placed on
        its image's grid).
    patient
        Patient id per image (default: the table's patient_id, else one per image).
    codes
        Class names, background first (default: ``labels.json``, the SEG's segment
        labels, else ``foreground`` / ``class <value>``).
    split
        As for :func:`classification_dls`: a ``split`` column of ``cases.csv``
        (default ``"auto"``) or one value per image; ``test`` cases are never
        loaded for training and are kept on ``dls.radnb.test_records``.
    windows, size, context, bs, normalize, cache, device, num_workers
        As for :func:`classification_dls`.

    Returns
    -------
    radnb.train.record.RadnbDataLoaders
        fastai ``DataLoaders`` with ``dls.radnb`` (:class:`~radnb.train.record.DatasetInfo`):
        ``preprocessing``, ``table``, ``classes`` (= ``codes``), ``volumes`` (the
        validation volumes, for per-volume evaluation), ``test_records``.

    Examples
    --------
    >>> import numpy as np
    >>> vols = [np.random.default_rng(i).normal(0, 50, (6, 32, 32)).astype("float32") for i in range(4)]
    >>> masks = [(v > 60).astype("uint8") for v in vols]
    >>> dls = segmentation_dls(vols, masks, windows="soft_tissue", size=32, bs=4)
    >>> dls.radnb.codes
    ['background', 'foreground']
    """
    from . import _fastai  # noqa: F401
    from .blocks import RadMaskBlock

    dev, num_workers = _device_and_workers(device, num_workers)
    image_items, mask_items, patients, sides, base = _segmentation_inputs(images, masks, patient, split)
    if max_items is not None:
        image_items, mask_items, patients, sides = (v[:max_items] for v in (image_items, mask_items, patients, sides))
    cases, test_cases = _separate_test([Record(k, k, p, s) for k, (p, s) in enumerate(zip(patients, sides))])
    if not cases:
        raise InvalidArgumentError("Every case is marked split='test': there is nothing to train on. Evaluate a "
                                   "trained model on them with radnb.evaluate(learn, table).")
    shared_masks, codes = _shared_classes(mask_items, image_items, codes, base)  # one value -> class map for the set
    cases, test_cases = ([Record(image_items[r.item], shared_masks[r.item], r.patient, r.split) for r in rs]
                         for rs in (cases, test_cases))
    prep, store = _preprocessing(windows, size or default_size("segmentation", dev), cache, "segmentation", context)
    records, volumes, errors, n_classes = _slices(cases, prep, store)
    train_idx, valid_idx, split_source = _split_records(records, valid_pct, seed, False, valid_patients)
    records, train_idx, valid_idx = _thin_empty_slices(records, train_idx, valid_idx, prep.size, store, empty_slices, seed)
    _check_split(train_idx, valid_idx, valid_patients, "slices")
    if len(codes) < n_classes:
        raise InvalidArgumentError(f"The masks hold {n_classes} classes but codes names only {len(codes)}: {codes}.")
    dls = _assemble(records, train_idx, valid_idx, RadMaskBlock(prep.size, codes, store), prep, store,
                    normalize=normalize, augment=augment, flip=flip, bs=bs, dev=dev, num_workers=num_workers,
                    what="slices")
    table = _table(records, [], valid_idx, "mask")
    valid_set = set(table.patient[valid_idx])
    info = DatasetInfo("segmentation", list(codes), prep, table, records, train_idx, valid_idx, test_cases,
                       split_source, errors, False, store, [v for v in volumes if str(v[2]) in valid_set])
    return RadnbDataLoaders.wrap(dls, info)
