"""Log-mel analysis windows as CNN input, and clip pooling of window probabilities.

Shared by :class:`~embedclf.models.KerasCNN`, the distiller and its export.

Examples
--------
>>> from embedclf.models.windows import window_frames
>>> from embedclf.distill import mcu_frontend
>>> window_frames(mcu_frontend(), 1.0, 0.5)  # 20 ms frames
(50, 25)
"""

from __future__ import annotations

import numpy as np

from ..features.mel import windows_top_db_floor
from ..features.windows import split_windows, stream_windows

__all__ = [
    "window_frames",
    "spectrogram_windows",
    "stream_spectrogram_windows",
    "pool_windows",
    "resolve_clip_pooling",
    "POOLINGS",
    "LOG_FLOOR",
]


def window_frames(frontend, window, hop):
    """Window and hop of ``window``/``hop`` seconds in frames of ``frontend`` (at least 1).

    Examples
    --------
    >>> from embedclf import LogMel
    >>> from embedclf.models.windows import window_frames
    >>> window_frames(LogMel(sr=16000, hop_length=320), 1.0, 0.25)
    (50, 12)
    """
    rate = frontend.sr / frontend.hop_length
    return max(1, int(round(window * rate))), max(1, int(round(hop * rate)))


def spectrogram_windows(frontend, waves, n_frames, hop_frames, top_db=None):
    """Fitted-``frontend`` log-mel windows of every clip, as CNN input.

    Clips shorter than one window give one window padded with the clip's
    quietest value (silence); a trailing partial window is padded the same way.
    ``top_db`` clips each window to that many dB below its own maximum (what a
    device holding one window can do, unlike clipping against the whole clip).

    Parameters
    ----------
    frontend : LogMel
        Fitted.
    waves : sequence of ndarray
        Waveforms at ``frontend.sr``.
    n_frames, hop_frames : int
        Window and hop in frames (:func:`window_frames`).
    top_db : float or None, default=None

    Returns
    -------
    windows : ndarray of shape (n_windows, n_mels, n_frames, 1), float32
    owner : ndarray of shape (n_windows,)
        Index of the clip each window comes from.
    starts : ndarray of shape (n_windows,)
        First frame of each window in its clip.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.distill import mcu_frontend
    >>> from embedclf.models.windows import spectrogram_windows
    >>> fe = mcu_frontend().fit([np.zeros(1, np.float32)])
    >>> W, owner, starts = spectrogram_windows(fe, [np.zeros(16000, np.float32)], 50, 25)
    >>> W.shape, owner.tolist(), starts.tolist()
    ((2, 40, 50, 1), [0, 0], [0, 25])
    """
    specs = frontend.transform(list(waves))
    parts, owner, starts = [], [], []
    for i, S in enumerate(specs):
        w, first = split_windows(S, n_frames, hop_frames, pad="last")  # >= 1 window per clip
        parts.append(w)
        owner.append(np.full(len(w), i))
        starts.append(np.asarray(first, dtype=int))
    W = np.concatenate(parts).transpose(0, 2, 1)[..., None]
    W = windows_top_db_floor(W, top_db)
    return (
        np.ascontiguousarray(W, dtype=np.float32),
        np.concatenate(owner),
        np.concatenate(starts),
    )


def stream_spectrogram_windows(frames, n_frames, hop_frames, top_db=None, group=64):
    """:func:`spectrogram_windows` of one clip whose frames arrive in blocks.

    Yields up to ``group`` windows at a time, ``(k, n_mels, n_frames, 1)``
    float32, equal to that clip's windows from :func:`spectrogram_windows`:
    full windows as soon as their frames are in, the padded last one (filled
    with the clip's quietest value, known only at the end) after the last block.
    """
    lo = np.inf

    def tracked():
        nonlocal lo
        for B in frames:
            if len(B):
                lo = min(lo, B.min())
            yield B

    def shaped(ws):
        W = windows_top_db_floor(np.stack(ws).transpose(0, 2, 1)[..., None], top_db)
        return np.ascontiguousarray(W, dtype=np.float32)

    ready = []
    for _, w in stream_windows(tracked(), n_frames, hop_frames):
        if len(w) < n_frames:  # the tail: every block is in, so ``lo`` is the clip's minimum
            w = np.concatenate([w, np.full((n_frames - len(w), w.shape[1]), lo, w.dtype)])
        ready.append(w)
        if len(ready) == group:
            yield shaped(ready)
            ready = []
    if ready:
        yield shaped(ready)


#: Clip poolings of window probabilities (``KerasCNN(clip_pooling=...)``).
POOLINGS = ("mean", "logmean", "vote")
#: ``"logmean"`` floors each window probability here first: half an int8 softmax output step
#: (1/256), so one window's confident zero cannot veto a class, and the float and int8 models pool
#: alike.
LOG_FLOOR = 1 / 512


def pool_windows(P, owner, n_clips, aggregate="mean", *, floor=LOG_FLOOR):
    """Clip probabilities from window probabilities ``P``.

    ``"mean"`` averages the windows' probabilities; ``"logmean"`` averages
    their logarithms (floored at ``floor``, :data:`LOG_FLOOR` unless given)
    and renormalises, a geometric mean that treats windows as independent
    evidence; ``"vote"`` gives each class its share of the windows' top answers.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.windows import pool_windows
    >>> P = np.array([[0.8, 0.2, 0.0], [0.0, 0.4, 0.6]])  # one clip's two windows
    >>> owner = np.array([0, 0])
    >>> pool_windows(P, owner, 1).round(2)  # class 0: one window sure, the other rules it out
    array([[0.4, 0.3, 0.3]])
    >>> pool_windows(P, owner, 1, "logmean").round(2)  # class 1: the only one both allow
    array([[0.11, 0.79, 0.1 ]])
    """
    if aggregate not in POOLINGS:
        raise ValueError(f"aggregate must be one of {POOLINGS}, got {aggregate!r}")
    P = np.asarray(P, dtype=np.float64)
    if aggregate == "vote":
        P = np.eye(P.shape[1])[P.argmax(1)]
    elif aggregate == "logmean":
        P = np.log(np.maximum(P, floor))
    out = np.zeros((n_clips, P.shape[1]), dtype=np.float64)
    np.add.at(out, owner, P)
    counts = np.bincount(owner, minlength=n_clips)[:, None]
    out /= np.maximum(counts, 1)
    if (
        aggregate == "logmean"
    ):  # back to probabilities that sum to 1 (a clip without windows: uniform)
        out = np.exp(out - out.max(axis=1, keepdims=True))
        out /= out.sum(axis=1, keepdims=True)
    return out


def resolve_clip_pooling(clip_pooling, aggregate="deprecated"):
    """The clip pooling an estimator uses: ``clip_pooling``, unless the old ``aggregate`` is set.

    ``aggregate`` is the parameter's former name (deprecated): when set, it
    wins, with a FutureWarning.

    Examples
    --------
    >>> import warnings
    >>> from embedclf.models.windows import resolve_clip_pooling
    >>> resolve_clip_pooling("logmean")
    'logmean'
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     resolve_clip_pooling("logmean", aggregate="vote")
    'vote'
    >>> caught[0].category.__name__
    'FutureWarning'
    """
    if aggregate == "deprecated":
        return clip_pooling
    import warnings

    warnings.warn(
        f"`aggregate` was renamed `clip_pooling` in 0.2 and will be removed in 0.4; "
        f"pass clip_pooling={aggregate!r} instead",
        FutureWarning,
        stacklevel=3,
    )
    return aggregate
