"""``embedclf demo``: a synthetic end-to-end run (evaluate, train, save, predict)."""

from __future__ import annotations

import os

from ._args import int_in, output_folder, seed
from ._common import dump, load_model, save_model

__all__ = ["add_parser", "run"]


def add_parser(sub, common):
    """Add the ``demo`` sub-parser to ``sub``; ``common`` adds the shared options.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli import demo
    >>> sub = argparse.ArgumentParser(prog="embedclf").add_subparsers()
    >>> sp = demo.add_parser(sub, lambda sp, on_error=True: None)
    >>> sp.parse_args(["--n-per-class", "5"]).n_per_class
    5
    """
    sp = sub.add_parser("demo", help="synthetic end-to-end run: evaluate, train, save, predict")
    sp.add_argument(
        "--out", type=output_folder, default="build/demo", help="output folder (default build/demo)"
    )
    sp.add_argument(
        "--n-per-class",
        type=int_in(2),
        default=40,
        help="clips per class (default 40; cross-validation needs >= 2)",
    )
    sp.add_argument("--seed", type=seed, default=0)
    common(sp, on_error=False)
    return sp


def run(args):
    """Run ``embedclf demo``; returns the exit code.

    Examples
    --------
    >>> import contextlib, io, os, tempfile
    >>> from embedclf.cli import build_parser
    >>> from embedclf.cli.demo import run
    >>> with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
    ...     code = run(build_parser().parse_args(["demo", "--out", out, "--n-per-class", "2",
    ...                                           "--json", "--quiet"]))
    ...     written = sorted(os.listdir(out))
    >>> code, written
    (0, ['model.skops', 'new_clips', 'report'])
    """
    import numpy as np

    from ..datasets import make_sound_events, write_sound_events
    from ..evaluation import cross_validate_folds, fit_estimator
    from ..pipelines import make_pipeline
    from ..predict import predict_table

    sr = 16000
    X, y, folds = make_sound_events(n_per_class=args.n_per_class, sr=sr, random_state=args.seed)
    model = make_pipeline("logmel-linear", mel__sr=sr)
    if not args.json:
        print(f"synthetic sound events: {len(X)} clips, {len(set(y))} classes, 5 folds, {sr} Hz")
    report = cross_validate_folds(
        model, X, y, folds=folds, name="logmel-linear (demo)", progress=not args.quiet
    )
    fit_estimator(model, X, y)
    os.makedirs(args.out, exist_ok=True)
    model_path = os.path.join(args.out, "model.skops")
    save_model(model, model_path)
    report.save(os.path.join(args.out, "report"))
    # Predict fresh files the model never saw, written the way a user has them.
    files = write_sound_events(
        os.path.join(args.out, "new_clips"), n_per_class=1, sr=sr, random_state=args.seed + 1
    )
    table = predict_table(load_model(model_path), files["path"].tolist())
    table.insert(1, "true", files["label"].to_numpy())
    if args.json:
        print(
            dump(
                {
                    **report.summary(),
                    "model": model_path,
                    "new_clips": table.drop(columns="error").to_dict("records"),
                }
            )
        )
        return 0
    print(report)
    print("\nconfusion matrix (rows: true, columns: predicted)")
    print(report.confusion.to_string())
    print(f"\nmodel saved to {model_path}; report and confusion.png in {args.out}/report/")
    shown = table[["source", "true", "label"]].assign(
        source=[os.path.relpath(p, args.out) for p in table["source"]],
        confidence=table.filter(like="prob_").max(axis=1).round(3),
    )
    print("\npredictions on new clips:\n" + shown.to_string(index=False))
    print(f"\naccuracy on new clips: {np.mean(table['true'] == table['label']):.0%}")
    return 0
