"""Optional 3D rendering (volume + label surfaces) through ipyniivue or itkwidgets.

Neither package is a radnb requirement: install the ``view3d`` extra
(``pip install "radnb[view3d]"``, which brings ipyniivue). Without one of them
:func:`view3d` raises :class:`~radnb.errors.MissingDependencyError` saying what to
install, never an ImportError from deep inside.

Examples
--------
>>> import numpy as np, radnb
>>> try:
...     widget = radnb.view3d(np.zeros((8, 8, 8)))
... except radnb.MissingDependencyError as err:
...     assert "pip install" in str(err)

itkwidgets is accepted as ``backend="itkwidgets"`` only where it can display: 0.32 needs
ipywidgets 7 (classic Notebook 6, Colab's stack), and the 1.0 alphas fetch their viewer
from the web, so :func:`itkwidgets_problem` says why it cannot and :func:`view3d` raises
:class:`View3DBackendError` with that reason.
"""
from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import MissingDependencyError, RadnbError, View3DBackendError  # noqa: F401 - re-exported
from .volume import as_labels, as_volume


def _available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _version(dist: str) -> Optional[str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def itkwidgets_problem(itkwidgets_version: Optional[str], ipywidgets_version: Optional[str]) -> Optional[str]:
    """Why itkwidgets cannot display here, in plain words, or None when it can.

    Examples
    --------
    >>> "ipywidgets 7" in itkwidgets_problem("0.32.6", "8.1.9")
    True
    >>> itkwidgets_problem("0.32.6", "7.7.1") is None
    True
    >>> "from the web" in itkwidgets_problem("1.0a55", "8.1.9")
    True
    """
    if itkwidgets_version is None:
        return None
    major = int(itkwidgets_version.split(".")[0])
    widgets_major = int((ipywidgets_version or "0").split(".")[0])
    if major == 0 and widgets_major >= 8:
        return (f"itkwidgets {itkwidgets_version} is built for ipywidgets 7 (it requires ipywidgets < 8), but this "
                f"environment has ipywidgets {ipywidgets_version} (JupyterLab 4 needs ipywidgets 8), so its viewer "
                "cannot be drawn here. Use radnb.view3d(..., backend='ipyniivue') (%pip install \"radnb[view3d]\"), "
                "or itkwidgets 0.32 in classic Notebook 6 with ipywidgets 7.7 (Colab's stack).")
    if major >= 1:
        return (f"itkwidgets {itkwidgets_version} downloads its viewer application from the web each time it is "
                "shown, so it stays blank offline or behind a hospital firewall. Use radnb.view3d(..., "
                "backend='ipyniivue') (%pip install \"radnb[view3d]\"), whose viewer is inside the package.")
    return None


def _nifti(array: np.ndarray, spacing: Sequence[float], path: Path) -> Path:
    """Write (Z, Y, X) data as NIfTI with voxel sizes (x, y, z) in mm."""
    import nibabel as nib

    affine = np.diag([float(spacing[2]), float(spacing[1]), float(spacing[0]), 1.0])
    nib.save(nib.Nifti1Image(np.ascontiguousarray(np.transpose(array, (2, 1, 0))), affine), str(path))
    return path


def view3d(volume: Any, labels: Any = None, *, backend: Optional[str] = None,
           spacing: Optional[Sequence[float]] = None, modality: Optional[str] = None):
    """Render a volume (and optional label map) in 3D with ipyniivue or itkwidgets.

    Parameters
    ----------
    volume
        Anything :func:`radnb.show` accepts that is 3D.
    labels
        Optional label map of the same shape, drawn as a coloured overlay.
    backend
        ``"ipyniivue"`` or ``"itkwidgets"``; default: the first one installed.
    spacing, modality
        As for :func:`radnb.show`.

    Returns
    -------
    The backend's widget.

    Raises
    ------
    MissingDependencyError
        When neither backend is installed (the message gives the pip command).

    Examples
    --------
    >>> import radnb, numpy as np
    >>> try:
    ...     w = radnb.view3d(np.zeros((16, 32, 32)))
    ... except radnb.MissingDependencyError as err:  # neither 3D backend is installed
    ...     print("pip install" in str(err))
    ... else:
    ...     print(type(w).__module__.split(".")[0] in ("ipyniivue", "itkwidgets"))
    True
    """
    vol = as_volume(volume, spacing=spacing, modality=modality, what="volume")
    if backend is None:
        backend = next((b for b in ("ipyniivue", "itkwidgets") if _available(b)), None)
    if backend is None or not _available(backend):
        raise MissingDependencyError("3D rendering (radnb.view3d)", backend or "ipyniivue", "ipyniivue  (or: %pip install \"radnb[view3d]\")")
    lab = as_labels(labels, vol.shape[:3], "labels") if labels is not None else None
    if backend == "itkwidgets":
        problem = itkwidgets_problem(_version("itkwidgets"), _version("ipywidgets"))
        if problem:
            raise View3DBackendError(problem)
        import itkwidgets

        kwargs = {"image": np.asarray(vol.array, dtype=np.float32)}
        if lab is not None:
            kwargs["label_image"] = lab
        return itkwidgets.view(**kwargs)
    if backend != "ipyniivue":
        raise MissingDependencyError("3D rendering (radnb.view3d)", backend)
    if not _available("nibabel"):
        raise MissingDependencyError("3D rendering with ipyniivue", "nibabel")
    import ipyniivue

    folder = Path(tempfile.mkdtemp(prefix="radnb-view3d-"))
    volumes = [{"path": str(_nifti(vol.array.astype(np.float32), vol.spacing, folder / "volume.nii.gz"))}]
    if lab is not None:
        volumes.append({"path": str(_nifti(lab, vol.spacing, folder / "labels.nii.gz")), "colormap": "red", "opacity": 0.5})
    widget = ipyniivue.NiiVue()
    widget.load_volumes(volumes)
    return widget
