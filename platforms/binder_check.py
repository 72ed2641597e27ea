"""Build ``binder/`` the way repo2docker does, then run every notebook in that environment.

repo2docker with a ``binder/`` folder: the Python named in ``runtime.txt``, then
``pip install -r binder/requirements.txt``, then ``binder/postBuild`` (no root), all in
the repository copied to the user's home. This script reproduces that without Docker:

1. copy the checkout (tracked and untracked, not ignored files) to ``<work>/home/repo``;
2. make a fresh virtual environment with the ``runtime.txt`` Python (pyenv or PATH);
3. ``pip install -r binder/requirements.txt`` and run ``binder/postBuild`` with that
   environment first on ``PATH``, ``HOME=<work>/home`` and no ``PYTHONPATH`` (so the
   notebooks import the radnb that postBuild installed, not this checkout);
4. execute every ``notebooks/NN_*.ipynb`` top to bottom in a fresh kernel of that
   environment (``radnb.grading.execute.run_notebook``), measuring the kernel's peak
   resident memory against Binder's 2 GB.

Differences from mybinder.org, printed with the results: it runs as the current user in
a virtual environment (not a container as ``jovyan``), and when the PyTorch CPU index
(download.pytorch.org) is unreachable the build uses the torch the package index offers
(here a CUDA build: bigger download and a little more memory at import, same CPU code).

``python platforms/binder_check.py`` (``make binder-check``) prints a table and exits 1
when the build fails, a notebook fails, runs past its time budget or exceeds 2 GB.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parent.parent
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
BINDER_RAM_MB = 2048
NOTEBOOK_BUDGET_S = 600  # as tests/test_notebooks.py

_RUNNER = r"""
import json, sys
from pathlib import Path
from radnb.grading.execute import run_notebook
path, budget = Path(sys.argv[1]), float(sys.argv[2])
r = run_notebook(path, timeout=budget, cwd=path.parent)
print("RESULT", json.dumps({"wall_s": r.wall_s, "peak_rss_mb": r.peak_rss_mb, "timed_out": r.timed_out,
      "errors": [str(e)[:600] for e in r.errors], "dead_cells": list(r.dead_cells)}))
"""


@dataclass
class NotebookRun:
    name: str
    wall_s: float
    peak_rss_mb: float
    ok: bool
    problem: str = ""


@dataclass
class BinderReport:
    python: str = ""
    build_s: float = 0.0
    torch: str = ""
    notes: List[str] = field(default_factory=list)
    notebooks: List[NotebookRun] = field(default_factory=list)
    build_error: str = ""

    @property
    def ok(self) -> bool:
        return not self.build_error and bool(self.notebooks) and all(n.ok for n in self.notebooks)

    def table(self) -> str:
        lines = [f"Binder build (repo2docker steps in a fresh venv): Python {self.python}, torch {self.torch}, "
                 f"build {self.build_s:.0f} s"]
        lines += [f"  note: {n}" for n in self.notes]
        if self.build_error:
            lines.append(f"  BUILD FAILED: {self.build_error}")
        lines.append(f"{'notebook':<28} {'wall s':>8} {'peak MB':>9}  verdict (limit {BINDER_RAM_MB} MB)")
        for n in self.notebooks:
            lines.append(f"{n.name:<28} {n.wall_s:>8.1f} {n.peak_rss_mb:>9.0f}  {'ok' if n.ok else 'FAILED: ' + n.problem}")
        return "\n".join(lines)


def runtime_python(binder: Path) -> str:
    """The interpreter ``binder/runtime.txt`` asks for (``python-3.11`` -> a Python 3.11)."""
    text = (binder / "runtime.txt").read_text().strip() if (binder / "runtime.txt").exists() else "python-3.11"
    m = re.fullmatch(r"python-(\d+\.\d+)", text)
    if not m:
        raise SystemExit(f"binder/runtime.txt says {text!r}; repo2docker expects 'python-3.X'")
    version = m.group(1)
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))[::-1]
    candidates += [shutil.which(f"python{version}") or ""]
    for candidate in filter(None, candidates):
        out = subprocess.run([candidate, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip() == version:
            return candidate
    raise SystemExit(f"no Python {version} found (binder/runtime.txt); install it, e.g. with pyenv")


def reachable(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except Exception:
        return False


def copy_checkout(dest: Path) -> None:
    """Copy the files git would put in a clone (tracked + untracked, not ignored)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def build(work: Path, report: BinderReport, log, reuse: bool = False) -> Optional[dict]:
    """Steps 1-3; returns the environment for running the notebooks, or None on failure."""
    home, repo, venv = work / "home", work / "home" / "repo", work / "venv"
    if reuse and (work / "built.json").exists():  # a kept build (--work ... --reuse): run the notebooks again
        saved = json.loads((work / "built.json").read_text())
        report.python, report.torch, report.build_s, report.notes = saved["python"], saved["torch"], saved["build_s"], saved["notes"]
        report.notes.append("reused an earlier build (--reuse): build time is that build's")
        return saved["env"]
    copy_checkout(repo)
    python = runtime_python(repo / "binder")
    start = time.perf_counter()
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "RADNB_DATA")}
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               PIP_DISABLE_PIP_VERSION_CHECK="1", JUPYTER_PLATFORM_DIRS="1")
    requirements = repo / "binder" / "requirements.txt"
    if not reachable(TORCH_CPU_INDEX + "/"):
        report.notes.append(f"{TORCH_CPU_INDEX} is unreachable here: torch comes from the package index instead "
                            "(mybinder.org gets the CPU-only build)")
        kept = [line for line in requirements.read_text().splitlines() if TORCH_CPU_INDEX not in line]
        requirements = work / "requirements-without-cpu-index.txt"
        requirements.write_text("\n".join(kept) + "\n")
        env["RADNB_TORCH_INDEX"] = ""
    report.notes.append("runs as the current user in a virtual environment, not as jovyan in a container")
    steps = [
        # repo2docker adds --no-cache-dir; here pip's cache is kept so a rerun (and CI) reuses the wheels
        ["python", "-m", "pip", "install", "-r", str(requirements)],
        ["bash", str(repo / "binder" / "postBuild")],
    ]
    for step in steps:
        log.write(f"$ {' '.join(step)}\n")
        log.flush()
        done = subprocess.run(step, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            report.build_error = f"`{' '.join(step[:4])}...` exited with {done.returncode} (see {log.name})"
            report.build_s = time.perf_counter() - start
            return None
    report.build_s = time.perf_counter() - start
    info = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import sys, torch, radnb; print(sys.version.split()[0], torch.__version__, radnb.__file__)"],
                          env=env, capture_output=True, text=True, cwd=home)
    if info.returncode != 0:
        report.build_error = f"the built environment cannot import radnb: {info.stderr[-800:]}"
        return None
    report.python, report.torch, radnb_file = info.stdout.split()
    if str(ROOT) in radnb_file:
        report.build_error = f"the notebooks would import this checkout's radnb ({radnb_file}), not the built one"
        return None
    env["_VENV_PYTHON"] = str(venv / "bin" / "python")
    env["_REPO"] = str(repo)
    (work / "built.json").write_text(json.dumps({"python": report.python, "torch": report.torch,
                                                 "build_s": report.build_s, "notes": report.notes, "env": env}))
    return env


def run_notebooks(env: dict, report: BinderReport, names: Optional[List[str]], budget: float) -> None:
    repo = Path(env["_REPO"])
    kernel_env = {k: v for k, v in env.items() if not k.startswith("_")}
    for path in sorted((repo / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if names and not any(path.stem.startswith(n) for n in names):
            continue
        proc = subprocess.run([env["_VENV_PYTHON"], "-c", _RUNNER, str(path), str(budget)], env=kernel_env,
                              cwd=repo, capture_output=True, text=True, timeout=budget + 300)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            report.notebooks.append(NotebookRun(path.stem, 0, 0, False, f"runner failed: {proc.stderr[-600:]}"))
            continue
        r = json.loads(line[7:])
        problem = ""
        if r["timed_out"]:
            problem = f"ran past {budget:.0f} s"
        elif r["errors"] or r["dead_cells"]:
            problem = "; ".join(r["errors"])[:600] or f"kernel died in cells {r['dead_cells']}"
        elif r["peak_rss_mb"] > BINDER_RAM_MB:
            problem = f"peak memory {r['peak_rss_mb']:.0f} MB > Binder's {BINDER_RAM_MB} MB"
        report.notebooks.append(NotebookRun(path.stem, r["wall_s"], r["peak_rss_mb"], not problem, problem))
        print(f"  {path.stem}: {r['wall_s']:.0f} s, {r['peak_rss_mb']:.0f} MB {'ok' if not problem else problem}",
              flush=True)


def check(work: Optional[Path] = None, notebooks: Optional[List[str]] = None,
          budget: float = NOTEBOOK_BUDGET_S, keep: bool = False, reuse: bool = False) -> BinderReport:
    """Build and run; return the report (``work`` defaults to a temporary folder, removed after)."""
    report = BinderReport()
    tmp = Path(tempfile.mkdtemp(prefix="radnb-binder-")) if work is None else Path(work)
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp / "build.log", "w") as log:
            env = build(tmp, report, log, reuse=reuse)
        if env is not None:
            print(f"built in {report.build_s:.0f} s (Python {report.python}, torch {report.torch}); running notebooks",
                  flush=True)
            run_notebooks(env, report, notebooks, budget)
    finally:
        if report.build_error:
            log_text = (tmp / "build.log").read_text()[-3000:]
            report.build_error += "\n" + log_text
        if not keep and work is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for the build (kept); default: a temporary one")
    parser.add_argument("--notebooks", nargs="*", help="only these (prefixes, e.g. 00 01)")
    parser.add_argument("--budget", type=float, default=NOTEBOOK_BUDGET_S, help="seconds per notebook")
    parser.add_argument("--reuse", action="store_true", help="with --work: reuse a finished build there")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    report = check(args.work, args.notebooks, args.budget, reuse=args.reuse)
    print(report.table())
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=1))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
