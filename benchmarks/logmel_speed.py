"""LogMel throughput against librosa, and its error, measured in one run.

Many 4 s clips at 22.05 kHz (n_fft 1024, hop 512, 64 mels, power_to_db):
librosa's faster mode (one batched call on a 2-D array) and clip by clip,
against ``LogMel`` on one thread and on all cores. Each timing is the best of
several repeats; speed is reported as ms per second of audio, both wall-clock
and CPU time (all threads), and as ratios to librosa's batched call measured
here, side by side, with the load average before and after. Writes
``benchmarks/results/logmel_speed.{csv,md}``.

Usage: python benchmarks/logmel_speed.py [--clips 200] [--repeats 7]
"""

import argparse
import os
import sys
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
from timing import alternating_rounds, markdown_rows, ratio_table, tone_clips  # beside this

from embedclf import LogMel
from embedclf.evaluation import atomic_write, atomic_write_data

HERE = Path(__file__).resolve().parent
PARAMS = {"n_fft": 1024, "hop_length": 512, "n_mels": 64}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    sr = 22050
    clips = tone_clips(args.clips, args.seconds, sr, (100, 4000))
    batch = np.stack(clips)
    audio_s = args.clips * args.seconds

    def librosa_batched():
        return librosa.power_to_db(librosa.feature.melspectrogram(y=batch, sr=sr, **PARAMS))

    def librosa_per_clip():
        return [
            librosa.power_to_db(librosa.feature.melspectrogram(y=c, sr=sr, **PARAMS)) for c in clips
        ]

    ours1 = LogMel(sr=sr, **PARAMS).fit(clips[:1])
    oursN = LogMel(sr=sr, n_jobs=-1, **PARAMS).fit(clips[:1])
    runs = {
        "librosa, one batched call": librosa_batched,
        "librosa, clip by clip": librosa_per_clip,
        "embedclf LogMel, 1 thread": lambda: ours1.transform(clips),
        "embedclf LogMel, n_jobs=-1": lambda: oursN.transform(clips),
    }
    for f in runs.values():  # warm up: imports, FFT plans, caches
        f()
    # rounds of short blocks (two calls each), a pause before each for BLAS threads to settle
    best, load_before, load_after = alternating_rounds(runs, args.repeats, per_round=2, pause=0.2)
    table = ratio_table(best, audio_s, "audio_s")

    # accuracy: against librosa in float64 on the same clips
    ours = ours1.transform(clips[:20])
    errs = []
    for c, S in zip(clips[:20], ours):
        R = librosa.power_to_db(
            librosa.feature.melspectrogram(y=c.astype(np.float64), sr=sr, **PARAMS)
        ).T
        errs.append(np.max(np.abs(S - R)) / np.max(np.abs(R)))
    max_rel = float(max(errs))

    pd.set_option("display.width", 120)
    head = (
        f"{args.clips} clips x {args.seconds:g} s at {sr} Hz, best of {args.repeats} rounds, "
        f"{os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before and "
        f"{load_after:.1f} after (a shared machine: absolute times vary with the load; the "
        "ratios, measured side by side, much less)."
    )
    print(head)
    print(table.round(4).to_string(index=False))
    print(f"max relative error vs librosa (float64 reference): {max_rel:.2e}")
    os.makedirs(args.out, exist_ok=True)
    table["max_rel_error"] = max_rel
    table["load_before"], table["load_after"] = load_before, load_after
    atomic_write(os.path.join(args.out, "logmel_speed.csv"), lambda p: table.to_csv(p, index=False))
    md = [head, "", *markdown_rows(table, "audio_s", "audio s", 3)]
    md.append(f"\nmax relative error vs librosa: {max_rel:.1e}")
    atomic_write_data(os.path.join(args.out, "logmel_speed.md"), "\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
