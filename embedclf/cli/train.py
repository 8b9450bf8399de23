"""``embedclf train``: fit a named pipeline on labelled clips and save it."""

from __future__ import annotations

from ._args import count, number_in, output_file, output_folder, pipeline_from_args
from ._common import CLIError, dump, limit_per_class, load_labelled, read_table, save_model

__all__ = ["add_parser", "run"]


def add_parser(sub, common):
    """Add the ``train`` sub-parser to ``sub``; ``common`` adds the shared options.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli import train
    >>> sub = argparse.ArgumentParser(prog="embedclf").add_subparsers()
    >>> sp = train.add_parser(sub, lambda sp, on_error=True: None)
    >>> sp.parse_args(["clips", "-o", "model.skops"]).pipeline
    'logmel-linear'
    """
    from ..datasets import DATASETS

    sp = sub.add_parser("train", help="fit a named pipeline on labelled clips and save it")
    sp.add_argument("data", help="dataset root folder, or a CSV with path,label columns")
    sp.add_argument(
        "--dataset", choices=sorted(DATASETS), help="layout of DATA (default: folder per class)"
    )
    sp.add_argument("--pipeline", default="logmel-linear", help="see `embedclf pipelines`")
    sp.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="pipeline parameter, e.g. --set clf__C=0.1 (repeatable)",
    )
    sp.add_argument(
        "-o",
        "--output",
        type=output_file(),
        required=True,
        help="where to write the model, e.g. model.skops (a safe format)",
    )
    sp.add_argument("--limit-per-class", type=count, help="use at most N clips per class")
    sp.add_argument(
        "--cache",
        type=output_folder,
        metavar="DIR",
        help="embedding cache folder (embedding pipelines)",
    )
    sp.add_argument(
        "--background",
        action="append",
        metavar="NOISE.wav|FOLDER",
        help="long background recordings, cut into clips of their own class "
        "(repeatable); `embedclf stream` never reports that class",
    )
    sp.add_argument(
        "--background-label",
        default="_background_",
        metavar="LABEL",
        help="the background class's label (default _background_)",
    )
    sp.add_argument(
        "--background-window",
        type=number_in(1e-3),
        default=1.0,
        metavar="SECONDS",
        help="length of the background clips (default 1)",
    )
    common(sp)
    return sp


def run(args):
    """Run ``embedclf train``; returns the exit code.

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> from embedclf.cli.train import run
    >>> run(build_parser().parse_args(["train", "no_such_folder", "-o", "model.skops"]))
    Traceback (most recent call last):
        ...
    FileNotFoundError: dataset root 'no_such_folder' is not a directory
    """
    import numpy as np

    model = pipeline_from_args(args)
    df = limit_per_class(read_table(args.data, args.dataset), args.limit_per_class)
    res, df = load_labelled(
        df, model, args.on_error, not args.quiet, 'the --json output ("skipped")'
    )
    X, y = list(res.clips), list(res.y)
    if args.background:
        from ..datasets import cut_background
        from ..pipelines import pipeline_sr

        # long background recordings become clips of their own class (Teachable Machine's
        # "background noise"); `embedclf stream` never reports that class
        clips, labels = cut_background(
            args.background,
            sr=pipeline_sr(model),
            window=args.background_window,
            label=args.background_label,
        )
        X, y = X + clips, y + labels
    n_background = len(y) - len(res.y)
    if len(set(map(str, y))) < 2:
        raise CLIError(f"need at least two classes to train, found {sorted(set(map(str, y)))}")
    if n_background:  # one label type: numbered classes become strings next to the label
        y = np.asarray(
            y if all(isinstance(v, str) for v in y) else [str(v) for v in y], dtype=object
        )
    from ..evaluation import fit_estimator  # pandas, matplotlib: not for every command

    fit_estimator(model, X, res.y if not n_background else y)
    save_model(model, args.output)
    out = {
        "model": args.output,
        "pipeline": args.pipeline,
        "n_clips": len(res.y),
        "n_background_clips": n_background,
        "classes": [str(c) for c in model.classes_],
        "skipped": res.skipped.to_dict("records"),
    }
    print(
        dump(out)
        if args.json
        else f"trained {args.pipeline} on {len(res.y)} clips"
        + (f" and {n_background} background clips" if n_background else "")
        + f" ({len(model.classes_)} classes) -> {args.output}"
        + (f"; skipped {len(res.skipped)}" if len(res.skipped) else "")
    )
    return 0
