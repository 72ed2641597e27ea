"""The radnb IPython extension: ``%load_ext radnb``.

Once loaded:

* a pydicom ``Dataset`` with pixel data, or a radnb ``DicomImage`` /
  ``DicomSeries``, left as the last expression of a cell opens in
  :func:`radnb.show` (registered with IPython's display formatters, so pydicom's
  classes are not modified; a Dataset without pixel data keeps its usual text);
* ``%radnb`` prints a short summary of the environment and compute device;
  ``%radnb doctor`` prints the full report to paste into a help request.

Examples
--------
>>> from IPython.testing.globalipapp import get_ipython  # doctest: +SKIP
>>> ip = get_ipython(); ip.run_line_magic("load_ext", "radnb")  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

_REGISTERED: List[Tuple[str, str]] = [
    ("pydicom.dataset", "Dataset"),
    ("radnb.dicom.image", "DicomImage"),
    ("radnb.dicom.image", "DicomSeries"),
]


def _bundle(obj: Any) -> Optional[dict]:
    """Display data for ``obj`` as a viewer, or None to fall back to IPython's usual output."""
    if type(obj).__name__ in ("Dataset", "FileDataset") and "PixelData" not in obj:
        return None
    from .viewers import show

    try:
        viewer = show(obj)
    except Exception as exc:  # never break the cell's output: say why and show the usual text
        return {"text/plain": f"{obj!r}\n(radnb viewer unavailable: {exc})"}
    data, _meta = viewer._repr_mimebundle_()
    return data


def _summary() -> str:
    import radnb

    from .system import device_info

    lines = [f"radnb {radnb.__version__}"]
    try:
        lines.append(f"device: {device_info()}")
    except Exception as exc:  # torch missing or broken
        lines.append(f"device: unknown ({exc})")
    from .config import data_dir

    lines.append(f"data dir: {data_dir()}")
    lines.append("rich display: pydicom Datasets and radnb images open in the viewer")
    lines.append("more: %radnb doctor")
    return "\n".join(lines)


def radnb_magic(line: str = "") -> None:
    """``%radnb`` (summary) or ``%radnb doctor`` (full environment report)."""
    arg = line.strip().lower()
    if arg in ("", "info", "summary"):
        print(_summary())
    elif arg == "doctor":
        from .system import doctor, format_report

        print(format_report(doctor()))
    else:
        print(f"Unknown option {line.strip()!r}. Use %radnb (summary) or %radnb doctor (full report).")


def load_ipython_extension(ipython: Any) -> None:
    """Register the rich display for DICOM objects and the ``%radnb`` magic."""
    formatter = ipython.display_formatter.mimebundle_formatter
    for module, name in _REGISTERED:
        formatter.for_type_by_name(module, name, _bundle)
    ipython.register_magic_function(radnb_magic, magic_kind="line", magic_name="radnb")


def unload_ipython_extension(ipython: Any) -> None:
    """Remove what :func:`load_ipython_extension` registered."""
    formatter = ipython.display_formatter.mimebundle_formatter
    for module, name in _REGISTERED:
        formatter.deferred_printers.pop((module, name), None)
        for cls in list(formatter.type_printers):
            if cls.__module__ == module and cls.__name__ == name and formatter.type_printers[cls] is _bundle:
                formatter.type_printers.pop(cls)
    ipython.magics_manager.magics["line"].pop("radnb", None)
