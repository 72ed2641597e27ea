"""What this machine offers radnb: platform, compute device, versions, data directory.

``detect_platform()`` says where the notebook runs (Google Colab, Binder, a
JupyterHub, or a local install); ``device_info()`` decides where training runs
(CUDA, Apple MPS or CPU) and says why; ``doctor()`` collects what a student
pastes into a help request.

Examples
--------
>>> from radnb.system import device_info
>>> device_info().kind in {"cuda", "mps", "cpu"}
True
"""
from __future__ import annotations

import importlib
import os
import platform
import sys
from dataclasses import dataclass, field
from typing import Dict, Optional

from .config import data_dir


@dataclass
class DeviceInfo:
    """Where radnb will train and predict.

    Attributes
    ----------
    kind
        ``"cuda"``, ``"mps"`` or ``"cpu"``.
    name
        Human-readable device name (GPU model or CPU description).
    reason
        One sentence on why this device was chosen.
    memory_gb
        Device memory in GiB (GPU memory, or system RAM for the CPU), if known.
    mixed_precision
        Whether radnb trains in mixed precision there (CUDA only).
    channels_last
        Whether radnb uses the channels-last memory format there (CUDA only).
    threads
        CPU threads torch uses.
    """

    kind: str
    name: str
    reason: str
    memory_gb: Optional[float] = None
    mixed_precision: bool = False
    channels_last: bool = False
    threads: int = 1

    @property
    def torch_device(self):
        """The matching ``torch.device``."""
        import torch

        return torch.device(self.kind)

    def __str__(self) -> str:
        mem = f", {self.memory_gb:.1f} GiB" if self.memory_gb else ""
        extras = []
        if self.mixed_precision:
            extras.append("mixed precision")
        if self.channels_last:
            extras.append("channels_last")
        extra = f" [{', '.join(extras)}]" if extras else ""
        return f"{self.kind}: {self.name}{mem}{extra} — {self.reason}"


@dataclass(frozen=True)
class PlatformInfo:
    """Where this Python runs, as far as radnb can tell.

    Attributes
    ----------
    name
        ``"colab"``, ``"binder"``, ``"jupyterhub"`` or ``"local"``.
    label
        The name a student recognises ("Google Colab", "Binder (mybinder.org)", ...).
    evidence
        What radnb saw (a module or an environment variable), so a wrong guess can be traced.
    advice
        One sentence on what this platform means for the course.
    """

    name: str
    label: str
    evidence: str
    advice: str

    def __str__(self) -> str:
        return f"{self.label} ({self.evidence}): {self.advice}"


_BINDER_VARS = ("BINDER_LAUNCH_HOST", "BINDER_REPO_URL", "BINDER_REF_URL", "BINDER_REQUEST", "BINDER_SERVICE_HOST")
_HUB_VARS = ("JUPYTERHUB_API_URL", "JUPYTERHUB_SERVICE_PREFIX", "JUPYTERHUB_USER")
_COLAB_VARS = ("COLAB_RELEASE_TAG", "COLAB_GPU", "COLAB_BACKEND_VERSION")


def detect_platform(environ: Optional[Dict[str, str]] = None, modules: Optional[Dict[str, object]] = None) -> PlatformInfo:
    """Tell Google Colab, Binder, a JupyterHub and a local install apart.

    Colab: ``google.colab`` is imported or a ``COLAB_*`` variable is set. Binder
    (which runs on a JupyterHub) sets ``BINDER_*`` variables, so it is checked
    before a plain JupyterHub (``JUPYTERHUB_*``). Anything else is local.

    Parameters
    ----------
    environ, modules
        The environment and ``sys.modules`` to judge (default: this process's).

    Examples
    --------
    >>> detect_platform({"COLAB_RELEASE_TAG": "release-colab_20260819"}, {}).name
    'colab'
    >>> detect_platform({"BINDER_LAUNCH_HOST": "https://mybinder.org/", "JUPYTERHUB_USER": "x"}, {}).name
    'binder'
    >>> detect_platform({}, {}).name
    'local'
    """
    env = os.environ if environ is None else environ
    mods = sys.modules if modules is None else modules
    colab_vars = [v for v in _COLAB_VARS if v in env]
    if "google.colab" in mods or colab_vars:
        evidence = "google.colab is imported" if "google.colab" in mods else f"{colab_vars[0]} is set"
        return PlatformInfo(
            "colab", "Google Colab", evidence,
            "radnb is installed into Colab's own Python and keeps its torch, numpy and widgets; "
            "files are lost when the runtime stops, and a GPU is available from Runtime > Change runtime type.",
        )
    binder_vars = [v for v in _BINDER_VARS if v in env]
    if binder_vars:
        return PlatformInfo(
            "binder", "Binder (mybinder.org)", f"{binder_vars[0]} is set",
            "about 2 GB of memory and no GPU; the session stops after about 10 idle minutes and nothing "
            "you change is kept, so download work you want to keep.",
        )
    hub_vars = [v for v in _HUB_VARS if v in env]
    if hub_vars:
        user = env.get("JUPYTERHUB_USER")
        return PlatformInfo(
            "jupyterhub", "a JupyterHub" + (f" (user {user})" if user else ""), f"{hub_vars[0]} is set",
            "your course's server: files in your home folder are kept between sessions.",
        )
    return PlatformInfo(
        "local", "a local install", "no Colab, Binder or JupyterHub markers",
        "your own computer or server: radnb, its data and your notebooks stay where you put them.",
    )


def _system_ram_gb() -> Optional[float]:
    try:
        import psutil

        return psutil.virtual_memory().total / 2**30
    except Exception:
        return None


def device_info(prefer: Optional[str] = None) -> DeviceInfo:
    """Pick the compute device radnb uses and explain the choice.

    CUDA is used when a GPU is visible (with mixed precision and channels-last),
    then Apple's MPS, else the CPU. ``RADNB_DEVICE=cpu`` (or ``prefer="cpu"``)
    forces a choice.

    Parameters
    ----------
    prefer
        ``"cuda"``, ``"mps"`` or ``"cpu"`` to force a device; ``None`` picks.

    Examples
    --------
    >>> info = device_info(prefer="cpu")
    >>> info.kind
    'cpu'
    """
    import torch

    prefer = (prefer or os.environ.get("RADNB_DEVICE") or "").strip().lower() or None
    threads = torch.get_num_threads()
    if prefer not in (None, "cpu") and prefer not in ("cuda", "mps"):
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"Unknown device {prefer!r}. Use 'cuda', 'mps' or 'cpu' (or leave it out and radnb picks)."
        )
    if prefer in (None, "cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return DeviceInfo(
            "cuda",
            props.name,
            "an NVIDIA GPU is available; training uses it with mixed precision",
            props.total_memory / 2**30,
            mixed_precision=True,
            channels_last=True,
            threads=threads,
        )
    mps = getattr(torch.backends, "mps", None)
    if prefer in (None, "mps") and mps is not None and mps.is_available():
        return DeviceInfo("mps", "Apple GPU (MPS)", "an Apple-silicon GPU is available", _system_ram_gb(), threads=threads)
    if prefer == "cpu":
        reason = "the CPU was requested"
    elif prefer:
        reason = f"{prefer} was requested but is not available, so the CPU is used"
    else:
        reason = "no GPU was found, so the CPU is used (smaller images and models are chosen automatically)"
    name = platform.processor() or platform.machine() or "CPU"
    return DeviceInfo("cpu", f"{name} ({os.cpu_count()} cores)", reason, _system_ram_gb(), threads=threads)


def _version(module: str) -> Optional[str]:
    try:
        mod = importlib.import_module(module)
    except Exception:
        return None
    return getattr(mod, "__version__", "installed")


def _widgets_in_jupyterlab() -> bool:
    """True when the ipywidgets JupyterLab extension is installed in this environment."""
    from pathlib import Path

    prefixes = {sys.prefix, getattr(sys, "base_prefix", sys.prefix)}
    for prefix in prefixes:
        if (Path(prefix) / "share" / "jupyter" / "labextensions" / "@jupyter-widgets" / "jupyterlab-manager").exists():
            return True
    return False


def _widget_front_end(report: Dict[str, object]) -> str:
    """How the viewers' widgets reach the page here, with the known mismatch spelled out."""
    if detect_platform().name == "colab":
        return "not needed: Colab draws widgets with its own widget manager, which anywidget switches on"
    found = _widgets_in_jupyterlab()
    widgets, lab = str(report.get("ipywidgets", "")), str(report.get("jupyterlab", ""))
    if lab[:1].isdigit() and int(lab.split(".")[0]) >= 4 and widgets.startswith("7."):
        return ("MISMATCH: JupyterLab 4 needs ipywidgets 8, but ipywidgets " + widgets + " is installed; "
                "run `pip install 'ipywidgets>=8'` (or use classic Notebook 6, which ipywidgets 7 supports)")
    return "installed" if found else "not found in this environment"


def doctor() -> Dict[str, object]:
    """Collect versions, compute device and data directory status.

    This is what ``radnb doctor`` and ``%radnb doctor`` print: paste it into a
    help request.

    Examples
    --------
    >>> report = doctor()
    >>> "python" in report and "device" in report and "runs on" in report
    True
    """
    report: Dict[str, object] = {}
    report["radnb"] = _version("radnb")
    report["runs on"] = str(detect_platform())
    report["python"] = platform.python_version()
    report["platform"] = platform.platform()
    for mod in ("numpy", "torch", "torchvision", "fastai", "pydicom", "ipywidgets", "anywidget", "ipykernel",
                "jupyterlab", "notebook"):
        report[mod] = _version(mod) or "not installed"
    decoders = [m for m in ("libjpeg", "openjpeg", "rle") if _version(m)]
    report["dicom decoders"] = ", ".join(decoders) if decoders else "none (compressed DICOM cannot be read)"
    try:
        report["device"] = str(device_info())
    except Exception as exc:  # torch broken: say so rather than crash the report
        report["device"] = f"unknown ({exc})"
    report["jupyterlab widgets"] = _widget_front_end(report)
    from .serverext import labextension_status

    report["jupyterlab extension"] = labextension_status()
    ddir = data_dir()
    try:
        ddir.mkdir(parents=True, exist_ok=True)
        probe = ddir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
        writable = "writable"
    except OSError as exc:
        writable = f"NOT writable ({exc.strerror}); set RADNB_DATA to a folder you can write"
    report["data dir"] = f"{ddir} ({writable})"
    return report


def format_report(report: Dict[str, object]) -> str:
    """Render :func:`doctor`'s report as aligned text lines.

    Examples
    --------
    >>> print(format_report({"python": "3.11"}))
    python : 3.11
    """
    width = max(len(k) for k in report)
    return "\n".join(f"{k.ljust(width)} : {v}" for k, v in report.items())
