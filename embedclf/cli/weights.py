"""``embedclf weights``: fetch or list pretrained weight files."""

from __future__ import annotations

import sys

from ._args import output_folder
from ._common import dump, in_option_words

__all__ = ["add_parser", "run"]


def add_parser(sub, common):
    """Add the ``weights`` sub-parser to ``sub`` (its own ``--json``/``--quiet``).

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli import weights
    >>> sub = argparse.ArgumentParser(prog="embedclf").add_subparsers()
    >>> sp = weights.add_parser(sub, lambda sp, on_error=True: None)
    >>> sp.parse_args(["fetch", "--content-type", "env"]).model
    'openl3'
    """
    sp = sub.add_parser("weights", help="fetch or list pretrained weight files")
    sp.add_argument("action", choices=["fetch", "list"])
    sp.add_argument("model", nargs="?", default="openl3", choices=["openl3"])
    sp.add_argument(
        "--input-repr",
        choices=["mel256", "mel128", "linear"],
        help="fetch only this representation (default: all)",
    )
    sp.add_argument("--content-type", choices=["music", "env"], help="default: both")
    sp.add_argument(
        "--dest", type=output_folder, help="folder to unpack into (default: the user cache)"
    )
    sp.add_argument("--base-url", help="where the .h5.gz files are (default: the official place)")
    sp.add_argument("--sha256", help="expected SHA-256 of the .h5.gz (when none is recorded)")
    sp.add_argument("--weights", help="with list: also look in this folder")
    sp.add_argument("--force", action="store_true", help="download even if present")
    sp.add_argument(
        "--allow-unverified",
        action="store_true",
        help="install a file with no known SHA-256 and print its digest",
    )
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--quiet", action="store_true")
    return sp


def run(args):
    """Run ``embedclf weights``; returns the exit code (1 when a fetch failed).

    Examples
    --------
    >>> import contextlib, io
    >>> from embedclf.cli import build_parser
    >>> from embedclf.cli.weights import run
    >>> with contextlib.redirect_stdout(io.StringIO()) as out:
    ...     code = run(build_parser().parse_args(["weights", "list", "--json"]))
    >>> code, out.getvalue().startswith("[")
    (0, True)
    """
    from .. import weights

    if args.action == "list":
        table = weights.list_weights(args.weights)
        if args.json:
            print(dump(table.to_dict("records")))
        else:
            print(table.fillna("").to_string(index=False))
        return 0
    reprs = [args.input_repr] if args.input_repr else ["mel256", "mel128", "linear"]
    contents = [args.content_type] if args.content_type else ["music", "env"]
    done, failed = [], []
    for r in reprs:
        for c in contents:
            try:
                path = weights.fetch_openl3(
                    r,
                    c,
                    dest=args.dest,
                    base_url=args.base_url,
                    sha256=args.sha256,
                    progress=not args.quiet,
                    force=args.force,
                    allow_unverified=args.allow_unverified,
                )
                done.append({"input_repr": r, "content_type": c, "path": path})
            except (ValueError, OSError) as exc:  # the others may still work
                message = in_option_words(str(exc))
                failed.append({"input_repr": r, "content_type": c, "error": message})
                print(f"embedclf: error: {message}", file=sys.stderr)
    print(
        dump({"fetched": done, "failed": failed})
        if args.json
        else "\n".join(d["path"] for d in done)
    )
    return 1 if failed else 0
