"""Which BirdNET layers (and poolings, heads) classify non-bird sounds best.

Every candidate is a set of ``(layer, pooling)`` blocks of
``BirdNETEmbedding(layer=..., pooling=...)``, aggregated over a clip's 3 s
windows (mean and max, as ``birdnet-linear``), standardised, then a logistic
regression. The embeddings of all layers are computed once per dataset and
hop (two cached runs: every layer with mean+std, every layer with max) and
sliced per candidate, which equals embedding each candidate on its own.

Selection never looks at the ESC-10 test folds: candidates are ranked by the
mean of (a) leave-one-fold-out accuracy on ESC-10 folds 1-4 and (b) 5-fold
accuracy on ``urbansound8k-fold3-partial`` grouped by ``fsID``. The ranked
table also gives each candidate's ESC-10 5-fold (all folds) accuracy and,
for those that keep the global pool, FSDD's official split. Rows are saved as
each candidate finishes; a rerun skips candidates already in the table.

Writes ``benchmarks/results/deep_birdnet.csv`` and ``deep_birdnet.md``.

``--ensemble``: instead, the late fusion of ``birdnet-linear`` and
``logmel-linear`` (a weighted sum of their log-probabilities, each model
fitted on the same training folds) at several log-mel weights, on the same
splits; writes ``deep_birdnet_ensemble.md``.

Usage: python benchmarks/deep_birdnet.py [--cache build/cache] [--ensemble]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import selection  # beside this script
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from embedclf import BirdNETEmbedding, WindowAggregator
from embedclf.audio import load_clips
from embedclf.evaluation import atomic_write_data
from embedclf.features.birdnet import LAYERS
from embedclf.models.windows import pool_windows

HERE = Path(__file__).resolve().parent
MAPS = [name for name in LAYERS if name != "pool"]  # layers with a (freq, time) map


def block_columns():
    """Column slice of each ``(layer, pooling)`` block in the two cached embeddings."""
    cols, start = {}, 0
    for name in MAPS:
        n = LAYERS[name][1]
        cols[(name, "mean")] = ("ms", slice(start, start + n))
        cols[(name, "meanstd")] = ("ms", slice(start, start + 2 * n))
        start += 2 * n
    cols[("pool", "mean")] = ("ms", slice(start, start + LAYERS["pool"][1]))
    start = 0
    for name in MAPS:
        n = LAYERS[name][1]
        cols[(name, "max")] = ("max", slice(start, start + n))
        start += n
    return cols


def embed_all(clips, hop, cache):
    """Per-clip window matrices of every layer: {"ms": [...], "max": [...]}."""
    runs = {
        "ms": BirdNETEmbedding(
            layer=[*MAPS, "pool"], pooling=["meanstd"] * len(MAPS) + ["mean"], hop=hop
        ),
        "max": BirdNETEmbedding(layer=MAPS, pooling="max", hop=hop),
    }
    out = {}
    for key, emb in runs.items():
        emb.set_params(cache=cache, progress=True)
        out[key] = emb.fit(clips[:1]).transform(clips)
    return out


def features(windows, blocks):
    """Per-clip window matrices with only ``blocks``' columns, in order."""
    cols = block_columns()
    n = len(windows["ms"])
    return [np.hstack([windows[cols[b][0]][i][:, cols[b][1]] for b in blocks]) for i in range(n)]


def clip_head(C):
    return make_pipeline(
        WindowAggregator(stats=("mean", "max")),
        StandardScaler(),
        LogisticRegression(C=C, max_iter=5000),
    )


def fit_predict(X, y, train, test, head, C):
    """Predicted labels of ``test`` clips from a model fitted on ``train``.

    ``head="clip"``: one row per clip (window mean and max). ``"window"``:
    one row per window with its clip's label, clip log-probabilities pooled
    by their mean ("logmean").
    """
    if head == "clip":
        model = clip_head(C).fit([X[i] for i in train], y[train])
        return model.predict([X[i] for i in test])
    rows = np.vstack([X[i] for i in train])
    labels = np.concatenate([[y[i]] * len(X[i]) for i in train])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
    model.fit(rows, labels)
    owner = np.concatenate([[k] * len(X[i]) for k, i in enumerate(test)])
    P = model.predict_proba(np.vstack([X[i] for i in test]))
    return model.classes_[pool_windows(P, owner, len(test), "logmean").argmax(1)]


def accuracy(X, y, splits, head, C):
    accs = [np.mean(fit_predict(X, y, tr, te, head, C) == y[te]) for tr, te in splits]
    return float(np.mean(accs)), float(np.std(accs))


def candidates():
    """(name, blocks, head, C, hop): what was tried, the combinations first."""
    base = [("pool", "mean")]
    out = [("pool (birdnet-linear)", base, "clip", 0.1, 3.0)]
    for name in ["block2", "block3", "block4", "post"]:
        out.append((f"pool + {name}:meanstd", [*base, (name, "meanstd")], "clip", 0.1, 3.0))
    out.append(("pool + conv:max", [*base, ("conv", "max")], "clip", 0.1, 3.0))
    out.append(
        (
            "pool + block3:meanstd + block4:meanstd",
            [*base, ("block3", "meanstd"), ("block4", "meanstd")],
            "clip",
            0.1,
            3.0,
        )
    )
    for name in MAPS:  # single layers: ESC-10 and US8K only
        for p in ("mean", "max", "meanstd"):
            out.append((f"{name}:{p}", [(name, p)], "clip", 0.1, 3.0))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=str(HERE.parent / "build" / "cache"))
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--ensemble", action="store_true", help="measure the log-mel fusion")
    args = ap.parse_args()
    if args.ensemble:
        return ensemble(args)
    if selection.missing():
        print(selection.missing_message(), file=sys.stderr)
        return 0
    t0 = time.perf_counter()
    tabs = selection.tables()
    data = {name: selection.clips(table) for name, table in tabs.items()}
    emb = {}
    for name, (clips, _) in data.items():
        print(f"embedding {name} ...", file=sys.stderr)
        emb[(name, 3.0)] = embed_all(clips, 3.0, args.cache)
    print(f"embedded in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    y_us = data["us8k"][1]
    splits = selection.all_splits(tabs, y_us)
    inner, us_splits, outer, fsdd_splits = (sp for _, sp in splits.values())

    # resumable: candidates already in the table are not run again
    done = os.path.join(args.out, "deep_birdnet.csv")
    rows = pd.read_csv(done).to_dict("records") if os.path.exists(done) else []
    for name, blocks, head, C, hop in candidates():
        if any(r["candidate"] == name for r in rows):
            continue
        X_esc = features(emb[("esc10", hop)], blocks)
        X_us = features(emb[("us8k", hop)], blocks)
        y_esc = data["esc10"][1]
        r = {
            "candidate": name,
            "blocks": " ".join(f"{b}:{p}" for b, p in blocks),
            "head": head,
            "C": C,
            "hop": hop,
            "dim": X_esc[0].shape[1],
            "esc10_inner_1to4": accuracy(X_esc, y_esc, inner, head, C)[0],
            "us8k_partial_grouped": accuracy(X_us, y_us, us_splits, head, C)[0],
        }
        r["selection"] = (r["esc10_inner_1to4"] + r["us8k_partial_grouped"]) / 2
        r["esc10_5fold"], r["esc10_5fold_std"] = accuracy(X_esc, y_esc, outer, head, C)
        r["fsdd_official"] = np.nan
        if ("pool", "mean") in blocks:
            X = features(emb[("fsdd", hop)], blocks)
            r["fsdd_official"] = accuracy(X, data["fsdd"][1], fsdd_splits, head, C)[0]
        rows.append(r)
        print(
            f"{name:45s} inner {100 * r['esc10_inner_1to4']:.1f} us8k "
            f"{100 * r['us8k_partial_grouped']:.1f} esc10 {100 * r['esc10_5fold']:.1f} "
            f"fsdd {100 * r['fsdd_official']:.1f}",
            file=sys.stderr,
        )
        table = pd.DataFrame(rows).sort_values("selection", ascending=False, kind="stable")
        write(table, args.out)
    return 0


def ensemble(args, weights=(0.0, 0.1, 0.2, 0.3, 0.5)):
    """ESC-10 (folds 1-4 inner, 5-fold) and US8K partial accuracy of the fusion."""
    from embedclf.pipelines import make_pipeline as named

    tabs = selection.tables(["esc10", "us8k"])
    esc, us = tabs["esc10"], tabs["us8k"]
    sets = {}
    for name, df in tabs.items():
        y = df["label"].to_numpy()
        at48 = load_clips(df["path"].tolist(), y, sr=48000).clips
        at22 = load_clips(df["path"].tolist(), y, sr=22050).clips
        pooled = features(embed_all(at48, 3.0, args.cache), [("pool", "mean")])
        logmel = named("logmel-linear")[:2].fit(at22).transform(at22)  # per clip, no state
        sets[name] = (pooled, logmel, y)

    def run(name, splits):
        pooled, logmel, y = sets[name]
        accs = []
        for tr, te in splits:
            b = clip_head(0.1).fit([pooled[i] for i in tr], y[tr])
            lb = np.log(b.predict_proba([pooled[i] for i in te]) + 1e-9)
            m = named("logmel-linear")[2:].fit(logmel[tr], y[tr])
            assert list(m.classes_) == list(b.classes_)
            lm = np.log(m.predict_proba(logmel[te]) + 1e-9)
            accs.append(
                [np.mean(b.classes_[((1 - w) * lb + w * lm).argmax(1)] == y[te]) for w in weights]
            )
        return np.mean(accs, 0), np.std(accs, 0)

    folds = esc["fold"].to_numpy()
    res = {
        "ESC-10 folds 1-4": run("esc10", selection.fold_splits(folds, keep=[1, 2, 3, 4])),
        "US8K partial (by fsID)": run("us8k", selection.us8k_splits(us, sets["us8k"][2])),
        "ESC-10 5-fold": run("esc10", selection.fold_splits(folds)),
    }
    md = [
        "Late fusion of `birdnet-linear` and `logmel-linear`: (1 - w) log P_birdnet + w log "
        "P_logmel. Written by `benchmarks/deep_birdnet.py --ensemble`.",
        "",
        "| log-mel weight w | " + " | ".join(res) + " |",
        "|---|" + "---|" * len(res),
    ]
    for k, w in enumerate(weights):
        cells = [f"{100 * m[k]:.1f}% ± {100 * s[k]:.1f}" for m, s in res.values()]
        md.append(f"| {w} | " + " | ".join(cells) + " |")
    os.makedirs(args.out, exist_ok=True)
    atomic_write_data(os.path.join(args.out, "deep_birdnet_ensemble.md"), "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


def write(table, out):
    columns = [
        *[(key, lambda r, key=key: str(r[key])) for key in ("candidate", "head", "C", "hop")],
        ("dim", lambda r: str(r["dim"])),
        *selection.RANKED_COLUMNS,
    ]
    selection.write_ranked(table, out, "deep_birdnet", columns)


if __name__ == "__main__":
    sys.exit(main())
