"""The radnb exception hierarchy.

Every error radnb raises on purpose derives from :class:`RadnbError`, so a
notebook can catch them all with one ``except radnb.RadnbError``. Messages are
written for a clinician new to code: they name the file (when there is one),
say what is wrong in plain words, and say what to do next.

Examples
--------
>>> import radnb
>>> try:
...     radnb.load("README.md")
... except radnb.RadnbError as err:
...     print(type(err).__name__)
NotDicomError
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, Path]


class RadnbError(Exception):
    """Base class of every error radnb raises on purpose."""


class InvalidArgumentError(RadnbError, ValueError):
    """An argument has a value radnb cannot use (e.g. a negative window width)."""


class MissingDependencyError(RadnbError, ImportError):
    """An optional package is needed for this feature and is not installed.

    The message carries the exact ``pip install`` line to run.
    """

    def __init__(self, feature: str, package: str, pip_name: Optional[str] = None):
        self.feature = feature
        self.package = package
        self.pip_name = pip_name or package
        super().__init__(
            f"{feature} needs the optional package '{package}', which is not installed. "
            f"Install it with:  %pip install {self.pip_name}   (then restart the kernel)."
        )


class DicomError(RadnbError):
    """A problem with one DICOM file or series. ``.path`` names the file."""

    def __init__(self, message: str, path: Optional[PathLike] = None):
        self.path = Path(path) if path is not None else None
        self.reason = message
        prefix = f"{self.path}: " if self.path is not None else ""
        super().__init__(prefix + message)


class DicomFileNotFoundError(DicomError, FileNotFoundError):
    """The path does not exist."""


class NotDicomError(DicomError):
    """The file is not a DICOM file (no 'DICM' preamble and no readable DICOM header)."""


class NoPixelDataError(DicomError):
    """The file is DICOM but holds no image (e.g. a structured report or presentation state)."""


class UnsupportedTransferSyntaxError(DicomError):
    """The image is compressed in a way no installed decoder can read."""


class CorruptDicomError(DicomError):
    """The file looks like DICOM but is truncated or internally inconsistent."""


class InconsistentSeriesError(DicomError):
    """Files that should form one series do not fit together (size, orientation, modality)."""
