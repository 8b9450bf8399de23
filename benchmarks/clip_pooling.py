"""Compare ways of pooling a student's window outputs into a clip's answer.

Reads the int8 window probabilities that ``distill_tradeoff.py --save-windows
DIR`` keeps for each run (setting, fold), and scores the same windows pooled
several ways, so the comparison is paired: the same networks, only the pooling
differs. Poolings (``mean``, ``logmean`` and ``vote`` are ``KerasCNN``'s and
the ``Distiller``'s ``clip_pooling`` options; ``max`` is a candidate measured here):

- ``mean``: average the windows' probabilities (the student's default);
- ``logmean``: average their log-probabilities (a geometric mean, each
  window's probability floored at half an int8 output step so one confident
  zero does not veto a class);
- ``vote``: the most frequent window answer;
- ``max``: the class with the highest probability in any window.

Writes ``clip_pooling.csv`` (one row per run and pooling) and ``clip_pooling.md``
(accuracy per setting and pooling, mean over runs, and each pooling's wins and
losses against ``mean`` in clips; then ``mean`` against ``logmean`` seed by
seed) to ``--out``.

Usage: python benchmarks/clip_pooling.py DIR [DIR ...] [--out benchmarks/results]
"""

import argparse
import glob
import json
import os
import sys

import numpy as np
import pandas as pd

from embedclf.evaluation import atomic_write, atomic_write_data
from embedclf.models.windows import pool_windows

POOLINGS = ["mean", "logmean", "vote", "max"]


def pooled(proba, owner, n_clips, how):
    """Clip scores (n_clips, n_classes) from window probabilities; argmax is the answer."""
    proba = proba.astype(np.float64)
    if how == "max":
        out = np.full((n_clips, proba.shape[1]), -np.inf)
        np.maximum.at(out, owner, proba)
        return out
    return pool_windows(proba, owner, n_clips, how)


def load_runs(dirs):
    """One record per saved run: its setting, fold, window outputs and labels."""
    runs = []
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*_fold*.npz"))):
            z = np.load(path)
            key = json.loads(str(z["key"]))
            fold = int(path.rsplit("_fold", 1)[1].split(".")[0])
            runs.append(
                {
                    "key": key,
                    "fold": fold,
                    "proba": z["proba"],
                    "owner": z["owner"],
                    "y": z["y"],
                    "classes": z["classes"],
                }
            )
    return runs


def setting_name(key):
    name = (
        f"{key['student']} x{key['width']}, {key['epochs']} epochs, T {key['temperature']}, "
        f"alpha {key['alpha']}"
    )
    # knobs added later: named only when set, so earlier runs keep their setting's name
    hop = key.get("hop", 0.5)
    if hop != 0.5 or key.get("fit_hop", hop) != hop:
        name += f", hop {hop:g}" + (f" (fit {key['fit_hop']:g})" if key["fit_hop"] != hop else "")
    if key.get("mix_copies"):
        name += f", {key['mix_copies']} mixtures"
    if key.get("weight_decay"):
        name += f", weight decay {key['weight_decay']:g}"
    return name


def score(runs):
    rows = []
    for r in runs:
        preds = {}
        for how in POOLINGS:
            P = pooled(r["proba"], r["owner"], len(r["y"]), how)
            preds[how] = r["classes"][P.argmax(1)] == r["y"]
        for how in POOLINGS:
            rows.append(
                {
                    "setting": setting_name(r["key"]),
                    "seed": r["key"]["seed"],
                    "fold": r["fold"],
                    "pooling": how,
                    "clips": len(r["y"]),
                    "correct": int(preds[how].sum()),
                    "accuracy": float(preds[how].mean()),
                    "wins_vs_mean": int((preds[how] & ~preds["mean"]).sum()),
                    "losses_vs_mean": int((~preds[how] & preds["mean"]).sum()),
                }
            )
    return pd.DataFrame(rows)


def summarise(table):
    s = (
        table.groupby(["setting", "pooling"], sort=False)
        .agg(
            runs=("fold", "size"),
            clips=("clips", "sum"),
            correct=("correct", "sum"),
            wins=("wins_vs_mean", "sum"),
            losses=("losses_vs_mean", "sum"),
        )
        .reset_index()
    )
    md = [
        "| setting | pooling | runs | clips | accuracy | clips won / lost against mean |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in s.iterrows():
        md.append(
            f"| {r['setting']} | `{r['pooling']}` | {r['runs']} | {r['clips']} | "
            f"{100 * r['correct'] / r['clips']:.2f}% | {r['wins']} / {r['losses']} |"
        )
    return s, md


def by_seed(table, against="logmean"):
    """Per setting and seed: accuracy pooled by ``mean`` and by ``against``, clips won / lost."""
    t = table[table["pooling"].isin(["mean", against])]
    s = (
        t.groupby(["setting", "seed", "pooling"], sort=False)
        .agg(
            runs=("fold", "size"),
            clips=("clips", "sum"),
            correct=("correct", "sum"),
            wins=("wins_vs_mean", "sum"),
            losses=("losses_vs_mean", "sum"),
        )
        .reset_index()
    )
    md = [
        f"| setting | seed | runs | `mean` | `{against}` | clips won / lost against mean |",
        "|---|---|---|---|---|---|",
    ]
    for (setting, seed), g in s.groupby(["setting", "seed"], sort=False):
        m, o = (g[g["pooling"] == how].iloc[0] for how in ("mean", against))
        md.append(
            f"| {setting} | {seed} | {m['runs']} | {100 * m['correct'] / m['clips']:.2f}% | "
            f"{100 * o['correct'] / o['clips']:.2f}% | {o['wins']} / {o['losses']} |"
        )
    return md


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", help="folders written by distill_tradeoff --save-windows")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = ap.parse_args()
    runs = load_runs(args.dirs)
    if not runs:
        print(f"no saved window outputs in {args.dirs}", file=sys.stderr)
        return 1
    table = score(runs)
    _, md = summarise(table)
    md += ["", "Per seed:", ""] + by_seed(table)
    os.makedirs(args.out, exist_ok=True)
    atomic_write(os.path.join(args.out, "clip_pooling.csv"), lambda p: table.to_csv(p, index=False))
    atomic_write_data(os.path.join(args.out, "clip_pooling.md"), "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
