"""``embedclf predict``: label audio files with a saved model (a CSV, JSON or Parquet table)."""

from __future__ import annotations

import warnings

from ._args import TABLE_SUFFIXES, number_in, output_file
from ._common import check_model, dump, load_model, report_skipped, write_table

__all__ = ["add_parser", "run"]


def add_parser(sub, common):
    """Add the ``predict`` sub-parser to ``sub``; ``common`` adds the shared options.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli import predict
    >>> sub = argparse.ArgumentParser(prog="embedclf").add_subparsers()
    >>> sp = predict.add_parser(sub, lambda sp, on_error=True: None)
    >>> sp.parse_args(["model.skops", "a.wav", "--window", "1"]).window
    1.0
    """
    sp = sub.add_parser(
        "predict", help="label audio files with a saved model (a CSV, JSON or Parquet table)"
    )
    sp.add_argument("model", help="model file written by `embedclf train`")
    sp.add_argument("files", nargs="+", help="audio files")
    sp.add_argument(
        "--window",
        "--windows",
        dest="window",
        type=number_in(1e-3),
        metavar="SECONDS",
        help="predict each window of SECONDS separately (rows with timestamps)",
    )
    sp.add_argument(
        "--hop",
        type=number_in(1e-3),
        metavar="SECONDS",
        help="hop between windows in seconds (default WINDOW)",
    )
    sp.add_argument(
        "-o",
        "--output",
        type=output_file(*TABLE_SUFFIXES),
        help="write the table here instead of stdout: .csv, .json or .parquet",
    )
    sp.add_argument(
        "--trust-pickle",
        action="store_true",
        help="also load a pickle/joblib model file; loading a pickle can run any "
        "code it holds: only for files from a source you trust",
    )
    common(sp)
    sp.set_defaults(check=_hop_needs_window(sp))
    return sp


def _hop_needs_window(parser):
    """A check run after parsing: ``--hop`` alone would be silently ignored."""

    def check(args):
        if args.hop is not None and args.window is None:
            parser.error("argument --hop: needs --window (the hop is between windows)")

    return check


def run(args):
    """Run ``embedclf predict``; returns the exit code.

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> from embedclf.cli.predict import run
    >>> run(build_parser().parse_args(["predict", "missing.skops", "a.wav"]))
    Traceback (most recent call last):
        ...
    FileNotFoundError: model file not found: missing.skops
    """
    from ..audio import SkippedClipsWarning
    from ..predict import predict_table

    model = check_model(load_model(args.model, args.trust_pickle), args.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedClipsWarning)  # the table's error column says it
        table = predict_table(
            model,
            args.files,
            on_error=args.on_error,
            window=args.window,
            hop=args.hop,
            progress=not args.quiet,
        )
    if args.on_error == "skip":
        report_skipped(
            table.loc[table["error"].notna(), ["source", "error"]]
            .drop_duplicates("source")
            .rename(columns={"error": "reason"}),
            "the output's error column",
        )
    if args.output:
        write_table(table, args.output)
    if args.json:
        print(dump(table.to_dict("records")))
    elif not args.output:
        print(table.to_csv(index=False), end="")
    n_err = int(table["error"].notna().sum())
    return 1 if n_err and args.on_error == "raise" else 0
