"""Notebook viewers for radiology images: PACS-style slices, comparisons, galleries, 3D.

:func:`show` opens one image or volume (with optional label maps and a heat map),
:func:`compare` shows linked panels (image, truth, prediction, heat map),
:func:`gallery` a grid of many 2D images, :func:`view3d` a 3D rendering (extra).
All run offline with no build step: the browser code ships in ``static/`` as ES modules,
joined into one module per widget by :mod:`radnb.viewers.assets`.

Examples
--------
>>> import numpy as np, radnb
>>> v = radnb.show(np.zeros((3, 16, 16)))
>>> v.slice
1
"""
from __future__ import annotations

from .gallery import Gallery, gallery
from .measure import RoiStats, length_mm, roi_stats
from .png import StaticImage
from .render3d import view3d
from .viewer import SliceViewer, compare, show
from .volume import BROWSER_BUDGET_BYTES

__all__ = ["show", "compare", "gallery", "view3d", "SliceViewer", "Gallery", "StaticImage", "RoiStats",
           "length_mm", "roi_stats", "BROWSER_BUDGET_BYTES"]
