"""Log-mel spectrograms and MFCCs, librosa-compatible and batched: the estimators.

:class:`LogMel` and :class:`MFCC` (and their function forms :func:`log_mel`,
:func:`mfcc`) are scikit-learn transformers over clips. The arithmetic lives
in :mod:`embedclf.features.mel`, whose names are re-exported here; parameters
mean exactly what they mean in ``librosa.feature.melspectrogram`` +
``librosa.power_to_db`` (and ``librosa.feature.mfcc``), and the test suite
checks the numbers against librosa.
"""

from __future__ import annotations

import os
from functools import partial
from numbers import Integral, Real

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sp_signal
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._utils.parallel import run_in_parts, single_threaded_blas, thread_count
from ..audio import ClipTransformer, to_mono
from .mel import (
    THREADED_CHUNK_FRAMES,
    PaddedFrames,
    headroom_shifts,
    hz_to_mel,
    mel_filterbank,
    mel_power,
    mel_to_hz,
    power_to_db,
    stft_window,
    top_db_floor,
    unscaled,
)

__all__ = [
    "LogMel",
    "MFCC",
    "log_mel",
    "mfcc",
    "mel_filterbank",
    "hz_to_mel",
    "mel_to_hz",
    "power_to_db",
]


def _normalize_windows(S, frames_per_window, floor):
    """Standardise each block of ``frames_per_window`` frames on its own.

    The floor on the standard deviation keeps near-silent windows near zero
    instead of amplifying their noise to unit variance.
    """
    out = np.empty_like(S)
    for start in range(0, S.shape[0], frames_per_window):
        block = S[start : start + frames_per_window]
        with np.errstate(over="ignore", invalid="ignore"):
            mu = block.mean()
            sd = max(float(block.std()), floor)
        if not (np.isfinite(mu) and np.isfinite(sd)):  # float32 sums overflowed: huge powers
            mu, sd = block.mean(dtype=np.float64), max(float(block.std(dtype=np.float64)), floor)
        out[start : start + frames_per_window] = (block - mu) / sd
    return out


class LogMel(ClipTransformer):
    """Log-mel spectrogram of each clip, ``(n_frames, n_mels)`` float32.

    Parameters mean what they mean in ``librosa.feature.melspectrogram`` and
    ``librosa.power_to_db``; outputs match librosa to 1e-4 relative error.

    Parameters
    ----------
    sr : int, default=22050
        Sample rate: files are resampled to it, waveforms are taken to be at it.
    n_fft : int, default=1024
        FFT size in samples.
    hop_length : int, default=512
        Samples between successive STFT frames.
    win_length : int or None, default=None
        STFT window length in samples; ``None`` means ``n_fft``.
    window : str, default="hann"
        Any window name scipy.signal.get_window accepts.
    center : bool, default=True
        Pad ``n_fft // 2`` samples at both ends so frame ``t`` is centred at
        ``t * hop_length``.
    pad_mode : {"constant", "reflect", "edge"}, default="constant"
    n_mels : int, default=64
    fmin : float, default=0.0
    fmax : float or None, default=None
        ``None`` means ``sr / 2``.
    power : float, default=2.0
        2 for power, 1 for magnitude.
    htk : bool, default=False
        HTK mel scale instead of Slaney's.
    norm : "slaney", float or None, default="slaney"
        Filterbank normalisation.
    ref : float or "max", default=1.0
        Reference power for 0 dB; ``"max"`` uses each clip's maximum.
    amin : float, default=1e-10
        Floor on power before the logarithm.
    top_db : float or None, default=80.0
        Clip each spectrogram to this many dB below its maximum.
    log : bool, default=True
        ``False`` returns the mel power spectrogram itself (power beyond the
        float32 range, from samples near +-3e38, is clipped to it; in dB every
        finite clip gives finite values).
    normalize : {None, "clip", "window"}, default=None
        Standardise the log-mel (subtract mean, divide by the standard
        deviation) over each clip, or over each block of
        ``normalize_window`` seconds separately (the streaming trick: a
        device only ever sees one window). The standard deviation is
        floored at ``normalize_floor`` dB so silence is not blown up.
    normalize_window : float, default=1.0
        Block length in seconds for ``normalize="window"``.
    normalize_floor : float, default=1.0
        Floor on the standard deviation (in dB) when normalising.
    n_jobs : int or None, default=None
        Threads for a batch of clips (``None`` means 1, ``-1`` every CPU this
        process may use: in a Dask or joblib worker, that worker's share, see
        :func:`embedclf.threads.model_threads`). The work releases the GIL,
        so threads scale; results do not change.
    on_error : {"raise", "skip"}, default="raise"
        What to do with unreadable clips (see :class:`AudioLoader`).

    Attributes
    ----------
    mel_basis_ : ndarray of shape (n_mels, 1 + n_fft // 2)
    window_ : ndarray of shape (n_fft,)
    n_clips_fit_ : int
    n_features_in_ : int
        Only when fitted on a 2-D array of waveforms.

    See Also
    --------
    log_mel : the same computation as a function.
    WindowAggregator : pools frames into one vector per clip.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf import LogMel
    >>> rng = np.random.default_rng(0)
    >>> clips = [rng.standard_normal(22050).astype("float32") * 0.1]
    >>> S = LogMel(sr=22050, n_mels=40).fit_transform(clips)
    >>> S[0].shape, S[0].dtype
    ((44, 40), dtype('float32'))
    """

    _parameter_constraints = {
        "sr": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 1, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "win_length": [Interval(Integral, 1, None, closed="left"), None],
        "window": [str, callable, np.ndarray],
        "center": ["boolean"],
        "pad_mode": [StrOptions({"constant", "reflect", "edge"})],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmax": [Interval(Real, 0, None, closed="neither"), None],
        "power": [Interval(Real, 0, None, closed="neither")],
        "htk": ["boolean"],
        "norm": [StrOptions({"slaney"}), Interval(Real, 0, None, closed="neither"), None],
        "ref": [Interval(Real, 0, None, closed="neither"), StrOptions({"max"}), callable],
        "amin": [Interval(Real, 0, None, closed="neither")],
        "top_db": [Interval(Real, 0, None, closed="left"), None],
        "log": ["boolean"],
        "normalize": [StrOptions({"clip", "window"}), None],
        "normalize_window": [Interval(Real, 0, None, closed="neither")],
        "normalize_floor": [Interval(Real, 0, None, closed="neither")],
        "n_jobs": [Integral, None],
        "on_error": [StrOptions({"raise", "skip"})],
    }

    def __init__(
        self,
        *,
        sr=22050,
        n_fft=1024,
        hop_length=512,
        win_length=None,
        window="hann",
        center=True,
        pad_mode="constant",
        n_mels=64,
        fmin=0.0,
        fmax=None,
        power=2.0,
        htk=False,
        norm="slaney",
        ref=1.0,
        amin=1e-10,
        top_db=80.0,
        log=True,
        normalize=None,
        normalize_window=1.0,
        normalize_floor=1.0,
        n_jobs=None,
        on_error="raise",
    ):
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.window = window
        self.center = center
        self.pad_mode = pad_mode
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.power = power
        self.htk = htk
        self.norm = norm
        self.ref = ref
        self.amin = amin
        self.top_db = top_db
        self.log = log
        self.normalize = normalize
        self.normalize_window = normalize_window
        self.normalize_floor = normalize_floor
        self.n_jobs = n_jobs
        self.on_error = on_error

    def _fit_clips(self, X, y):
        super()._fit_clips(X, y)
        win_length = self.n_fft if self.win_length is None else self.win_length
        if win_length > self.n_fft:
            raise ValueError(f"win_length={win_length} must be <= n_fft={self.n_fft}")
        fmax = self.sr / 2.0 if self.fmax is None else self.fmax
        if fmax > self.sr / 2.0 or self.fmin >= fmax:
            raise ValueError(
                f"need 0 <= fmin < fmax <= sr/2; got fmin={self.fmin}, fmax={fmax}, sr={self.sr}"
            )
        self.window_ = stft_window(self.window, win_length, self.n_fft)
        self.mel_basis_ = mel_filterbank(
            self.sr, self.n_fft, self.n_mels, self.fmin, fmax, self.htk, self.norm
        ).astype(np.float32)

    @property
    def frame_rate(self):
        """Frames per second of the output (``sr / hop_length``)."""
        return self.sr / self.hop_length

    def frame_times(self, n_frames):
        """Time in seconds of the centre of each output frame.

        Parameters
        ----------
        n_frames : int

        Returns
        -------
        ndarray of shape (n_frames,)

        Examples
        --------
        >>> from embedclf import LogMel
        >>> LogMel(sr=8000, hop_length=80).frame_times(3).tolist()
        [0.0, 0.01, 0.02]
        """
        offset = 0 if self.center else self.n_fft // 2
        return (np.arange(n_frames) * self.hop_length + offset) / float(self.sr)

    def _transform_waves(self, waves):
        n_threads = min(thread_count(self.n_jobs), len(waves))
        # The mel projections are small matrix products: BLAS threads would
        # spin-wait more than they compute, so each worker runs BLAS on one thread.
        with single_threaded_blas():
            if n_threads <= 1:
                return self._featurize(waves)
            return run_in_parts(
                partial(self._featurize, chunk_frames=THREADED_CHUNK_FRAMES), waves, n_threads
            )

    def _featurize(self, waves, chunk_frames=None):
        # Samples near +-3e38 would overflow |STFT|**power in float32: such a clip is
        # analysed scaled by an exact power of two, the scale put back in float64.
        shifts = headroom_shifts(waves, self.window_, self.mel_basis_, float(self.power))
        if any(shifts):
            waves = [np.ldexp(w, -k) if k else w for w, k in zip(waves, shifts)]
        joined, counts = mel_power(
            waves,
            self.n_fft,
            self.hop_length,
            self.window_,
            self.center,
            self.pad_mode,
            float(self.power),
            self.mel_basis_,
            chunk_frames=chunk_frames,
            joined=True,
        )
        # A fixed reference makes decibels elementwise: one conversion for the batch
        # (fewer numpy calls, fewer GIL hand-overs between threads), then each
        # clip's own top_db floor. Bits equal the per-clip conversion's (tested).
        fixed_ref = not isinstance(self.ref, str) and not callable(self.ref)
        batch_db = self.log and fixed_ref and not any(shifts)
        if batch_db:
            joined = power_to_db(joined, self.ref, self.amin, None)
        mels = np.split(joined, np.cumsum(counts)[:-1])
        out = []
        for M, k in zip(mels, shifts):
            if k:
                M = unscaled(M, k * float(self.power), self.log, self.ref, self.amin, self.top_db)
            elif batch_db:
                M = top_db_floor(M, self.top_db)
            elif self.log:
                M = power_to_db(M, self.ref, self.amin, self.top_db)
            if self.normalize == "clip":
                M = _normalize_windows(M, max(M.shape[0], 1), self.normalize_floor)
            elif self.normalize == "window":
                fpw = max(1, int(round(self.normalize_window * self.frame_rate)))
                M = _normalize_windows(M, fpw, self.normalize_floor)
            out.append(np.ascontiguousarray(M, dtype=np.float32))
        return self._finish(out)

    def _finish(self, out):
        return out

    @property
    def supports_streaming(self):
        """Whether :meth:`stream_frames` can analyse a clip block by block.

        True unless ``ref`` is a callable or ``normalize="clip"`` (both need
        every frame of the clip at once); subclasses that post-process whole
        clips (:class:`MFCC`) say False.

        Examples
        --------
        >>> from embedclf import LogMel
        >>> LogMel().supports_streaming, LogMel(normalize="clip").supports_streaming
        (True, False)
        """
        return (
            type(self)._finish is LogMel._finish
            and not callable(self.ref)
            and self.normalize != "clip"
        )

    def stream_file(self, path, block_seconds=None):
        """Frames of one audio file, decoded and analysed block by block.

        Memory stays bounded whatever the file's length: see
        :meth:`stream_frames`. The file is decoded twice (see there).

        Parameters
        ----------
        path : str or path-like
        block_seconds : float, optional
            Seconds decoded per block (default
            :data:`embedclf.audio.BLOCK_SECONDS`).

        Yields
        ------
        ndarray of shape (n, n_mels), float32

        Raises
        ------
        AudioError
            Where iteration meets an unreadable part of the file.

        Examples
        --------
        >>> import numpy as np, soundfile as sf, tempfile, os
        >>> from embedclf import LogMel
        >>> p = os.path.join(tempfile.mkdtemp(), "a.wav")
        >>> sf.write(p, np.random.default_rng(0).standard_normal(16000) * 0.1, 16000)
        >>> mel = LogMel(sr=16000).fit([p])
        >>> S = np.concatenate(list(mel.stream_file(p, block_seconds=0.3)))
        >>> np.array_equal(S, mel.transform([p])[0])
        True
        """
        from ..audio import stream_audio

        path = os.fspath(path)
        return self.stream_frames(lambda: stream_audio(path, self.sr, block_seconds))

    def stream_frames(self, blocks):
        """Frames of one clip given as blocks of samples, in blocks of frames.

        Concatenated, the frames equal ``transform([clip])[0]`` for the
        concatenated samples, bit for bit: frames are projected in the same
        blocks, counted from the clip's first frame, as the whole-clip
        analysis projects them, and every later step is elementwise or uses
        the same blocks. Memory holds about one block of samples and one
        block of frames, whatever the clip's length.

        The blocks are read twice: a first pass finds the clip's peak sample
        (and, for ``top_db`` or ``ref="max"``, its largest power), which the
        frames depend on. A clip whose peak needs the overflow guard (samples
        beyond about 1e15, see :class:`LogMel`) is analysed whole instead.

        Parameters
        ----------
        blocks : callable or sequence
            A function returning a fresh iterable of 1-D float32 blocks at
            ``sr`` (called twice), or a sequence of blocks.

        Yields
        ------
        ndarray of shape (n, n_mels), float32

        Raises
        ------
        ValueError
            ``supports_streaming`` is False for these parameters.

        Examples
        --------
        >>> import numpy as np
        >>> from embedclf import LogMel
        >>> y = np.random.default_rng(0).standard_normal(8000).astype("float32")
        >>> mel = LogMel(sr=8000, n_mels=20).fit([y])
        >>> parts = list(mel.stream_frames([y[:3001], y[3001:]]))
        >>> np.array_equal(np.concatenate(parts), mel.transform([y])[0])
        True
        """
        check_is_fitted(self)
        if not self.supports_streaming:
            raise ValueError(
                f"{type(self).__name__} with ref={self.ref!r}, "
                f"normalize={self.normalize!r} needs whole clips: use transform"
            )
        source = blocks if callable(blocks) else (lambda: iter(blocks))
        return self._stream(source)

    def _stream(self, source):
        power = float(self.power)
        clip_wide = self.log and (
            self.top_db is not None or (isinstance(self.ref, str) and self.ref == "max")
        )
        # pass 1: the peak sample, and the largest power and dB value if needed
        peak, smax, lmax = 0.0, -np.inf, -np.inf
        for M, y_peak in self._power_blocks(source(), clip_wide, first_pass=True):
            peak = max(peak, y_peak)
            if clip_wide and M is not None and M.size:
                smax = max(smax, float(M.max()))
                lmax = max(lmax, float(self._db(M, np.float32(0.0)).max()))
        probe = np.array([peak, -peak], dtype=np.float32)
        shift = headroom_shifts([probe], self.window_, self.mel_basis_, power)[0]
        if shift:  # rare: samples near the float32 limit; the whole clip's own path
            y = np.concatenate([np.asarray(b, dtype=np.float32) for b in source()])
            with single_threaded_blas():
                yield from self._featurize([y])
            return
        ref_db = None
        if self.log:
            ref = smax if isinstance(self.ref, str) else self.ref
            ref_db = np.float32(10.0 * np.log10(max(self.amin, abs(float(ref)))))
        floor = None
        if self.log and self.top_db is not None:
            # power_to_db: max(L, L.max() - top_db), in float32; subtracting one
            # constant keeps the order, so L.max() is the largest raw dB less ref_db
            floor = np.float32(np.float32(lmax) - ref_db) - np.float32(self.top_db)
        fpw = None
        if self.normalize == "window":
            fpw = max(1, int(round(self.normalize_window * self.frame_rate)))
        held = []  # frames waiting for a full normalisation block
        for M, _ in self._power_blocks(source(), True):
            if M is None:
                continue
            if self.log:
                M = self._db(M, ref_db)
                if floor is not None:
                    np.maximum(M, floor, out=M)
            if fpw is None:
                yield np.ascontiguousarray(M, dtype=np.float32)
                continue
            held.append(M)
            n_held = sum(len(h) for h in held)
            if n_held >= fpw:
                H = np.concatenate(held)
                cut = n_held - n_held % fpw
                yield _normalize_windows(H[:cut], fpw, self.normalize_floor)
                held = [H[cut:]]
        if fpw is not None and sum(len(h) for h in held):
            H = np.concatenate(held)
            yield _normalize_windows(H, fpw, self.normalize_floor)

    def _db(self, M, ref_db):
        """:func:`power_to_db` without ``top_db``, elementwise as it computes it."""
        L = np.maximum(M, np.float32(self.amin))
        np.log10(L, out=L)
        L *= np.float32(10.0)
        L -= ref_db
        return L

    def _power_blocks(self, blocks, compute, first_pass=False):
        """Mel power of each batch of segments (None without ``compute``), with the
        peak of the samples pushed. A first pass may overflow (the clip then turns
        out to need the overflow guard and is analysed again): no warnings."""
        if first_pass:
            with np.errstate(over="ignore", invalid="ignore"):
                yield from self._power_blocks(blocks, compute)
            return
        framer = PaddedFrames(self.n_fft, self.hop_length, self.center, self.pad_mode)
        for block in blocks:
            block = np.asarray(block, dtype=np.float32)
            peak = max(float(block.max()), -float(block.min())) if block.size else 0.0
            segments = framer.push(block)
            yield (self._mel(segments) if compute else None), peak
        segments = framer.finish()
        if not compute:
            return
        if segments is None:  # a short clip: analysed whole, exactly as transform does
            wave = np.concatenate(framer.head) if framer.head else np.zeros(0, np.float32)
            yield self._mel([wave], center=self.center), 0.0
        else:
            yield self._mel(segments), 0.0

    def _mel(self, waves, center=False):
        if not waves:
            return None
        with single_threaded_blas():
            parts = mel_power(
                waves,
                self.n_fft,
                self.hop_length,
                self.window_,
                center,
                self.pad_mode,
                float(self.power),
                self.mel_basis_,
            )
        return np.concatenate(parts)


def _dct_matrix(n_mfcc, n_mels):
    """Orthonormal DCT-II basis, shape (n_mels, n_mfcc)."""
    return sp_fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc].T.astype(np.float32)


def _deltas(C, order, width):
    """Savitzky-Golay derivative along time (as ``librosa.feature.delta``)."""
    mode = "interp" if C.shape[0] >= width else "nearest"
    return sp_signal.savgol_filter(C, width, polyorder=order, deriv=order, axis=0, mode=mode)


class MFCC(LogMel):
    """Mel-frequency cepstral coefficients per frame, ``(n_frames, n_outputs)``.

    The orthonormal DCT-II of :class:`LogMel` output, equal to
    ``librosa.feature.mfcc`` with the same parameters, optionally with delta
    and delta-delta features appended (``librosa.feature.delta``).

    Parameters
    ----------
    n_mfcc : int, default=20
        Coefficients kept (must be <= ``n_mels``).
    lifter : float, default=0
        Cepstral liftering coefficient (0 disables).
    deltas : {0, 1, 2}, default=0
        Append first (1) or first and second (2) order deltas.
    delta_width : int, default=9
        Odd window length of the delta filter. Clips shorter than it use
        edge-replicated padding instead of polynomial interpolation.
    sr, n_fft, hop_length, win_length, window, center, pad_mode, n_mels, \
fmin, fmax, power, htk, norm, ref, amin, top_db, n_jobs, on_error
        As for :class:`LogMel` (``log`` and ``normalize`` do not apply).

    Attributes
    ----------
    dct_basis_ : ndarray of shape (n_mels, n_mfcc)
    mel_basis_, window_, n_clips_fit_ : see :class:`LogMel`

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf import MFCC
    >>> y = np.random.default_rng(0).standard_normal(16000).astype("float32")
    >>> MFCC(sr=16000, n_mfcc=13, deltas=2).fit_transform([y])[0].shape
    (32, 39)
    """

    _parameter_constraints = {
        **{
            k: v
            for k, v in LogMel._parameter_constraints.items()
            if k not in ("log", "normalize", "normalize_window", "normalize_floor")
        },
        "n_mfcc": [Interval(Integral, 1, None, closed="left")],
        "lifter": [Interval(Real, 0, None, closed="left")],
        "deltas": [StrOptions({"0", "1", "2"}), Interval(Integral, 0, 2, closed="both")],
        "delta_width": [Interval(Integral, 3, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_mfcc=20,
        lifter=0.0,
        deltas=0,
        delta_width=9,
        sr=22050,
        n_fft=1024,
        hop_length=512,
        win_length=None,
        window="hann",
        center=True,
        pad_mode="constant",
        n_mels=64,
        fmin=0.0,
        fmax=None,
        power=2.0,
        htk=False,
        norm="slaney",
        ref=1.0,
        amin=1e-10,
        top_db=80.0,
        n_jobs=None,
        on_error="raise",
    ):
        super().__init__(
            sr=sr,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=center,
            pad_mode=pad_mode,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            power=power,
            htk=htk,
            norm=norm,
            ref=ref,
            amin=amin,
            top_db=top_db,
            n_jobs=n_jobs,
            on_error=on_error,
        )
        del self.log, self.normalize, self.normalize_window, self.normalize_floor
        self.n_mfcc = n_mfcc
        self.lifter = lifter
        self.deltas = deltas
        self.delta_width = delta_width

    # LogMel's fixed choices for the attributes MFCC does not expose.
    log = True
    normalize = None
    normalize_window = 1.0
    normalize_floor = 1.0

    def _fit_clips(self, X, y):
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc={self.n_mfcc} must be <= n_mels={self.n_mels}")
        if self.delta_width % 2 == 0:
            raise ValueError(f"delta_width must be odd, got {self.delta_width}")
        super()._fit_clips(X, y)
        self.dct_basis_ = _dct_matrix(self.n_mfcc, self.n_mels)

    def _finish(self, out):
        lift = None
        if self.lifter > 0:
            n = np.arange(1, 1 + self.n_mfcc, dtype=np.float32)
            lift = 1 + (self.lifter / 2) * np.sin(np.pi * n / self.lifter)
        result = []
        for S in out:
            C = S @ self.dct_basis_
            if lift is not None:
                C *= lift
            parts = [C] + [_deltas(C, k, self.delta_width) for k in range(1, int(self.deltas) + 1)]
            result.append(np.ascontiguousarray(np.hstack(parts), dtype=np.float32))
        return result


def log_mel(y, sr, **params):
    """Log-mel spectrogram of one waveform; ``LogMel`` as a function.

    Parameters
    ----------
    y : ndarray of shape (n_samples,) or (n_samples, n_channels)
        Waveform at rate ``sr`` (stereo is mixed to mono).
    sr : int
    **params
        Any :class:`LogMel` parameter.

    Returns
    -------
    ndarray of shape (n_frames, n_mels), float32

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.logmel import log_mel
    >>> log_mel(np.zeros(8000, dtype="float32"), sr=8000, n_mels=32).shape
    (16, 32)
    """
    clip = [to_mono(y)]
    return LogMel(sr=sr, **params).fit(clip).transform(clip)[0]


def mfcc(y, sr, **params):
    """MFCCs of one waveform; ``MFCC`` as a function.

    Parameters
    ----------
    y : ndarray
    sr : int
    **params
        Any :class:`MFCC` parameter.

    Returns
    -------
    ndarray of shape (n_frames, n_mfcc * (1 + deltas)), float32

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.logmel import mfcc
    >>> mfcc(np.zeros(8000, dtype="float32"), sr=8000, n_mels=32, n_mfcc=13).shape
    (16, 13)
    """
    clip = [to_mono(y)]
    return MFCC(sr=sr, **params).fit(clip).transform(clip)[0]
