"""Quality bars of radnb's training helpers on the synthetic data, with wall time, device and peak memory.

Prints one table:

* opacity classification (``sample_data("chest_xray")``): AUROC on the patient-held-out
  validation split (target >= 0.90 within 3 minutes of training on 2 CPU cores);
* liver/lesion segmentation (``sample_data("ct")``): mean foreground Dice over held-out
  volumes (target >= 0.80 within 5 minutes);
* transfer: a model pretrained with ``radnb.pretrain`` on body-part recognition, fine-tuned on
  <= 50 chest images, against the same model trained from scratch on the same images
  (evaluated on the same held-out patients);
* peak resident memory of the process (target <= 2 GB).

Every model uses radnb's device-dependent defaults (image size, architecture) unless the
options below override them. Usage::

    python benchmarks/train_tasks.py [--only cls,seg,transfer] [--cls-epochs N] [--seg-epochs N]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is KiB on Linux


CPU_SECONDS = []  # process CPU time of each fit, for a load-independent estimate


def fit(learn, epochs, lr, fine_tune=False):
    start, cpu_start = time.perf_counter(), time.process_time()
    with learn.no_bar(), learn.no_logging():
        if fine_tune:
            learn.fine_tune(epochs, lr, freeze_epochs=2)
        else:
            learn.fit_one_cycle(epochs, lr)
    CPU_SECONDS.append(time.process_time() - cpu_start)
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="cls,seg,transfer")
    # measured on the synthetic chest set (2 CPU cores): radnb's compact CNN at 128 px reaches the bar
    # within budget; resnet18 at 64 px (the library's CPU default) reached AUROC 0.84 in 10 epochs
    ap.add_argument("--cls-epochs", type=int, default=None)
    ap.add_argument("--cls-size", type=int, default=128)
    ap.add_argument("--cls-arch", default="compact")
    ap.add_argument("--cls-lr", type=float, default=1e-2)
    ap.add_argument("--seg-epochs", type=int, default=None)
    ap.add_argument("--seg-size", type=int, default=None)
    ap.add_argument("--seg-arch", default="auto")
    ap.add_argument("--transfer-images", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    tasks = set(args.only.split(","))

    import numpy as np
    import pandas as pd
    import torch

    import radnb
    import radnb.train as rt
    from radnb.train.data import patient_split

    info = rt.learners.setup_device()
    gpu = info.kind != "cpu"
    print(f"device: {info}")
    print(f"torch threads: {torch.get_num_threads()}, CPU cores usable: {len(os.sched_getaffinity(0))}")
    rows = []

    if "cls" in tasks:
        folder = radnb.sample_data("chest_xray")
        torch.manual_seed(args.seed)
        dls = rt.classification_dls(folder, windows="auto", size=args.cls_size)
        learn = rt.classifier(dls, arch=args.cls_arch)
        epochs = args.cls_epochs or (12 if not gpu else 15)
        wall = fit(learn, epochs, args.cls_lr)
        rep = rt.evaluate(learn, n_bootstrap=500)
        rows.append(("opacity classification AUROC (patient held-out)", f"{rep.auc:.3f} [{rep.auc_ci[0]:.2f}, {rep.auc_ci[1]:.2f}]",
                     ">= 0.90", wall, CPU_SECONDS[-1], "<= 180 s",
                     f"{args.cls_arch} {dls.preprocessing.size}px, {epochs} ep, {len(dls.train_ds)} train / {len(dls.valid_ds)} valid images"))
        print(rows[-1], flush=True)

    if "seg" in tasks:
        folder = radnb.sample_data("ct")
        torch.manual_seed(args.seed)
        dls = rt.segmentation_dls(folder, windows="soft_tissue", size=args.seg_size)
        learn = rt.segmenter(dls, arch=args.seg_arch)
        epochs = args.seg_epochs or (12 if not gpu else 20)
        wall = fit(learn, epochs, 3e-3)
        rep = rt.evaluate(learn)
        per = ", ".join(f"{k} {v:.3f}" for k, v in rep.mean_dice.items())
        rows.append(("segmentation mean foreground Dice (held-out volumes)", f"{rep.mean_foreground_dice:.3f} ({per})",
                     ">= 0.80", wall, CPU_SECONDS[-1], "<= 300 s",
                     f"{learn.radnb.arch} {dls.preprocessing.size}px, {epochs} ep, {len(dls.train_ds)} train slices, "
                     f"{len(dls.volumes)} valid volumes"))
        print(rows[-1], flush=True)

    if "transfer" in tasks:
        start = time.perf_counter()
        size = args.cls_size
        source = rt.pretrain("body_part", arch=args.cls_arch, windows="auto", size=size, verbose=False)
        pretrain_wall = time.perf_counter() - start
        folder = radnb.sample_data("chest_xray")
        table = pd.read_csv(folder / "labels.csv")
        train_idx, valid_idx = patient_split(table, "patient_id", valid_pct=0.3, seed=args.seed, stratify="label")
        valid_patients = sorted(set(table.patient_id.iloc[valid_idx]))
        small = table.iloc[train_idx].sample(frac=1.0, random_state=args.seed).head(args.transfer_images)
        subset = pd.concat([small, table.iloc[valid_idx]])
        results = {}
        for name, pretrained in (("scratch", False), ("pretrained", source)):
            torch.manual_seed(args.seed)
            dls = rt.classification_dls(subset, folder=folder, windows="auto", size=size, valid_patients=valid_patients,
                                        bs=16)
            learn = rt.classifier(dls, arch=args.cls_arch, pretrained=pretrained)
            # same budget: 10 epochs from scratch; 2 frozen + 8 unfrozen (discriminative lrs) when fine-tuning
            wall = (fit(learn, 8, args.cls_lr / 3, fine_tune=True) if pretrained is not False
                    else fit(learn, 10, args.cls_lr))
            results[name] = (rt.evaluate(learn, n_bootstrap=200).auc, wall)
        margin = results["pretrained"][0] - results["scratch"][0]
        rows.append(("transfer: fine-tuned pretrained vs scratch AUROC",
                     f"{results['pretrained'][0]:.3f} vs {results['scratch'][0]:.3f} (margin {margin:+.3f})",
                     "clear margin", results["pretrained"][1] + results["scratch"][1], sum(CPU_SECONDS[-2:]), "-",
                     f"{len(small)} target images, {len(valid_patients)} held-out patients; pretraining {pretrain_wall:.0f} s "
                     f"(cached after the first run)"))
        print(rows[-1], flush=True)

    print()
    cores = len(os.sched_getaffinity(0))
    print(f"{'bar':55s} {'result':40s} {'target':>12s} {'wall s':>7s} {'CPU s':>7s} {'budget':>9s}  setup")
    for name, result, target, wall, cpu, budget, setup in rows:
        print(f"{name:55s} {result:40s} {target:>12s} {wall:7.0f} {cpu:7.0f} {budget:>9s}  {setup}")
    print(f"(wall s = training wall time; CPU s = process CPU time: on an otherwise idle machine with {cores} cores "
          f"the wall time is about CPU s / {cores}; a busy machine inflates wall s, not CPU s)")
    print(f"\npeak memory (max RSS of this process): {peak_rss_gb():.2f} GB (target <= 2 GB); device {info.kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
