"""Accuracy of the named pipelines on real recordings (../shared/data).

Also the feature cost: CPU ms per second of audio for each pipeline's
feature steps, measured on 40 clips without any cache.

ESC-10: 5-fold cross-validation on the dataset's own folds (clips of one
source share a fold). FSDD: the official split (index 0-4 test, 5-49 train).
UrbanSound8K fold-3 partial (387 clips of one official fold): 5 folds grouped
by source recording (``fsID``), stratified.
Writes ``benchmarks/results/accuracy.csv`` and ``accuracy.md`` (mean ± std
over folds) and prints the table. Skips datasets that are absent.

Usage: python benchmarks/accuracy.py [--pipelines logmel-linear,logmel-forest]
    [--datasets ESC-10,FSDD]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd
from sklearn.base import clone

from embedclf.audio import load_clips
from embedclf.datasets import load_esc10, load_fsdd, load_urbansound8k
from embedclf.evaluation import atomic_write, atomic_write_data, cross_validate_folds
from embedclf.pipelines import make_pipeline, pipeline_sr

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
US8K = "US8K fold-3 partial"


def embedding_cache(model, value):
    """``model`` with every embedding cache of its ``emb`` step (nested too) set to ``value``."""
    keys = [k for k in model.get_params() if k.startswith("emb__") and k.endswith("cache")]
    return model.set_params(**dict.fromkeys(keys, value))


def feature_cost(model, clips, sr):
    """CPU ms per second of audio of the steps before the classifier (no cache).

    None for models that are not feature pipelines (KerasCNN computes its own
    log-mel windows; see benchmarks/cnn_train.py for its costs).
    """
    if not hasattr(model, "steps"):
        return None
    steps = model[:-1] if model.steps[-2][0] != "scale" else model[:-2]
    steps = embedding_cache(clone(steps), None)
    sample = clips[:40]
    steps.fit(sample[:1])
    steps.transform(sample[:2])  # warm up (model load, FFT plans)
    t = time.process_time()
    steps.transform(sample)
    return (time.process_time() - t) * 1e3 / (sum(len(c) for c in sample) / sr)


def evaluate(dataset, df, pipeline, cache, emb_cache):
    model = embedding_cache(make_pipeline(pipeline), emb_cache)
    sr = pipeline_sr(model)
    if (dataset, sr) not in cache:  # decode + resample once per dataset and rate
        t = time.perf_counter()
        cache[(dataset, sr)] = load_clips(
            df["path"].tolist(), df["label"].to_numpy(), sr=sr, progress=True
        )
        print(f"  loaded {dataset} at {sr} Hz in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    res = cache[(dataset, sr)]
    if dataset == US8K:  # one official fold: split it by source recording
        kw, protocol = {"groups": df["group"].to_numpy(), "n_splits": 5}, "5-fold by fsID"
    elif "fold" in df:
        kw, protocol = {"folds": df["fold"].to_numpy()}, "5-fold"
    else:
        kw, protocol = {"split": df["split"].to_numpy()}, "official split"
    cost = feature_cost(model, res.clips, sr)
    t = time.perf_counter()
    rep = cross_validate_folds(model, res.clips, res.y, name=f"{pipeline} / {dataset}", **kw)
    return {
        "dataset": dataset,
        "pipeline": pipeline,
        "protocol": protocol,
        "n_clips": len(res.y),
        "accuracy_mean": rep.accuracy_mean,
        "accuracy_std": rep.accuracy_std,
        "macro_f1_mean": rep.f1_mean,
        "feature_cpu_ms_per_audio_s": None if cost is None else round(cost, 2),
        "seconds": round(time.perf_counter() - t, 1),
    }


def real_datasets(wanted):
    """The data sets of ``wanted`` present under ``DATA``, by name, as index tables."""
    found = {
        "ESC-10": ("esc10", load_esc10),
        "FSDD": ("fsdd", load_fsdd),
        US8K: ("urbansound8k-fold3-partial", load_urbansound8k),
    }
    return {
        name: load(DATA / folder)
        for name, (folder, load) in found.items()
        if name in wanted and (DATA / folder).is_dir()
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--pipelines",
        default="logmel-linear,logmel-forest,mfcc-linear,birdnet-linear,birdnet-forest",
    )
    ap.add_argument(
        "--cache",
        default=str(HERE.parent / "build" / "cache"),
        help="embedding cache folder (reruns reuse embeddings)",
    )
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument(
        "--datasets",
        default=f"ESC-10,FSDD,{US8K}",
        help="which of the datasets present to run (comma-separated)",
    )
    args = ap.parse_args()
    sets = real_datasets(args.datasets.split(","))
    if not sets:
        print(f"no real recordings under {DATA}; nothing to measure", file=sys.stderr)
        return 0
    rows, cache = [], {}
    for name, df in sets.items():
        for pipe in args.pipelines.split(","):
            print(f"{pipe} on {name} ...", file=sys.stderr)
            rows.append(evaluate(name, df, pipe, cache, args.cache))
            print(
                f"  {100 * rows[-1]['accuracy_mean']:.1f}% ± {100 * rows[-1]['accuracy_std']:.1f}",
                file=sys.stderr,
            )
    table = pd.DataFrame(rows)
    os.makedirs(args.out, exist_ok=True)
    old = os.path.join(args.out, "accuracy.csv")
    if os.path.exists(old):  # keep rows of pipelines not re-run this time
        prev = pd.read_csv(old)
        keep = ~prev.set_index(["dataset", "pipeline"]).index.isin(
            table.set_index(["dataset", "pipeline"]).index
        )
        table = pd.concat([prev[keep], table]).sort_values("dataset", kind="stable")
    rows = table.to_dict("records")
    atomic_write(os.path.join(args.out, "accuracy.csv"), lambda p: table.to_csv(p, index=False))
    md = [
        "| dataset | protocol | pipeline | accuracy (mean ± std) | macro-F1 "
        "| features: CPU ms per audio s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        std = f" ± {100 * r['accuracy_std']:.1f}" if r["protocol"].startswith("5-fold") else ""
        md.append(
            f"| {r['dataset']} | {r['protocol']} | `{r['pipeline']}` | "
            f"{100 * r['accuracy_mean']:.1f}%{std} | {100 * r['macro_f1_mean']:.1f}% | "
            + (
                "n/a |"
                if pd.isna(r["feature_cpu_ms_per_audio_s"])
                else f"{r['feature_cpu_ms_per_audio_s']:.2f} |"
            )
        )
    atomic_write_data(os.path.join(args.out, "accuracy.md"), "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
