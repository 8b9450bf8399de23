"""Few-shot learning curve on ESC-10: log-mel vs BirdNET features.

For k in 1, 2, 4, 8, 16 clips per class (the Teachable Machine flow asks
for 8), each of ESC-10's 5 folds is held out in turn and k clips per class
are drawn from the other folds (5 seeds), a standardised logistic
regression is fitted and the held-out fold scored. Features are computed
once per clip (BirdNET through the embedding cache). Writes
``benchmarks/results/fewshot.{csv,md,png}``.

Usage: python benchmarks/fewshot.py [--seeds 5] [--cache build/cache]
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline as sk_pipeline
from sklearn.preprocessing import StandardScaler

from embedclf.audio import load_clips
from embedclf.datasets import load_esc10
from embedclf.evaluation import atomic_write, atomic_write_data
from embedclf.pipelines import make_pipeline

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
SHOTS = (1, 2, 4, 8, 16)


def features(pipeline_name, paths, cache):
    """Per-clip feature matrix: the named pipeline without its classifier steps."""
    pipe = make_pipeline(pipeline_name)
    if cache and "emb__cache" in pipe.get_params():
        pipe.set_params(emb__cache=cache)
    steps = pipe[: [n for n, _ in pipe.steps].index("agg") + 1]
    sr = steps[0].sr
    clips = load_clips(paths, sr=sr, progress=True).clips
    return steps.fit(clips[:1]).transform(clips)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cache", default=str(HERE.parent / "build" / "cache"))
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--features", default="logmel-linear,birdnet-linear")
    args = ap.parse_args()
    if not (DATA / "esc10").is_dir():
        print(f"ESC-10 not found under {DATA}; nothing to measure", file=sys.stderr)
        return 0
    df = load_esc10(DATA / "esc10")
    y, folds = df["label"].to_numpy(), df["fold"].to_numpy()
    rows = []
    for name in args.features.split(","):
        print(f"features: {name}", file=sys.stderr)
        F = features(name, df["path"].tolist(), args.cache)
        for k in SHOTS:
            for fold in np.unique(folds):
                train_pool = np.flatnonzero(folds != fold)
                test = np.flatnonzero(folds == fold)
                for seed in range(args.seeds):
                    rng = np.random.default_rng(1000 * k + 10 * int(fold) + seed)
                    idx = np.concatenate(
                        [
                            rng.choice(train_pool[y[train_pool] == c], size=k, replace=False)
                            for c in np.unique(y)
                        ]
                    )
                    clf = sk_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
                    acc = float((clf.fit(F[idx], y[idx]).predict(F[test]) == y[test]).mean())
                    rows.append(
                        {
                            "features": name.replace("-linear", ""),
                            "shots": k,
                            "fold": int(fold),
                            "seed": seed,
                            "accuracy": acc,
                        }
                    )
    raw = pd.DataFrame(rows)
    table = raw.groupby(["features", "shots"])["accuracy"].agg(["mean", "std"]).reset_index()
    os.makedirs(args.out, exist_ok=True)
    atomic_write(os.path.join(args.out, "fewshot.csv"), lambda p: table.to_csv(p, index=False))
    wide = table.assign(
        cell=[f"{100 * m:.1f}% ± {100 * s:.1f}" for m, s in zip(table["mean"], table["std"])]
    ).pivot(index="shots", columns="features", values="cell")
    md = (
        "| clips per class | " + " | ".join(wide.columns) + " |\n|---|" + "---|" * len(wide.columns)
    )
    md += "".join(f"\n| {k} | " + " | ".join(wide.loc[k]) + " |" for k in wide.index)
    atomic_write_data(os.path.join(args.out, "fewshot.md"), md + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, part in table.groupby("features"):
        ax.errorbar(
            part["shots"],
            100 * part["mean"],
            yerr=100 * part["std"],
            marker="o",
            capsize=3,
            label=name,
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(SHOTS, [str(k) for k in SHOTS])
    ax.set_xlabel("training clips per class")
    ax.set_ylabel("ESC-10 accuracy (%)")
    ax.set_title(f"Few-shot ESC-10 (5 folds x {args.seeds} draws)")
    ax.axhline(10, color="grey", lw=0.8, ls=":", label="chance")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write(
        os.path.join(args.out, "fewshot.png"), lambda p: fig.savefig(p, dpi=120, format="png")
    )
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
