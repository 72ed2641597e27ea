"""Length and region-of-interest numbers, computed exactly as the browser viewer computes them.

Coordinates are continuous (row, column) positions on the displayed slice,
in pixels: pixel ``(i, j)`` covers ``[i, i+1) x [j, j+1)`` and its centre is
``(i + 0.5, j + 0.5)``. A pixel belongs to an ROI when its centre lies inside
the rectangle or ellipse spanned by the two drag points.

Examples
--------
>>> import numpy as np
>>> from radnb.viewers.measure import length_mm, roi_stats
>>> length_mm((0, 0), (3, 4), spacing=(1.0, 1.0))
5.0
>>> s = roi_stats(np.full((10, 10), 40.0), (2, 2), (8, 8), spacing=(0.5, 0.5), shape="rectangle")
>>> s.mean, s.n_pixels, s.area_mm2
(40.0, 36, 9.0)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, Sequence, Tuple

import numpy as np

from ..errors import InvalidArgumentError


def length_mm(p0: Sequence[float], p1: Sequence[float], spacing: Sequence[float]) -> float:
    """Distance in mm between two (row, column) points on a slice with (row_mm, col_mm) spacing.

    Examples
    --------
    >>> round(length_mm((10, 10), (10, 110), spacing=(0.7, 0.7)), 3)
    70.0
    """
    dr = (float(p1[0]) - float(p0[0])) * float(spacing[0])
    dc = (float(p1[1]) - float(p0[1])) * float(spacing[1])
    return math.hypot(dr, dc)


@dataclass
class RoiStats:
    """Statistics of the pixels inside a region of interest.

    ``sd`` is the population standard deviation (divides by n), as PACS viewers report.
    ``area_mm2`` is the geometric area of the drawn shape (not the pixel count).
    """

    shape: str
    mean: float
    sd: float
    min: float
    max: float
    n_pixels: int
    area_mm2: float
    units: str = ""

    def as_dict(self) -> Dict[str, float]:
        return asdict(self)

    def __str__(self) -> str:
        u = f" {self.units}" if self.units else ""
        return (
            f"{self.shape}: mean {self.mean:.1f}{u}, SD {self.sd:.1f}{u}, "
            f"area {self.area_mm2:.1f} mm² ({self.n_pixels} px)"
        )


def roi_mask(
    image_shape: Tuple[int, int], p0: Sequence[float], p1: Sequence[float], shape: str = "ellipse"
) -> np.ndarray:
    """Boolean mask of pixels whose centres fall inside the ROI spanned by ``p0`` and ``p1``.

    Examples
    --------
    >>> int(roi_mask((8, 8), (0, 0), (8, 8), "ellipse").sum())
    52
    """
    if shape not in ("ellipse", "rectangle"):
        raise InvalidArgumentError(f"ROI shape must be 'ellipse' or 'rectangle' (got {shape!r}).")
    r0, r1 = sorted((float(p0[0]), float(p1[0])))
    c0, c1 = sorted((float(p0[1]), float(p1[1])))
    rows = np.arange(image_shape[0], dtype=np.float64)[:, None] + 0.5
    cols = np.arange(image_shape[1], dtype=np.float64)[None, :] + 0.5
    if shape == "rectangle":
        return (rows >= r0) & (rows <= r1) & (cols >= c0) & (cols <= c1)
    a, b = (r1 - r0) / 2.0, (c1 - c0) / 2.0
    if a <= 0 or b <= 0:
        return np.zeros(image_shape, dtype=bool)
    cr, cc = (r0 + r1) / 2.0, (c0 + c1) / 2.0
    return ((rows - cr) / a) ** 2 + ((cols - cc) / b) ** 2 <= 1.0


def roi_stats(
    image: np.ndarray,
    p0: Sequence[float],
    p1: Sequence[float],
    spacing: Sequence[float] = (1.0, 1.0),
    shape: str = "ellipse",
    units: str = "",
) -> RoiStats:
    """Mean, SD, min, max and area of an ellipse or rectangle ROI on one 2D slice.

    Parameters
    ----------
    image
        2D array in physical units (HU for CT).
    p0, p1
        Opposite corners of the ROI's bounding box, (row, column) in pixels.
    spacing
        (row_mm, col_mm).
    shape
        ``"ellipse"`` or ``"rectangle"``.
    units
        Unit label for printing ("HU").

    Examples
    --------
    >>> import numpy as np
    >>> s = roi_stats(np.arange(100.0).reshape(10, 10), (0, 0), (10, 10), shape="ellipse")
    >>> round(s.mean, 2), s.n_pixels
    (49.5, 80)
    """
    img = np.asarray(image)
    if img.ndim != 2:
        raise InvalidArgumentError(f"roi_stats needs one 2D slice; got shape {img.shape}.")
    mask = roi_mask(img.shape, p0, p1, shape)
    values = img[mask].astype(np.float64)
    r0, r1 = sorted((float(p0[0]), float(p1[0])))
    c0, c1 = sorted((float(p0[1]), float(p1[1])))
    h_mm = (r1 - r0) * float(spacing[0])
    w_mm = (c1 - c0) * float(spacing[1])
    area = math.pi * h_mm * w_mm / 4.0 if shape == "ellipse" else h_mm * w_mm
    if values.size == 0:
        nan = float("nan")
        return RoiStats(shape, nan, nan, nan, nan, 0, area, units)
    mean = float(values.sum() / values.size)
    sd = float(math.sqrt(max(float(((values - mean) ** 2).sum() / values.size), 0.0)))
    return RoiStats(shape, mean, sd, float(values.min()), float(values.max()), int(values.size), area, units)
