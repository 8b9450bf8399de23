"""``embedclf evaluate``: cross-validate a pipeline on a dataset's own folds."""

from __future__ import annotations

import sys

from ._args import cluster_options, count, int_in, output_folder, pipeline_from_args
from ._common import dump, limit_per_class, load_labelled, read_table

__all__ = ["add_parser", "run"]


def add_parser(sub, common):
    """Add the ``evaluate`` sub-parser to ``sub``; ``common`` adds the shared options.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli import evaluate
    >>> sub = argparse.ArgumentParser(prog="embedclf").add_subparsers()
    >>> sp = evaluate.add_parser(sub, lambda sp, on_error=True: None)
    >>> sp.parse_args(["--dataset", "esc10", "--root", "ESC-50"]).n_splits
    5
    """
    from ..datasets import DATASETS

    sp = sub.add_parser("evaluate", help="cross-validate a pipeline on a dataset's own folds")
    sp.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    sp.add_argument("--root", required=True, help="the dataset's folder")
    sp.add_argument("--pipeline", default="logmel-linear")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE")
    sp.add_argument("--n-splits", type=int_in(2), default=5, help="folds when the dataset has none")
    sp.add_argument("--limit-per-class", type=count)
    sp.add_argument(
        "--out", type=output_folder, help="folder for report.json, CSVs and confusion.png"
    )
    sp.add_argument(
        "--cache",
        type=output_folder,
        metavar="DIR",
        help="embedding cache folder (embedding pipelines)",
    )
    common(sp)
    cluster_options(sp)
    return sp


def run(args):
    """Run ``embedclf evaluate``; returns the exit code.

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> from embedclf.cli.evaluate import run
    >>> run(build_parser().parse_args(["evaluate", "--dataset", "folder",
    ...                                "--root", "no_such_folder"]))
    Traceback (most recent call last):
        ...
    FileNotFoundError: dataset root 'no_such_folder' is not a directory
    """
    from ..evaluation import cross_validate_folds, dataset_protocol

    model = pipeline_from_args(args)
    df = limit_per_class(read_table(args.root, args.dataset), args.limit_per_class)
    res, df = load_labelled(
        df,
        model,
        args.on_error,
        not args.quiet,
        'the --json output and --out\'s report.json ("skipped")',
    )
    kwargs, protocol = dataset_protocol(df, n_splits=args.n_splits)
    if protocol.startswith("only fold") and not args.quiet:
        print(f"embedclf: {protocol}", file=sys.stderr)
    report = cross_validate_folds(
        model,
        res.clips,
        res.y,
        name=f"{args.pipeline} on {args.dataset or 'folder'}",
        progress=not args.quiet,
        **kwargs,
    )
    report.meta["protocol"] = protocol
    report.meta["skipped"] = res.skipped.to_dict("records")
    if args.out:
        report.save(args.out)
    if args.json:
        print(dump(report.summary()))
    else:
        print(report)
        print("\nconfusion matrix (rows: true, columns: predicted)")
        print(report.confusion.to_string())
        if args.out:
            print(f"\nreport written to {args.out}/")
    return 0
