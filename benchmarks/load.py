"""Loading speed: DICOM file -> windowed 224×224 array, images per second.

Compares, on the same 200 synthetic 512×512 CT slices (written by
radnb.data.synthetic):

* floor          pydicom read + rescale to HU only (no window, no resize)
* plain torch    pydicom read + rescale, window with torch.clamp, F.interpolate to 224²
* radnb          radnb.load + radnb.window(img, "lung") + F.interpolate to 224²
* fastai.medical fastai.medical.imaging's dcmread().windowed() + F.interpolate to 224²

fastai.medical.imaging patches pydicom when imported, so it runs in its own
process. Target: radnb >= plain torch, and >= 1.3x fastai.medical.

Run: ``python benchmarks/load.py [--n 200] [--repeats 3]``
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZE = 224
LUNG = (-600.0, 1500.0)


def files_in(folder: Path):
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith((".csv", ".json")))


def run_method(method: str, folder: Path, repeats: int) -> float:
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    files = files_in(folder)

    def resize(arr):
        t = torch.from_numpy(arr)[None, None]
        return F.interpolate(t, size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0, 0]

    if method == "floor":
        import pydicom

        def one(p):
            ds = pydicom.dcmread(p)
            return ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)

    elif method == "plain_torch":
        import pydicom

        c, w = LUNG

        def one(p):
            ds = pydicom.dcmread(p)
            hu = torch.from_numpy(ds.pixel_array.astype(np.float32)) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            x = ((hu - (c - w / 2)) / w).clamp_(0, 1)
            return F.interpolate(x[None, None], size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0, 0]

    elif method == "radnb":
        import radnb

        def one(p):
            return resize(radnb.window(radnb.load(p), "lung"))

    elif method == "fastai_medical":
        import pydicom
        from fastai.medical.imaging import dicom_windows  # noqa: F401  (patches pydicom)

        def one(p):
            t = pydicom.dcmread(p).windowed(*dicom_windows.lungs)
            return F.interpolate(t[None, None].float(), size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0, 0]

    else:
        raise SystemExit(f"unknown method {method}")

    for p in files[:5]:  # warm up imports and the OS file cache
        one(p)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for p in files:
            one(p)
        best = min(best, time.perf_counter() - start)
    return len(files) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.method:  # child process: print one number
        print(json.dumps(run_method(args.method, Path(args.folder), args.repeats)))
        return

    from radnb.data.synthetic import make_ct_slices

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_ct_slices(Path(tmp), n=args.n, size=512, seed=0)
        rates = {m: 0.0 for m in ("floor", "plain_torch", "radnb", "fastai_medical")}
        # rounds alternate between methods so that background load hits them alike; best round counts
        for _ in range(args.repeats):
            for method in rates:
                out = subprocess.run(
                    [sys.executable, __file__, "--method", method, "--folder", str(folder), "--repeats", "1"],
                    capture_output=True, text=True, check=True,
                )
                rates[method] = max(rates[method], json.loads(out.stdout.strip().splitlines()[-1]))

    base = rates["plain_torch"]
    print(f"Loading {args.n} CT slices 512² -> windowed 224² (best of {args.repeats}; {os.cpu_count()} CPU cores)")
    print(f"{'method':16s} {'images/s':>9s} {'vs plain torch':>15s} {'vs fastai.medical':>18s}")
    for method, rate in rates.items():
        print(f"{method:16s} {rate:9.0f} {rate / base:14.2f}x {rate / rates['fastai_medical']:17.2f}x")
    ok = rates["radnb"] >= base * 0.97 and rates["radnb"] >= 1.3 * rates["fastai_medical"]
    print("target (radnb >= plain torch within 3% noise, >= 1.3x fastai.medical):", "MET" if ok else "NOT MET")


if __name__ == "__main__":
    main()
