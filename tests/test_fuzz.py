"""Bounded mutation fuzzing of real DICOM (pydicom's test files and pydicom-data).

Every mutant (bit flips, random byte runs, truncation, oversized length fields, in
the header more often than in the pixels) must give pixels or a RadnbError that names
the file, within a few seconds, never another exception: for radnb.load of a file,
of a folder, for radnb.deidentify and radnb.phi_report.

The suite runs a few hundred mutants; ``make fuzz`` runs many more
(RADNB_FUZZ_MUTANTS, RADNB_FUZZ_SEED choose how many and which).
"""
from __future__ import annotations

import os
import random
import struct
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import radnb
from radnb.errors import RadnbError

from test_dicom_read import CORPUS

MUTANTS = int(os.environ.get("RADNB_FUZZ_MUTANTS", "300"))
SEED = int(os.environ.get("RADNB_FUZZ_SEED", "20261201"))
MAX_SECONDS_PER_FILE = float(os.environ.get("RADNB_FUZZ_MAX_SECONDS", "5"))
# small real files keep the run short; big ones add decode time, not new code paths
SOURCES = [p for p in CORPUS if os.path.getsize(p) <= 600_000 and not p.endswith((".gz", ".bz2", ".json"))]


def _compressed(path: str) -> bool:
    """Encapsulated (compressed) pixel data: its bytes go to the compiled decoders."""
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        return bool(ds.file_meta.TransferSyntaxUID.is_compressed)
    except Exception:
        return False


COMPRESSED = [p for p in SOURCES if _compressed(p)]


def mutate_pixels(data: bytes, rng: random.Random) -> bytes:
    """One mutant of a compressed file: a few bytes changed inside the compressed data the decoders read."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        buf[rng.randrange(len(buf) // 10, len(buf))] = rng.randrange(256)
    return bytes(buf)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One mutant of a file: a few edits of the kinds that break parsers."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buf:
            break
        header_end = min(len(buf), 4096)  # most decisions are taken in the header
        where = rng.randrange(header_end) if rng.random() < 0.7 else rng.randrange(len(buf))
        kind = rng.choice(("bitflip", "run", "truncate", "length", "length", "zero"))
        if kind == "bitflip":
            buf[where] ^= 1 << rng.randrange(8)
        elif kind == "run":
            n = rng.randint(1, 32)
            buf[where:where + n] = bytes(rng.randrange(256) for _ in range(n))
        elif kind == "zero":
            n = rng.randint(1, 64)
            buf[where:where + n] = bytes(n)
        elif kind == "truncate":
            del buf[max(132, where):]
        else:  # an oversized length field: 16-bit (explicit VR short) or 32-bit
            if rng.random() < 0.5:
                buf[where:where + 2] = struct.pack("<H", rng.choice((0xFFFF, 0xFFFE, 0x7FFF)))
            else:
                buf[where:where + 4] = struct.pack("<I", rng.choice((0xFFFFFFF0, 0x7FFFFFFF, 0x00FFFFFF, 0xFFFFFFFF)))
    return bytes(buf)


@pytest.fixture(scope="module")
def mutants(tmp_path_factory):
    assert len(SOURCES) > 100 and len(COMPRESSED) > 30, "the fuzz corpus is pydicom's test files plus pydicom-data"
    rng = random.Random(SEED)
    folder = tmp_path_factory.mktemp("mutants")
    originals = {p: Path(p).read_bytes() for p in SOURCES}
    paths = []
    for k in range(MUTANTS):
        if k % 4 == 3:  # one in four: damaged compressed data, where compiled decoders can panic
            source = COMPRESSED[(k // 4) % len(COMPRESSED)]
            data = mutate_pixels(originals[source], rng)
        else:
            source = SOURCES[k % len(SOURCES)]
            data = mutate(originals[source], rng)
        path = folder / f"mutant_{k:05d}_{Path(source).name}"
        path.write_bytes(data)
        paths.append(path)
    return folder, paths


def _check_error(exc: RadnbError, path: Path) -> None:
    assert path.name in str(exc), f"error does not name the file: {exc!r}"
    assert len(getattr(exc, "reason", str(exc))) > 15, f"error does not say what is wrong: {exc!r}"


@pytest.mark.timeout(600)
def test_every_mutant_loads_or_raises_a_radnb_error_naming_it(mutants):
    _, paths = mutants
    escaped, slow, outcomes = [], [], {"pixels": 0, "radnb error": 0, "decoder crashed": 0}
    for path in paths:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                obj = radnb.load(path)
            except RadnbError as exc:
                _check_error(exc, path)
                outcomes["radnb error"] += 1
                outcomes["decoder crashed"] += "decoder crashed" in str(exc)
            except BaseException as exc:  # noqa: B902 - that is the point: nothing else may escape
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                escaped.append(f"{path.name}: {type(exc).__module__}.{type(exc).__name__}: {str(exc)[:120]}")
            else:
                assert isinstance(obj, (radnb.DicomImage, radnb.DicomSeries)), type(obj)
                assert isinstance(obj.array, np.ndarray)
                outcomes["pixels"] += 1
        elapsed = time.perf_counter() - start
        if elapsed > MAX_SECONDS_PER_FILE:
            slow.append(f"{path.name}: {elapsed:.1f} s")
    assert not escaped, f"{len(escaped)} of {len(paths)} mutants (seed {SEED}) raised a non-radnb exception:\n" + "\n".join(escaped[:20])
    assert not slow, "mutants that took too long:\n" + "\n".join(slow)
    assert outcomes["pixels"] > 0 and outcomes["radnb error"] > 0, outcomes  # the mutations do both
    print(f"fuzz outcomes (seed {SEED}, {len(paths)} mutants): {outcomes}")


@pytest.mark.timeout(600)
def test_folder_of_mutants_loads_what_it_can_and_lists_the_rest(mutants):
    folder, paths = mutants
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = radnb.load(folder)
    errors = loaded.errors
    assert errors and all(isinstance(e.error, RadnbError) for e in errors)
    for e in errors:
        assert e.path.name in str(e.error) or "series" in str(e.error).lower(), str(e)
    count = len(loaded) if isinstance(loaded, radnb.SeriesCollection) else 1
    assert count > 0


@pytest.mark.timeout(600)
def test_deidentify_and_phi_report_survive_every_mutant(mutants, tmp_path):
    folder, paths = mutants
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = radnb.deidentify(folder, tmp_path / "anon", salt="fuzz")
        assert result.written, "some mutants are still valid DICOM"
        for e in result.errors:
            assert isinstance(e.error, RadnbError) and e.path.name in str(e.error), str(e)
        report = radnb.phi_report(tmp_path / "anon")
    assert report.files_checked + len(report.errors) >= len(result.written) - 5
    for e in report.errors:
        assert isinstance(e.error, RadnbError) and e.path.name in str(e.error), str(e)
    # what deidentify wrote carries none of the profile's attributes with a value
    identifying = report.findings[~report.findings["reason"].str.startswith("burned-in")]
    assert identifying.empty, identifying[["file", "keyword", "reason"]].head(20).to_string()
