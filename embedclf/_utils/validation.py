"""Validation of clip inputs shared by every estimator that takes clips.

What ``X`` may be (see :mod:`embedclf.audio`): a sequence of file paths or
waveforms, or a 2-D array with one mono waveform per row. Estimators call
:func:`record_n_features` in ``fit`` and :func:`check_n_features` in
``transform``/``predict``, as scikit-learn's own estimators do with
``validate_data``.

Examples
--------
>>> from embedclf._utils.validation import check_X, is_path
>>> X = check_X(["a.wav", "b.wav"])
>>> [is_path(x) for x in X]
[True, True]
"""

from __future__ import annotations

import os

import numpy as np

from ..exceptions import AudioError

__all__ = [
    "MAX_CHANNELS",
    "is_path",
    "check_X",
    "validate_clip",
    "record_n_features",
    "check_n_features",
]

#: Most channels of an in-memory 2-D waveform: more almost always means channels-first data.
MAX_CHANNELS = 16


def is_path(obj):
    """Whether ``obj`` names a file (``str`` or :class:`os.PathLike`) rather than holding samples.

    Parameters
    ----------
    obj : object

    Returns
    -------
    bool

    Examples
    --------
    >>> from pathlib import Path
    >>> from embedclf._utils.validation import is_path
    >>> is_path("dog.wav"), is_path(Path("dog.wav")), is_path([0.0, 1.0])
    (True, True, False)
    """
    return isinstance(obj, (str, os.PathLike))


def check_X(X):
    """``X`` as an indexable sequence of clips, or an error with a hint.

    Rejects what is not a sequence of clips (sparse matrices, a single path,
    a DataFrame, a 1-D numeric array, one multichannel waveform passed bare);
    array-likes become arrays, other iterables (generators) become lists so
    they can be read more than once.

    Parameters
    ----------
    X : sequence of clips
        Paths, waveforms, or a 2-D array with one mono waveform per row.

    Returns
    -------
    list, tuple or ndarray

    Raises
    ------
    TypeError
        For sparse input.
    ValueError
        For anything that is not a sequence of clips; the message says how to pass it.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf._utils.validation import check_X
    >>> check_X(c for c in ["a.wav", "b.wav"])
    ['a.wav', 'b.wav']
    >>> check_X(np.zeros(100))
    Traceback (most recent call last):
    ...
    ValueError: X must be a sequence of clips; got a 1-D numeric array, which is ambiguous. ...
    """
    from scipy.sparse import issparse

    if issparse(X):
        raise TypeError("sparse input is not supported: clips are dense waveforms or paths")
    if is_path(X):
        raise ValueError("X must be a sequence of clips; got a single path. Wrap it: [path]")
    if hasattr(X, "iloc") and hasattr(X, "columns"):
        raise ValueError("X must be a sequence of clips; got a DataFrame. Pass df['path']")
    if not isinstance(X, (list, tuple, np.ndarray)) and hasattr(X, "__array__"):
        X = np.asarray(X)  # array-likes (pandas Series, wrappers) become arrays
    if isinstance(X, np.ndarray):
        if X.dtype != object and X.ndim == 1 and not np.issubdtype(X.dtype, np.str_):
            raise ValueError(
                "X must be a sequence of clips; got a 1-D numeric array, which is ambiguous. "
                "Reshape your data: wrap a single waveform as [y], or use y.reshape(1, -1)."
            )
        if (
            X.ndim == 2
            and X.dtype != object
            and 1 <= X.shape[1] <= MAX_CHANNELS
            and X.shape[0] >= 1000 * X.shape[1]
        ):
            raise ValueError(
                f"X has shape {X.shape}: that looks like one {X.shape[1]}-channel waveform "
                f"(n_samples, n_channels), not {X.shape[0]} clips of {X.shape[1]} samples. "
                "Pass it as [y]; a 2-D X must hold one mono clip per row."
            )
        if X.ndim > 2 and X.dtype != object:
            raise ValueError(
                f"X has shape {X.shape}; expected a 2-D array of mono waveforms (one per row) "
                "or a list of waveforms"
            )
    if not (hasattr(X, "__len__") and hasattr(X, "__getitem__")):
        X = list(X)  # generators, dict views: indexable from here on
    return X


def validate_clip(est, clip, source):
    """Check one in-memory clip for ``est.fit``: a bad clip raises unless ``est`` skips them.

    A bad in-memory clip fails ``fit`` unless the estimator's ``on_error`` is
    ``"skip"``, exactly as a bad file would be treated in ``transform``.

    Parameters
    ----------
    est : estimator
        Its ``on_error`` attribute (default ``"raise"``) decides.
    clip : array-like
        A waveform.
    source : str
        The clip's name in error messages, e.g. ``"clip 3"``.

    Raises
    ------
    AudioError
        When the clip is unusable and ``est`` does not skip bad clips.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from embedclf._utils.validation import validate_clip
    >>> validate_clip(BaseEstimator(), np.zeros(10, dtype=np.int16), "clip 0")
    Traceback (most recent call last):
    ...
    embedclf.exceptions.AudioError: clip 0: integer samples (int16) are ambiguous; ...
    """
    from ..audio import to_mono  # audio imports this module, so not at the top

    try:
        to_mono(clip, source)
    except AudioError:
        if getattr(est, "on_error", "raise") != "skip":
            raise


def record_n_features(est, X):
    """Validate in-memory clips for ``est.fit`` and record ``n_features_in_`` for 2-D arrays.

    Only arrays are checked here (cheap); files are checked when read. For
    any ``X`` other than a 2-D numeric array, ``n_features_in_`` is removed.

    Parameters
    ----------
    est : estimator
        Gets ``n_features_in_`` (samples per clip) when ``X`` is a 2-D array.
    X : sequence of clips

    Raises
    ------
    ValueError
        For no clips, clips of no samples or complex samples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from embedclf._utils.validation import record_n_features
    >>> est = BaseEstimator()
    >>> record_n_features(est, np.zeros((3, 400), dtype=np.float32))
    >>> est.n_features_in_
    400
    """
    X = check_X(X)
    if len(X) == 0:
        raise ValueError(f"{type(est).__name__}.fit got 0 clips; need at least one")
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype != object:
        if X.shape[1] == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is "
                "required: clips need at least one sample"
            )
        if np.iscomplexobj(X):
            raise ValueError("Complex data not supported: pass real-valued waveforms")
        for i in range(X.shape[0]):
            validate_clip(est, X[i], f"clip {i}")
        est.n_features_in_ = X.shape[1]
        return
    for i, clip in enumerate(X):
        if not is_path(clip):
            if np.iscomplexobj(clip):
                raise ValueError("Complex data not supported: pass real-valued waveforms")
            validate_clip(est, clip, f"clip {i}")
    if hasattr(est, "n_features_in_"):
        del est.n_features_in_


def check_n_features(est, X):
    """Check that a 2-D ``X`` has as many samples per clip as ``est`` was fitted on.

    Parameters
    ----------
    est : fitted estimator
        Checked only if it has ``n_features_in_``.
    X : sequence of clips

    Raises
    ------
    ValueError
        When the widths differ.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from embedclf._utils.validation import check_n_features
    >>> est = BaseEstimator()
    >>> est.n_features_in_ = 400
    >>> check_n_features(est, np.zeros((2, 300)))
    Traceback (most recent call last):
    ...
    ValueError: X has 300 features, but BaseEstimator is expecting 400 features as input ...
    """
    X = check_X(X)
    n = getattr(est, "n_features_in_", None)
    if n is not None and isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype != object:
        if X.shape[1] != n:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(est).__name__} is expecting {n} "
                "features as input (samples per clip, as seen in fit)."
            )
