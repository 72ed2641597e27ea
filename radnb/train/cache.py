"""A disk cache of preprocessed (decoded, windowed, resized) arrays.

Parsing DICOM, rescaling to HU, windowing and resizing costs far more than the
training step of a small model on a CPU. radnb therefore does it once per file
and parameter set and keeps the result as a ``.npy`` file under
``radnb.config.data_dir() / "cache" / "train"``; later epochs (and later
sessions) memory-map it instead.

The key combines a hash of the *file content* (so an edited or replaced file is
never served stale, even under the same name) with a hash of every parameter
that changes the result (windows, size, 2.5D context, radnb's preprocessing
version). Changing the windows or the size therefore simply uses new entries.

Examples
--------
>>> import numpy as np, tempfile
>>> from radnb.train.cache import PreprocessCache
>>> cache = PreprocessCache(tempfile.mkdtemp())
>>> arr = cache.get("demo-key", {"size": 4}, lambda: np.ones((4, 4), np.float32))
>>> arr.shape, cache.misses, cache.hits
((4, 4), 1, 0)
>>> _ = cache.get("demo-key", {"size": 4}, lambda: np.zeros((4, 4), np.float32))
>>> cache.hits
1
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ..data.fetch import file_digest as _file_digest

#: bump when the preprocessing code changes what it produces
CACHE_VERSION = 1

_FILE_HASHES: Dict[Tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def content_key(path: Union[str, Path]) -> str:
    """Cache key of a file's bytes: BLAKE2b (128 bit) by :func:`radnb.data.fetch.file_digest`,
    remembered per (path, size, mtime) so a file is read once per session.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from radnb.data.fetch import file_digest
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"; _ = p.write_text("x")
    >>> len(content_key(p)), content_key(p) == file_digest(p, "blake2b", digest_size=16)
    (32, True)
    """
    st = os.stat(path)
    memo_key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    digest = _FILE_HASHES.get(memo_key)
    if digest is None:
        digest = _file_digest(path, "blake2b", digest_size=16)
        with _LOCK:
            _FILE_HASHES[memo_key] = digest
    return digest


def paths_digest(paths: Sequence[Union[str, Path]]) -> str:
    """Combined content hash of several files (e.g. the slices of one series), order-independent.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "a").write_text("1"); _ = (d / "b").write_text("2")
    >>> paths_digest([d / "a", d / "b"]) == paths_digest([d / "b", d / "a"])
    True
    """
    h = hashlib.blake2b(digest_size=16)
    for digest in sorted(content_key(p) for p in paths):
        h.update(digest.encode())
    return h.hexdigest()


def array_digest(array: np.ndarray) -> str:
    """Content hash of an in-memory array (shape, dtype and bytes).

    Examples
    --------
    >>> import numpy as np
    >>> array_digest(np.zeros(3)) == array_digest(np.zeros(3))
    True
    """
    arr = np.ascontiguousarray(array)
    h = hashlib.blake2b(digest_size=16)
    h.update(str((arr.shape, arr.dtype.str)).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


_PARAM_DIGESTS: Dict[str, str] = {}


def params_digest(params: Dict[str, Any]) -> str:
    """Hash of the preprocessing parameters (JSON, keys sorted, plus :data:`CACHE_VERSION`).

    Examples
    --------
    >>> params_digest({"size": 64}) != params_digest({"size": 128})
    True
    """
    text = json.dumps({"v": CACHE_VERSION, **params}, sort_keys=True, default=str)
    digest = _PARAM_DIGESTS.get(text)
    if digest is None:
        digest = _PARAM_DIGESTS[text] = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    return digest


def default_cache_dir() -> Path:
    """``data_dir()/cache/train``: where preprocessed arrays live.

    Examples
    --------
    >>> default_cache_dir().name
    'train'
    """
    from ..config import data_dir

    return data_dir() / "cache" / "train"


#: Entries up to this size are read into memory; larger ones are memory-mapped. Each memory map holds an open
#: file descriptor (Python's mmap keeps one), so mapping thousands of small images ran into the per-process limit.
MEMORY_MAP_BYTES = 4 << 20


def _load_read_only(path: Path) -> np.ndarray:
    """A cached entry, read-only: in memory when small, memory-mapped when larger than ``MEMORY_MAP_BYTES``."""
    if path.stat().st_size > MEMORY_MAP_BYTES:
        return np.load(path, mmap_mode="r")
    arr = np.load(path)
    arr.setflags(write=False)
    return arr


class PreprocessCache:
    """Content- and parameter-keyed store of preprocessed arrays, read back memory-mapped.

    Parameters
    ----------
    root
        Folder for the cache; default :func:`default_cache_dir` (under ``RADNB_DATA``).
    enabled
        ``False`` computes every time (for comparisons and debugging).

    Attributes
    ----------
    hits, misses
        How many requests were served from disk / computed.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> c = PreprocessCache(tempfile.mkdtemp())
    >>> c.get("k", {"windows": ["lung"]}, lambda: np.ones(2, np.float16)).dtype
    dtype('float16')
    """

    def __init__(self, root: Optional[Union[str, Path]] = None, enabled: bool = True):
        self._root = Path(root) if root is not None else None
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self._memo: Dict[Tuple[str, str], np.ndarray] = {}

    @property
    def root(self) -> Path:
        return self._root if self._root is not None else default_cache_dir()

    def __getstate__(self):
        # DataLoader worker processes get the settings, not this process's open memory maps
        state = dict(self.__dict__)
        state["_memo"] = {}
        return state

    def path_for(self, content_key: str, params: Dict[str, Any]) -> Path:
        """The ``.npy`` file that holds (or will hold) this entry."""
        return self.root / params_digest(params) / content_key[:2] / f"{content_key}.npy"

    def get(self, content_key: str, params: Dict[str, Any], compute: Callable[[], np.ndarray],
            params_key: Optional[str] = None) -> np.ndarray:
        """Return the cached array, computing and storing it on a miss.

        The returned array is read-only (a memory map when larger than
        ``MEMORY_MAP_BYTES``); copy it before changing it. ``params_key`` is
        ``params_digest(params)`` if the caller already has it.
        """
        if not self.enabled:
            self.misses += 1
            return compute()
        memo_key = (content_key, params_key or params_digest(params))
        arr = self._memo.get(memo_key)
        if arr is not None:
            self.hits += 1
            return arr
        target = self.path_for(content_key, params)
        if target.exists():
            try:
                arr = _load_read_only(target)
                self.hits += 1
                self._memo[memo_key] = arr
                return arr
            except (ValueError, OSError):  # half-written or damaged entry: rebuild it
                target.unlink(missing_ok=True)
        self.misses += 1
        arr = np.ascontiguousarray(compute())
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
            os.replace(tmp, target)
            arr = _load_read_only(target)
            self._memo[memo_key] = arr
        except OSError:  # read-only or full disk: carry on uncached
            pass
        return arr

    def clear(self) -> None:
        """Delete every cached entry under :attr:`root`."""
        self._memo.clear()
        if self.root.exists():
            shutil.rmtree(self.root)

    def size_bytes(self) -> int:
        """Disk space used by the cache."""
        if not self.root.exists():
            return 0
        return sum(p.stat().st_size for p in self.root.rglob("*.npy"))

    def __repr__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"PreprocessCache({str(self.root)!r}, {state}, hits={self.hits}, misses={self.misses})"


def __getattr__(name: str):
    if name == "file_digest":  # the old name of content_key; radnb.data.fetch.file_digest is the general hash
        import warnings

        warnings.warn("radnb.train.cache.file_digest is now content_key (radnb.data.fetch.file_digest is the "
                      "general file hash); the old name will be removed in the next release.",
                      DeprecationWarning, stacklevel=2)
        return content_key
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
