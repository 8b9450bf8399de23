"""The ``embedclf`` command: a thin layer over the public API.

Every subcommand prints a readable result (or JSON with ``--json``) on
stdout, progress on stderr, and exits 0 on success, 1 with a one-line
``embedclf: error: ...`` message on failure (with ``--json`` also an
``{"error": ..., "type": ...}`` object on stdout), 130 when interrupted, 2 on
bad usage. Arguments (numbers, output paths and formats) are checked before
any work. Tracebacks only with ``--debug`` (or ``EMBEDCLF_DEBUG=1``).

Each command is a module of this package with ``add_parser(sub, common)``,
which adds its sub-parser, and ``run(args)``, which runs it: :mod:`.demo`,
:mod:`.pipelines`, :mod:`.train`, :mod:`.predict`, :mod:`.evaluate`,
:mod:`.distill` (also ``verify``), :mod:`.weights`, :mod:`.embed`,
:mod:`.stream` and :mod:`.studio`. What several of them share is in ``_args`` (argument types)
and ``_common`` (model and table handling). This module assembles the parser
and turns every failure into one line.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from . import demo, distill, embed, evaluate, pipelines, predict, stream, studio, train, weights
from ._common import CLIError, dump, in_option_words
from .embed import EMBEDDERS  # noqa: F401 - `embed --model` choices, extendable

__all__ = ["main"]

#: Above this many bytes of decoded audio, clips are checked and passed as paths
#: (decoded again per fold) instead of held in memory.
PRELOAD_LIMIT_BYTES = 2 * 1024**3

# The function each command runs; build_parser reads these names when called, so
# replacing one (a test, an embedding application) changes what the command does.
cmd_demo = demo.run
cmd_pipelines = pipelines.run
cmd_train = train.run
cmd_predict = predict.run
cmd_evaluate = evaluate.run
cmd_distill = distill.run
cmd_verify = distill.run_verify
cmd_weights = weights.run
cmd_embed = embed.run
cmd_stream = stream.run
cmd_studio = studio.run


def build_parser():
    """The argument parser (exposed for documentation and tests).

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> build_parser().parse_args(["pipelines"]).command
    'pipelines'
    """
    from .. import __version__

    p = argparse.ArgumentParser(
        prog="embedclf",
        description=("Embeddings-first audio classification: train, predict, evaluate."),
    )
    p.add_argument("--version", action="version", version=f"embedclf {__version__}")
    debug_help = (
        "on an error, show the Python traceback instead of one line (or set EMBEDCLF_DEBUG=1)"
    )
    p.add_argument("--debug", action="store_true", help=debug_help)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp, on_error=True):
        sp.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
        if on_error:
            sp.add_argument(
                "--on-error",
                choices=["raise", "skip"],
                default="raise",
                help="unreadable clips: stop (default) or skip and report them",
            )

    commands = {  # in the order `embedclf --help` lists them
        "demo": (demo.add_parser, cmd_demo),
        "pipelines": (pipelines.add_parser, cmd_pipelines),
        "train": (train.add_parser, cmd_train),
        "predict": (predict.add_parser, cmd_predict),
        "evaluate": (evaluate.add_parser, cmd_evaluate),
        "distill": (distill.add_parser, cmd_distill),
        "verify": (distill.add_verify_parser, cmd_verify),
        "weights": (weights.add_parser, cmd_weights),
        "embed": (embed.add_parser, cmd_embed),
        "stream": (stream.add_parser, cmd_stream),
        "studio": (studio.add_parser, cmd_studio),
    }
    for add_parser, run in commands.values():
        add_parser(sub, common).set_defaults(func=run)
    for sp in sub.choices.values():  # --debug also after the command; SUPPRESS keeps the global
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    return p


#: Failures a command reports on purpose: their message is the whole story.
_EXPECTED_ERRORS = (CLIError, ValueError, OSError, ImportError)


def _one_line(exc):
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return text or type(exc).__name__


def _fail(exc, *, as_json, debug, code=1):
    """Report ``exc`` as one stderr line (and a JSON object with ``--json``); the exit code."""
    if isinstance(exc, KeyboardInterrupt):
        message = "interrupted"
    elif isinstance(exc, _EXPECTED_ERRORS):  # AudioError is a ValueError
        message = in_option_words(_one_line(exc))  # library messages name Python parameters
    else:  # a bug or an unforeseen input: name the kind and where to see more
        message = (
            f"unexpected {type(exc).__name__}: {_one_line(exc)} (run again with "
            "--debug or EMBEDCLF_DEBUG=1 for the traceback)"
        )
    if debug:
        traceback.print_exc()
    if as_json:
        obj = {"error": message, "type": type(exc).__name__}
        if getattr(exc, "source", None) is not None:  # AudioError: the clip at fault
            obj["source"] = exc.source
        print(dump(obj))
    print(f"embedclf: error: {message}", file=sys.stderr)
    return code


def main(argv=None):
    """Run the command line; returns the exit code.

    No traceback reaches the user: any exception becomes one line on stderr
    (``embedclf: error: ...``) and exit code 1 (130 when interrupted), and
    with ``--json`` also an ``{"error": ..., "type": ...}`` object on stdout.
    ``--debug`` (or ``EMBEDCLF_DEBUG=1``) prints the traceback too. Bad usage
    exits 2 before any work.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int

    Examples
    --------
    >>> from embedclf.cli import main
    >>> main(["pipelines"])  # doctest: +ELLIPSIS
    birdnet-forest ...
    0
    """
    debug = os.environ.get("EMBEDCLF_DEBUG", "").strip().lower() not in ("", "0", "false", "no")
    as_json = False
    try:
        import matplotlib

        matplotlib.use("Agg")  # the command line never opens windows
        args = build_parser().parse_args(argv)  # bad usage: SystemExit(2), not caught here
        debug = debug or args.debug
        as_json = getattr(args, "json", False)
        if getattr(args, "check", None):
            args.check(args)
        from ..distributed import cluster

        # the command inside a Dask cluster when --scheduler or --workers asks for one
        with cluster(
            scheduler=getattr(args, "scheduler", None), workers=getattr(args, "workers", None)
        ):
            return args.func(args)
    except BrokenPipeError:
        # the reader of stdout went away (`embedclf predict ... | head`): stop quietly, like
        # other command-line tools, with the shell's code for SIGPIPE
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # stdout without a file descriptor
            pass
        return 141
    except KeyboardInterrupt as exc:
        return _fail(exc, as_json=as_json, debug=debug, code=130)
    except Exception as exc:  # noqa: BLE001 - the one place every failure becomes one line
        return _fail(exc, as_json=as_json, debug=debug)
