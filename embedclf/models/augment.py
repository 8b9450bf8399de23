"""Audio data augmentation: time shift, time stretch, pitch shift, noise, mixup, SpecAugment.

Each transform is a plain function on a mono float waveform (usable on its
own); :class:`Augmenter` draws random transforms from a seeded generator and
is what :class:`~embedclf.models.KerasCNN` applies while fitting (never when
predicting).

Time stretch is a phase vocoder (tempo changes, pitch does not); pitch shift
is a stretch followed by resampling back to the original length, as in
librosa, so the two share one implementation.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from .._utils.random_state import check_generator

__all__ = [
    "time_shift",
    "time_stretch",
    "pitch_shift",
    "add_noise",
    "make_noise",
    "mixup",
    "spec_mask",
    "mix_clips",
    "Augmenter",
]


def time_shift(y, shift):
    """Shift a clip in time by ``shift`` samples, circularly.

    Circular (not zero-filled) so a short event is moved, never cut off.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
    shift : int
        Positive moves the content later.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.augment import time_shift
    >>> time_shift(np.arange(5.0), 2).tolist()
    [3.0, 4.0, 0.0, 1.0, 2.0]
    """
    y = np.asarray(y)
    return np.roll(y, int(shift)) if len(y) else y.copy()


def _stft(y, n_fft, hop):
    win = np.hanning(n_fft + 1)[:-1]
    padded = np.pad(y, n_fft // 2)
    frames = sliding_window_view(padded, n_fft)[::hop]
    return np.fft.rfft(frames * win, axis=1), win


def time_stretch(y, rate, n_fft=1024):
    """Change the tempo by ``rate`` (2 = twice as fast) keeping the pitch.

    A phase vocoder: magnitudes are interpolated between STFT frames and the
    phase advances by each bin's measured instantaneous frequency.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
    rate : float
        Speed factor; the output has ``round(n_samples / rate)`` samples.
    n_fft : int, default=1024
        FFT size (hop ``n_fft // 4``).

    Returns
    -------
    ndarray of shape (round(n_samples / rate),), float32

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.augment import time_stretch
    >>> y = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    >>> time_stretch(y, 2.0).shape
    (4000,)
    """
    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    y = np.asarray(y, dtype=np.float64)
    length = int(round(len(y) / rate))
    if rate == 1.0 or len(y) == 0:
        return _fix_length(y, length).astype(np.float32)
    if len(y) < n_fft:  # pad so the vocoder has a frame; the stretched pad is cut off
        y = np.pad(y, (0, n_fft - len(y)))
    hop = n_fft // 4
    D, win = _stft(y, n_fft, hop)
    steps = np.arange(0, len(D) - 1, rate)
    j = steps.astype(int)
    frac = (steps - j)[:, None]
    mag = np.abs(D)
    out_mag = (1 - frac) * mag[j] + frac * mag[j + 1]
    expected = 2 * np.pi * hop * np.arange(D.shape[1]) / n_fft
    angles = np.angle(D)
    dphase = angles[j + 1] - angles[j] - expected
    dphase -= 2 * np.pi * np.round(dphase / (2 * np.pi))
    # phase of output frame i: start phase plus the advances of frames before it
    advance = np.cumsum(expected + dphase, axis=0)
    phase = angles[0] + np.vstack([np.zeros_like(angles[:1]), advance[:-1]])
    frames = np.fft.irfft(out_mag * np.exp(1j * phase), n=n_fft, axis=1) * win
    n_out = n_fft + hop * (len(frames) - 1)
    signal = np.zeros(n_out)
    norm = np.zeros(n_out)
    for i, frame in enumerate(frames):  # overlap-add; a few hundred frames per clip
        signal[i * hop : i * hop + n_fft] += frame
        norm[i * hop : i * hop + n_fft] += win**2
    signal /= np.maximum(norm, 1e-8)
    return _fix_length(signal[n_fft // 2 :], length).astype(np.float32)


def _fix_length(y, length):
    y = y[:length]
    return np.pad(y, (0, length - len(y))) if len(y) < length else y


def pitch_shift(y, sr, n_steps):
    """Shift the pitch by ``n_steps`` semitones keeping the duration.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
    sr : int
    n_steps : float
        Semitones; negative lowers the pitch.

    Returns
    -------
    ndarray of shape (n_samples,), float32

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.augment import pitch_shift
    >>> y = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    >>> pitch_shift(y, 8000, 12).shape
    (8000,)
    """
    from ..audio import resample

    rate = 2.0 ** (-float(n_steps) / 12.0)
    stretched = time_stretch(y, rate)
    # play the stretched clip 1/rate times faster: back to the original length
    shifted = resample(np.asarray(stretched, np.float32), sr / rate, sr)
    return _fix_length(np.asarray(shifted, np.float32), len(y))


def make_noise(n_samples, color="white", random_state=None):
    """Unit-RMS noise: ``"white"`` (flat), ``"pink"`` (1/f) or ``"brown"`` (1/f^2).

    Parameters
    ----------
    n_samples : int
    color : {"white", "pink", "brown"}, default="white"
    random_state : int, Generator, RandomState or None

    Returns
    -------
    ndarray of shape (n_samples,), float32

    Examples
    --------
    >>> from embedclf.models.augment import make_noise
    >>> n = make_noise(16000, "pink", random_state=0)
    >>> round(float((n ** 2).mean()), 3)
    1.0
    """
    rng = check_generator(random_state)
    white = rng.standard_normal(n_samples)
    if color != "white" and n_samples > 1:
        exponent = {"pink": 0.5, "brown": 1.0}[color]
        spectrum = np.fft.rfft(white)
        f = np.arange(len(spectrum), dtype=float)
        f[0] = 1.0
        white = np.fft.irfft(spectrum / f**exponent, n=n_samples)
    rms = np.sqrt(np.mean(white**2)) if n_samples else 1.0
    return (white / max(rms, 1e-12)).astype(np.float32)


def add_noise(y, snr_db, noise="white", random_state=None):
    """Mix noise into a clip at a signal-to-noise ratio of ``snr_db``.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
    snr_db : float
    noise : {"white", "pink", "brown"} or ndarray, default="white"
        Generated noise of that colour, or a noise recording (a random
        excerpt is taken; it is looped when shorter than the clip).
    random_state : int, Generator, RandomState or None

    Returns
    -------
    ndarray of shape (n_samples,), float32
        A silent clip stays silent (there is no signal level to scale to).

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.augment import add_noise
    >>> y = np.sin(np.arange(16000) / 5.0).astype("float32")
    >>> mixed = add_noise(y, 10.0, random_state=0)
    >>> round(float(10 * np.log10((y ** 2).mean() / ((mixed - y) ** 2).mean())), 1)
    10.0
    """
    rng = check_generator(random_state)
    y = np.asarray(y, dtype=np.float32)
    n = len(y)
    if isinstance(noise, str):
        part = make_noise(n, noise, rng)
    else:
        noise = np.asarray(noise, dtype=np.float32)
        if noise.ndim != 1 or len(noise) == 0:
            raise ValueError("a noise recording must be a non-empty 1-D waveform")
        reps = int(np.ceil(n / len(noise))) + 1
        looped = np.tile(noise, reps)
        start = rng.integers(0, len(noise))
        part = looped[start : start + n]
    signal_power, noise_power = _power(y), _power(part)
    if signal_power == 0.0 or noise_power == 0.0:
        return y.copy()
    scale = np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10.0)))
    return (y + scale * part).astype(np.float32)


def mixup(X, Y, alpha, random_state=None):
    """Mixup (Zhang et al. 2018): blend random pairs of examples and their labels.

    Parameters
    ----------
    X : ndarray of shape (n, ...)
    Y : ndarray of shape (n, n_classes)
        One-hot or soft labels.
    alpha : float
        Beta(alpha, alpha) concentration; 0 returns the inputs unchanged.
    random_state : int, Generator, RandomState or None

    Returns
    -------
    X_mixed, Y_mixed : ndarrays of the input shapes

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.augment import mixup
    >>> X, Y = np.eye(4, dtype="float32"), np.eye(4, dtype="float32")
    >>> Xm, Ym = mixup(X, Y, 0.4, random_state=0)
    >>> np.allclose(Xm, Ym), np.allclose(Ym.sum(1), 1)
    (True, True)
    """
    if alpha <= 0 or len(X) < 2:
        return X, Y
    rng = check_generator(random_state)
    lam = rng.beta(alpha, alpha, size=len(X)).astype(np.float32)
    perm = rng.permutation(len(X))
    lx = lam.reshape((-1,) + (1,) * (X.ndim - 1))
    ly = lam.reshape((-1,) + (1,) * (Y.ndim - 1))
    return lx * X + (1 - lx) * X[perm], ly * Y + (1 - ly) * Y[perm]


def spec_mask(X, freq, time, random_state=None, value=0.0):
    """SpecAugment masking (Park et al. 2019): one band and one time span per window.

    Each window gets a run of up to ``freq`` x n_mels consecutive mel bands
    and a run of up to ``time`` x n_frames consecutive frames set to
    ``value`` (0, the mean of standardised input), the widths drawn
    uniformly from 0 up to those maxima.

    Parameters
    ----------
    X : ndarray of shape (n, n_mels, n_frames, ...)
    freq, time : float in [0, 1]
        Largest masked share of the bands and of the frames (0 = no mask).
    random_state : int, Generator or None
    value : float, default=0.0

    Returns
    -------
    ndarray
        A masked copy (``X`` itself when both are 0).

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.augment import spec_mask
    >>> X = np.ones((4, 10, 20, 1), dtype="float32")     # 4 windows, 10 bands, 20 frames
    >>> M = spec_mask(X, 0.3, 0.2, random_state=0)[..., 0] == 0
    >>> M.all(axis=2).sum(axis=1).tolist()   # masked bands per window (at most 3)
    [3, 2, 2, 1]
    >>> M.all(axis=1).sum(axis=1).tolist()   # masked frames per window (at most 4)
    [0, 4, 3, 4]
    """
    if not (freq or time) or len(X) == 0:
        return X
    rng = check_generator(random_state)
    X = np.asarray(X)  # np.where below builds the masked copy; the input is never written
    n, bands, frames = X.shape[:3]
    for share, size, axis in ((freq, bands, 1), (time, frames, 2)):
        if not share:
            continue
        width = rng.integers(0, int(np.floor(share * size + 1e-9)) + 1, size=n)
        first = rng.integers(0, np.maximum(size - width, 0) + 1)
        pos = np.arange(size)
        hit = (pos >= first[:, None]) & (pos < (first + width)[:, None])  # (n, size)
        shape = [n] + [1] * (X.ndim - 1)
        shape[axis] = size
        X = np.where(hit.reshape(shape), np.asarray(value, X.dtype), X)
    return X


def mix_clips(waves, copies, random_state=None, share=(0.25, 0.75)):
    """Each clip mixed with other random clips: new audio for a teacher to label.

    Copy ``k`` of clip ``i`` is clip ``i`` plus another clip ``j != i`` (a
    random excerpt when longer, placed at a random offset when shorter),
    both at clip ``i``'s loudness (RMS), ``j`` taking a power share ``w``
    drawn uniformly from ``share``: ``sqrt(1 - w) * a + sqrt(w) * b``, which
    keeps the loudness of uncorrelated sounds. Unlike :func:`mixup`, which
    blends windows *and* their targets, these are waveforms for a teacher to
    hear whole, so the student learns how the teacher answers overlapping
    sounds rather than a straight line between two answers ("consistent
    teaching", Beyer et al. 2022).

    Parameters
    ----------
    waves : sequence of ndarray
        At least two clips at one sample rate.
    copies : int
        Mixtures per clip.
    random_state : int, Generator or None
    share : (float, float), default=(0.25, 0.75)
        Range of the partner's power share.

    Returns
    -------
    list of ndarray, float32
        ``copies * len(waves)`` waveforms, copy ``k`` of clip ``i`` at
        ``i * copies + k``, each as long as its clip. A silent clip gets
        its partner at the partner's own loudness.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.augment import mix_clips
    >>> t = np.arange(8000) / 8000
    >>> a, b = np.sin(2 * np.pi * 440 * t), 0.1 * np.sin(2 * np.pi * 1000 * t)
    >>> out = mix_clips([a, b], copies=2, random_state=0)
    >>> len(out), out[0].shape, out[0].dtype.name
    (4, (8000,), 'float32')
    >>> round(float(np.sqrt(np.mean(out[0] ** 2))), 2)   # clip 0's loudness kept
    0.71
    """
    if len(share) != 2 or not 0 <= share[0] <= share[1] <= 1:
        raise ValueError(f"share must be a (low, high) pair within [0, 1], got {share!r}")
    waves = [np.asarray(w, dtype=np.float32) for w in waves]
    if copies and len(waves) < 2:
        raise ValueError(f"mixing needs at least 2 clips, got {len(waves)}")
    rng = check_generator(random_state)
    out = []
    for i, a in enumerate(waves):
        n = len(a)
        level = np.sqrt(_power(a))
        for _ in range(copies):
            j = int(rng.integers(len(waves) - 1))
            b = waves[j + (j >= i)]  # any clip but i
            if len(b) >= n:
                start = int(rng.integers(len(b) - n + 1))
                b = b[start : start + n]
            else:
                start = int(rng.integers(n - len(b) + 1))
                b = np.pad(b, (start, n - len(b) - start))
            w = rng.uniform(*share)
            b_level = np.sqrt(_power(b))
            if level == 0.0 or b_level == 0.0:
                out.append((a + b).astype(np.float32))
                continue
            mix = np.sqrt(1 - w) * a + np.sqrt(w) * (level / b_level) * b
            out.append(mix.astype(np.float32))
    return out


def _power(y):
    """Mean square of a waveform, in float64; 0 for an empty one."""
    return float(np.mean(np.asarray(y, np.float64) ** 2)) if len(y) else 0.0


class Augmenter(BaseEstimator):
    """Random waveform augmentation, drawn from a seeded generator.

    Each augmented copy of a clip gets, independently with probability
    ``p`` each: a circular time shift, a time stretch, a pitch shift and
    added noise. Stretched copies are cut or padded back to the clip's
    length so every copy has the analysis windows of the original.
    ``mixup`` and the SpecAugment masks (``freq_mask``, ``time_mask``) are
    applied later, to batches of analysis windows, by the model, anew each
    epoch.

    Parameters
    ----------
    copies : int, default=2
        Augmented copies per training clip (the original is kept too).
    p : float, default=0.5
        Probability of each transform, per copy.
    shift : float, default=0.5
        Largest time shift as a fraction of the clip length.
    stretch : tuple of float or None, default=(0.85, 1.15)
        Range of stretch rates, drawn log-uniformly.
    pitch : float or None, default=2.0
        Largest pitch shift in semitones (uniform in ``[-pitch, pitch]``).
    snr_db : tuple of float or None, default=(10.0, 30.0)
        Range of signal-to-noise ratios for the added noise.
    noise : {"white", "pink", "brown"} or list of ndarray, default="pink"
        Generated noise, or noise recordings at the model's sample rate
        (one is drawn per copy).
    mixup : float, default=0.0
        Beta concentration for mixup of training windows (0 = off); read by
        :class:`~embedclf.models.KerasCNN`.
    freq_mask, time_mask : float, default=0.0
        SpecAugment (see :func:`spec_mask`): the largest share of mel bands
        and of frames masked in each training window (0 = off); read by
        :class:`~embedclf.models.KerasCNN`.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.augment import Augmenter
    >>> clips = [np.random.default_rng(0).standard_normal(8000).astype("float32")]
    >>> out = Augmenter(copies=3).augment(clips, sr=8000, random_state=0)
    >>> len(out), out[0].shape
    (3, (8000,))
    """

    _parameter_constraints = {
        "copies": [Interval(Integral, 0, None, closed="left")],
        "p": [Interval(Real, 0, 1, closed="both")],
        "shift": [Interval(Real, 0, 1, closed="both")],
        "stretch": [tuple, list, None],
        "pitch": [Interval(Real, 0, None, closed="left"), None],
        "snr_db": [tuple, list, None],
        "noise": [StrOptions({"white", "pink", "brown"}), list, tuple],
        "mixup": [Interval(Real, 0, None, closed="left")],
        "freq_mask": [Interval(Real, 0, 1, closed="both")],
        "time_mask": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        *,
        copies=2,
        p=0.5,
        shift=0.5,
        stretch=(0.85, 1.15),
        pitch=2.0,
        snr_db=(10.0, 30.0),
        noise="pink",
        mixup=0.0,
        freq_mask=0.0,
        time_mask=0.0,
    ):
        self.copies = copies
        self.p = p
        self.shift = shift
        self.stretch = stretch
        self.pitch = pitch
        self.snr_db = snr_db
        self.noise = noise
        self.mixup = mixup
        self.freq_mask = freq_mask
        self.time_mask = time_mask

    def __setstate__(self, state):
        # augmenters pickled before the SpecAugment masks existed
        state = {"freq_mask": 0.0, "time_mask": 0.0, **state}
        super().__setstate__(state)

    def augment_windows(self, X, Y, random_state=None):
        """Mixup then SpecAugment masks on a batch of windows and their targets.

        Parameters
        ----------
        X : ndarray of shape (n, n_mels, n_frames, ...)
        Y : ndarray of shape (n, n_targets)
        random_state : int, Generator or None

        Returns
        -------
        X, Y : ndarrays of the input shapes

        Examples
        --------
        >>> import numpy as np
        >>> from embedclf.models.augment import Augmenter
        >>> X, Y = np.ones((4, 8, 8, 1), "float32"), np.eye(4, dtype="float32")
        >>> Xa, Ya = Augmenter(freq_mask=0.5).augment_windows(X, Y, 0)
        >>> Xa.shape, bool((Xa == 0).any()), bool((Ya == Y).all())
        ((4, 8, 8, 1), True, True)
        """
        rng = check_generator(random_state)
        X, Y = mixup(X, Y, self.mixup, rng)
        return spec_mask(X, self.freq_mask, self.time_mask, rng), Y

    @property
    def windows_only(self):
        """This augmenter without its waveform copies: what a model applies per batch."""
        return Augmenter(
            copies=0, mixup=self.mixup, freq_mask=self.freq_mask, time_mask=self.time_mask
        )

    @property
    def acts_on_windows(self):
        """Whether it changes training windows (mixup or masks)."""
        return bool(self.mixup or self.freq_mask or self.time_mask)

    def augment_one(self, y, sr, random_state=None):
        """One randomly augmented copy of ``y`` (same length).

        Parameters
        ----------
        y : ndarray of shape (n_samples,)
        sr : int
        random_state : int, Generator or None

        Returns
        -------
        ndarray of shape (n_samples,), float32

        Examples
        --------
        >>> import numpy as np
        >>> from embedclf.models.augment import Augmenter
        >>> Augmenter(p=1.0).augment_one(np.ones(4000), 8000, 0).shape
        (4000,)
        """
        rng = check_generator(random_state)
        y = np.asarray(y, dtype=np.float32)
        n = len(y)
        out = y
        if self.shift and rng.random() < self.p:
            out = time_shift(out, rng.integers(-int(self.shift * n), int(self.shift * n) + 1))
        if self.stretch is not None and rng.random() < self.p:
            lo, hi = np.log(self.stretch[0]), np.log(self.stretch[1])
            out = _fix_length(time_stretch(out, float(np.exp(rng.uniform(lo, hi)))), n)
        if self.pitch and rng.random() < self.p:
            out = pitch_shift(out, sr, rng.uniform(-self.pitch, self.pitch))
        if self.snr_db is not None and rng.random() < self.p:
            noise = self.noise
            if not isinstance(noise, str):
                noise = noise[rng.integers(len(noise))]
            out = add_noise(out, rng.uniform(*self.snr_db), noise, rng)
        return np.asarray(out, dtype=np.float32)

    def augment(self, waves, sr, random_state=None):
        """``copies`` augmented copies of every clip, in order (clip 0's copies first).

        Parameters
        ----------
        waves : sequence of ndarray
        sr : int
        random_state : int, Generator or None

        Returns
        -------
        list of ndarray
            ``copies * len(waves)`` waveforms; copy ``k`` of clip ``i`` is
            at ``i * copies + k``.
        """
        self._validate_params()
        for name in ("stretch", "snr_db"):
            pair = getattr(self, name)
            if pair is not None and (len(pair) != 2 or pair[0] > pair[1]):
                raise ValueError(f"{name} must be a (low, high) pair, got {pair!r}")
        if self.stretch is not None and self.stretch[0] <= 0:
            raise ValueError(f"stretch rates must be > 0, got {self.stretch!r}")
        rng = check_generator(random_state)
        return [self.augment_one(w, sr, rng) for w in waves for _ in range(self.copies)]
