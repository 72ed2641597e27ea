"""Jupyter server extension: the radnb viewer's data, read from DICOM on the server (no kernel).

The JupyterLab / Notebook 7 extension (``labextension/``) opens DICOM files and
study folders from the file browser in the same viewer as :func:`radnb.show`.
This module serves what that viewer needs, computed by the very code behind
``radnb.show`` (a :class:`~radnb.viewers.viewer.SliceViewer` is built on the
server and its synced state is sent as JSON; no comm, no kernel):

``GET /radnb/api/series?path=P``
    Series discovery in a file or folder ``P`` (relative to the server root):
    one entry per series (modality, description, number of images), and the
    files that could not be read, each with the reason.
``GET /radnb/api/view?path=P&series=K``
    The viewer state of series ``K`` (geometry, presets, opening window, header
    rows with identifying values hidden) and the order in which to fetch slices.
``GET /radnb/api/pixels?path=P&series=K&z0=A&z1=B``
    Slices ``A..B-1`` as raw little-endian int16 or float32 (``dtype`` of the layer).
``GET /radnb/api/preview?path=P``
    For a folder not read yet: one image from it (state + base64 pixels), shown while the
    whole folder is read, so something is on screen within about a second.
``GET /radnb/api/header?path=P&series=K&show_phi=1``
    The header rows, identifying values included only when asked.
``GET /radnb/static/viewer.js``
    The viewer's ES module, the one the notebook widget runs: ``radnb/viewers/static/viewer.js``
    and the modules it imports joined into one (:func:`radnb.viewers.assets.viewer_module`).

Every endpoint requires the Jupyter server's authentication and authorization
(``contents`` read permission); all are read-only GETs (Jupyter checks its XSRF
cookie on state-changing methods and refuses cross-origin API requests). Paths are
confined to the server's root directory: absolute paths, ``..`` and symbolic links
that lead out of the root are refused.

Examples
--------
>>> from radnb.serverext import resolve_in_root, PathOutsideRootError
>>> import tempfile, os
>>> root = tempfile.mkdtemp()
>>> resolve_in_root(root, "") == os.path.realpath(root)
True
>>> try:
...     resolve_in_root(root, "../etc/passwd")
... except PathOutsideRootError as exc:
...     print("refused")
refused
"""
from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .errors import DicomError, DicomFileNotFoundError, InvalidArgumentError, PathOutsideRootError, RadnbError  # noqa: F401

API = "radnb/api"
#: Loaded studies kept in memory (a 512x512x300 CT costs ~0.5 GB while cached).
CACHE_STUDIES = 2
NPM_NAME = "radnb-labextension"
LABEXTENSION_DIR = Path(__file__).parent / "labextension"


def resolve_in_root(root: str, relative: str) -> str:
    """The real path of ``relative`` inside ``root``; refuses anything that leaves the root.

    ``relative`` uses ``/`` like JupyterLab's paths. Absolute paths, ``..`` parts and
    symbolic links whose target is outside the root raise :class:`PathOutsideRootError`.

    Examples
    --------
    >>> import tempfile, os
    >>> root = tempfile.mkdtemp(); os.mkdir(os.path.join(root, "ct"))
    >>> resolve_in_root(root, "ct/") == os.path.join(os.path.realpath(root), "ct")
    True
    """
    rel = (relative or "").replace("\\", "/")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise PathOutsideRootError(f"'{relative}' is an absolute path; give a path inside the Jupyter root folder.")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise PathOutsideRootError(f"'{relative}' leaves the Jupyter root folder ('..' is not allowed).")
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, *parts))
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise PathOutsideRootError(
            f"'{relative}' is a link to a place outside the Jupyter root folder; the viewer only opens files inside it."
        )
    return real


def _relative(root: str, path: Any) -> str:
    real_root = os.path.realpath(root)
    try:
        return Path(os.path.realpath(str(path))).relative_to(real_root).as_posix()
    except ValueError:
        return Path(str(path)).name


def _clean_message(root: str, exc: BaseException) -> str:
    """The error message with server-side absolute paths shown relative to the root."""
    text = str(exc)
    real_root = os.path.realpath(root).rstrip(os.sep) + os.sep
    return text.replace(real_root, "").replace(os.path.abspath(root).rstrip(os.sep) + os.sep, "")


class Study:
    """One file or folder loaded with :func:`radnb.load`, its series, and a viewer per opened series."""

    def __init__(self, root: str, relative: str, real: str):
        from .dicom import load

        self.root, self.relative, self.real = root, relative, real
        self.mtime = _mtime(real)
        loaded = load(real)
        items = list(loaded) if isinstance(loaded, list) else [loaded]
        self.items = items
        self.errors = list(getattr(loaded, "errors", []) or [])
        self.skipped = list(getattr(loaded, "skipped", []) or [])
        self._viewers: Dict[int, Any] = {}
        self._lock = threading.Lock()

    def describe(self) -> Dict[str, Any]:
        from .dicom.deid import is_phi

        series = []
        for k, item in enumerate(self.items):
            meta = item.meta
            desc = str(getattr(meta, "SeriesDescription", "") or "")
            if desc and is_phi("SeriesDescription"):
                desc = "(hidden)"
            shape = [int(s) for s in item.array.shape]
            count = len(item) if hasattr(item, "__len__") and hasattr(item, "datasets") else 1
            first = getattr(item, "path", None) or (getattr(item, "paths", None) or [None])[0]
            series.append({
                "index": k,
                "modality": str(item.modality or ""),
                "description": desc,
                "series_number": str(getattr(meta, "SeriesNumber", "") or ""),
                "count": int(count),
                "shape": shape,
                "kind": "volume" if getattr(item, "ndim", len(shape)) == 3 and shape[0] > 1 else "image",
                "file": _relative(self.root, first) if first is not None else "",
            })
        return {
            "path": self.relative,
            "is_folder": os.path.isdir(self.real),
            "series": series,
            "errors": [{"file": _relative(self.root, e.path), "reason": _clean_message(self.root, e.reason)} for e in self.errors],
            "skipped": [_relative(self.root, p) for p in self.skipped],
        }

    def viewer(self, index: int):
        """The :class:`SliceViewer` of series ``index`` (built once, as ``radnb.show`` builds it)."""
        if not 0 <= index < len(self.items):
            raise InvalidArgumentError(f"series {index} does not exist; '{self.relative}' holds {len(self.items)}.")
        with self._lock:
            if index not in self._viewers:
                from .viewers.viewer import show

                item = self.items[index]
                viewer = show(item, static=False)
                if self.errors:
                    notes = list(viewer._notices)
                    notes += [f"not loaded: {_clean_message(self.root, e)}" for e in self.errors if f"not loaded: {e}" not in notes]
                    viewer._notices = [_clean_message(self.root, n) for n in notes]
                self._viewers[index] = viewer
            return self._viewers[index]

    def close(self) -> None:
        for viewer in self._viewers.values():
            viewer.close()
        self._viewers.clear()


def _mtime(real: str) -> float:
    st = os.stat(real)
    if os.path.isdir(real):  # a folder changes when a file in it is added or rewritten
        latest = st.st_mtime
        for base, dirs, files in os.walk(real):
            for name in files:
                try:
                    latest = max(latest, os.stat(os.path.join(base, name)).st_mtime)
                except OSError:
                    pass
        return latest
    return st.st_mtime


class StudyCache:
    """Least-recently-used cache of loaded studies, reloaded when the files change."""

    def __init__(self, size: int = CACHE_STUDIES):
        self.size = size
        self._studies: "OrderedDict[str, Study]" = OrderedDict()
        self._lock = threading.Lock()
        self._loading: Dict[str, threading.Lock] = {}

    def has(self, root: str, relative: str) -> bool:
        """Whether ``relative`` is loaded already (no file is read to answer)."""
        real = resolve_in_root(root, relative)
        with self._lock:
            return real in self._studies

    def get(self, root: str, relative: str) -> Study:
        real = resolve_in_root(root, relative)
        if not os.path.exists(real):
            raise DicomFileNotFoundError("no such file or folder in the Jupyter root folder.", relative or ".")
        with self._lock:
            key_lock = self._loading.setdefault(real, threading.Lock())
        with key_lock:  # two requests for one study load it once
            with self._lock:
                study = self._studies.get(real)
            if study is not None and study.mtime == _mtime(real):
                with self._lock:
                    self._studies.move_to_end(real)
                return study
            study = Study(root, relative, real)
            with self._lock:
                old = self._studies.pop(real, None)
                if old is not None:
                    old.close()
                self._studies[real] = study
                while len(self._studies) > self.size:
                    _, evicted = self._studies.popitem(last=False)
                    evicted.close()
            return study


def preview_file(real_folder: str) -> Optional[str]:
    """A DICOM file from the middle of a folder (by name), to put one image on screen while the study loads.

    Scanners usually number slices in their file names, so the middle name is usually near the
    middle of the stack; whatever it is, it is an image of the study, replaced once all are read.

    Examples
    --------
    >>> import tempfile
    >>> preview_file(tempfile.mkdtemp()) is None
    True
    """
    from .dicom.read import sniff_dicom
    from .dicom.series import NOT_DICOM_SUFFIXES

    names: List[str] = []
    for base, dirs, files in os.walk(real_folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        names += [os.path.join(base, f) for f in sorted(files)
                  if not f.startswith(".") and Path(f).suffix.lower() not in NOT_DICOM_SUFFIXES and f.upper() != "DICOMDIR"]
    if not names:
        return None
    middle = len(names) // 2
    for offset in range(min(len(names), 8)):  # skip a few non-DICOM neighbours
        for k in (middle + offset, middle - offset):
            if 0 <= k < len(names) and sniff_dicom(names[k]):
                return names[k]
    return None


def preview_response(root: str, relative: str) -> Dict[str, Any]:
    """Viewer state and pixels (base64) of one image of a folder, while :class:`Study` reads the whole folder."""
    import base64

    from .dicom import load
    from .viewers.viewer import show

    real = resolve_in_root(root, relative)
    if not os.path.isdir(real):
        return {"preview": False}
    path = preview_file(real)
    if path is None:
        return {"preview": False}
    try:
        viewer = show(load(path), static=False)
    except RadnbError:
        return {"preview": False}  # the full read will report this file with the others
    try:
        state = viewer_state(viewer)
        state["_notices"] = [f"Preview: {_relative(root, path)}. Reading the whole folder on the server…"]
        data = viewer._layer_objs[0].data
        return {"preview": True, "state": state, "file": _relative(root, path),
                "pixels": base64.b64encode(memoryview(data).cast("B")).decode("ascii")}
    finally:
        viewer.close()


def viewer_state(viewer: Any) -> Dict[str, Any]:
    """The synced state of a SliceViewer as the widget would send it to the browser."""
    from .viewers.viewer import SliceViewer

    keys = sorted(SliceViewer.class_own_traits(sync=True))
    return viewer.get_state(key=keys)


# ----- tornado handlers (imported only inside a Jupyter server) ------------------------------------
def _handlers(web_app: Any) -> List[Tuple[str, Any, Dict[str, Any]]]:
    import tornado.web
    from jupyter_server.auth.decorator import authorized
    from jupyter_server.base.handlers import APIHandler, JupyterHandler
    from jupyter_server.utils import url_path_join
    from tornado.ioloop import IOLoop

    cache = StudyCache()

    class RadnbHandler(APIHandler):
        auth_resource = "contents"

        @property
        def root(self) -> str:
            return os.path.expanduser(self.settings.get("server_root_dir") or os.getcwd())

        def write_radnb_error(self, exc: BaseException) -> None:
            if isinstance(exc, PathOutsideRootError):
                status, kind = 403, "outside_root"
            elif isinstance(exc, InvalidArgumentError):
                status, kind = 400, "invalid"
            elif isinstance(exc, FileNotFoundError):
                status, kind = 404, "not_found"
            else:
                status, kind = 422, type(exc).__name__
            self.set_status(status)
            self.finish(json.dumps({"error": kind, "message": _clean_message(self.root, exc)}))

        async def study(self) -> Study:
            path = self.get_argument("path", "")
            return await IOLoop.current().run_in_executor(None, cache.get, self.root, path)

        async def viewer(self):
            study = await self.study()
            index = int(self.get_argument("series", "0"))
            return study, await IOLoop.current().run_in_executor(None, study.viewer, index)

        async def respond(self, produce) -> None:
            # as Jupyter's /files does: XSRF cookie (or a same-origin Referer) for cookie-authenticated GETs
            self.check_xsrf_cookie()
            try:
                result = await produce()
            except RadnbError as exc:
                return self.write_radnb_error(exc)
            except ValueError as exc:  # e.g. series=abc
                return self.write_radnb_error(InvalidArgumentError(str(exc)))
            except Exception as exc:  # a library failure: still a message the viewer can show
                self.log.exception("radnb viewer request failed")
                return self.write_radnb_error(DicomError(f"could not be opened ({type(exc).__name__}: {exc})",
                                                         self.get_argument("path", "")))
            if isinstance(result, (bytes, bytearray, memoryview)):
                self.set_header("Cache-Control", "no-store")
                self.finish(bytes(result), set_content_type="application/octet-stream")
            else:
                self.set_header("Cache-Control", "no-store")
                self.finish(json.dumps(result))

    class SeriesHandler(RadnbHandler):
        @tornado.web.authenticated
        @authorized
        async def get(self):
            async def produce():
                return (await self.study()).describe()

            await self.respond(produce)

    class ViewHandler(RadnbHandler):
        @tornado.web.authenticated
        @authorized
        async def get(self):
            async def produce():
                study, viewer = await self.viewer()
                state = viewer_state(viewer)
                state["_title"] = state.get("_title") or Path(study.relative).name or "."
                first = int(self.get_argument("first", str(viewer.position[0])))
                return {
                    "state": state,
                    "chunks": viewer._chunks(first),
                    "first": first,
                    "path": study.relative,
                    "series": int(self.get_argument("series", "0")),
                    "downsample": viewer.downsample,
                }

            await self.respond(produce)

    class PixelsHandler(RadnbHandler):
        @tornado.web.authenticated
        @authorized
        async def get(self):
            async def produce():
                _, viewer = await self.viewer()
                layers = viewer._layer_objs
                layer = int(self.get_argument("layer", "0"))
                if not 0 <= layer < len(layers):
                    raise InvalidArgumentError(f"layer {layer} does not exist (0..{len(layers) - 1}).")
                data = layers[layer].data
                z0, z1 = int(self.get_argument("z0")), int(self.get_argument("z1"))
                if not 0 <= z0 < z1 <= data.shape[0]:
                    raise InvalidArgumentError(f"slices {z0}..{z1} are outside 0..{data.shape[0]}.")
                import numpy as np

                return memoryview(np.ascontiguousarray(data[z0:z1])).cast("B")

            await self.respond(produce)

    class PreviewHandler(RadnbHandler):
        @tornado.web.authenticated
        @authorized
        async def get(self):
            async def produce():
                path = self.get_argument("path", "")
                if cache.has(self.root, path):  # read already: the real viewer comes at once
                    return {"preview": False}
                return await IOLoop.current().run_in_executor(None, preview_response, self.root, path)

            await self.respond(produce)

    class HeaderHandler(RadnbHandler):
        @tornado.web.authenticated
        @authorized
        async def get(self):
            async def produce():
                from .viewers.header import header_rows

                _, viewer = await self.viewer()
                show_phi = self.get_argument("show_phi", "0").lower() in ("1", "true", "yes")
                if show_phi:
                    self.log.info("radnb viewer: identifying header values shown for %s", self.get_argument("path", ""))
                return {"header": header_rows(viewer.volume.meta, show_phi=show_phi), "show_phi": show_phi}

            await self.respond(produce)

    class ViewerStaticHandler(JupyterHandler, tornado.web.StaticFileHandler):
        """The viewer's ES module and CSS, behind the server's authentication like the API."""

        auth_resource = "contents"

        @tornado.web.authenticated
        @authorized
        def get(self, path: str, include_body: bool = True):
            self.check_xsrf_cookie()
            return tornado.web.StaticFileHandler.get(self, path, include_body)

        def set_extra_headers(self, path: str) -> None:
            self.set_header("Cache-Control", "no-cache")

        def compute_etag(self):
            return tornado.web.StaticFileHandler.compute_etag(self)

    from .viewers.assets import STATIC_DIR, viewer_module

    class ViewerModuleHandler(JupyterHandler):
        """The viewer's ES modules joined into one (the very string the notebook widget runs)."""

        auth_resource = "contents"

        @tornado.web.authenticated
        @authorized
        def get(self):
            self.check_xsrf_cookie()
            self.set_header("Content-Type", "text/javascript; charset=utf-8")
            self.set_header("Cache-Control", "no-cache")
            self.finish(viewer_module())

    base = web_app.settings["base_url"]
    return [
        (url_path_join(base, API, "series"), SeriesHandler, {}),
        (url_path_join(base, API, "view"), ViewHandler, {}),
        (url_path_join(base, API, "pixels"), PixelsHandler, {}),
        (url_path_join(base, API, "header"), HeaderHandler, {}),
        (url_path_join(base, API, "preview"), PreviewHandler, {}),
        (url_path_join(base, "radnb", "static", "viewer\\.js"), ViewerModuleHandler, {}),
        (url_path_join(base, "radnb", "static", "(viewer\\.css)"), ViewerStaticHandler, {"path": str(STATIC_DIR)}),
    ]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register radnb's viewer endpoints with a running Jupyter server."""
    web_app = server_app.web_app
    web_app.add_handlers(".*$", [(pattern, handler, kwargs) for pattern, handler, kwargs in _handlers(web_app)])
    server_app.log.info("radnb viewer endpoints registered under /%s", API)


def _jupyter_server_extension_points() -> List[Dict[str, str]]:
    """Entry point jupyter_server looks for (enabled by ``jupyter-config/.../radnb.json``)."""
    return [{"module": "radnb.serverext"}]


def _jupyter_labextension_paths() -> List[Dict[str, str]]:
    """Where the prebuilt JupyterLab extension lives (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": NPM_NAME}]


def labextension_status() -> str:
    """One line for ``radnb doctor``: is the lab extension installed and the server extension enabled?

    Examples
    --------
    >>> isinstance(labextension_status(), str)
    True
    """
    parts = []
    try:
        from jupyter_core.paths import jupyter_path

        found = [p for p in jupyter_path("labextensions") if os.path.isfile(os.path.join(p, NPM_NAME, "package.json"))]
    except Exception:  # jupyter_core missing or broken
        found = []
    if found:
        try:
            version = json.loads(Path(found[0], NPM_NAME, "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            version = "?"
        parts.append(f"lab extension {version} installed ({found[0]})")
    elif (LABEXTENSION_DIR / "package.json").is_file():
        parts.append("lab extension built in the package but NOT installed for Jupyter (reinstall radnb: pip install -e .)")
    else:
        parts.append("lab extension not built (run: make labextension)")
    try:
        from jupyter_server.extension.config import ExtensionConfigManager
        from jupyter_core.paths import jupyter_config_path

        manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
        enabled = bool(manager.get_jpserver_extensions().get("radnb.serverext"))
        parts.append("server extension enabled" if enabled else
                     "server extension NOT enabled (jupyter server extension enable radnb.serverext)")
    except Exception as exc:  # jupyter_server missing
        parts.append(f"server extension unknown ({type(exc).__name__})")
    return "; ".join(parts)


def development_environment(workdir: Any) -> Dict[str, str]:
    """Environment variables that make a Jupyter server load this checkout's extensions, uninstalled.

    Writes a Jupyter config folder (server extension enabled) and a data folder whose
    ``labextensions/radnb-labextension`` links to the built assets in ``radnb/labextension``
    under ``workdir``. Used by the tests and benchmarks; handy to try a fresh build.

    Examples
    --------
    >>> import tempfile
    >>> env = development_environment(tempfile.mkdtemp())
    >>> sorted(env)
    ['JUPYTER_CONFIG_DIR', 'JUPYTER_PATH']
    """
    work = Path(workdir)
    config = work / "jupyter-config"
    (config / "jupyter_server_config.d").mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.d" / "radnb.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"radnb.serverext": True}}})
    )
    data = work / "jupyter-data"
    (data / "labextensions").mkdir(parents=True, exist_ok=True)
    link = data / "labextensions" / NPM_NAME
    if not link.exists():
        link.symlink_to(LABEXTENSION_DIR, target_is_directory=True)
    path = os.pathsep.join(filter(None, [str(data), os.environ.get("JUPYTER_PATH", "")]))
    return {"JUPYTER_CONFIG_DIR": str(config), "JUPYTER_PATH": path}
