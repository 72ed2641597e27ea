"""One process against two: the same `radnb train` job, single-process and as 2 DDP processes.

On real radiographs (PneumoniaMNIST, ../shared/data/pneumoniamnist_trainval.npz, written as PNG
files with a labels.csv) when present, else on radnb's synthetic chest radiographs. Both runs use
the same data, seed, split and per-process batch size; the 2-process run goes through
``accelerate launch`` (gloo on a CPU machine, NCCL on GPUs). Prints a table: wall time of the
command, time of the fit, the metrics gathered during training and process 0's single-process
evaluation of the saved model, and the preprocessing-cache counts per process.

On a CPU the second process shares the same cores, so expect no speed-up there: the point on a
CPU is that the numbers agree. On a machine with 2 GPUs the same command halves each epoch's work
per GPU.

    python benchmarks/distributed.py [--n 1200] [--epochs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# ../shared/data next to the project (or RADNB_SHARED_DATA, e.g. when the checkout lives elsewhere)
SHARED = Path(os.environ.get("RADNB_SHARED_DATA", ROOT.parent / "shared" / "data"))
REAL = SHARED / "pneumoniamnist_trainval.npz"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_pneumoniamnist(out: Path, n: int, seed: int = 0) -> str:
    from PIL import Image

    data = np.load(REAL)
    images = np.concatenate([data["train_images"], data["val_images"]])
    labels = np.concatenate([data["train_labels"], data["val_labels"]]).ravel()
    rng = np.random.default_rng(seed)
    # balanced-ish subset: all classes represented like the validation split (about 1 normal in 4)
    normal, pneu = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    k_normal = min(len(normal), n // 4)
    pick = np.concatenate([rng.choice(normal, k_normal, replace=False), rng.choice(pneu, n - k_normal, replace=False)])
    (out / "images").mkdir(parents=True)
    rows = []
    for i in pick:
        name = f"images/pmnist_{i:05d}.png"
        Image.fromarray(images[i]).save(out / name)
        # MedMNIST has no patient ids: each image counts as its own patient
        rows.append({"file": name, "patient_id": f"img{i:05d}", "label": "pneumonia" if labels[i] else "normal"})
    pd.DataFrame(rows).to_csv(out / "labels.csv", index=False)
    return f"PneumoniaMNIST (real), {n} images"


def write_synthetic(out: Path, n: int) -> str:
    from radnb.data.synthetic import make_chest_xrays

    table = make_chest_xrays(out, n_patients=max(8, n // 2), images_per_patient=(1, 3), size=64, seed=0)
    return f"synthetic chest radiographs, {len(table)} images"


def run(cmd, env) -> tuple:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return time.perf_counter() - started, proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1200, help="images (default 1200)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--bs", type=int, default=32, help="batch size per process")
    parser.add_argument("--synthetic", action="store_true", help="use synthetic data even if the real file is there")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="radnb-dist-bench-"))
    data = tmp / "data"
    if REAL.exists() and not args.synthetic:
        what = write_pneumoniamnist(data, args.n)
    else:
        if not args.synthetic:
            print(f"{REAL} not found: using synthetic data instead.")
        what = write_synthetic(data, args.n)
    common = ["train", str(data), "--epochs", str(args.epochs), "--size", str(args.size), "--bs", str(args.bs),
              "--windows", "auto", "--seed", "1", "--quiet"]
    rows = []
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    for processes in (1, 2):
        cache = tmp / f"cache{processes}"  # each run starts with an empty cache
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RADNB_DATA": str(cache)}
        out = tmp / f"model{processes}.pth"
        if processes == 1:
            cmd = [sys.executable, "-m", "radnb.cli", *common, "--out", str(out)]
        else:
            cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", str(_free_port()), "-m", "radnb.cli", *common, "--out", str(out)]
        wall, _ = run(cmd, env)
        s = json.loads(out.with_suffix(".json").read_text())
        m, e = s["metrics"], s["evaluation"]
        rows.append({
            "processes": processes, "command_s": round(wall, 1), "fit_s": round(s["seconds"], 1),
            "auroc (gathered)": round(m["auroc"], 4), "auroc (evaluate)": round(e["auc"], 4),
            "sens (gathered)": round(m["sensitivity"], 4), "sens (evaluate)": round(e["sensitivity"], 4),
            "spec (gathered)": round(m["specificity"], 4), "spec (evaluate)": round(e["specificity"], 4),
            "n_valid": s["n_valid"],
            "cache prepared/reused per process": " ".join(f"{c['prepared']}/{c['reused']}" for c in s["cache"]),
        })
    table = pd.DataFrame(rows)
    print(f"Data: {what}; {args.epochs} epochs, {args.size} px, batch {args.bs} per process; "
          f"{os.cpu_count()} CPU(s) visible; torch threads split between the processes; load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work on the machine slows both runs).")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(table.to_string(index=False))
    one, two = rows
    print(f"\nfit time ratio 2 processes / 1 process: {two['fit_s'] / one['fit_s']:.2f}")
    print("Within each run the gathered metrics equal the single-process evaluation of the saved model; across runs they "
          f"may differ: 2 processes train with an effective batch of {2 * args.bs} ({args.bs} per process), half as "
          "many steps per epoch.")


if __name__ == "__main__":
    main()
