"""Audio in: load, mix to mono, resample, and turn any supported ``X`` into clips.

Everything downstream (``LogMel``, embeddings, models) receives clips through
:func:`iter_clips`, so the rules for what ``X`` may be live in one place:

* a file path (``str`` or :class:`os.PathLike`), decoded by soundfile and
  resampled to ``sr``;
* a float waveform shaped as soundfile returns it: ``(n_samples,)`` mono or
  ``(n_samples, n_channels)``, taken to be at rate ``sr`` already;
* a 2-D array whose *rows* are equal-length mono waveforms (the form
  scikit-learn's common checks use).

Decoding is total: whatever a file holds, reading it gives float32 samples or
an :class:`AudioError` naming it. Files are read in blocks; a header's sample
rate, channel count and length are checked against :data:`MIN_SAMPLE_RATE`,
:data:`MAX_SAMPLE_RATE`, :data:`MAX_FILE_CHANNELS` and
:data:`MAX_DURATION_SECONDS` before anything is allocated (assign another value
to a constant to change a limit). NaN or inf samples are an error; finite
samples, however extreme, stay finite through mixing and resampling (values
beyond the float32 range are clipped to it).

>>> from embedclf import audio
>>> audio.MIN_SAMPLE_RATE, audio.MAX_SAMPLE_RATE, audio.MAX_FILE_CHANNELS
(1000, 768000, 64)
>>> audio.MAX_DURATION_SECONDS / 3600, audio.MAX_BLOCK_SAMPLES
(48.0, 4194304)
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from ._utils.validation import MAX_CHANNELS, check_n_features, check_X, is_path, record_n_features
from .distributed import active_client, distribute, map_clips
from .exceptions import AudioError, SkippedClipsWarning

__all__ = [
    "AudioError",
    "SkippedClipsWarning",
    "summarize_skipped",
    "AudioLoader",
    "load_audio",
    "resample",
    "to_mono",
    "iter_clips",
    "load_clips",
    "LoadResult",
    "content_key",
    "skipped_columns",
    "skipped_frame",
    "skipped_from_columns",
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
    "MAX_FILE_CHANNELS",
    "MAX_DURATION_SECONDS",
    "MAX_BLOCK_SAMPLES",
]

# What a file's header may declare. Checked before anything is allocated, so a
# corrupt or hostile header is an AudioError, never a MemoryError or a huge read.
#: Lowest sample rate (Hz) a file may declare.
MIN_SAMPLE_RATE = 1000
#: Highest sample rate (Hz) a file may declare.
MAX_SAMPLE_RATE = 768_000
#: Most channels a file may declare (in-memory 2-D waveforms allow 16).
MAX_FILE_CHANNELS = 64
#: Longest duration (seconds) a file may declare: 48 hours.
MAX_DURATION_SECONDS = 48 * 3600.0
#: Most samples (frames x channels) decoded at once, whatever a header declares.
MAX_BLOCK_SAMPLES = 1 << 22

_F32_MAX = np.float32(np.finfo(np.float32).max)
# soxr's HQ resampler computes in float32: samples near +-3e38 overflow inside its
# filter. Resampling at a 2**-64 scale cannot overflow, and scaling by a power of
# two is exact, so ordinary audio resamples bit for bit as it would unscaled.
_DOWN = np.float32(2.0**-64)
_UP = np.float32(2.0**64)
_SCALED_MAX = np.float32(_F32_MAX * _DOWN)


def to_mono(y, source="clip"):
    """Mix a waveform to mono float32.

    Parameters
    ----------
    y : ndarray of shape (n_samples,) or (n_samples, n_channels)
        Waveform as soundfile returns it.
    source : str, default="clip"
        Name used in error messages.

    Returns
    -------
    ndarray of shape (n_samples,), float32

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.audio import to_mono
    >>> to_mono(np.array([[1.0, 0.0], [0.0, 1.0]])).tolist()
    [0.5, 0.5]
    """
    y = np.asarray(y)
    if y.dtype == object:  # e.g. a DataFrame's values: numbers stored as objects
        try:
            y = y.astype(np.float64)
        except TypeError as exc:  # e.g. "float() argument must be a string or a real number"
            raise TypeError(f"{source}: {exc}") from None
        except ValueError:
            raise AudioError(
                source, "unsupported sample format object; pass float samples"
            ) from None
    if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
        raise AudioError(source, f"unsupported sample format {y.dtype}; pass float samples")
    if np.issubdtype(y.dtype, np.integer):
        raise AudioError(
            source,
            f"integer samples ({y.dtype}) are ambiguous; convert to float in [-1, 1] "
            "(e.g. y / 32768 for int16) or pass the file path",
        )
    if y.ndim == 2:
        if y.shape[1] > MAX_CHANNELS:
            raise AudioError(
                source,
                f"2-D waveform of shape {y.shape} has {y.shape[1]} channels; waveforms must be "
                "(n_samples, n_channels) as soundfile returns them (transpose channels-first data)",
            )
        y = _mix(y)
    elif y.ndim != 1:
        raise AudioError(source, f"waveform must be 1-D or 2-D, got shape {y.shape}")
    if y.size == 0:
        raise AudioError(source, "zero-length audio (no samples)")
    _check_finite(y, source, "waveform")
    return np.ascontiguousarray(_as_float32(y))


def _check_finite(y, source, what):
    """AudioError naming ``source`` unless every sample of ``y`` is finite."""
    # The sum of squares is finite only if every sample is: one BLAS pass, 2-3x
    # cheaper than a float64 sum or isfinite (this check runs before any threads
    # start). Loud audio can overflow it, hence the exact check before blaming a sample.
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        total = np.dot(y, y) if y.dtype.kind == "f" and y.ndim == 1 else np.sum(y, dtype=float)
    if not np.isfinite(total) and not np.isfinite(y).all():
        bad = "NaN" if np.isnan(y).any() else "inf"
        raise AudioError(source, f"{what} contains {bad} samples")


def _mix(y):
    """Mean over channels of ``(n, channels)``, in float64 so that +-3e38 cannot overflow."""
    if y.shape[1] == 1:
        return y[:, 0]
    mixed = np.mean(y, axis=1, dtype=np.float64)  # a mean of finite values is finite
    return mixed if y.dtype == np.float64 else mixed.astype(np.float32)


def _as_float32(y):
    """``y`` as float32; finite values beyond the float32 range are clipped to it."""
    y = np.asarray(y)
    if y.dtype == np.float32:
        return y
    with np.errstate(over="ignore", invalid="ignore"):
        out = y.astype(np.float32)
        overflowed = np.finfo(y.dtype).max > _F32_MAX and not np.isfinite(
            np.sum(out, dtype=np.float64)
        )
    if overflowed:
        out = np.clip(y, -_F32_MAX, _F32_MAX).astype(np.float32)  # NaN stays NaN
    return out


def _scaled_down(y):
    return np.multiply(y, _DOWN, dtype=np.float32)


def _scaled_up(y, source):
    """Undo :func:`_scaled_down` on a resampler's output: clipped to float32, checked."""
    y = np.clip(y, -_SCALED_MAX, _SCALED_MAX, out=y)
    y *= _UP
    _check_finite(y, source, "resampled waveform")
    return y


def resample(y, orig_sr, target_sr, source="clip"):
    """Resample a mono waveform with soxr's high-quality resampler.

    Any finite input gives finite output: the resampler runs on a copy scaled by
    2**-64 (exact for audio), and the rare output beyond the float32 range (an
    overshoot of samples near +-3.4e38) is clipped to it.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
    orig_sr, target_sr : int
        Sample rates in Hz.
    source : str, default="clip"
        Name used in error messages.

    Returns
    -------
    ndarray, float32

    Raises
    ------
    AudioError
        The result is not finite (NaN or inf in the input).

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.audio import resample
    >>> resample(np.zeros(44100, dtype=np.float32), 44100, 22050).shape
    (22050,)
    >>> loud = np.tile(np.float32([3e38, -3e38]), 500)
    >>> bool(np.isfinite(resample(loud, 16000, 8000)).all())
    True
    """
    y = _as_float32(y)
    if int(orig_sr) == int(target_sr):
        return y
    import soxr

    out = soxr.resample(_scaled_down(y), int(orig_sr), int(target_sr), quality="HQ")
    return _scaled_up(out, source)


def _check_file(path):
    """The checks that need no decoder: exists, is a file, is not empty."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError(path, "file not found")
    if os.path.isdir(path):
        raise AudioError(path, "is a directory, not an audio file")
    if os.path.getsize(path) == 0:
        raise AudioError(path, "empty file (0 bytes)")
    return path


def _check_declared(path, frames, rate, channels):
    """A header's claims against the documented limits, before anything is allocated."""
    where = "embedclf.audio"
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            path,
            f"header declares a sample rate of {rate} Hz, outside the "
            f"supported {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz "
            f"({where}.MIN_SAMPLE_RATE/MAX_SAMPLE_RATE): corrupt header?",
        )
    if not 1 <= channels <= MAX_FILE_CHANNELS:
        raise AudioError(
            path,
            f"header declares {channels} channels; the limit is "
            f"{MAX_FILE_CHANNELS} ({where}.MAX_FILE_CHANNELS): corrupt header?",
        )
    if frames == 0:
        raise AudioError(path, "zero-length audio (header is valid but holds no samples)")
    if not 0 < frames <= MAX_DURATION_SECONDS * rate:
        raise AudioError(
            path,
            f"header declares {frames} samples at {rate} Hz "
            f"({frames / rate / 3600:.1f} h); the limit is "
            f"{MAX_DURATION_SECONDS / 3600:g} h ({where}.MAX_DURATION_SECONDS):"
            " corrupt header, or split the recording",
        )


def _decoder_errors():
    import soundfile as sf

    # libsndfile's errors are RuntimeErrors; soundfile adds its own and ValueErrors.
    return (sf.SoundFileError, RuntimeError, ValueError, TypeError, OSError, EOFError)


def _why(exc):
    return getattr(exc, "error_string", None) or str(exc) or type(exc).__name__


def _open(path):
    """An open ``soundfile.SoundFile`` whose header passed the limits, or an AudioError."""
    import soundfile as sf

    path = _check_file(path)
    try:
        fh = sf.SoundFile(path)
    except _decoder_errors() as exc:
        raise AudioError(path, f"not a readable audio file ({_why(exc)})") from None
    try:
        _check_declared(path, fh.frames, fh.samplerate, fh.channels)
    except AudioError:
        fh.close()
        raise
    return fh


def _block_frames(seconds, rate, channels):
    return max(1, min(int(seconds * rate), MAX_BLOCK_SAMPLES // channels))


def _file_blocks(path, fh, frames):
    """Yield ``(n, channels)`` float32 blocks of an open file, then close it.

    Every decoder failure (a file cut mid-stream, a header that promises more
    than the file holds) and every NaN/inf sample is an AudioError naming the file.
    """
    done = 0
    with fh:
        while True:
            try:
                data = fh.read(frames, dtype="float32", always_2d=True)
            except _decoder_errors() as exc:
                raise AudioError(
                    path,
                    f"decoding failed after {done} of the {fh.frames} "
                    f"samples the header declares ({_why(exc)}): the file "
                    "is truncated or corrupt",
                ) from None
            if len(data) and not np.isfinite(np.sum(data, dtype=np.float64)):
                raise AudioError(path, "contains NaN or inf samples (corrupt float file?)")
            done += len(data)
            if len(data):
                yield data
            if len(data) < frames:
                return


def _read_whole(path, fh, mono):
    """Every sample of an open file, mono-mixed per block if asked.

    The buffer grows with what is actually decoded: trusting the declared length
    only up to a bound from the file size, a header claiming 2**36 samples costs
    no more memory than the file really holds.
    """
    shape = () if mono else (fh.channels,)
    guess = max(MAX_BLOCK_SAMPLES, 16 * os.path.getsize(path)) // fh.channels
    buf = np.empty((min(fh.frames, guess),) + shape, dtype=np.float32)
    n = 0
    for data in _file_blocks(path, fh, _block_frames(BLOCK_SECONDS, fh.samplerate, fh.channels)):
        if mono:
            data = _mix(data)
        if n + len(data) > len(buf):
            grown = np.empty((max(n + len(data), 2 * len(buf)),) + shape, dtype=np.float32)
            grown[:n] = buf[:n]
            buf = grown
        buf[n : n + len(data)] = data
        n += len(data)
    return buf if n == len(buf) else buf[:n].copy()


def load_audio(path, sr=None, mono=True):
    """Decode an audio file (wav, flac, ogg, ...) with soundfile.

    The file is read in blocks: memory follows the samples it really holds,
    whatever its header declares, and the header's rate, channel count and
    length must be within :data:`MIN_SAMPLE_RATE`..:data:`MAX_SAMPLE_RATE`,
    :data:`MAX_FILE_CHANNELS` and :data:`MAX_DURATION_SECONDS`.

    Parameters
    ----------
    path : str or path-like
    sr : int or None, default=None
        Resample to this rate; ``None`` keeps the file's rate.
    mono : bool, default=True
        Mix channels to mono. With ``False`` the result is
        ``(n_samples, n_channels)``.

    Returns
    -------
    y : ndarray, float32
    sr : int
        The rate of ``y``.

    Raises
    ------
    AudioError
        Missing file, a file that is not audio, is truncated or corrupt, an
        empty file, a header beyond the limits, or samples that are not
        finite; the message names the file.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> from embedclf.audio import load_audio
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> sf.write(path, np.zeros(8000), 8000)
    >>> y, rate = load_audio(path, sr=16000)
    >>> y.shape, rate
    ((16000,), 16000)
    """
    path = os.fspath(path)
    fh = _open(path)
    file_sr = fh.samplerate
    data = _read_whole(path, fh, mono)
    if data.shape[0] == 0:
        raise AudioError(path, "zero-length audio (header is valid but holds no samples)")
    if mono:
        y = data
        if sr is not None:
            y = resample(y, file_sr, sr, source=path)
            file_sr = int(sr)
            if y.size == 0:
                raise AudioError(
                    path,
                    f"too short: {data.shape[0]} samples at {file_sr} Hz leave "
                    f"none after resampling to {sr} Hz",
                )
        return y, int(file_sr)
    if sr is not None and int(sr) != file_sr:
        data = np.stack([resample(c, file_sr, sr, source=path) for c in data.T], axis=1)
        file_sr = int(sr)
    return data, int(file_sr)


def audio_info(path):
    """soundfile's header information, or the specific :class:`AudioError`.

    The header's rate, channel count and length are checked against
    :data:`MIN_SAMPLE_RATE`, :data:`MAX_SAMPLE_RATE`, :data:`MAX_FILE_CHANNELS`
    and :data:`MAX_DURATION_SECONDS`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    soundfile._SoundFileInfo

    Examples
    --------
    >>> from embedclf.audio import audio_info
    >>> audio_info("missing.wav")
    Traceback (most recent call last):
    ...
    embedclf.exceptions.AudioError: missing.wav: file not found
    """
    import soundfile as sf

    path = _check_file(path)
    try:
        info = sf.info(path)
    except Exception as exc:  # libsndfile's own error types vary by version
        raise AudioError(path, f"not a readable audio file ({_why(exc)})") from None
    _check_declared(path, info.frames, info.samplerate, info.channels)
    return info


#: Input seconds decoded per block when streaming a file (fewer if a block would
#: exceed :data:`MAX_BLOCK_SAMPLES`).
BLOCK_SECONDS = 30.0


def stream_audio(path, sr=None, block_seconds=None):
    """Decode a file in blocks: mono float32, resampled on the fly (bounded memory).

    Parameters
    ----------
    path : str or path-like
    sr : int, optional
        Output rate; default the file's own.
    block_seconds : float, optional
        Input seconds per block (default :data:`BLOCK_SECONDS`).

    Yields
    ------
    ndarray of shape (n,), float32

    Raises
    ------
    AudioError
        The same causes as :func:`load_audio`, naming the file, raised where
        iteration meets them: a file cut mid-stream or NaN/inf is found in
        whichever block holds it.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> from embedclf.audio import stream_audio
    >>> p = os.path.join(tempfile.mkdtemp(), "a.wav"); sf.write(p, np.zeros(16000), 16000)
    >>> sum(len(b) for b in stream_audio(p, sr=8000, block_seconds=0.3))
    8000
    """
    import soxr

    path = os.fspath(path)
    fh = _open(path)
    rate = fh.samplerate
    sr = rate if sr is None else int(sr)
    frames = _block_frames(block_seconds or BLOCK_SECONDS, rate, fh.channels)
    stream = None if rate == sr else soxr.ResampleStream(rate, sr, 1, dtype="float32", quality="HQ")
    for data in _file_blocks(path, fh, frames):
        mono = _mix(data)
        if stream is None:
            yield mono
        else:  # scaled as in resample(): +-3e38 cannot overflow, audio is unchanged
            yield _scaled_up(stream.resample_chunk(_scaled_down(mono), last=False), path)
    if stream is not None:
        yield _scaled_up(stream.resample_chunk(np.zeros(0, np.float32), last=True), path)


def iter_clips(X, sr, on_error="raise"):
    """Yield ``(index, source, waveform)`` for each clip in ``X``.

    Waveforms are mono float32 at ``sr``. Paths are decoded and resampled;
    arrays are taken to be at ``sr`` already.

    Parameters
    ----------
    X : sequence of clips
        Paths, waveforms, or a 2-D array of mono waveforms (one per row).
    sr : int
        Sample rate of the output (and of in-memory waveforms).
    on_error : {"raise", "skip"}, default="raise"
        With ``"skip"``, a bad clip yields ``(index, source, AudioError)``
        instead of a waveform; callers decide how to report it.

    Yields
    ------
    index : int
    source : str
        The path, or ``"clip <index>"``.
    waveform : ndarray of shape (n_samples,) or AudioError

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.audio import iter_clips
    >>> [(i, s, y.shape) for i, s, y in iter_clips([np.zeros(10)], sr=8000)]
    [(0, 'clip 0', (10,))]
    """

    def read(clip, source):
        return load_audio(clip, sr=sr)[0] if is_path(clip) else to_mono(clip, source)

    return _each_clip(X, on_error, read)


def _each_clip(X, on_error, read):
    """Yield ``(index, source, read(clip, source))``, or the AudioError under "skip"."""
    X = check_X(X)
    for i in range(len(X)):  # rows of a 2-D array, or items of a sequence
        clip = X[i]
        source = os.fspath(clip) if is_path(clip) else f"clip {i}"
        try:
            result = read(clip, source)
        except AudioError as err:
            if on_error == "raise":
                raise
            result = err
        yield i, source, result


@dataclass
class LoadResult:
    """Clips that loaded, their labels, and a record of what was skipped.

    Attributes
    ----------
    clips : list
        Mono float32 waveforms (with ``lazy=True``: the clips as given).
    y : ndarray or None
        Labels of the kept clips, aligned with ``clips``.
    kept : ndarray of int
        Indices into the original ``X`` of the kept clips.
    skipped : pandas.DataFrame
        Columns ``index, source, reason`` for every clip left out.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.audio import load_clips
    >>> res = load_clips([np.zeros(4), np.array([np.nan])], y=["a", "b"], sr=8000,
    ...                  on_error="skip")  # doctest: +SKIP
    >>> res.y.tolist(), res.skipped["index"].tolist()  # doctest: +SKIP
    (['a'], [1])
    """

    clips: list
    y: object
    kept: np.ndarray
    skipped: object


def skipped_frame(rows):
    """The ``skipped_`` table of an estimator: one row per clip left out.

    Parameters
    ----------
    rows : iterable of (int, str, str)
        ``(index, source, reason)`` of each skipped clip.

    Returns
    -------
    pandas.DataFrame
        Columns ``index``, ``source`` and ``reason``.

    Examples
    --------
    >>> from embedclf.audio import skipped_frame
    >>> skipped_frame([(2, "bad.wav", "file not found")]).to_dict("records")
    [{'index': 2, 'source': 'bad.wav', 'reason': 'file not found'}]
    """
    import pandas as pd

    return pd.DataFrame(rows, columns=["index", "source", "reason"])


def skipped_columns(skipped):
    """A skipped-clips table as plain lists, for state that safe model files can store.

    skops stores no pandas objects, so estimators keep their ``skipped_`` table in
    this form in ``__getstate__`` and rebuild it with :func:`skipped_from_columns`.

    Parameters
    ----------
    skipped : pandas.DataFrame
        Columns ``index, source, reason``.

    Returns
    -------
    dict of str to list

    Examples
    --------
    >>> from embedclf.audio import skipped_columns, skipped_from_columns
    >>> cols = skipped_columns(skipped_from_columns({"index": [1], "source": ["a.wav"],
    ...                                              "reason": ["file not found"]}))
    >>> cols
    {'index': [1], 'source': ['a.wav'], 'reason': ['file not found']}
    """
    return {
        "index": [int(i) for i in skipped["index"]],
        "source": [str(s) for s in skipped["source"]],
        "reason": [str(r) for r in skipped["reason"]],
    }


def skipped_from_columns(columns):
    """The inverse of :func:`skipped_columns`; a DataFrame (older pickles) passes through.

    Parameters
    ----------
    columns : dict of str to list, or pandas.DataFrame

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> from embedclf.audio import skipped_from_columns
    >>> skipped_from_columns({"index": [], "source": [], "reason": []}).columns.tolist()
    ['index', 'source', 'reason']
    """
    if isinstance(columns, dict):
        import pandas as pd

        return pd.DataFrame(columns, columns=["index", "source", "reason"])
    return columns


def warn_skipped(skipped, where):
    """Warn about skipped clips (no clip is ever dropped silently)."""
    if len(skipped):
        first = skipped.iloc[0]
        warnings.warn(
            f"{where}: skipped {len(skipped)} clip(s) that could not be read; first: "
            f"{first['source']}: {first['reason']}",
            SkippedClipsWarning,
            stacklevel=3,
        )


def summarize_skipped(skipped, *, examples=3, max_reasons=5):
    """Describe skipped clips in a few lines: one per reason, with a count and example names.

    A run that skips thousands of clips for the same reason then says so once;
    the full list stays in ``skipped`` (and wherever the caller keeps it).

    Parameters
    ----------
    skipped : pandas.DataFrame
        Columns ``source, reason`` (as in :attr:`LoadResult.skipped`).
    examples : int, default=3
        Names shown per reason (file names without their folder).
    max_reasons : int, default=5
        Reasons given a line of their own, most frequent first; the rest
        share one last line.

    Returns
    -------
    list of str
        Empty when nothing was skipped.

    Examples
    --------
    >>> import pandas as pd
    >>> from embedclf.audio import summarize_skipped
    >>> skipped = pd.DataFrame({"source": ["a/1.wav", "a/2.wav", "b/3.wav", "b/4.wav", "c.wav"],
    ...                         "reason": ["file not found"] * 4 + ["empty clip"]})
    >>> for line in summarize_skipped(skipped):
    ...     print(line)
    skipped 4 files: file not found (e.g. 1.wav, 2.wav, 3.wav)
    skipped 1 file: empty clip (c.wav)
    """
    if not len(skipped):
        return []
    groups = {}  # reason -> sources, in order of first appearance
    for source, reason in zip(skipped["source"], skipped["reason"]):
        groups.setdefault(str(reason), []).append(str(source))
    ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))  # stable: ties keep order

    def noun(sources):
        # in-memory clips are named "clip <index>"; anything else is a file
        kind = "clip" if all(s.startswith("clip ") for s in sources) else "file"
        return f"{len(sources)} {kind}{'' if len(sources) == 1 else 's'}"

    lines = []
    for reason, sources in ranked[:max_reasons]:
        names = ", ".join(os.path.basename(s) or s for s in sources[:examples])
        lines.append(
            f"skipped {noun(sources)}: {reason} "
            f"({'e.g. ' if len(sources) > examples else ''}{names})"
        )
    rest = [s for _, sources in ranked[max_reasons:] for s in sources]
    if rest:
        lines.append(f"skipped {noun(rest)} for {len(ranked) - max_reasons} other reasons")
    return lines


def content_key(clip, sr=None, source="clip"):
    """Hash of a clip's decoded samples (not its path or file bytes), with their rate.

    Files are decoded in blocks at their own rate (every block checked, as by
    :func:`stream_audio`) and the key is remembered per file state, so
    checking a file and later looking up its cached embeddings decode it once.

    Parameters
    ----------
    clip : path or waveform
    sr : int, optional
        Rate of an in-memory waveform (files use their own).
    source : str, default="clip"
        Name for error messages about an in-memory waveform.

    Returns
    -------
    str

    Raises
    ------
    AudioError
        The clip cannot be decoded or holds bad samples.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> from embedclf.audio import content_key
    >>> y = np.linspace(-0.5, 0.5, 800).astype("float32")
    >>> p = os.path.join(tempfile.mkdtemp(), "a.wav"); sf.write(p, y, 8000, subtype="FLOAT")
    >>> content_key(p) == content_key(y, 8000)
    True
    """
    from .files import memo_by_file

    def digest(blocks, rate):
        h = hashlib.blake2b(digest_size=20)
        h.update(f"rate={rate};".encode())
        for block in blocks:
            h.update(np.ascontiguousarray(block, dtype=np.float32).tobytes())
        return h.hexdigest()

    if is_path(clip):
        rate = audio_info(clip).samplerate  # the specific AudioError for a bad file
        return memo_by_file(clip, "content", lambda p: digest(stream_audio(p), rate))
    return digest([to_mono(clip, source)], sr)


def _check_clip(clip, source):
    """Decode a clip fully (streamed) to check it, keeping only its content key."""
    if is_path(clip):
        content_key(clip)  # embedding pipelines look the same key up later: one decode
    else:
        to_mono(clip, source)
    return clip


def load_clips(X, y=None, *, sr, on_error="raise", progress=False, lazy=False):
    """Load every clip of ``X`` at ``sr``, keeping labels aligned.

    This is the batch loader for labelled data: with ``on_error="skip"`` a
    bad file is left out *together with its label*, and listed in
    ``result.skipped`` (a :class:`SkippedClipsWarning` is issued too).

    Parameters
    ----------
    X : sequence of clips
    y : array-like of shape (n_clips,), optional
    sr : int
    on_error : {"raise", "skip"}, default="raise"
    progress : bool, default=False
        Show a tqdm progress bar.
    lazy : bool, default=False
        Check every clip by decoding it in blocks, but return the clips as
        given (paths stay paths): bounded memory for large datasets, at the
        cost of decoding again later.

    Returns
    -------
    LoadResult

    Notes
    -----
    With a Dask cluster active (see :mod:`embedclf.distributed`), the
    workers decode (or check) the clips in tasks of a few files and the
    result is the same as here; give them paths on storage they share.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.audio import load_clips
    >>> res = load_clips([np.zeros(4), "missing.wav"], y=["a", "b"], sr=8000,
    ...                  on_error="skip")  # doctest: +ELLIPSIS
    >>> res.y.tolist(), res.skipped["source"].tolist()
    (['a'], ['missing.wav'])
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    X = check_X(X)
    n = len(X)
    if y is not None:
        y = np.asarray(y)
        if len(y) != n:
            raise ValueError(f"X has {n} clips but y has {len(y)} labels")
    loaded = _load_on_cluster(X, sr, on_error, lazy, progress)  # None: no cluster
    if loaded is None:
        it = _each_clip(X, on_error, _check_clip) if lazy else iter_clips(X, sr, on_error)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, total=n, desc="loading audio", unit="clip")
        loaded = _kept_or_skipped(it)
    clips, skipped = loaded
    gone = {i for i, _, _ in skipped}
    kept = np.asarray([i for i in range(n) if i not in gone], dtype=int)
    skipped = skipped_frame(skipped)
    warn_skipped(skipped, "load_clips")
    return LoadResult(clips, None if y is None else y[kept], kept, skipped)


def _kept_or_skipped(items):
    """``(clips, skipped)`` from ``(index, source, clip or AudioError)`` items, in order."""
    clips, skipped = [], []
    for i, source, clip in items:
        if isinstance(clip, AudioError):
            skipped.append((i, source, clip.reason))
        else:
            clips.append(clip)
    return clips, skipped


def _load_on_cluster(X, sr, on_error, lazy, progress):
    """``(clips, skipped)`` of :func:`load_clips` computed on the active cluster, or None."""
    if len(X) < 2:
        return None
    client = active_client()  # never imports Dask itself
    if client is None:
        return None
    loader = (_ClipChecker if lazy else AudioLoader)(sr=sr, on_error=on_error).fit(X[:1])
    return map_clips(loader, "transform", X, client=client, progress=progress, desc="loading audio")


class ClipTransformer(TransformerMixin, BaseEstimator):
    """Shared machinery of every transformer that takes clips.

    Subclasses declare ``sr`` and ``on_error`` parameters and implement
    ``_transform_waves(waves) -> list``; this base validates parameters,
    records ``n_features_in_`` for 2-D waveform arrays, loads clips in
    batches (bounded memory), applies the ``on_error`` policy and records
    ``skipped_``.
    """

    #: ``fit`` learns nothing from the clips (it checks parameters and loads
    #: models), so a clip's output never depends on which clips were fitted:
    #: :func:`embedclf.evaluation.cross_validate_folds` transforms each clip
    #: once and shares the outputs between folds. A subclass whose ``fit``
    #: learns from its clips must set it to True.
    learns_from_data = False

    #: clips processed per batch in ``transform`` (bounds memory for long lists)
    _batch_clips = 256

    def fit(self, X, y=None):
        """Validate parameters and input; nothing is learned from the data.

        Parameters
        ----------
        X : sequence of clips
            Paths, waveforms, or a 2-D array of mono waveforms (one per row).
        y : ignored

        Returns
        -------
        self : object
        """
        self._validate_params()
        record_n_features(self, X)
        self._fit_clips(X, y)
        return self

    def _fit_clips(self, X, y):
        self.n_clips_fit_ = len(check_X(X))

    def transform(self, X):
        """Transform each clip; the result has one entry per clip.

        Parameters
        ----------
        X : sequence of clips

        Returns
        -------
        list
            One output per kept clip (see ``on_error``).
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        check_n_features(self, X)
        X = check_X(X)
        remote = distribute(self, "transform", X)  # None: no Dask cluster is active
        if remote is not None:
            out, skipped = remote
        else:
            out, skipped = self._transform_here(X)
        if self.on_error == "skip":
            self.skipped_ = skipped_frame(skipped)
            warn_skipped(self.skipped_, type(self).__name__)
        return out

    def _transform_here(self, X):
        out, skipped, batch = [], [], []
        for i, source, wave in iter_clips(X, self.sr, self.on_error):
            if isinstance(wave, AudioError):
                skipped.append((i, source, wave.reason))
                continue
            batch.append(wave)
            if len(batch) >= self._batch_clips:
                out.extend(self._transform_waves(batch))
                batch = []
        if batch:
            out.extend(self._transform_waves(batch))
        return out, skipped

    def _transform_waves(self, waves):
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.requires_fit = True
        return tags


class AudioLoader(ClipTransformer):
    """Turn file paths (or waveforms) into mono float32 waveforms at ``sr``.

    Parameters
    ----------
    sr : int, default=22050
        Target sample rate; files are resampled with soxr (high quality).
        In-memory waveforms are taken to be at this rate already.
    on_error : {"raise", "skip"}, default="raise"
        ``"raise"`` stops at the first bad clip with an :class:`AudioError`
        naming it. ``"skip"`` leaves bad clips out of the output, records
        them in ``skipped_`` (a DataFrame with ``index, source, reason``) and
        warns. Skipping changes the number of rows, so for labelled data
        filter first with :func:`load_clips`, which keeps labels aligned.

    Attributes
    ----------
    n_clips_fit_ : int
        Number of clips seen in ``fit``.
    n_features_in_ : int
        Only set when fitted on a 2-D array of waveforms (samples per clip).
    skipped_ : pandas.DataFrame
        Set by ``transform`` when ``on_error="skip"``.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> from embedclf import AudioLoader
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros((4410, 2)), 44100)   # stereo, 0.1 s
    >>> [w.shape for w in AudioLoader(sr=22050).fit_transform([path])]
    [(2205,)]
    """

    _parameter_constraints = {
        "sr": [Interval(Integral, 1, None, closed="left")],
        "on_error": [StrOptions({"raise", "skip"})],
    }

    def __init__(self, *, sr=22050, on_error="raise"):
        self.sr = sr
        self.on_error = on_error

    def _transform_waves(self, waves):
        return waves


class _ClipChecker(AudioLoader):
    """:func:`load_clips` with ``lazy=True`` as a transformer: checks clips, returns them as given.

    What the workers of a Dask cluster run for a lazy load: each clip is
    decoded in blocks (a path's content key is computed, as locally), and
    the clips that pass come back unchanged.
    """

    def _transform_here(self, X):
        return _kept_or_skipped(_each_clip(X, self.on_error, _check_clip))
