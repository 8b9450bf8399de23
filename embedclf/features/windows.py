"""Analysis windows over frame sequences, and pooling them into one vector.

The classic pipeline splits each clip into analysis windows, featurises and
classifies per window, then aggregates. :func:`split_windows` does the split
(with timestamps); :class:`WindowAggregator` pools a whole sequence into the
fixed-length vector a classical model needs.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._utils.deprecation import DEPRECATED, migrate_state, renamed_value

__all__ = ["split_windows", "window_starts", "stream_windows", "WindowAggregator", "STATS"]


def window_starts(n_frames, window, hop, pad="last"):
    """Start indices of analysis windows of ``window`` frames every ``hop`` frames.

    Parameters
    ----------
    n_frames : int
    window, hop : int
        Window length and hop in frames (``hop = window`` means no overlap).
    pad : {"last", "none"}, default="last"
        ``"last"`` adds one final window when frames are left over after the
        last full window (and gives one window for sequences shorter than
        ``window``); the caller pads it. ``"none"`` keeps full windows only.

    Returns
    -------
    ndarray of int

    Examples
    --------
    >>> from embedclf.features.windows import window_starts
    >>> window_starts(10, 4, 2).tolist()
    [0, 2, 4, 6]
    >>> window_starts(11, 4, 2).tolist()
    [0, 2, 4, 6, 8]
    """
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be >= 1 frame, got {window} and {hop}")
    if n_frames >= window:
        starts = np.arange(0, n_frames - window + 1, hop)
        # one more (padded) window only if it would start inside the sequence
        if pad == "last" and starts[-1] + window < n_frames and starts[-1] + hop < n_frames:
            starts = np.append(starts, starts[-1] + hop)
        return starts
    return np.array([0]) if pad == "last" and n_frames > 0 else np.array([], dtype=int)


def stream_windows(blocks, window, hop):
    """Analysis windows over a sequence that arrives in blocks, without holding all of it.

    The windows are those of :func:`window_starts` with ``pad="last"``: each
    full window as soon as its elements are in, then (after the last block) at
    most one shorter window for the tail, which the caller pads or keeps short.

    Parameters
    ----------
    blocks : iterable of ndarray
        Consecutive pieces of one sequence (samples, or frames along axis 0).
    window, hop : int
        Window length and hop in elements of the sequence.

    Yields
    ------
    start : int
    piece : ndarray
        ``seq[start : start + window]`` (a view, valid until the next one is
        asked for; shorter for the tail).

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.windows import stream_windows
    >>> seq = np.arange(11)
    >>> [(s, w.tolist()) for s, w in stream_windows([seq[:3], seq[3:]], 4, 3)]
    [(0, [0, 1, 2, 3]), (3, [3, 4, 5, 6]), (6, [6, 7, 8, 9]), (9, [9, 10])]
    """
    buf, off, k, n = None, 0, 0, 0  # buf[0] is element ``off``; k windows given so far
    for B in blocks:
        B = np.asarray(B)
        if not len(B):
            continue
        buf = B if buf is None else np.concatenate([buf, B])
        n += len(B)
        while k * hop + window <= n:
            a = k * hop - off
            yield k * hop, buf[a : a + window]
            k += 1
        drop = min(k * hop - off, len(buf))  # keep only what later windows still need
        buf, off = buf[drop:], off + drop
    for s in window_starts(n, window, hop, pad="last")[k:]:
        yield int(s), buf[s - off : s - off + window]


def split_windows(seq, window, hop=None, *, frame_rate=None, pad="last", fill=None):
    """Split a ``(n_frames, n_features)`` sequence into analysis windows.

    Parameters
    ----------
    seq : ndarray of shape (n_frames, n_features)
    window : int or float
        Window length: frames if ``frame_rate`` is None, else seconds.
    hop : int or float, optional
        Hop between window starts in the same unit; default ``window``
        (no overlap). Overlap = ``window - hop``.
    frame_rate : float, optional
        Frames per second, to give ``window``/``hop`` in seconds.
    pad : {"last", "none"}, default="last"
        Whether a trailing partial window (or a sequence shorter than one
        window) is kept, padded with ``fill``.
    fill : float, optional
        Pad value; default the sequence's minimum (silence in a log
        spectrogram), or 0 for an empty sequence.

    Returns
    -------
    windows : ndarray of shape (n_windows, window_frames, n_features)
    times : ndarray of shape (n_windows,)
        Start of each window, in seconds if ``frame_rate`` is given, else
        in frames.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.windows import split_windows
    >>> seq = np.arange(20.0).reshape(10, 2)
    >>> w, t = split_windows(seq, 0.4, 0.2, frame_rate=10)
    >>> w.shape, t.tolist()
    ((4, 4, 2), [0.0, 0.2, 0.4, 0.6])
    """
    seq = np.asarray(seq)
    if seq.ndim != 2:
        raise ValueError(f"seq must be 2-D (n_frames, n_features), got shape {seq.shape}")
    hop = window if hop is None else hop
    if frame_rate is not None:
        win_f = max(1, int(round(window * frame_rate)))
        hop_f = max(1, int(round(hop * frame_rate)))
    else:
        win_f, hop_f = int(window), int(hop)
    starts = window_starts(seq.shape[0], win_f, hop_f, pad)
    if not len(starts):
        return np.zeros((0, win_f, seq.shape[1]), dtype=seq.dtype), np.zeros(0)
    if fill is None:
        fill = float(seq.min()) if seq.size else 0.0
    need = (starts[-1] + win_f) if len(starts) else 0
    if need > seq.shape[0]:
        seq = np.concatenate([seq, np.full((need - seq.shape[0], seq.shape[1]), fill, seq.dtype)])
    view = np.lib.stride_tricks.sliding_window_view(seq, win_f, axis=0)  # (n, d, win)
    windows = np.ascontiguousarray(view[starts].transpose(0, 2, 1))
    times = starts / float(frame_rate) if frame_rate is not None else starts
    return windows, times


def _check_finite(S):
    if not np.isfinite(np.sum(S, dtype=np.float64)):
        raise ValueError("Input contains NaN or infinity; check the feature extractor")


def _quantile(q):
    return lambda S: np.quantile(S, q, axis=0)


#: The statistics :class:`WindowAggregator` can compute, by name.
STATS = {
    "mean": lambda S: S.mean(axis=0),
    "std": lambda S: S.std(axis=0),
    "min": lambda S: S.min(axis=0),
    "max": lambda S: S.max(axis=0),
    "median": lambda S: np.median(S, axis=0),
}


class _RunningStats:
    """Count, sum, sum of squared deviations, min and max of frames, block by block."""

    def __init__(self, keep):
        self.n, self.total, self.m2, self.lo, self.hi = 0, None, None, None, None
        self.kept = [] if keep else None

    def add(self, B64, raw):
        n, total = len(B64), B64.sum(axis=0)
        mean = total / n
        m2 = ((B64 - mean) ** 2).sum(axis=0)
        if self.n == 0:
            self.total, self.m2 = total, m2
            self.lo, self.hi = B64.min(axis=0), B64.max(axis=0)
        else:  # Chan et al.: merge the block's spread with the running one
            d = mean - self.total / self.n
            self.m2 = self.m2 + m2 + d * d * (self.n * n / (self.n + n))
            self.total = self.total + total
            self.lo, self.hi = (
                np.minimum(self.lo, B64.min(axis=0)),
                np.maximum(self.hi, B64.max(axis=0)),
            )
        self.n += n
        if self.kept is not None:
            self.kept.append(np.array(raw))

    def result(self, stats, quantiles):
        S = None
        if self.kept is not None:
            S = np.concatenate(self.kept).astype(np.float64)
        values = {
            "mean": lambda: self.total / self.n,
            "std": lambda: np.sqrt(self.m2 / self.n),
            "min": lambda: self.lo,
            "max": lambda: self.hi,
            "median": lambda: STATS["median"](S),
        }
        return [values[s]() for s in stats] + [_quantile(q)(S) for q in quantiles]


class WindowAggregator(TransformerMixin, BaseEstimator):
    """Pool each clip's ``(n_frames, n_features)`` sequence into one vector.

    Parameters
    ----------
    stats : tuple of str, default=("mean", "std")
        Statistics over frames, any of ``"mean", "std", "min", "max",
        "median"``, concatenated in the given order.
    quantiles : tuple of float, default=()
        Extra per-feature quantiles in [0, 1] (e.g. ``(0.1, 0.9)``).
    diffs : bool, default=False
        Also apply ``stats`` to the frame-to-frame differences (``np.diff``),
        capturing how fast each feature moves; their output names start with
        ``delta_``. A one-frame clip has zero differences. (Not the
        smoothed ``librosa.feature.delta`` that :class:`MFCC`'s integer
        ``deltas`` appends.)
    deltas : bool, default="deprecated"
        The old name of ``diffs``: still accepted, with a
        :class:`FutureWarning`, until 0.4.

    Attributes
    ----------
    n_features_in_ : int
        Features per frame seen in ``fit``.
    n_features_out_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf import WindowAggregator
    >>> seqs = [np.ones((5, 3)), np.zeros((8, 3))]
    >>> WindowAggregator(stats=("mean", "max")).fit_transform(seqs).shape
    (2, 6)
    """

    #: ``fit`` only checks the parameters and the feature size: nothing learned
    #: from the clips (see :func:`embedclf.evaluation.shared_steps`).
    learns_from_data = False

    _parameter_constraints = {
        "stats": [tuple, list],
        "quantiles": [tuple, list],
        "diffs": ["boolean"],
        "deltas": ["boolean", StrOptions({DEPRECATED})],
    }

    def __init__(self, *, stats=("mean", "std"), quantiles=(), diffs=False, deltas=DEPRECATED):
        self.stats = stats
        self.quantiles = quantiles
        self.diffs = diffs
        self.deltas = deltas

    def __setstate__(self, state):
        super().__setstate__(migrate_state(type(self), dict(state), {"deltas": "diffs"}))

    def _diffs(self, warn=False):
        """``diffs``, or the deprecated ``deltas`` when it is set."""
        return renamed_value(self, "deltas", "diffs", warn=warn)

    def _check_params(self):
        unknown = [s for s in self.stats if s not in STATS]
        if unknown:
            raise ValueError(f"unknown stats {unknown}; choose from {sorted(STATS)}")
        if not self.stats and not self.quantiles:
            raise ValueError("WindowAggregator needs at least one stat or quantile")
        for q in self.quantiles:
            if not 0.0 <= float(q) <= 1.0:
                raise ValueError(f"quantiles must lie in [0, 1], got {q}")

    @staticmethod
    def _sequences(X):
        """Accept a list of 2-D arrays or a 3-D array; a 2-D array is one frame per clip."""
        from scipy.sparse import issparse

        if issparse(X):
            raise TypeError("sparse input is not supported: pass dense per-clip sequences")
        if not isinstance(X, (list, tuple, np.ndarray)) and hasattr(X, "__array__"):
            X = np.asarray(X)
        if isinstance(X, np.ndarray) and X.dtype != object:
            if np.iscomplexobj(X):
                raise ValueError("Complex data not supported")
            if X.ndim == 1:
                raise ValueError(
                    f"expected per-clip (n_frames, n_features) sequences, got a 1-D array of shape "
                    f"{X.shape}. Reshape your data: X.reshape(1, -1) for one frame of one clip."
                )
            if X.ndim == 3:
                return list(X)
            if X.ndim == 2:
                return [row[None, :] for row in X]
            raise ValueError(
                f"expected per-clip (n_frames, n_features) sequences, got an array of shape "
                f"{X.shape}"
            )
        seqs = []
        for i, S in enumerate(X):
            S = np.asarray(S)
            if np.iscomplexobj(S):
                raise ValueError("Complex data not supported")
            if not np.issubdtype(S.dtype, np.floating):
                S = S.astype(np.float64)
            if S.ndim == 1:
                S = S[None, :]
            if S.ndim != 2 or S.shape[0] == 0:
                raise ValueError(
                    f"clip {i}: expected a non-empty (n_frames, n_features) array, got shape "
                    f"{S.shape}"
                )
            seqs.append(S)
        return seqs

    def fit(self, X, y=None):
        """Check parameters and record the number of features per frame.

        Parameters
        ----------
        X : list of ndarray of shape (n_frames, n_features), or 3-D array
        y : ignored

        Returns
        -------
        self : object
        """
        self._validate_params()
        self._check_params()
        seqs = self._sequences(X)
        if not seqs:
            raise ValueError("WindowAggregator.fit got 0 clips; need at least one")
        for S in seqs:
            _check_finite(S)
        dims = {S.shape[1] for S in seqs}
        if len(dims) > 1:
            raise ValueError(f"clips have different feature sizes {sorted(dims)}")
        self.n_features_in_ = dims.pop()
        if self.n_features_in_ == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={seqs[0].shape}) while a minimum of 1 "
                "is required."
            )
        per = len(self.stats) + len(self.quantiles)
        self.n_features_out_ = self.n_features_in_ * per * (2 if self._diffs(warn=True) else 1)
        return self

    def _pool(self, S):
        _check_finite(S)
        S = np.asarray(S, dtype=np.float64)  # accumulate in float64 whatever comes in
        funcs = [STATS[s] for s in self.stats] + [_quantile(float(q)) for q in self.quantiles]
        parts = [f(S) for f in funcs]
        if self._diffs():
            D = np.diff(S, axis=0) if S.shape[0] > 1 else np.zeros_like(S)
            parts += [f(D) for f in funcs]
        return np.concatenate(parts)

    def transform(self, X):
        """Pool each sequence.

        Parameters
        ----------
        X : list of ndarray of shape (n_frames, n_features), or 3-D array

        Returns
        -------
        ndarray of shape (n_clips, n_features_out_)
            float32 when every input sequence is float32, else float64.
        """
        check_is_fitted(self)
        seqs = self._sequences(X)
        for i, S in enumerate(seqs):
            if S.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {S.shape[1]} features, but WindowAggregator is expecting "
                    f"{self.n_features_in_} features as input (clip {i})."
                )
        # float32 features stay float32 (LogMel, embeddings); anything else is float64
        dtype = np.float32 if seqs and all(S.dtype == np.float32 for S in seqs) else np.float64
        if not seqs:
            return np.zeros((0, self.n_features_out_), dtype=dtype)
        return np.stack([self._pool(S) for S in seqs]).astype(dtype)

    def pool_stream(self, blocks):
        """Pool one clip whose frames arrive in blocks; memory does not grow with it.

        Equal to ``transform([np.concatenate(blocks)])[0]``: ``min`` and
        ``max`` exactly; ``mean`` and ``std`` (also of deltas) are
        accumulated in float64 block by block (Chan's parallel update), which
        differs from the whole-clip float64 result by rounding only (far below
        float32 resolution; tested to 1e-6 relative). ``median`` and
        ``quantiles`` need every frame of the clip, so with them the frames
        are kept (as given, e.g. float32) until the clip ends.

        Parameters
        ----------
        blocks : iterable of ndarray of shape (n, n_features)
            Consecutive frames of one clip (at least one frame in all).

        Returns
        -------
        ndarray of shape (n_features_out_,)
            float32 when every block is float32, else float64.

        Examples
        --------
        >>> import numpy as np
        >>> from embedclf import WindowAggregator
        >>> S = np.arange(12.0).reshape(6, 2)
        >>> agg = WindowAggregator(stats=("mean", "max"), deltas=True).fit([S])
        >>> agg.pool_stream([S[:4], S[4:]]).tolist() == agg.transform([S])[0].tolist()
        True
        """
        check_is_fitted(self)
        quantiles = [float(q) for q in self.quantiles]
        keep = bool(quantiles) or "median" in self.stats
        plain, delta = _RunningStats(keep), _RunningStats(keep)
        last, all32 = None, True
        for B in blocks:
            B = np.asarray(B)
            if B.ndim != 2 or B.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"blocks must be (n_frames, {self.n_features_in_}) arrays, got shape {B.shape}"
                )
            if not len(B):
                continue
            _check_finite(B)
            all32 &= B.dtype == np.float32
            B64 = np.asarray(B, dtype=np.float64)
            plain.add(B64, B)
            if self._diffs():
                D = np.diff(B64 if last is None else np.vstack([last, B64]), axis=0)
                if len(D):
                    delta.add(D, D)
                last = B64[-1:]
        if plain.n == 0:
            raise ValueError("pool_stream got no frames; a clip needs at least one")
        parts = plain.result(self.stats, quantiles)
        if self._diffs():
            if delta.n == 0:  # one frame: zero deltas, as transform gives
                delta.add(np.zeros((1, self.n_features_in_)), np.zeros((1, self.n_features_in_)))
            parts += delta.result(self.stats, quantiles)
        return np.concatenate(parts).astype(np.float32 if all32 else np.float64)

    def get_feature_names_out(self, input_features=None):
        """Names like ``mean_f3``, ``q0.9_f3``, ``delta_std_f3``.

        Parameters
        ----------
        input_features : array-like of str, optional

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self)
        if input_features is None:
            input_features = [f"f{i}" for i in range(self.n_features_in_)]
        names = list(self.stats) + [f"q{float(q):g}" for q in self.quantiles]
        out = [f"{n}_{f}" for n in names for f in input_features]
        if self._diffs():
            out += [f"delta_{n}_{f}" for n in names for f in input_features]
        return np.asarray(out, dtype=object)
