"""``embedclf pipelines``: list the named pipelines."""

from __future__ import annotations

from ._common import dump


def add_parser(sub, common):
    """Add the ``pipelines`` sub-parser to ``sub`` (it has only ``--json``)."""
    sp = sub.add_parser("pipelines", help="list the named pipelines")
    sp.add_argument("--json", action="store_true")
    return sp


def run(args):
    """Run ``embedclf pipelines``; returns the exit code."""
    from ..pipelines import available_pipelines

    pipes = available_pipelines()
    if args.json:
        print(dump(pipes))
    else:
        width = max(map(len, pipes))
        for name, desc in pipes.items():
            print(f"{name:<{width}}  {desc}")
    return 0
