"""How long do the default synthetic sample sets take to generate?

Prints one row per set: wall and CPU seconds for the full default set, and the ratio
against a baseline measured in the same run -- writing the same number of files of the
same size with pydicom from constant pixels (the I/O floor; the rest is phantom maths).

    python benchmarks/synthetic.py            # all three default sets
    python benchmarks/synthetic.py --only ct
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from radnb.data import synthetic


def _write_floor(out: Path, files: list[Path]) -> None:
    """Rewrite every file of a generated set with constant pixels (same headers and sizes)."""
    import pydicom

    for i, path in enumerate(files):
        ds = pydicom.dcmread(path)
        ds.PixelData = np.full((ds.Rows, ds.Columns), 1000, dtype="<u2").tobytes()
        ds.save_as(out / f"{i:05d}.dcm", enforce_file_format=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(synthetic.SAMPLE_SETS))
    args = parser.parse_args()
    names = args.only or list(synthetic.SAMPLE_SETS)
    print(f"{'set':12s} {'files':>6s} {'wall s':>8s} {'cpu s':>8s} {'floor wall s':>13s} {'ratio':>6s}")
    total_wall = total_cpu = 0.0
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / name
            wall, cpu = time.perf_counter(), time.process_time()
            synthetic._BUILDERS[name](out)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            files = sorted(out.rglob("*.dcm"))
            floor_dir = Path(tmp) / "floor"
            floor_dir.mkdir()
            floor = time.perf_counter()
            _write_floor(floor_dir, files)
            floor = time.perf_counter() - floor
        total_wall += wall
        total_cpu += cpu
        print(f"{name:12s} {len(files):6d} {wall:8.2f} {cpu:8.2f} {floor:13.2f} {wall / floor:6.2f}")
    print(f"{'total':12s} {'':6s} {total_wall:8.2f} {total_cpu:8.2f}")


if __name__ == "__main__":
    main()
