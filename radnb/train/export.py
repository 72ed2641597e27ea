"""Writing a model's results back as DICOM, so they open in a PACS next to the scan.

Examples
--------
>>> from radnb.train.export import save_seg
>>> callable(save_seg)
True
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

from ..dicom import seg as dicom_seg


def save_seg(prediction: Any, source_series: Any, path: Union[str, Path], *, learn: Any = None,
             classes: Optional[Sequence[str]] = None, model_name: Optional[str] = None,
             model_version: Optional[str] = None, **kwargs: Any) -> Path:
    """Write a segmentation as a DICOM SEG referencing ``source_series`` (see :func:`radnb.dicom.seg.save_seg`).

    With ``learn`` (a radnb segmenter), the class names come from its ``dls.codes`` and
    the algorithm is recorded as its architecture; ``model_name`` / ``model_version``
    override that. The segments are marked AUTOMATIC (made by an algorithm).

    Examples
    --------
    >>> import numpy as np, radnb.train as rt
    >>> rt.save_seg  # doctest: +ELLIPSIS
    <function save_seg at ...>
    """
    if learn is not None:
        info = getattr(learn, "radnb", None) or getattr(learn, "info", None)  # a Learner, or a loaded RadnbModel
        codes = getattr(getattr(learn, "dls", None), "codes", None) or getattr(learn, "vocab", None)
        classes = classes or (list(codes) if codes else None)
        arch = getattr(info, "arch", None) or type(getattr(learn, "model", learn)).__name__
        model_name = model_name or f"radnb {arch}"
    from .. import __version__

    return dicom_seg.save_seg(prediction, source_series, path, classes=classes,
                              model_name=model_name or "radnb segmenter",
                              model_version=model_version or f"radnb {__version__}", **kwargs)
