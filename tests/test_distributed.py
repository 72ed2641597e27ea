"""Distributed training for real: two CPU processes (gloo) against a single-process evaluation.

Two launches, each a real 2-process DistributedDataParallel run through fastai's trainer and
Accelerate: ``accelerate launch ... -m radnb.cli train`` (a classifier; AUROC, sensitivity,
specificity) and ``notebook_train`` (Accelerate's ``notebook_launcher``) from a real Jupyter kernel
(a segmenter; Dice). Each checks that the metrics gathered from both processes during training equal
a single-process evaluation of the saved model on the same validation patients, that both processes
made the same split, and that the preprocessing cache was filled once (by process 0).
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("accelerate")

PY = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data_dir: Path) -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["RADNB_DATA"] = str(data_dir)
    env.pop("WORLD_SIZE", None)
    env.pop("RANK", None)
    return env


def _cache_entries(data_dir: Path) -> list:
    return sorted((data_dir / "cache" / "train").rglob("*.npy"))


def test_plain_process_is_a_world_of_one():
    from radnb.train.distributed import is_main_process, rank0_first, rank0_first_when_distributed, world_size

    calls = []
    build = rank0_first_when_distributed(lambda n: calls.append(n) or n * 2)
    assert (world_size(), is_main_process()) == (1, True)
    assert rank0_first(build, 21) == 42 and calls == [21]


def test_cli_rejects_a_bad_task(capsys):
    from radnb.cli import main

    with pytest.raises(SystemExit):
        main(["train", "somewhere", "--task", "detection"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes_match_single_process(tmp_path):
    from radnb.data.synthetic import make_chest_xrays

    table = make_chest_xrays(tmp_path / "cxr", n_patients=28, images_per_patient=(1, 2), size=48, seed=3)
    data_dir = tmp_path / "radnb-data"
    out = tmp_path / "model" / "model.pth"
    cmd = [PY, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           "-m", "radnb.cli", "train", str(tmp_path / "cxr"), "--out", str(out), "--epochs", "3", "--size", "32",
           "--bs", "4", "--seed", "5"]
    proc = subprocess.run(cmd, env=_env(data_dir), cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["processes"] == 2

    # each process reported its split: the same validation patients on both
    lines = re.findall(r"radnb train \[process (\d)/2\]: .*validation patients (.*?); preprocessing cache", proc.stdout)
    assert sorted(n for n, _ in lines) == ["1", "2"], proc.stdout[-3000:]
    assert lines[0][1] == lines[1][1]

    # the cache was filled once: process 0 prepared every image, process 1 only read, one file per image
    cache = {c["rank"]: c for c in summary["cache"]}
    assert cache[0]["prepared"] == len(table) and cache[1]["prepared"] == 0 and cache[1]["reused"] >= len(table)
    assert len(_cache_entries(data_dir)) == len(table)

    # each process's metrics saw every validation prediction once (gathered, fastai's padding removed)
    assert summary["metric_items"] == [summary["n_valid"]] * 2
    # metrics gathered from both processes == process 0's single-process evaluate() of the saved model
    gathered, single = summary["metrics"], summary["evaluation"]
    assert np.isclose(gathered["auroc"], single["auc"], atol=1e-6)
    assert np.isclose(gathered["sensitivity"], single["sensitivity"], atol=1e-6, equal_nan=True)
    assert np.isclose(gathered["specificity"], single["specificity"], atol=1e-6, equal_nan=True)

    # and == an independent evaluation here, in one process, of the model file on the same patients
    import radnb.train as rt

    os.environ["RADNB_DATA"] = str(data_dir)
    try:
        model = rt.load_model(out)
        dls = rt.classification_dls(tmp_path / "cxr", valid_patients=summary["valid_patients"], size=32, bs=4,
                                    progress=False)
        assert len(dls.valid_ds) == summary["n_valid"]
        here = rt.evaluate(model, dls, n_bootstrap=10)
    finally:
        del os.environ["RADNB_DATA"]
    assert np.isclose(here.auc, gathered["auroc"], atol=1e-6)
    assert np.isclose(here.metrics["sensitivity"], gathered["sensitivity"], atol=1e-6, equal_nan=True)
    assert np.isclose(here.metrics["specificity"], gathered["specificity"], atol=1e-6, equal_nan=True)
    # the single-process split with the same seed holds the same validation patients
    split = rt.patient_split(table.assign(patient_id=table.patient_id.astype(str)), "patient_id", valid_pct=0.2,
                             seed=5, stratify="label")[1]
    assert sorted(set(table.patient_id.astype(str).iloc[split])) == summary["valid_patients"]


@pytest.mark.slow
def test_notebook_launcher_from_a_kernel_segmentation_dice(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    from radnb.data.synthetic import make_ct_volumes

    make_ct_volumes(tmp_path / "ct", n_patients=6, shape=(6, 32, 32), seed=0)
    data_dir = tmp_path / "radnb-data"
    out = tmp_path / "seg" / "model.pth"
    cells = [
        "import torch\nassert not torch.cuda.is_initialized()",
        textwrap.dedent(f"""\
            from radnb.train.distributed import notebook_train
            result = notebook_train({str(tmp_path / 'ct')!r}, num_processes=2, task="segmentation",
                                    out={str(out)!r}, epochs=2, size=32, bs=4, windows="abdomen", verbose=False)
            print(result.processes, result.metrics["dice"])"""),
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "RADNB_DATA")}
    os.environ.update({k: v for k, v in _env(data_dir).items() if k in saved})
    try:
        NotebookClient(nb, timeout=400, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert re.search(r"^2 [0-9.]+$", printed, re.M), printed  # the kernel got the result of 2 processes back
    summary = json.loads(out.with_suffix(".json").read_text())
    cache = {c["rank"]: c for c in summary["cache"]}
    assert cache[0]["prepared"] > 0 and cache[1]["prepared"] == 0
    n_entries = len(_cache_entries(data_dir))
    assert n_entries == cache[0]["prepared"]

    # pooled foreground Dice of the saved model over the validation slices, computed here in one process
    import radnb.train as rt
    from radnb.train.metrics import dice
    from radnb.train.prep import SliceItem, load_mask

    os.environ["RADNB_DATA"] = str(data_dir)
    try:
        model = rt.load_model(out)
        dls = rt.segmentation_dls(tmp_path / "ct", valid_patients=summary["valid_patients"], size=32, bs=4,
                                  windows="abdomen")
        preds, refs = [], []
        for img, msk, _ in dls.volumes:
            pred = rt.predict_volume(model, img, cache=dls.cache)
            preds.append(pred)
            refs.append(np.stack([load_mask(SliceItem(msk, z), 32, dls.cache) for z in range(pred.shape[0])]))
    finally:
        del os.environ["RADNB_DATA"]
    assert sum(len(p) for p in preds) == summary["n_valid"]
    per_class = dice(np.concatenate(preds), np.concatenate(refs), n_classes=len(model.info.vocab))
    assert np.isclose(np.nanmean(per_class), summary["metrics"]["dice"], atol=1e-6)
    assert len(_cache_entries(data_dir)) == n_entries  # evaluating here reused the cache, built once


def test_docstring_examples_run(tmp_data_dir):
    import doctest

    import radnb.train.distributed as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
