"""Distil a BirdNET teacher into int8 microcontroller students on ESC-10.

For each student width and each held-out fold: fit the teacher (a named
pipeline, ``--teacher``, default `birdnet-linear`) on the other folds, distil
a `strided_ds` student on the same clips (soft targets per 1 s window),
export it int8 and measure it on the held-out fold (accuracy of teacher,
float student, int8 student; flash, tensor arena measured in TFLM, MACs per
second of audio). The defaults are
the recipe of `embedclf distill`, ``embedclf.distill.RECIPE`` (2
teacher-labelled augmented copies per clip, mixup 0.3, SpecAugment masks of
up to 15% of bands and frames, 120 epochs of cosine-decayed learning rate,
temperature 4, clips pooled by the mean log-probability of their windows;
older rows keep the values they were run with: every knob is part of a
row's key; rows from before the pooling was a key pooled by the mean).

Writes ``benchmarks/results/distill_tradeoff.csv``, ``.md`` (mean ± std over
folds per setting) and ``.png`` (accuracy against flash, arena and MACs).
Rows already in the CSV for a setting and fold are reused, so an interrupted
run resumes. Two runs can share the 2 cores (``--threads 1``) if each writes
to its own ``--out``.

Usage: python benchmarks/distill_tradeoff.py [--widths 0.5,1,2] [--folds 1,2,3,4,5]
       [--teacher birdnet-linear|birdnet-speeds|...]
       [--augment 2] [--mix-copies 0] [--mixup 0.3] [--freq-mask 0.15] [--time-mask 0.15]
       [--epochs 120]
       [--lr-schedule cosine|constant] [--weight-decay 0] [--early-stopping]
       [--teacher-context auto|window|SECONDS|clip] [--temperature 4] [--alpha 0.5]
       [--clip-pooling logmean|mean|vote]
       [--seed 0] [--window 1] [--hop 0.5] [--fit-hop HOP] [--frame-hop-ms 20] [--threads N]
       [--out DIR]

Rows of one setting with different ``--seed`` pool together in the table
(mean ± std over every fold and seed), because one seed per fold moves a
fold's accuracy by about ±2.5 points.
"""

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import embedclf.recipe
from embedclf.datasets import load_esc10
from embedclf.distill import export, mcu_frontend
from embedclf.distill.distiller import parse_teacher_context, teacher_window_seconds
from embedclf.distill.export import Int8Model
from embedclf.evaluation import atomic_write, atomic_write_data
from embedclf.pipelines import make_pipeline

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


#: what makes a row: a (row key, fold) already in the CSV is not run again
KEYS = [
    "teacher",
    "student",
    "width",
    "augment_copies",
    "mix_copies",
    "teacher_context",
    "window",
    "hop",
    "fit_hop",
    "frame_hop_ms",
    "mixup",
    "freq_mask",
    "time_mask",
    "epochs",
    "lr_schedule",
    "weight_decay",
    "early_stopping",
    "temperature",
    "alpha",
    "clip_pooling",
    "seed",
]
#: row keys that are fields of the recipe (embedclf.distill.RECIPE) by the same name
RECIPE_KEYS = [
    "student",
    "width",
    "augment_copies",
    "mix_copies",
    "window",
    "hop",
    "fit_hop",
    "mixup",
    "freq_mask",
    "time_mask",
    "epochs",
    "lr_schedule",
    "weight_decay",
    "early_stopping",
    "temperature",
    "alpha",
    "clip_pooling",
]
#: values for rows written before a key existed (the defaults of the time)
OLD_DEFAULTS = {
    "teacher": "birdnet-linear",
    "mix_copies": 0,
    "weight_decay": 0.0,
    "teacher_context": "window",
    "window": 1.0,
    "hop": 0.5,
    "frame_hop_ms": 20.0,
    "mixup": 0.0,
    "freq_mask": 0.0,
    "time_mask": 0.0,
    "epochs": 40,
    "lr_schedule": "constant",
    "early_stopping": True,
    "temperature": 2.0,
    "alpha": 0.5,
    "clip_pooling": "mean",
    "seed": 0,
}


def fill_old_rows(table):
    """Rows written before a key existed get the value they were run with."""
    table = table.copy()
    table["fit_hop"] = table.get("fit_hop", table["hop"])  # trained at the hop they ran at
    table["fit_hop"] = table["fit_hop"].fillna(table["hop"])
    for key, value in OLD_DEFAULTS.items():
        table[key] = table.get(key, value)
        table[key] = table[key].fillna(value)
    table["teacher_context"] = table["teacher_context"].astype(str)
    table["seed"] = table["seed"].astype(int)  # filled NaNs made it float
    return table


def run_one(df, key, context, fold, cache, save_windows=None):
    """Teach, export and measure one setting (``key``, a row key) on one held-out fold.

    ``context`` is the teacher context the Distiller takes (``key`` holds its
    name). Returns the row: the key, the fold and what was measured.
    """
    train = (df["fold"] != fold).to_numpy()
    X = df["path"].tolist()
    y = df["label"].to_numpy()
    Xtr = [x for x, t in zip(X, train) if t]
    Xte = [x for x, t in zip(X, train) if not t]
    teacher = make_pipeline(key["teacher"])
    teacher.set_params(**{k: cache for k in teacher.get_params() if k.endswith("__cache")})
    teacher.fit(Xtr, y[train])
    t = time.perf_counter()
    frontend = mcu_frontend()
    frontend.set_params(hop_length=int(round(frontend.sr * key["frame_hop_ms"] / 1000)))
    recipe_of_row = embedclf.recipe.RECIPE.replace(
        teacher_context=context, **{k: key[k] for k in RECIPE_KEYS}
    )
    dist = recipe_of_row.distiller(teacher, frontend=frontend, random_state=key["seed"])
    dist.fit(Xtr, y[train])
    seconds = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as out:
        rep = export(dist, out, Xtr, X_test=Xte, y_test=y[~train])
        if save_windows:  # the int8 student's window outputs, to compare clip poolings later
            with open(os.path.join(out, "model.tflite"), "rb") as fh:
                int8 = Int8Model(fh.read())
            # the windows export scored, so their mean pooling gives student_accuracy
            W, owner, _ = dist.windows(Xte)
            os.makedirs(os.path.dirname(save_windows), exist_ok=True)
            np.savez(
                save_windows,
                proba=int8.predict_windows(W),
                owner=owner,
                y=y[~train].astype(str),
                classes=dist.classes_.astype(str),
                key=json.dumps(key),
            )
    measured = [
        "params",
        "flash_bytes",
        "model_bytes",
        "arena_bytes",
        "macs_per_second",
        "total_macs_per_second",
        "teacher_accuracy",
        "student_float_accuracy",
        "student_accuracy",
        "int8_float_agreement",
        "teacher_student_agreement",
    ]
    return {
        **key,
        "fold": fold,
        **{m: rep[m] for m in measured},
        "epochs_run": dist.student_.n_epochs_,
        "distill_seconds": round(seconds, 1),
    }


def _tag_of(key):
    """A short file name for one setting: student, width, seed and a hash of all keys."""
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    return f"{key['student']}-x{key['width']}-seed{key['seed']}-{digest}"


def context_name(context):
    return "window" if context is None else str(context)


def recipe(r):
    """A row's training in a few words: copies, window augmentation, schedule."""
    parts = [] if r["teacher"] == "birdnet-linear" else [f"teacher `{r['teacher']}`"]
    parts.append(f"{r['augment_copies']} copies")
    if r["mix_copies"]:
        parts.append(f"{r['mix_copies']:g} mixtures")
    if r["mixup"]:
        parts.append(f"mixup {r['mixup']:g}")
    if r["freq_mask"] or r["time_mask"]:
        parts.append(f"masks {r['freq_mask']:g}/{r['time_mask']:g}")
    epochs = int(r["epochs"])
    stop = f"early stop within {epochs}" if r["early_stopping"] in (True, "True") else f"{epochs}"
    parts.append(f"{r['lr_schedule']} lr, {stop} epochs")
    if r["weight_decay"]:
        parts.append(f"weight decay {r['weight_decay']:g}")
    if (r["temperature"], r["alpha"]) != (2.0, 0.5):
        parts.append(f"T {r['temperature']:g}, alpha {r['alpha']:g}")
    if r["clip_pooling"] != "mean":
        parts.append(f"{r['clip_pooling']} pooling")
    if r.get("seeds", 1) > 1:
        parts.append(f"{r['seeds']} seeds")
    return ", ".join(parts)


def summarise(table):
    """Mean ± std per setting over every (fold, seed) row: seeds of one setting pool together."""
    g = table.groupby([k for k in KEYS if k != "seed"])
    s = g.agg(
        folds=("fold", "nunique"),
        seeds=("seed", "nunique"),
        runs=("fold", "count"),
        params=("params", "first"),
        flash_bytes=("flash_bytes", "first"),
        arena_bytes=("arena_bytes", "first"),
        macs_per_second=("macs_per_second", "first"),
        total_macs=("total_macs_per_second", "first"),
        teacher_acc=("teacher_accuracy", "mean"),
        student_acc=("student_accuracy", "mean"),
        student_std=("student_accuracy", "std"),
        float_=("student_float_accuracy", "mean"),
        agree=("int8_float_agreement", "mean"),
    ).reset_index()
    s["kept"] = s["student_acc"] / s["teacher_acc"]
    md = [
        "| student | width | window / hop (s) | frame hop (ms) | training | "
        "teacher hears | folds | params | flash KB | "
        "arena KB | M MACs/s (network + frontend) | teacher | int8 student (mean ± std) | "
        "float student | int8 = float | student / teacher |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s.to_dict("records"):
        std = "" if pd.isna(r["student_std"]) else f" ± {100 * r['student_std']:.1f}"
        hears = {"window": "the window", "clip": "the clip"}.get(
            r["teacher_context"], f"{r['teacher_context']} s"
        )
        fit = "" if r["fit_hop"] == r["hop"] else f" (fit {r['fit_hop']:g})"
        md.append(
            f"| `{r['student']}` | {r['width']} | {r['window']:g} / {r['hop']:g}{fit} | "
            f"{r['frame_hop_ms']:g} | {recipe(r)} | {hears} | "
            f"{r['folds']} | "
            f"{r['params']:,} | {r['flash_bytes'] / 1024:.1f} | "
            f"{r['arena_bytes'] / 1024:.1f} | {r['macs_per_second'] / 1e6:.2f} + "
            f"{(r['total_macs'] - r['macs_per_second']) / 1e6:.2f} | "
            f"{100 * r['teacher_acc']:.1f}% | "
            f"{100 * r['student_acc']:.1f}%{std} | {100 * r['float_']:.1f}% | "
            f"{100 * r['agree']:.1f}% | {100 * r['kept']:.1f}% |"
        )
    return s, md


def _tag(r):
    tag = f"x{r['width']}" + (f"+aug{r['augment_copies']}" if r["augment_copies"] else "")
    tag += f" long {int(r['epochs'])}" if r["lr_schedule"] == "cosine" else ""
    tag += f" T{r['temperature']:g}" if r["temperature"] != 2.0 else ""
    tag += f" wd {r['weight_decay']:g}" if r["weight_decay"] else ""
    tag += f" +{r['mix_copies']:g} mixes" if r["mix_copies"] else ""
    tag += f" {r['clip_pooling']}" if r["clip_pooling"] != "mean" else ""
    tag += f" {r['seeds']} seeds" if r["seeds"] > 1 else ""
    tag += "" if r["window"] == 1.0 else f" {r['window']:g} s"
    tag += "" if r["hop"] == 0.5 else f" hop {r['hop']:g}"
    tag += "" if r["teacher"] == "birdnet-linear" else f" {r['teacher']}"
    return tag + ("" if r["teacher_context"] == "window" else f" ctx {r['teacher_context']}")


def _spread(ys, gap):
    """Label heights near ``ys`` (sorted high to low), at least ``gap`` apart."""
    out = []
    for y in ys:
        out.append(min(y, out[-1] - gap) if out else y)
    return out


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 5), sharey=True)
    full = summary["folds"] == summary["folds"].max()
    teacher = 100 * summary["teacher_acc"][full].mean()
    for ax, (col, label) in zip(
        axes,
        [
            ("flash_bytes", "flash (KB)"),
            ("arena_bytes", "tensor arena (KB)"),
            ("macs_per_second", "M MACs per second of audio"),
        ],
    ):
        scale = 1e6 if col == "macs_per_second" else 1024
        ax.plot(
            summary[col][full] / scale,
            100 * summary["student_acc"][full],
            "o",
            label=f"int8 student, {summary['folds'].max()} folds",
        )
        ax.plot(
            summary[col][~full] / scale,
            100 * summary["student_acc"][~full],
            "o",
            mfc="none",
            color="C0",
            label="int8 student, fewer folds",
        )
        ax.axhline(teacher, color="gray", ls="--", label="teacher (mean over those folds)")
        ax.axhline(0.95 * teacher, color="C3", ls=":", label="95% of the teacher (target)")
        # many students share a footprint: stack their labels instead of overprinting them
        x = (summary[col] / scale).round(2)
        dx = 0.015 * (x.max() - x.min() or 1.0)
        for _, group in summary.assign(_x=x).groupby("_x"):
            rows = group.sort_values("student_acc", ascending=False).to_dict("records")
            ys = _spread([100 * r["student_acc"] for r in rows], gap=1.1)
            for r, y in zip(rows, ys):
                ax.annotate(
                    _tag(r),
                    (r["_x"], 100 * r["student_acc"]),
                    xytext=(r["_x"] + dx, y),
                    textcoords="data",
                    fontsize=7,
                    va="center",
                    xycoords="data",
                    ha="left",
                )
        ax.set_xlabel(label)
        ax.margins(x=0.45)
    axes[0].set_ylabel("ESC-10 accuracy (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    fig.suptitle("Distilled strided_ds students vs the BirdNET teacher (ESC-10)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


def build_parser():
    """The benchmark's options; their defaults are the recipe's (embedclf.distill.RECIPE)."""
    r = embedclf.recipe.RECIPE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default=f"{r.width}")
    ap.add_argument(
        "--teacher", default="birdnet-linear", help="the teacher: a named pipeline (embedclf list)"
    )
    ap.add_argument("--folds", default="1,2,3,4,5")
    ap.add_argument("--student", default=r.student)
    ap.add_argument("--epochs", type=int, default=r.epochs)
    ap.add_argument("--lr-schedule", default=r.lr_schedule, choices=["cosine", "constant"])
    ap.add_argument(
        "--weight-decay",
        type=float,
        default=r.weight_decay,
        help="decoupled weight decay of the student's kernels (AdamW; 0 = Adam)",
    )
    ap.add_argument(
        "--early-stopping",
        action="store_true",
        default=r.early_stopping,
        help="stop on held-out clips' loss (the old recipe) instead of training all epochs",
    )
    ap.add_argument(
        "--augment",
        type=int,
        default=r.augment_copies,
        help="augmented copies per clip, labelled by the teacher (0 = none)",
    )
    ap.add_argument(
        "--mix-copies",
        type=int,
        default=r.mix_copies,
        help="unlabelled mixtures of two training clips per clip, labelled by the teacher alone",
    )
    ap.add_argument(
        "--teacher-context",
        default=str(r.teacher_context),
        help="audio the teacher hears per student window: 'auto' (BirdNET: 3 s), "
        "'window', seconds, 'clip'",
    )
    ap.add_argument("--window", type=float, default=r.window, help="student window (s)")
    ap.add_argument(
        "--hop",
        type=float,
        default=r.hop,
        help="student hop between windows on the device (s): MACs/s scale with 1/hop",
    )
    ap.add_argument(
        "--fit-hop",
        type=float,
        default=r.fit_hop,
        help="hop between the training windows the teacher labels (s; default: --hop)",
    )
    ap.add_argument(
        "--frame-hop-ms", type=float, default=20.0, help="the student frontend's frame hop (ms)"
    )
    ap.add_argument("--mixup", type=float, default=r.mixup, help="mixup alpha of the augmenter")
    ap.add_argument(
        "--freq-mask",
        type=float,
        default=r.freq_mask,
        help="SpecAugment: largest share of mel bands masked per training window",
    )
    ap.add_argument(
        "--time-mask",
        type=float,
        default=r.time_mask,
        help="SpecAugment: largest share of frames masked per training window",
    )
    ap.add_argument(
        "--temperature", type=float, default=r.temperature, help="distillation temperature"
    )
    ap.add_argument(
        "--alpha",
        type=float,
        default=r.alpha,
        help="weight of the teacher's soft targets against the labels",
    )
    ap.add_argument(
        "--clip-pooling",
        choices=["logmean", "mean", "vote"],
        default=r.clip_pooling,
        help="how the student pools a clip's windows",
    )
    ap.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the Distiller's random_state (a second seed measures seed noise)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="TensorFlow threads (0: all cores); 1 lets two runs share 2 cores. "
        "Recorded per row: another count trains a different model",
    )
    ap.add_argument(
        "--save-windows",
        metavar="DIR",
        help="also keep each run's int8 window probabilities of the test clips "
        "(npz) to compare clip poolings without retraining",
    )
    ap.add_argument("--cache", default=str(HERE.parent / "build" / "cache"))
    ap.add_argument("--out", default=str(HERE / "results"))
    return ap


def main():
    args = build_parser().parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    if not (DATA / "esc10").is_dir():
        print(f"no ESC-10 under {DATA}; nothing to measure", file=sys.stderr)
        return 0
    df = load_esc10(DATA / "esc10")
    csv = os.path.join(args.out, "distill_tradeoff.csv")
    table = pd.read_csv(csv) if os.path.exists(csv) else pd.DataFrame()
    if len(table):
        table = fill_old_rows(table)
    context = parse_teacher_context(args.teacher_context)
    if context == "auto":  # resolved as the Distiller does: BirdNET's 3 s, when longer
        own = teacher_window_seconds(make_pipeline(args.teacher))
        context = own if own > args.window else None
    for width in [float(w) for w in args.widths.split(",")]:
        key = {
            "teacher": args.teacher,
            "student": args.student,
            "width": width,
            "augment_copies": args.augment,
            "mix_copies": args.mix_copies,
            "teacher_context": context_name(context),
            "window": args.window,
            "hop": args.hop,
            "fit_hop": args.hop if args.fit_hop is None else args.fit_hop,
            "frame_hop_ms": args.frame_hop_ms,
            "mixup": args.mixup,
            "freq_mask": args.freq_mask,
            "time_mask": args.time_mask,
            "epochs": args.epochs,
            "lr_schedule": args.lr_schedule,
            "weight_decay": args.weight_decay,
            "early_stopping": args.early_stopping,
            "temperature": args.temperature,
            "alpha": args.alpha,
            "clip_pooling": args.clip_pooling,
            "seed": args.seed,
        }
        for fold in [int(f) for f in args.folds.split(",")]:
            if len(table):
                same = table["fold"] == fold
                for k, v in key.items():
                    same &= table[k] == v
                if same.any():
                    continue
            print(f"{args.student} x{width}, fold {fold} ...", file=sys.stderr)
            row = run_one(
                df,
                key,
                context,
                fold,
                args.cache,
                save_windows=args.save_windows
                and os.path.join(args.save_windows, f"{_tag_of(key)}_fold{fold}.npz"),
            )
            print(
                f"  teacher {row['teacher_accuracy']:.3f} student {row['student_accuracy']:.3f}"
                f" flash {row['flash_bytes']} arena {row['arena_bytes']}"
                f" MACs/s {row['macs_per_second']}",
                file=sys.stderr,
            )
            # not a key, but a run is only repeatable at the same thread count: keep it
            row["threads"] = args.threads
            table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
            os.makedirs(args.out, exist_ok=True)
            atomic_write(csv, lambda p, t=table: t.to_csv(p, index=False))
    summary, md = summarise(table)
    atomic_write_data(os.path.join(args.out, "distill_tradeoff.md"), "\n".join(md) + "\n")
    plot(summary, os.path.join(args.out, "distill_tradeoff.png"))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
