"""``embedclf pipelines``: list the named pipelines."""

from __future__ import annotations

from ._common import dump

__all__ = ["add_parser", "run"]


def add_parser(sub, common):
    """Add the ``pipelines`` sub-parser to ``sub`` (it has only ``--json``).

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli import pipelines
    >>> sub = argparse.ArgumentParser(prog="embedclf").add_subparsers()
    >>> sp = pipelines.add_parser(sub, lambda sp, on_error=True: None)
    >>> sp.parse_args(["--json"]).json
    True
    """
    sp = sub.add_parser("pipelines", help="list the named pipelines")
    sp.add_argument("--json", action="store_true")
    return sp


def run(args):
    """Run ``embedclf pipelines``; returns the exit code.

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> from embedclf.cli.pipelines import run
    >>> run(build_parser().parse_args(["pipelines"]))  # doctest: +ELLIPSIS
    birdnet-forest ...
    0
    """
    from ..pipelines import available_pipelines

    pipes = available_pipelines()
    if args.json:
        print(dump(pipes))
    else:
        width = max(map(len, pipes))
        for name, desc in pipes.items():
            print(f"{name:<{width}}  {desc}")
    return 0
