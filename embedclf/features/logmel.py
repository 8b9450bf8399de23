"""Log-mel spectrograms and MFCCs, librosa-compatible and batched.

The arithmetic is plain numpy/scipy in float32: frames of all clips in a
batch are stacked into one matrix so the FFT and the mel projection run as a
few large calls instead of one small call per clip. Parameters mean exactly
what they mean in ``librosa.feature.melspectrogram`` + ``librosa.power_to_db``
(and ``librosa.feature.mfcc``); the test suite checks the numbers against
librosa.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sp_signal
from joblib import effective_n_jobs
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..audio import ClipTransformer, to_mono

__all__ = ["LogMel", "MFCC", "log_mel", "mfcc", "mel_filterbank", "hz_to_mel", "mel_to_hz"]

# Frames per FFT call: large enough to amortise call overhead, small enough
# that a chunk (frames x n_fft float32) stays in L2 cache (measured: 64 is
# fastest for n_fft 1024 on this CPU; 256 is 40% slower).
_CHUNK_FRAMES = 64
_PROJECT_FRAMES = 256


def hz_to_mel(freqs, htk=False):
    """Convert Hz to mels (Slaney's auditory toolbox scale, or HTK's).

    Parameters
    ----------
    freqs : float or array-like
    htk : bool, default=False
        Use the HTK formula ``2595 log10(1 + f/700)``.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> from embedclf.features.logmel import hz_to_mel
    >>> float(hz_to_mel(1000.0))
    15.0
    """
    f = np.asanyarray(freqs, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    # Slaney: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
    mels = f / (200.0 / 3)
    logstep = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) / logstep, mels)


def mel_to_hz(mels, htk=False):
    """Inverse of :func:`hz_to_mel`.

    Parameters
    ----------
    mels : float or array-like
    htk : bool, default=False

    Returns
    -------
    ndarray

    Examples
    --------
    >>> from embedclf.features.logmel import mel_to_hz
    >>> float(mel_to_hz(15.0))
    1000.0
    """
    m = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    logstep = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), (200.0 / 3) * m)


def mel_filterbank(sr, n_fft, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney"):
    """Triangular mel filterbank, shape ``(n_mels, 1 + n_fft // 2)``.

    Parameters
    ----------
    sr : int
    n_fft : int
    n_mels : int, default=128
    fmin : float, default=0.0
    fmax : float or None, default=None
        ``None`` means ``sr / 2``.
    htk : bool, default=False
    norm : {"slaney"}, float or None, default="slaney"
        ``"slaney"`` scales each filter to unit area (constant energy per
        channel); a number p normalises each filter to unit p-norm.

    Returns
    -------
    ndarray, float64

    Examples
    --------
    >>> from embedclf.features.logmel import mel_filterbank
    >>> mel_filterbank(22050, 1024, n_mels=64).shape
    (64, 513)
    """
    fmax = sr / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)  # right for odd n_fft too
    mel_pts = np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2)
    hz_pts = mel_to_hz(mel_pts, htk)
    widths = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]
    elif norm is not None:
        p = float(norm)
        length = np.sum(np.abs(weights) ** p, axis=1, keepdims=True) ** (1.0 / p)
        weights = np.divide(weights, length, out=np.zeros_like(weights), where=length > 0)
    return weights


def _window(window, win_length, n_fft):
    """Periodic window of ``win_length`` centred in ``n_fft`` (as librosa)."""
    if callable(window):
        w = np.asarray(window(win_length), dtype=np.float64)
    elif isinstance(window, np.ndarray):
        w = window.astype(np.float64)
        if len(w) != win_length:
            raise ValueError(f"window has length {len(w)}, expected win_length={win_length}")
    else:
        w = sp_signal.get_window(window, win_length, fftbins=True)
    left = (n_fft - win_length) // 2
    return np.pad(w, (left, n_fft - win_length - left))


class _PadBuffer:
    """Reusable buffer for centre padding.

    ``np.pad`` allocates a fresh array per clip, and touching new pages costs
    more than the FFT of the clip; copying into one growing buffer does not.
    """

    def __init__(self):
        self.buf = np.empty(0, dtype=np.float32)

    def frames(self, y, n_fft, hop, center, pad_mode):
        """Strided ``(n_frames, n_fft)`` view of ``y`` padded as librosa pads it.

        The view is valid until the next call.
        """
        pad = n_fft // 2 if center else 0
        n = max(len(y) + 2 * pad, n_fft)  # shorter than one frame: zero-fill to one
        if self.buf.size < n:
            self.buf = np.empty(max(n, 2 * self.buf.size), dtype=np.float32)
        buf = self.buf[:n]
        buf[pad : pad + len(y)] = y
        buf[pad + len(y) :] = 0.0
        if pad:
            if pad_mode == "reflect" and len(y) <= pad:  # reflect repeatedly, as np.pad
                buf[: 2 * pad + len(y)] = np.pad(y, pad, mode="reflect")
            elif pad_mode == "reflect":
                buf[:pad] = y[pad:0:-1]
                buf[pad + len(y) : 2 * pad + len(y)] = y[-2 : -pad - 2 : -1]
            elif pad_mode == "edge":
                buf[:pad] = y[0]
                buf[pad + len(y) : 2 * pad + len(y)] = y[-1]
            else:  # constant, and reflect on clips too short to reflect
                buf[:pad] = 0.0
        return np.lib.stride_tricks.sliding_window_view(buf, n_fft)[::hop]


def _n_frames(n_samples, n_fft, hop, center):
    n = max(n_samples + (2 * (n_fft // 2) if center else 0), n_fft)
    return 1 + (n - n_fft) // hop


class _FFT:
    """Batched real FFT of ``chunk`` frames: FFTW (pyFFTW) when installed, else scipy.

    FFTW's plans for a fixed batch shape are about twice as fast as pocketfft
    here. A plan owns its buffers, so each is used by one thread at a time:
    :meth:`acquire` lends one from a pool (planning costs milliseconds, so
    plans are kept for the life of the process).
    """

    _pool = {}
    _lock = threading.Lock()

    @classmethod
    @contextmanager
    def acquire(cls, chunk, n_fft):
        key = (chunk, n_fft)
        with cls._lock:
            free = cls._pool.setdefault(key, [])
            plan = free.pop() if free else None
        if plan is None:
            plan = cls(chunk, n_fft)
        try:
            yield plan
        finally:
            with cls._lock:
                cls._pool[key].append(plan)

    def __init__(self, chunk, n_fft):
        try:
            import pyfftw
        except ImportError:  # pragma: no cover - pyfftw is a declared dependency
            pyfftw = None
        if pyfftw is not None:
            self.inp = pyfftw.empty_aligned((chunk, n_fft), dtype="float32")
            self.out = pyfftw.empty_aligned((chunk, n_fft // 2 + 1), dtype="complex64")
            self._plan = pyfftw.FFTW(
                self.inp, self.out, axes=(-1,), flags=("FFTW_MEASURE",), threads=1
            )
            self.inp[:] = 0
        else:
            self.inp = np.zeros((chunk, n_fft), dtype=np.float32)
            self.out = np.zeros((chunk, n_fft // 2 + 1), dtype=np.complex64)
            self._plan = None

    def __call__(self):
        """Transform ``inp`` into ``out``."""
        if self._plan is not None:
            self._plan.execute()  # __call__ re-validates arrays: 30% overhead
        else:
            self.out[:] = sp_fft.rfft(self.inp, axis=-1)
        return self.out


def _banded(basis, n_groups=8):
    """Split a ``(n_bins, n_mels)`` filterbank into column groups with their bin range.

    Mel filters are narrow bands, so projecting each group of neighbouring
    filters from just the bins they cover does ~7x less arithmetic than one
    dense product (the dense product was the largest cost after the FFT).
    """
    n_mels = basis.shape[1]
    n_groups = max(1, min(n_groups, n_mels // 4))
    bounds = np.linspace(0, n_mels, n_groups + 1).astype(int)
    groups = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        rows = np.nonzero(np.any(basis[:, a:b] != 0, axis=1))[0]
        lo, hi = (rows[0], rows[-1] + 1) if rows.size else (0, 1)
        groups.append((a, b, lo, hi, np.ascontiguousarray(basis[lo:hi, a:b])))
    return groups


def _project(P, groups, out):
    for a, b, lo, hi, B in groups:
        out[:, a:b] = P[:, lo:hi] @ B


def _mel_power(waves, n_fft, hop, win, center, pad_mode, power, mel_basis):
    """Mel-projected |STFT|**power of each wave, frames of all waves batched.

    Frames stream through a fixed-size, cache-resident chunk: window, FFT,
    square, then matrix products with the filterbank. For ``power=2`` the
    squared real and imaginary parts are projected together by a filterbank
    with each weight repeated twice, saving a pass over the spectrum.

    A wave's result never depends on the other waves: BLAS rounds a row
    differently by its position and block shape on some CPUs (OpenBLAS's
    Haswell/Zen kernels), so projections run over blocks that start at each
    wave's own first frame, never across two waves. The FFT's rows are
    independent transforms and may share a chunk.
    """
    with _FFT.acquire(_CHUNK_FRAMES, n_fft) as fft:
        return _mel_power_with(fft, waves, n_fft, hop, win, center, pad_mode, power, mel_basis)


def _mel_power_with(fft, waves, n_fft, hop, win, center, pad_mode, power, mel_basis):
    counts = [_n_frames(len(w), n_fft, hop, center) for w in waves]
    padder = _PadBuffer()
    out = np.empty((sum(counts), mel_basis.shape[0]), dtype=np.float32)
    win32 = win.astype(np.float32)
    n_bins = n_fft // 2 + 1
    if power == 2.0:
        # (2 * n_bins, n_mels): each weight twice, for interleaved re/im parts
        groups = _banded(np.repeat(mel_basis.T, 2, axis=0))
        width = 2 * n_bins
    else:
        groups = _banded(np.ascontiguousarray(mel_basis.T))
        width = n_bins
    # Power spectra gather here so the projection runs on larger blocks
    # (a BLAS call per 64 frames costs more in overhead than arithmetic).
    # Room for a block being gathered and the next; leftover rows (less than
    # one block) move to the front when it fills.
    sq = np.empty((2 * _PROJECT_FRAMES + _CHUNK_FRAMES, width), dtype=np.float32)
    starts = np.cumsum([0, *counts])  # each wave's first row

    def windowed_chunks():
        """Fill ``fft.inp`` with windowed frames of all waves; yield the count each time."""
        fill = 0
        for w in waves:
            f = padder.frames(w, n_fft, hop, center, pad_mode)  # valid until the next wave
            start = 0
            while start < f.shape[0]:
                take = min(f.shape[0] - start, _CHUNK_FRAMES - fill)
                np.multiply(f[start : start + take], win32, out=fft.inp[fill : fill + take])
                fill += take
                start += take
                if fill == _CHUNK_FRAMES:
                    yield fill
                    fill = 0
        if fill:
            yield fill

    done = base = wave = 0  # rows projected; global row held in sq[0]; wave of row ``done``
    avail = 0  # global rows squared so far
    for n in windowed_chunks():
        if avail + n - base > len(sq):  # keep only the rows not projected yet
            sq[: avail - done] = sq[done - base : avail - base]
            base = done
        spec = fft()[:n]
        rows = sq[avail - base : avail - base + n]
        if power == 2.0:
            np.square(spec.view(np.float32), out=rows)
        else:
            rows[:] = np.abs(spec) ** power
        avail += n
        # Project every block that is complete: _PROJECT_FRAMES rows counted
        # from its wave's first frame, or the rest of that wave.
        while done < avail:
            while starts[wave + 1] <= done:  # skip to the wave of row ``done`` (skips empty ones)
                wave += 1
            stop = min(starts[wave + 1],
                       done + _PROJECT_FRAMES - (done - starts[wave]) % _PROJECT_FRAMES)
            if stop > avail:
                break
            _project(sq[done - base : stop - base], groups, out[done:stop])
            done = stop
    return np.split(out, starts[1:-1])


class _PaddedFrames:
    """Segments of a clip's padded signal, fed block by block, each covering
    :data:`_PROJECT_FRAMES` analysis frames (fewer in the last segment).

    A segment is analysed with ``center=False``: its frames are exactly the
    clip's frames, and a segment of ``_PROJECT_FRAMES`` frames starting at a
    multiple of that count is projected as one block, as the whole-clip
    analysis projects it. Padding is built as :class:`_PadBuffer` builds it.
    """

    def __init__(self, n_fft, hop, center, pad_mode):
        self.n_fft, self.hop, self.pad_mode = n_fft, hop, pad_mode
        self.pad = n_fft // 2 if center else 0
        # below this many samples the clip is analysed whole (reflect padding of
        # short clips repeats, and a clip shorter than a frame is zero-filled)
        self.min_samples = n_fft + 2 * self.pad + 1
        self.head = []  # the first blocks, until min_samples have arrived
        self.buf = None  # padded samples from global padded index ``off``
        self.off = 0
        self.frame = 0  # next frame to emit
        self.n = 0  # raw samples seen
        self.tail = np.zeros(0, dtype=np.float32)  # the last pad + 1 raw samples
        self.span = (_PROJECT_FRAMES - 1) * hop + n_fft  # samples of a full segment

    def push(self, block):
        """Full segments that ``block`` completes."""
        block = np.asarray(block, dtype=np.float32)
        self.n += len(block)
        self.tail = np.concatenate([self.tail, block])[-(self.pad + 1):]
        if self.buf is None:
            self.head.append(block)
            if self.n < self.min_samples:
                return []
            y = np.concatenate(self.head)
            self.head = []
            block, self.buf = y, self._left_pad(y)
        self.buf = np.concatenate([self.buf, block])
        return self._emit(None)

    def finish(self):
        """The remaining segments, or ``None`` if the clip is short: then
        :attr:`head` holds all of it, to be analysed whole."""
        if self.buf is None:
            return None
        self.buf = np.concatenate([self.buf, self._right_pad()])
        total = _n_frames(self.n, self.n_fft, self.hop, self.pad > 0)
        return self._emit(total)

    def _left_pad(self, y):
        p = self.pad
        if self.pad_mode == "reflect":
            return y[p:0:-1].copy()
        if self.pad_mode == "edge":
            return np.full(p, y[0], dtype=np.float32)
        return np.zeros(p, dtype=np.float32)

    def _right_pad(self):
        p, t = self.pad, self.tail
        if self.pad_mode == "reflect":
            return t[-2 : -p - 2 : -1].copy() if p else np.zeros(0, np.float32)
        if self.pad_mode == "edge":
            return np.full(p, t[-1], dtype=np.float32)
        return np.zeros(p, dtype=np.float32)

    def _emit(self, total):
        segments = []
        while True:
            start = self.frame * self.hop - self.off
            k = _PROJECT_FRAMES if total is None else min(_PROJECT_FRAMES, total - self.frame)
            if k <= 0 or start + (k - 1) * self.hop + self.n_fft > len(self.buf):
                break
            segments.append(self.buf[start : start + (k - 1) * self.hop + self.n_fft])
            self.frame += k
        drop = min(self.frame * self.hop - self.off, len(self.buf))
        if drop > 0:
            self.buf = self.buf[drop:]
            self.off += drop
        return segments


_EXECUTOR = None
_EXECUTOR_LOCK = threading.Lock()
_BLAS = {"users": 0, "limits": None}
_BLAS_LOCK = threading.Lock()


def _executor():
    """One long-lived thread pool (threads, and the FFT plans they use, are reused)."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            from concurrent.futures import ThreadPoolExecutor

            _EXECUTOR = ThreadPoolExecutor(max(2, os.cpu_count() or 1), "embedclf-logmel")
        return _EXECUTOR


@contextmanager
def _single_threaded_blas():
    """Hold BLAS to one thread while any transform runs (the setting is process-wide).

    Reference-counted, so overlapping transforms in several threads restore
    the original limits only when the last one leaves.
    """
    from threadpoolctl import threadpool_limits

    with _BLAS_LOCK:
        if _BLAS["users"] == 0:
            _BLAS["limits"] = threadpool_limits(limits=1, user_api="blas")
        _BLAS["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS["users"] -= 1
            if _BLAS["users"] == 0:
                _BLAS["limits"].restore_original_limits()
                _BLAS["limits"] = None


def _after_fork_in_child():
    """A forked child has none of the parent's threads: start pools and locks afresh."""
    global _EXECUTOR, _EXECUTOR_LOCK, _BLAS_LOCK
    _EXECUTOR = None
    _EXECUTOR_LOCK = threading.Lock()
    _BLAS_LOCK = threading.Lock()
    _BLAS.update(users=0, limits=None)
    _FFT._pool = {}
    _FFT._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _threaded(func, waves, n_threads):
    """Run ``func(part)`` on contiguous parts of ``waves`` in threads.

    numpy, FFTW and BLAS release the GIL, so threads scale across cores. Parts
    are balanced by sample count and results come back in input order.
    """

    # A few parts per thread, so a thread that falls behind does not idle the rest.
    n_parts = min(len(waves), n_threads)
    sizes = np.cumsum([len(w) for w in waves])
    cuts = np.searchsorted(sizes, sizes[-1] * np.arange(1, n_parts) / n_parts)
    bounds = [0, *sorted(set(int(c) + 1 for c in cuts)), len(waves)]
    parts = [waves[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    results = list(_executor().map(func, parts))
    return [m for r in results for m in r]


def _ref_value(ref, S):
    if callable(ref):
        return float(ref(S))
    if isinstance(ref, str):
        if ref != "max":
            raise ValueError(f"ref must be a number, 'max' or a callable, got {ref!r}")
        return float(S.max()) if S.size else 1.0
    return float(ref)


def power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0):
    """``10 log10(S / ref)`` with a floor ``amin`` and an optional dynamic range.

    Same meaning as ``librosa.power_to_db``; float32 in, float32 out.

    Parameters
    ----------
    S : ndarray
    ref : float, "max" or callable, default=1.0
    amin : float, default=1e-10
    top_db : float or None, default=80.0

    Returns
    -------
    ndarray, float32

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.logmel import power_to_db
    >>> np.round(power_to_db(np.array([1.0, 10.0, 100.0])), 4).tolist()
    [0.0, 10.0, 20.0]
    """
    S = np.asarray(S, dtype=np.float32)
    ref_db = np.float32(10.0 * np.log10(max(amin, abs(_ref_value(ref, S)))))
    log_spec = np.maximum(S, np.float32(amin))
    np.log10(log_spec, out=log_spec)
    log_spec *= np.float32(10.0)
    log_spec -= ref_db
    if top_db is not None and log_spec.size:
        np.maximum(log_spec, log_spec.max() - np.float32(top_db), out=log_spec)
    return log_spec


# The largest float32 power is 2**128; a clip whose mel power could pass 2**120
# (samples near +-3e38, or huge ``power``) is analysed scaled down instead.
_HEADROOM_BITS = 120
_F32_MAX = np.finfo(np.float32).max


def _headroom_shifts(waves, window, mel_basis, power):
    """Per wave, the power-of-two exponent to scale it down by so that its mel
    power cannot overflow float32: 0 (untouched) for any ordinary clip."""
    # |STFT| <= peak * sum|window|; a mel band sums its weights times the largest power
    win_bits = np.log2(np.sum(np.abs(window), dtype=np.float64))
    mel_bits = np.log2(max(float(mel_basis.sum(axis=1).max()), 1e-30))
    shifts = []
    for w in waves:
        peak = max(float(w.max()), -float(w.min())) if w.size else 0.0
        bits = power * (np.log2(peak) + win_bits) + mel_bits if peak > 0 else 0.0
        shifts.append(max(0, int(np.ceil((bits - _HEADROOM_BITS) / power))))
    return shifts


def _unscaled(M, bits, log, ref, amin, top_db):
    """``M * 2**bits`` (the mel power of a clip analysed scaled down) as float32.

    In dB it is computed in float64 as :func:`power_to_db` would, so it is finite
    for any input; with ``log=False`` power beyond the float32 range is clipped to it.
    """
    with np.errstate(divide="ignore", over="ignore"):
        L = 10.0 * (np.log10(M, dtype=np.float64) + bits * np.log10(2.0))
        if not log:
            return np.minimum(np.power(10.0, L / 10.0), _F32_MAX).astype(np.float32)
        L = np.maximum(L, 10.0 * np.log10(amin))
        S = np.power(10.0, np.minimum(L, 3000.0) / 10.0)  # within float64, for ``ref``
        L -= 10.0 * np.log10(max(amin, abs(_ref_value(ref, S))))
    if top_db is not None and L.size:
        np.maximum(L, L.max() - top_db, out=L)
    return np.clip(L, -_F32_MAX, _F32_MAX).astype(np.float32)


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
    hop_length : int, default=512
    win_length : int or None, default=None
        ``None`` means ``n_fft``.
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
        Threads for a batch of clips (``None`` means 1, ``-1`` all cores).
        The work releases the GIL, so threads scale; results do not change.
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
        self.window_ = _window(self.window, win_length, self.n_fft)
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
        n_threads = min(effective_n_jobs(self.n_jobs), len(waves))
        # The mel projections are small matrix products: BLAS threads would
        # spin-wait more than they compute, so each worker runs BLAS on one thread.
        with _single_threaded_blas():
            if n_threads <= 1:
                return self._featurize(waves)
            return _threaded(self._featurize, waves, n_threads)

    def _featurize(self, waves):
        # Samples near +-3e38 would overflow |STFT|**power in float32: such a clip is
        # analysed scaled by an exact power of two, the scale put back in float64.
        shifts = _headroom_shifts(waves, self.window_, self.mel_basis_, float(self.power))
        if any(shifts):
            waves = [np.ldexp(w, -k) if k else w for w, k in zip(waves, shifts)]
        mels = _mel_power(
            waves, self.n_fft, self.hop_length, self.window_, self.center, self.pad_mode,
            float(self.power), self.mel_basis_,
        )
        out = []
        for M, k in zip(mels, shifts):
            if k:
                M = _unscaled(M, k * float(self.power), self.log, self.ref, self.amin,
                              self.top_db)
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
        return type(self)._finish is LogMel._finish and not callable(self.ref) \
            and self.normalize != "clip"

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
            raise ValueError(f"{type(self).__name__} with ref={self.ref!r}, "
                             f"normalize={self.normalize!r} needs whole clips: use transform")
        source = blocks if callable(blocks) else (lambda: iter(blocks))
        return self._stream(source)

    def _stream(self, source):
        power = float(self.power)
        clip_wide = self.log and (self.top_db is not None or
                                  (isinstance(self.ref, str) and self.ref == "max"))
        # pass 1: the peak sample, and the largest power and dB value if needed
        peak, smax, lmax = 0.0, -np.inf, -np.inf
        for M, y_peak in self._power_blocks(source(), clip_wide, first_pass=True):
            peak = max(peak, y_peak)
            if clip_wide and M is not None and M.size:
                smax = max(smax, float(M.max()))
                lmax = max(lmax, float(self._db(M, np.float32(0.0)).max()))
        probe = np.array([peak, -peak], dtype=np.float32)
        shift = _headroom_shifts([probe], self.window_, self.mel_basis_, power)[0]
        if shift:  # rare: samples near the float32 limit; the whole clip's own path
            y = np.concatenate([np.asarray(b, dtype=np.float32) for b in source()])
            with _single_threaded_blas():
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
        framer = _PaddedFrames(self.n_fft, self.hop_length, self.center, self.pad_mode)
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
        with _single_threaded_blas(), _FFT.acquire(_CHUNK_FRAMES, self.n_fft) as fft:
            parts = _mel_power_with(fft, waves, self.n_fft, self.hop_length, self.window_,
                                    center, self.pad_mode, float(self.power), self.mel_basis_)
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
        **{k: v for k, v in LogMel._parameter_constraints.items()
           if k not in ("log", "normalize", "normalize_window", "normalize_floor")},
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
            sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
            center=center, pad_mode=pad_mode, n_mels=n_mels, fmin=fmin, fmax=fmax, power=power,
            htk=htk, norm=norm, ref=ref, amin=amin, top_db=top_db, n_jobs=n_jobs,
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
