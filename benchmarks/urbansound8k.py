"""UrbanSound8K with its own folds: named pipelines fold by fold, resumable, with anchors.

The official protocol: the folds are never reshuffled; every fold present is tested once by a
fresh pipeline trained on the other present folds; accuracy is the mean ± std over the tested
folds. The script says which of folds 1-10 are missing. When only ONE fold is present (a partial
copy, such as ``../shared/data/urbansound8k-fold3-partial``), it cross-validates within that fold
instead, ``--n-splits`` folds grouped by source recording (``fsID``), and the table says so: those
numbers are not comparable with the published 10-fold ones beside them.

Resumable: each (pipeline, fold) result is one row of ``urbansound8k.csv``, written atomically as
soon as the fold ends; a rerun skips the rows already there (a row is tied to the exact train and
test clips, so a changed set of folds runs again). Also writes ``urbansound8k.md`` (table with the
published anchors, per-class accuracy, per-fold rows), ``urbansound8k.png`` (pooled confusion
matrices) and ``urbansound8k_features.csv`` (feature CPU cost, with the load average).

Pipelines: any registered name (``embedclf pipelines``), or ``distilled:TEACHER``: the default
recipe's int8-ready student (``embedclf.distill.RECIPE``) distilled, in each fold, from the named
teacher trained on that fold's training clips.

Usage: python benchmarks/urbansound8k.py --root DIR [--pipelines logmel-linear,birdnet-linear]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from accuracy import embedding_cache  # beside this script
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted
from timing import load_average  # beside this script

from embedclf.audio import load_clips
from embedclf.datasets import load_urbansound8k
from embedclf.evaluation import (
    FoldReport,
    atomic_write,
    atomic_write_data,
    dataset_protocol,
    fold_scores,
    fold_splits,
)
from embedclf.pipelines import make_pipeline, pipeline_sr

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
DEFAULT_PIPELINES = "logmel-linear,birdnet-linear,birdnet-views,cnn-aug,distilled:birdnet-linear"
OFFICIAL_FOLDS = tuple(range(1, 11))

#: published UrbanSound8K results on the official 10 folds, shown beside ours
ANCHORS = [
    ("SB-CNN with augmentation (Salamon & Bello 2017)", 0.79, "official 10 folds"),
    ("microcontroller CNNs (Nordby 2019)", 0.71, "official 10 folds"),
]

ROW_COLUMNS = [
    "pipeline",
    "protocol",
    "fold",
    "split_id",
    "n_train",
    "n_test",
    "accuracy",
    "macro_f1",
    "fit_seconds",
    "predict_seconds",
    "load_avg_1min",
    "labels",
    "confusion",
]


class DistilledStudent(ClassifierMixin, BaseEstimator):
    """A teacher trained on the clips, then the default recipe's student distilled from it.

    Parameters
    ----------
    teacher : estimator
        Unfitted; a clone is trained in ``fit``.
    epochs : int or None, default=None
        The student's training epochs; None: the recipe's.
    random_state : int, default=0

    Examples
    --------
    >>> from embedclf.pipelines import make_pipeline
    >>> DistilledStudent(teacher=make_pipeline("logmel-linear")).random_state
    0
    """

    def __init__(self, *, teacher, epochs=None, random_state=0):
        self.teacher = teacher
        self.epochs = epochs
        self.random_state = random_state

    def fit(self, X, y):
        from embedclf.distill import RECIPE

        self.teacher_ = clone(self.teacher).fit(X, y)
        extra = {} if self.epochs is None else {"epochs": self.epochs}
        self.distiller_ = RECIPE.distiller(self.teacher_, random_state=self.random_state, **extra)
        self.distiller_.fit(X, y)
        self.classes_ = self.distiller_.classes_
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self.distiller_.predict(X)


def build_model(name, cache=None, student_epochs=None):
    """The estimator a pipeline name stands for, quiet, with its embedding cache set."""
    if name.startswith("distilled:"):
        teacher = build_model(name.split(":", 1)[1], cache)
        return DistilledStudent(teacher=teacher, epochs=student_epochs)
    model = make_pipeline(name)
    params = model.get_params()
    if cache:
        embedding_cache(model, cache)  # nested too: SpeedViews(BirdNETEmbedding(cache=...))
    if "verbose" in params and not isinstance(params["verbose"], bool):
        model.set_params(verbose=0)  # KerasCNN's per-epoch lines
    return model


def row_name(name, student_epochs=None):
    """The pipeline's name in the rows: a distilled student trained shorter is another row."""
    if student_epochs is None or not name.startswith("distilled:"):
        return name
    return f"{name} (student epochs {student_epochs})"


def load_index(root):
    """The clips whose files exist, the folds present and missing, and rows without audio."""
    df = load_urbansound8k(root)
    exists = df["path"].map(os.path.isfile)
    absent = int((~exists).sum())
    df = df[exists.to_numpy()].reset_index(drop=True)
    if df.empty:
        raise SystemExit(f"{root}: none of the clips listed in the metadata is on disk")
    present = sorted(int(f) for f in df["fold"].unique())
    missing = [f for f in OFFICIAL_FOLDS if f not in present]
    return df, present, missing, absent


def split_id(protocol, paths, train, test):
    """Names the exact train and test clips of a row, so a resumed run never mixes sets.

    Clips are named by fold folder and file name, not their whole path, so a run resumes
    wherever the data set lies (another checkout, a relative ``--root``).
    """
    names = ["/".join(Path(p).parts[-2:]) for p in paths]
    h = hashlib.sha1(protocol.encode())
    for part in (sorted(names[i] for i in train), sorted(names[i] for i in test)):
        h.update("\n".join(part).encode() + b"\0")
    return h.hexdigest()[:16]


def read_rows(path):
    if not os.path.exists(path):
        return pd.DataFrame(columns=ROW_COLUMNS)
    return pd.read_csv(path, dtype={"fold": str, "split_id": str})


def append_row(path, row):
    """Add one result row to the CSV, atomically (a crash keeps the rows written before)."""
    table = pd.concat([read_rows(path), pd.DataFrame([row])], ignore_index=True)
    atomic_write(path, lambda p: table[ROW_COLUMNS].to_csv(p, index=False))


def feature_cost(model, clips, sr, n=40):
    """CPU and wall seconds of the steps before the classifier on ``n`` clips, uncached.

    None for models that are not feature pipelines (KerasCNN computes its own log-mel windows,
    the distilled student its device frontend).
    """
    if not hasattr(model, "steps"):
        return None
    steps = model[:-2] if model.steps[-2][0] == "scale" else model[:-1]
    steps = embedding_cache(clone(steps), None)
    sample = list(clips[:n])
    steps.fit(sample[:1])
    steps.transform(sample[:2])  # warm up (model load, FFT plans)
    load = load_average()
    t, c = time.perf_counter(), time.process_time()
    steps.transform(sample)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    audio = sum(len(x) for x in sample) / sr
    return {
        "n_clips": len(sample),
        "audio_seconds": round(audio, 2),
        "feature_cpu_seconds": round(cpu, 3),
        "feature_wall_seconds": round(wall, 3),
        "cpu_ms_per_audio_s": round(1e3 * cpu / audio, 3),
        "load_avg_1min": round(load, 2),
    }


def run_pipeline(
    name, df, splits, protocol, rows_path, features_path, cache, clip_cache, student_epochs=None
):
    """Every fold of one pipeline not already in ``rows_path``; returns how many ran."""
    model = build_model(name, cache, student_epochs)
    name = row_name(name, student_epochs)
    done = read_rows(rows_path)
    done = set(done.loc[done["pipeline"] == name, "split_id"].astype(str))
    paths = df["path"].tolist()
    todo = [
        (fold, tr, te, sid)
        for fold, tr, te in splits
        if (sid := split_id(protocol, paths, tr, te)) not in done
    ]
    feats = read_rows(features_path) if os.path.exists(features_path) else pd.DataFrame()
    need_features = hasattr(model, "steps") and (feats.empty or name not in set(feats["pipeline"]))
    if not todo and not need_features:
        print(f"{name}: every fold already done", file=sys.stderr)
        return 0
    sr = pipeline_sr(model)
    if sr is None:  # reads files itself (the distilled student: teacher and student rates)
        X, y = paths, df["label"].to_numpy()
    else:
        if sr not in clip_cache:  # decode + resample once per rate
            clip_cache[sr] = load_clips(paths, df["label"].to_numpy(), sr=sr, progress=True)
        X, y = clip_cache[sr].clips, clip_cache[sr].y
    if need_features:
        cost = feature_cost(model, X, sr)
        feats = pd.concat([feats, pd.DataFrame([{"pipeline": name, **cost}])], ignore_index=True)
        atomic_write(features_path, lambda p: feats.to_csv(p, index=False))
    labels = sorted(np.unique(y).tolist(), key=str)
    for fold, train, test, sid in todo:
        print(f"{name}: fold {fold} ({len(train)} train, {len(test)} test) ...", file=sys.stderr)
        load = load_average()
        row, pred = fold_scores(model, X, y, fold, train, test, labels=labels)
        from sklearn.metrics import confusion_matrix

        cm = confusion_matrix(pred["y_true"], pred["y_pred"], labels=labels)
        row.update(
            pipeline=name,
            protocol=protocol,
            split_id=sid,
            load_avg_1min=round(load, 2),
            labels=json.dumps([str(c) for c in labels]),
            confusion=json.dumps(cm.tolist()),
        )
        append_row(rows_path, row)
        print(f"  {100 * row['accuracy']:.1f}%", file=sys.stderr)
    return len(todo)


def pooled_report(rows, name):
    """A FoldReport of one pipeline's rows: per-fold scores and the confusion pooled over folds."""
    labels = json.loads(rows["labels"].iloc[0])
    cm = sum(np.asarray(json.loads(c)) for c in rows["confusion"])
    confusion = pd.DataFrame(
        cm, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="predicted")
    )
    per_fold = rows[["fold", "n_train", "n_test", "accuracy", "macro_f1"]].reset_index(drop=True)
    return FoldReport(per_fold, pd.DataFrame(), labels, confusion, name)


def summarise(rows, pipelines, protocol, present, missing, df, absent, features, split_ids):
    """The markdown table: ours beside the published anchors, per class, per fold.

    Only rows of this run's exact splits (``split_ids``) count: rows of another set of clips
    stay in the CSV but not in the table.
    """
    n_clips, sources = len(df), df.groupby("label")["group"].nunique()
    n_splits = len(split_ids)
    rows = rows[rows["split_id"].astype(str).isin(split_ids) & rows["pipeline"].isin(pipelines)]
    official = not protocol.startswith("only fold")
    miss = ", ".join(map(str, missing)) or "none"
    md = [
        "# UrbanSound8K",
        "",
        f"Folds present: {', '.join(map(str, present))}; missing of 1-10: {miss}. "
        f"{n_clips} clips"
        + (f" ({absent} listed in the metadata but not on disk)" if absent else "")
        + ".",
        "",
        f"Protocol: {protocol}."
        + (
            ""
            if official
            else " **Not the official protocol**: the published numbers below are mean accuracy "
            "over the 10 official folds (train on 9, test on 1), not comparable with a grouped "
            "cross-validation within one partial fold."
        ),
        "",
        "| pipeline | accuracy (mean ± std over folds) | macro-F1 | folds done | "
        "features: CPU ms per audio s (load avg) | protocol |",
        "|---|---|---|---|---|---|",
    ]
    reports = {}
    for name in pipelines:
        r = rows[rows["pipeline"] == name]
        if r.empty:
            md.append(f"| `{name}` | not run | | 0 of {n_splits} | | |")
            continue
        rep = reports[name] = pooled_report(r, name)
        f = features[features["pipeline"] == name] if len(features) else features
        cost = (
            f"{f['cpu_ms_per_audio_s'].iloc[-1]:.2f} ({f['load_avg_1min'].iloc[-1]:.1f})"
            if len(f)
            else "n/a"
        )
        md.append(
            f"| `{name}` | {100 * rep.accuracy_mean:.1f}% ± {100 * rep.accuracy_std:.1f} | "
            f"{100 * rep.f1_mean:.1f}% | {len(r)} of {n_splits} | {cost} | "
            + ("official folds" if official else "grouped CV within the one fold")
            + " |"
        )
    for what, acc, how in ANCHORS:
        md.append(f"| {what} (published) | {100 * acc:.0f}% | | 10 | | {how} |")
    if reports:
        labels = next(iter(reports.values())).labels
        md += [
            "",
            "Per-class accuracy (recall), pooled over folds; n = test clips of the class, "
            "sources = its source recordings (fsID); a class with few sources has little left "
            "to learn from when one of them is held out.",
            "",
            "| class | n | sources | " + " | ".join(f"`{n}`" for n in reports) + " |",
            "|---|---|---|" + "---|" * len(reports),
        ]
        for i, c in enumerate(labels):
            n = int((df["label"] == c).sum())
            cells = []
            for rep in reports.values():
                cm = rep.confusion.values
                cells.append(f"{100 * cm[i, i] / max(cm[i].sum(), 1):.1f}%")
            md.append(f"| {c} | {n} | {sources.get(c, 0)} | " + " | ".join(cells) + " |")
        md += [
            "",
            "Per fold:",
            "",
            "| pipeline | fold | train | test | accuracy | macro-F1 | fit s | load avg |",
            "|---|---|---|---|---|---|---|---|",
        ]
        order = rows.assign(n=pd.to_numeric(rows["fold"], errors="coerce"))  # fold 10 after 9
        for _, r in order.sort_values(["pipeline", "n", "fold"], kind="stable").iterrows():
            md.append(
                f"| `{r['pipeline']}` | {r['fold']} | {r['n_train']} | {r['n_test']} | "
                f"{100 * r['accuracy']:.1f}% | {100 * r['macro_f1']:.1f}% | "
                f"{r['fit_seconds']:.1f} | {r['load_avg_1min']:.1f} |"
            )
    md += [
        "",
        "Feature cost: CPU time of the steps before the classifier on 40 clips without a cache, "
        "per second of audio, measured on a shared machine (1-minute load average beside it); "
        "n/a for models that compute their own frontend. A pipeline with fewer folds done than "
        "there are folds is an unfinished run (a rerun resumes it): its mean is over the folds "
        "done only.",
    ]
    return "\n".join(md) + "\n", reports


def plot(reports, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(reports)
    k = len(next(iter(reports.values())).labels)
    fig, axes = plt.subplots(1, n, figsize=(n * (1.2 + 0.6 * k), 1.0 + 0.6 * k), squeeze=False)
    for ax, rep in zip(axes[0], reports.values()):
        rep.plot_confusion(ax=ax)
    fig.tight_layout()
    try:
        atomic_write(path, lambda p: fig.savefig(p, dpi=100, format="png"))
    finally:
        plt.close(fig)


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--root",
        default=str(DATA / "urbansound8k-fold3-partial"),
        help="the UrbanSound8K folder (metadata/UrbanSound8K.csv and audio/fold<N>/)",
    )
    ap.add_argument("--pipelines", default=DEFAULT_PIPELINES, help="comma-separated")
    ap.add_argument(
        "--n-splits", type=int, default=5, help="folds within a single present fold (by fsID)"
    )
    ap.add_argument(
        "--student-epochs",
        type=int,
        help="training epochs of distilled:* students (default: the recipe's); shorter "
        "trainings are rows of their own, named with their epochs",
    )
    ap.add_argument(
        "--table-only", action="store_true", help="rewrite the table from the rows; fit nothing"
    )
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--name", default="urbansound8k", help="file name stem of the outputs")
    ap.add_argument(
        "--cache",
        default=str(HERE.parent / "build" / "cache"),
        help="embedding cache folder (reruns reuse embeddings)",
    )
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not Path(args.root).is_dir():
        print(f"no UrbanSound8K folder at {args.root}; nothing to measure", file=sys.stderr)
        return 0
    pipelines = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    df, present, missing, absent = load_index(args.root)
    kwargs, protocol = dataset_protocol(df, n_splits=args.n_splits)
    print(f"folds present: {present}; missing: {missing or 'none'}; {protocol}", file=sys.stderr)
    splits = fold_splits(len(df), y=df["label"].to_numpy(), **kwargs)
    out = Path(args.out)
    rows_path = out / f"{args.name}.csv"
    features_path = out / f"{args.name}_features.csv"
    clip_cache = {}
    for name in [] if args.table_only else pipelines:
        run_pipeline(
            name,
            df,
            splits,
            protocol,
            rows_path,
            features_path,
            args.cache,
            clip_cache,
            args.student_epochs,
        )
    features = read_rows(features_path) if features_path.exists() else pd.DataFrame()
    md, reports = summarise(
        read_rows(rows_path),
        [row_name(p, args.student_epochs) for p in pipelines],
        protocol,
        present,
        missing,
        df,
        absent,
        features,
        [split_id(protocol, df["path"].tolist(), tr, te) for _, tr, te in splits],
    )
    atomic_write_data(out / f"{args.name}.md", md)
    if reports:
        plot(reports, out / f"{args.name}.png")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
