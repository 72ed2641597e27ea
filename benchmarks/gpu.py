"""radnb's GPU path, run for real: device, training tasks and notebooks on one machine, one table.

One prepared script for a lent GPU (it finishes within about 8 minutes on a single
modern GPU) that also runs on a CPU, so it is known to work before a GPU is spent on it:

* the device as radnb sees it (``radnb.device_info()``: CUDA, mixed precision, channels_last)
  and the ``radnb doctor`` versions;
* classification with the device's defaults on radnb's synthetic chest set and on the real
  PneumoniaMNIST file (``--pneumonia``, default ``../shared/data/pneumoniamnist_trainval.npz``;
  skipped with a message when missing): validation AUROC, epochs, wall time, images/s, peak
  memory; plus the CPU defaults' images/s on the same machine (a child process with
  ``RADNB_DEVICE=cpu``), for the ratio;
* liver/lesion segmentation on the synthetic CT set: Dice per class, wall time, peak memory;
* transfer: ``radnb.pretrain`` then ``fine_tune`` on a small target set, against the same model
  from scratch;
* the curriculum notebooks (default 02-06; the instructor sources, so the checks have answers) executed top to bottom with their own device
  parameters (``FAST = not GPU``), time per notebook and whether every graded check passed.

Every section runs even when an earlier one fails; a failure is printed in its row. The table
is also written as JSON to ``--json`` (e.g. under ``$OUT`` on the device machine).

Usage::

    python benchmarks/gpu.py                      # the full run (meant for a GPU)
    python benchmarks/gpu.py --quick              # CPU smoke test: tiny sets, 1 epoch, notebook 00 only
    python benchmarks/gpu.py --only device,cls --notebooks 02_classification
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_PNEUMONIA = ROOT.parent / "shared" / "data" / "pneumoniamnist_trainval.npz"
SECTIONS = ("device", "cls", "pneumonia", "seg", "transfer", "notebooks")


def peak_host_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


class Memory:
    """Peak memory of one task: GPU memory allocated by torch on CUDA, else the process's resident memory."""

    def __enter__(self):
        import torch

        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc):
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            self.peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU"
        else:
            self.peak = f"{peak_host_gb():.2f} GiB RSS (process so far)"
        return False


def train(learn, epochs: int, *, fine_tune: bool = False) -> float:
    """One-cycle training (or fastai's fine_tune) without bars; returns wall seconds."""
    import torch

    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        if fine_tune:
            learn.fine_tune(epochs, learn.lr, freeze_epochs=1)
        else:
            learn.fit_one_cycle(epochs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def setup_of(learn, dls) -> str:
    info = getattr(learn, "radnb", None)
    arch = getattr(info, "arch", "?")
    prep = getattr(dls, "preprocessing", None)
    size = getattr(prep, "size", "?")
    return f"{arch} {size}px, bs {dls.train.bs}"


# --------------------------------------------------------------------------- sections


def section_device(args, add):
    import radnb
    from radnb.system import doctor

    info = radnb.device_info()
    amp = "bfloat16/float16 autocast (fastai to_fp16)" if info.mixed_precision else "off (float32)"
    add("device", str(info.kind), f"{info.name}; memory {info.memory_gb or 0:.1f} GiB; mixed precision {amp}; "
        f"channels_last {info.channels_last}; torch threads {info.threads}")
    report = doctor()
    shown = ", ".join(f"{k} {report[k]}" for k in (
        "python", "torch", "torchvision", "fastai", "pydicom", "numpy", "anywidget", "ipywidgets") if k in report)
    add("radnb doctor", str(report.get("radnb")), f"{shown}; decoders: {report.get('dicom decoders')}")
    import torch

    cuda = torch.version.cuda or "none"
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-"
    add("torch build", torch.__version__, f"CUDA runtime {cuda}; GPU {name}; "
        f"bf16 supported {torch.cuda.is_bf16_supported() if torch.cuda.is_available() else False}")


def _classify(dls, epochs, add, name, extra=""):
    import radnb

    with Memory() as mem:
        learn = radnb.classifier(dls)
        wall = train(learn, epochs)
    rep = radnb.evaluate(learn, n_bootstrap=200)
    n_train = len(dls.train_ds)
    add(name, f"AUROC {rep.auc:.3f}",
        f"{setup_of(learn, dls)}; {epochs} ep; {n_train} train / {len(dls.valid_ds)} valid; wall {wall:.1f} s; "
        f"{n_train * epochs / wall:.0f} img/s; peak {mem.peak}{extra}")
    return n_train * epochs / wall


def section_cls(args, add, tmp: Path):
    import radnb
    from fastai.torch_core import set_seed

    if args.quick:
        from radnb.data.synthetic import make_chest_xrays

        folder = tmp / "chest"
        make_chest_xrays(folder, n_patients=24, images_per_patient=(1, 1), size=64, seed=0)
    else:
        folder = radnb.sample_data("chest_xray")
    set_seed(0)
    dls = radnb.classification_dls(folder, windows="auto", progress=False)
    _classify(dls, args.epochs or (1 if args.quick else 15), add, "classification, synthetic chest")


def _pneumonia_arrays(path: Path, limit: int | None):
    import numpy as np

    data = np.load(path)
    x, y = data["train_images"], data["train_labels"].ravel()
    vx, vy = data["val_images"], data["val_labels"].ravel()
    if limit:
        rng = np.random.default_rng(0)
        keep = rng.permutation(len(x))[:limit]
        keep_v = rng.permutation(len(vx))[: max(limit // 2, 16)]
        x, y, vx, vy = x[keep], y[keep], vx[keep_v], vy[keep_v]
    return x, y, vx, vy


def _pneumonia_dls(path: Path, limit: int | None, **kwargs):
    import numpy as np
    import radnb

    x, y, vx, vy = _pneumonia_arrays(path, limit)
    images = np.concatenate([x, vx]).astype(np.uint8)
    labels = ["pneumonia" if v else "normal" for v in np.concatenate([y, vy])]
    patients = [f"t{i}" for i in range(len(x))] + [f"v{i}" for i in range(len(vx))]
    valid = patients[len(x):]  # the file's own validation split, never trained on
    return radnb.classification_dls(list(images), label=labels, patient=patients, valid_patients=valid,
                                    progress=False, **kwargs)


def section_pneumonia(args, add, tmp: Path):
    from fastai.torch_core import set_seed

    path = Path(args.pneumonia)
    if not path.exists():
        add("classification, PneumoniaMNIST", "skipped",
            f"{path} not found: copy ../shared/data/pneumoniamnist_trainval.npz there, or pass --pneumonia")
        return
    limit = 128 if args.quick else None
    set_seed(0)
    dls = _pneumonia_dls(path, limit)
    epochs = args.epochs or (1 if args.quick else 10)
    rate = _classify(dls, epochs, add, "classification, PneumoniaMNIST (real)")
    cpu = cpu_images_per_second(path, limit=256 if args.quick else 1024)
    if cpu:
        add("PneumoniaMNIST: this device vs CPU defaults", f"{rate / cpu['rate']:.1f}x",
            f"CPU defaults on this machine's CPU: {cpu['rate']:.0f} img/s ({cpu['setup']}, "
            f"{cpu['threads']} threads, 1 epoch)")


def cpu_images_per_second(path: Path, limit: int) -> dict | None:
    """Train one epoch with the CPU defaults in a child process (RADNB_DEVICE=cpu); its images/s."""
    env = dict(os.environ, RADNB_DEVICE="cpu", CUDA_VISIBLE_DEVICES="")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    cmd = [sys.executable, __file__, "--cpu-rate-child", out, "--pneumonia", str(path), "--limit", str(limit)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
        return None
    result = json.loads(Path(out).read_text())
    os.unlink(out)
    return result


def cpu_rate_child(out: str, path: str, limit: int) -> int:
    import radnb
    import torch

    dls = _pneumonia_dls(Path(path), limit)
    learn = radnb.classifier(dls)
    wall = train(learn, 1)
    Path(out).write_text(json.dumps({"rate": len(dls.train_ds) / wall, "setup": setup_of(learn, dls),
                                     "threads": torch.get_num_threads()}))
    return 0


def section_seg(args, add, tmp: Path):
    import radnb
    from fastai.torch_core import set_seed

    if args.quick:
        from radnb.data.synthetic import make_ct_volumes

        folder = tmp / "ct"
        make_ct_volumes(folder, n_patients=4, shape=(8, 64, 64), seed=0)
    else:
        folder = radnb.sample_data("ct")
    set_seed(0)
    dls = radnb.segmentation_dls(folder, windows="soft_tissue")
    epochs = args.epochs or (1 if args.quick else 20)
    with Memory() as mem:
        learn = radnb.segmenter(dls)
        wall = train(learn, epochs)
    rep = radnb.evaluate(learn)
    per = ", ".join(f"{k} {v:.3f}" for k, v in rep.mean_dice.items())
    add("segmentation, synthetic CT", f"Dice {rep.mean_foreground_dice:.3f}",
        f"{per}; {setup_of(learn, dls)}; {epochs} ep; {len(dls.train_ds)} train slices; wall {wall:.1f} s; "
        f"{len(dls.train_ds) * epochs / wall:.0f} slices/s; peak {mem.peak}")


def section_transfer(args, add, tmp: Path):
    import pandas as pd
    import radnb
    from fastai.torch_core import set_seed
    from radnb.train.data import patient_split

    kwargs = {}
    if args.quick:
        from radnb.data.synthetic import make_chest_xrays

        source, target = tmp / "source", tmp / "target"
        make_chest_xrays(source, n_patients=24, images_per_patient=(1, 1), size=64, seed=1, scanner="B")
        make_chest_xrays(target, n_patients=24, images_per_patient=(1, 1), size=64, seed=2)
        kwargs = dict(data=source, epochs=1)
        n_target = 12
    else:
        target = radnb.sample_data("chest_xray")
        n_target = 50
    start = time.perf_counter()
    with Memory() as mem:
        source_model = radnb.pretrain("chest_xray_external", windows="auto", verbose=False, **kwargs)
    pretrain_s = time.perf_counter() - start
    table = pd.read_csv(Path(target) / "labels.csv")
    train_idx, valid_idx = patient_split(table, "patient_id", valid_pct=0.4, seed=0, stratify="label")
    valid_patients = sorted(set(table.patient_id.iloc[valid_idx]))
    small = table.iloc[train_idx].sample(frac=1.0, random_state=0).head(n_target)
    subset = pd.concat([small, table.iloc[valid_idx]])
    epochs = args.epochs or (1 if args.quick else 10)
    results = {}
    for name, pretrained in (("scratch", False), ("pretrained", source_model)):
        set_seed(0)
        dls = radnb.classification_dls(subset, folder=target, windows="auto", valid_patients=valid_patients,
                                        progress=False)
        learn = radnb.classifier(dls, pretrained=pretrained)
        wall = train(learn, epochs, fine_tune=pretrained is not False)
        results[name] = (radnb.evaluate(learn, n_bootstrap=200).auc, wall)
    add("transfer: pretrained vs scratch", f"AUROC {results['pretrained'][0]:.3f} vs {results['scratch'][0]:.3f}",
        f"{setup_of(learn, dls)}; {len(small)} target images, {len(valid_patients)} held-out patients, "
        f"{epochs} ep each; pretraining {pretrain_s:.1f} s (peak {mem.peak}); fine-tune {results['pretrained'][1]:.1f} s, "
        f"scratch {results['scratch'][1]:.1f} s")


def section_notebooks(args, add, tmp: Path):
    from radnb.grading.core import read_results
    from radnb.grading.execute import run_notebook

    names = [n for n in args.notebooks.split(",") if n and n != "none"]
    paths = []
    for name in names:
        found = sorted((ROOT / "instructor" / "notebooks").glob(f"{name.replace('.ipynb', '')}*.ipynb"))
        if not found:
            add(f"notebook {name}", "missing", "no such notebook in instructor/notebooks/")
        paths += found[:1]
    for path in paths:
        results = tmp / f"{path.stem}-results.json"
        env = {"RADNB_GRADING_RESULTS": str(results), "RADNB_GRADING_SEED": "", "NBGRADER_EXECUTION": ""}
        report = run_notebook(path, timeout=args.notebook_timeout, env=env, cwd=path.parent)
        checks = read_results(results)
        passed = sum(1 for r in checks.values() if r.status == "pass")
        errors = "; ".join(str(e) for e in report.errors[:2])
        verdict = "ok" if report.ok and passed == len(checks) else "PROBLEM"
        add(f"notebook {path.stem}", verdict,
            f"wall {report.wall_s:.0f} s; peak kernel RSS {report.peak_rss_mb:.0f} MB; checks passed {passed}/{len(checks)}"
            + (f"; errors: {errors}" if errors else "") + ("; timed out" if report.timed_out else ""))


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CPU smoke test: tiny sets, 1 epoch, notebook 00 only")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    ap.add_argument("--epochs", type=int, default=None, help="override every task's epochs")
    ap.add_argument("--pneumonia", default=str(DEFAULT_PNEUMONIA), help="PneumoniaMNIST train/val .npz")
    ap.add_argument("--notebooks", default=None,
                    help="comma-separated notebook names (default 02..06; with --quick 00_welcome; 'none' skips)")
    ap.add_argument("--notebook-timeout", type=float, default=600)
    ap.add_argument("--json", default=None, help="also write the table as JSON to this file")
    ap.add_argument("--cpu-rate-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=1024, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.cpu_rate_child:
        return cpu_rate_child(args.cpu_rate_child, args.pneumonia, args.limit)
    if args.notebooks is None:
        args.notebooks = "00_welcome" if args.quick else "02,03,04,05,06"
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    os.environ.setdefault("RADNB_DATA", tempfile.mkdtemp(prefix="radnb-gpu-data-"))

    rows = []

    def add(task, result, details):
        rows.append({"task": task, "result": result, "details": details})
        print(f"{task:45s} | {result:24s} | {details}", flush=True)

    print(f"radnb GPU benchmark ({'quick CPU smoke test' if args.quick else 'full run'}); data in {os.environ['RADNB_DATA']}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="radnb-gpu-") as tmp_name:
        tmp = Path(tmp_name)
        for section in wanted:
            t0 = time.perf_counter()
            try:
                if section == "device":
                    section_device(args, add)
                else:
                    globals()[f"section_{section}"](args, add, tmp)
            except Exception as exc:  # one failing section must not hide the others' figures
                add(section, "FAILED", f"{type(exc).__name__}: {exc}")
                traceback.print_exc()
            print(f"  ({section}: {time.perf_counter() - t0:.0f} s)", flush=True)
    total = time.perf_counter() - started
    width = max(len(r["task"]) for r in rows) if rows else 10
    print()
    print(f"{'task':{width}s}  {'result':24s}  details")
    print("-" * (width + 40))
    for r in rows:
        print(f"{r['task']:{width}s}  {r['result']:24s}  {r['details']}")
    print(f"total wall time {total:.0f} s (target for the full run on one modern GPU: <= 480 s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "total_s": total, "quick": args.quick}, indent=1))
    failed = [r for r in rows if r["result"] in ("FAILED", "PROBLEM")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
