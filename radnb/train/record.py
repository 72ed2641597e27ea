"""What radnb knows about a data set, kept in one typed record: ``dls.radnb``.

:func:`radnb.classification_dls` and :func:`radnb.segmentation_dls` return
ordinary fastai ``DataLoaders`` (a thin subclass, :class:`RadnbDataLoaders`)
carrying one :class:`DatasetInfo` on ``dls.radnb`` - as a learner carries its
:class:`~radnb.train.learners.ModelInfo` on ``learn.radnb``. Everything radnb
reads about the data (preprocessing, the table, the split, load errors, class
names, held-out test rows) comes from that record through :func:`dataset_info`.

DataLoaders built by hand with fastai (``ImageDataLoaders``, ``DataBlock``)
have no record; :func:`dataset_info` with ``derive=True`` then builds one from
fastai itself (its vocab, its validation set), so radnb's learners, ``evaluate``
and ``top_losses`` accept them too.

Examples
--------
>>> import numpy as np, radnb.train as rt
>>> x = np.random.default_rng(0).normal(0, 100, (12, 16, 16)).astype("float32")
>>> dls = rt.classification_dls(x, label=["a", "b"] * 6, patient=range(12), windows="soft_tissue", size=16, bs=4)
>>> info = dataset_info(dls)
>>> info.task, info.classes, info.split_source, len(info.train_idx) + len(info.valid_idx)
('classification', ['a', 'b'], 'patient', 12)
>>> assert info is dls.radnb and info.preprocessing.windows == ("soft_tissue",)
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np
import pandas as pd
from fastai.data.core import DataLoaders

from ..errors import InvalidArgumentError

__all__ = ["Record", "DatasetInfo", "RadnbDataLoaders", "dataset_info", "SPLIT_SOURCES"]

#: how the train / valid sides were decided
SPLIT_SOURCES = {
    "patient": "patient split (radnb.patient_split)",
    "column": "the table's split column (train / valid / test)",
    "column+patient": "the split column's train rows, some of their patients held out for validation",
    "valid_patients": "the valid_patients given",
    "fastai": "the DataLoaders' own fastai splitter",
}


@dataclass
class Record:
    """One training example: what to load, its label (or mask) and its patient."""

    item: Any
    label: Any
    patient: str
    split: Optional[str] = None  # "train" / "valid" / "test" from a split column, else None (patient split)


@dataclass
class DatasetInfo:
    """What radnb knows about the data behind a ``DataLoaders`` (``dls.radnb``).

    Attributes
    ----------
    task
        ``"classification"`` or ``"segmentation"``.
    classes
        The class names: fastai's vocab for classification, the mask codes
        (background first) for segmentation.
    preprocessing
        :class:`~radnb.train.prep.Preprocessing` (windows, size, normalisation),
        or ``None`` for fastai DataLoaders built by hand.
    table
        One row per image or slice: item, label (or mask), patient, split.
    records
        The :class:`Record` s the DataLoaders hold (positions = fastai's items).
    train_idx, valid_idx
        Positions in ``records`` of the training and validation items.
    test_records
        Rows marked ``test``: never loaded for training; ``radnb.evaluate(learn, "test")`` scores them.
    split_source
        How the split was decided: a key of :data:`SPLIT_SOURCES`.
    load_errors
        One message per file left out because it could not be read.
    multilabel
        Several 0/1 labels per image.
    cache
        The :class:`~radnb.train.cache.PreprocessCache` the images were prepared into (or ``None``).
    volumes
        Segmentation: the validation volumes as (image, mask, patient), for per-volume evaluation.
    origin
        ``"radnb"`` (a radnb builder) or ``"fastai"`` (derived from hand-built DataLoaders).

    Examples
    --------
    >>> info = DatasetInfo("classification", ["normal", "opacity"], None, pd.DataFrame(),
    ...                    [Record("a.png", "normal", "p1"), Record("b.png", "opacity", "p2")],
    ...                    np.array([0]), np.array([1]))
    >>> [r.item for r in info.valid_records], info.test_set
    (['b.png'], False)
    """

    task: str
    classes: List[str]
    preprocessing: Any
    table: pd.DataFrame
    records: List[Record]
    train_idx: np.ndarray
    valid_idx: np.ndarray
    test_records: List[Record] = field(default_factory=list)
    split_source: str = "patient"
    load_errors: List[str] = field(default_factory=list)
    multilabel: bool = False
    cache: Any = None
    volumes: List[tuple] = field(default_factory=list)
    origin: str = "radnb"

    @property
    def test_set(self) -> bool:
        """True when nothing is left to train on: a held-out test set, for :func:`radnb.evaluate` only."""
        return len(self.train_idx) == 0

    @property
    def train_records(self) -> List[Record]:
        return [self.records[int(i)] for i in self.train_idx]

    @property
    def valid_records(self) -> List[Record]:
        return [self.records[int(i)] for i in self.valid_idx]

    @property
    def codes(self) -> List[str]:
        """Segmentation class names (background first); the same list as ``classes``."""
        if self.task != "segmentation":
            raise AttributeError("codes are the class names of segmentation data; use .classes")
        return self.classes

    @classmethod
    def from_fastai(cls, dls: Any) -> "DatasetInfo":
        """A record derived from fastai DataLoaders built without radnb: the vocab and the validation set.

        Items are fastai's own (``dls.valid_ds.items``); each counts as its own
        patient (fastai keeps no patient ids); radnb's preprocessing is unknown
        (``None``): the DataLoaders' own transforms prepare the batches.
        """
        from fastai.torch_core import TensorMask, TensorMultiCategory
        from fastai.vision.core import PILMask

        try:
            train_ds, valid_ds = dls.train_ds, dls.valid_ds
        except (AttributeError, IndexError):
            raise InvalidArgumentError(
                f"{type(dls).__name__} is not a fastai DataLoaders with training and validation sets: build it "
                "with radnb.classification_dls / segmentation_dls, or fastai's ImageDataLoaders / DataBlock.") from None
        if len(valid_ds) == 0:
            raise InvalidArgumentError("These fastai DataLoaders have an empty validation set: give the splitter "
                                       "some validation items (e.g. valid_pct=0.2).")
        target = valid_ds[0][-1]
        task = "segmentation" if isinstance(target, (TensorMask, PILMask)) else "classification"
        vocab = _fastai_vocab(dls)
        if vocab is None:
            raise InvalidArgumentError("These fastai DataLoaders have no vocab (class names): radnb needs a "
                                       "CategoryBlock / MultiCategoryBlock, or MaskBlock(codes=...) for segmentation.")
        classes = [str(v) for v in vocab]
        multilabel = isinstance(target, TensorMultiCategory)
        records: List[Record] = []
        for side, ds in (("train", train_ds), ("valid", valid_ds)):
            items = getattr(ds, "items", None)
            if isinstance(items, pd.DataFrame):  # fastai's from_df: the file name is in the first column by default
                items = items.iloc[:, 0]
            items = list(items) if items is not None else []
            labels = _fastai_labels(ds, classes, multilabel) if task == "classification" else [None] * len(ds)
            for k in range(len(ds)):
                item = items[k] if k < len(items) else None
                if not isinstance(item, (str, os.PathLike)):  # arrays, tuples...: named by position (a str() may collide)
                    item = f"{side}[{k}]"
                records.append(Record(item, labels[k], str(item), side))
        n_train = len(train_ds)
        train_idx, valid_idx = np.arange(n_train), np.arange(n_train, len(records))
        table = pd.DataFrame({"item": [str(r.item) for r in records], "label": [r.label for r in records],
                              "patient": [r.patient for r in records], "split": [r.split for r in records]})
        return cls(task, classes, None, table, records, train_idx, valid_idx, split_source="fastai",
                   multilabel=multilabel, origin="fastai")


def _fastai_vocab(dls: Any) -> Any:
    """fastai's class names: ``dls.vocab`` (Category blocks), else the codes of ``MaskBlock`` (``AddMaskCodes``)."""
    vocab = getattr(dls, "vocab", None)
    if vocab is not None:
        return vocab
    for dl in (dls.train, dls.valid):
        for tfm in getattr(getattr(dl, "after_item", None), "fs", []):
            if getattr(tfm, "vocab", None) is not None:
                return tfm.vocab
    return None


def _fastai_labels(ds: Any, classes: List[str], multilabel: bool) -> List[Any]:
    """Labels of a fastai ``Datasets`` without loading its images: its last ``TfmdLists`` (the targets)."""
    tls = getattr(ds, "tls", None)
    if not tls:
        return [None] * len(ds)
    if multilabel:  # one-hot after MultiCategoryBlock's OneHotEncode
        return [[int(v) for v in y] for y in tls[-1]]
    return [classes[int(y)] for y in tls[-1]]


def dataset_info(dls: Any, *, derive: bool = False) -> Optional[DatasetInfo]:
    """The :class:`DatasetInfo` of ``dls`` (its ``dls.radnb``), the one way radnb reads it.

    Parameters
    ----------
    dls
        DataLoaders (or ``None``).
    derive
        For fastai DataLoaders without a record (built by hand), derive one from
        fastai (:meth:`DatasetInfo.from_fastai`) instead of returning ``None``.

    Examples
    --------
    >>> dataset_info(None) is None
    True
    """
    if dls is None:
        return None
    info = getattr(dls, "__dict__", {}).get("radnb")  # not getattr(): fastai forwards unknown names to dls.train
    if isinstance(info, DatasetInfo):
        return info
    return DatasetInfo.from_fastai(dls) if derive else None


def _alias(name: str, field_name: Optional[str] = None) -> property:
    """``dls.<name>``, the spelling before ``dls.radnb`` (kept for one release with a FutureWarning)."""
    field_name = field_name or name

    def get(self):
        info = self.__dict__.get("radnb")
        if not isinstance(info, DatasetInfo):
            raise AttributeError(name)
        warnings.warn(f"dls.{name} is deprecated and will be removed in the next radnb release: use "
                      f"dls.radnb.{field_name}.", FutureWarning, stacklevel=2)
        return getattr(info, field_name)

    return property(get, doc=f"Deprecated: ``dls.radnb.{field_name}``.")


class RadnbDataLoaders(DataLoaders):
    """fastai ``DataLoaders`` with radnb's :class:`DatasetInfo` on ``.radnb``; otherwise unchanged.

    The old attribute spellings (``dls.preprocessing``, ``dls.table``,
    ``dls.records`` ...) still work for one release and warn (FutureWarning)
    with the new spelling ``dls.radnb.<field>``.

    Examples
    --------
    >>> issubclass(RadnbDataLoaders, DataLoaders)
    True
    """

    preprocessing = _alias("preprocessing")
    table = _alias("table")
    records = _alias("records")
    load_errors = _alias("load_errors")
    test_set = _alias("test_set")
    test_records = _alias("test_records")
    train_idx = _alias("train_idx")
    valid_idx = _alias("valid_idx")
    multilabel = _alias("multilabel")
    codes = _alias("codes")
    volumes = _alias("volumes")
    cache = _alias("cache")

    @classmethod
    def wrap(cls, dls: DataLoaders, info: DatasetInfo) -> "RadnbDataLoaders":
        """The same loaders as ``dls`` (no copy) with ``info`` attached."""
        out = cls(*dls.loaders, path=dls.path, device=dls.device)
        out.radnb = info
        return out
