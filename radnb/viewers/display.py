"""Window/level arithmetic shared by the browser viewer, the static fallback and the tests.

The browser maps stored values to grey levels with a lookup table built from the
same linear VOI function (DICOM PS3.3 C.11.2.1.2.1) that :func:`radnb.window`
uses, so a grey level on the screen can be predicted exactly in Python with
:func:`window_to_uint8`.

Examples
--------
>>> import numpy as np
>>> from radnb.viewers.display import window_to_uint8
>>> window_to_uint8(np.array([-1000.0, 40.0, 1000.0]), center=40, width=400).tolist()
[0, 128, 255]
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import InvalidArgumentError

#: Presets offered first in the viewer's dropdown and on the number keys 1-9.
PRESET_ORDER = ("soft_tissue", "lung", "bone", "brain", "mediastinum", "abdomen", "liver", "subdural", "stroke")


def presets() -> Dict[str, Tuple[float, float]]:
    """CT window presets as ``{name: (center, width)}`` in the viewer's key order.

    The values come from :data:`radnb.PRESETS`; keys 1-9 in the viewer select them in
    this order.

    Examples
    --------
    >>> presets()["lung"]
    (-600.0, 1500.0)
    """
    from ..dicom import PRESETS

    names = [n for n in PRESET_ORDER if n in PRESETS] + sorted(n for n in PRESETS if n not in PRESET_ORDER)
    return {name: (float(PRESETS[name].center), float(PRESETS[name].width)) for name in names}


def linear_voi(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Apply the DICOM linear VOI function; returns float64 in [0, 1].

    Parameters
    ----------
    values
        Stored values in physical units (HU for CT).
    center, width
        Window level and window width; ``width`` must be at least 1.

    Examples
    --------
    >>> linear_voi(np.array([0.0, 40.0, 80.0]), 40, 81).round(3).tolist()
    [0.006, 0.506, 1.0]
    """
    center = float(center)
    width = float(width)
    if not np.isfinite(width) or width < 1:
        raise InvalidArgumentError(f"Window width must be at least 1 (got {width}).")
    x = np.asarray(values, dtype=np.float64)
    if width == 1:
        return (x > center - 0.5).astype(np.float64)
    y = (x - (center - 0.5)) / (width - 1) + 0.5
    return np.clip(y, 0.0, 1.0)


def window_to_uint8(values: np.ndarray, center: float, width: float, invert: bool = False) -> np.ndarray:
    """Grey levels 0-255 exactly as the browser viewer paints them.

    ``round(linear_voi * 255)`` (halves round up, as JavaScript's ``Math.round``),
    inverted as ``255 - grey`` when ``invert`` is set (MONOCHROME1, or the ``i`` key).

    Examples
    --------
    >>> window_to_uint8(np.array([40.0]), 40, 400, invert=True).tolist()
    [127]
    """
    grey = np.floor(linear_voi(values, center, width) * 255.0 + 0.5).astype(np.uint8)
    return 255 - grey if invert else grey


def percentile_window(array: np.ndarray, low: float = 1.0, high: float = 99.0) -> Tuple[float, float]:
    """(center, width) spanning the ``low``-``high`` percentiles of ``array``.

    Large arrays are subsampled (every n-th value) so this stays fast.

    Examples
    --------
    >>> percentile_window(np.arange(101.0))
    (50.0, 98.0)
    """
    flat = np.asarray(array).reshape(-1)
    if flat.size > 2_000_000:
        flat = flat[:: flat.size // 1_000_000]
    flat = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
    if flat.size == 0:
        return 0.5, 1.0
    lo, hi = np.percentile(flat, [low, high]).astype(float)
    width = max(hi - lo, 1.0)
    return float((lo + hi) / 2.0), float(width)


def initial_window(
    array: np.ndarray,
    modality: Optional[str],
    header_window: Optional[Tuple[float, float]],
    preset: Optional[str] = None,
) -> Tuple[float, float, str]:
    """Choose the opening window: (center, width, preset name or ``""``).

    CT opens in the soft-tissue preset; other images use the header's window, else
    a 1-99 percentile window.

    Examples
    --------
    >>> initial_window(np.zeros((2, 2)), "CT", None)
    (50.0, 400.0, 'soft_tissue')
    """
    table = presets()
    if preset:
        if preset not in table:
            raise InvalidArgumentError(
                f"Unknown window preset {preset!r}. Choose one of: {', '.join(table)}."
            )
        return table[preset][0], table[preset][1], preset
    if (modality or "").upper() == "CT":
        center, width = table["soft_tissue"]
        return center, width, "soft_tissue"
    if header_window is not None:
        center, width = header_window
        if width is not None and np.isfinite(width) and width >= 1:
            return float(center), float(width), ""
    center, width = percentile_window(array)
    return center, width, ""


def colormap_table(name: str = "inferno") -> List[List[int]]:
    """256 RGB triples of a matplotlib colour map (what the browser uses for heat maps).

    Examples
    --------
    >>> len(colormap_table("jet"))
    256
    """
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise InvalidArgumentError(
            f"Unknown colour map {name!r}. Try 'inferno', 'jet', 'viridis' or 'hot'."
        ) from None
    rgb = (cmap(np.linspace(0, 1, 256))[:, :3] * 255 + 0.5).astype(int)
    return rgb.tolist()


#: Distinct colours for label maps: truth green, prediction red, then others.
LABEL_COLORS = [
    (0, 220, 0),
    (255, 40, 40),
    (255, 200, 0),
    (0, 200, 255),
    (230, 0, 230),
    (255, 128, 0),
    (120, 120, 255),
    (160, 255, 160),
]
