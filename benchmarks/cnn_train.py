"""Training throughput and inference latency of each KerasCNN architecture.

For every named architecture on the default frontend's 1 s window (40 mels x
22 frames at 22.05 kHz): parameters, MACs per window, training windows per
second (after one warm-up epoch), and inference latency per window (batch of
1 and batch of 256). Timings on this shared VM vary run to run, so the table
also gives each number as a ratio to `sbcnn` measured in the same run.

Writes ``benchmarks/results/cnn_train.md`` and ``.csv``.

Usage: python benchmarks/cnn_train.py [--windows 2048] [--epochs 2]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from embedclf.evaluation import atomic_write, atomic_write_data
from embedclf.models.architectures import ARCHITECTURES, count_macs, count_params

HERE = Path(__file__).resolve().parent


def measure(name, shape, n_classes, X, Y, epochs):
    import keras

    model = ARCHITECTURES[name](shape, n_classes, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    model.fit(X, Y, batch_size=32, epochs=1, verbose=0)  # warm-up: tracing, allocation
    t = time.perf_counter()
    model.fit(X, Y, batch_size=32, epochs=epochs, verbose=0)
    train_wps = epochs * len(X) / (time.perf_counter() - t)
    one = X[:1]
    for _ in range(5):
        model(one, training=False)
    t = time.perf_counter()
    for _ in range(50):
        model(one, training=False)
    latency_1 = (time.perf_counter() - t) / 50 * 1e3
    batch = X[:256]
    model(batch, training=False)
    t = time.perf_counter()
    for _ in range(5):
        model(batch, training=False)
    latency_256 = (time.perf_counter() - t) / (5 * len(batch)) * 1e3
    return {
        "architecture": name,
        "params": count_params(model),
        "macs_per_window": count_macs(model),
        "train_windows_per_s": round(train_wps, 1),
        "latency_ms_batch1": round(latency_1, 3),
        "latency_ms_per_window_batch256": round(latency_256, 4),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    from embedclf.models.cnn import default_frontend
    from embedclf.models.windows import window_frames

    frames, _ = window_frames(default_frontend(22050), 1.0, 0.5)
    shape = (default_frontend().n_mels, frames, 1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.windows, *shape)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, args.windows)]
    rows = []
    for name in ARCHITECTURES:
        print(f"{name} ...", file=sys.stderr)
        rows.append(measure(name, shape, 10, X, Y, args.epochs))
    table = pd.DataFrame(rows)
    ref = table.set_index("architecture").loc["sbcnn"]
    table["train_speed_vs_sbcnn"] = (
        table["train_windows_per_s"] / ref["train_windows_per_s"]
    ).round(2)
    table["latency1_vs_sbcnn"] = (table["latency_ms_batch1"] / ref["latency_ms_batch1"]).round(2)
    os.makedirs(args.out, exist_ok=True)
    atomic_write(os.path.join(args.out, "cnn_train.csv"), lambda p: table.to_csv(p, index=False))
    md = [
        f"Input {shape} (1 s window of the default frontend), 10 classes, {args.windows} "
        f"random windows, batch 32, {os.cpu_count()} cores.",
        "",
        "| architecture | params | MACs / window | train windows/s | x sbcnn | "
        "latency ms (batch 1) | x sbcnn | ms / window (batch 256) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table.to_dict("records"):
        md.append(
            f"| `{r['architecture']}` | {r['params']:,} | {r['macs_per_window']:,} | "
            f"{r['train_windows_per_s']:.0f} | {r['train_speed_vs_sbcnn']:.2f} | "
            f"{r['latency_ms_batch1']:.2f} | {r['latency1_vs_sbcnn']:.2f} | "
            f"{r['latency_ms_per_window_batch256']:.3f} |"
        )
    atomic_write_data(os.path.join(args.out, "cnn_train.md"), "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
