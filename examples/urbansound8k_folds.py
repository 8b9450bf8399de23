"""Benchmark a named pipeline on UrbanSound8K with the dataset's own folds.

Each fold is held out once while a fresh copy of the pipeline trains on the others, as the
dataset's authors prescribe (clips cut from one recording share a fold, so no source is on
both sides of a split). With a single fold (a partial copy), it cross-validates within it,
grouped by source recording, and says so. ``benchmarks/urbansound8k.py`` runs several
pipelines this way, resumably, with the published results beside them. The report
(per-fold table, CSV, JSON and a confusion-matrix PNG) is saved to ``--out``.

    python examples/urbansound8k_folds.py --root UrbanSound8K/ --pipeline logmel-linear
    python examples/urbansound8k_folds.py --root UrbanSound8K/ --folds 1,2,3
    python examples/urbansound8k_folds.py --quick    # a tiny synthetic set in the same layout
"""

import argparse
import json
from pathlib import Path

from embedclf.datasets import load_urbansound8k, write_urbansound8k
from embedclf.evaluation import cross_validate_folds, dataset_protocol
from embedclf.pipelines import make_pipeline


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="the UrbanSound8K folder (holds metadata/ and audio/)")
    parser.add_argument("--pipeline", default="logmel-linear", help="a named pipeline")
    parser.add_argument("--folds", help="comma-separated folds to use (default: all)")
    parser.add_argument("--quick", action="store_true", help="use a tiny synthetic set")
    parser.add_argument("--out", default="build/examples/urbansound8k_folds")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.quick:
        args.root = out / "UrbanSound8K"
        write_urbansound8k(args.root, n_per_class=6, folds=(1, 2, 3))
    elif args.root is None:
        parser.error("give --root, or --quick")

    df = load_urbansound8k(args.root)
    if args.folds:
        df = df[df["fold"].isin([int(f) for f in args.folds.split(",")])].reset_index(drop=True)
    # the dataset's folds; with only one present, 5 folds within it grouped by source
    kwargs, protocol = dataset_protocol(df)
    print(protocol)
    report = cross_validate_folds(
        make_pipeline(args.pipeline),
        df["path"],
        df["label"],
        name=args.pipeline,
        progress=False,
        **kwargs,
    )
    report.save(out / "report")
    summary = {
        "pipeline": args.pipeline,
        "n_clips": len(df),
        "protocol": protocol,
        "folds": sorted(int(f) for f in df["fold"].unique()),
        "accuracy_mean": report.accuracy_mean,
        "accuracy_std": report.accuracy_std,
        "per_fold_accuracy": report.per_fold["accuracy"].round(4).tolist(),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(report)
    print(f"\nreport saved to {out / 'report'}")


if __name__ == "__main__":
    main()
