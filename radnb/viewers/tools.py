"""The viewer's left-drag tools on the Python side: one registry of names, labels and measurements.

The browser registers the same tools in ``static/viewer/tools.js`` (``registerTool``, called in
``static/viewer.js``); this registry gives the ``tool`` trait its choices and
:meth:`SliceViewer.measure <radnb.viewers.viewer.SliceViewer.measure>` the function that
recomputes each kind of measurement in Python. A new tool: one module + one ``registerTool``
entry in the browser, one :func:`register_tool` line here (with ``measure=`` if it measures).
The PNG renderers (:mod:`radnb.viewers.png`) draw no tool graphics, so they need no change.

Examples
--------
>>> tool_names()
('wl', 'pan', 'zoom', 'length', 'ellipse', 'rectangle')
>>> import numpy as np
>>> m = {"kind": "length", "view": "axial", "index": 0, "p0": [0, 0], "p1": [3, 4]}
>>> measure_one(np.zeros((8, 8)), m, spacing=(1.0, 1.0))["length_mm"]
5.0
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidArgumentError
from .measure import length_mm, roi_stats

#: measure(plane, measurement, spacing, units) -> result; ``measurement`` is one entry of the
#: viewer's ``measurements`` trait ({kind, view, index, p0, p1, value}), ``plane`` its slice.
MeasureFunction = Callable[[np.ndarray, Mapping[str, Any], Tuple[float, float], str], Any]


@dataclass(frozen=True)
class Tool:
    """A left-drag tool: ``name`` (the ``tool`` trait's value), toolbar ``label``, and for tools
    that draw measurements the Python function that recomputes them."""

    name: str
    label: str
    measure: Optional[MeasureFunction] = None


_TOOLS: Dict[str, Tool] = {}


def register_tool(tool: Tool) -> Tool:
    """Add ``tool`` to the registry (in toolbar order); a name may be registered once.

    Examples
    --------
    >>> register_tool(Tool("wl", "W/L"))
    Traceback (most recent call last):
    ...
    radnb.errors.InvalidArgumentError: The viewer tool 'wl' is registered already.
    """
    if tool.name in _TOOLS:
        raise InvalidArgumentError(f"The viewer tool {tool.name!r} is registered already.")
    _TOOLS[tool.name] = tool
    return tool


def tool_names() -> Tuple[str, ...]:
    """Names of the registered tools, in toolbar order (the choices of ``SliceViewer.tool``)."""
    return tuple(_TOOLS)


def get_tool(name: str) -> Tool:
    """The registered tool called ``name``.

    Examples
    --------
    >>> get_tool("ellipse").label
    'Ellipse'
    """
    try:
        return _TOOLS[name]
    except KeyError:
        raise InvalidArgumentError(f"There is no viewer tool {name!r}; the tools are {', '.join(_TOOLS)}.") from None


def measure_one(plane: np.ndarray, measurement: Mapping[str, Any], spacing: Sequence[float], units: str = "") -> Any:
    """Recompute one browser measurement on its slice ``plane`` with the tool that drew it."""
    tool = get_tool(measurement["kind"])
    if tool.measure is None:
        raise InvalidArgumentError(f"The viewer tool {tool.name!r} draws no measurements.")
    return tool.measure(plane, measurement, (float(spacing[0]), float(spacing[1])), units)


def _length(plane: np.ndarray, m: Mapping[str, Any], spacing: Tuple[float, float], units: str) -> Dict[str, Any]:
    return {"kind": "length", "view": m["view"], "index": int(m["index"]), "length_mm": length_mm(m["p0"], m["p1"], spacing)}


def _roi(plane: np.ndarray, m: Mapping[str, Any], spacing: Tuple[float, float], units: str) -> Any:
    return roi_stats(plane, m["p0"], m["p1"], spacing, m["kind"], units)


register_tool(Tool("wl", "W/L"))
register_tool(Tool("pan", "Pan"))
register_tool(Tool("zoom", "Zoom"))
register_tool(Tool("length", "Length", measure=_length))
register_tool(Tool("ellipse", "Ellipse", measure=_roi))
register_tool(Tool("rectangle", "Rect", measure=_roi))
