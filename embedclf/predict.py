"""Predict files with a fitted model: one row per clip, or per analysis window.

Files are read block by block wherever the model allows it (see
:func:`streams_clips`), so memory does not grow with a file's length.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ._utils.validation import check_X
from .audio import BLOCK_SECONDS, AudioError, audio_info, load_clips, stream_audio, warn_skipped
from .features.windows import stream_windows, window_starts
from .pipelines import pipeline_sr

__all__ = ["predict_table", "streams_clips"]

#: at most this many analysis windows of a streamed file per model call in window mode
#: (fewer when they would hold more samples than a block)
WINDOW_BATCH = 64


def _probabilities(model, clips, proba=None):
    """Labels, probabilities and classes; ``proba`` if given is ``model.predict_proba(clips)``."""
    if proba is not None or hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(clips) if proba is None else proba)
        classes = list(model.classes_)
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        if hasattr(final, "labels_from_proba"):  # e.g. KerasCNN's rejection threshold
            labels = np.asarray(final.labels_from_proba(proba), dtype=object)
        else:
            labels = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
        return labels, proba, classes
    return np.asarray(model.predict(clips), dtype=object), None, []


def _clip_streamer(model):
    """``f(path, block_seconds) -> (labels, proba, classes)`` for one file, or None."""
    if getattr(model, "supports_streaming", False) and hasattr(model, "predict_proba_file"):
        return lambda path, bs: _probabilities(model, None, model.predict_proba_file(path, bs))
    steps = getattr(model, "steps", None)
    if not steps or len(steps) < 3:
        return None
    first, second = steps[0][1], steps[1][1]
    if not (
        getattr(first, "supports_streaming", False)
        and hasattr(first, "stream_file")
        and hasattr(second, "pool_stream")
    ):
        return None
    rest = model[2:]

    def predict(path, block_seconds):
        v = second.pool_stream(first.stream_file(path, block_seconds))
        return _probabilities(rest, v[None, :])

    return predict


def streams_clips(model):
    """Whether :func:`predict_table` reads files block by block for ``model`` in clip mode.

    True for a fitted :class:`~embedclf.KerasCNN` whose frontend streams, and
    for pipelines whose first step streams frames (:class:`~embedclf.LogMel`,
    the pretrained embeddings) followed by a
    :class:`~embedclf.WindowAggregator` and a classifier: every pipeline of
    :func:`~embedclf.pipelines.make_pipeline` except ``mfcc-*``. Window mode
    reads every file block by block whatever the model.

    Parameters
    ----------
    model : fitted estimator over clips

    Returns
    -------
    bool

    Examples
    --------
    >>> from embedclf.datasets import make_sound_events
    >>> from embedclf.pipelines import make_pipeline
    >>> from embedclf.predict import streams_clips
    >>> X, y, _ = make_sound_events(n_per_class=4)
    >>> streams_clips(make_pipeline("logmel-linear", mel__sr=16000).fit(X, y))
    True
    >>> streams_clips(make_pipeline("mfcc-linear", mfcc__sr=16000).fit(X, y))
    False
    """
    return _clip_streamer(model) is not None


def _duration(path):
    try:
        return audio_info(path).duration
    except AudioError:
        return None  # the whole-file loader reports it as it always has


def _segments(path, sr, win_n, hop_n, block_seconds):
    """Yield ``(start, stop, samples)`` of each analysis window of a file, read in blocks:
    full windows, then one shorter window for the tail (never one past the end)."""
    for s, seg in stream_windows(stream_audio(path, sr, block_seconds), win_n, hop_n):
        yield s, s + len(seg), seg


def _rows(source, labels, proba, classes, spans=None):
    rows = []
    for j, label in enumerate(labels):
        row = {"source": source}
        if spans is not None:
            row.update(start=spans[j][0], end=spans[j][1])
        row["label"] = label
        if proba is not None:
            row.update({f"prob_{c}": float(p) for c, p in zip(classes, proba[j])})
        rows.append(row)
    return rows


def _stream_windows(model, path, sr, win_n, hop_n, block_seconds):
    rows, batch, spans = [], [], []
    budget = max(1, int(block_seconds * sr))  # samples per model call: about one block

    def flush():
        rows.extend(_rows(path, *_probabilities(model, batch), spans=spans))
        batch.clear()
        spans.clear()

    for a, b, seg in _segments(path, sr, win_n, hop_n, block_seconds):
        batch.append(seg)
        spans.append((a / sr, b / sr))
        if len(batch) == WINDOW_BATCH or len(batch) * win_n >= budget:
            flush()
    if batch:
        flush()
    return rows


def predict_table(
    model,
    X,
    *,
    sr=None,
    on_error="raise",
    window=None,
    hop=None,
    progress=False,
    block_seconds=None,
):
    """Predict clips and return a table a person (or a script) can read.

    Memory does not grow with a file's length wherever the model allows:
    in window mode every file is decoded block by block and its windows are
    predicted :data:`WINDOW_BATCH` at a time (fewer if they hold more than a
    block of samples); in clip mode a file longer
    than one block is streamed when :func:`streams_clips` says the model
    can, else loaded whole (as are shorter files and in-memory clips, which
    are predicted together). Streamed results equal the whole-file ones up
    to float rounding of the classifier's batched arithmetic, except that a
    file resampled to the model's rate is resampled block by block (soxr's
    streaming resampler, which differs from one-shot resampling by rounding).

    Parameters
    ----------
    model : fitted estimator over clips
    X : sequence of clips (paths or waveforms)
    sr : int, optional
        Rate to load clips at; default the model's own (see
        :func:`~embedclf.pipelines.pipeline_sr`). Files are streamed only at
        the model's own rate.
    on_error : {"raise", "skip"}, default="raise"
        With ``"skip"`` an unreadable clip gets a row with its ``error``
        and no label, so the output still has one row per input. A file
        that fails part way gets only that row: none of its windows.
    window : float, optional
        Predict each analysis window of this many seconds separately
        (rows gain ``start``/``end`` in seconds). Clips shorter than a
        window are predicted whole.
    hop : float, optional
        Hop between windows in seconds; default ``window`` (no overlap).
    progress : bool, default=False
    block_seconds : float, optional
        Seconds of a file decoded per block (default
        :data:`embedclf.audio.BLOCK_SECONDS`); in clip mode also the length
        above which a file is streamed.

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
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    model_sr = pipeline_sr(model)
    sr = sr or model_sr
    if sr is None:
        raise ValueError("cannot tell the model's sample rate; pass sr=")
    if window is not None:
        hop = hop or window
        if window <= 0 or hop <= 0:
            raise ValueError("window and hop must be positive seconds")
    block_seconds = block_seconds or BLOCK_SECONDS
    X = check_X(X)
    sources = [
        os.fspath(x) if isinstance(x, (str, os.PathLike)) else f"clip {i}" for i, x in enumerate(X)
    ]
    streamer = _clip_streamer(model) if window is None and sr == model_sr else None
    rows, whole, skipped = [], [], []
    it = range(len(X))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="predicting", unit="clip")
    for i in it:
        clip = X[i]
        if not isinstance(clip, (str, os.PathLike)):
            whole.append(i)
            continue
        if window is None:
            seconds = _duration(clip) if streamer is not None else None
            if seconds is None or seconds <= block_seconds:
                whole.append(i)
                continue
        try:
            if window is None:
                got = _rows(sources[i], *streamer(clip, block_seconds))
            else:
                got = _stream_windows(
                    model,
                    sources[i],
                    sr,
                    int(round(window * sr)),
                    int(round(hop * sr)),
                    block_seconds,
                )
        except AudioError as err:
            if on_error == "raise":
                raise
            skipped.append((i, sources[i], err.reason))
            continue
        rows.extend((i, r) for r in got)  # only a file read to its end gives rows
    if whole:
        rows += _whole_files(
            model, [X[i] for i in whole], whole, sources, sr, on_error, window, hop, skipped
        )
    if skipped:
        warn_skipped(pd.DataFrame(skipped, columns=["index", "source", "reason"]), "predict_table")
    for i, source, reason in skipped:
        rows.append((i, {"source": source, "label": None, "error": reason}))
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


def _whole_files(model, clips, index, sources, sr, on_error, window, hop, skipped):
    """Rows of clips loaded whole (in-memory clips, short files, models that cannot stream)."""
    import warnings

    from .audio import SkippedClipsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedClipsWarning)  # predict_table warns once
        res = load_clips(clips, sr=sr, on_error=on_error)
    if len(res.kept) and len(res.clips) != len(res.kept):
        raise RuntimeError("internal error: loaded clips and their indices differ in number")
    skipped += [
        (index[k], sources[index[k]], reason)
        for k, _, reason in res.skipped.itertuples(index=False)
    ]
    rows = []
    if window is None:
        if res.clips:
            labels, proba, classes = _probabilities(model, res.clips)
            for k, j in enumerate(res.kept):
                i = index[j]
                rows += [
                    (i, r)
                    for r in _rows(
                        sources[i],
                        labels[k : k + 1],
                        None if proba is None else proba[k : k + 1],
                        classes,
                    )
                ]
        return rows
    win_n, hop_n = int(round(window * sr)), int(round(hop * sr))
    for k, j in enumerate(res.kept):
        i, y = index[j], res.clips[k]
        # full windows, then one shorter window for the tail (never one past the end)
        starts = window_starts(len(y), win_n, hop_n, pad="last")
        segments = [y[s : s + win_n] for s in starts]
        spans = [(s / sr, min(s + win_n, len(y)) / sr) for s in starts]
        rows += [(i, r) for r in _rows(sources[i], *_probabilities(model, segments), spans=spans)]
    return rows
