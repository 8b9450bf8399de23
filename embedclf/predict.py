"""Predict files with a fitted model: one row per clip, or per analysis window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .audio import load_clips
from .features.windows import window_starts
from .pipelines import pipeline_sr

__all__ = ["predict_table"]


def _probabilities(model, clips):
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(clips))
        classes = list(model.classes_)
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        if hasattr(final, "labels_from_proba"):  # e.g. KerasCNN's rejection threshold
            labels = np.asarray(final.labels_from_proba(proba), dtype=object)
        else:
            labels = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
        return labels, proba, classes
    return np.asarray(model.predict(clips), dtype=object), None, []


def predict_table(model, X, *, sr=None, on_error="raise", window=None, hop=None, progress=False):
    """Predict clips and return a table a person (or a script) can read.

    Parameters
    ----------
    model : fitted estimator over clips
    X : sequence of clips (paths or waveforms)
    sr : int, optional
        Rate to load clips at; default the model's own (see
        :func:`~embedclf.pipelines.pipeline_sr`).
    on_error : {"raise", "skip"}, default="raise"
        With ``"skip"`` an unreadable clip gets a row with its ``error``
        and no label, so the output still has one row per input.
    window : float, optional
        Predict each analysis window of this many seconds separately
        (rows gain ``start``/``end`` in seconds). Clips shorter than a
        window are predicted whole.
    hop : float, optional
        Hop between windows in seconds; default ``window`` (no overlap).
    progress : bool, default=False

    Returns
    -------
    pandas.DataFrame
        Columns ``source, [start, end,] label, prob_<class>..., error``.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.datasets import make_sound_events
    >>> from embedclf.pipelines import make_pipeline
    >>> from embedclf.predict import predict_table
    >>> X, y, _ = make_sound_events(n_per_class=4)
    >>> model = make_pipeline("logmel-linear", mel__sr=16000).fit(X, y)
    >>> predict_table(model, X[:2], window=1.0).shape
    (4, 10)
    """
    sr = sr or pipeline_sr(model)
    if sr is None:
        raise ValueError("cannot tell the model's sample rate; pass sr=")
    res = load_clips(X, sr=sr, on_error=on_error, progress=progress)
    if len(res.kept) and len(res.clips) != len(res.kept):
        raise RuntimeError("internal error: loaded clips and their indices differ in number")
    sources = [str(x) if isinstance(x, str) or hasattr(x, "__fspath__") else f"clip {i}"
               for i, x in enumerate(X)]
    rows = []
    if window is None:
        labels, proba, classes = _probabilities(model, res.clips) if res.clips else ([], None, [])
        for k, i in enumerate(res.kept):
            row = {"source": sources[i], "label": labels[k]}
            if proba is not None:
                row.update({f"prob_{c}": float(p) for c, p in zip(classes, proba[k])})
            rows.append((i, row))
    else:
        hop = hop or window
        if window <= 0 or hop <= 0:
            raise ValueError("window and hop must be positive seconds")
        win_n, hop_n = int(round(window * sr)), int(round(hop * sr))
        for k, i in enumerate(res.kept):
            y = res.clips[k]
            # full windows, then one shorter window for the tail (never one past the end)
            starts = window_starts(len(y), win_n, hop_n, pad="last")
            segments = [y[s : s + win_n] for s in starts]
            labels, proba, classes = _probabilities(model, segments)
            for j, s in enumerate(starts):
                row = {"source": sources[i], "start": s / sr,
                       "end": min(s + win_n, len(y)) / sr, "label": labels[j]}
                if proba is not None:
                    row.update({f"prob_{c}": float(p) for c, p in zip(classes, proba[j])})
                rows.append((i, row))
    for i, source, reason in res.skipped.itertuples(index=False):
        rows.append((i, {"source": sources[i], "label": None, "error": reason}))
    rows.sort(key=lambda r: r[0])  # input order; windows stay in time order (stable sort)
    df = pd.DataFrame([r for _, r in rows])
    for col in ("source", "label", "error"):
        if col not in df:
            df[col] = pd.Series(dtype=object)
    # object columns with None for gaps: labels keep their type (an int class stays an int
    # next to a skipped clip) and JSON gets null, not NaN
    for col in ("label", "error"):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df
