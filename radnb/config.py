"""Where radnb keeps its data, and how to change it.

``RADNB_DATA`` overrides the data directory (synthetic sample data, downloaded
datasets, pretrained weights, caches). Without it radnb uses
``$XDG_CACHE_HOME/radnb`` or ``~/.cache/radnb``.

Examples
--------
>>> from radnb.config import data_dir
>>> data_dir().is_absolute() or True
True
"""
from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "RADNB_DATA"


def data_dir(create: bool = False) -> Path:
    """Return radnb's data directory (``RADNB_DATA`` or the user cache).

    Parameters
    ----------
    create
        Make the directory (and its parents) if it does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ["RADNB_DATA"] = tempfile.mkdtemp()
    >>> data_dir().exists()
    True
    """
    env = os.environ.get(DATA_ENV)
    if env:
        path = Path(env).expanduser()
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(cache) / "radnb"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
