"""Window/level arithmetic shared by the browser viewer, the static fallback and the tests.

The window itself (which one an image opens in, the VOI formulas, the percentile
window) lives in :mod:`radnb.dicom.window`, the one windowing policy; the names here
(``linear_voi``, ``percentile_window``, ``voi_function_for``...) are that module's
functions, in the float64 arithmetic of the browser where it matters.

The browser maps values to grey levels with the same VOI function and the same
floating-point operations as :func:`window_to_uint8`, so a grey level on the
screen can be predicted exactly in Python.

Which VOI function (the rule, decided by :func:`voi_function_for`)
-----------------------------------------------------------------
* Images whose values are all whole numbers (CT in HU, radiographs, uint8
  pictures, masks) use DICOM's ``LINEAR`` function (PS3.3 C.11.2.1.2.1),
  ``(x - (c - 0.5)) / (w - 1) + 0.5``, as :func:`radnb.window` does. Its half-unit
  offsets place the window on integer sample values and it needs ``w >= 1``.
  CT presets and header windows therefore look exactly as in a DICOM viewer.
* Images with any fractional value (normalised arrays, ``radnb.window(...)``
  output in [0, 1], Grad-CAM inputs, resampled volumes) use ``LINEAR_EXACT``
  (PS3.3 C.11.2.1.3.2), ``(x - c) / w + 0.5``, which is valid for any ``w > 0``.
  A [0, 1] image then opens with a width of about 1 spread over all 256 grey
  levels, instead of a sliver of a width clamped to 1.

The rule looks at the values, not the dtype (a float32 array of whole HU stays
``LINEAR``), and needs no range threshold: for wide windows the two functions
differ by at most ``255 / (w - 1)`` grey levels (under one level for
``w > 256``); they differ a lot only for the narrow windows where ``LINEAR``
fails. A viewer decides once, on the full-resolution image, so a downsampled CT
(fractional block means) keeps ``LINEAR`` too.

Examples
--------
>>> import numpy as np
>>> from radnb.viewers.display import window_to_uint8
>>> window_to_uint8(np.array([-1000.0, 40.0, 1000.0]), center=40, width=400).tolist()
[0, 128, 255]
>>> ramp = np.linspace(0.0, 1.0, 5)
>>> voi_function_for(ramp)
'LINEAR_EXACT'
>>> window_to_uint8(ramp, center=0.5, width=1.0, function="LINEAR_EXACT").tolist()
[0, 64, 128, 191, 255]
"""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np

from ..dicom.window import VOI_FUNCTIONS, _check_function
from ..dicom.window import apply_voi as _apply_voi
from ..dicom.window import (check_width, is_whole_numbers, percentile_window, voi_function_for, voi_linear,
                            voi_linear_exact)
from ..errors import InvalidArgumentError

__all__ = [
    "VOI_FUNCTIONS", "PRESET_ORDER", "presets", "is_whole_numbers", "voi_function_for", "check_width", "linear_voi",
    "linear_exact_voi", "apply_voi", "window_to_uint8", "percentile_window", "window_controls", "colormap_table",
    "TRUTH_COLORS", "PREDICTION_COLORS", "LABEL_COLORS",
]

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
    """DICOM ``LINEAR`` VOI in the browser's float64 arithmetic: :func:`radnb.dicom.window.voi_linear`.

    Examples
    --------
    >>> linear_voi(np.array([0.0, 40.0, 80.0]), 40, 81).round(3).tolist()
    [0.006, 0.506, 1.0]
    """
    return voi_linear(values, center, width, dtype=np.float64)


def linear_exact_voi(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM ``LINEAR_EXACT`` VOI in float64: :func:`radnb.dicom.window.voi_linear_exact`.

    Examples
    --------
    >>> linear_exact_voi(np.array([0.0, 0.5, 0.75, 1.0]), 0.5, 1.0).tolist()
    [0.0, 0.5, 0.75, 1.0]
    """
    return voi_linear_exact(values, center, width, dtype=np.float64)


def apply_voi(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """The VOI function named ``function`` in float64: :func:`radnb.dicom.window.apply_voi`.

    Examples
    --------
    >>> apply_voi(np.array([0.2]), 0.5, 0.6, "LINEAR_EXACT").round(3).tolist()
    [0.0]
    """
    return _apply_voi(values, center, width, function, dtype=np.float64)


def window_to_uint8(
    values: np.ndarray, center: float, width: float, invert: bool = False, function: str = "LINEAR"
) -> np.ndarray:
    """Grey levels 0-255 exactly as the browser viewer paints them.

    ``round(voi * 255)`` (halves round up, as JavaScript's ``Math.round``), where ``voi``
    is :func:`apply_voi` with ``function``; inverted as ``255 - grey`` when ``invert`` is
    set (MONOCHROME1, or the ``i`` key). A viewer's function is ``viewer.voi_function``.

    Examples
    --------
    >>> window_to_uint8(np.array([40.0]), 40, 400, invert=True).tolist()
    [127]
    >>> window_to_uint8(np.array([0.0, 0.5, 1.0]), 0.5, 1.0, function="LINEAR_EXACT").tolist()
    [0, 128, 255]
    """
    grey = np.floor(apply_voi(values, center, width, function) * 255.0 + 0.5).astype(np.uint8)
    return 255 - grey if invert else grey


def window_controls(function: str, units: str, auto_width: float) -> Dict[str, float]:
    """How the browser's window/level drag and W/L readouts scale with the data.

    Returns ``{"step", "min_width", "digits"}``: window/level change per screen pixel
    of drag (4 HU for CT as in OHIF, else 1/256 of the percentile width ``auto_width``),
    the narrowest width a drag reaches (1 for ``LINEAR``, 1/1000 of ``auto_width`` for
    ``LINEAR_EXACT``) and the decimals shown for window, level and pixel values (enough
    to see one drag step: 3 for a [0, 1] image).

    Examples
    --------
    >>> window_controls("LINEAR_EXACT", "raw", 1.0)
    {'step': 0.00390625, 'min_width': 0.001, 'digits': 3}
    >>> window_controls("LINEAR", "HU", 4095.0)
    {'step': 4.0, 'min_width': 1.0, 'digits': 1}
    """
    auto_width = float(auto_width) if np.isfinite(auto_width) and auto_width > 0 else 1.0
    if _check_function(function) == "LINEAR":
        step = 4.0 if units == "HU" else max(max(auto_width, 1.0) / 256.0, 1e-3)
        return {"step": step, "min_width": 1.0, "digits": 1}
    step = 4.0 if units == "HU" else auto_width / 256.0
    digits = min(max(1, math.ceil(-math.log10(step))), 8)
    return {"step": step, "min_width": auto_width / 1000.0, "digits": int(digits)}


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


#: Shades of one hue per map in :func:`radnb.compare`: class 1, 2, 3... of the ground truth
#: (greens) and of the prediction (reds), distinct from each other and from grey anatomy.
TRUTH_COLORS = [(0, 220, 0), (170, 255, 60), (0, 150, 90)]
PREDICTION_COLORS = [(255, 40, 40), (255, 140, 200), (190, 0, 60)]

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
