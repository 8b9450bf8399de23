"""Training recipes for the default ``KerasCNN``, on ESC-10 and FSDD.

Each recipe is a set of ``KerasCNN`` parameters (the architecture is
``sbcnn``, each seed of ``--seeds``, 2 cores). ESC-10: its 5 folds; FSDD: the official split.
One fitted network per recipe and fold is scored with each clip pooling
(``mean`` and ``logmean``), as pooling is applied at prediction only.

Resumable: each (recipe, dataset, fold, seed) is a row of
``benchmarks/results/cnn_recipe.csv`` written as soon as it is done; a rerun
computes only the missing rows. ``cnn_recipe.md`` has the summary table.

With ``--per-class N`` each fold trains on N clips per class of its training
part (the same clips for every recipe and seed), as a user with few
recordings has; those rows are the dataset "NAME, N per class".

Usage: python benchmarks/cnn_recipe.py [--recipes before,after] [--datasets ESC-10,FSDD]
    [--seeds 0,1,2] [--per-class N]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from accuracy import DATA, real_datasets  # beside this script

from embedclf import KerasCNN
from embedclf.audio import load_clips
from embedclf.evaluation import atomic_write
from embedclf.models.cnn import long_training

HERE = Path(__file__).resolve().parent
POOLINGS = ("mean", "logmean")

# "before": the defaults up to 0.2 (Adam at a constant rate, early stopping on
# 10% of the clips, no augmentation). "after": the long recipe of the
# distiller's students, without waveform copies (mixup and SpecAugment act on
# windows, so an epoch costs what it did), run to the end with a cosine decay.
RECIPES = {
    "before": dict(
        epochs=40,
        lr_schedule="constant",
        early_stopping=True,
        augment=None,
    ),
    "after": long_training(),  # the cnn-long pipeline
}


def splits(df):
    """(name, train mask) pairs: ESC-10's folds or FSDD's official split."""
    if "fold" in df:
        return [(str(f), (df["fold"] != f).to_numpy()) for f in sorted(df["fold"].unique())]
    return [("official", (df["split"] == "train").to_numpy())]


def run_fold(recipe, clips, y, train, test, seed=0):
    model = KerasCNN(architecture="sbcnn", random_state=seed, **RECIPES[recipe])
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit([c for c, m in zip(clips, train) if m], y[train])
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    row = {"fit_s": round(fit_s, 1), "fit_cpu_s": round(fit_cpu, 1), "epochs": model.n_epochs_}
    for pooling in POOLINGS:
        model.set_params(clip_pooling=pooling)
        predicted = model.predict([c for c, m in zip(clips, test) if m])
        row[f"acc_{pooling}"] = float(np.mean(predicted == y[test]))
    return row


def few_per_class(train, y, n, seed=0):
    """``train`` kept to ``n`` clips per class, drawn once per fold (not per seed)."""
    rng = np.random.default_rng(seed)
    keep = np.zeros_like(train)
    for label in np.unique(y[train]):
        idx = np.flatnonzero(train & (y == label))
        keep[rng.choice(idx, size=min(n, len(idx)), replace=False)] = True
    return keep


def summary(table):
    """Mean accuracy per dataset and recipe: over folds of the seed-averaged scores."""
    lines = [
        "| dataset | recipe | seeds | accuracy, mean pooling (± std over folds) | per seed "
        "| accuracy, logmean pooling | epochs run | fit CPU s per fold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, recipe), g in table.groupby(["dataset", "recipe"], sort=False):
        cells = []
        for p in POOLINGS:
            by_fold = 100 * g.groupby("fold")[f"acc_{p}"].mean()
            spread = f" ± {by_fold.std(ddof=0):.1f}" if len(by_fold) > 1 else ""
            cells.append(f"{by_fold.mean():.1f}%{spread}")
        per_seed = ", ".join(
            f"{100 * v:.1f}" for v in g.groupby("seed")["acc_mean"].mean().to_numpy()
        )
        lines.append(
            f"| {dataset} | {recipe} | {g['seed'].nunique()} | {cells[0]} | {per_seed} "
            f"| {cells[1]} | {g['epochs'].mean():.0f} | {g['fit_cpu_s'].mean():.0f} |"
        )
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--datasets", default="ESC-10,FSDD")
    ap.add_argument("--seeds", default="0", help="random_state values, comma-separated")
    ap.add_argument("--per-class", type=int, help="train on this many clips per class")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    sets = real_datasets(args.datasets.split(","))
    if not sets:
        print(f"no real recordings under {DATA}; nothing to measure", file=sys.stderr)
        return 0
    csv = os.path.join(args.out, "cnn_recipe.csv")
    table = pd.read_csv(csv, dtype={"fold": str}) if os.path.exists(csv) else pd.DataFrame()
    key = ["recipe", "dataset", "fold", "seed"]
    done = set() if table.empty else set(table[key].itertuples(index=False, name=None))
    for name, df in sets.items():
        dataset = f"{name}, {args.per_class} per class" if args.per_class else name
        res = load_clips(df["path"].tolist(), df["label"].to_numpy(), sr=22050, progress=True)
        for seed in [int(s) for s in args.seeds.split(",")]:
            for recipe in args.recipes.split(","):
                for fold, train in splits(df):
                    if (recipe, dataset, fold, seed) in done:
                        continue
                    print(f"{recipe} on {dataset}, fold {fold}, seed {seed} ...", file=sys.stderr)
                    row = {"recipe": recipe, "dataset": dataset, "fold": fold, "seed": seed}
                    test = ~train  # the held-out fold, also when training on a few clips
                    if args.per_class:
                        train = few_per_class(train, res.y, args.per_class)
                    row.update(run_fold(recipe, res.clips, res.y, train, test, seed))
                    print(f"  {row}", file=sys.stderr)
                    table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
                    atomic_write(csv, lambda p, t=table: t.to_csv(p, index=False))
    md = summary(table)
    atomic_write(os.path.join(args.out, "cnn_recipe.md"), lambda p: Path(p).write_text(md))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
