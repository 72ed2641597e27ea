"""Window/level: turning physical values (HU for CT) into display brightness.

A *window* is a centre (level) and a width. Values below ``center - width/2``
show black, values above ``center + width/2`` show white, and values in between
are spread linearly over the grey scale. radnb uses the linear VOI LUT function
of the DICOM standard, PS3.3 section C.11.2.1.2.1::

    if   x <= c - 0.5 - (w - 1) / 2:  y = 0
    elif x >  c - 0.5 + (w - 1) / 2:  y = 1
    else: y = (x - (c - 0.5)) / (w - 1) + 0.5

with output in [0, 1] (the standard's y_min = 0, y_max = 1). Images with fractional
values (normalised arrays, already windowed [0, 1] images) use the standard's
``LINEAR_EXACT`` function, ``(x - c) / w + 0.5``, for windows computed from the
image, as the viewers do (see :func:`voi_function_for`).

One windowing policy
--------------------
:func:`default_window` is the one place that decides how an image opens;
:func:`radnb.window`, :func:`radnb.show` (and :func:`radnb.compare`), :func:`radnb.gallery`,
their static PNG pictures and the training preprocessing (``windows=None``) all ask it:

1. the header's window (Window Center / Width), when the file has a usable one;
2. else, for CT (values in HU), a preset chosen by body part (:data:`BODY_PART_PRESETS`,
   e.g. ``HEAD`` -> ``brain``), by default ``soft_tissue``;
3. else ``"auto"``: the 1st-99th percentile window of the image (:func:`percentile_window`).

MONOCHROME1 images are inverted (``invert=True``) so bright always means dense.

One spelling of window arguments
--------------------------------
Everywhere in the public API a window is given as ``window=`` (one image) or
``windows=`` (one per channel) and each entry is one of: a preset name
(:data:`PRESETS`), ``"auto"`` / ``"minmax"`` (computed from the image), ``"header"``
(the file's own window), ``None`` (the default policy above) or a ``(center, width)``
pair in the image's units. The older spellings (``window(x, center, width)``,
``preset=``, ``show(window=width, level=center)``, ``window_stack(presets=)``) still
work for one release with a ``FutureWarning`` naming the new spelling.

Preset values
-------------
Window settings differ between departments and textbooks. radnb's CT presets
follow the values listed in Radiopaedia's article "Windowing (CT)"
(https://radiopaedia.org/articles/windowing-ct), which matches the common
teaching values; where a range is usual, the preset takes a mid value and the
description says so. Widths and levels are in Hounsfield units.

Examples
--------
>>> import numpy as np
>>> from radnb.dicom.window import window
>>> print(window(np.array([-1000.0, 40.0, 1000.0]), "brain").round(3))
[0.    0.506 1.   ]
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InvalidArgumentError

RADIOPAEDIA = "Radiopaedia.org, 'Windowing (CT)', https://radiopaedia.org/articles/windowing-ct"


@dataclass(frozen=True)
class Preset:
    """A named CT window in Hounsfield units.

    Examples
    --------
    >>> PRESETS["lung"].center, PRESETS["lung"].width
    (-600.0, 1500.0)
    >>> PRESETS["lung"].limits
    (-1350.0, 150.0)
    """

    name: str
    center: float
    width: float
    description: str
    source: str = RADIOPAEDIA

    @property
    def limits(self) -> Tuple[float, float]:
        """(lowest, highest) HU shown as black and white."""
        return (self.center - self.width / 2, self.center + self.width / 2)

    def __str__(self) -> str:
        return f"{self.name}: W {self.width:g} / L {self.center:g} HU — {self.description}"


def _preset(name: str, width: float, center: float, description: str) -> Preset:
    return Preset(name, float(center), float(width), description)


#: CT window presets (Hounsfield units), keyed by name. See the module docstring for sources.
PRESETS: Dict[str, Preset] = {
    p.name: p
    for p in (
        _preset("brain", 80, 40, "brain parenchyma: grey/white matter, acute blood"),
        _preset("subdural", 200, 75, "extra-axial blood against the skull (usual range W 130–300 / L 50–100)"),
        _preset("stroke", 40, 40, "narrow window for early ischaemic change (some use W 8 / L 32)"),
        _preset("lung", 1500, -600, "lung parenchyma, airways, nodules"),
        _preset("mediastinum", 350, 50, "mediastinal vessels, nodes, heart"),
        _preset("soft_tissue", 400, 50, "general soft tissue (usual range W 350–400 / L 20–60)"),
        _preset("abdomen", 400, 40, "abdominal organs and fat planes"),
        _preset("liver", 150, 30, "liver lesions against parenchyma (level 30–90 depending on contrast phase)"),
        _preset("bone", 1800, 400, "cortical and trabecular bone, fractures"),
    )
}

#: Names accepted by :func:`window` that are computed from the image itself.
AUTO_WINDOWS = {
    "auto": "1st–99th percentile of the image (robust to a few very bright or dark pixels)",
    "percentile": "same as 'auto'",
    "minmax": "full range of the image: darkest pixel black, brightest white",
}

#: CT presets chosen by the DICOM Body Part Examined when the header has no window
#: (anything else opens in :data:`DEFAULT_CT_PRESET`).
BODY_PART_PRESETS: Dict[str, str] = {"HEAD": "brain", "BRAIN": "brain", "SKULL": "brain"}
DEFAULT_CT_PRESET = "soft_tissue"

#: DICOM VOI LUT Function defined terms (PS3.3 C.11.2.1.3) that radnb implements.
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT")

ArrayLike = Union[np.ndarray, Sequence[float]]
#: A window as the public API accepts it: preset name, "auto", "minmax", "header", None or (center, width).
WindowArg = Union[None, str, Tuple[float, float]]


# ----------------------------------------------------------------------------- VOI functions
def is_whole_numbers(array: ArrayLike) -> bool:
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
        same = np.rint(slab) == slab  # NaN and inf compare unequal or equal; only finite fractions count
        if not same.all() and np.isfinite(slab[~same]).any():
            return False
    return True


def voi_function_for(array: ArrayLike) -> str:
    """The VOI function for windows computed from ``array``: ``"LINEAR"`` or ``"LINEAR_EXACT"``.

    ``"LINEAR"`` (DICOM's default, PS3.3 C.11.2.1.2.1) when all values are whole numbers
    (CT in HU, radiographs, 8-bit pictures): its half-unit offsets place the window on integer
    sample values. ``"LINEAR_EXACT"`` (C.11.2.1.3.2) when any value has a fraction: it is valid
    for any width above 0, so a [0, 1] image gets a window about 1 wide over all 256 grey
    levels instead of a width clamped to 1. For wide windows the two differ by at most
    ``255 / (w - 1)`` grey levels.

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
            f"Unknown VOI function {function!r}; radnb implements {' and '.join(VOI_FUNCTIONS)}."
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
            raise InvalidArgumentError(
                f"Window width must be at least 1 (got {width}). The width is the range of values spread over "
                "the grey scale, e.g. 400 HU for soft tissue."
            )
    elif not np.isfinite(width) or width <= 0:
        raise InvalidArgumentError(
            f"Window width must be a number greater than 0 (got {width}); "
            "this image has fractional values, so widths below 1 are fine."
        )
    return width


def _check_center(center: float) -> float:
    if not np.isfinite(center):
        raise InvalidArgumentError(f"Window centre and width must be numbers (got centre={center}).")
    return float(center)


def voi_linear(values: ArrayLike, center: float, width: float, *, dtype: Any = np.float32) -> np.ndarray:
    """The DICOM ``LINEAR`` VOI function (PS3.3 C.11.2.1.2.1) scaled to [0, 1].

    ``(x - (c - 0.5)) / (w - 1) + 0.5``, clipped, computed in ``dtype`` (float32 for
    images; the viewers use float64, the arithmetic of the browser's JavaScript).

    Parameters
    ----------
    values
        Physical pixel values (e.g. HU).
    center, width
        Window centre and width, in the same units; ``width >= 1`` as the standard requires.
    dtype
        Floating-point type of the computation and of the result.

    Examples
    --------
    >>> import numpy as np
    >>> print(voi_linear(np.array([-11.0, 40.0, 90.0]), center=40, width=100).round(4))
    [0.     0.5051 1.    ]
    """
    center = _check_center(center)
    width = check_width(width, "LINEAR")
    x = np.asarray(values, dtype=dtype)
    if width == 1:  # the standard's formula divides by (w - 1): a width of 1 is a hard threshold
        return (x > center - 0.5).astype(dtype)
    out = np.subtract(x, center - 0.5, out=np.empty_like(x))  # out= keeps 0-d input an array
    out /= np.asarray(width - 1, dtype=dtype)
    out += np.asarray(0.5, dtype=dtype)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def voi_linear_exact(values: ArrayLike, center: float, width: float, *, dtype: Any = np.float32) -> np.ndarray:
    """The DICOM ``LINEAR_EXACT`` VOI function ``(x - c) / w + 0.5`` (PS3.3 C.11.2.1.3.2), clipped to [0, 1].

    Valid for any width above 0, so it suits fractional data with a small range,
    e.g. an image already windowed to [0, 1].

    Examples
    --------
    >>> voi_linear_exact(np.array([0.0, 0.5, 0.75, 1.0]), 0.5, 1.0).tolist()
    [0.0, 0.5, 0.75, 1.0]
    """
    center = _check_center(center)
    width = check_width(width, "LINEAR_EXACT")
    x = np.asarray(values, dtype=dtype)
    out = np.subtract(x, center, out=np.empty_like(x))
    out /= np.asarray(width, dtype=dtype)
    out += np.asarray(0.5, dtype=dtype)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def apply_voi(
    values: ArrayLike, center: float, width: float, function: str = "LINEAR", *, dtype: Any = np.float32
) -> np.ndarray:
    """Apply the VOI function named ``function`` (``"LINEAR"`` or ``"LINEAR_EXACT"``); result in [0, 1].

    Examples
    --------
    >>> apply_voi(np.array([0.2]), 0.5, 0.6, "LINEAR_EXACT").round(3).tolist()
    [0.0]
    """
    if _check_function(function) == "LINEAR":
        return voi_linear(values, center, width, dtype=dtype)
    return voi_linear_exact(values, center, width, dtype=dtype)


# ----------------------------------------------------------------------------- percentile window
def percentile_window(
    array: ArrayLike, low: float = 1.0, high: float = 99.0, function: Optional[str] = None
) -> Tuple[float, float]:
    """``(center, width)`` spanning the ``low``-``high`` percentiles of ``array`` (the ``"auto"`` window).

    For images without HU (MR, radiographs) or without a header window. Non-finite values
    are ignored. When the percentiles coincide (an image that is mostly one value) the full
    minimum-maximum range is used instead. ``function`` (default: :func:`voi_function_for`
    of ``array``) sets the smallest width: 1 for ``LINEAR``, none for ``LINEAR_EXACT``, so a
    [0, 1] image gets a width of about 1. Large arrays are subsampled (every n-th value).

    Parameters
    ----------
    array
        Pixel values.
    low, high
        Percentiles mapped to black and white.
    function
        The VOI function the window is for.

    Examples
    --------
    >>> percentile_window(np.arange(101.0))
    (50.0, 98.0)
    >>> percentile_window(np.arange(101.0), 0, 100)
    (50.0, 100.0)
    >>> percentile_window(np.linspace(0.0, 1.0, 101))
    (0.5, 0.98)
    """
    if not 0 <= low < high <= 100:
        raise InvalidArgumentError(f"Percentiles must satisfy 0 <= low < high <= 100 (got low={low}, high={high}).")
    flat = np.asarray(array).reshape(-1)
    if flat.size == 0:
        raise InvalidArgumentError("Cannot compute a window for an empty image.")
    if flat.size > 2_000_000:  # a strided sample keeps this fast on large volumes
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


def auto_window(array: ArrayLike, low: float = 1.0, high: float = 99.0, function: Optional[str] = None) -> Tuple[float, float]:
    """The same as :func:`percentile_window` (its older name, kept).

    Examples
    --------
    >>> auto_window(np.arange(101.0), 0, 100)
    (50.0, 100.0)
    """
    return percentile_window(array, low, high, function)


# ----------------------------------------------------------------------------- the policy
@dataclass(frozen=True)
class WindowChoice:
    """A decided window: what :func:`default_window` / :func:`resolve_window` return.

    Attributes
    ----------
    center, width
        Window centre (level) and width in the image's units (HU for CT).
    source
        Where it came from: ``"header"``, ``"preset:<name>"``, ``"auto"``, ``"minmax"`` or
        ``"given"`` (a ``(center, width)`` pair).
    invert
        True for MONOCHROME1 images: display ``1 - y`` so bright means dense.
    function
        The DICOM VOI LUT function it is meant for: ``"LINEAR"`` or ``"LINEAR_EXACT"``.

    Examples
    --------
    >>> c = WindowChoice(50.0, 400.0, "preset:soft_tissue")
    >>> c.preset, c.pair
    ('soft_tissue', (50.0, 400.0))
    """

    center: float
    width: float
    source: str
    invert: bool = False
    function: str = "LINEAR"

    @property
    def preset(self) -> Optional[str]:
        """The preset's name when ``source`` is a preset, else None."""
        return self.source[len("preset:"):] if self.source.startswith("preset:") else None

    @property
    def pair(self) -> Tuple[float, float]:
        """``(center, width)``."""
        return (self.center, self.width)

    def apply(self, values: ArrayLike, *, dtype: Any = np.float32) -> np.ndarray:
        """Window ``values`` with this choice (VOI function, then inversion) -> [0, 1]."""
        out = apply_voi(values, self.center, self.width, self.function, dtype=dtype)
        if self.invert:
            np.subtract(1.0, out, out=out)
        return out


def _values_of(image: Any) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    if hasattr(image, "array"):
        return np.asarray(image.array)
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # torch tensor, without importing torch
        return image.detach().cpu().numpy()
    return np.asarray(image)


def _header_window_of(image: Any) -> Optional[Tuple[float, float]]:
    # DicomImage/DicomSeries call it default_window; the viewers' Volume header_window
    for name in ("default_window", "header_window"):
        value = getattr(image, name, None)
        if value is not None and not callable(value):
            return value
    return None


def _body_part(image: Any) -> str:
    meta = getattr(image, "meta", None)
    return str(getattr(meta, "BodyPartExamined", "") or "").upper().strip() if meta is not None else ""


def _is_hu(image: Any, modality: Optional[str]) -> bool:
    mod = (modality if modality is not None else getattr(image, "modality", "")) or ""
    return getattr(image, "units", None) == "HU" or mod.upper() == "CT"


def _preset_key(name: str) -> str:
    return name.lower().strip().replace(" ", "_").replace("-", "_")


def _unknown(name: Any) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"Unknown window {name!r}. Known presets: {', '.join(PRESETS)}; or "
        f"{', '.join(repr(n) for n in list(AUTO_WINDOWS) + ['header'])}, None for the image's default window, "
        "or a (center, width) pair such as (40, 400)."
    )


def resolve_window(
    image: Any, window: WindowArg = None, *, modality: Optional[str] = None, function: Optional[str] = None
) -> WindowChoice:
    """Turn a window argument into a :class:`WindowChoice` for ``image``; ``None`` is :func:`default_window`.

    Parameters
    ----------
    image
        A radnb image/series, a viewer volume, a numpy array or a torch tensor.
    window
        A preset name, ``"auto"`` / ``"percentile"`` / ``"minmax"``, ``"header"``,
        ``None`` (the default policy, see the module docstring) or ``(center, width)``.
    modality
        Overrides the image's modality (``"CT"`` makes an array count as HU).
    function
        The VOI function the window is for. By default: the image's own rule
        (:func:`voi_function_for`) for windows computed from it (header, auto, the default)
        and DICOM's ``LINEAR`` for presets and given pairs.

    Examples
    --------
    >>> import numpy as np
    >>> resolve_window(np.arange(101.0), "auto").pair
    (50.0, 98.0)
    >>> resolve_window(np.zeros((2, 2)), (40, 400))
    WindowChoice(center=40.0, width=400.0, source='given', invert=False, function='LINEAR')
    """
    invert = bool(getattr(image, "invert", False))
    if function is not None:
        _check_function(function)
    given_function = function

    def own_function() -> str:
        return given_function or voi_function_for(_values_of(image))

    if window is None or (isinstance(window, str) and _preset_key(window) == "header"):
        wants_header = window is not None and _preset_key(window) == "header"
        header = _header_window_of(image)
        if header is not None:
            fn = own_function()
            try:
                return WindowChoice(_check_center(float(header[0])), check_width(header[1], fn), "header", invert, fn)
            except (InvalidArgumentError, TypeError, ValueError):
                if wants_header:
                    raise InvalidArgumentError(
                        f"The header's window {tuple(header)} cannot be used (its width must be at least 1). "
                        "Use window='auto' or a preset instead."
                    ) from None
        elif wants_header:
            raise InvalidArgumentError(
                "This image has no window in its header (Window Center/Width). Use window='auto', "
                "a preset such as 'soft_tissue', or a (center, width) pair."
            )
        if _is_hu(image, modality):
            name = BODY_PART_PRESETS.get(_body_part(image), DEFAULT_CT_PRESET)
            p = PRESETS[name]
            return WindowChoice(p.center, p.width, f"preset:{name}", invert, given_function or "LINEAR")
        window = "auto"
    if isinstance(window, str):
        key = _preset_key(window)
        if key in ("auto", "percentile", "minmax"):
            fn = own_function()
            c, w = percentile_window(_values_of(image), *((0, 100) if key == "minmax" else (1, 99)), function=fn)
            return WindowChoice(c, w, "minmax" if key == "minmax" else "auto", invert, fn)
        if key not in PRESETS:
            raise _unknown(window)
        units = getattr(image, "units", None)
        if getattr(image, "meta", None) is not None and units not in (None, "HU") and not _is_hu(image, modality):
            mod = getattr(image, "modality", "") or "this image"
            raise InvalidArgumentError(
                f"The {key!r} preset is defined in Hounsfield units, but {mod} pixel values are not HU "
                f"(units: {units}). Use window='auto' or give a (center, width) in the image's own units."
            )
        p = PRESETS[key]
        return WindowChoice(p.center, p.width, f"preset:{key}", invert, given_function or "LINEAR")
    if isinstance(window, (tuple, list)) and len(window) == 2:
        try:
            c, w = float(window[0]), float(window[1])
        except (TypeError, ValueError):
            raise _unknown(window) from None
        fn = given_function or "LINEAR"
        return WindowChoice(_check_center(c), check_width(w, fn), "given", invert, fn)
    raise _unknown(window)


def default_window(image: Any, *, modality: Optional[str] = None, function: Optional[str] = None) -> WindowChoice:
    """The window an image opens in, everywhere in radnb (the one windowing policy).

    The header's window when present; else, for CT, a preset by body part
    (``soft_tissue`` unless :data:`BODY_PART_PRESETS` names another); else the 1st-99th
    percentile ``"auto"`` window. ``invert`` is set for MONOCHROME1 images.
    :func:`radnb.window`, the viewers, the gallery and ``classification_dls(windows=None)``
    all use it.

    Parameters
    ----------
    image
        A radnb image/series, a viewer volume, a numpy array or a torch tensor.
    modality
        Overrides the image's modality, e.g. ``"CT"`` for an array of HU.
    function
        The VOI function the window is for (default: :func:`voi_function_for` of the image).

    Examples
    --------
    >>> import numpy as np
    >>> default_window(np.zeros((4, 4)), modality="CT").source
    'preset:soft_tissue'
    >>> default_window(np.linspace(0.0, 1.0, 101))
    WindowChoice(center=0.5, width=0.98, source='auto', invert=False, function='LINEAR_EXACT')
    """
    return resolve_window(image, None, modality=modality, function=function)


# ----------------------------------------------------------------------------- old spellings
def _deprecated(old: str, new: str, stacklevel: int = 4) -> None:
    warnings.warn(f"{old} is deprecated and will be removed in the next release; write {new}.",
                  FutureWarning, stacklevel=stacklevel)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def window_argument(
    func: str,
    window: Any = None,
    *,
    preset: Optional[str] = None,
    center: Optional[float] = None,
    width: Optional[float] = None,
    level: Optional[float] = None,
) -> WindowArg:
    """Merge a public function's old window spellings into the one ``window=`` argument.

    ``preset="lung"`` -> ``"lung"``; ``center``/``width`` -> ``(center, width)``; the
    viewers' ``window=<width>, level=<center>`` -> ``(center, width)``. Each old spelling
    gives a ``FutureWarning`` naming the new one; half a window or two at once is a clear error.

    Examples
    --------
    >>> window_argument("radnb.window", "lung")
    'lung'
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     window_argument("radnb.show", 400, level=40)
    (40.0, 400.0)
    >>> caught[0].category.__name__
    'FutureWarning'
    """
    if preset is not None:
        if window is not None or center is not None or width is not None or level is not None:
            raise InvalidArgumentError(f"{func}: give either a preset name or a centre/width, not both.")
        _deprecated(f"{func}(..., preset={preset!r})", f"{func}(..., window={preset!r})")
        return preset
    if level is not None or (_number(window) and func in _VIEWER_FUNCS):
        if level is None or not _number(window):
            raise InvalidArgumentError(
                f"{func}: window= takes a preset name, 'auto', 'header' or a (center, width) pair, "
                f"e.g. {func}(x, window=(40, 400)). (The older window=<width>, level=<center> needs both.)"
            )
        _deprecated(f"{func}(..., window=width, level=center)", f"{func}(..., window=(center, width))")
        return (float(level), float(window))
    if _number(window) and center is None:  # the old positional window(x, center, width)
        window, center = None, window
    if center is not None or width is not None:
        if window is not None:
            raise InvalidArgumentError(f"{func}: give either window=... or a centre and width, not both.")
        if center is None or width is None:
            raise InvalidArgumentError(
                f"Give both a window centre (level) and a width, e.g. {func}(image, window=(40, 400)), "
                f"or a preset name such as {func}(image, window='lung')."
            )
        _deprecated(f"{func}(image, center, width)", f"{func}(image, window=(center, width))")
        return (float(center), float(width))
    if window is not None and not isinstance(window, (str, tuple, list)):
        raise _unknown(window)
    return window


# where a lone number for window= was a width (PACS "W"), not a centre
_VIEWER_FUNCS = ("radnb.show", "radnb.compare", "SliceViewer")


# ----------------------------------------------------------------------------- applying windows
def window(
    image: Any,
    window: WindowArg = None,
    width: Optional[float] = None,
    *,
    preset: Optional[str] = None,
    center: Optional[float] = None,
    function: Optional[str] = None,
) -> np.ndarray:
    """Apply a window (level/width) and return display values in [0, 1].

    Parameters
    ----------
    image
        A :class:`~radnb.dicom.DicomImage` / :class:`~radnb.dicom.DicomSeries`
        (MONOCHROME1 images come back inverted, so bright always means dense),
        a numpy array or a torch tensor of physical values.
    window
        The one spelling of a window in radnb's API: a preset name from
        :data:`PRESETS` (HU, for CT: ``"lung"``, ``"bone"``...), ``"auto"`` (1st-99th
        percentile) or ``"minmax"``, ``"header"`` (the file's own window), ``None``
        (the default: :func:`default_window`: header, else a CT preset, else auto) or a
        ``(center, width)`` pair in the image's units (HU for CT).
    function
        VOI function: ``"LINEAR"`` or ``"LINEAR_EXACT"``; by default the one
        :func:`resolve_window` picks (the image's own rule for windows computed from it,
        DICOM's ``LINEAR`` for presets and pairs).

    Other Parameters
    ----------------
    width, center, preset
        Older spellings, kept for one release with a ``FutureWarning``:
        ``window(x, center, width)`` / ``window(x, center=c, width=w)`` is now
        ``window(x, (c, w))``; ``window(x, preset="lung")`` is now ``window(x, "lung")``.

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape, 0 = black, 1 = white.

    Examples
    --------
    >>> import numpy as np
    >>> hu = np.array([[-1000.0, 0.0], [50.0, 1000.0]])
    >>> print(window(hu, (50, 400)).round(3))
    [[0.    0.376]
     [0.501 1.   ]]
    >>> window(hu, "lung").shape
    (2, 2)
    >>> bool((window(hu) == window(hu, "auto")).all())  # an array without header or modality: auto
    True
    """
    spec = window_argument("radnb.window", window, preset=preset, center=center, width=width)
    values = _values_of(image)
    if values.ndim >= 3 and values.shape[-1] == 3 and values.dtype == np.uint8:
        raise InvalidArgumentError("Windowing applies to grey-scale images; this image is colour (RGB).")
    return resolve_window(image, spec, function=function).apply(values)


def window_stack(
    image: Any,
    windows: Iterable[WindowArg] = ("lung", "mediastinum", "bone"),
    *,
    presets: Optional[Iterable[WindowArg]] = None,
) -> np.ndarray:
    """Window one image several ways and stack the results as channels.

    Useful for training: a CNN sees lung, soft tissue and bone detail at once,
    like a radiologist flicking between windows.

    Parameters
    ----------
    image
        As for :func:`window`.
    windows
        One window per output channel, each spelled as :func:`window`'s ``window=``
        (preset name, ``"auto"``, ``"header"``, ``None`` or ``(center, width)``).
        ``presets=`` is the older name (``FutureWarning``).

    Returns
    -------
    numpy.ndarray
        float32, shape ``(len(windows), *image.shape)``, values in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> window_stack(np.zeros((4, 4)), ["lung", "bone", (0, 100)]).shape
    (3, 4, 4)
    """
    if presets is not None:
        _deprecated("window_stack(image, presets=...)", "window_stack(image, windows=...)", stacklevel=3)
        windows = presets
    channels = [window(image, item) for item in windows]
    if not channels:
        raise InvalidArgumentError("window_stack needs at least one window, e.g. windows=('lung', 'bone').")
    return np.stack(channels, axis=0)
