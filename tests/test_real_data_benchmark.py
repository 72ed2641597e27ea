"""``benchmarks/real_data.py`` runs its tables on a tiny stand-in for the shared PneumoniaMNIST file.

The real file lives in ``../shared`` (not in a user's clone), so these tests build a small npz with its keys
and shapes; they check that every part prints its table and that parts (b) and (e) train one run the same way.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "real_data.py"


def _fixture(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    labels = np.array([0, 1] * 40).reshape(-1, 1)
    images = rng.integers(0, 120, size=(80, 28, 28), dtype=np.uint8)
    images[labels.ravel() == 1, 8:20, 8:20] += 120  # a learnable "opacity"
    path = tmp_path / "pneumonia.npz"
    np.savez(path, train_images=images[:60], train_labels=labels[:60], val_images=images[60:], val_labels=labels[60:])
    return path


def _run(args, tmp_path):
    env = dict(os.environ, RADNB_DATA=str(tmp_path / "data"), RADNB_DEVICE="cpu")
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


@pytest.mark.slow
def test_subsets_spread_and_probe_print_their_tables(tmp_path):
    done = _run(["--data", str(_fixture(tmp_path)), "--only", "subsets,probe,spread", "--sizes", "16",
                 "--spread-sizes", "16", "--seeds", "2", "--train-seeds", "2", "--paths", "scratch,self_supervised",
                 "--subset-epochs", "2", "--ssl-epochs", "1", "--threads", "1"], tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    # mean (range), then ", k collapsed" where runs called every image one class (likely after 2 epochs)
    assert re.search(r"\| 16 \| [01]\.\d{3} \([01]\.\d{3}-[01]\.\d{3}\)[^|]*\| [01]\.\d{3} \([^|]*\| self_supervised \d/2 \|",
                     out)
    assert re.search(r"^\| 16 \| [01]\.\d{3} \(", out.split("(d) linear probe")[1], re.M)
    spread = out.split("(e) training-seed spread")[1]
    # scratch's mean and spread, the source's, then its mean gain and paired wins out of 2 subsets x 2 seeds
    assert re.search(r"\| 16 \| [01]\.\d{3} \(\d\.\d{3}\) \| [01]\.\d{3} \(\d\.\d{3}\) \| [+-]\d\.\d{3}, [0-4]/4 \|", spread)
    # the subset seed s trained with training seed s is the run of (b): one implementation, the same AUROC
    for seed in (0, 1):
        for path in ("scratch", "self_supervised"):
            b = re.search(rf"n=16 seed={seed} {path}: val AUROC (\d\.\d{{3}})", out).group(1)
            e = re.search(rf"n=16 subset seed {seed}:.*\b{path} ([\d./]+)", out).group(1).rstrip(",").split("/")
            assert e[seed] == b, (path, seed)


def test_missing_file_names_it_and_says_what_to_pass(tmp_path):
    done = _run(["--data", str(tmp_path / "absent.npz"), "--only", "spread"], tmp_path)
    assert done.returncode != 0
    assert "absent.npz: not found" in done.stderr and "--data PATH" in done.stderr
