"""Deprecated alias of :mod:`radnb.viewers.png` (this folder holds the viewers' browser code).

``radnb.viewers.static`` was the module of the PNG renderers, beside this folder of the same
name; the module is now :mod:`radnb.viewers.png`. Its names still work from here for one
release, with a ``DeprecationWarning`` that gives the new spelling.

Examples
--------
>>> import warnings
>>> from radnb.viewers import png, static
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     assert static.StaticImage is png.StaticImage
>>> "radnb.viewers.png.StaticImage" in str(caught[0].message)
True
"""
from __future__ import annotations

import warnings
from typing import Any


def __getattr__(name: str) -> Any:
    from .. import png

    if name.startswith("__") or not hasattr(png, name):
        raise AttributeError(f"module 'radnb.viewers.static' has no attribute {name!r}")
    warnings.warn(f"radnb.viewers.static.{name} is now radnb.viewers.png.{name}; radnb.viewers.static "
                  "goes in the next release.", DeprecationWarning, stacklevel=2)
    return getattr(png, name)
