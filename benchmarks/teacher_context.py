"""How good are a teacher's per-window targets? ESC-10, by how much audio the teacher hears.

The distiller asks its teacher about every student window (1 s at 0.5 s hop). For each held-out
fold, the teacher (``birdnet-linear``) is fitted on the other folds and asked about every window
of the held-out clips, hearing the window alone, a longer span centred on it, or the whole clip
(``Distiller(teacher_context=...)``, the very code the distiller runs). Two numbers per setting:
how often a window's top class is its clip's label, and the accuracy of the clips when their
windows' probabilities are averaged, which is what a student that imitated its targets
perfectly would score. Writes ``benchmarks/results/teacher_context.{csv,md}``.

``--teacher default-stats`` measures instead a teacher pooling BirdNET's windows with
``WindowAggregator()``'s default statistics (mean and std), standardised, with a default
``LogisticRegression``: one 3 s window gives it a std of 0, a value it never saw in training, so
its answers need two of its windows (``"auto"``: 6 s). Writes
``benchmarks/results/teacher_context_default_stats.{csv,md}``.

Usage: python benchmarks/teacher_context.py [--folds 1,2,3,4,5] [--contexts window,2,3,clip]
       [--teacher birdnet-linear|default-stats]
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from embedclf.audio import load_clips, resample
from embedclf.datasets import load_esc10
from embedclf.distill import Distiller
from embedclf.distill.distiller import (
    auto_teacher_context,
    parse_teacher_context,
    teacher_window_proba,
)
from embedclf.evaluation import atomic_write, atomic_write_data
from embedclf.pipelines import make_pipeline

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


def make_teacher(name, cache):
    """The teacher measured: ``birdnet-linear``, or BirdNET with the default statistics."""
    if name in (None, "birdnet-linear"):
        return make_pipeline("birdnet-linear").set_params(emb__cache=cache)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from embedclf import BirdNETEmbedding, WindowAggregator

    return Pipeline(
        [
            ("emb", BirdNETEmbedding(cache=cache)),
            ("agg", WindowAggregator()),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(max_iter=5000)),
        ]
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", default="1,2,3,4,5")
    ap.add_argument("--contexts", default="window,2,3,clip")
    ap.add_argument("--teacher", choices=["birdnet-linear", "default-stats"], default=None)
    ap.add_argument("--cache", default=str(HERE.parent / "build" / "cache"))
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if not (DATA / "esc10").is_dir():
        print(f"no ESC-10 under {DATA}; nothing to measure", file=sys.stderr)
        return 0
    df = load_esc10(DATA / "esc10")
    rows = []
    for fold in [int(f) for f in args.folds.split(",")]:
        train = (df["fold"] != fold).to_numpy()
        X, y = df["path"].tolist(), df["label"].to_numpy()
        teacher = make_teacher(args.teacher, args.cache)
        teacher.fit([x for x, t in zip(X, train) if t], y[train])
        test_y = y[~train]
        test_paths = [x for x, t in zip(X, train) if not t]
        teacher_accuracy = float(np.mean(teacher.predict(test_paths) == test_y))
        waves = load_clips(test_paths, None, sr=48000).clips
        student = Distiller(teacher).new_student()  # only its window geometry is used
        small = [resample(w, 48000, student.sr) for w in waves]
        _, owner, starts = student.fit_frontend(small)
        for text in args.contexts.split(","):
            context = parse_teacher_context(text)
            if context == "auto":  # what the Distiller resolves it to for this teacher
                context = auto_teacher_context(teacher, student.window)
            P = teacher_window_proba(
                teacher,
                waves,
                owner,
                starts,
                sr=48000,
                frame_seconds=student.frontend_.hop_length / student.sr,
                window_frames=student.window_frames_[0],
                context=context,
                n_classes=len(teacher.classes_),
            )
            top = teacher.classes_[P.argmax(1)]
            clip_p = np.stack([P[owner == i].mean(0) for i in range(len(waves))])
            rows.append(
                {
                    "fold": fold,
                    "teacher_hears": text if text != "auto" else f"auto ({context:g} s)",
                    "windows": len(P),
                    "window_accuracy": float(np.mean(top == test_y[owner])),
                    "averaged_clip_accuracy": float(
                        np.mean(teacher.classes_[clip_p.argmax(1)] == test_y)
                    ),
                    "teacher_clip_accuracy": teacher_accuracy,
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    os.makedirs(args.out, exist_ok=True)
    stem = (
        "teacher_context"
        if args.teacher in (None, "birdnet-linear")
        else ("teacher_context_default_stats")
    )
    csv = os.path.join(args.out, f"{stem}.csv")
    atomic_write(csv, lambda p: table.to_csv(p, index=False))
    g = table.groupby("teacher_hears", sort=False)
    described = (
        "birdnet-linear (BirdNET, mean and max)"
        if args.teacher in (None, "birdnet-linear")
        else "BirdNET + WindowAggregator() (mean and std) + StandardScaler + LogisticRegression"
    )
    md = [
        f"ESC-10, {described} teacher, held-out folds {args.folds} (each asked about with the "
        f"teacher fitted on the other folds); 1 s student windows at 0.5 s hop (mean ± std over "
        f"folds). Teacher's own clip accuracy: "
        f"{100 * table['teacher_clip_accuracy'].mean():.1f}%.",
        "",
        "| teacher hears | window top class = clip label | windows averaged per clip |",
        "|---|---|---|",
    ]
    for name, part in g:
        label = {"window": "the 1 s window", "clip": "the whole clip"}.get(
            name, name if name.startswith("auto") else f"{name} s"
        )
        md.append(
            f"| {label} | {100 * part['window_accuracy'].mean():.1f}% ± "
            f"{100 * part['window_accuracy'].std(ddof=0):.1f} | "
            f"{100 * part['averaged_clip_accuracy'].mean():.1f}% ± "
            f"{100 * part['averaged_clip_accuracy'].std(ddof=0):.1f} |"
        )
    atomic_write_data(os.path.join(args.out, f"{stem}.md"), "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
