"""The data sets and splits the BirdNET benchmarks choose on, and those they only report.

Selection never looks at ESC-10's test folds: candidates are ranked by the
mean of leave-one-fold-out accuracy on ESC-10 folds 1-4 and 5-fold accuracy
on ``urbansound8k-fold3-partial`` grouped by ``fsID``. ESC-10's 5 folds and
FSDD's official split are reported, never used to choose. Used by
``deep_birdnet.py`` and ``speed_views.py``.
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from embedclf.audio import load_clips
from embedclf.datasets import load_esc10, load_fsdd, load_urbansound8k
from embedclf.evaluation import atomic_write, atomic_write_data

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
FOLDERS = {"esc10": "esc10", "us8k": "urbansound8k-fold3-partial", "fsdd": "fsdd"}
LOADERS = {"esc10": load_esc10, "us8k": load_urbansound8k, "fsdd": load_fsdd}


def missing():
    """The data set folders absent under ``DATA``."""
    return [f for f in FOLDERS.values() if not (DATA / f).is_dir()]


def missing_message():
    """What is missing, for a benchmark that measures nothing without it."""
    return f"needs {', '.join(missing())} under {DATA}; nothing to measure"


def tables(names=tuple(FOLDERS)):
    """{name: index table} of the data sets ``names``."""
    return {name: LOADERS[name](DATA / FOLDERS[name]) for name in names}


def clips(table, sr=48000):
    """Decoded clips and labels of an index table."""
    res = load_clips(table["path"].tolist(), table["label"].to_numpy(), sr=sr, progress=True)
    return res.clips, np.asarray(res.y)


def fold_splits(folds, keep=None):
    """Leave-one-fold-out ``(train, test)`` index pairs, over the folds in ``keep`` (or all)."""
    idx = np.arange(len(folds)) if keep is None else np.flatnonzero(np.isin(folds, keep))
    return [(idx[folds[idx] != f], idx[folds[idx] == f]) for f in np.unique(folds[idx])]


def us8k_splits(table, y):
    """5 folds of the UrbanSound8K partial fold, stratified and grouped by ``fsID``."""
    return list(
        StratifiedGroupKFold(5, shuffle=True, random_state=0).split(
            np.zeros(len(y)), y, table["group"].to_numpy()
        )
    )


def all_splits(tabs, y_us):
    """{column: (data set, splits)}: the two selection sets, then the two reported ones."""
    esc_folds = tabs["esc10"]["fold"].to_numpy()
    split = tabs["fsdd"]["split"].to_numpy()
    return {
        "esc10_inner_1to4": ("esc10", fold_splits(esc_folds, keep=[1, 2, 3, 4])),
        "us8k_partial_grouped": ("us8k", us8k_splits(tabs["us8k"], y_us)),
        "esc10_5fold": ("esc10", fold_splits(esc_folds)),
        "fsdd_official": (
            "fsdd",
            [(np.flatnonzero(split == "train"), np.flatnonzero(split == "test"))],
        ),
    }


def pct(v):
    """A fraction as a percentage cell ("" when missing)."""
    return "" if pd.isna(v) else f"{100 * v:.1f}%"


def esc10_5fold_cell(r):
    """ESC-10's 5-fold mean ± std over folds."""
    std = r["esc10_5fold_std"]
    return pct(r["esc10_5fold"]) + ("" if pd.isna(std) else f" ± {100 * std:.1f}")


#: The columns every ranked table ends with: (title, cell of a row).
RANKED_COLUMNS = [
    ("selection", lambda r: pct(r["selection"])),
    ("ESC-10 1-4", lambda r: pct(r["esc10_inner_1to4"])),
    ("US8K partial", lambda r: pct(r["us8k_partial_grouped"])),
    ("ESC-10 5-fold", esc10_5fold_cell),
    ("FSDD", lambda r: pct(r["fsdd_official"])),
]


def write_ranked(table, out, name, columns):
    """Write ``<out>/<name>.csv`` and a markdown table ``<name>.md`` of ``columns``.

    ``columns``: ``(title, function of a row -> cell)``, usually the script's
    own columns followed by :data:`RANKED_COLUMNS`.
    """
    os.makedirs(out, exist_ok=True)
    atomic_write(os.path.join(out, f"{name}.csv"), lambda p: table.to_csv(p, index=False))
    md = [
        "Ranked by `selection` = mean of ESC-10 folds 1-4 (leave one fold out) and the "
        "UrbanSound8K fold-3 partial set (5 folds grouped by fsID); ESC-10 5-fold and FSDD are "
        f"reported, not used to choose. Written by `benchmarks/{name}.py`.",
        "",
        "| " + " | ".join(title for title, _ in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for r in table.to_dict("records"):
        md.append("| " + " | ".join(cell(r) for _, cell in columns) + " |")
    atomic_write_data(os.path.join(out, f"{name}.md"), "\n".join(md) + "\n")
    print("\n".join(md))
