"""radnb's training defaults on real radiographs: PneumoniaMNIST (paediatric chest films, normal vs pneumonia).

Reads ``../shared/data/pneumoniamnist_trainval.npz`` (from the project root; override with ``--data``): the
train (3,882) and validation (524) splits of PneumoniaMNIST, MedMNIST v2, CC BY 4.0. The validation split is
scored once per model as a held-out set (a git worktree elsewhere: ``--data PATH`` or ``RADNB_REAL_DATA``): it goes into radnb as the ``test`` rows of the split column, so it is
never trained on, never used to choose an epoch and never used to choose a threshold. Within the training rows
radnb's defaults hold out patients for validation (the epoch kept, the threshold chosen).

Prints five tables:

(a) ``full``: the whole training split with every default (``classification_dls`` -> ``classifier`` ->
    ``fit_one_cycle(--epochs)``): AUROC on the PneumoniaMNIST validation split, accuracy at 0.5 and at the
    threshold that maximises balanced accuracy on radnb's own validation slice of the training data, wall and
    CPU time, peak memory and the epoch kept. Target: AUROC >= 0.97 within 10 minutes on 2 cores.
(b) ``subsets``: 32 / 64 / 128 / 512 labelled training images x seeds, for each starting point - ``scratch``,
    ``synthetic`` (``radnb.pretrain()``, the synthetic chest source) and ``self_supervised``
    (``radnb.pretrain("self_supervised", data=<all training images, labels unused>)``): mean and range of the
    validation AUROC, and how many runs collapsed (one class for every image at 0.5). Every run uses radnb's
    defaults: ``fit_one_cycle(--subset-epochs)`` from scratch, ``fine_tune(--subset-epochs)`` from a source
    (``learn.fine_tune_lr``).
(c) ``synthetic``: the same defaults on radnb's synthetic chest set (``sample_data("chest_xray")``).
(d) ``probe``: a linear probe (logistic regression) on each source's frozen features, and on an untrained
    encoder's, for the subsets of (b): how much each representation knows before any fine-tuning.
(e) ``spread``: the subsets of (b) at 32 / 64 / 128 images, each trained with ``--train-seeds`` training seeds
    (weights, batch order, augmentation, radnb's validation split) from each starting point: how far one run
    moves with its training seed alone (the noise floor of a one-run comparison), the mean gain of each
    source over scratch and its paired wins (same subset, same training seed).

The machine the numbers are measured on is reported; timings on a shared machine are under load, so the CPU
seconds of the process are printed next to the wall time. Usage::

    python benchmarks/real_data.py [--only full,subsets,synthetic,probe,spread] [--seeds 3] [--sizes 32,64,128,512]
                                   [--epochs N] [--subset-epochs N] [--paths scratch,synthetic,self_supervised]
                                   [--train-seeds 5] [--spread-sizes 32,64,128]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
DEFAULT_DATA = Path(os.environ.get("RADNB_REAL_DATA") or
                    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pneumoniamnist_trainval.npz")
NAMES = {0: "normal", 1: "pneumonia"}


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def load_npz(path: Path):
    if not path.exists():
        sys.exit(f"{path}: not found. This benchmark needs the shared PneumoniaMNIST file "
                 "(../shared/data/pneumoniamnist_trainval.npz from the project root) or --data PATH.")
    with np.load(path) as d:
        return (d["train_images"], d["train_labels"].reshape(-1).astype(int),
                d["val_images"], d["val_labels"].reshape(-1).astype(int))


def split_table(train_x, train_y, val_x, val_y, pick=None):
    """Arrays + labels + patients + split column: training rows 'train', PneumoniaMNIST's validation rows 'test'."""
    idx = np.arange(len(train_x)) if pick is None else np.asarray(pick)
    images = np.concatenate([train_x[idx], val_x])
    labels = [NAMES[int(v)] for v in np.concatenate([train_y[idx], val_y])]
    patients = [f"train-{i}" for i in idx] + [f"val-{i}" for i in range(len(val_x))]
    split = ["train"] * len(idx) + ["test"] * len(val_x)
    return images, labels, patients, split


def fit(learn, epochs, fine_tune):
    start, cpu = time.perf_counter(), time.process_time()
    with learn.no_bar(), learn.no_logging():
        if fine_tune:
            learn.fine_tune(epochs)  # radnb's defaults (learn.fine_tune_lr, learn.fine_tune_lr_mult)
        else:
            learn.fit_one_cycle(epochs)
    return time.perf_counter() - start, time.process_time() - cpu


def collapsed(report) -> bool:
    return report.table["prediction"].nunique() == 1


def best_threshold(learn) -> float:
    """The threshold that maximises balanced accuracy on radnb's validation rows (training data, never the test)."""
    import radnb.train as rt

    table = rt.evaluate(learn, n_bootstrap=0).thresholds
    return float(table.loc[table["balanced_accuracy"].idxmax(), "threshold"])


def run_full(data, epochs):
    import radnb.train as rt
    from fastai.torch_core import set_seed

    set_seed(0)
    start, cpu = time.perf_counter(), time.process_time()
    images, labels, patients, split = split_table(*data)
    dls = rt.classification_dls(images, label=labels, patient=patients, split=split, progress=False)
    learn = rt.classifier(dls)
    fit_wall, fit_cpu = fit(learn, epochs, False)
    threshold = best_threshold(learn)
    at_half = rt.evaluate(learn, "test", n_bootstrap=200)
    at_chosen = rt.evaluate(learn, "test", threshold=threshold, n_bootstrap=0)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print("\n(a) full training split, radnb defaults "
          f"({learn.radnb.arch}, {dls.radnb.preprocessing.size}px, bs {dls.bs}, lr {learn.lr:g}, {epochs} epochs; "
          f"{len(dls.train_ds)} train / {len(dls.valid_ds)} radnb-valid / {len(dls.radnb.test_records)} PneumoniaMNIST-val)")
    print("| val AUROC (95% CI) | acc @0.5 | threshold chosen | acc @chosen | bal. acc @chosen | epoch kept | "
          "wall s (fit) | CPU s | peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {at_half.auc:.4f} ({at_half.auc_ci[0]:.3f}-{at_half.auc_ci[1]:.3f}) | {at_half.metrics['accuracy']:.3f} | "
          f"{threshold:.2f} | {at_chosen.metrics['accuracy']:.3f} | {at_chosen.metrics['balanced_accuracy']:.3f} | "
          f"{learn.keep_best_epoch.epoch_kept} of {epochs} | {wall:.0f} ({fit_wall:.0f}) | {cpu:.0f} | "
          f"{peak_rss_gb():.2f} |", flush=True)


def subset(train_y, n, seed):
    """n training images drawn at random with the training split's class mix, at least 4 of each class."""
    rng = np.random.default_rng(seed)
    normal, pneumonia = np.flatnonzero(train_y == 0), np.flatnonzero(train_y == 1)
    n_normal = max(4, int(round(n * len(normal) / len(train_y))))
    return np.sort(np.concatenate([rng.choice(normal, n_normal, replace=False),
                                   rng.choice(pneumonia, n - n_normal, replace=False)]))


def make_sources(train_x, paths, ssl_epochs=None, ssl_items=None) -> dict:
    """The pretrained files each path of ``paths`` fine-tunes from (radnb caches them: later calls are instant)."""
    import radnb

    sources = {}
    if "synthetic" in paths:
        t0, c0 = time.perf_counter(), time.process_time()
        sources["synthetic"] = radnb.pretrain(size=28, windows=None, verbose=False)
        print(f"synthetic source (radnb.pretrain(), chest_xray_external at 28px): {time.perf_counter() - t0:.0f} s wall, "
              f"{time.process_time() - c0:.0f} s CPU", flush=True)
    if "self_supervised" in paths:
        t0, c0 = time.perf_counter(), time.process_time()
        sources["self_supervised"] = radnb.pretrain("self_supervised", data=train_x, windows=None, verbose=False,
                                                    epochs=ssl_epochs, max_items=ssl_items)
        print(f"self-supervised source (contrastive, {min(len(train_x), ssl_items or len(train_x))} unlabelled "
              f"training images, {ssl_epochs or 'default'} epochs): "
              f"{time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU", flush=True)
    return sources


def train_once(data, pick, seed, path, sources, epochs):
    """One run of radnb's defaults on the training images ``pick``, training seed ``seed``, starting from ``path``.

    ``seed`` seeds fastai (initial weights, batch order, augmentation) and radnb's own validation split of the
    labelled images; the PneumoniaMNIST validation split is scored as the held-out test rows.
    """
    import radnb.train as rt
    from fastai.torch_core import set_seed

    images, labels, patients, split = split_table(*data, pick=pick)
    set_seed(seed)
    dls = rt.classification_dls(images, label=labels, patient=patients, split=split, seed=seed, progress=False)
    learn = rt.classifier(dls, pretrained=sources.get(path, False))
    wall, _ = fit(learn, epochs, path != "scratch")
    return rt.evaluate(learn, "test", n_bootstrap=0), learn, wall


def run_subsets(data, sizes, seeds, epochs, paths, ssl_epochs=None, ssl_items=None):
    train_x, train_y, _, _ = data
    sources = make_sources(train_x, paths, ssl_epochs, ssl_items)
    results = {}
    for n in sizes:
        for seed in seeds:
            pick = subset(train_y, n, seed)
            for path in paths:
                report, learn, wall = train_once(data, pick, seed, path, sources, epochs)
                results.setdefault((n, path), []).append((report.auc, collapsed(report), wall))
                print(f"  n={n} seed={seed} {path}: val AUROC {report.auc:.3f}, kept epoch "
                      f"{learn.keep_best_epoch.epoch_kept}, collapsed at 0.5: {collapsed(report)}, {wall:.0f} s",
                      flush=True)
    print(f"\n(b) labelled subsets of the training split, {len(seeds)} seeds, {epochs} epochs "
          "(fit_one_cycle from scratch; fine_tune from a pretrained file, radnb's default rates); AUROC on the "
          "PneumoniaMNIST validation split")
    print("| images | " + " | ".join(paths) + " | pretrained beats scratch (seeds) |")
    print("|---|" + "---|" * len(paths) + "---|")
    for n in sizes:
        cells = []
        for path in paths:
            aucs = np.array([r[0] for r in results[(n, path)]])
            n_coll = sum(r[1] for r in results[(n, path)])
            cells.append(f"{aucs.mean():.3f} ({aucs.min():.3f}-{aucs.max():.3f})" + (f", {n_coll} collapsed" if n_coll else ""))
        wins = []
        for path in paths:
            if path == "scratch" or ("scratch" not in paths):
                continue
            w = sum(a[0] > b[0] for a, b in zip(results[(n, path)], results[(n, "scratch")]))
            wins.append(f"{path} {w}/{len(seeds)}")
        print(f"| {n} | " + " | ".join(cells) + f" | {', '.join(wins)} |", flush=True)


def run_spread(data, sizes, seeds, train_seeds, epochs, paths, ssl_epochs=None, ssl_items=None):
    """(e): how much one run varies with its training seed alone, next to what a source adds.

    The subsets of (b) (subset seeds ``seeds``), each trained with every training seed of ``train_seeds``
    from each starting point. Per path: the mean AUROC over all runs and its spread across training seeds on
    one subset (standard deviation, averaged over subsets; scratch's is the noise floor of a one-run
    comparison); per source, with scratch among ``paths``: its mean gain over scratch and its paired wins
    (same subset, same training seed).
    """
    train_x, train_y, _, _ = data
    sources = make_sources(train_x, paths, ssl_epochs, ssl_items)
    auc = {}
    for n in sizes:
        for s in seeds:
            pick = subset(train_y, n, s)
            for t in train_seeds:
                for path in paths:
                    auc[(n, s, t, path)] = train_once(data, pick, t, path, sources, epochs)[0].auc
            print(f"  n={n} subset seed {s}: " + ", ".join(
                f"{p} " + "/".join(f"{auc[(n, s, t, p)]:.3f}" for t in train_seeds) for p in paths), flush=True)
    print(f"\n(e) training-seed spread: the subsets of (b) (seeds {seeds[0]}-{seeds[-1]}), each trained with "
          f"{len(train_seeds)} training seeds, {epochs} epochs; AUROC on the PneumoniaMNIST validation split")
    others = [p for p in paths if p != "scratch"] if "scratch" in paths else []
    heads = [f"{p} mean (sd within a subset)" for p in paths] + [f"{p}: mean gain, paired wins" for p in others]
    print("| images | " + " | ".join(heads) + " |")
    print("|---|" + "---|" * (len(paths) + len(others)))
    for n in sizes:
        cells = []
        for p in paths:
            runs = np.array([[auc[(n, s, t, p)] for t in train_seeds] for s in seeds])
            cells.append(f"{runs.mean():.3f} ({runs.std(axis=1, ddof=1).mean():.3f})")
        for p in others:
            pairs = [(auc[(n, s, t, p)], auc[(n, s, t, "scratch")]) for s in seeds for t in train_seeds]
            gain = np.mean([a - b for a, b in pairs])
            cells.append(f"{gain:+.3f}, {sum(a > b for a, b in pairs)}/{len(pairs)}")
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


def pooled_features(learn, images) -> np.ndarray:
    """What the classifier's head sees for each image (the encoder's pooled features), in eval mode."""
    import torch
    from radnb.train.prep import ArrayItem

    captured = []
    hook = learn.model.head.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].detach()))
    try:
        with learn.no_bar():
            learn.get_preds(dl=learn.dls.test_dl([ArrayItem(x) for x in images]))
    finally:
        hook.remove()
    return torch.cat(captured).float().numpy()


def run_probe(data, sizes, seeds, paths, ssl_epochs=None, ssl_items=None):
    """(d): how good is each source's representation before fine-tuning? A linear probe on frozen features.

    The same labelled subsets as (b); a logistic regression (scikit-learn, C=0.1 on standardised features) on
    the pooled features of each source's encoder, and of an untrained encoder (``scratch``: random weights).
    A representation that helps the task ranks the validation films better than random features do.
    """
    import radnb.train as rt
    from fastai.torch_core import set_seed
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_x, train_y, val_x, val_y = data
    sources = make_sources(train_x, paths, ssl_epochs, ssl_items)
    images, labels, patients, split = split_table(*data)
    dls = rt.classification_dls(images, label=labels, patient=patients, split=split, progress=False)
    features = {}
    for path in paths:
        set_seed(0)
        learn = rt.classifier(dls, pretrained=sources.get(path, False))
        features[path] = (pooled_features(learn, train_x), pooled_features(learn, val_x))
    results = {}
    for n in sizes:
        for seed in seeds:
            pick = subset(train_y, n, seed)
            for path, (train_f, val_f) in features.items():
                probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
                probe.fit(train_f[pick], train_y[pick])
                results.setdefault((n, path), []).append(roc_auc_score(val_y, probe.decision_function(val_f)))
    names = ["random weights" if p == "scratch" else p for p in paths]
    print(f"\n(d) linear probe: logistic regression on each encoder's frozen pooled features, the labelled subsets "
          f"of (b), {len(seeds)} seeds; AUROC on the PneumoniaMNIST validation split")
    print("| images | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(paths))
    for n in sizes:
        cells = [f"{np.mean(results[(n, p)]):.3f} ({min(results[(n, p)]):.3f}-{max(results[(n, p)]):.3f})" for p in paths]
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


def run_synthetic(epochs):
    import radnb
    import radnb.train as rt
    from fastai.torch_core import set_seed

    set_seed(0)
    start, cpu = time.perf_counter(), time.process_time()
    dls = rt.classification_dls(radnb.sample_data("chest_xray"), windows="auto", progress=False)
    learn = rt.classifier(dls)
    fit_wall, _ = fit(learn, epochs, False)
    report = rt.evaluate(learn, n_bootstrap=200)
    print(f"\n(c) synthetic chest set (sample_data('chest_xray'): {len(dls.train_ds)} train / {len(dls.valid_ds)} valid, "
          f"{learn.radnb.arch}, {dls.radnb.preprocessing.size}px, {epochs} epochs)")
    print("| AUROC (95% CI) | acc @0.5 | epoch kept | wall s (fit) | CPU s |")
    print("|---|---|---|---|---|")
    print(f"| {report.auc:.3f} ({report.auc_ci[0]:.3f}-{report.auc_ci[1]:.3f}) | {report.metrics['accuracy']:.3f} | "
          f"{learn.keep_best_epoch.epoch_kept} | {time.perf_counter() - start:.0f} ({fit_wall:.0f}) | "
          f"{time.process_time() - cpu:.0f} |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="full,subsets,synthetic,probe,spread")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--epochs", type=int, default=10, help="epochs of the full-data and synthetic runs")
    ap.add_argument("--subset-epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sizes", default="32,64,128,512")
    ap.add_argument("--paths", default="scratch,synthetic,self_supervised")
    ap.add_argument("--train-seeds", type=int, default=5, help="training seeds per subset in (e)")
    ap.add_argument("--spread-sizes", default="32,64,128", help="subset sizes of (e)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the target machine has 2 cores)")
    ap.add_argument("--ssl-epochs", type=int, default=None, help="epochs of the self-supervised source (default: radnb's)")
    ap.add_argument("--ssl-items", type=int, default=None, help="unlabelled images for it (default: all training images)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from radnb.system import device_info

    info = device_info()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device: {info.kind}, torch threads {torch.get_num_threads()}, load average at start {load:.1f} "
          f"(a shared machine: wall times are under load; CPU seconds are the process's own)", flush=True)
    only = set(args.only.split(","))
    if only & {"full", "subsets", "probe", "spread"}:
        data = load_npz(args.data.resolve())
    sizes, seeds, paths = [int(s) for s in args.sizes.split(",")], list(range(args.seeds)), args.paths.split(",")
    if "full" in only:
        run_full(data, args.epochs)
    if "subsets" in only:
        run_subsets(data, sizes, seeds, args.subset_epochs, paths, args.ssl_epochs, args.ssl_items)
    if "synthetic" in only:
        run_synthetic(args.epochs)
    if "probe" in only:
        run_probe(data, sizes, seeds, paths, args.ssl_epochs, args.ssl_items)
    if "spread" in only:
        run_spread(data, [int(v) for v in args.spread_sizes.split(",")], seeds, list(range(args.train_seeds)),
                   args.subset_epochs, paths, args.ssl_epochs, args.ssl_items)
    return 0


if __name__ == "__main__":
    sys.exit(main())
