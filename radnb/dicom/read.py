"""Reading single DICOM files into :class:`DicomImage` / :class:`DicomSeries`.

Files are recognised by content, not by name: the ``DICM`` marker at byte 128,
or (for old files without the preamble) a first element in group 0002 or 0008
that pydicom can parse. Pixel data are converted to physical units with the
modality LUT (RescaleSlope/Intercept), so CT comes out in Hounsfield units.
"""
from __future__ import annotations

import contextlib
import os
import re
import struct
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from ..errors import (
    CorruptDicomError,
    DicomError,
    DicomFileNotFoundError,
    NoPixelDataError,
    NotDicomError,
    UnsupportedTransferSyntaxError,
)
from .image import DicomImage, DicomSeries

PathLike = Union[str, Path]

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

# which pip package decodes which family of transfer syntaxes
_DECODER_HINTS = {
    "JPEG 2000": "pylibjpeg pylibjpeg-openjpeg",
    "JPEG-LS": "pylibjpeg pylibjpeg-libjpeg",
    "JPEG": "pylibjpeg pylibjpeg-libjpeg",
    "RLE": "pylibjpeg pylibjpeg-rle",
    "High-Throughput JPEG 2000": "pylibjpeg pylibjpeg-openjpeg",
}


def sniff_dicom(path: PathLike) -> bool:
    """True when the file's first bytes look like DICOM (does not read the whole file).

    Examples
    --------
    >>> import pydicom.data
    >>> sniff_dicom(pydicom.data.get_testdata_file("CT_small.dcm"))
    True
    >>> sniff_dicom(__file__)
    False
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    # no preamble: the first element must be a group 0002/0008 tag, little- or big-endian
    group_le = struct.unpack("<H", head[:2])[0]
    group_be = struct.unpack(">H", head[:2])[0]
    return group_le in (0x0002, 0x0008) or group_be in (0x0002, 0x0008)


def read_dataset(path: PathLike, *, stop_before_pixels: bool = False, defer_size: Optional[Union[int, str]] = None) -> Any:
    """Read a DICOM file with pydicom, turning failures into radnb errors.

    Parameters
    ----------
    path
        The file.
    stop_before_pixels
        Read only the header (fast; for grouping).
    defer_size
        Values larger than this (e.g. ``"2 KB"``) are read only when used: every
        element, pixel data and trailing padding included, is listed without loading it.

    Raises
    ------
    DicomFileNotFoundError, NotDicomError, CorruptDicomError

    Examples
    --------
    >>> import pydicom.data
    >>> read_dataset(pydicom.data.get_testdata_file("CT_small.dcm")).Modality
    'CT'
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.exists():
        raise DicomFileNotFoundError("no such file or folder — check the spelling and the current folder", path)
    if path.is_dir():
        raise DicomError("this is a folder; use radnb.load(folder) to read all the DICOM files in it", path)
    if not sniff_dicom(path) and not _parses_as_dicom(path):
        raise NotDicomError(
            "not a DICOM file (no 'DICM' marker and no DICOM header at the start). "
            "Check that this is the exported image file and not, e.g., a report or a ZIP archive",
            path,
        )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels, defer_size=defer_size)
    except InvalidDicomError as exc:
        raise NotDicomError(f"not a readable DICOM file ({exc})", path) from exc
    except (EOFError, struct.error, OverflowError, MemoryError) as exc:
        raise CorruptDicomError(f"the file is truncated or damaged ({type(exc).__name__}: {exc}); re-export it", path) from exc
    except Exception as exc:  # pydicom raises assorted types for malformed headers
        raise CorruptDicomError(f"the DICOM header could not be parsed ({type(exc).__name__}: {exc})", path) from exc
    truncated = [w for w in caught if "end of file" in str(w.message).lower()]
    if len(ds) == 0 or truncated:
        raise CorruptDicomError(
            "the file is truncated: it starts like DICOM but ends before its data are complete; copy or export it again",
            path,
        )
    _ensure_transfer_syntax(ds)
    return ds


def _parses_as_dicom(path: Path) -> bool:
    """For files without preamble: does pydicom find a plausible DICOM header?"""
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
            keywords = {elem.keyword for elem in ds}
    except Exception:
        return False
    return bool(keywords & {"SOPClassUID", "Modality", "Rows", "StudyInstanceUID", "PatientID"})


def _ensure_transfer_syntax(ds: Any) -> None:
    """Files without a TransferSyntaxUID in their meta: record how pydicom actually read them."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    try:
        implicit, little = ds.original_encoding
    except (AttributeError, TypeError, ValueError):
        return
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    if implicit:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _transfer_syntax(ds: Any) -> Tuple[str, str]:
    meta = getattr(ds, "file_meta", None)
    uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if uid is None:
        return "", "unknown"
    return str(uid), getattr(uid, "name", str(uid))


def _decoder_hint(ts_name: str) -> str:
    for family in ("High-Throughput JPEG 2000", "JPEG 2000", "JPEG-LS", "JPEG", "RLE"):
        if family.lower() in ts_name.lower():
            return _DECODER_HINTS[family]
    return ""


def _pixels(ds: Any, path: Optional[Path], h: Optional["_Header"] = None) -> np.ndarray:
    """Decoded stored values, with radnb errors for missing decoders or damaged data."""
    if not any(kw in ds for kw in _PIXEL_KEYWORDS):
        sop = getattr(ds, "SOPClassUID", None)
        kind = getattr(sop, "name", None) or "this kind of DICOM object"
        if "Image Storage" in kind or "Rows" in ds:
            raise CorruptDicomError(
                f"the header says this is an image ({kind}) but the file holds no pixel data: it was probably "
                "cut short while copying, or the pixels were stripped. Copy or export it again",
                path,
            )
        raise NoPixelDataError(
            f"the file holds no image ({kind}); it may be a report, a DICOMDIR index or a presentation state",
            path,
        )
    ts_uid, ts_name = _transfer_syntax(ds)
    fast = _native_pixels(ds, ts_uid, h)
    if fast is not None:
        return fast
    return decode_pixels(ds, path)


# Never turned into a radnb error: the user (or the interpreter) asked to stop.
_NEVER_CAUGHT = (KeyboardInterrupt, SystemExit, GeneratorExit)
_STDERR_LOCK = threading.RLock()  # re-entrant: a guarded SEG read decodes its reference series inside


@contextlib.contextmanager
def _captured_stderr() -> Iterator[List[str]]:
    """Send file descriptor 2 to a temporary file while a compiled decoder runs.

    A Rust decoder that panics prints its message and backtrace straight to fd 2,
    which Jupyter forwards into the notebook under the cell. The text is kept
    here: dropped when the decode failed (the radnb error says what happened),
    written back to stderr otherwise. Yields a list that receives the text.
    """
    out: List[str] = []
    with _STDERR_LOCK:
        try:
            saved = os.dup(2)
        except OSError:  # no stderr to protect (e.g. closed by a daemon)
            yield out
            return
        with tempfile.TemporaryFile() as sink:
            try:
                sys.stderr.flush()
            except Exception:
                pass
            os.dup2(sink.fileno(), 2)
            try:
                yield out
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                out.append(sink.read().decode("utf-8", "replace"))


def _panic_summary(exc: BaseException, captured: str) -> str:
    """One line for a decoder failure: the exception text, else the panic line from stderr."""
    text = " ".join(str(exc).split())
    if not text:
        for line in captured.splitlines():
            if "panicked" in line:
                text = line.strip()
                break
    return text[:300] or type(exc).__name__


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}


def _codestream_size(fragment: bytes) -> Optional[Tuple[int, int]]:
    """(columns, rows) that a JPEG / JPEG-LS / JPEG 2000 codestream declares, or None.

    Only the frame header is read (JPEG SOFn or JPEG-LS SOF55 marker, JPEG 2000 SIZ
    marker): enough to refuse a damaged stream that would make a decoder build a
    huge image, before it runs.
    """
    if fragment[:4] == b"\xff\x4f\xff\x51" and len(fragment) >= 16:  # J2K: SOC then SIZ
        xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", fragment[8:24]) if len(fragment) >= 24 else (0, 0, 0, 0)
        return (xsiz - xosiz, ysiz - yosiz) if xsiz > xosiz and ysiz > yosiz else None
    if fragment[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(fragment) and pos < 65536:
        if fragment[pos] != 0xFF:
            return None
        marker = fragment[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack(">H", fragment[pos + 2:pos + 4])[0]
        if marker in _JPEG_SOF and pos + 9 <= len(fragment):
            rows, cols = struct.unpack(">HH", fragment[pos + 5:pos + 9])
            return (cols, rows)
        pos += 2 + length
    return None


def _check_plausible_size(ds: Any, path: Optional[Path]) -> None:
    """Refuse, before decoding, pixel data that cannot fit in memory or contradicts the header.

    A damaged Rows/Columns/NumberOfFrames (or a damaged frame header inside the
    compressed data) can make a decoder allocate gigabytes or run for minutes.
    """
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(_first_number(getattr(ds, "NumberOfFrames", 1)) or 1)
        samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
        allocated = int(getattr(ds, "BitsAllocated", 8) or 8)
    except (AttributeError, TypeError, ValueError):
        return  # pydicom will say what is missing
    needed = rows * cols * max(frames, 1) * max(samples, 1) * max(allocated, 8) // 8
    try:
        import psutil

        available = psutil.virtual_memory().available
    except Exception:
        available = 8 << 30
    if needed > available:
        raise CorruptDicomError(
            f"the header says the pixels need {needed / 2**30:.1f} GiB ({frames} frame(s) of {rows}×{cols}, "
            f"{samples} sample(s), {allocated} bits) but only {available / 2**30:.1f} GiB of memory is free: "
            "the header is probably damaged. If the image really is that large, load it on a bigger machine",
            path,
        )
    meta = getattr(ds, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if syntax is None or not getattr(syntax, "is_compressed", False) or "PixelData" not in ds:
        return
    try:
        from pydicom.encaps import generate_fragmented_frames

        first_frame = next(generate_fragmented_frames(ds.PixelData, number_of_frames=frames), ())
        fragment = first_frame[0] if first_frame else b""
    except Exception:
        return  # the decoder reports damaged encapsulation itself
    size = _codestream_size(bytes(fragment[:65536]))
    if size is not None and size[0] * size[1] > 4 * rows * cols:
        raise CorruptDicomError(
            f"the compressed image inside the file declares {size[0]}×{size[1]} pixels but the header says "
            f"{cols}×{rows}: the file is damaged (radnb did not decode it, which could have needed a lot of memory). "
            "Copy or export it again",
            path,
        )


def decode_pixels(ds: Any, path: Optional[PathLike] = None) -> np.ndarray:
    """Decode a dataset's pixel data with pydicom: the one guarded place radnb does this.

    Every failure of a decoder becomes a radnb error naming the file, including
    ``BaseException`` subclasses raised by compiled plugins (a Rust decoder's
    ``pyo3_runtime.PanicException``); ``KeyboardInterrupt`` and ``SystemExit``
    pass through. The panic's backtrace, which Rust prints to stderr, does not
    reach the notebook. Pixel data that would not fit in free memory, or whose
    compressed frame header contradicts Rows/Columns, are refused before decoding.

    Parameters
    ----------
    ds
        A pydicom Dataset holding pixel data.
    path
        The file it came from, for messages.

    Raises
    ------
    UnsupportedTransferSyntaxError
        No installed decoder handles the compression (the message names the pip package).
    CorruptDicomError
        A decoder failed on the data.

    Examples
    --------
    >>> import pydicom, pydicom.data
    >>> ds = pydicom.dcmread(pydicom.data.get_testdata_file("MR_small_RLE.dcm"))
    >>> decode_pixels(ds).shape
    (64, 64)
    """
    path = Path(path) if path is not None else None
    ts_uid, ts_name = _transfer_syntax(ds)
    _check_plausible_size(ds, path)
    captured: List[str] = []
    try:
        with _captured_stderr() as captured:
            arr = ds.pixel_array
    except _NEVER_CAUGHT:
        raise
    except (NotImplementedError, RuntimeError) as exc:
        text = str(exc)
        if "exceptions were raised by all available plugins" in text:
            detail = " ".join(text.split(":", 1)[-1].split())
            raise CorruptDicomError(
                f"the image is compressed as '{ts_name}' ({ts_uid}) and the installed decoders failed on it "
                f"({detail[:300]}). The file is probably damaged: copy or export it again. If other programs "
                "open it, try another decoder:  %pip install python-gdcm",
                path,
            ) from exc
        if "plugin" in text.lower() or "decod" in text.lower() or isinstance(exc, NotImplementedError):
            hint = _decoder_hint(ts_name)
            todo = (
                f"install a decoder with:  %pip install {hint}   (then restart the kernel)"
                if hint
                else "radnb has no decoder for it; convert the file to an uncompressed transfer syntax (e.g. with dcmtk's dcmdjpeg)"
            )
            raise UnsupportedTransferSyntaxError(
                f"the image is compressed as '{ts_name}' ({ts_uid}) and no installed decoder can read it: {todo}",
                path,
            ) from exc
        raise CorruptDicomError(f"the pixel data could not be decoded ({' '.join(text.split())[:300]})", path) from exc
    except Exception as exc:
        text = " ".join(str(exc).split())
        missing = re.search(r"Missing required element: (\(\w{4},\w{4}\)) '([^']+)'", text)
        if missing:
            raise CorruptDicomError(
                f"the image header lacks {missing.group(2)} {missing.group(1)}, which is needed to decode the "
                "pixels: the file is incomplete (or its pixel module was stripped); export it again",
                path,
            ) from exc
        raise CorruptDicomError(
            f"the pixel data are damaged or do not match the header ({type(exc).__name__}: {text[:300]})", path
        ) from exc
    except BaseException as exc:  # a compiled decoder panicked (pyo3's PanicException derives from BaseException)
        raise CorruptDicomError(
            f"a compiled image decoder crashed on this file's pixel data ({type(exc).__name__}: "
            f"{_panic_summary(exc, ''.join(captured))}). The file is damaged: copy or export it again",
            path,
        ) from None
    leftover = "".join(captured)
    if leftover:  # a decoder that succeeded but printed something: let it be seen
        try:
            os.write(2, leftover.encode("utf-8", "replace"))
        except OSError:
            pass
    return arr


_HEADER_KEYWORDS = (
    "PhotometricInterpretation", "SamplesPerPixel", "NumberOfFrames", "Modality", "RescaleSlope",
    "RescaleIntercept", "RescaleType", "ModalityLUTSequence", "WindowCenter", "WindowWidth", "PixelSpacing",
    "ImagerPixelSpacing", "NominalScannedPixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
    "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence", "SpacingBetweenSlices",
    "SliceThickness", "Rows", "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation",
)
_HEADER_TAGS: Dict[int, str] = {}


class _Header(dict):
    """The attributes the reader needs, looked up once (pydicom's per-attribute access is slow)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.get(name)


def _header(ds: Any) -> _Header:
    if not _HEADER_TAGS:
        from pydicom.datadict import tag_for_keyword

        _HEADER_TAGS.update({tag_for_keyword(k): k for k in _HEADER_KEYWORDS})
    header = _Header()
    for tag in ds.keys() & _HEADER_TAGS.keys():
        header[_HEADER_TAGS[tag]] = ds[tag].value
    return header


_NATIVE_LITTLE_ENDIAN = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


def _native_pixels(ds: Any, ts_uid: str, h: Optional[_Header] = None) -> Optional[np.ndarray]:
    """Fast path for the most common case: one uncompressed little-endian grey-scale frame.

    Reading the buffer directly skips the general decoder machinery (several times
    faster per file); anything unusual returns None and goes through pydicom.
    """
    if ts_uid not in _NATIVE_LITTLE_ENDIAN or "PixelData" not in ds:
        return None
    h = h if h is not None else _header(ds)
    try:
        rows, cols = int(h.Rows), int(h.Columns)
        allocated, stored_bits = int(h.BitsAllocated), int(h.BitsStored)
        signed = int(h.PixelRepresentation) == 1
        if int(h.SamplesPerPixel or 1) != 1 or int(h.NumberOfFrames or 1) != 1:
            return None
    except (AttributeError, TypeError, ValueError):
        return None
    if allocated not in (8, 16) or not 0 < stored_bits <= allocated or (signed and stored_bits != allocated):
        return None
    data = ds.PixelData
    if not isinstance(data, (bytes, bytearray)) or len(data) < rows * cols * allocated // 8:
        return None
    dtype = {(8, False): "<u1", (16, False): "<u2", (8, True): "<i1", (16, True): "<i2"}[(allocated, signed)]
    arr = np.frombuffer(data, dtype=dtype, count=rows * cols).reshape(rows, cols)
    if stored_bits < allocated:  # unused high bits may hold overlay data: mask them (PS3.5 8.1.1)
        arr = arr & np.array((1 << stored_bits) - 1, dtype=arr.dtype)
    return arr


def _rescale(ds: Any, stored: np.ndarray, dataset: Any = None, notes: Optional[List[str]] = None) -> np.ndarray:
    """Stored values -> physical units (float32), per PS3.3 C.11.1 (modality LUT).

    ``ds`` may be the header snapshot; ``dataset`` is the full pydicom Dataset (for LUTs).
    A Modality LUT Sequence that cannot be applied (a damaged optional module) falls
    back to RescaleSlope/Intercept, or to the stored values, with a note in ``notes``.
    """
    from pydicom.pixels import apply_modality_lut

    dataset = ds if dataset is None else dataset

    slope = getattr(ds, "RescaleSlope", None)
    intercept = getattr(ds, "RescaleIntercept", None)
    if slope is None and intercept is None and "ModalityLUTSequence" not in ds:
        # enhanced multi-frame objects keep the rescale in the functional groups
        shared = getattr(ds, "SharedFunctionalGroupsSequence", None)
        try:
            pvt = shared[0].PixelValueTransformationSequence[0]
            slope, intercept = float(pvt.RescaleSlope), float(pvt.RescaleIntercept)
        except (AttributeError, IndexError, TypeError, KeyError, ValueError):
            return stored.astype(np.float32, copy=False)
        out = stored.astype(np.float32)
        if slope != 1.0:
            out *= np.float32(slope)
        if intercept:
            out += np.float32(intercept)
        return out
    if "ModalityLUTSequence" in ds:
        try:
            return np.asarray(apply_modality_lut(stored, dataset), dtype=np.float32)
        except _NEVER_CAUGHT:
            raise
        except Exception as exc:
            fallback = "Rescale Slope/Intercept" if (slope is not None or intercept is not None) else "the stored values"
            message = (
                f"the Modality LUT in this file is damaged ({type(exc).__name__}: {' '.join(str(exc).split())[:160]}); "
                f"values were converted with {fallback} instead, so they may not be in the intended units"
            )
            if notes is not None:
                notes.append(message)
            warnings.warn(message, stacklevel=3)
    # the common case, done in float32 (apply_modality_lut works in float64)
    out = stored.astype(np.float32)
    s = _first_number(slope)
    b = _first_number(intercept)
    s = 1.0 if s is None or not np.isfinite(s) else s
    b = 0.0 if b is None or not np.isfinite(b) else b
    if s != 1.0:
        out *= np.float32(s)
    if b != 0.0:
        out += np.float32(b)
    return out


def _first_number(value: Any) -> Optional[float]:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            value = value[0]
        return float(value)
    except (TypeError, ValueError, IndexError):
        return None


def header_window(ds: Any) -> Optional[Tuple[float, float]]:
    """(centre, width) from WindowCenter/WindowWidth, or None when absent or unusable.

    Examples
    --------
    >>> import pydicom.data
    >>> header_window(read_dataset(pydicom.data.get_testdata_file("CT_small.dcm"))) is None
    True
    """
    c = _first_number(getattr(ds, "WindowCenter", None))
    w = _first_number(getattr(ds, "WindowWidth", None))
    if c is None or w is None:
        try:
            voi = ds.SharedFunctionalGroupsSequence[0].FrameVOILUTSequence[0]
            c, w = _first_number(voi.WindowCenter), _first_number(voi.WindowWidth)
        except (AttributeError, IndexError, TypeError, KeyError):
            return None
    if c is None or w is None or not np.isfinite(c) or not np.isfinite(w) or w < 1:
        return None
    return (c, w)


def pixel_spacing(ds: Any) -> Tuple[Tuple[float, float], bool]:
    """((row mm, column mm), known) from PixelSpacing / ImagerPixelSpacing / functional groups.

    Examples
    --------
    >>> import pydicom.data
    >>> pixel_spacing(read_dataset(pydicom.data.get_testdata_file("CT_small.dcm")))
    ((0.661468, 0.661468), True)
    """
    for kw in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        value = getattr(ds, kw, None)
        if value is not None and len(value) == 2:
            try:
                r, c = float(value[0]), float(value[1])
                if r > 0 and c > 0:
                    return (r, c), True
            except (TypeError, ValueError):
                pass
    try:
        value = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
        return (float(value[0]), float(value[1])), True
    except (AttributeError, IndexError, TypeError, KeyError, ValueError):
        pass
    return (1.0, 1.0), False


def _vector(ds: Any, keyword: str, n: int) -> Optional[np.ndarray]:
    value = getattr(ds, keyword, None)
    if value is None:
        return None
    try:
        arr = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == (n,) and np.all(np.isfinite(arr)) else None


def units_of(ds: Any) -> str:
    """"HU" for CT; otherwise the RescaleType when the file names one; else "raw"."""
    modality = str(getattr(ds, "Modality", "")).upper()
    if modality == "CT":
        return "HU"
    rtype = str(getattr(ds, "RescaleType", "") or "").strip()
    if rtype and rtype.upper() != "US":  # US = unspecified
        return rtype
    return "raw"


def _to_uint8_rgb(arr: np.ndarray, ds: Any) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    bits = int(getattr(ds, "BitsStored", 16) or 16)
    arr = arr.astype(np.float32) * (255.0 / max(1, (1 << bits) - 1))
    return np.clip(arr, 0, 255).astype(np.uint8)


def _colour(ds: Any, stored: np.ndarray, path: Optional[Path]) -> np.ndarray:
    photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        try:
            rgb = apply_color_lut(stored, ds)
        except Exception as exc:
            raise CorruptDicomError(f"the palette colour table could not be applied ({exc})", path) from exc
        return _to_uint8_rgb(np.asarray(rgb), ds)
    return _to_uint8_rgb(stored, ds)


def image_from_dataset(ds: Any, path: Optional[PathLike] = None) -> Union[DicomImage, DicomSeries]:
    """Turn a pydicom Dataset with pixel data into a radnb image or (multi-frame) series.

    Parameters
    ----------
    ds
        A pydicom Dataset (its pixel data are decoded, then dropped from it).
    path
        Where it came from, for messages.

    Examples
    --------
    >>> import pydicom, pydicom.data
    >>> ds = pydicom.dcmread(pydicom.data.get_testdata_file("MR_small.dcm"))
    >>> image_from_dataset(ds).array.dtype
    dtype('float32')
    """
    path = Path(path) if path is not None else None
    h = _header(ds)
    stored = _pixels(ds, path, h)
    notes: List[str] = []
    photometric = str(h.PhotometricInterpretation or "MONOCHROME2").upper().strip() or "MONOCHROME2"
    samples = int(h.SamplesPerPixel or 1)
    frames = int(_first_number(h.NumberOfFrames) or 1)
    modality = str(h.Modality or "")
    is_colour = samples > 1 or photometric == "PALETTE COLOR"

    if is_colour:
        values = _colour(ds, stored, path)
        units = "raw"
        window_ = None
    else:
        values = _rescale(h, stored, ds, notes)
        units = units_of(h)
        window_ = header_window(h)

    (row_mm, col_mm), spacing_known = pixel_spacing(h)
    for kw in _PIXEL_KEYWORDS:
        if kw in ds:
            del ds[kw]
    common = dict(
        modality=modality,
        photometric=photometric,
        invert=photometric == "MONOCHROME1",
        default_window=window_,
        units=units,
        spacing_known=spacing_known,
    )
    if frames > 1 and values.ndim == (4 if is_colour else 3):
        slice_mm, positions, orientation = _multiframe_geometry(h)
        known = spacing_known and slice_mm is not None
        common["spacing_known"] = known
        return DicomSeries(
            array=values,
            spacing=(slice_mm or 1.0, row_mm, col_mm),
            positions=positions,
            orientation=orientation,
            datasets=[ds],
            paths=[path] if path else [],
            warnings=notes,
            **common,
        )
    if values.ndim == 3 and not is_colour:  # pydicom returned frames for a single-frame header
        values = values[0]
    return DicomImage(
        array=values,
        spacing=(row_mm, col_mm),
        meta=ds,
        path=path,
        position=_vector(h, "ImagePositionPatient", 3),
        orientation=_vector(h, "ImageOrientationPatient", 6),
        warnings=notes,
        **common,
    )


def _multiframe_geometry(ds: Any):
    """Slice spacing, per-frame positions and orientation of a multi-frame file."""
    positions = orientation = None
    per_frame = getattr(ds, "PerFrameFunctionalGroupsSequence", None)
    if per_frame:
        try:
            positions = np.array(
                [[float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient] for item in per_frame]
            )
        except (AttributeError, IndexError, TypeError, ValueError):
            positions = None
    try:
        orientation = np.array(
            [float(v) for v in ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient]
        )
    except (AttributeError, IndexError, TypeError, ValueError):
        orientation = _vector(ds, "ImageOrientationPatient", 6)
    slice_mm = None
    if positions is not None and len(positions) > 1 and orientation is not None:
        normal = np.cross(orientation[:3], orientation[3:])
        d = np.diff(positions @ normal)
        if np.all(np.abs(d) > 1e-6):
            slice_mm = float(np.median(np.abs(d)))
    if slice_mm is None:
        for kw in ("SpacingBetweenSlices", "SliceThickness"):
            v = _first_number(getattr(ds, kw, None))
            if v and v > 0:
                slice_mm = v
                break
    if slice_mm is None:
        try:
            v = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
            slice_mm = _first_number(getattr(v, "SpacingBetweenSlices", None)) or _first_number(v.SliceThickness)
        except (AttributeError, IndexError, TypeError):
            pass
    return slice_mm, positions, orientation


def read_file(path: PathLike) -> Union[DicomImage, DicomSeries]:
    """Read one DICOM file into a :class:`DicomImage` (or a :class:`DicomSeries` for multi-frame).

    Examples
    --------
    >>> import pydicom.data
    >>> read_file(pydicom.data.get_testdata_file("CT_small.dcm")).modality
    'CT'
    """
    ds = read_dataset(path)
    if str(getattr(ds, "Modality", "")).upper() == "SEG":  # a label map, not a picture: say how to load it
        from .seg import is_segmentation, not_an_image_error

        if is_segmentation(ds):
            raise not_an_image_error(ds, path)
    try:
        return image_from_dataset(ds, path)
    except DicomError:
        raise
    except Exception as exc:  # pydicom converts values lazily: a malformed element surfaces here
        raise CorruptDicomError(
            f"the DICOM header holds a malformed value ({type(exc).__name__}: {exc}); the file is damaged", path
        ) from exc
