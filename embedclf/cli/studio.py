"""``embedclf studio``: the local web app to record, train, preview and export (issue 25)."""

from __future__ import annotations

import ipaddress
import sys

from ._args import int_in
from ._common import CLIError

__all__ = ["add_parser", "run", "studio_url"]


def add_parser(sub, common):
    """Add the ``studio`` sub-parser to ``sub``.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli import studio
    >>> sub = argparse.ArgumentParser(prog="embedclf").add_subparsers()
    >>> args = studio.add_parser(sub, lambda sp, on_error=True: None).parse_args([])
    >>> args.project, args.host, args.port
    ('.', '127.0.0.1', 8765)
    """
    sp = sub.add_parser(
        "studio",
        help="a local web app: record or upload clips per class, train, preview live, export",
    )
    sp.add_argument(
        "project",
        nargs="?",
        default=".",
        help="project folder (one sub-folder of clips per class; created when missing; "
        "an existing folder-per-class dataset opens as a project); default: here",
    )
    sp.add_argument("--port", type=int_in(1, 65535), default=8765, help="default 8765")
    sp.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this computer only); another "
        "address lets other machines reach the studio, guarded by the token in the URL",
    )
    sp.add_argument("--quiet", action="store_true", help="no request log")
    return sp


def studio_url(host, port, token):
    """The address to open (IPv6 hosts in brackets, any-address hosts as 127.0.0.1).

    Examples
    --------
    >>> from embedclf.cli.studio import studio_url
    >>> studio_url("127.0.0.1", 8765, "abc")
    'http://127.0.0.1:8765/?token=abc'
    >>> studio_url("::1", 80, "t")
    'http://[::1]:80/?token=t'
    """
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={token}"


def _is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run(args):
    """Run ``embedclf studio`` until interrupted; returns the exit code.

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> build_parser().parse_args(["studio", "proj", "--port", "9000"]).port
    9000
    """
    try:
        import uvicorn

        from ..studio import create_app
    except ImportError as exc:
        raise CLIError(
            f"the studio needs its web server ({exc.name or exc}): pip install 'embedclf[studio]'"
        ) from None
    app = create_app(args.project)
    url = studio_url(args.host, args.port, app.state.token)
    print(f"embedclf studio: project {app.state.project.root}", file=sys.stderr)
    if not _is_loopback(args.host):
        print(
            f"embedclf studio: listening on {args.host}: other machines can reach it; "
            "anyone with the address below can use it",
            file=sys.stderr,
        )
    print(f"embedclf studio: open {url}", file=sys.stderr, flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning" if args.quiet else "info",
        ws="none",
    )
    return 0
