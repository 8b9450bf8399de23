"""Mel maths: filterbanks, analysis windows, batched mel power spectra, decibels.

The arithmetic behind :class:`~embedclf.features.logmel.LogMel` (and the
OpenL3 frontend), plain numpy/scipy in float32: frames of all clips in a
batch are stacked into one matrix so the FFT and the mel projection run as a
few large calls instead of one small call per clip. Parameters mean exactly
what they mean in ``librosa.filters.mel``, ``librosa.stft`` and
``librosa.power_to_db``; the test suite checks the numbers against librosa.

Units: ``n_fft``, ``hop`` and ``win_length`` here are in samples, as in
librosa; estimators take the same names (see :mod:`embedclf.features`).

Examples
--------
>>> import numpy as np
>>> from embedclf.features.mel import mel_filterbank, mel_power, power_to_db, stft_window
>>> basis = mel_filterbank(8000, 256, n_mels=20).astype(np.float32)
>>> (M,) = mel_power([np.zeros(8000, np.float32)], 256, 128, stft_window("hann", 256, 256),
...                  True, "constant", 2.0, basis)
>>> round(float(power_to_db(M).max()), 3)
-100.0
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sp_signal

from .._utils.fft import FFTPlan

__all__ = [
    "hz_to_mel",
    "mel_to_hz",
    "mel_filterbank",
    "stft_window",
    "stft_frame_count",
    "mel_power",
    "THREADED_CHUNK_FRAMES",
    "power_to_db",
    "top_db_floor",
    "windows_top_db_floor",
    "headroom_shifts",
    "unscaled",
    "PaddedFrames",
]

# Frames per FFT call: large enough to amortise call overhead, small enough
# that a chunk (frames x n_fft float32) stays in L2 cache (measured: 64 is
# fastest for n_fft 1024 on one thread; 256 was 40% slower on a CPU with 512 KB
# of L2, 3-5% on one with 2 MB).
_CHUNK_FRAMES = 64
#: Frames per FFT call when several threads share the work: fewer, longer calls
#: hand Python's GIL over less often (two threads: 1.6x one at 256, 1.3x at 64;
#: 512 took 4-7% less wall clock and CPU than 256 with n_fft 1024).
THREADED_CHUNK_FRAMES = 512
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
    >>> from embedclf.features.mel import hz_to_mel
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
    >>> from embedclf.features.mel import mel_to_hz
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
    >>> from embedclf.features.mel import mel_filterbank
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


def stft_window(window, win_length, n_fft):
    """Periodic analysis window of ``win_length`` samples centred in ``n_fft`` (as librosa).

    Parameters
    ----------
    window : str, callable or ndarray
        A window name ``scipy.signal.get_window`` accepts, a function of the
        length, or the window itself (of ``win_length`` samples).
    win_length : int
        Samples in the window, at most ``n_fft``.
    n_fft : int
        Length after zero-padding on both sides.

    Returns
    -------
    ndarray of shape (n_fft,), float64

    Examples
    --------
    >>> from embedclf.features.mel import stft_window
    >>> stft_window("hann", 4, 8).tolist()
    [0.0, 0.0, 0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """
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
        # the strided view built directly: sliding_window_view's checks cost more than
        # framing a short clip, and they run with the GIL held
        count = stft_frame_count(len(y), n_fft, hop, center)
        return np.ndarray(
            (count, n_fft), np.float32, buffer=buf, strides=(hop * buf.itemsize, buf.itemsize)
        )


def stft_frame_count(n_samples, n_fft, hop, center):
    """Number of STFT frames of a clip of ``n_samples`` (as librosa frames it).

    Parameters
    ----------
    n_samples, n_fft, hop : int
        Lengths in samples.
    center : bool
        Whether ``n_fft // 2`` samples are padded at both ends. A clip shorter
        than one frame is zero-filled to one.

    Returns
    -------
    int

    Examples
    --------
    >>> from embedclf.features.mel import stft_frame_count
    >>> stft_frame_count(22050, 1024, 512, center=True)
    44
    >>> stft_frame_count(10, 1024, 512, center=False)
    1
    """
    n = max(n_samples + (2 * (n_fft // 2) if center else 0), n_fft)
    return 1 + (n - n_fft) // hop


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
        np.matmul(P[:, lo:hi], B, out=out[:, a:b])  # BLAS writes the columns in place


def mel_power(
    waves, n_fft, hop, win, center, pad_mode, power, mel_basis, *, chunk_frames=None, joined=False
):
    """Mel-projected |STFT|**power of each wave, frames of all waves batched.

    Frames stream through a fixed-size, cache-resident chunk: window, FFT,
    power, then banded matrix products with the filterbank (each group of
    neighbouring filters from just the bins it covers).

    A wave's result never depends on the other waves: BLAS rounds a row
    differently by its position and block shape on some CPUs (OpenBLAS's
    Haswell/Zen kernels), so projections run over blocks that start at each
    wave's own first frame, never across two waves. The FFT's rows are
    independent transforms and may share a chunk.

    Parameters
    ----------
    waves : sequence of ndarray of shape (n_samples,), float32
    n_fft, hop : int
        Frame length and hop in samples.
    win : ndarray of shape (n_fft,)
        Analysis window (see :func:`stft_window`).
    center : bool
        Pad ``n_fft // 2`` samples at both ends, by ``pad_mode``.
    pad_mode : {"constant", "reflect", "edge"}
    power : float
        2 for power, 1 for magnitude.
    mel_basis : ndarray of shape (n_mels, 1 + n_fft // 2), float32
        Filterbank (see :func:`mel_filterbank`).
    chunk_frames : int, optional
        Frames per FFT call (default 64; :data:`THREADED_CHUNK_FRAMES` suits
        a call that shares the CPUs with other threads). The result does not
        depend on it: every frame is its own transform (tested).
    joined : bool, default=False
        Return all waves' frames in one array, in order, with each wave's
        frame count, instead of one array per wave (elementwise steps that
        follow then take one numpy call for the batch instead of one per wave).

    Returns
    -------
    list of ndarray of shape (n_frames, n_mels), float32
        One per wave; with ``joined``, a tuple of the ndarray of shape
        ``(total_frames, n_mels)`` and the list of frame counts.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.mel import mel_filterbank, mel_power, stft_window
    >>> basis = mel_filterbank(8000, 256, n_mels=20).astype(np.float32)
    >>> waves = [np.zeros(800, np.float32), np.ones(400, np.float32)]
    >>> [M.shape for M in mel_power(waves, 256, 128, stft_window("hann", 256, 256), True,
    ...                             "constant", 2.0, basis)]
    [(7, 20), (4, 20)]
    """
    chunk = int(chunk_frames or _CHUNK_FRAMES)
    with FFTPlan.acquire(chunk, n_fft) as fft:
        out, counts = _mel_power_with(
            fft, chunk, waves, n_fft, hop, win, center, pad_mode, power, mel_basis
        )
    return (out, counts) if joined else np.split(out, np.cumsum(counts)[:-1])


def _mel_power_with(fft, chunk, waves, n_fft, hop, win, center, pad_mode, power, mel_basis):
    counts = [stft_frame_count(len(w), n_fft, hop, center) for w in waves]
    padder = _PadBuffer()
    out = np.empty((sum(counts), mel_basis.shape[0]), dtype=np.float32)
    win32 = win.astype(np.float32)
    n_bins = n_fft // 2 + 1
    groups = _banded(np.ascontiguousarray(mel_basis.T))
    # squared real and imaginary parts, interleaved, for power=2
    squares = np.empty((chunk, 2 * n_bins), dtype=np.float32)
    # Power spectra gather here so the projection runs on larger blocks
    # (a BLAS call per 64 frames costs more in overhead than arithmetic).
    # Room for a block being gathered and the next; leftover rows (less than
    # one block) move to the front when it fills.
    sq = np.empty((2 * _PROJECT_FRAMES + chunk, n_bins), dtype=np.float32)
    starts = np.cumsum([0, *counts])  # each wave's first row

    def windowed_chunks():
        """Fill ``fft.inp`` with windowed frames of all waves; yield the count each time."""
        fill = 0
        for w in waves:
            f = padder.frames(w, n_fft, hop, center, pad_mode)  # valid until the next wave
            start = 0
            while start < f.shape[0]:
                take = min(f.shape[0] - start, chunk - fill)
                np.multiply(f[start : start + take], win32, out=fft.inp[fill : fill + take])
                fill += take
                start += take
                if fill == chunk:
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
            sq2 = np.square(spec.view(np.float32), out=squares[:n])
            np.add(sq2[:, 0::2], sq2[:, 1::2], out=rows)
        else:
            rows[:] = np.abs(spec) ** power
        avail += n
        # Project every block that is complete: _PROJECT_FRAMES rows counted
        # from its wave's first frame, or the rest of that wave.
        while done < avail:
            while starts[wave + 1] <= done:  # skip to the wave of row ``done`` (skips empty ones)
                wave += 1
            stop = min(
                starts[wave + 1], done + _PROJECT_FRAMES - (done - starts[wave]) % _PROJECT_FRAMES
            )
            if stop > avail:
                break
            _project(sq[done - base : stop - base], groups, out[done:stop])
            done = stop
    return out, counts


class PaddedFrames:
    """Segments of a clip's padded signal, fed block by block.

    Each segment covers the frames :func:`mel_power` projects as one block
    (256 analysis frames; fewer in the last segment), starting at a multiple
    of that count from the clip's first frame. A segment is analysed with
    ``center=False``: its frames are exactly the clip's frames, so the
    segments' mel power equals the whole clip's bit for bit. Padding is
    built as the whole-clip analysis builds it.

    Parameters
    ----------
    n_fft, hop : int
        Frame length and hop in samples.
    center : bool
        Whether the clip is padded by ``n_fft // 2`` at both ends.
    pad_mode : {"constant", "reflect", "edge"}

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.mel import PaddedFrames, stft_frame_count
    >>> framer = PaddedFrames(256, 128, True, "constant")
    >>> y = np.ones(100_000, np.float32)
    >>> segments = framer.push(y[:60_000]) + framer.push(y[60_000:]) + framer.finish()
    >>> sum(1 + (len(s) - 256) // 128 for s in segments) == stft_frame_count(len(y), 256, 128, True)
    True
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
        self.tail = np.concatenate([self.tail, block])[-(self.pad + 1) :]
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
        total = stft_frame_count(self.n, self.n_fft, self.hop, self.pad > 0)
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
    >>> from embedclf.features.mel import power_to_db
    >>> np.round(power_to_db(np.array([1.0, 10.0, 100.0])), 4).tolist()
    [0.0, 10.0, 20.0]
    """
    S = np.asarray(S, dtype=np.float32)
    ref_db = np.float32(10.0 * np.log10(max(amin, abs(_ref_value(ref, S)))))
    log_spec = np.maximum(S, np.float32(amin))
    np.log10(log_spec, out=log_spec)
    log_spec *= np.float32(10.0)
    if ref_db:  # ref=1.0 (the default) subtracts nothing: one numpy call fewer per clip
        log_spec -= ref_db
    return top_db_floor(log_spec, top_db)


def top_db_floor(S_db, top_db):
    """Raise every value of ``S_db`` to at least its maximum minus ``top_db``, in place.

    The dynamic-range step of :func:`power_to_db`, for decibels converted
    elsewhere (e.g. several clips in one call, each then floored by its own
    maximum).

    Parameters
    ----------
    S_db : ndarray, float32
        Decibels; changed in place.
    top_db : float or None
        None leaves ``S_db`` as it is.

    Returns
    -------
    ndarray
        ``S_db``.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.mel import top_db_floor
    >>> top_db_floor(np.array([0.0, -50.0, -100.0], np.float32), 80.0).tolist()
    [0.0, -50.0, -80.0]
    """
    if top_db is not None and S_db.size:
        np.maximum(S_db, S_db.max() - np.float32(top_db), out=S_db)
    return S_db


def windows_top_db_floor(W, top_db):
    """Floor each window of a batch at its own maximum minus ``top_db``.

    :func:`top_db_floor` for many windows at once: ``W[i]`` is raised to at
    least ``W[i].max() - top_db``, as if each window were converted alone.
    Unlike :func:`top_db_floor` it returns a new array, so ``W`` may be a
    read-only view (e.g. from :func:`numpy.lib.stride_tricks.sliding_window_view`).

    Parameters
    ----------
    W : ndarray of shape (n_windows, ...), float32
        Decibels, one window per first index.
    top_db : float or None
        None returns ``W`` itself.

    Returns
    -------
    ndarray
        Same shape and dtype as ``W``.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.mel import windows_top_db_floor
    >>> W = np.array([[0.0, -90.0], [-20.0, -200.0]], np.float32)
    >>> windows_top_db_floor(W, 80.0).tolist()
    [[0.0, -80.0], [-20.0, -100.0]]
    """
    if top_db is None or not W.size:
        return W
    axes = tuple(range(1, W.ndim))
    return np.maximum(W, W.max(axis=axes, keepdims=True) - np.float32(top_db))


# The largest float32 power is 2**128; a clip whose mel power could pass 2**120
# (samples near +-3e38, or huge ``power``) is analysed scaled down instead.
_HEADROOM_BITS = 120
_F32_MAX = np.finfo(np.float32).max


def headroom_shifts(waves, window, mel_basis, power):
    """Per wave, the power-of-two exponent to scale it down by so that its mel
    power cannot overflow float32: 0 (untouched) for any ordinary clip.

    Parameters
    ----------
    waves : sequence of ndarray
    window : ndarray
        The analysis window.
    mel_basis : ndarray of shape (n_mels, n_bins)
    power : float

    Returns
    -------
    list of int

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.mel import headroom_shifts, mel_filterbank, stft_window
    >>> basis, win = mel_filterbank(8000, 256, n_mels=20), stft_window("hann", 256, 256)
    >>> headroom_shifts([np.ones(10), np.full(10, 3e38)], win, basis, 2.0)
    [0, 73]
    """
    # |STFT| <= peak * sum|window|; a mel band sums its weights times the largest power
    win_bits = np.log2(np.sum(np.abs(window), dtype=np.float64))
    mel_bits = np.log2(max(float(mel_basis.sum(axis=1).max()), 1e-30))
    shifts = []
    for w in waves:
        peak = max(float(w.max()), -float(w.min())) if w.size else 0.0
        bits = power * (np.log2(peak) + win_bits) + mel_bits if peak > 0 else 0.0
        shifts.append(max(0, int(np.ceil((bits - _HEADROOM_BITS) / power))))
    return shifts


def unscaled(M, bits, log, ref, amin, top_db):
    """``M * 2**bits`` (the mel power of a clip analysed scaled down) as float32.

    In dB it is computed in float64 as :func:`power_to_db` would, so it is finite
    for any input; with ``log=False`` power beyond the float32 range is clipped to it.

    Parameters
    ----------
    M : ndarray
        Mel power of the scaled-down clip.
    bits : float
        ``shift * power``, with the shift from :func:`headroom_shifts`.
    log : bool
        Return dB (as :func:`power_to_db` with ``ref``, ``amin``, ``top_db``)
        instead of power.
    ref, amin, top_db
        As for :func:`power_to_db`.

    Returns
    -------
    ndarray, float32

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.mel import unscaled
    >>> dB = unscaled(np.array([1.0, 10.0]), 10, True, 1.0, 1e-10, None)  # times 2**10
    >>> [round(float(v), 2) for v in dB]
    [30.1, 40.1]
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
