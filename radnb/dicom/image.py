"""Plain objects for what radnb reads: one 2D image, one 3D series, a collection.

They hold numpy arrays in physical units (Hounsfield units for CT), geometry in
millimetres and the pydicom datasets (without pixel data). Their ``repr`` shows
no patient-identifying information.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import RadnbError


@dataclass
class LoadError:
    """A file that could not be loaded, and why.

    Examples
    --------
    >>> from radnb.errors import NotDicomError
    >>> e = LoadError("notes.txt", NotDicomError("not a DICOM file", "notes.txt"))
    >>> e.reason
    'not a DICOM file'
    """

    path: Path
    error: RadnbError

    def __post_init__(self):
        self.path = Path(self.path)

    @property
    def reason(self) -> str:
        return getattr(self.error, "reason", str(self.error))

    def __str__(self) -> str:
        return f"{self.path}: {type(self.error).__name__}: {self.reason}"


def _describe_errors(errors: Sequence[LoadError]) -> str:
    if not errors:
        return ""
    return f", {len(errors)} file(s) failed — see .errors"


@dataclass(repr=False)
class DicomImage:
    """One 2D image in physical units.

    Attributes
    ----------
    array
        float32 (rows, columns) in physical units (HU for CT, raw values
        otherwise), or uint8 (rows, columns, 3) for colour images.
    spacing
        (row spacing, column spacing) in mm; (1.0, 1.0) when the file has none
        (then ``spacing_known`` is False).
    modality, photometric
        The DICOM Modality and PhotometricInterpretation.
    invert
        True for MONOCHROME1 images, whose lowest values are displayed white;
        :func:`radnb.window` and the viewers invert them for you.
    default_window
        (centre, width) from the header, or None.
    units
        "HU" for CT, the RescaleType if the file names one, else "raw".
    meta
        The pydicom Dataset, without its pixel data.
    path
        Where it was read from (None for an in-memory dataset).
    position, orientation
        ImagePositionPatient (x, y, z) and ImageOrientationPatient (6 values), if present.
    warnings
        Plain-language notes on what radnb had to work around (e.g. a damaged
        Modality LUT replaced by Rescale Slope/Intercept).

    Examples
    --------
    >>> import radnb, pydicom.data
    >>> img = radnb.load(pydicom.data.get_testdata_file("CT_small.dcm"))
    >>> img.array.shape, img.units
    ((128, 128), 'HU')
    """

    array: np.ndarray
    spacing: Tuple[float, float] = (1.0, 1.0)
    modality: str = ""
    photometric: str = "MONOCHROME2"
    invert: bool = False
    default_window: Optional[Tuple[float, float]] = None
    units: str = "raw"
    meta: Any = None
    path: Optional[Path] = None
    position: Optional[np.ndarray] = None
    orientation: Optional[np.ndarray] = None
    spacing_known: bool = True
    errors: List[LoadError] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    ndim = 2

    @property
    def is_color(self) -> bool:
        """True for RGB images (array shape (rows, columns, 3))."""
        return self.array.ndim == 3

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.array.shape

    @property
    def series_uid(self) -> Optional[str]:
        return getattr(self.meta, "SeriesInstanceUID", None)

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)

    def __repr__(self) -> str:
        h, w = self.array.shape[:2]
        colour = " colour" if self.is_color else ""
        sp = f"{self.spacing[0]:.3g}×{self.spacing[1]:.3g} mm" if self.spacing_known else "spacing unknown"
        name = self.path.name if self.path else "in memory"
        warn = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        return (
            f"<DicomImage {self.modality or '?'}{colour} {h}×{w}, {sp}, {self.units}, "
            f"{self.photometric}, {name}{warn}{_describe_errors(self.errors)}>"
        )


@dataclass(repr=False)
class DicomSeries:
    """A 3D stack of slices (or frames) in physical units, sorted along the slice axis.

    Attributes
    ----------
    array
        float32 (slices, rows, columns) in physical units (HU for CT); uint8
        (frames, rows, columns, 3) for colour cine loops.
    spacing
        (slice spacing, row spacing, column spacing) in mm.
    positions
        (slices, 3) ImagePositionPatient per slice, or None.
    orientation
        ImageOrientationPatient (6 values) or None.
    datasets
        One pydicom Dataset per slice (pixel data removed); one for multi-frame files.
    paths
        The files, in slice order.
    warnings
        Plain-language notes on the geometry (gaps, uneven spacing, missing positions).
    errors
        Files that were meant for this load but failed (see :class:`LoadError`).

    Examples
    --------
    >>> import radnb, pydicom.data
    >>> s = radnb.load(pydicom.data.get_testdata_file("emri_small.dcm"))
    >>> len(s), s.array.shape
    (10, (10, 64, 64))
    """

    array: np.ndarray
    spacing: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    positions: Optional[np.ndarray] = None
    orientation: Optional[np.ndarray] = None
    datasets: List[Any] = field(default_factory=list)
    paths: List[Path] = field(default_factory=list)
    modality: str = ""
    photometric: str = "MONOCHROME2"
    invert: bool = False
    default_window: Optional[Tuple[float, float]] = None
    units: str = "raw"
    spacing_known: bool = True
    warnings: List[str] = field(default_factory=list)
    errors: List[LoadError] = field(default_factory=list)

    ndim = 3

    @property
    def meta(self) -> Any:
        """The first slice's dataset."""
        return self.datasets[0] if self.datasets else None

    @property
    def series_uid(self) -> Optional[str]:
        return getattr(self.meta, "SeriesInstanceUID", None)

    @property
    def is_color(self) -> bool:
        return self.array.ndim == 4

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.array.shape

    @property
    def path(self) -> Optional[Path]:
        """The folder of the series (or the file, for a multi-frame file)."""
        if not self.paths:
            return None
        return self.paths[0] if len(set(self.paths)) == 1 else self.paths[0].parent

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def __iter__(self) -> Iterator[DicomImage]:
        for k in range(len(self)):
            yield self[k]

    def __getitem__(self, k: int) -> DicomImage:
        """Slice ``k`` as a :class:`DicomImage` (sharing memory with the series)."""
        n = len(self)
        if not -n <= k < n:
            raise IndexError(f"slice {k} is out of range: this series has {n} slices (0 to {n - 1})")
        k = k % n
        meta = self.datasets[k] if len(self.datasets) == n else self.meta
        path = self.paths[k] if len(self.paths) == n else (self.paths[0] if self.paths else None)
        return DicomImage(
            array=self.array[k],
            spacing=(self.spacing[1], self.spacing[2]),
            modality=self.modality,
            photometric=self.photometric,
            invert=self.invert,
            default_window=self.default_window,
            units=self.units,
            meta=meta,
            path=path,
            position=None if self.positions is None else self.positions[k],
            orientation=self.orientation,
            spacing_known=self.spacing_known,
        )

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)

    def __repr__(self) -> str:
        shape = "×".join(str(s) for s in self.array.shape[:3])
        sp = "×".join(f"{s:.3g}" for s in self.spacing) + " mm" if self.spacing_known else "spacing unknown"
        desc = getattr(self.meta, "SeriesDescription", "") if self.meta is not None else ""
        desc = f" '{desc}'" if desc else ""
        warn = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        return (
            f"<DicomSeries {self.modality or '?'}{desc} {shape} (slices×rows×cols), {sp}, {self.units}"
            f"{warn}{_describe_errors(self.errors)}>"
        )


class SeriesCollection(list):
    """Several images/series loaded from one folder or list, plus the files that failed.

    It is a plain ``list`` of :class:`DicomImage` and :class:`DicomSeries`,
    with ``.errors`` (a list of :class:`LoadError`) and ``.skipped`` (files that
    are clearly not DICOM, e.g. ``labels.csv``, left alone).

    Examples
    --------
    >>> c = SeriesCollection([], errors=[])
    >>> len(c), c.errors
    (0, [])
    """

    def __init__(self, items=(), errors: Optional[List[LoadError]] = None, skipped: Optional[List[Path]] = None):
        super().__init__(items)
        self.errors: List[LoadError] = list(errors or [])
        self.skipped: List[Path] = list(skipped or [])

    def series(self) -> List[DicomSeries]:
        """Only the 3D series."""
        return [x for x in self if isinstance(x, DicomSeries)]

    def images(self) -> List[DicomImage]:
        """Only the single 2D images."""
        return [x for x in self if isinstance(x, DicomImage)]

    def __repr__(self) -> str:
        lines = [f"<SeriesCollection: {len(self)} item(s){_describe_errors(self.errors)}>"]
        lines += [f"  [{k}] {item!r}" for k, item in enumerate(self)]
        return "\n".join(lines)
