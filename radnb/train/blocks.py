"""fastai blocks and transforms that read radiology images through :mod:`radnb.dicom`.

* :func:`RadImageBlock` - DICOM / PNG / array / series slice -> windowed, resized
  ``TensorImage`` (one channel per window, 2.5D neighbours optional), via the
  preprocessing cache.
* :func:`RadMaskBlock` - ``.npy`` / NIfTI / PNG / DICOM SEG label maps -> ``TensorMask``.
* :func:`radiology_augmentations` - small rotations and zoom, window jitter
  (brightness/contrast = shifting window level and width), no flips unless asked.

These are ordinary fastai ``TransformBlock``s, so a researcher can use them in
any ``DataBlock``.

Examples
--------
>>> from fastai.data.block import DataBlock, CategoryBlock
>>> from radnb.train.blocks import RadImageBlock
>>> from radnb.train.prep import Preprocessing
>>> block = RadImageBlock(Preprocessing(windows=("lung", "mediastinum", "bone"), size=64))
>>> type(block).__name__
'TransformBlock'
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np
import torch
from . import _fastai  # noqa: F401  (imports fastai quietly; see radnb/train/_fastai.py)
from fastai.data.block import TransformBlock
from fastai.data.transforms import Normalize
from fastai.torch_core import TensorImage, TensorMask
from fasttransform import DisplayedTransform, Transform
from fastai.vision.core import AddMaskCodes

from ..errors import InvalidArgumentError
from .cache import PreprocessCache
from .prep import Preprocessing, load_image, load_mask

__all__ = ["LoadRadImage", "LoadRadMask", "RadImageBlock", "RadMaskBlock", "WindowJitter",
           "radiology_augmentations", "normalize_tfm"]


class LoadRadImage(DisplayedTransform):
    """Type transform: item -> ``TensorImage`` float (C, size, size) in [0, 1]."""

    order = 0

    def __init__(self, prep: Preprocessing, cache: Optional[PreprocessCache] = None):
        super().__init__()
        self.prep, self.cache = prep, cache

    def encodes(self, item) -> TensorImage:
        return TensorImage(torch.from_numpy(load_image(item, self.prep, self.cache)))


class LoadRadMask(DisplayedTransform):
    """Type transform: mask item -> ``TensorMask`` int64 (size, size)."""

    order = 0

    def __init__(self, size: int, cache: Optional[PreprocessCache] = None):
        super().__init__()
        self.size, self.cache = size, cache

    def encodes(self, item) -> TensorMask:
        return TensorMask(torch.from_numpy(load_mask(item, self.size, self.cache)))


def RadImageBlock(prep: Preprocessing, cache: Optional[PreprocessCache] = None) -> TransformBlock:
    """A fastai block for windowed radiology images (see :class:`~radnb.train.prep.Preprocessing`).

    Normalisation is *not* part of the block: add :func:`normalize_tfm` to the
    batch transforms (the data builders do), so the statistics are explicit.

    Examples
    --------
    >>> RadImageBlock(Preprocessing(("lung",), 32)).type_tfms[0].prep.size
    32
    """
    return TransformBlock(type_tfms=[LoadRadImage(prep, cache)])


def RadMaskBlock(size: int, codes: Optional[Sequence[str]] = None, cache: Optional[PreprocessCache] = None) -> TransformBlock:
    """A fastai block for segmentation label maps (``.npy``, NIfTI, PNG, DICOM SEG).

    Examples
    --------
    >>> RadMaskBlock(32, codes=["background", "lesion"]).type_tfms[0].size
    32
    """
    return TransformBlock(type_tfms=[LoadRadMask(size, cache)],
                          item_tfms=[AddMaskCodes(codes=list(codes) if codes else None)])


class WindowJitter(Transform):
    """Training-time brightness/contrast change expressed as a window change.

    On windowed values ``y = (x - level) / width + 0.5``, moving the level by
    ``d`` and scaling the width by ``1/s`` gives ``y' = s * (y - 0.5) + 0.5 - s*d/width``:
    so a random scale ``s`` (contrast) and shift (brightness) on the batch is the
    same as a slightly different window in HU, which is how images differ
    between scanners and readers. Values are clipped to [0, 1] like a window.

    Examples
    --------
    >>> t = WindowJitter(max_shift=0.0, max_scale=0.0)
    >>> x = TensorImage(torch.rand(2, 1, 4, 4))
    >>> bool(torch.allclose(t(x, split_idx=0), x))
    True
    """

    split_idx, order = 0, 40

    def __init__(self, max_shift: float = 0.05, max_scale: float = 0.1, p: float = 0.75):
        super().__init__()
        self.max_shift, self.max_scale, self.p = max_shift, max_scale, p

    def encodes(self, x: TensorImage) -> TensorImage:
        n = x.shape[0]
        view = (n,) + (1,) * (x.ndim - 1)
        apply = (torch.rand(view, device=x.device) < self.p).float()
        scale = 1 + apply * (torch.rand(view, device=x.device) * 2 - 1) * self.max_scale
        shift = apply * (torch.rand(view, device=x.device) * 2 - 1) * self.max_shift
        return TensorImage(((x - 0.5) * scale + 0.5 + shift).clamp(0.0, 1.0))


def radiology_augmentations(flip: bool = False, max_rotate: float = 10.0, max_zoom: float = 1.1,
                            window_jitter: bool = True, size: Optional[int] = None) -> List[Transform]:
    """Batch augmentations that keep radiographs plausible.

    Small rotations (±10°) and zoom (up to 1.1x), a mild window jitter, no
    warping, and **no left-right flip unless** ``flip=True``: laterality matters
    (situs, a left-sided finding, the side marker), so a flipped chest film is
    not a realistic training example. Geometric transforms move masks with their
    images.

    Examples
    --------
    >>> [type(t).__name__ for t in radiology_augmentations()]
    ['Rotate', 'Zoom', 'WindowJitter']
    """
    from fastai.vision.augment import Flip, Rotate, Zoom

    tfms: List[Transform] = []
    if flip:
        tfms.append(Flip(p=0.5, size=size))
    if max_rotate:
        tfms.append(Rotate(max_deg=max_rotate, p=0.75, size=size, pad_mode="zeros"))
    if max_zoom and max_zoom > 1:
        tfms.append(Zoom(max_zoom=max_zoom, p=0.75, size=size, pad_mode="zeros"))
    if window_jitter:
        tfms.append(WindowJitter())
    return tfms


def normalize_tfm(prep: Preprocessing) -> Normalize:
    """fastai ``Normalize`` with the statistics stored in ``prep`` (explicit, never implied).

    Examples
    --------
    >>> normalize_tfm(Preprocessing(("lung",), 32, mean=(0.5,), std=(0.2,))).mean.flatten().tolist()
    [0.5]
    """
    if not prep.mean or not prep.std:
        raise InvalidArgumentError("normalize_tfm: this Preprocessing has no normalisation statistics (mean, std). "
                                   "Give Preprocessing(mean=..., std=...) (e.g. from radnb.train.prep.imagenet_stats), "
                                   "or let radnb.classification_dls / segmentation_dls fill them.")
    if len(prep.mean) != prep.n_channels:
        raise InvalidArgumentError(f"normalize_tfm: the normalisation has {len(prep.mean)} channel(s) but the images "
                                   f"have {prep.n_channels}; give one mean and std per window.")
    return Normalize.from_stats(list(prep.mean), list(prep.std), dim=1, ndim=4, cuda=False)
