"""Prepare what ``benchmarks/gpu.py`` needs on a lent GPU machine that has no internet: wheels and the real data.

The device machine (see docs/DEVELOPING.md, "GPU") has Python 3.12 with torch 2.11, torchvision,
numpy, pandas, scikit-learn, matplotlib and pillow, but not fastai, pydicom, anywidget or the
Jupyter kernel stack. This script asks pip's resolver (without installing anything) what radnb's
run-time stack needs on that Python, drops what the device image already holds and what the
benchmark never imports (spaCy, which fastai lists for its text models only), downloads the rest
with ``--no-deps`` into ``.whl/`` (git-ignored), copies the PneumoniaMNIST file next to them and
prints the total size, which must stay under the device tool's 64 MiB per call.

Usage::

    python benchmarks/gpu_wheels.py            # then run the command it prints with the device tool
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_26_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux_2_12_x86_64",
             "manylinux1_x86_64"]
WANTED = ["fastai>=2.7.18", "pydicom>=3.0", "pylibjpeg>=2.0", "pylibjpeg-libjpeg>=2.1", "pylibjpeg-openjpeg>=2.3",
          "pylibjpeg-rle>=2.0", "anywidget>=0.9", "ipywidgets>=7.7", "nbclient>=0.7", "nbformat>=5.7", "ipykernel"]
# From the device tool's package list of its 'cuda' image (read 2026-11-17): already there, never carried.
ON_DEVICE = set("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson
ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba
numba-cuda numpy numpyro onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx
optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client
propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest
pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex
requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq
torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect
urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
""".split())
# fastai's text models only (fastai.vision never imports them): ~40 MB not worth carrying.
NOT_NEEDED = {"spacy", "thinc", "blis", "cymem", "preshed", "murmurhash", "srsly", "wasabi", "weasel", "catalogue",
              "confection", "spacy-legacy", "spacy-loggers", "cloudpathlib", "langcodes", "language-data", "marisa-trie",
              "smart-open", "pydantic", "pydantic-core", "annotated-types", "typing-inspection"}
REAL_DATA = ROOT.parent / "shared" / "data" / "pneumoniamnist_trainval.npz"
DEVICE_COMMAND = (
    "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "
    ".whl/*.whl && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 RADNB_DATA=/tmp/radnb-data || exit; "
    "python3 -m ipykernel install --user --name python3 >/dev/null; "
    "python3 benchmarks/gpu.py --pneumonia .whl/pneumoniamnist_trainval.npz --json $OUT/gpu.json 2>&1 | tee $OUT/gpu.log"
)


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def resolve(python_version: str) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
               str(report), "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
               "--target", str(Path(tmp) / "target")]
        for platform in PLATFORMS:
            cmd += ["--platform", platform]
        subprocess.run(cmd + WANTED, check=True)
        data = json.loads(report.read_text())
    return [(item["metadata"]["name"], item["metadata"]["version"]) for item in data["install"]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python-version", default="3.12", help="the device machine's Python (default 3.12)")
    ap.add_argument("--dest", default=str(ROOT / ".whl"))
    args = ap.parse_args(argv)
    dest = Path(args.dest)
    dest.mkdir(exist_ok=True)
    carried = [(n, v) for n, v in resolve(args.python_version)
               if normalise(n) not in ON_DEVICE and normalise(n) not in NOT_NEEDED
               and not normalise(n).startswith("nvidia-")]  # CUDA libraries come with the device's own torch
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version",
           args.python_version, "--implementation", "cp", "-d", str(dest)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    subprocess.run(cmd + [f"{n}=={v}" for n, v in carried], check=True)
    if REAL_DATA.exists():
        shutil.copy2(REAL_DATA, dest / REAL_DATA.name)
    else:
        print(f"note: {REAL_DATA} is missing, so the PneumoniaMNIST rows will say 'skipped'")
    total = sum(p.stat().st_size for p in dest.iterdir() if p.is_file())
    print(f"{len(carried)} wheels in {dest} ({total / 2**20:.1f} MiB with the data; the device tool carries <= 64 MiB):")
    print("  " + ", ".join(f"{n} {v}" for n, v in carried))
    print("Device command (carry ['.whl']):")
    print("  " + DEVICE_COMMAND)
    return 0 if total < 60 * 2**20 else 1


if __name__ == "__main__":
    sys.exit(main())
