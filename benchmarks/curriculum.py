"""Wall time and peak memory of every curriculum notebook, against the budgets.

Runs each source notebook in ``instructor/notebooks/`` (with its solutions) top to bottom in a fresh kernel (as the
tests and ``radnb course grade`` do) and prints a table. Budgets, on 2 CPU
cores: at most 5 minutes and 2 GB per notebook, 25 minutes for the whole
curriculum. The baseline row is an empty notebook that only imports radnb,
measured in the same run (kernel start-up and import cost), and the ratio
column compares each notebook with it.

Then, per notebook, every duration the prose claims ("about a minute on a
CPU", "two and a half minutes") is printed next to what this run measured for
the cells it describes, and flagged ``EXCEEDED`` when the run took more than
half as long again (measured > 1.5 x the claim's upper end). Which cells a
claim describes: a sentence about "the training cell(s)" means the cells that
train (``fit``, ``fine_tune``, ``pretrain``); one about "the notebook" the
whole run; any other claim the code cells that follow its text up to the next
text cell. The student's own reading time ("Estimated time") and Colab's
install comment are not claims about this machine and are skipped.

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
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from radnb.grading.execute import run_notebook  # noqa: E402

#: a claim is exceeded when the run takes more than this many times its upper end
CLAIM_SLACK = 1.5

_NUM = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
        "eight": 8, "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "a few": 3,
        "a couple of": 2, "half a": 0.5, "half an": 0.5}
_UNIT = {"second": 1, "sec": 1, "s": 1, "minute": 60, "min": 60, "hour": 3600}
_WORD = r"(?:\d+(?:\.\d+)?|a few|a couple of|half an?|an?|one|two|three|four|five|six|seven|eight|nine|ten|fifteen|twenty|thirty)"
_CLAIM = re.compile(
    rf"\b(?P<lo>{_WORD})(?P<and_half> and a half)?(?:\s*(?:–|-|to|or)\s*(?P<hi>{_WORD}))?"
    # a number word needs a space before its unit ("ten s" is not "tens"); "a second" is an ordinal
    r"(?:\s+|(?<=\d)\s*)(?P<unit>seconds\b|secs?\b|s\b|minutes?\b|mins?\b|hours?\b)"
    r"(?:\s+or\s+(?P<or>two|three|so)\b)?",
    re.IGNORECASE,
)
_SKIP_LINE = re.compile(r"^#")  # headings
# the student's reading time, Binder's idle limit and Colab's install are not about this machine
_SKIP_SENTENCE = re.compile(r"idle|colab", re.IGNORECASE)
_ESTIMATED = re.compile(r"estimated time\W*\d+\s*(?:–|-|to)?\s*\d*\s*(?:minutes|hours)\.?", re.IGNORECASE)


def _number(word: str) -> float:
    word = word.lower().strip()
    return float(word) if word[0].isdigit() else float(_NUM[word])


def duration_claims(text: str) -> list:
    """Durations a text claims, as (phrase, upper end in seconds, sentence).

    Examples
    --------
    >>> [(p, hi) for p, hi, _ in duration_claims("Training takes about a minute or two on a CPU.")]
    [('a minute or two', 120.0)]
    >>> [hi for _, hi, _ in duration_claims("in about two and a half minutes; then 10-20 seconds.")]
    [150.0, 20.0]
    >>> duration_claims("**Estimated time.** 60–90 minutes.")
    []
    """
    out = []
    # one paragraph at a time (a sentence may wrap onto the next line), headings left out
    paragraphs = re.split(r"\n\s*\n", text)
    for para in paragraphs:
        line = " ".join(x.strip() for x in para.splitlines() if x.strip() and not _SKIP_LINE.search(x.strip()))
        line = _ESTIMATED.sub("", line)
        for sentence in re.split(r"(?<=[.;!?])\s+", line):
            if _SKIP_SENTENCE.search(sentence):
                continue
            for m in _CLAIM.finditer(sentence):
                if m.group("unit").lower() == "s" and not m.group("lo")[0].isdigit():
                    continue
                if sentence[m.end():].lstrip().startswith("to "):  # "a few seconds to a minute": the upper end counts
                    continue
                unit = _UNIT[m.group("unit").lower().rstrip("s") or "s"]
                lo = _number(m.group("lo")) + (0.5 if m.group("and_half") else 0.0)
                hi = _number(m.group("hi")) if m.group("hi") else lo
                if m.group("or") in ("two", "three"):
                    hi = _number(m.group("or"))
                elif m.group("or") == "so":
                    hi = lo * 1.5
                if m.group("lo").lower() == "a few":
                    hi = 5.0
                out.append((m.group(0).strip(), float(max(lo, hi) * unit), sentence.strip()))
    return out


_TRAINING = re.compile(r"\.fit(?:_one_cycle|_flat_cos)?\(|\.fine_tune\(|pretrain\(")


def claims_vs_measured(nb, cell_seconds: dict, wall_s: float) -> list:
    """Rows (cell number, phrase, claimed s, measured s, what was measured) for one executed notebook."""
    cells = nb.cells
    rows = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        for phrase, claimed, sentence in duration_claims(cell.source):
            low = sentence.lower()
            if "training cell" in low or "training takes" in low or "slow cell" in low:
                idx = [k for k, c in enumerate(cells) if c.cell_type == "code" and _TRAINING.search(c.source)]
                what = "training cells" if len(idx) != 1 else f"training cell {idx[0] + 1}"
                measured = sum(cell_seconds.get(k, 0.0) for k in idx)
            elif "notebook" in low and ("finish" in low or "runs" in low or "whole" in low):
                what, measured = "whole notebook", wall_s
            else:
                idx = []
                for k in range(i + 1, len(cells)):
                    if cells[k].cell_type == "markdown":
                        break
                    idx.append(k)
                if not idx:
                    continue
                what = f"cells {idx[0] + 1}-{idx[-1] + 1}" if len(idx) > 1 else f"cell {idx[0] + 1}"
                measured = sum(cell_seconds.get(k, 0.0) for k in idx)
            rows.append((i + 1, phrase, claimed, measured, what))
    return rows


def print_claims(name: str, rows: list) -> bool:
    """Print the claims table of one notebook; True when a claim was exceeded by more than half."""
    if not rows:
        print(f"  {name}: no durations claimed in the prose")
        return False
    exceeded = False
    for cell, phrase, claimed, measured, what in rows:
        bad = measured > CLAIM_SLACK * claimed
        exceeded |= bad
        print(f"  {name:24s} text cell {cell:3d}  claims {phrase!r:34s} (<= {claimed:6.0f} s)  "
              f"measured {measured:7.1f} s ({what})  {'EXCEEDED' if bad else 'ok'}")
    return exceeded

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

    notebooks = sorted((ROOT / "instructor" / "notebooks").glob("[0-9][0-9]_*.ipynb"))  # with solutions
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
    claim_rows = {}
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
        claim_rows[path.stem] = claims_vs_measured(report.notebook, report.cell_seconds, wall)
        for p in problems[:3]:
            print(f"{'':30s}! {p}", flush=True)
    total = sum(r[1] for r in rows)
    total_ok = total <= TOTAL_BUDGET_S
    over |= not total_ok
    print("-" * len(header))
    print(f"{'total':28s} {total:8.1f} {'':7s} {max(r[2] for r in rows):8.0f}  {'ok' if total_ok else 'OVER'}")
    print(f"budgets: <= {BUDGET_S / 60:.0f} min and <= {BUDGET_MB / 1024:.0f} GB per notebook, "
          f"<= {TOTAL_BUDGET_S / 60:.0f} min in total (2 CPU cores)")
    print(f"\nDurations the prose claims vs this run ({cores} CPU core(s); EXCEEDED = measured > "
          f"{CLAIM_SLACK:g} x the claim)")
    claims_over = False
    for name, crows in claim_rows.items():
        claims_over |= print_claims(name, crows)
    over |= claims_over
    if claims_over:
        print("Some claims are exceeded: correct the prose (or the cells) so that it says what a 2-core machine measures.")
    return 1 if (over and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
