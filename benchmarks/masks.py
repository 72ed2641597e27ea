"""Mask loader checks on real data: what radnb.dicom.load_mask makes of real images and of degraded masks,
and what reading a real DICOM SEG onto its CT costs against pydicom's bare frame decoding.

1. Value mapping (real images from ``../shared/data/pneumoniamnist_trainval.npz``, PneumoniaMNIST,
   CC BY 4.0): real radiographs handed over as masks must be refused as "not a mask"; binary masks
   made from them (thresholded, 112 px) must load as two classes; the same masks smoothed or
   JPEG-compressed must be recognised (error or warning with the ``threshold=`` hint); label maps
   with an "ignore" value 255 must load as classes.
2. DICOM SEG (pydicom-data's ``liver.dcm``, 3 frames of 512 × 512, with a CT rebuilt from its plane
   positions): ``load_mask`` (highdicom decode + placement on the referenced grid + CT header
   scan) against ``pydicom.dcmread(...).pixel_array`` (decode only), same run.

Run: ``python benchmarks/masks.py [--n 200] [--repeats 5]``
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

# the project's sibling folder ../shared/data (a git worktree elsewhere can point at it with RADNB_SHARED_DATA)
DATA = Path(os.environ.get("RADNB_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")) \
    / "pneumoniamnist_trainval.npz"


def classify(arrays):
    from radnb.dicom.masks import MaskValueError, load_mask

    out = {"refused: not a mask": 0, "refused: anti-aliased/JPEG (threshold hint)": 0, "accepted": 0,
           "accepted, anti-aliased/JPEG warning": 0}
    for x in arrays:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                load_mask(x)
                warned = any("anti-aliased" in str(w.message) for w in caught)
                out["accepted, anti-aliased/JPEG warning" if warned else "accepted"] += 1
            except MaskValueError as exc:
                out["refused: anti-aliased/JPEG (threshold hint)" if "anti-aliased" in str(exc)
                    else "refused: not a mask"] += 1
    return out


def value_mapping_table(n: int) -> None:
    from PIL import Image
    from scipy.ndimage import gaussian_filter, zoom

    if not DATA.exists():
        print(f"(skipped the real-image table: {DATA} is missing; it lives in the team's shared data folder, "
              "../shared/data; set RADNB_SHARED_DATA to that folder)")
        return
    images = np.load(DATA)["val_images"][:n]
    masks = [(zoom(im.astype(float), 4, order=1) > 128).astype(np.uint8) * 255 for im in images]

    def jpeg(m, quality):
        buffer = io.BytesIO()
        Image.fromarray(m).save(buffer, "JPEG", quality=quality)
        return np.asarray(Image.open(buffer))

    ignore = []
    for m in masks:
        label = (m > 0).astype(np.uint8)
        label[:10, :10], label[-10:, -10:] = 2, 255
        ignore.append(label)
    rows = [
        ("real radiographs (28 px) given as masks", list(images)),
        ("binary {0,255} masks thresholded from them (112 px)", masks),
        ("the same, Gaussian-smoothed (sigma 1 px)", [np.clip(gaussian_filter(m.astype(float), 1.0), 0, 255)
                                                      .astype(np.uint8) for m in masks]),
        ("the same, JPEG quality 95", [jpeg(m, 95) for m in masks]),
        ("the same, JPEG quality 85", [jpeg(m, 85) for m in masks]),
        ("the same, JPEG quality 50", [jpeg(m, 50) for m in masks]),
        ("label maps {0, 1, 2, 255 = ignore}", ignore),
    ]
    results = [(name, len(xs), classify(xs)) for name, xs in rows]
    keys = list(results[0][2])
    print("| input | n | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for name, count, res in results:
        print(f"| {name} | {count} | " + " | ".join(str(res[k]) for k in keys) + " |")


def seg_timing(repeats: int) -> None:
    import pydicom
    from pydicom.data import get_testdata_file

    from radnb.dicom.masks import load_mask

    seg_file = get_testdata_file("liver.dcm")
    if seg_file is None:
        print("(skipped the SEG timing: pydicom-data's liver.dcm is not installed)")
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_seg import ct_for_seg

    with tempfile.TemporaryDirectory() as tmp:
        folder = ct_for_seg(Path(seg_file), Path(tmp) / "ct")
        shutil.copy(seg_file, folder / "liver_seg.dcm")
        import radnb

        series = radnb.load(folder)

        def best(fn):
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            return min(times)

        base = best(lambda: pydicom.dcmread(seg_file).pixel_array)
        given = best(lambda: load_mask(folder / "liver_seg.dcm", like=series))
        found = best(lambda: load_mask(folder / "liver_seg.dcm"))
    print()
    print("| reading liver.dcm (3 × 512 × 512 SEG) | best of %d (ms) | ratio to pydicom decode |" % repeats)
    print("|---|---|---|")
    for name, t in (("pydicom dcmread + pixel_array (baseline, frames only)", base),
                    ("radnb load_mask(seg, like=series) (on the CT grid)", given),
                    ("radnb load_mask(seg) (finds and loads its CT in the folder)", found)):
        print(f"| {name} | {t * 1000:.1f} | {t / base:.1f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="real images per row")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    value_mapping_table(args.n)
    seg_timing(args.repeats)


if __name__ == "__main__":
    main()
