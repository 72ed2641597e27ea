"""Writing a model's results back as DICOM, so they open in a PACS next to the scan.

Examples
--------
>>> import radnb
>>> from radnb.train.export import save_seg
>>> radnb.save_seg is save_seg
True
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

from ..dicom import seg as dicom_seg


def save_seg(prediction: Any, source_series: Any, path: Union[str, Path], *, learn: Any = None,
             classes: Optional[Sequence[str]] = None, model_name: Optional[str] = None,
             model_version: Optional[str] = None, **kwargs: Any) -> Path:
    """Write a segmentation as a DICOM SEG that references ``source_series``, so it opens in a PACS next to the scan.

    Parameters
    ----------
    prediction
        Class indices (0 = background), e.g. from :func:`radnb.train.predict_volume`;
        a smaller map of the same aspect is resized nearest-neighbour onto the images.
    source_series
        The series the prediction was made on (loaded, or its folder).
    path
        The ``.dcm`` file to write.
    learn
        A radnb segmenter (Learner, or a model from :func:`radnb.load_model`): class
        names from its codes, algorithm name from its architecture.
    classes, model_name, model_version
        Override the names, and the algorithm recorded in each segment
        (SegmentAlgorithmType AUTOMATIC).
    **kwargs
        Passed to :func:`radnb.dicom.seg.save_seg` (``description``, ``overwrite`` ...).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, numpy as np, radnb
    >>> from pathlib import Path
    >>> from radnb.data.synthetic import make_ct_volumes
    >>> top = Path(tempfile.mkdtemp())
    >>> _ = make_ct_volumes(top, n_patients=1, shape=(4, 32, 32))
    >>> ct = radnb.load(top / "CT0001" / "ct")
    >>> guess = (ct.array > 0).astype("uint8")  # a "model": everything denser than water
    >>> seg = radnb.save_seg(guess, ct, top / "guess_seg.dcm", classes=["background", "soft tissue"])
    >>> back = radnb.load_mask(seg, like=ct)
    >>> bool((back.array == guess).all()), back.classes
    (True, ['background', 'soft tissue'])
    """
    if learn is not None:
        info = getattr(learn, "radnb", None) or getattr(learn, "info", None)  # a Learner, or a loaded RadnbModel
        from .record import dataset_info

        data = dataset_info(getattr(learn, "dls", None))
        codes = (data.classes if data is not None and data.task == "segmentation" else None) or getattr(learn, "vocab", None)
        classes = classes or (list(codes) if codes else None)
        arch = getattr(info, "arch", None) or type(getattr(learn, "model", learn)).__name__
        model_name = model_name or f"radnb {arch}"
    from .. import __version__

    return dicom_seg.save_seg(prediction, source_series, path, classes=classes,
                              model_name=model_name or "radnb segmenter",
                              model_version=model_version or f"radnb {__version__}", **kwargs)
