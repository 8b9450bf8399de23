"""``embedclf distill`` with a teacher that pools BirdNET's windows with a spread (std), on ESC-10.

Run as a user would (issue 23): a teacher ``BirdNETEmbedding -> WindowAggregator()`` (default
statistics: mean and std) ``-> StandardScaler -> LogisticRegression``, fitted on ESC-10 folds 1-4
and saved; then ``embedclf distill`` on the ESC-10 folder with the default 20% held out (the
teacher refitted on the other clips), once per teacher context. Asked about one 3 s window, such
a teacher sees a std of 0 it never saw in training; ``auto`` gives it two windows (6 s). Each
row: what the Distiller measured about its targets on the training clips (``report.json``
``training.teacher_targets``) and the held-out accuracies. Writes
``benchmarks/results/distill_default_stats.{csv,md}``.

Usage: python benchmarks/distill_teacher_stats.py [--run "OPTIONS"]... [--reuse]
       [--work build/distill_teacher_stats]

Each ``--run`` is one distill run's options (default: ``--teacher-context auto --augment 0
--epochs 40`` and the same with ``--teacher-context 3``, the former ``auto`` for BirdNET).
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd

from embedclf.evaluation import atomic_write, atomic_write_data

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


def fit_teacher(path, cache):
    """Fit the default-statistics teacher on ESC-10 folds 1-4 and save it (once)."""
    if os.path.exists(path):
        return
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from embedclf import BirdNETEmbedding, WindowAggregator
    from embedclf.datasets import load_esc10
    from embedclf.modelfile import save_model

    df = load_esc10(DATA / "esc10")
    train = df["fold"] != 5
    teacher = Pipeline(
        [
            ("emb", BirdNETEmbedding(cache=cache)),
            ("agg", WindowAggregator()),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(max_iter=5000)),
        ]
    )
    teacher.fit(df["path"][train].tolist(), df["label"][train].to_numpy())
    save_model(teacher, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", help="the options of one distill run")
    ap.add_argument("--work", default=str(HERE.parent / "build" / "distill_teacher_stats"))
    ap.add_argument("--cache", default=str(HERE.parent / "build" / "cache"))
    ap.add_argument("--reuse", action="store_true", help="keep runs whose report.json exists")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if not (DATA / "esc10").is_dir():
        print(f"no ESC-10 under {DATA}; nothing to measure", file=sys.stderr)
        return 0
    os.makedirs(args.work, exist_ok=True)
    teacher = os.path.join(args.work, "teacher.skops")
    fit_teacher(teacher, args.cache)
    rows = []
    runs = args.run or [f"--teacher-context {c} --augment 0 --epochs 40" for c in ("auto", "3")]
    for options in runs:
        folder = os.path.join(args.work, re.sub(r"[^\w.]+", "_", options).strip("_"))
        report_path = os.path.join(folder, "report.json")
        if not (args.reuse and os.path.exists(report_path)):
            command = [sys.executable, "-m", "embedclf", "distill", "--teacher", teacher]
            command += ["--data", str(DATA / "esc10"), "--dataset", "esc10", "--out", folder]
            command += shlex.split(options) + ["--quiet"]
            print(" ".join(command), file=sys.stderr, flush=True)
            subprocess.run(command, check=True)
        r = json.loads(Path(report_path).read_text())
        t = r["training"]["teacher_targets"]
        rows.append(
            {
                "options": options,
                "teacher_hears": r["training"]["teacher_context"],
                "targets_window_accuracy": t["window_accuracy"],
                "targets_averaged_clip_accuracy": t["averaged_clip_accuracy"],
                "targets_clip_accuracy": t["clip_accuracy"],
                "student_accuracy": r["student_accuracy"],
                "student_float_accuracy": r["student_float_accuracy"],
                "teacher_accuracy": r["teacher_accuracy"],
                "n_test_clips": r["n_test_clips"],
                "flash_bytes": r["flash_bytes"],
                "arena_bytes": r["arena_bytes"],
            }
        )
    table = pd.DataFrame(rows)
    os.makedirs(args.out, exist_ok=True)
    atomic_write(
        os.path.join(args.out, "distill_default_stats.csv"), lambda p: table.to_csv(p, index=False)
    )
    md = [
        "ESC-10, `embedclf distill --teacher TEACHER --data esc10 --dataset esc10 OPTIONS`, the "
        "default 20% held out (the teacher refitted on the other clips). TEACHER: "
        "BirdNETEmbedding -> WindowAggregator() (mean, std) -> StandardScaler -> "
        "LogisticRegression, fitted on folds 1-4 and saved. Targets: what the Distiller measured "
        "on its labelled training clips (`report.json`, `training.teacher_targets`).",
        "",
        "| options | teacher hears (s) | window answers right | averaged per clip | clips heard "
        "whole | int8 student | teacher | student / teacher | flash KB | arena KB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        md.append(
            f"| `{r['options']}` | {r['teacher_hears']} | "
            f"{100 * r['targets_window_accuracy']:.1f}% | "
            f"{100 * r['targets_averaged_clip_accuracy']:.1f}% | "
            f"{100 * r['targets_clip_accuracy']:.1f}% | {100 * r['student_accuracy']:.1f}% | "
            f"{100 * r['teacher_accuracy']:.1f}% | "
            f"{100 * r['student_accuracy'] / r['teacher_accuracy']:.1f}% | "
            f"{r['flash_bytes'] / 1024:.1f} | {r['arena_bytes'] / 1024:.1f} |"
        )
    atomic_write_data(os.path.join(args.out, "distill_default_stats.md"), "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
