"""Argument types and checks the commands share (internal to :mod:`embedclf.cli`).

argparse types raise :class:`argparse.ArgumentTypeError`, so bad usage exits 2
before any work; ``parse_set`` reads the repeatable ``--set KEY=VALUE``.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import math
import os

from ._common import CLIError, quieted, with_cache

#: Table formats an output's suffix selects (parquet needs pyarrow).
TABLE_SUFFIXES = (".csv", ".json", ".parquet")


def parse_set(items):
    """``--set KEY=VALUE`` items as a dict; values are Python literals when they parse as one.

    Examples
    --------
    >>> from embedclf.cli._args import parse_set
    >>> parse_set(["clf__C=0.1", "mel__n_mels=64", "name=abc"])
    {'clf__C': 0.1, 'mel__n_mels': 64, 'name': 'abc'}
    """
    params = {}
    for item in items or []:
        if "=" not in item:
            raise CLIError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def pipeline_from_args(args):
    """The unfitted pipeline ``--pipeline``, ``--set``, ``--cache`` and ``--quiet`` describe.

    Examples
    --------
    >>> from argparse import Namespace
    >>> from embedclf.cli._args import pipeline_from_args
    >>> args = Namespace(pipeline="logmel-linear", set=["clf__C=0.1"], cache=None, quiet=True)
    >>> pipeline_from_args(args).get_params()["clf__C"]
    0.1
    """
    from ..pipelines import make_pipeline

    model = with_cache(make_pipeline(args.pipeline, **parse_set(args.set)), args.cache)
    return quieted(model, args.quiet)


def number_in(low, high=float("inf"), *, above=False):
    """An argparse type: a finite number from ``low`` (excluded when ``above``) to ``high``.

    Examples
    --------
    >>> from embedclf.cli._args import number_in
    >>> number_in(0, 1)("0.25")
    0.25
    """

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (
            math.isfinite(value) and (value > low if above else value >= low) and value <= high
        ):
            if high == float("inf"):
                bound = f"a finite number {'>' if above else '>='} {low:g}"
            else:
                bound = f"a number {'above' if above else 'from'} {low:g} to {high:g}"
            raise argparse.ArgumentTypeError(f"expected {bound}, got {text!r}")
        return value

    return parse


def int_in(low, high=None):
    """An argparse type: a whole number from ``low`` to ``high``.

    Examples
    --------
    >>> from embedclf.cli._args import int_in
    >>> int_in(1)("3")
    3
    """

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"expected a whole number {bound}, got {text!r}")
        return value

    return parse


#: a share from 0 to 1
share = number_in(0, 1)
#: a number above 0
positive = number_in(0, above=True)
#: a whole number >= 1
count = int_in(1)
#: a random seed (numpy's seeds are 32-bit)
seed = int_in(0, 2**32 - 1)


def writable_place(path):
    """Why nothing could be written at ``path`` (missing folders are created), or None.

    Examples
    --------
    >>> import tempfile, os
    >>> from embedclf.cli._args import writable_place
    >>> writable_place(os.path.join(tempfile.gettempdir(), "new", "out.csv")) is None
    True
    """
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):  # the nearest folder that exists decides
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"no permission to write in {folder}"
    return None


def output_file(*suffixes):
    """An argparse type: a file to write, whose suffix (one of ``suffixes``) sets its format.

    Examples
    --------
    >>> import tempfile, os
    >>> from embedclf.cli._args import output_file
    >>> path = os.path.join(tempfile.gettempdir(), "events.csv")
    >>> output_file(".csv", ".json")(path) == path
    True
    """

    def parse(text):
        if os.path.isdir(text):
            raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name")
        problem = writable_place(text)
        if problem:
            raise argparse.ArgumentTypeError(f"cannot write {text}: {problem}")
        if suffixes and not text.lower().endswith(suffixes):
            raise argparse.ArgumentTypeError(
                f"cannot tell the format of {text}: name it ending in {', '.join(suffixes)}"
            )
        if text.lower().endswith(".parquet") and importlib.util.find_spec("pyarrow") is None:
            raise argparse.ArgumentTypeError(
                "writing .parquet needs pyarrow: pip install 'embedclf[parquet]' (or write .csv)"
            )
        return text

    return parse


def output_folder(text):
    """An argparse type: a folder to write into (created when missing).

    Examples
    --------
    >>> import tempfile
    >>> from embedclf.cli._args import output_folder
    >>> output_folder(tempfile.gettempdir()) == tempfile.gettempdir()
    True
    """
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    problem = writable_place(os.path.join(text, "x"))
    if problem:
        raise argparse.ArgumentTypeError(f"cannot write into {text}: {problem}")
    return text


def cluster_options(sp):
    """``--scheduler`` / ``--workers``: run the command's work on a Dask cluster.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli._args import cluster_options
    >>> sp = argparse.ArgumentParser()
    >>> cluster_options(sp)
    >>> sp.parse_args(["--workers", "2"]).workers
    2
    """
    group = sp.add_mutually_exclusive_group()
    group.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run on an existing Dask cluster (needs embedclf[dask])",
    )
    group.add_argument(
        "--workers",
        type=int_in(1),
        metavar="N",
        help="run on a local Dask cluster of N worker processes started for "
        "this command (needs embedclf[dask])",
    )


#: the event settings ``stream`` and ``distill`` (the device's events) take, by option dest
EVENT_OPTIONS = ("smoothing", "threshold", "threshold_off", "min_duration", "suppression")


def event_options(sp):
    """``--smoothing --threshold --threshold-off --min-duration --suppression --background``.

    The Recognizer's settings (``stream``) and the C library's (``distill``): no
    defaults here, so that only the options given are passed on.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli._args import event_options
    >>> sp = argparse.ArgumentParser()
    >>> event_options(sp)
    >>> sp.parse_args(["--threshold", "0.7"]).threshold
    0.7
    """
    sp.add_argument(
        "--smoothing",
        type=number_in(0),
        metavar="SECONDS",
        help="seconds of window scores averaged before deciding (default 1)",
    )
    sp.add_argument(
        "--threshold", type=share, help="smoothed score that starts an event (default 0.5)"
    )
    sp.add_argument(
        "--threshold-off",
        type=share,
        help="smoothed score under which an event ends (default 0.8 x THRESHOLD)",
    )
    sp.add_argument(
        "--min-duration",
        type=number_in(0),
        metavar="SECONDS",
        help="drop shorter events (default 0)",
    )
    sp.add_argument(
        "--suppression",
        type=number_in(0),
        metavar="SECONDS",
        help="no new event this long after one ended (default 0.5)",
    )
    sp.add_argument(
        "--background",
        action="append",
        metavar="LABEL",
        help="a label never reported (repeatable; default _background_ and Speech "
        "Commands' _silence_, _unknown_, _background_noise_)",
    )


def events_from_args(args):
    """The event settings :func:`event_options` read, only those given.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli._args import event_options, events_from_args
    >>> sp = argparse.ArgumentParser()
    >>> event_options(sp)
    >>> events_from_args(sp.parse_args(["--threshold", "0.7", "--background", "noise"]))
    {'threshold': 0.7, 'background': ['noise']}
    """
    events = {n: getattr(args, n) for n in EVENT_OPTIONS if getattr(args, n) is not None}
    if args.background:
        events["background"] = list(args.background)
    return events
