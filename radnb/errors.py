"""The radnb exception hierarchy.

Every error radnb raises on purpose derives from :class:`RadnbError`, so a
notebook can catch them all with one ``except radnb.RadnbError``. Messages are
written for a clinician new to code: they name the file (when there is one),
say what is wrong in plain words, and say what to do next.

All of radnb's exception and warning classes are defined here (each module that
raises one also re-exports it, so ``radnb.data.fetch.DownloadError`` is
``radnb.errors.DownloadError``). Warnings derive from :class:`RadnbWarning`.
Importing this module imports nothing but the standard library.

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


# ------------------------------------------------------------------ masks and DICOM SEG
class SegmentationObjectError(DicomError):
    """A DICOM SEG was given where an image was expected; the message says how to load it as a mask."""


class MaskError(RadnbError):
    """A mask that radnb cannot turn into classes. ``.path`` names the file (when there is one)."""

    def __init__(self, message: str, path: Optional[PathLike] = None):
        self.path = Path(path) if path is not None else None
        self.reason = message
        super().__init__((f"{self.path}: " if self.path is not None else "") + message)


class MaskValueError(MaskError, ValueError):
    """The mask's values do not look like a few classes (too many, fractional, anti-aliased)."""


class MaskGeometryError(MaskError):
    """The mask does not lie on the image's grid (size, spacing, position, orientation, frame of reference)."""


class MaskOverlapError(MaskError):
    """Segments overlap, so one label per voxel cannot hold them; the message says how to choose."""


# ------------------------------------------------------------------ downloads and the data folder
class DownloadError(RadnbError):
    """A file could not be downloaded (HTTP error, broken connection, stalled server).

    ``.url`` is the address tried and ``.dest`` the cache path where radnb would
    have put (and will accept) the file.
    """

    def __init__(self, message: str, url: Optional[str] = None, dest: Optional[PathLike] = None):
        self.url = url
        self.dest = Path(dest) if dest is not None else None
        super().__init__(message)


class ChecksumError(DownloadError):
    """The downloaded (or manually placed) file does not match its pinned checksum; it was discarded."""


class OfflineError(DownloadError):
    """No network, or the server did not answer in time. The message says how to proceed offline."""


class UnsafeArchiveError(RadnbError):
    """An archive tried to write outside its target folder, holds links/devices, or is too large."""

    def __init__(self, message: str, archive: Optional[PathLike] = None, member: Optional[str] = None):
        self.archive = Path(archive) if archive is not None else None
        self.member = member
        prefix = f"{self.archive}: " if self.archive is not None else ""
        super().__init__(prefix + message)


class LockTimeoutError(RadnbError, TimeoutError):
    """Another process held a file lock (a download, a sample set being generated) for too long.

    ``.lock_path`` names the lock file; the message says when it is safe to delete it.
    """

    def __init__(self, message: str, lock_path: Optional[PathLike] = None):
        self.lock_path = Path(lock_path) if lock_path is not None else None
        super().__init__(message)


# ------------------------------------------------------------------ training
class TrainingDataError(RadnbError):
    """A training item could not be read or prepared; the message names the file."""


class PretrainedWeightsError(RadnbError):
    """Pretrained weights could not be found or do not fit the model; the message says what to do."""


class ModelFileError(RadnbError):
    """A saved model file cannot be used (wrong format, damaged, newer radnb)."""


class DistributedSetupError(RadnbError):
    """Distributed training cannot start as set up; the message says what to change."""


# ------------------------------------------------------------------ viewers and the Jupyter server
class View3DBackendError(RadnbError):
    """The requested 3D backend is installed but cannot display in this environment."""


class ModuleBundleError(RadnbError):
    """The viewer's ES modules cannot be joined (unsupported syntax, a missing export, a cycle)."""


class PathOutsideRootError(RadnbError, PermissionError):
    """A requested path is not inside the Jupyter server's root directory."""


# ------------------------------------------------------------------ grading
class NotebookError(RadnbError):
    """A notebook file cannot be read or breaks radnb's/nbgrader's conventions. ``.path`` names it."""

    def __init__(self, message: str, path: Optional[PathLike] = None):
        self.path = Path(path) if path is not None else None
        super().__init__((f"{self.path}: " if self.path else "") + message)


class UnknownCheckError(RadnbError, KeyError):
    """No check is registered under this grade id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown check"


class NotDone(RadnbError):
    """Raised by a check when the student has not attempted the exercise yet."""

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message


class Incorrect(RadnbError):
    """Raised by a check with a teaching message when the answer is wrong.

    Parameters
    ----------
    message
        What is wrong and how to fix it, in plain words
        (``"Your window width is in HU but the image is raw values: apply the rescale first."``).
    score
        Fraction of the points still earned (partial credit), 0 to 1.
    """

    def __init__(self, message: str, score: float = 0.0):
        super().__init__(message)
        self.message = message
        self.score = min(max(float(score), 0.0), 1.0)


class CheckTimeout(BaseException):
    """The student's code ran past the check's time limit (BaseException so that a
    student's ``except Exception`` cannot swallow it)."""


# ------------------------------------------------------------------ warnings
class RadnbWarning(UserWarning):
    """Base class of the warnings radnb gives on purpose (``warnings.simplefilter("ignore", RadnbWarning)``)."""


class TrainingWarning(RadnbWarning):
    """A training run went wrong in a way its numbers do not show at a glance (collapse, divergence)."""
