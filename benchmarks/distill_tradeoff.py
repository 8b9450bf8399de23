"""Distil a BirdNET teacher into int8 microcontroller students on ESC-10.

For each student width and each held-out fold: fit the teacher
(`birdnet-linear`) on the other folds, distil a `strided_ds` student on the
same clips (soft targets per 1 s window), export it int8 and measure it on
the held-out fold (accuracy of teacher, float student, int8 student; flash,
tensor arena measured in TFLM, MACs per second of audio).

Writes ``benchmarks/results/distill_tradeoff.csv``, ``.md`` (mean ± std over
folds per width) and ``.png`` (accuracy against flash, arena and MACs).
Rows already in the CSV for a (width, fold) are reused, so an interrupted
run resumes.

Usage: python benchmarks/distill_tradeoff.py [--widths 0.5,1,2] [--folds 1,2,3,4,5]
       [--augment 2] [--teacher-context auto|window|SECONDS|clip]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from embedclf.datasets import load_esc10
from embedclf.distill import Distiller, export
from embedclf.distill.distiller import parse_teacher_context, teacher_window_seconds
from embedclf.evaluation import atomic_write
from embedclf.models import Augmenter
from embedclf.pipelines import make_pipeline

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


def run_one(df, width, fold, cache, epochs, student, copies, context):
    train = (df["fold"] != fold).to_numpy()
    X = df["path"].tolist()
    y = df["label"].to_numpy()
    Xtr = [x for x, t in zip(X, train) if t]
    Xte = [x for x, t in zip(X, train) if not t]
    teacher = make_pipeline("birdnet-linear").set_params(emb__cache=cache)
    teacher.fit(Xtr, y[train])
    t = time.perf_counter()
    augment = Augmenter(copies=copies) if copies else None
    dist = Distiller(teacher, student=student, width=width, epochs=epochs, augment=augment,
                     teacher_context=context, random_state=0)
    dist.fit(Xtr, y[train])
    seconds = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as out:
        rep = export(dist, out, Xtr, X_test=Xte, y_test=y[~train])
    return {"student": student, "width": width, "augment_copies": copies,
            "teacher_context": context_name(context), "fold": fold,
            "params": rep["params"],
            "flash_bytes": rep["flash_bytes"], "model_bytes": rep["model_bytes"],
            "arena_bytes": rep["arena_bytes"], "macs_per_second": rep["macs_per_second"],
            "total_macs_per_second": rep["total_macs_per_second"],
            "teacher_accuracy": rep["teacher_accuracy"],
            "student_float_accuracy": rep["student_float_accuracy"],
            "student_accuracy": rep["student_accuracy"],
            "int8_float_agreement": rep["int8_float_agreement"],
            "teacher_student_agreement": rep["teacher_student_agreement"],
            "epochs_run": dist.student_.n_epochs_, "distill_seconds": round(seconds, 1)}


def context_name(context):
    return "window" if context is None else str(context)


def summarise(table):
    g = table.groupby(["student", "width", "augment_copies", "teacher_context"])
    s = g.agg(folds=("fold", "count"), params=("params", "first"),
              flash_bytes=("flash_bytes", "first"), arena_bytes=("arena_bytes", "first"),
              macs_per_second=("macs_per_second", "first"),
              total_macs=("total_macs_per_second", "first"),
              teacher=("teacher_accuracy", "mean"), student_acc=("student_accuracy", "mean"),
              student_std=("student_accuracy", "std"), float_=("student_float_accuracy", "mean"),
              agree=("int8_float_agreement", "mean")).reset_index()
    s["kept"] = s["student_acc"] / s["teacher"]
    md = ["| student | width | augmented copies | teacher hears | folds | params | flash KB | "
          "arena KB | M MACs/s (network + frontend) | teacher | int8 student (mean ± std) | "
          "float student | int8 = float | student / teacher |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in s.to_dict("records"):
        std = "" if pd.isna(r["student_std"]) else f" ± {100 * r['student_std']:.1f}"
        hears = {"window": "the window", "clip": "the clip"}.get(r["teacher_context"],
                                                                 f"{r['teacher_context']} s")
        md.append(f"| `{r['student']}` | {r['width']} | {r['augment_copies']} | {hears} | "
                  f"{r['folds']} | "
                  f"{r['params']:,} | {r['flash_bytes'] / 1024:.1f} | "
                  f"{r['arena_bytes'] / 1024:.1f} | {r['macs_per_second'] / 1e6:.2f} + "
                  f"{(r['total_macs'] - r['macs_per_second']) / 1e6:.2f} | "
                  f"{100 * r['teacher']:.1f}% | "
                  f"{100 * r['student_acc']:.1f}%{std} | {100 * r['float_']:.1f}% | "
                  f"{100 * r['agree']:.1f}% | {100 * r['kept']:.0f}% |")
    return s, md


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), sharey=True)
    for ax, (col, label) in zip(axes, [("flash_bytes", "flash (KB)"),
                                       ("arena_bytes", "tensor arena (KB)"),
                                       ("macs_per_second", "M MACs per second of audio")]):
        scale = 1e6 if col == "macs_per_second" else 1024
        full = summary["folds"] == summary["folds"].max()
        ax.plot(summary[col][full] / scale, 100 * summary["student_acc"][full], "o",
                label=f"int8 student, {summary['folds'].max()} folds")
        ax.plot(summary[col][~full] / scale, 100 * summary["student_acc"][~full], "o", mfc="none",
                color="C0", label="int8 student, fewer folds")
        ax.axhline(100 * summary["teacher"][full].mean(), color="gray", ls="--",
                   label="teacher (mean over those folds)")
        for r in summary.to_dict("records"):
            tag = f"x{r['width']}" + (f"+aug{r['augment_copies']}" if r["augment_copies"] else "")
            tag += "" if r["teacher_context"] == "window" else f" ctx {r['teacher_context']}"
            ax.annotate(tag, (r[col] / scale, 100 * r["student_acc"]),
                        textcoords="offset points", xytext=(4, -10), fontsize=8)
        ax.set_xlabel(label)
    axes[0].set_ylabel("ESC-10 accuracy (%)")
    axes[0].legend(loc="center left", fontsize=8)
    fig.suptitle("Distilled strided_ds students vs the BirdNET teacher (ESC-10)")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="1.0")
    ap.add_argument("--folds", default="1,2,3,4,5")
    ap.add_argument("--student", default="strided_ds")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--augment", type=int, default=0,
                    help="augmented copies per clip, labelled by the teacher (0 = none)")
    ap.add_argument("--teacher-context", default="auto",
                    help="audio the teacher hears per student window: 'auto' (BirdNET: 3 s), "
                         "'window', seconds, 'clip'")
    ap.add_argument("--cache", default=str(HERE.parent / "build" / "cache"))
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if not (DATA / "esc10").is_dir():
        print(f"no ESC-10 under {DATA}; nothing to measure", file=sys.stderr)
        return 0
    df = load_esc10(DATA / "esc10")
    csv = os.path.join(args.out, "distill_tradeoff.csv")
    table = pd.read_csv(csv) if os.path.exists(csv) else pd.DataFrame()
    if len(table):  # rows from before teacher_context existed were taught on the window alone
        table["teacher_context"] = table.get("teacher_context", "window")
        table["teacher_context"] = table["teacher_context"].fillna("window").astype(str)
    context = parse_teacher_context(args.teacher_context)
    if context == "auto":  # resolved as the Distiller does: BirdNET's 3 s, longer than 1 s
        context = teacher_window_seconds(make_pipeline("birdnet-linear"))
    for width in [float(w) for w in args.widths.split(",")]:
        for fold in [int(f) for f in args.folds.split(",")]:
            if len(table) and ((table["width"] == width) & (table["fold"] == fold)
                               & (table["student"] == args.student)
                               & (table["augment_copies"] == args.augment)
                               & (table["teacher_context"] == context_name(context))).any():
                continue
            print(f"{args.student} x{width}, fold {fold} ...", file=sys.stderr)
            row = run_one(df, width, fold, args.cache, args.epochs, args.student, args.augment,
                          context)
            print(f"  teacher {row['teacher_accuracy']:.3f} student {row['student_accuracy']:.3f}"
                  f" flash {row['flash_bytes']} arena {row['arena_bytes']}", file=sys.stderr)
            table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
            os.makedirs(args.out, exist_ok=True)
            atomic_write(csv, lambda p: table.to_csv(p, index=False))
    summary, md = summarise(table)
    atomic_write(os.path.join(args.out, "distill_tradeoff.md"),
                 lambda p: open(p, "w").write("\n".join(md) + "\n"))
    plot(summary, os.path.join(args.out, "distill_tradeoff.png"))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
