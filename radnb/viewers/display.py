"""Window/level arithmetic shared by the browser viewer, the static fallback and the tests.

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

from typing import Dict, List, Optional, Tuple

import math

import numpy as np

from ..errors import InvalidArgumentError

#: DICOM VOI LUT Function defined terms (PS3.3 C.11.2.1.3) that the viewers implement.
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT")

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


def is_whole_numbers(array: np.ndarray) -> bool:
    """True when every finite value of ``array`` is a whole number (integer dtypes always are).

    Large arrays are checked slab by slab along the first axis, so memory stays small,
    and the check stops at the first slab with a fraction.

    Examples
    --------
    >>> is_whole_numbers(np.array([-1000.0, 40.0])), is_whole_numbers(np.array([0.0, 0.5]))
    (True, False)
    """
    arr = np.asarray(array)
    if arr.dtype.kind in "biu":
        return True
    if arr.dtype.kind != "f":
        raise InvalidArgumentError(f"Pixel values must be numbers (got {arr.dtype}).")
    arr = np.atleast_1d(arr)
    step = max(1, 1_000_000 // max(1, int(np.prod(arr.shape[1:]))))
    for start in range(0, arr.shape[0], step):
        slab = arr[start : start + step]
        slab = slab[np.isfinite(slab)]
        if not np.array_equal(slab, np.rint(slab)):
            return False
    return True


def voi_function_for(array: np.ndarray) -> str:
    """The VOI function the viewers use for ``array``: ``"LINEAR"`` or ``"LINEAR_EXACT"``.

    ``"LINEAR"`` (DICOM's default) when all values are whole numbers, ``"LINEAR_EXACT"``
    when any value has a fraction; see the module docstring for why.

    Examples
    --------
    >>> voi_function_for(np.array([[-1000, 40], [60, 1200]], dtype=np.int16))
    'LINEAR'
    >>> voi_function_for(np.array([[0.0, 0.25], [0.5, 1.0]], dtype=np.float32))
    'LINEAR_EXACT'
    """
    return "LINEAR" if is_whole_numbers(array) else "LINEAR_EXACT"


def _check_function(function: str) -> str:
    if function not in VOI_FUNCTIONS:
        raise InvalidArgumentError(
            f"Unknown VOI function {function!r}; the viewers implement {' and '.join(VOI_FUNCTIONS)}."
        )
    return function


def check_width(width: float, function: str = "LINEAR") -> float:
    """``width`` as a float if it is valid for ``function``, else a clear :class:`InvalidArgumentError`.

    ``LINEAR`` needs a width of at least 1 (DICOM PS3.3 C.11.2.1.2.1); ``LINEAR_EXACT``
    any width above 0.

    Examples
    --------
    >>> check_width(0.25, "LINEAR_EXACT")
    0.25
    """
    width = float(width)
    if _check_function(function) == "LINEAR":
        if not np.isfinite(width) or width < 1:
            raise InvalidArgumentError(f"Window width must be at least 1 (got {width}).")
    elif not np.isfinite(width) or width <= 0:
        raise InvalidArgumentError(
            f"Window width must be a number greater than 0 (got {width}); "
            "this image has fractional values, so widths below 1 are fine."
        )
    return width


def linear_voi(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Apply the DICOM ``LINEAR`` VOI function; returns float64 in [0, 1].

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
    width = check_width(width, "LINEAR")
    x = np.asarray(values, dtype=np.float64)
    if width == 1:
        return (x > center - 0.5).astype(np.float64)
    y = (x - (center - 0.5)) / (width - 1) + 0.5
    return np.clip(y, 0.0, 1.0)


def linear_exact_voi(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Apply the DICOM ``LINEAR_EXACT`` VOI function ``(x - c) / w + 0.5``; returns float64 in [0, 1].

    Valid for any width above 0, so it suits fractional data with a small range,
    e.g. an image already windowed to [0, 1].

    Examples
    --------
    >>> linear_exact_voi(np.array([0.0, 0.5, 0.75, 1.0]), 0.5, 1.0).tolist()
    [0.0, 0.5, 0.75, 1.0]
    """
    center = float(center)
    width = check_width(width, "LINEAR_EXACT")
    y = (np.asarray(values, dtype=np.float64) - center) / width + 0.5  # same operations as viewer.js
    return np.clip(y, 0.0, 1.0)


def apply_voi(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """Apply the VOI function named ``function`` (``"LINEAR"`` or ``"LINEAR_EXACT"``); float64 in [0, 1].

    Examples
    --------
    >>> apply_voi(np.array([0.2]), 0.5, 0.6, "LINEAR_EXACT").round(3).tolist()
    [0.0]
    """
    if _check_function(function) == "LINEAR":
        return linear_voi(values, center, width)
    return linear_exact_voi(values, center, width)


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


def percentile_window(
    array: np.ndarray, low: float = 1.0, high: float = 99.0, function: Optional[str] = None
) -> Tuple[float, float]:
    """(center, width) spanning the ``low``-``high`` percentiles of ``array``.

    ``function`` (default: :func:`voi_function_for` of ``array``) sets the smallest
    width: 1 for ``LINEAR``, none for ``LINEAR_EXACT``, so a [0, 1] image gets a width
    of about 1, not a width clamped to 1. When the percentiles coincide (an image that is
    mostly one value) the full minimum-maximum range is used instead. Large arrays are
    subsampled (every n-th value) so this stays fast.

    Examples
    --------
    >>> percentile_window(np.arange(101.0))
    (50.0, 98.0)
    >>> percentile_window(np.linspace(0.0, 1.0, 101))
    (0.5, 0.98)
    """
    flat = np.asarray(array).reshape(-1)
    if flat.size > 2_000_000:
        flat = flat[:: flat.size // 1_000_000]
    flat = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
    if flat.size == 0:
        return 0.5, 1.0
    function = _check_function(function) if function is not None else voi_function_for(flat)
    lo, hi = (float(v) for v in np.percentile(flat, [low, high]))
    if hi <= lo:  # mostly one value: the full range still shows the few other pixels
        lo, hi = float(flat.min()), float(flat.max())
    width = hi - lo
    if function == "LINEAR":
        width = max(width, 1.0)
    elif not width > 0 or not np.isfinite(width):
        width = 1.0  # a constant image: any width shows it as mid-grey
    return float((lo + hi) / 2.0), float(width)


def initial_window(
    array: np.ndarray,
    modality: Optional[str],
    header_window: Optional[Tuple[float, float]],
    preset: Optional[str] = None,
    function: Optional[str] = None,
) -> Tuple[float, float, str]:
    """Choose the opening window: (center, width, preset name or ``""``).

    CT opens in the soft-tissue preset; other images use the header's window, else
    a 1-99 percentile window (see :func:`percentile_window`). ``function`` is the VOI
    function the window is for (default: :func:`voi_function_for` of ``array``).

    Examples
    --------
    >>> initial_window(np.zeros((2, 2)), "CT", None)
    (50.0, 400.0, 'soft_tissue')
    >>> initial_window(np.linspace(0.0, 1.0, 101), "", None)
    (0.5, 0.98, '')
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
    function = _check_function(function) if function is not None else voi_function_for(array)
    if header_window is not None:
        center, width = header_window
        if width is not None and np.isfinite(width) and (width >= 1 if function == "LINEAR" else width > 0):
            return float(center), float(width), ""
    center, width = percentile_window(array, function=function)
    return center, width, ""


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
