"""Public radiology datasets (``import radnb.datasets``): the registry, downloads and loaders.

The code lives in :mod:`radnb.data.datasets`; this module is its public name, so
``import radnb.datasets`` and ``radnb.datasets.load(...)`` both work.

Examples
--------
>>> import radnb.datasets
>>> "pneumoniamnist" in set(radnb.datasets.available()["name"])
True
>>> radnb.datasets.load is radnb.data.datasets.load
True
"""
from __future__ import annotations

from .data import datasets as _impl
from .data.datasets import *  # noqa: F401,F403 - the public names listed in its __all__
from .data.datasets import __all__  # noqa: F401


def __getattr__(name: str):
    if name == "list":  # renamed to available(); kept for one release
        return _impl._renamed_list()
    return getattr(_impl, name)
