"""Wall time and peak memory of every curriculum notebook, against the budgets.

Runs each notebook in ``notebooks/`` top to bottom in a fresh kernel (as the
tests and ``radnb course grade`` do) and prints a table. Budgets, on 2 CPU
cores: at most 5 minutes and 2 GB per notebook, 25 minutes for the whole
curriculum. The baseline row is an empty notebook that only imports radnb,
measured in the same run (kernel start-up and import cost), and the ratio
column compares each notebook with it.

The sample data are prepared first (as Binder's postBuild and ``make lab`` do)
and timed separately; ``--no-prepare`` counts data generation in the first
notebook that needs it instead.

Usage::

    python benchmarks/curriculum.py                 # all notebooks, 2 cores, CPU
    python benchmarks/curriculum.py 00_welcome      # some notebooks
    python benchmarks/curriculum.py --cores 0 --device auto   # all cores, GPU if present
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from radnb.grading.execute import run_notebook  # noqa: E402

BUDGET_S = 300.0
BUDGET_MB = 2048.0
TOTAL_BUDGET_S = 1500.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names (default: all in notebooks/)")
    parser.add_argument("--cores", type=int, default=2, help="CPU cores to use (0 = all; default 2, as in the budget)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "auto"], help="cpu (default) or auto (GPU if present)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per notebook (default 600)")
    parser.add_argument("--no-prepare", action="store_true", help="do not prepare the sample data before timing")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a budget is exceeded")
    args = parser.parse_args(argv)

    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.names:
        notebooks = [p for p in notebooks if any(p.stem.startswith(n.replace(".ipynb", "")) for n in args.names)]
    if not notebooks:
        print("no notebooks found", file=sys.stderr)
        return 1
    if args.cores and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[: args.cores]
        os.sched_setaffinity(0, cpus)  # inherited by the kernels started below
    data_dir = Path(os.environ.get("RADNB_BENCH_DATA") or tempfile.mkdtemp(prefix="radnb-bench-data-"))
    env = {"RADNB_DATA": str(data_dir), "RADNB_GRADING_RESULTS": "", "RADNB_GRADING_SEED": ""}
    if args.device == "cpu":
        env["RADNB_DEVICE"] = "cpu"
    if args.cores:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(args.cores)
    os.environ.update(env)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    prepare_s = None
    if not args.no_prepare:
        from radnb.data.synthetic import prepare_all

        t0 = time.perf_counter()
        prepare_all(data_dir=data_dir)
        prepare_s = time.perf_counter() - t0

    print(f"Curriculum run: {len(notebooks)} notebook(s), {cores} CPU core(s), device={args.device}, data in {data_dir}")
    if prepare_s is not None:
        print(f"Sample data prepared beforehand in {prepare_s:.1f} s (not counted below)")
    baseline_nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import radnb\nfrom radnb import grading")])
    baseline = run_notebook(baseline_nb, timeout=120, env=env, cwd=ROOT / "notebooks")
    header = f"{'notebook':28s} {'wall s':>8s} {'x base':>7s} {'peak MB':>8s}  budget"
    print(header)
    print("-" * len(header))
    print(f"{'baseline (import radnb)':28s} {baseline.wall_s:8.1f} {1.0:7.2f} {baseline.peak_rss_mb:8.0f}", flush=True)

    rows = []
    over = False
    for path in notebooks:  # one row as each notebook finishes
        report = run_notebook(path, timeout=args.timeout, env=env, cwd=path.parent)
        problems = [str(e) for e in report.errors] + [f"cell {i + 1} killed the kernel" for i in report.dead_cells]
        wall, peak = report.wall_s, report.peak_rss_mb
        rows.append((path.stem, wall, peak))
        too_big = wall > BUDGET_S or peak > BUDGET_MB or report.timed_out
        over |= too_big or bool(problems)
        verdict = "OVER" if too_big else "ERRORS" if problems else "ok"
        ratio = wall / baseline.wall_s if baseline.wall_s else float("nan")
        print(f"{path.stem:28s} {wall:8.1f} {ratio:7.2f} {peak:8.0f}  {verdict}", flush=True)
        for p in problems[:3]:
            print(f"{'':30s}! {p}", flush=True)
    total = sum(r[1] for r in rows)
    total_ok = total <= TOTAL_BUDGET_S
    over |= not total_ok
    print("-" * len(header))
    print(f"{'total':28s} {total:8.1f} {'':7s} {max(r[2] for r in rows):8.0f}  {'ok' if total_ok else 'OVER'}")
    print(f"budgets: <= {BUDGET_S / 60:.0f} min and <= {BUDGET_MB / 1024:.0f} GB per notebook, "
          f"<= {TOTAL_BUDGET_S / 60:.0f} min in total (2 CPU cores)")
    return 1 if (over and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
