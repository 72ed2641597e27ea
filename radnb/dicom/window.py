"""Window/level: turning physical values (HU for CT) into display brightness.

A *window* is a centre (level) and a width. Values below ``center - width/2``
show black, values above ``center + width/2`` show white, and values in between
are spread linearly over the grey scale. radnb uses the linear VOI LUT function
of the DICOM standard, PS3.3 section C.11.2.1.2.1::

    if   x <= c - 0.5 - (w - 1) / 2:  y = 0
    elif x >  c - 0.5 + (w - 1) / 2:  y = 1
    else: y = (x - (c - 0.5)) / (w - 1) + 0.5

with output in [0, 1] (the standard's y_min = 0, y_max = 1).

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
>>> print(window(np.array([-1000.0, 40.0, 1000.0]), preset="brain").round(3))
[0.    0.506 1.   ]
"""
from __future__ import annotations

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

ArrayLike = Union[np.ndarray, Sequence[float]]


def auto_window(array: ArrayLike, low: float = 1.0, high: float = 99.0) -> Tuple[float, float]:
    """A percentile window ``(center, width)`` for images without HU (MR, radiographs).

    Parameters
    ----------
    array
        Pixel values.
    low, high
        Percentiles mapped to black and white.

    Examples
    --------
    >>> import numpy as np
    >>> auto_window(np.arange(101.0), 0, 100)
    (50.0, 100.0)
    """
    values = np.asarray(array)
    if values.size == 0:
        raise InvalidArgumentError("Cannot compute a window for an empty image.")
    if not 0 <= low < high <= 100:
        raise InvalidArgumentError(f"Percentiles must satisfy 0 <= low < high <= 100 (got low={low}, high={high}).")
    # a strided sample keeps this fast on large volumes without changing the answer noticeably
    flat = values.reshape(-1)
    if flat.size > 2_000_000:
        flat = flat[:: flat.size // 1_000_000]
    lo, hi = np.percentile(flat, [low, high])
    lo, hi = float(lo), float(hi)
    if hi <= lo:
        hi = lo + 1.0
    return ((lo + hi) / 2.0, hi - lo)


def voi_linear(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """The DICOM linear VOI function (PS3.3 C.11.2.1.2.1) scaled to [0, 1].

    Parameters
    ----------
    values
        Physical pixel values (e.g. HU).
    center, width
        Window centre and width, in the same units; ``width >= 1`` as the standard requires.

    Examples
    --------
    >>> import numpy as np
    >>> print(voi_linear(np.array([-11.0, 40.0, 90.0]), center=40, width=100).round(4))
    [0.     0.5051 1.    ]
    """
    if not np.isfinite(center) or not np.isfinite(width):
        raise InvalidArgumentError(f"Window centre and width must be numbers (got centre={center}, width={width}).")
    if width < 1:
        raise InvalidArgumentError(
            f"Window width must be at least 1 (got {width}). The width is the range of values spread over "
            "the grey scale, e.g. 400 HU for soft tissue."
        )
    x = np.asarray(values, dtype=np.float32)
    if width == 1:  # the standard's formula divides by (w - 1): a width of 1 is a hard threshold
        return (x > center - 0.5).astype(np.float32)
    scale = np.float32(1.0 / (width - 1))
    offset = np.float32(center - 0.5 - (width - 1) / 2.0)
    out = np.subtract(x, offset, dtype=np.float32)
    out *= scale
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _resolve(
    image: Any, values: np.ndarray, center: Any, width: Optional[float], preset: Optional[str]
) -> Tuple[float, float]:
    if isinstance(center, str):
        if preset is not None:
            raise InvalidArgumentError("Give either a preset name or a centre/width, not both.")
        preset, center = center, None
    if preset is not None:
        key = preset.lower().replace(" ", "_").replace("-", "_")
        if key in ("auto", "percentile"):
            return auto_window(values)
        if key == "minmax":
            return auto_window(values, 0, 100)
        if key not in PRESETS:
            names = ", ".join(list(PRESETS) + list(AUTO_WINDOWS))
            raise InvalidArgumentError(f"Unknown window preset {preset!r}. Known presets: {names}.")
        units = getattr(image, "units", None)
        if units is not None and units != "HU":
            modality = getattr(image, "modality", "") or "this image"
            raise InvalidArgumentError(
                f"The {key!r} preset is defined in Hounsfield units, but {modality} pixel values are not HU "
                f"(units: {units}). Use preset='auto' or give a centre and width in the image's own units."
            )
        p = PRESETS[key]
        return p.center, p.width
    if center is None and width is None:
        default = getattr(image, "default_window", None)
        if default is not None:
            return default
        if getattr(image, "units", None) == "HU":
            p = PRESETS["soft_tissue"]
            return p.center, p.width
        return auto_window(values)
    if center is None or width is None:
        raise InvalidArgumentError(
            "Give both a window centre (level) and a width, e.g. window(image, center=40, width=400), "
            "or a preset name such as window(image, 'lung')."
        )
    return float(center), float(width)


def _values_of(image: Any) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    if hasattr(image, "array"):
        return image.array
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # torch tensor, without importing torch
        return image.detach().cpu().numpy()
    return np.asarray(image)


def window(
    image: Any,
    center: Union[float, str, None] = None,
    width: Optional[float] = None,
    *,
    preset: Optional[str] = None,
) -> np.ndarray:
    """Apply a window (level/width) and return display values in [0, 1].

    Parameters
    ----------
    image
        A :class:`~radnb.dicom.DicomImage` / :class:`~radnb.dicom.DicomSeries`
        (MONOCHROME1 images come back inverted, so bright always means dense),
        a numpy array or a torch tensor of physical values.
    center, width
        Window centre (level) and width in the image's units (HU for CT).
        ``center`` may also be a preset name: ``window(img, "lung")``.
    preset
        A name from :data:`PRESETS` (HU, for CT) or ``"auto"`` / ``"minmax"``.
        With nothing given, the header's window is used, else soft tissue for
        CT, else an automatic percentile window.

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape, 0 = black, 1 = white.

    Examples
    --------
    >>> import numpy as np
    >>> hu = np.array([[-1000.0, 0.0], [50.0, 1000.0]])
    >>> print(window(hu, center=50, width=400).round(3))
    [[0.    0.376]
     [0.501 1.   ]]
    >>> window(hu, "lung").shape
    (2, 2)
    """
    values = _values_of(image)
    if values.ndim >= 3 and values.shape[-1] == 3 and values.dtype == np.uint8:
        raise InvalidArgumentError("Windowing applies to grey-scale images; this image is colour (RGB).")
    c, w = _resolve(image, values, center, width, preset)
    out = voi_linear(values, c, w)
    if getattr(image, "invert", False):
        np.subtract(1.0, out, out=out)
    return out


def window_stack(
    image: Any, presets: Iterable[Union[str, Tuple[float, float]]] = ("lung", "mediastinum", "bone")
) -> np.ndarray:
    """Window one image several ways and stack the results as channels.

    Useful for training: a CNN sees lung, soft tissue and bone detail at once,
    like a radiologist flicking between windows.

    Parameters
    ----------
    image
        As for :func:`window`.
    presets
        Preset names or ``(center, width)`` pairs, one per output channel.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(len(presets), *image.shape)``, values in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> window_stack(np.zeros((4, 4)), ["lung", "bone", (0, 100)]).shape
    (3, 4, 4)
    """
    channels = []
    for item in presets:
        if isinstance(item, str):
            channels.append(window(image, preset=item))
        else:
            c, w = item
            channels.append(window(image, c, w))
    if not channels:
        raise InvalidArgumentError("window_stack needs at least one preset.")
    return np.stack(channels, axis=0)
