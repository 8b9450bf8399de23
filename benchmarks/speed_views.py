"""BirdNET embeddings of each clip played at several speeds (``SpeedViews``): which help.

Every clip is embedded at each speed once (``SpeedViews(BirdNETEmbedding(),
speeds=(s,))``, cached), then candidates combine them:

- ``pooled``: the windows of all views pooled together (window mean and max,
  as ``birdnet-linear``), standardised, logistic regression: what
  ``SpeedViews(BirdNETEmbedding(), speeds=...)`` in a pipeline computes;
- ``views as rows``: each view pooled on its own and used as an extra
  training row with its clip's label; a clip is predicted from the mean
  log-probability of its views (augmentation at training and test time);
- ``unit rows``: either head with each standardised row scaled to unit
  length (``Normalizer``) before the logistic regression.

``views as rows 0.9/1.0/1.1 unit rows C=30`` is the ``birdnet-views`` pipeline
(``SpeedViews(pool=...)`` + ``ViewsClassifier``), ``pooled 0.9/1.0/1.1 C=0.1``
is ``birdnet-speeds``; docs/results/accuracy.md says how each was chosen.

Selection never looks at the ESC-10 test folds: candidates are ranked by the
mean of (a) leave-one-fold-out accuracy on ESC-10 folds 1-4 and (b) 5-fold
accuracy on ``urbansound8k-fold3-partial`` grouped by ``fsID`` (as
``deep_birdnet.py``). ESC-10 5-fold and FSDD's official split are reported,
never used to choose.

Writes ``benchmarks/results/speed_views.csv`` and ``speed_views.md``.

Usage: python benchmarks/speed_views.py [--cache build/cache]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import selection  # beside this script
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from embedclf import BirdNETEmbedding, SpeedViews, WindowAggregator

HERE = Path(__file__).resolve().parent
SPEED_SETS = [
    (1.0,),
    (0.9, 1.0, 1.1),
    (0.8, 1.0, 1.25),
    (0.8, 0.9, 1.0, 1.1),
    (0.8, 0.9, 1.0, 1.1, 1.25),
]
ALL_SPEEDS = sorted({s for speeds in SPEED_SETS for s in speeds})


def embed_views(clips, cache):
    """{speed: per-clip window matrices} for every speed in ``SPEED_SETS``."""
    out = {}
    for speed in ALL_SPEEDS:
        views = SpeedViews(BirdNETEmbedding(cache=cache, progress=True), speeds=(speed,))
        out[speed] = views.fit(clips[:1]).transform(clips)
    return out


def pooled(windows):
    """One row per clip: the mean and max of its windows."""
    return WindowAggregator(stats=("mean", "max")).fit_transform(windows)


def fit_predict(V, y, train, test, speeds, head, C, l2=False):
    """Predicted labels of ``test`` from a model fitted on ``train``.

    ``l2``: scale each standardised row to unit length before the classifier.
    """

    def model():
        steps = [StandardScaler(), *([Normalizer()] if l2 else [])]
        return make_pipeline(*steps, LogisticRegression(C=C, max_iter=5000))

    if head == "pooled":
        X = pooled([np.concatenate([V[s][i] for s in speeds]) for i in range(len(y))])
        return model().fit(X[train], y[train]).predict(X[test])
    rows = {s: pooled(V[s]) for s in speeds}
    m = model().fit(np.vstack([rows[s][train] for s in speeds]), np.tile(y[train], len(speeds)))
    log_p = sum(np.log(np.clip(m.predict_proba(rows[s][test]), 1e-12, None)) for s in speeds)
    return m.classes_[log_p.argmax(1)]


def accuracy(V, y, splits, speeds, head, C, l2=False):
    accs = [np.mean(fit_predict(V, y, tr, te, speeds, head, C, l2) == y[te]) for tr, te in splits]
    return float(np.mean(accs)), float(np.std(accs))


def candidates():
    """``(name, speeds, head, C, l2)``; unit-length rows need a weaker penalty (larger C)."""
    out = [("birdnet-linear", (1.0,), "pooled", 0.1, False)]
    for speeds in SPEED_SETS[1:]:
        for head in ("pooled", "views as rows"):
            for C in (0.1, 0.3):
                out.append((f"{head} {'/'.join(map(str, speeds))} C={C}", speeds, head, C, False))
    for speeds in (SPEED_SETS[1], SPEED_SETS[-1]):
        for head in ("pooled", "views as rows"):
            for C in (10.0, 30.0):
                name = f"{head} {'/'.join(map(str, speeds))} unit rows C={C:g}"
                out.append((name, speeds, head, C, True))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=str(HERE.parent / "build" / "cache"))
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if selection.missing():
        print(selection.missing_message(), file=sys.stderr)
        return 0
    t0 = time.perf_counter()
    tabs = selection.tables()
    data = {}
    for name, table in tabs.items():
        clips, y = selection.clips(table)
        print(f"embedding {name} at speeds {ALL_SPEEDS} ...", file=sys.stderr)
        data[name] = (embed_views(clips, args.cache), y)
    print(f"embedded in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    splits = selection.all_splits(tabs, data["us8k"][1])
    rows = []
    for name, speeds, head, C, l2 in candidates():
        r = {"candidate": name, "speeds": " ".join(map(str, speeds)), "head": head, "C": C}
        r["unit_rows"] = l2
        for col, (ds, sp) in splits.items():
            V, y = data[ds]
            r[col], std = accuracy(V, y, sp, speeds, head, C, l2)
            if col == "esc10_5fold":
                r["esc10_5fold_std"] = std
        r["selection"] = (r["esc10_inner_1to4"] + r["us8k_partial_grouped"]) / 2
        rows.append(r)
        print(
            f"{name:40s} selection {100 * r['selection']:.1f} esc10 {100 * r['esc10_5fold']:.1f}"
            f" fsdd {100 * r['fsdd_official']:.1f}",
            file=sys.stderr,
        )
    write(pd.DataFrame(rows).sort_values("selection", ascending=False, kind="stable"), args.out)
    return 0


def write(table, out):
    columns = [("candidate", lambda r: r["candidate"]), *selection.RANKED_COLUMNS]
    selection.write_ranked(table, out, "speed_views", columns)


if __name__ == "__main__":
    sys.exit(main())
