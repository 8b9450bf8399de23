"""``embedclf stream``: recognize sound events live in a file, raw PCM on stdin or a microphone."""

from __future__ import annotations

import json
import os
import sys
import warnings

from ._args import (
    TABLE_SUFFIXES,
    count,
    event_options,
    events_from_args,
    int_in,
    number_in,
    output_file,
    positive,
)
from ._common import CLIError, check_model, load_model, write_table

__all__ = ["add_parser", "run"]


def add_parser(sub, common):
    """Add the ``stream`` sub-parser to ``sub``, with the checks argparse cannot express.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli import stream
    >>> sub = argparse.ArgumentParser(prog="embedclf").add_subparsers()
    >>> sp = stream.add_parser(sub, lambda sp, on_error=True: None)
    >>> sp.parse_args(["model.skops", "--mic"]).format
    's16le'
    """
    from ..stream import PCM_FORMATS

    sp = sub.add_parser(
        "stream",
        help="recognize sound events live: a file, raw PCM on stdin (-) or a microphone (--mic)",
    )
    sp.add_argument(
        "model",
        help="model file written by `embedclf train` (or an exported "
        "int8 folder from `embedclf distill`)",
    )
    sp.add_argument(
        "source",
        nargs="?",
        help="an audio file, or - for raw PCM on stdin (with --rate and --format)",
    )
    sp.add_argument(
        "--mic",
        action="store_true",
        help="listen to the microphone (needs: pip install 'embedclf[live]')",
    )
    sp.add_argument("--device", help="microphone device (name or number; default the system's)")
    sp.add_argument(
        "--duration",
        type=positive,
        metavar="SECONDS",
        help="with --mic: stop after SECONDS (default: until Ctrl-C)",
    )
    sp.add_argument(
        "--rate",
        type=int_in(1000, 768000),
        metavar="HZ",
        help="sample rate of raw PCM on stdin (required with -) or of the microphone "
        "(default the model's)",
    )
    sp.add_argument(
        "--format",
        choices=sorted(PCM_FORMATS),
        default="s16le",
        help="raw PCM sample format on stdin (default s16le)",
    )
    sp.add_argument(
        "--block",
        type=count,
        metavar="SAMPLES",
        help="samples read at a time (results do not depend on it)",
    )
    sp.add_argument(
        "--window",
        type=number_in(1e-3),
        metavar="SECONDS",
        help="analysis window (default the model's own, else 1)",
    )
    sp.add_argument(
        "--hop",
        type=number_in(1e-3),
        metavar="SECONDS",
        help="hop between windows (default the model's own, else WINDOW/2)",
    )
    event_options(sp)
    sp.add_argument(
        "-o",
        "--output",
        type=output_file(*TABLE_SUFFIXES),
        help="write the events here too: .csv, .json or .parquet",
    )
    sp.add_argument(
        "--scores",
        type=output_file(*TABLE_SUFFIXES),
        help="write every window's scores here: .csv, .json or .parquet",
    )
    sp.add_argument(
        "--plot", type=output_file(".png"), help="a timeline PNG: spectrogram, scores, events"
    )
    sp.add_argument(
        "--trust-pickle",
        action="store_true",
        help="also load a pickle/joblib model file; loading a pickle can run any "
        "code it holds: only for files from a source you trust",
    )
    common(sp, on_error=False)

    def check(args):
        if args.mic == (args.source is not None):
            sp.error("give a SOURCE (a file, or - for stdin) or --mic, not both")
        if args.source == "-" and args.rate is None:
            sp.error("argument --rate: needed with - (raw PCM carries no sample rate)")
        if args.source not in (None, "-") and args.rate is not None:
            sp.error("argument --rate: only for - or --mic (a file has its own rate)")
        if not args.mic and (args.device is not None or args.duration is not None):
            sp.error("arguments --device/--duration: only with --mic")
        if (
            args.threshold is not None
            and args.threshold_off is not None
            and args.threshold_off > args.threshold
        ):
            sp.error("argument --threshold-off: must not exceed --threshold")

    sp.set_defaults(check=check)
    return sp


def run(args):
    """Run ``embedclf stream`` (a file, raw PCM on stdin or a microphone); the exit code.

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> from embedclf.cli.stream import run
    >>> run(build_parser().parse_args(["stream", "missing.skops", "a.wav"]))
    Traceback (most recent call last):
        ...
    FileNotFoundError: model file not found: missing.skops
    """
    from ..stream import (
        Int8Folder,
        Recognizer,
        ResamplingWarning,
        SpectrogramLog,
        file_source,
        mic_source,
        pcm_source,
        plot_timeline,
    )

    if os.path.isdir(args.model):
        # full windows only: a stream scored as the device scores it, so the events match
        model = Int8Folder(args.model, partial_windows=False)
    else:
        model = check_model(load_model(args.model, args.trust_pickle), args.model, needs=())
    settings = dict(window=args.window, hop=args.hop)
    settings = {k: v for k, v in settings.items() if v is not None}
    try:
        rec = Recognizer(model, **settings, **events_from_args(args))
    except ValueError as err:
        raise CLIError(f"{args.model}: {err}") from None
    if args.mic:
        device = int(args.device) if args.device and args.device.isdigit() else args.device
        source = mic_source(
            args.rate or rec.sr, block=args.block or 1024, device=device, duration=args.duration
        )
    elif args.source == "-":
        source = pcm_source(
            sys.stdin.buffer, args.rate, format=args.format, block=args.block or 4096
        )
    else:
        source = file_source(args.source, block=args.block)
    rec.input_sr = source.sr
    if source.sr != rec.sr and not args.quiet:
        print(
            f"embedclf: note: the audio is at {source.sr} Hz and the model takes {rec.sr} Hz: "
            "resampling the stream",
            file=sys.stderr,
        )
    spec = SpectrogramLog(source.sr) if args.plot else None

    def blocks():
        for block in source:
            if spec is not None:
                spec.push(block)
            yield block

    def show(update):
        for e in update.events:
            d = e.as_dict()
            print(
                json.dumps({k: d[k] for k in ("onset", "offset", "label", "score")})
                if args.json
                else f"{e.onset:9.2f} {e.offset:9.2f}  {e.label}  {e.score:.3f}",
                flush=True,
            )

    failure = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResamplingWarning)  # said above, once
        try:
            for update in rec.run(blocks()):
                show(update)
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - keep what was decided
            failure = exc
            if not isinstance(exc, BrokenPipeError):
                show(rec.flush())  # run() flushed already when the source failed
    # the outputs hold what was decided, also when the stream broke or was interrupted
    if args.output:
        write_table(rec.events_table(), args.output)
    if args.scores:
        write_table(rec.scores_table(), args.scores)
    if args.plot:
        plot_timeline(args.plot, rec, spec.result())
    if isinstance(failure, KeyboardInterrupt) and args.mic:
        failure = None  # Ctrl-C is how one stops listening
    if failure is not None:
        raise failure
    if not args.quiet:
        print(
            f"embedclf: {len(rec.events)} event(s) in {rec.n_samples / rec.sr:.1f} s of audio, "
            f"{len(rec.windows)} windows",
            file=sys.stderr,
        )
    return 0
