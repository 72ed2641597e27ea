"""Lesion-centred 2-D patches from a 3-D series and its lesion mask.

A lesion classifier (benign vs malignant) does not need the whole abdomen: a
small square around the lesion, on the slices where it is largest, holds the
evidence (margin, internal texture, rim). These helpers cut such patches from a
volume in physical units (HU) with numpy only; parts of a patch that fall
outside the image are filled with ``fill`` (default -1000 HU, air).

Conventions: arrays are (Z, H, W) as ``DicomSeries.array``; a patch of ``size``
pixels is centred so that the lesion's centroid (rounded to the nearest pixel)
lands on row and column ``size // 2``.

Examples
--------
>>> import numpy as np
>>> from radnb.data.patches import crop_around_lesion
>>> volume = np.arange(4 * 9 * 9, dtype=np.float32).reshape(4, 9, 9)
>>> lesion = np.zeros(volume.shape, bool); lesion[2, 3:6, 4:7] = True
>>> patch = crop_around_lesion(volume, lesion, 3)
>>> patch.tolist() == volume[2, 3:6, 4:7].tolist()
True
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["largest_lesion_slice", "lesion_centre", "crop_at", "crop_around_lesion", "lesion_patches"]


def _volume_and_mask(volume, mask) -> Tuple[np.ndarray, np.ndarray]:
    vol = np.asarray(volume)
    msk = np.asarray(mask).astype(bool)
    if vol.ndim == 2:
        vol, msk = vol[None], msk[None] if msk.ndim == 2 else msk
    if vol.ndim != 3 or msk.shape != vol.shape:
        raise InvalidArgumentError(
            f"volume and mask must be arrays of the same shape (slices, rows, columns); got {vol.shape} and "
            f"{msk.shape}.")
    if not msk.any():
        raise InvalidArgumentError("The lesion mask is empty: there is no lesion to crop around.")
    return vol, msk


def largest_lesion_slice(mask: np.ndarray) -> int:
    """Index of the slice (first axis) with the most lesion voxels (the first one if several tie).

    Examples
    --------
    >>> m = np.zeros((3, 4, 4), bool); m[1, :2, :2] = True; m[2, :3, :3] = True
    >>> largest_lesion_slice(m)
    2
    """
    msk = np.asarray(mask).astype(bool)
    if msk.ndim != 3 or not msk.any():
        raise InvalidArgumentError("largest_lesion_slice needs a non-empty 3-D mask (slices, rows, columns).")
    return int(np.argmax(msk.reshape(msk.shape[0], -1).sum(axis=1)))


def lesion_centre(mask_2d: np.ndarray) -> Tuple[int, int]:
    """(row, column) of the centroid of a 2-D mask, rounded to the nearest pixel.

    Examples
    --------
    >>> m = np.zeros((5, 5), bool); m[1:4, 2:5] = True
    >>> lesion_centre(m)
    (2, 3)
    """
    rows, cols = np.nonzero(np.asarray(mask_2d))
    if rows.size == 0:
        raise InvalidArgumentError("The mask slice is empty: it has no centre.")
    return int(np.round(rows.mean())), int(np.round(cols.mean()))


def crop_at(image: np.ndarray, centre: Tuple[int, int], size: int, fill: float = -1000.0) -> np.ndarray:
    """A ``size`` x ``size`` float32 patch of a 2-D image with ``centre`` at (size // 2, size // 2).

    Pixels outside the image get ``fill``.

    Examples
    --------
    >>> crop_at(np.ones((4, 4)), (0, 0), 3, fill=0).tolist()
    [[0.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]
    """
    size = int(size)
    if size < 1:
        raise InvalidArgumentError(f"size must be a positive number of pixels, not {size}.")
    img = np.asarray(image, dtype=np.float32)
    out = np.full((size, size), fill, dtype=np.float32)
    top, left = int(centre[0]) - size // 2, int(centre[1]) - size // 2
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + size, img.shape[0]), min(left + size, img.shape[1])
    if r1 > r0 and c1 > c0:
        out[r0 - top:r1 - top, c0 - left:c1 - left] = img[r0:r1, c0:c1]
    return out


def crop_around_lesion(volume: np.ndarray, mask: np.ndarray, size: int, fill: float = -1000.0) -> np.ndarray:
    """The ``size`` x ``size`` patch centred on the lesion, on the slice where the lesion is largest.

    Parameters
    ----------
    volume
        (Z, H, W) image in physical units (e.g. ``radnb.load(folder).array``, HU).
    mask
        (Z, H, W) lesion mask (True or non-zero inside the lesion).
    size
        Side of the square patch in pixels.
    fill
        Value for pixels outside the image (-1000 HU = air).

    Returns
    -------
    numpy.ndarray
        float32 (size, size).

    Examples
    --------
    >>> vol = np.zeros((2, 8, 8)); les = np.zeros((2, 8, 8), bool); les[1, 0:2, 0:2] = True
    >>> crop_around_lesion(vol, les, 4)[0].tolist()
    [-1000.0, -1000.0, -1000.0, -1000.0]
    """
    vol, msk = _volume_and_mask(volume, mask)
    z = largest_lesion_slice(msk)
    return crop_at(vol[z], lesion_centre(msk[z]), size, fill)


def lesion_patches(volume: np.ndarray, mask: np.ndarray, size: int, min_area_fraction: float = 0.5,
                   fill: float = -1000.0) -> Tuple[np.ndarray, np.ndarray, List[int]]:
    """Patches of every slice where the lesion covers at least ``min_area_fraction`` of its largest area.

    Each patch is centred on the lesion's centroid *in that slice*. Neighbouring
    slices of one lesion look alike, so all patches of a patient must stay on
    the same side of a train/test split.

    Returns
    -------
    (patches, mask_patches, slices)
        float32 (N, size, size) image patches, bool (N, size, size) lesion masks
        cut the same way, and the slice index of each.

    Examples
    --------
    >>> vol = np.random.default_rng(0).normal(size=(5, 16, 16))
    >>> les = np.zeros(vol.shape, bool); les[1:4, 6:10, 6:10] = True; les[2, 5:10, 6:10] = True
    >>> patches, masks, slices = lesion_patches(vol, les, 8)
    >>> patches.shape, slices
    ((3, 8, 8), [1, 2, 3])
    """
    vol, msk = _volume_and_mask(volume, mask)
    if not 0 < min_area_fraction <= 1:
        raise InvalidArgumentError(f"min_area_fraction must be in (0, 1], not {min_area_fraction}.")
    areas = msk.reshape(msk.shape[0], -1).sum(axis=1)
    slices = [int(z) for z in np.flatnonzero(areas >= min_area_fraction * areas.max())]
    patches, masks = [], []
    for z in slices:
        centre = lesion_centre(msk[z])
        patches.append(crop_at(vol[z], centre, size, fill))
        masks.append(crop_at(msk[z], centre, size, 0) > 0.5)
    return np.stack(patches), np.stack(masks), slices
