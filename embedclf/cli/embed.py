"""``embedclf embed``: per-window pretrained embeddings with timestamps, to a table."""

from __future__ import annotations

import argparse
import os
import sys

from ._args import cluster_options, count, output_file, output_folder, parse_set, positive
from ._common import CLIError, dump, limit_per_class, read_table, report_skipped

__all__ = ["EMBEDDERS", "add_parser", "run"]

EMBEDDERS = {
    "birdnet": ("embedclf.features.birdnet", "BirdNETEmbedding"),
    "openl3": ("embedclf.features.openl3", "OpenL3Embedding"),
}
"""``--model`` choices: the module and class of each pretrained embedding (imported when used)."""


def add_parser(sub, common):
    """Add the ``embed`` sub-parser to ``sub``; ``common`` adds the shared options.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli import embed
    >>> sub = argparse.ArgumentParser(prog="embedclf").add_subparsers()
    >>> sp = embed.add_parser(sub, lambda sp, on_error=True: None)
    >>> sp.parse_args(["clips", "-o", "emb.parquet"]).model
    'birdnet'
    """
    from ..datasets import DATASETS

    sp = sub.add_parser(
        "embed", help="per-window pretrained embeddings with timestamps, to a table"
    )
    sp.add_argument("data", help="an audio file, a dataset folder, or a CSV with a path column")
    sp.add_argument(
        "-o",
        "--output",
        type=output_file(".parquet", ".csv"),
        required=True,
        help="embeddings.parquet or .csv",
    )
    sp.add_argument("--model", choices=sorted(EMBEDDERS), default="birdnet")
    sp.add_argument(
        "--dataset", choices=sorted(DATASETS), help="layout of DATA (default: folder per class)"
    )
    sp.add_argument(
        "--hop", type=positive, metavar="SECONDS", help="seconds between windows (model default)"
    )
    # the flag's name before 0.2, kept working until 0.4 (a note says to use --hop)
    sp.add_argument("--hop-size", type=positive, help=argparse.SUPPRESS)
    sp.add_argument("--cache", type=output_folder, metavar="DIR", help="embedding cache folder")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="embedding parameter")
    sp.add_argument("--limit-per-class", type=count)
    common(sp)
    cluster_options(sp)
    return sp


class _ChunkedTable:
    """A CSV or parquet file written a chunk of rows at a time (same columns each time)."""

    def __init__(self, path, parquet):
        self.path, self.parquet, self.out, self.rows = path, parquet, None, 0

    def write(self, part):
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self.out is None:
                table = pa.Table.from_pandas(part, preserve_index=False)
                self.out = pq.ParquetWriter(self.path, table.schema)
            else:
                table = pa.Table.from_pandas(part, schema=self.out.schema, preserve_index=False)
            self.out.write_table(table)
        else:
            if self.out is None:
                self.out = open(self.path, "w", newline="")
            part.to_csv(self.out, index=False, header=self.rows == 0)
        self.rows += len(part)

    def close(self):
        if self.out is not None:
            self.out.close()


#: embedding rows read back from a file's spool per output chunk
_EMBED_CHUNK_ROWS = 4096


def _embed_to(tmp, est, df, parquet, bar, skipped):
    """Stream every file's embeddings into ``tmp``; returns (clips, windows, dim).

    A file's rows go to a spool on disk first and into the table only once the
    file has been read to its end, so a file that fails part way leaves no rows.
    """
    import tempfile

    import numpy as np
    import pandas as pd

    from ..audio import AudioError

    table = _ChunkedTable(tmp, parquet)
    n_clips = dim = 0
    try:
        for i, path in enumerate(df["path"].tolist()):
            with tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(tmp))) as spool:
                times = []
                try:
                    for e in est.stream_embeddings(path):
                        np.ascontiguousarray(e.values, dtype=np.float32).tofile(spool)
                        times.append(e.times)
                        dim = e.values.shape[1]
                except AudioError as err:
                    if est.on_error == "raise":
                        raise
                    skipped.append((i, path, err.reason))
                    continue
                finally:
                    if bar is not None:
                        bar.update(1)
                n_clips += 1
                times = np.concatenate(times) if times else np.zeros(0)
                spool.seek(0)
                for start in range(0, len(times), _EMBED_CHUNK_ROWS):
                    stop = min(start + _EMBED_CHUNK_ROWS, len(times))
                    values = np.fromfile(spool, dtype=np.float32, count=(stop - start) * dim)
                    part = pd.DataFrame(
                        values.reshape(stop - start, dim), columns=[f"e{k}" for k in range(dim)]
                    )
                    part.insert(0, "time", times[start:stop])
                    part.insert(0, "window", np.arange(start, stop))
                    if "label" in df:
                        part.insert(0, "label", df["label"].iloc[i])
                    part.insert(0, "path", path)
                    table.write(part)
        if table.rows == 0:  # nothing embedded: an empty table, as pandas writes one
            if parquet:
                pd.DataFrame().to_parquet(tmp, index=False)
            else:
                pd.DataFrame().to_csv(tmp, index=False)
    finally:
        table.close()
    return n_clips, table.rows, dim


def run(args):
    """Run ``embedclf embed``; returns the exit code.

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> from embedclf.cli.embed import run
    >>> run(build_parser().parse_args(["embed", "no_such_folder", "-o", "emb.csv"]))
    Traceback (most recent call last):
        ...
    FileNotFoundError: dataset root 'no_such_folder' is not a directory
    """
    import importlib

    import pandas as pd

    from ..audio import skipped_from_columns
    from ..files import atomic_write

    module, name = EMBEDDERS[args.model]
    hop = args.hop if args.hop is not None else args.hop_size
    if args.hop_size is not None:
        print(
            "note: --hop-size is deprecated and will be removed in 0.4; use --hop", file=sys.stderr
        )
    params = {
        "on_error": args.on_error,
        "progress": False,
        "cache": args.cache,
        **({"hop": hop} if hop else {}),
        **parse_set(args.set),
    }
    est = getattr(importlib.import_module(module), name)(**params)
    if os.path.isfile(args.data) and not args.data.lower().endswith(".csv"):
        df = pd.DataFrame({"path": [args.data]})
    else:
        df = limit_per_class(
            read_table(args.data, args.dataset, need_label=False), args.limit_per_class
        )
    paths = df["path"].tolist()
    out = args.output
    parquet = out.endswith(".parquet")
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CLIError(
                "writing .parquet needs pyarrow: pip install 'embedclf[parquet]' (or write .csv)"
            ) from None
    elif not out.endswith(".csv"):
        raise CLIError(f"output must end in .parquet or .csv, got {out!r}")
    est.fit(paths[:1] if paths else [])
    bar = None
    if not args.quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths), desc=name, unit="clip")
    skipped, counts = [], {}
    try:
        # rows are written as they come; the file takes its name only when complete
        atomic_write(
            out,
            lambda tmp: counts.update(
                zip(("n_clips", "n_windows", "dim"), _embed_to(tmp, est, df, parquet, bar, skipped))
            ),
        )
    finally:
        if bar is not None:
            bar.close()
    skipped = skipped_from_columns(
        {
            "index": [s[0] for s in skipped],
            "source": [s[1] for s in skipped],
            "reason": [s[2] for s in skipped],
        }
    )
    if args.on_error == "skip":
        report_skipped(skipped, 'the --json output ("skipped")')
    summary = {
        "output": out,
        "model": args.model,
        **counts,
        "skipped": [] if args.on_error != "skip" else skipped.to_dict("records"),
    }
    print(
        dump(summary)
        if args.json
        else f"embedded {summary['n_clips']} clips ({summary['n_windows']} windows x "
        f"{summary['dim']}) -> {out}"
    )
    return 0
