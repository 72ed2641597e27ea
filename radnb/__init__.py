"""radnb: deep learning for radiology, taught and prototyped in Jupyter.

The public API is small; each name is imported on first use, so ``import radnb``
is fast and changes nothing in other libraries.

Reading and windowing DICOM
    :func:`load`, :func:`window`, :func:`window_stack`, :func:`default_window`, :data:`PRESETS`,
    :func:`deidentify`, :func:`phi_report`, :func:`sample_data`
Viewing
    :func:`show`, :func:`compare`, :func:`gallery`, :func:`view3d`
Training (fastai)
    :func:`classification_dls`, :func:`segmentation_dls`, :func:`classifier`,
    :func:`segmenter`, :func:`pretrain`, :func:`predict`, :func:`evaluate`,
    :func:`load_model`, :func:`device_info`
Data
    :mod:`radnb.datasets` (public datasets), :mod:`radnb.data.synthetic`
Errors
    :class:`RadnbError` and its subclasses in :mod:`radnb.errors`

Examples
--------
>>> import radnb
>>> radnb.PRESETS["lung"].width
1500.0
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    CorruptDicomError,
    DicomError,
    InconsistentSeriesError,
    InvalidArgumentError,
    MissingDependencyError,
    NoPixelDataError,
    NotDicomError,
    RadnbError,
    UnsupportedTransferSyntaxError,
)

__version__ = "0.1.0"

# public name -> (module, attribute); attribute None means the module itself
_LAZY = {
    "load": ("radnb.dicom", "load"),
    "DicomImage": ("radnb.dicom", "DicomImage"),
    "DicomSeries": ("radnb.dicom", "DicomSeries"),
    "SeriesCollection": ("radnb.dicom", "SeriesCollection"),
    "load_mask": ("radnb.dicom.masks", "load_mask"),
    "save_seg": ("radnb.train.export", "save_seg"),
    "window": ("radnb.dicom", "window"),
    "window_stack": ("radnb.dicom", "window_stack"),
    "default_window": ("radnb.dicom", "default_window"),
    "PRESETS": ("radnb.dicom", "PRESETS"),
    "deidentify": ("radnb.dicom", "deidentify"),
    "phi_report": ("radnb.dicom", "phi_report"),
    "sample_data": ("radnb.data.synthetic", "sample_data"),
    "show": ("radnb.viewers", "show"),
    "compare": ("radnb.viewers", "compare"),
    "gallery": ("radnb.viewers", "gallery"),
    "view3d": ("radnb.viewers", "view3d"),
    "classification_dls": ("radnb.train", "classification_dls"),
    "segmentation_dls": ("radnb.train", "segmentation_dls"),
    "classifier": ("radnb.train", "classifier"),
    "segmenter": ("radnb.train", "segmenter"),
    "pretrain": ("radnb.train", "pretrain"),
    "predict": ("radnb.train", "predict"),
    "evaluate": ("radnb.train", "evaluate"),
    "load_model": ("radnb.train", "load_model"),
    "device_info": ("radnb.system", "device_info"),
    "datasets": ("radnb.datasets", None),
}

__all__ = sorted(
    list(_LAZY)
    + [
        "RadnbError",
        "DicomError",
        "NotDicomError",
        "NoPixelDataError",
        "UnsupportedTransferSyntaxError",
        "CorruptDicomError",
        "InconsistentSeriesError",
        "InvalidArgumentError",
        "MissingDependencyError",
    ]
)


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'radnb' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def load_ipython_extension(ipython):  # `%load_ext radnb`
    """Register radnb's rich display and the ``%radnb`` magic (see :mod:`radnb.ext`)."""
    from .ext import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython):
    from .ext import unload_ipython_extension as _unload

    _unload(ipython)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from . import datasets
    from .data.synthetic import sample_data
    from .dicom import (PRESETS, DicomImage, DicomSeries, SeriesCollection, default_window, deidentify, load,
                        phi_report, window, window_stack)
    from .system import device_info
    from .train import (classification_dls, classifier, evaluate, load_model, predict, pretrain,
                        segmentation_dls, segmenter)
    from .viewers import compare, gallery, show, view3d
