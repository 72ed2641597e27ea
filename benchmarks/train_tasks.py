"""Quality bars of radnb's training helpers on the synthetic data, with wall time, device and peak memory.

Prints one table:

* opacity classification (``sample_data("chest_xray")``): AUROC on the patient-held-out
  validation split (target >= 0.90 within 3 minutes of training on 2 CPU cores);
* liver/lesion segmentation (``sample_data("ct")``): mean foreground Dice over held-out
  volumes (target >= 0.80 within 5 minutes);
* transfer: a model pretrained with ``radnb.pretrain`` (default source: opacity on chest
  radiographs from another hospital), fine-tuned on <= 50 chest images, against the same
  model trained from scratch on the same images (evaluated on the same held-out patients);
  the less related body-part source is printed alongside for contrast;
* peak resident memory of each task (target <= 2 GB): every task runs in its own process,
  as it would in its own notebook.

Every model uses radnb's device-dependent defaults (image size, architecture, learning
rate) unless the options below override them. Each task runs ``--repeats`` times with
different seeds (python, numpy and torch seeded through fastai's ``set_seed``; for transfer
also a different patient split and target subset) and prints every run, so a bar met by
one lucky seed shows up as such. Usage::

    python benchmarks/train_tasks.py [--only cls,seg,transfer] [--repeats N] [--cls-epochs N] [--seg-epochs N]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is KiB on Linux


CPU_SECONDS = []  # process CPU time of each fit, for a load-independent estimate


def fit(learn, epochs, lr=None, fine_tune=False):
    """Train (one-cycle, or fastai's fine_tune: frozen head first, then all layers); returns wall seconds."""
    start, cpu_start = time.perf_counter(), time.process_time()
    with learn.no_bar(), learn.no_logging():
        if fine_tune:
            # fastai's fine_tune: 2 epochs with the body frozen, then all layers with discriminative
            # rates lr/100 .. lr; the base rate is the learner's default (learn.lr), not fastai's 2e-3
            learn.fine_tune(epochs, lr or learn.lr, freeze_epochs=2)
        else:
            learn.fit_one_cycle(epochs, lr)
    CPU_SECONDS.append(time.process_time() - cpu_start)
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="cls,seg,transfer")
    ap.add_argument("--repeats", type=int, default=3, help="runs per task, seeds 0..N-1")
    ap.add_argument("--cls-epochs", type=int, default=None)
    ap.add_argument("--cls-size", type=int, default=None, help="default: radnb's for the device")
    ap.add_argument("--cls-arch", default="auto")
    ap.add_argument("--cls-lr", type=float, default=None, help="default: the learner's (learn.lr)")
    ap.add_argument("--seg-epochs", type=int, default=None)
    ap.add_argument("--seg-size", type=int, default=None)
    ap.add_argument("--seg-arch", default="auto")
    ap.add_argument("--seg-lr", type=float, default=3e-3)
    ap.add_argument("--transfer-images", type=int, default=50)
    ap.add_argument("--transfer-epochs", type=int, default=10)
    ap.add_argument("--child-json", default=None, help=argparse.SUPPRESS)  # internal: one task, rows to this file
    args = ap.parse_args(argv)
    tasks = args.only.split(",")
    if args.child_json is None:
        return run_each_task_in_its_own_process(tasks, argv if argv is not None else sys.argv[1:])
    seeds = range(args.repeats)

    import numpy as np
    import pandas as pd
    import torch
    from fastai.torch_core import set_seed

    import radnb
    import radnb.train as rt
    from radnb.train.data import patient_split

    info = rt.learners.setup_device()
    gpu = info.kind != "cpu"
    print(f"device: {info}")
    print(f"torch threads: {torch.get_num_threads()}, CPU cores usable: {len(os.sched_getaffinity(0))}")
    rows = []

    def add(name, result, target, wall, cpu, budget, setup):
        rows.append((name, result, target, wall, cpu, budget, setup))
        print(" | ".join(str(v) if not isinstance(v, float) else f"{v:.1f}" for v in rows[-1]), flush=True)

    if "cls" in tasks:
        folder = radnb.sample_data("chest_xray")
        # 20 one-cycle epochs: about 90 s on an idle 2-core CPU; 12 epochs gave AUROC 0.88-0.91 over 3 seeds
        epochs = args.cls_epochs or (20 if not gpu else 15)
        for seed in seeds:
            set_seed(seed)
            dls = rt.classification_dls(folder, windows="auto", size=args.cls_size)
            learn = rt.classifier(dls, arch=args.cls_arch)
            wall = fit(learn, epochs, args.cls_lr)
            rep = rt.evaluate(learn, n_bootstrap=500)
            add(f"opacity classification AUROC, seed {seed}", f"{rep.auc:.3f} [{rep.auc_ci[0]:.2f}, {rep.auc_ci[1]:.2f}]",
                ">= 0.90", wall, CPU_SECONDS[-1], "<= 180 s",
                f"{learn.radnb.arch} {dls.radnb.preprocessing.size}px, {epochs} ep, lr {learn.lr:g}, "
                f"{len(dls.train_ds)} train / {len(dls.valid_ds)} valid images")

    if "seg" in tasks:
        folder = radnb.sample_data("ct")
        epochs = args.seg_epochs or (12 if not gpu else 20)
        for seed in seeds:
            set_seed(seed)
            dls = rt.segmentation_dls(folder, windows="soft_tissue", size=args.seg_size)
            learn = rt.segmenter(dls, arch=args.seg_arch)
            wall = fit(learn, epochs, args.seg_lr)
            rep = rt.evaluate(learn)
            per = ", ".join(f"{k} {v:.3f}" for k, v in rep.mean_dice.items())
            add(f"segmentation mean foreground Dice, seed {seed}", f"{rep.mean_foreground_dice:.3f} ({per})",
                ">= 0.80", wall, CPU_SECONDS[-1], "<= 300 s",
                f"{learn.radnb.arch} {dls.radnb.preprocessing.size}px, {epochs} ep, {len(dls.train_ds)} train slices, "
                f"{len(dls.radnb.volumes)} valid volumes")

    if "transfer" in tasks:
        sources = {}
        for task in ("chest_xray_external", "body_part"):
            start = time.perf_counter()
            sources[task] = (rt.pretrain(task, windows="auto", size=args.cls_size, verbose=False),
                             time.perf_counter() - start)
        folder = radnb.sample_data("chest_xray")
        table = pd.read_csv(folder / "labels.csv")
        margins = []
        for seed in seeds:
            train_idx, valid_idx = patient_split(table, "patient_id", valid_pct=0.3, seed=seed, stratify="label")
            valid_patients = sorted(set(table.patient_id.iloc[valid_idx]))
            small = table.iloc[train_idx].sample(frac=1.0, random_state=seed).head(args.transfer_images)
            subset = pd.concat([small, table.iloc[valid_idx]])
            results = {}
            for name, pretrained in (("scratch", False), ("external chest", sources["chest_xray_external"][0]),
                                     ("body part", sources["body_part"][0])):
                set_seed(seed)
                dls = rt.classification_dls(subset, folder=folder, windows="auto", size=args.cls_size,
                                            valid_patients=valid_patients, bs=16)
                learn = rt.classifier(dls, pretrained=pretrained)
                # the same number of epochs either way (fine-tuning: 2 of them with the body frozen)
                wall = fit(learn, args.transfer_epochs - 2, fine_tune=True) if pretrained is not False \
                    else fit(learn, args.transfer_epochs)
                results[name] = (rt.evaluate(learn, n_bootstrap=200).auc, wall)
            margin = results["external chest"][0] - results["scratch"][0]
            margins.append(margin)
            add(f"transfer AUROC, seed {seed}: pretrained (external chest) vs scratch",
                f"{results['external chest'][0]:.3f} vs {results['scratch'][0]:.3f} (margin {margin:+.3f}); "
                f"body part {results['body part'][0]:.3f}",
                "clear margin", sum(r[1] for r in results.values()), sum(CPU_SECONDS[-3:]), "-",
                f"{learn.radnb.arch} {dls.radnb.preprocessing.size}px, {len(small)} target images, "
                f"{len(valid_patients)} held-out patients, {args.transfer_epochs} ep each")
        add("transfer margin over all seeds (mean, min)", f"{np.mean(margins):+.3f}, {np.min(margins):+.3f}",
            "> 0.05", 0.0, 0.0, "-",
            "pretraining (cached after the first run): " + ", ".join(f"{k} {v[1]:.0f} s" for k, v in sources.items()))

    with open(args.child_json, "w") as fh:
        json.dump({"rows": rows, "peak_gb": peak_rss_gb(), "device": info.kind}, fh)
    return 0


def run_each_task_in_its_own_process(tasks, argv) -> int:
    """Run each task in a fresh interpreter (so each peak-memory figure is that task's alone); print the table."""
    import subprocess
    import tempfile

    passthrough = [a for a in argv if not a.startswith("--only")]
    if "--only" in argv:  # "--only x" as two words
        i = argv.index("--only")
        passthrough = argv[:i] + argv[i + 2:]
    rows, peaks, device = [], {}, "?"
    for task in tasks:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out = tmp.name
        done = subprocess.run([sys.executable, __file__, "--only", task, "--child-json", out, *passthrough])
        if done.returncode != 0:
            print(f"task {task} failed (exit {done.returncode})")
            return done.returncode
        with open(out) as fh:
            result = json.load(fh)
        os.unlink(out)
        rows += [(*row, task) for row in result["rows"]]
        peaks[task], device = result["peak_gb"], result["device"]

    print()
    cores = len(os.sched_getaffinity(0))
    print(f"{'bar':62s} {'result':58s} {'target':>12s} {'wall s':>7s} {'CPU s':>7s} {'budget':>9s} {'peak GB':>8s}  setup")
    for name, result, target, wall, cpu, budget, setup, task in rows:
        print(f"{name:62s} {result:58s} {target:>12s} {wall:7.0f} {cpu:7.0f} {budget:>9s} {peaks[task]:8.2f}  {setup}")
    print(f"(wall s = training wall time; CPU s = process CPU time: on an otherwise idle machine with {cores} cores "
          f"the wall time is about CPU s / {cores}; a busy machine inflates wall s, not CPU s)")
    print(f"peak GB = max resident memory of the task's own process (target <= 2 GB); device {device}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
