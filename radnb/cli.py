"""The ``radnb`` command line.

Examples
--------
.. code-block:: console

    $ radnb doctor                 # versions, device, data dir: paste into a help request
    $ radnb data prepare           # write the synthetic sample data sets
    $ radnb data list              # sample sets and public datasets, and what is cached
    $ radnb data get pneumoniamnist
    $ radnb course release instructor/notebooks/ notebooks/
    $ radnb course grade submissions/ --source instructor/notebooks/ --out grades/
    $ radnb train data/chest --epochs 5 --out model.pth
    $ accelerate launch --num_processes 2 -m radnb.cli train data/chest --out model.pth
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from .errors import RadnbError


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .system import doctor, format_report

    print(format_report(doctor()))
    return 0


def _cmd_data_prepare(args: argparse.Namespace) -> int:
    from .data.synthetic import prepare_all

    paths = prepare_all(names=args.only or None)
    for name, path in paths.items():
        print(f"{name:12s} {path}")
    return 0


def _cmd_data_list(args: argparse.Namespace) -> int:
    from .data import datasets, synthetic

    print("Synthetic sample data (made by radnb, always available offline):")
    for name, description in synthetic.SAMPLE_SETS.items():
        state = "ready" if synthetic.is_prepared(name) else "not prepared yet (radnb data prepare)"
        print(f"  {name:14s} {description}  [{state}]")
    print()
    print("Public datasets (downloaded when you have a network):")
    table = datasets.available()
    if len(table):
        print(table.to_string(index=False))
    return 0


def _cmd_data_get(args: argparse.Namespace) -> int:
    from .data import datasets

    result = datasets.load(args.name)
    print(getattr(result, "path", result))
    return 0


def _cmd_course_release(args: argparse.Namespace) -> int:
    from .grading.course import release

    written = release(args.source, args.dest)
    for path in written:
        print(path)
    return 0


def _cmd_course_grade(args: argparse.Namespace) -> int:
    from .grading.course import grade

    result = grade(args.submissions, source=args.source, out=args.out, timeout=args.timeout)
    print(result)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .train.distributed import is_main_process, train

    kwargs = {}
    for name in ("size", "bs", "valid_pct", "label", "patient"):
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value
    if args.windows is not None:
        kwargs["windows"] = tuple(args.windows) if len(args.windows) > 1 else args.windows[0]
    result = train(args.source, task=args.task, out=args.out, epochs=args.epochs, lr=args.lr, arch=args.arch,
                   seed=args.seed, verbose=not args.quiet, **kwargs)
    if is_main_process():
        shown = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        print(f"trained {result.epochs} epoch(s) on {result.processes} process(es) in {result.seconds:.1f} s: {shown}")
        print(f"model: {result.model_path}  (summary: {Path(result.model_path).with_suffix('.json')})")
    return 0


def _cmd_notebooks_clean(args: argparse.Namespace) -> int:
    from .grading.notebooks import clean_notebooks

    changed = clean_notebooks(args.paths)
    for path in changed:
        print(f"cleaned {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser behind ``radnb`` (exposed for tests and docs).

    Examples
    --------
    >>> build_parser().parse_args(["doctor"]).func.__name__
    '_cmd_doctor'
    """
    parser = argparse.ArgumentParser(prog="radnb", description="radnb: deep learning for radiology in Jupyter.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("doctor", help="print versions, compute device and data directory (for help requests)")
    p.set_defaults(func=_cmd_doctor)

    data = sub.add_parser("data", help="sample data and public datasets").add_subparsers(dest="data_command", metavar="ACTION")
    p = data.add_parser("prepare", help="write the synthetic sample data sets (fast, offline)")
    p.add_argument("--only", action="append", metavar="NAME", help="prepare only this set (repeatable)")
    p.set_defaults(func=_cmd_data_prepare)
    p = data.add_parser("list", help="list sample sets and public datasets")
    p.set_defaults(func=_cmd_data_list)
    p = data.add_parser("get", help="download (or reuse the cached copy of) a public dataset")
    p.add_argument("name")
    p.set_defaults(func=_cmd_data_get)

    course = sub.add_parser("course", help="instructor tools: release student notebooks, grade submissions").add_subparsers(
        dest="course_command", metavar="ACTION"
    )
    p = course.add_parser("release", help="write student versions (solutions removed, outputs cleared)")
    p.add_argument("source", help="folder (or notebook) with the instructor versions")
    p.add_argument("dest", help="folder to write the student versions to")
    p.set_defaults(func=_cmd_course_release)
    p = course.add_parser("grade", help="run each submission in a fresh kernel and write a gradebook")
    p.add_argument("submissions", help="folder with one sub-folder (or notebook) per student")
    p.add_argument("--source", default="instructor/notebooks",
                   help="instructor (source) notebooks (default: instructor/notebooks)")
    p.add_argument("--out", default="grades", help="folder for gradebook.csv and feedback (default: grades)")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed per notebook (default: 600)")
    p.set_defaults(func=_cmd_course_grade)

    p = sub.add_parser(
        "train", help="train a classifier or segmenter from a folder or CSV (also under `accelerate launch`)",
        description="Train, save and evaluate a model. On several GPUs: "
                    "accelerate launch --num_processes 2 -m radnb.cli train data/ --out model.pth "
                    "(add --cpu to accelerate launch on a machine without GPUs).")
    p.add_argument("source", help="folder (labels.csv / class sub-folders / cases.csv) or CSV file")
    p.add_argument("--task", choices=["classification", "segmentation"], default="classification")
    p.add_argument("--out", default="model.pth", help="model file to write (default: model.pth; a .json summary beside it)")
    p.add_argument("--epochs", type=int, default=5, help="epochs of fit_one_cycle (default: 5)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the architecture's)")
    p.add_argument("--arch", default="auto", help="architecture (default: auto = compact on CPUs, resnet18 on GPUs)")
    p.add_argument("--size", type=int, default=None, help="image side in pixels (default: depends on the device)")
    p.add_argument("--bs", type=int, default=None, help="batch size per process (default: depends on the device)")
    p.add_argument("--valid-pct", dest="valid_pct", type=float, default=None, help="fraction of patients for validation")
    p.add_argument("--windows", nargs="+", default=None, help="window per channel, e.g. lung mediastinum bone (default: auto)")
    p.add_argument("--label", default=None, help="label column (classification; default: label)")
    p.add_argument("--patient", default=None, help="patient column (default: auto)")
    p.add_argument("--seed", type=int, default=42, help="split, weights and shuffling seed (default: 42)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-process lines")
    p.set_defaults(func=_cmd_train)

    nbs = sub.add_parser("notebooks", help="notebook maintenance").add_subparsers(dest="nb_command", metavar="ACTION")
    p = nbs.add_parser("clean", help="strip outputs, execution counts and Colab metadata")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=_cmd_notebooks_clean)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``radnb`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return func(args)
    except RadnbError as exc:
        print(f"radnb: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
