"""Helpers shared by the speed benchmarks (not a benchmark itself).

Contenders are timed side by side in alternating rounds, so background load on
a shared machine hits each alike, and each keeps its best wall-clock and CPU
time (all threads); ratios to the first contender are what the tables report.
"""

import os
import time

import numpy as np
import pandas as pd


def load_average():
    """The 1-minute load average, or NaN where the platform has none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def tone_clips(n_clips, seconds, sr, band, seed=0):
    """``n_clips`` float32 clips: a sine at a random frequency in ``band`` (Hz) plus noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    return [
        (0.3 * np.sin(2 * np.pi * rng.uniform(*band) * t) + 0.05 * rng.standard_normal(n)).astype(
            np.float32
        )
        for _ in range(n_clips)
    ]


def alternating_rounds(runs, rounds, per_round=1, pause=0.0):
    """Best (wall, CPU) seconds of each of ``runs`` ({name: callable}), timed in rounds.

    Each round calls every contender ``per_round`` times, after a ``pause`` (seconds)
    that lets the previous contender's worker threads stop spinning, which would
    otherwise be billed to the next one's CPU time. Returns ``({name: (wall, cpu)},
    load_before, load_after)``.
    """
    before = load_average()
    times = {k: [] for k in runs}
    for _ in range(rounds):
        for k, f in runs.items():
            time.sleep(pause)
            for _ in range(per_round):
                w, c = time.perf_counter(), time.process_time()
                f()
                times[k].append((time.perf_counter() - w, time.process_time() - c))
    best = {k: (min(w for w, _ in ts), min(c for _, c in ts)) for k, ts in times.items()}
    return best, before, load_average()


def ratio_table(best, per, unit):
    """Milliseconds per ``unit`` (``best`` divided by ``per``) and speed-ups over the first row.

    Columns: ``method``, ``wall_ms_per_<unit>``, ``cpu_ms_per_<unit>``, ``speedup_wall``,
    ``speedup_cpu``.
    """
    wall, cpu = f"wall_ms_per_{unit}", f"cpu_ms_per_{unit}"
    table = pd.DataFrame(
        [{"method": k, wall: w / per * 1e3, cpu: c / per * 1e3} for k, (w, c) in best.items()]
    )
    table["speedup_wall"] = table[wall].iloc[0] / table[wall]
    table["speedup_cpu"] = table[cpu].iloc[0] / table[cpu]
    return table


def markdown_rows(table, unit, label, digits):
    """The table as markdown lines: header and one row per method, ms to ``digits`` places."""
    wall, cpu = f"wall_ms_per_{unit}", f"cpu_ms_per_{unit}"
    lines = [
        f"| method | wall ms / {label} | CPU ms / {label} | speed-up (wall) | speed-up (CPU) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['method']} | {r[wall]:.{digits}f} | {r[cpu]:.{digits}f} | "
        f"{r['speedup_wall']:.2f}x | {r['speedup_cpu']:.2f}x |"
        for _, r in table.iterrows()
    ]
    return lines
