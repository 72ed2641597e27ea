"""Training data throughput: first (uncached) epoch vs cached epochs, next to fastai.medical.imaging.

Runs over the synthetic chest radiographs (``radnb.sample_data("chest_xray")``,
256 x 256 DICOM) and prints images/s for one pass of the training DataLoader:

* radnb, first epoch   - every image decoded via radnb.dicom, windowed, resized, written to the cache
* radnb, cached epoch  - the same DataLoader again (arrays memory-mapped from the cache)
* radnb, new session   - a fresh cache object over the same folder (as after a kernel restart)
* fastai.medical.imaging - fastai's own DICOM path (``PILDicom`` + ``Resize``), which parses every
  file in every epoch (benchmarks may import it; radnb code never does: it patches pydicom)

Augmentation is off so the numbers measure data preparation, not random warps.

Usage: ``python benchmarks/train_data.py [--size N] [--bs 32]`` (default size: radnb's for the device)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")


def epoch_rate(dl) -> float:
    n, start = 0, time.perf_counter()
    for xb, _ in dl:
        n += len(xb)
    return n / (time.perf_counter() - start)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=None, help="default: radnb's image size for this device")
    ap.add_argument("--bs", type=int, default=32)
    args = ap.parse_args(argv)

    import pandas as pd
    import torch

    import radnb
    import radnb.train as rt
    from radnb.train.cache import PreprocessCache

    torch.set_num_threads(min(torch.get_num_threads(), len(os.sched_getaffinity(0))))
    args.size = args.size or rt.data.default_size("classification")
    folder = radnb.sample_data("chest_xray")
    table = pd.read_csv(folder / "labels.csv")
    print(f"data: {len(table)} DICOM radiographs, {folder}")
    print(f"device: {radnb.device_info()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = PreprocessCache(Path(tmp) / "cache")
        dls = rt.classification_dls(folder, windows="auto", size=args.size, bs=args.bs, augment=False, preload=False,
                                    cache=cache, device="cpu", num_workers=0)
        n_train = len(dls.train_ds)
        dl = dls.train.new(shuffle=False, drop_last=False)
        first = epoch_rate(dl)
        cached = epoch_rate(dl)
        fresh = PreprocessCache(Path(tmp) / "cache")
        dls2 = rt.classification_dls(folder, windows="auto", size=args.size, bs=args.bs, augment=False, preload=False,
                                     cache=fresh, device="cpu", num_workers=0)
        new_session = epoch_rate(dls2.train.new(shuffle=False, drop_last=False))
        rows += [("radnb, first epoch (decode + window + resize + cache)", first),
                 ("radnb, cached epoch", cached),
                 ("radnb, cached, new session (memory-mapped from disk)", new_session)]

    # fastai's medical-imaging path on the same files
    from fastai.data.block import CategoryBlock, DataBlock
    from fastai.data.transforms import ColReader, IndexSplitter
    from fastai.vision.augment import Resize
    from fastai.vision.data import ImageBlock
    import fastai.medical.imaging as fmi  # noqa: F401  (patches pydicom: benchmark only)

    valid = [i for i, s in enumerate(dls.radnb.table.split) if s == "valid"]
    df = table.copy()
    df["file"] = [str(folder / f) for f in df.file]
    block = DataBlock(blocks=(ImageBlock(cls=fmi.PILDicom), CategoryBlock), get_x=ColReader("file"),
                      get_y=ColReader("label"), splitter=IndexSplitter(valid), item_tfms=Resize(args.size))
    fdls = block.dataloaders(df, bs=args.bs, num_workers=0, device="cpu")
    fdl = fdls.train.new(shuffle=False, drop_last=False)
    f1 = epoch_rate(fdl)
    f2 = epoch_rate(fdl)
    rows += [("fastai.medical.imaging (PILDicom), epoch 1", f1), ("fastai.medical.imaging (PILDicom), epoch 2", f2)]

    print(f"\n{n_train} training images per epoch, {args.size} px, batch {args.bs}, CPU threads {torch.get_num_threads()}")
    print(f"{'pipeline':58s} {'images/s':>10s} {'vs radnb first':>15s}")
    for name, rate in rows:
        print(f"{name:58s} {rate:10.0f} {rate / first:14.1f}x")
    print(f"\ncached / uncached speed-up: {cached / first:.1f}x (target >= 10x); "
          f"cached radnb vs fastai.medical.imaging epoch 2: {cached / f2:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
