"""Safe downloads and archive extraction for radnb's public datasets and weights.

Everything radnb downloads goes through :func:`fetch`:

* the file is streamed into a temporary ``.part`` file (in a hidden ``.partial``
  folder of the cache) and moved into place only after its checksum matches, so
  the cache never holds a truncated or tampered file under the real name;
* an interrupted download resumes where it stopped when the server supports
  HTTP ranges (``206 Partial Content``);
* a lock file stops two processes (two notebooks, two workers) from writing the
  same file at once: the second waits and then reuses the first one's result;
* a checksum mismatch discards the file and raises :class:`ChecksumError`;
* no network (or a server that does not answer within ``timeout`` seconds)
  raises :class:`OfflineError` with the URL, the exact path where a manually
  downloaded copy is accepted, and the offline alternative
  (``radnb.sample_data(...)``).

:func:`extract` unpacks zip and tar archives into the cache and refuses archives
that try to write elsewhere (absolute paths, ``..`` components, links pointing
outside the target, device files) or that unpack to more than a size cap.

Environment variables
---------------------
``RADNB_DATA``
    The data directory (see :func:`radnb.config.data_dir`).
``RADNB_MIRROR``
    Base URL of a course's own copy of the files; the file name is appended
    (``RADNB_MIRROR=http://classroom.local/radnb`` fetches
    ``http://classroom.local/radnb/pneumoniamnist.npz``).

Only the standard library is used for HTTP (``urllib``).

Examples
--------
>>> from radnb.data.fetch import describe_checksum
>>> describe_checksum(sha256=None, md5="28209eda62fecd6e6a2d98b1501bb15f")
'md5 28209eda62fe...'
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import stat
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Optional, Union

from ..config import data_dir
from ..errors import (ChecksumError, DownloadError, InvalidArgumentError, LockTimeoutError,  # noqa: F401
                      OfflineError, RadnbError, UnsafeArchiveError)

PathLike = Union[str, Path]

MIRROR_ENV = "RADNB_MIRROR"
USER_AGENT = "radnb (+https://github.com/radnb)"
CHUNK = 1 << 16
DEFAULT_MAX_EXTRACT_BYTES = 8 * (1 << 30)  # 8 GiB
DEFAULT_MAX_MEMBERS = 500_000
LOCK_WAIT_S = 3600.0

SYNTHETIC_HINT = (
    "Without a network, radnb's synthetic sample data works offline: "
    "radnb.sample_data('chest_xray'), radnb.sample_data('body_part') or radnb.sample_data('ct')."
)


# --------------------------------------------------------------------------- helpers


def cache_path(filename: str, subdir: str = "downloads") -> Path:
    """Where :func:`fetch` keeps ``filename`` (and where a manual copy is accepted).

    Examples
    --------
    >>> cache_path("pneumoniamnist.npz").name
    'pneumoniamnist.npz'
    """
    _check_plain_name(filename, "filename")
    for part in PurePosixPath(subdir.replace("\\", "/")).parts:
        if part in ("..", "/") or ":" in part:
            raise InvalidArgumentError(f"subdir {subdir!r} must be a relative folder inside the data directory.")
    return data_dir() / subdir / filename


def _check_plain_name(name: str, what: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise InvalidArgumentError(f"{what} {name!r} must be a plain file name (no folders).")


def resolve_url(url: str, filename: str) -> str:
    """The URL :func:`fetch` really uses: ``RADNB_MIRROR/filename`` when the mirror is set.

    Examples
    --------
    >>> import os
    >>> os.environ["RADNB_MIRROR"] = "http://course.example/radnb/"
    >>> resolve_url("https://zenodo.org/x.npz?download=1", "x.npz")
    'http://course.example/radnb/x.npz'
    >>> del os.environ["RADNB_MIRROR"]
    """
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror:
        return mirror.rstrip("/") + "/" + urllib.request.quote(filename)
    return url


def file_digest(path: PathLike, algorithm: str = "sha256", limit: Optional[int] = None,
                digest_size: Optional[int] = None) -> str:
    """Hex digest of a file (``limit`` bytes from the start only, when given).

    radnb's one file hash: checksums here, cache keys in :func:`radnb.train.cache.content_key`
    (``algorithm="blake2b", digest_size=16``). ``algorithm`` is any :func:`hashlib.new` name.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"; _ = p.write_bytes(b"abc")
    >>> file_digest(p)[:12]
    'ba7816bf8f01'
    >>> len(file_digest(p, "blake2b", digest_size=16))
    32
    """
    h = hashlib.new(algorithm) if digest_size is None else hashlib.new(algorithm, digest_size=digest_size)
    remaining = limit
    with open(path, "rb") as f:
        while True:
            size = CHUNK if remaining is None else min(CHUNK, remaining)
            if size <= 0:
                break
            block = f.read(size)
            if not block:
                break
            h.update(block)
            if remaining is not None:
                remaining -= len(block)
    return h.hexdigest()


def describe_checksum(sha256: Optional[str] = None, md5: Optional[str] = None,
                      head_md5: Optional[str] = None) -> str:
    """Short human description of what a file is checked against.

    Examples
    --------
    >>> describe_checksum(sha256="f37072fd")
    'sha256 prefix f37072fd'
    >>> describe_checksum()
    'trust on first use'
    """
    if sha256:
        return f"sha256 {sha256[:12]}..." if len(sha256) == 64 else f"sha256 prefix {sha256}"
    if md5:
        return f"md5 {md5[:12]}..."
    if head_md5:
        return f"md5 of first MiB {head_md5[:12]}..."
    return "trust on first use"


def _normalise_hex(value: Optional[str], what: str, full: int) -> Optional[str]:
    if value is None:
        return None
    value = value.strip().lower()
    if not value or any(c not in "0123456789abcdef" for c in value):
        raise InvalidArgumentError(f"{what} {value!r} is not a hexadecimal checksum.")
    if what == "sha256" and not (8 <= len(value) <= 64):
        raise InvalidArgumentError(f"sha256 {value!r} must be the full 64 hex digits or a prefix of at least 8.")
    if what != "sha256" and len(value) != full:
        raise InvalidArgumentError(f"{what} {value!r} must have {full} hex digits.")
    return value


def verify_file(path: PathLike, *, sha256: Optional[str] = None, md5: Optional[str] = None,
                head_md5: Optional[str] = None, expected_size: Optional[int] = None) -> str:
    """Check a file against every checksum given; return its full sha256.

    ``sha256`` may be the full digest or a prefix of at least 8 hex digits (torch hub's
    convention for file names such as ``resnet18-f37072fd.pth``). ``head_md5`` is the
    md5 of the first MiB (the check fastai stores for its datasets).

    Raises
    ------
    ChecksumError
        Naming the file and which check failed. The file is left where it is; the
        caller decides whether to discard it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"; _ = p.write_bytes(b"abc")
    >>> verify_file(p, sha256="ba7816bf")[:8]
    'ba7816bf'
    """
    path = Path(path)
    sha256 = _normalise_hex(sha256, "sha256", 64)
    md5 = _normalise_hex(md5, "md5", 32)
    head_md5 = _normalise_hex(head_md5, "md5 of first MiB", 32)
    size = path.stat().st_size
    if expected_size is not None and size != int(expected_size):
        raise ChecksumError(f"{path}: size is {size:,} bytes, expected {int(expected_size):,} bytes.", dest=path)
    # one pass over the file for every digest (datasets can be large)
    h_sha, h_md5, h_head = hashlib.sha256(), hashlib.md5() if md5 else None, hashlib.md5() if head_md5 else None
    seen = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h_sha.update(block)
            if h_md5 is not None:
                h_md5.update(block)
            if h_head is not None and seen < (1 << 20):
                h_head.update(block[: (1 << 20) - seen])
            seen += len(block)
    actual = h_sha.hexdigest()
    if sha256 and not actual.startswith(sha256):
        raise ChecksumError(f"{path}: sha256 is {actual}, expected {sha256}.", dest=path)
    if h_md5 is not None and h_md5.hexdigest() != md5:
        raise ChecksumError(f"{path}: md5 is {h_md5.hexdigest()}, expected {md5}.", dest=path)
    if h_head is not None and h_head.hexdigest() != head_md5:
        raise ChecksumError(f"{path}: md5 of the first MiB is {h_head.hexdigest()}, expected {head_md5}.", dest=path)
    return actual


# --------------------------------------------------------------------------- records


def _record_path(dest: Path) -> Path:
    return dest.parent / ".records" / (dest.name + ".json")


def read_record(dest: PathLike) -> Optional[dict]:
    """The verification record radnb keeps beside a cached file (or None).

    It holds the file's sha256, size, URL and, for files without a published
    checksum, ``"trust_on_first_use": true``.

    Examples
    --------
    >>> read_record("/nonexistent/file.npz") is None
    True
    """
    try:
        return json.loads(_record_path(Path(dest)).read_text())
    except (OSError, ValueError):
        return None


def _write_record(dest: Path, sha256: str, url: str, tofu: bool, md5: Optional[str] = None,
                  head_md5: Optional[str] = None) -> None:
    st = dest.stat()
    record = {
        "file": dest.name,
        "sha256": sha256,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "url": url,
        "trust_on_first_use": tofu,
        "md5": md5,
        "head_md5": head_md5,
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = _record_path(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# --------------------------------------------------------------------------- locking


@contextlib.contextmanager
def file_lock(lock_path: PathLike, timeout: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``lock_path`` (created if needed).

    radnb's one lock (downloads, extraction, synthetic sample sets): the
    ``filelock`` package's :class:`~filelock.FileLock` (``flock`` on Linux and
    macOS, released by the OS if the process dies; ``msvcrt`` on Windows).
    Waiting longer than ``timeout`` seconds raises :class:`~radnb.errors.LockTimeoutError`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> lock = pathlib.Path(tempfile.mkdtemp()) / "x.lock"
    >>> with file_lock(lock):
    ...     try:
    ...         with file_lock(lock, timeout=0.1):
    ...             pass
    ...     except LockTimeoutError as err:
    ...         print("held:", err.lock_path == lock)
    held: True
    """
    from filelock import FileLock, Timeout

    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))  # a new object per call: threads of one process exclude each other too
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise LockTimeoutError(
            f"Timed out after {timeout:g} s waiting for another process to finish with {lock_path.with_suffix('')}. "
            f"If no other notebook or worker is using it, delete {lock_path} and try again.", lock_path) from None
    try:
        yield
    finally:
        lock.release()


# --------------------------------------------------------------------------- progress


class TextProgress:
    """A dependency-free one-line progress bar (on stderr, redrawn with ``\\r``).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> bar = TextProgress("demo", total=2_000_000, stream=out)
    >>> bar.update(1_000_000); bar.close()
    >>> bar.done, "50.0%" in out.getvalue()
    (1000000, True)
    """

    def __init__(self, label: str, total: Optional[int], enabled: bool = True, stream=None, start: int = 0):
        self.label = label
        self.total = total
        self.done = start
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self._last = 0.0
        self._t0 = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last > 0.25:
            self._last = now
            self._draw()

    def _draw(self, end: str = "") -> None:
        mb = self.done / 1e6
        rate = mb / max(time.monotonic() - self._t0, 1e-6)
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            text = f"\r{self.label}: [{bar:<30}] {frac:6.1%} {mb:8.1f}/{self.total / 1e6:.1f} MB {rate:6.1f} MB/s"
        else:
            text = f"\r{self.label}: {mb:8.1f} MB {rate:6.1f} MB/s"
        self.stream.write(text + end)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(end="\n")


# --------------------------------------------------------------------------- fetch


def _offline_message(url: str, dest: Path, reason: str, checksum: str) -> str:
    return (
        f"Could not reach {url} ({reason}).\n"
        f"  * If you have no internet here: download the file on a connected computer from\n"
        f"      {url}\n"
        f"    and put it, named exactly '{dest.name}', at\n"
        f"      {dest}\n"
        f"    radnb checks it ({checksum}) and uses it without a network.\n"
        f"  * If your course hosts its own copy, set RADNB_MIRROR to its base URL "
        f"(the file name is appended), e.g. os.environ['RADNB_MIRROR'] = 'http://server/radnb'.\n"
        f"  * Set RADNB_DATA to use another data folder.\n"
        f"  * {SYNTHETIC_HINT}"
    )


def fetch(
    url: str,
    sha256: Optional[str],
    filename: str,
    *,
    subdir: str = "downloads",
    timeout: float = 10,
    expected_size: Optional[int] = None,
    progress: bool = True,
    md5: Optional[str] = None,
    head_md5: Optional[str] = None,
    force: bool = False,
) -> Path:
    """Download ``url`` into the radnb cache once, verify it, and return its path.

    Parameters
    ----------
    url
        Where the file lives. With ``RADNB_MIRROR`` set, ``RADNB_MIRROR/filename`` is used instead.
    sha256
        Full sha256 (64 hex) or a prefix of at least 8 hex digits. ``None`` with no
        ``md5``/``head_md5`` means *trust on first use*: the first download's sha256 is
        recorded and every later use must match it.
    filename
        Plain file name in the cache (``data_dir()/subdir/filename``). A file already
        there (for example copied by hand) is accepted when its checksum matches.
    subdir
        Folder below the data directory.
    timeout
        Seconds to wait for the server to connect or send data before giving up.
    expected_size
        Size in bytes, checked before hashing.
    progress
        Show a text progress bar on stderr.
    md5, head_md5
        Extra published checks: md5 of the whole file, md5 of its first MiB.
    force
        Discard the cached copy and download again.

    Returns
    -------
    Path
        The verified file in the cache.

    Raises
    ------
    OfflineError
        No network / no answer in time; the message says where to put a manual copy.
    ChecksumError
        The file does not match; it was discarded and never loaded.
    DownloadError
        Any other HTTP or transfer failure.

    Examples
    --------
    >>> import hashlib, pathlib, tempfile
    >>> src = pathlib.Path(tempfile.mkdtemp()) / "demo.bin"; _ = src.write_bytes(b"radnb")
    >>> path = fetch(src.as_uri(), hashlib.sha256(b"radnb").hexdigest(), "demo.bin", progress=False)
    >>> path.read_bytes(), path.name
    (b'radnb', 'demo.bin')

    Without a network (the message says where a manual download is accepted):

    >>> from radnb.data.fetch import fetch, OfflineError
    >>> try:                                   # doctest: +SKIP
    ...     path = fetch("https://zenodo.org/record/6496656/files/breastmnist.npz?download=1",
    ...                  None, "breastmnist.npz", md5="750601b1f35ba3300ea97c75c52ff8f6")
    ... except OfflineError as err:
    ...     print(err)
    """
    dest = cache_path(filename, subdir)
    sha256 = _normalise_hex(sha256, "sha256", 64)
    md5 = _normalise_hex(md5, "md5", 32)
    head_md5 = _normalise_hex(head_md5, "md5 of first MiB", 32)
    real_url = resolve_url(url, filename)
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock = dest.parent / ".locks" / (filename + ".lock")
    with file_lock(lock):
        if force:  # keep the record: a trust-on-first-use hash must still match the new copy
            _discard(dest)
        if dest.exists():
            cached = _verify_cached(dest, sha256, md5, head_md5, expected_size, url)
            if cached is not None:
                return cached
        checksum = describe_checksum(sha256, md5, head_md5)
        part = _part_path(dest)
        try:
            resumed = _download(real_url, dest, timeout=timeout, progress=progress, expected_size=expected_size,
                                checksum=checksum)
        except OfflineError as exc:
            if real_url == url:
                raise
            raise OfflineError(f"{exc.args[0]}\n  (RADNB_MIRROR is set; the original source is {url})",
                               url=real_url, dest=dest) from None
        try:
            try:
                digest = verify_file(part, sha256=sha256, md5=md5, head_md5=head_md5, expected_size=expected_size)
            except ChecksumError:
                if not resumed:
                    raise
                # the kept partial file may come from an older copy on the server: start once from scratch
                _discard(part)
                _download(real_url, dest, timeout=timeout, progress=progress, expected_size=expected_size,
                          checksum=checksum)
                digest = verify_file(part, sha256=sha256, md5=md5, head_md5=head_md5, expected_size=expected_size)
        except ChecksumError as exc:
            _discard(part)
            raise ChecksumError(
                f"The download from {real_url} does not match its checksum ({exc}). The file was discarded "
                f"and not loaded. If this repeats, the server's copy differs from the one radnb pinned: "
                f"report it, or place a verified copy at {dest}.",
                url=real_url, dest=dest,
            ) from None
        record = read_record(dest)
        tofu = not (sha256 or md5 or head_md5)
        if tofu and record and record.get("trust_on_first_use") and record.get("sha256") != digest:
            _discard(part)
            raise ChecksumError(
                f"The download from {real_url} (sha256 {digest}) differs from the copy first downloaded "
                f"(sha256 {record.get('sha256')}, recorded in {_record_path(dest)}). The new file was "
                f"discarded. Delete that record to accept the new version.",
                url=real_url, dest=dest,
            )
        os.replace(part, dest)
        _write_record(dest, digest, real_url, tofu, md5, head_md5)
        return dest


def _part_path(dest: Path) -> Path:
    return dest.parent / ".partial" / (dest.name + ".part")


def _verify_cached(dest: Path, sha256, md5, head_md5, expected_size, url) -> Optional[Path]:
    record = read_record(dest)
    st = dest.stat()
    tofu = not (sha256 or md5 or head_md5)
    if record and record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns:
        # unchanged since radnb verified it: skip re-hashing big files on every load
        same_checks = (not md5 or record.get("md5") == md5) and (not head_md5 or record.get("head_md5") == head_md5)
        if same_checks and (not sha256 or str(record.get("sha256", "")).startswith(sha256)):
            return dest
    try:
        digest = verify_file(dest, sha256=sha256, md5=md5, head_md5=head_md5, expected_size=expected_size)
    except ChecksumError as exc:
        _discard(dest)
        _discard(_record_path(dest))
        sys.stderr.write(f"radnb: discarded {dest}: {exc} Downloading it again.\n")
        return None
    if tofu and record and record.get("trust_on_first_use") and record.get("sha256") != digest:
        _discard(dest)
        raise ChecksumError(
            f"{dest} changed since it was first downloaded (sha256 {digest}, recorded {record.get('sha256')}). "
            f"It was discarded; fetch again to re-download.", url=url, dest=dest)
    _write_record(dest, digest, url, tofu, md5, head_md5)
    return dest


def _download(url: str, dest: Path, *, timeout: float, progress: bool, expected_size: Optional[int],
              checksum: str) -> bool:
    """Stream ``url`` into the ``.part`` file; return True when it continued an earlier partial file."""
    part = _part_path(dest)
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have > expected_size:
        _discard(part)
        have = 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range not satisfiable: our partial file is complete or stale
            exc.close()
            if expected_size is None or have == expected_size:
                return True
            _discard(part)
            return _download(url, dest, timeout=timeout, progress=progress, expected_size=expected_size,
                             checksum=checksum)
        exc.close()
        raise DownloadError(
            f"The server answered HTTP {exc.code} ({exc.reason}) for {url}. Try again later, set RADNB_MIRROR "
            f"to a course copy, or place the file by hand at {dest}. {SYNTHETIC_HINT}",
            url=url, dest=dest,
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OfflineError(_offline_message(url, dest, f"{type(reason).__name__}: {reason}", checksum),
                           url=url, dest=dest) from None
    with response:
        status = getattr(response, "status", 200)
        total = None
        length = response.headers.get("Content-Length")
        if have and status == 206:
            content_range = response.headers.get("Content-Range", "")
            start = _range_start(content_range)
            if start != have:
                raise DownloadError(f"{url}: the server resumed at byte {start}, not {have}; "
                                    f"delete {part} and try again.", url=url, dest=dest)
            mode = "ab"
            total = have + int(length) if length and length.isdigit() else expected_size
        else:
            mode = "wb"  # server ignored the range (or fresh start): begin again
            have = 0
            total = int(length) if length and length.isdigit() else expected_size
        bar = TextProgress(f"Downloading {dest.name}", total, enabled=progress, start=have)
        try:
            with open(part, mode) as out:
                while True:
                    try:
                        block = response.read(CHUNK)
                    except (socket.timeout, TimeoutError) as exc:
                        raise DownloadError(
                            f"{url} stopped sending data for {timeout:g} s (after {bar.done:,} bytes). "
                            f"Run again to resume where it stopped. {SYNTHETIC_HINT}", url=url, dest=dest) from exc
                    except (OSError, http_client_errors()) as exc:
                        raise DownloadError(
                            f"The connection to {url} broke after {bar.done:,} bytes ({exc}). Run again to "
                            f"resume where it stopped.", url=url, dest=dest) from exc
                    if not block:
                        break
                    out.write(block)
                    bar.update(len(block))
        finally:
            bar.close()
        if total is not None and part.stat().st_size < total:
            raise DownloadError(
                f"The download of {url} ended early ({part.stat().st_size:,} of {total:,} bytes). Run again "
                f"to resume where it stopped.", url=url, dest=dest)
        return mode == "ab"


def http_client_errors():
    import http.client

    return http.client.HTTPException


def _range_start(content_range: str) -> Optional[int]:
    # "bytes 100-199/200"
    try:
        unit, rest = content_range.split(" ", 1)
        return int(rest.split("-", 1)[0]) if unit.strip() == "bytes" else None
    except (ValueError, IndexError):
        return None


# --------------------------------------------------------------------------- extraction


def _member_parts(name: str, archive: Path) -> tuple:
    """Validate one member name and return its path components."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":") or "\x00" in raw:
        raise UnsafeArchiveError(f"member {name!r} has an absolute path; refusing to extract.", archive, name)
    parts = tuple(p for p in PurePosixPath(raw).parts if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchiveError(f"member {name!r} contains '..' (path traversal); refusing to extract.",
                                 archive, name)
    return parts


def _link_target_ok(member_parts: tuple, target: str, hard: bool) -> bool:
    target = target.replace("\\", "/")
    if not target or target.startswith("/") or (len(target) > 1 and target[1] == ":"):
        return False
    base = [] if hard else list(member_parts[:-1])
    for part in PurePosixPath(target).parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not base:
                return False
            base.pop()
        else:
            base.append(part)
    return bool(base)


class _Plan:
    __slots__ = ("kind", "parts", "size", "source", "link")

    def __init__(self, kind, parts, size=0, source=None, link=None):
        self.kind, self.parts, self.size, self.source, self.link = kind, parts, size, source, link


def _plan_tar(tf: tarfile.TarFile, archive: Path) -> list:
    plans = []
    for m in tf.getmembers():
        parts = _member_parts(m.name, archive)
        if not parts:
            continue
        if m.isdir():
            plans.append(_Plan("dir", parts))
        elif m.isreg():
            plans.append(_Plan("file", parts, m.size, m))
        elif m.issym() or m.islnk():
            if not _link_target_ok(parts, m.linkname, hard=m.islnk()):
                raise UnsafeArchiveError(
                    f"member {m.name!r} is a link to {m.linkname!r}, outside the target folder; refusing to extract.",
                    archive, m.name)
            plans.append(_Plan("hardlink" if m.islnk() else "symlink", parts, 0, m, m.linkname))
        else:
            kind = "device file" if (m.ischr() or m.isblk()) else "FIFO" if m.isfifo() else "special member"
            raise UnsafeArchiveError(f"member {m.name!r} is a {kind}; refusing to extract.", archive, m.name)
    return plans


def _plan_zip(zf: zipfile.ZipFile, archive: Path) -> list:
    plans = []
    for info in zf.infolist():
        parts = _member_parts(info.filename, archive)
        if not parts:
            continue
        mode = (info.external_attr >> 16) & 0xFFFF
        if info.is_dir():
            plans.append(_Plan("dir", parts))
        elif stat.S_ISLNK(mode):
            target = zf.read(info).decode("utf-8", "replace")
            if not _link_target_ok(parts, target, hard=False):
                raise UnsafeArchiveError(
                    f"member {info.filename!r} is a link to {target!r}, outside the target folder; "
                    f"refusing to extract.", archive, info.filename)
            plans.append(_Plan("symlink", parts, 0, info, target))
        elif mode and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            raise UnsafeArchiveError(f"member {info.filename!r} is a device/special file; refusing to extract.",
                                     archive, info.filename)
        else:
            plans.append(_Plan("file", parts, info.file_size, info))
    return plans


def extract(
    archive: PathLike,
    dest: Optional[PathLike] = None,
    *,
    max_bytes: int = DEFAULT_MAX_EXTRACT_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    force: bool = False,
) -> Path:
    """Safely unpack a zip or tar archive (``.zip``, ``.tar``, ``.tgz``, ``.tar.gz/.bz2/.xz``).

    The whole member list is checked before anything is written. Members with an
    absolute path, a ``..`` component, a link pointing outside ``dest``, or that are
    devices/FIFOs make the archive refused with :class:`UnsafeArchiveError`, as does a
    total size above ``max_bytes`` (also enforced while writing, against archives that
    lie about sizes). Files are unpacked into a temporary sibling folder that is
    renamed to ``dest`` only when complete, so an interrupted extraction never
    leaves a half folder; a completed one is reused (``force`` re-extracts).

    Parameters
    ----------
    archive
        The archive file.
    dest
        Target folder; default: next to the archive, named after it without extension.
    max_bytes, max_members
        Caps on the total unpacked size and number of members.

    Returns
    -------
    Path
        The folder with the unpacked files.

    Examples
    --------
    >>> import tempfile, zipfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> with zipfile.ZipFile(tmp / "a.zip", "w") as z:
    ...     z.writestr("images/one.txt", "hello")
    >>> (extract(tmp / "a.zip") / "images" / "one.txt").read_text()
    'hello'
    """
    archive = Path(archive)
    if dest is None:
        name = archive.name
        for suffix in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip"):
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
                break
        dest = archive.parent / (name + "_extracted" if name == archive.name else name)
    dest = Path(dest)
    done_marker = dest / ".radnb-extracted"
    with file_lock(dest.parent / ".locks" / (dest.name + ".extract.lock")):
        if done_marker.exists() and not force:
            return dest
        if zipfile.is_zipfile(archive):
            opener: Callable = lambda: zipfile.ZipFile(archive)  # noqa: E731
            kind = "zip"
        else:
            try:
                ok = tarfile.is_tarfile(archive)
            except OSError:
                ok = False
            if not ok:
                raise UnsafeArchiveError("is neither a zip nor a tar archive (or is damaged).", archive)
            opener = lambda: tarfile.open(archive, "r:*")  # noqa: E731
            kind = "tar"
        with opener() as handle:
            try:
                plans = _plan_zip(handle, archive) if kind == "zip" else _plan_tar(handle, archive)
            except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
                raise UnsafeArchiveError(f"is damaged and cannot be read ({exc}).", archive) from None
            if len(plans) > max_members:
                raise UnsafeArchiveError(f"has {len(plans):,} members, more than the cap of {max_members:,}.",
                                         archive)
            total = sum(p.size for p in plans)
            if total > max_bytes:
                raise UnsafeArchiveError(
                    f"would unpack to {total:,} bytes, more than the cap of {max_bytes:,} bytes; refusing.", archive)
            tmp = dest.parent / f".{dest.name}.extracting-{os.getpid()}"
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            try:
                _write_plans(handle, kind, plans, tmp, archive, max_bytes)
                (tmp / ".radnb-extracted").write_text(json.dumps({"archive": archive.name, "bytes": total}))
                if dest.exists():
                    shutil.rmtree(dest)
                os.replace(tmp, dest)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    return dest


def _safe_join(root: Path, parts: tuple, archive: Optional[Path] = None) -> Path:
    target = root.joinpath(*parts)
    # a symlink created earlier in this extraction must not redirect later members
    parent = root
    for part in parts[:-1]:
        parent = parent / part
        if parent.is_symlink():
            raise UnsafeArchiveError(f"member {'/'.join(parts)!r} would be written through a link.", archive,
                                     "/".join(parts))
    return target


def _write_plans(handle, kind: str, plans: list, root: Path, archive: Path, max_bytes: int) -> None:
    written = 0
    deferred_links = []
    for plan in plans:
        target = _safe_join(root, plan.parts, archive)
        if plan.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            continue
        if plan.kind in ("symlink", "hardlink"):
            deferred_links.append((plan, target))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            if target.is_symlink() or target.is_dir():
                raise UnsafeArchiveError(f"member {'/'.join(plan.parts)!r} collides with a link or folder.",
                                         archive, "/".join(plan.parts))
            target.unlink()
        src = handle.open(plan.source) if kind == "zip" else handle.extractfile(plan.source)
        if src is None:
            continue
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with src, os.fdopen(os.open(target, flags, 0o644), "wb") as out:
            while True:
                block = src.read(CHUNK)
                if not block:
                    break
                written += len(block)
                if written > max_bytes:
                    raise UnsafeArchiveError(
                        f"unpacks to more than the cap of {max_bytes:,} bytes (sizes in the archive are wrong); "
                        f"refusing.", archive, "/".join(plan.parts))
                out.write(block)
    for plan, target in deferred_links:
        target.parent.mkdir(parents=True, exist_ok=True)
        if plan.kind == "symlink":
            os.symlink(plan.link.replace("\\", "/"), target)
        else:
            source = _safe_join(root, _member_parts(plan.link, archive), archive)
            if source.is_file() and not source.is_symlink():
                shutil.copyfile(source, target)
        # re-check the finished link really stays inside root
        resolved = target.resolve()
        if root.resolve() not in resolved.parents and resolved != root.resolve():
            target.unlink()
            raise UnsafeArchiveError(f"link {'/'.join(plan.parts)!r} resolves outside the target folder.",
                                     archive, "/".join(plan.parts))


def fetch_and_extract(url: str, sha256: Optional[str], filename: str, *, subdir: str = "downloads",
                      extract_to: Optional[PathLike] = None, max_bytes: int = DEFAULT_MAX_EXTRACT_BYTES,
                      **fetch_kwargs) -> Path:
    """:func:`fetch` then :func:`extract`; returns the extracted folder.

    Examples
    --------
    >>> import pathlib, tempfile, zipfile
    >>> archive = pathlib.Path(tempfile.mkdtemp()) / "notes.zip"
    >>> with zipfile.ZipFile(archive, "w") as z:
    ...     z.writestr("notes/readme.txt", "hello")
    >>> folder = fetch_and_extract(archive.as_uri(), None, "notes.zip", progress=False)  # any URL; file:// here
    >>> (folder / "notes" / "readme.txt").read_text()
    'hello'
    """
    archive = fetch(url, sha256, filename, subdir=subdir, **fetch_kwargs)
    return extract(archive, extract_to, max_bytes=max_bytes)


__all__ = [
    "ChecksumError",
    "DownloadError",
    "OfflineError",
    "UnsafeArchiveError",
    "TextProgress",
    "cache_path",
    "describe_checksum",
    "extract",
    "fetch",
    "fetch_and_extract",
    "file_digest",
    "file_lock",
    "read_record",
    "resolve_url",
    "verify_file",
]
