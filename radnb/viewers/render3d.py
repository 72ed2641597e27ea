"""Optional 3D rendering (volume + label surfaces) through ipyniivue or itkwidgets.

Neither package is a radnb requirement: install the ``view3d`` extra
(``pip install "radnb[view3d]"``, which brings ipyniivue). Without one of them
:func:`view3d` raises :class:`~radnb.errors.MissingDependencyError` saying what to
install, never an ImportError from deep inside.

Examples
--------
>>> import numpy as np, radnb
>>> try:
...     radnb.view3d(np.zeros((8, 8, 8)))
... except radnb.MissingDependencyError as err:
...     "pip install" in str(err)
True
"""
from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import MissingDependencyError
from .volume import as_labels, as_volume


def _available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


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
    ... except radnb.MissingDependencyError:
    ...     pass
    """
    vol = as_volume(volume, spacing=spacing, modality=modality, what="volume")
    if backend is None:
        backend = next((b for b in ("ipyniivue", "itkwidgets") if _available(b)), None)
    if backend is None or not _available(backend):
        raise MissingDependencyError("3D rendering (radnb.view3d)", backend or "ipyniivue", "ipyniivue  (or: %pip install \"radnb[view3d]\")")
    lab = as_labels(labels, vol.shape[:3], "labels") if labels is not None else None
    if backend == "itkwidgets":
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
