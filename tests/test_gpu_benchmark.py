"""``benchmarks/gpu.py --quick`` runs on the CPU, so the GPU script cannot rot before a GPU is lent."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_benchmark_quick_runs_every_section_on_the_cpu(tmp_path):
    # a tiny stand-in for the PneumoniaMNIST file, with its keys and shapes (28 x 28 uint8, labels (N, 1))
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 40).reshape(-1, 1)
    images = rng.integers(0, 120, size=(80, 28, 28), dtype=np.uint8)
    images[labels.ravel() == 1, 8:20, 8:20] += 120  # a learnable "opacity"
    fixture = tmp_path / "pneumonia.npz"
    np.savez(fixture, train_images=images[:60], train_labels=labels[:60], val_images=images[60:],
             val_labels=labels[60:])
    out = tmp_path / "table.json"
    env = dict(os.environ, RADNB_DATA=str(tmp_path / "data"), RADNB_DEVICE="cpu")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick", "--pneumonia", str(fixture),
                           "--json", str(out)], env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {r["task"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["device"]["result"] == "cpu"
    assert re.fullmatch(r"AUROC (0|1)\.\d{3}", rows["classification, synthetic chest"]["result"])
    assert re.fullmatch(r"AUROC (0|1)\.\d{3}", rows["classification, PneumoniaMNIST (real)"]["result"])
    assert "img/s" in rows["classification, PneumoniaMNIST (real)"]["details"]
    assert re.fullmatch(r"\d+\.\dx", rows["PneumoniaMNIST: this device vs CPU defaults"]["result"])
    seg = rows["segmentation, synthetic CT"]
    assert seg["result"].startswith("Dice ") and "liver" in seg["details"] and "lesion" in seg["details"]
    assert re.fullmatch(r"AUROC \d\.\d{3} vs \d\.\d{3}", rows["transfer: pretrained vs scratch"]["result"])
    notebook = rows["notebook 00_welcome"]
    assert notebook["result"] == "ok" and re.search(r"checks passed (\d+)/\1", notebook["details"])
    # the printed table is what a person reads on the device machine
    assert "total wall time" in done.stdout


def test_gpu_benchmark_says_clearly_when_the_real_data_file_is_missing(tmp_path):
    out = tmp_path / "table.json"
    env = dict(os.environ, RADNB_DATA=str(tmp_path / "data"), RADNB_DEVICE="cpu")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick", "--only", "pneumonia",
                           "--pneumonia", str(tmp_path / "absent.npz"), "--json", str(out)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = json.loads(out.read_text())["rows"]
    assert row["result"] == "skipped" and "absent.npz not found" in row["details"]
