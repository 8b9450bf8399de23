"""Live recognition: window scores and smoothed events from audio that arrives in blocks.

:class:`Recognizer` wraps any fitted clip classifier with ``predict_proba``
(a log-mel or embedding :class:`~sklearn.pipeline.Pipeline`, a
:class:`~embedclf.models.KerasCNN`, a :class:`~embedclf.distill.Distiller`)
or an exported int8 model folder (:class:`Int8Folder`). Feed it blocks of
samples of any size with :meth:`Recognizer.push`; it cuts analysis windows
at exact sample positions ``k * hop``, scores each window on its own and
turns the scores into events (RecognizeCommands-style smoothing, a
threshold with hysteresis, a minimum duration, suppression after an event,
background labels never reported). Audio is held in a buffer of fixed
capacity, so memory does not grow with the stream.

Sources: :func:`file_source` (a file read in blocks), :func:`pcm_source`
(raw s16le/f32le PCM from a binary stream such as standard input),
:func:`mic_source` (a microphone through the optional ``sounddevice``)
and any iterable of blocks (:func:`iter_source`).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .audio import stream_audio, to_mono
from .exceptions import ResamplingWarning  # re-exported
from .features.mel import windows_top_db_floor
from .features.windows import split_windows, window_starts
from .labels import BACKGROUND_LABEL, BACKGROUND_LABELS
from .models.windows import pool_windows
from .pipelines import pipeline_sr

__all__ = [
    "Recognizer",
    "Event",
    "Window",
    "Update",
    "Int8Folder",
    "BlockSource",
    "ResamplingWarning",
    "file_source",
    "pcm_source",
    "mic_source",
    "iter_source",
    "rechunk",
    "plot_timeline",
    "SpectrogramLog",
    "parse_frontend_header",
    "BACKGROUND_LABELS",
    "DEFAULT_BACKGROUND_LABEL",
    "PCM_FORMATS",
]

#: The label ``embedclf train --background`` gives background recordings.
DEFAULT_BACKGROUND_LABEL = BACKGROUND_LABEL
#: Raw PCM sample formats :func:`pcm_source` reads: numpy dtype and full scale.
PCM_FORMATS = {"s16le": ("<i2", 32768.0), "f32le": ("<f4", 1.0)}


@dataclass(frozen=True, eq=False)  # scores are arrays: compare them with numpy
class Window:
    """One analysis window's class scores.

    Attributes
    ----------
    start, end : float
        Seconds from the start of the stream (``end - start`` is the
        window's length; the stream's last window may be shorter).
    scores : ndarray of shape (n_classes,)
        The model's probabilities for this window alone.
    smoothed : ndarray of shape (n_classes,)
        The mean of the last ``n_smooth`` windows' scores (this one included).

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.stream import Window
    >>> w = Window(0.5, 1.5, np.array([0.2, 0.8]), np.array([0.4, 0.6]))
    >>> w.end - w.start
    1.0
    """

    start: float
    end: float
    scores: np.ndarray = field(repr=False)
    smoothed: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Event:
    """A detected sound event.

    Attributes
    ----------
    label : object
        The class, as in the model's ``classes_``.
    onset, offset : float
        Seconds from the start of the stream (see :class:`Recognizer`).
    score : float
        The highest smoothed score of ``label`` during the event.
    detected : float
        Stream time (seconds of audio pushed) when the event's start was decided.
    decided : float
        Stream time when its end was decided (and the event reported).

    Examples
    --------
    >>> from embedclf.stream import Event
    >>> e = Event("dog", onset=1.0, offset=2.5, score=0.9, detected=1.5, decided=3.0)
    >>> e.offset - e.onset, e.decided - e.onset
    (1.5, 2.0)
    """

    label: object
    onset: float
    offset: float
    score: float
    detected: float
    decided: float

    def as_dict(self):
        """The event as a plain dict (``label`` as str, times rounded to microseconds).

        Examples
        --------
        >>> from embedclf.stream import Event
        >>> Event("dog", 1.0, 2.5, 0.9, 1.5, 3.0).as_dict()["offset"]
        2.5
        """
        return {
            "onset": round(self.onset, 6),
            "offset": round(self.offset, 6),
            "label": str(self.label),
            "score": float(self.score),
            "detected": round(self.detected, 6),
            "decided": round(self.decided, 6),
        }


class Update(NamedTuple):
    """What one :meth:`Recognizer.push` (or :meth:`~Recognizer.flush`) decided.

    Examples
    --------
    >>> from embedclf.stream import Update
    >>> Update(windows=[], events=[]).events
    []
    """

    windows: list
    events: list


class Int8Folder:
    """An exported int8 student (a folder from :func:`embedclf.distill.export`) as a clip model.

    Runs ``model.tflite`` with LiteRT (:class:`embedclf.distill.export.Int8Model`)
    on the log-mel frontend that ``frontend.h`` describes, computed here in
    numpy from the header's own constants (window, sparse mel filterbank,
    dB floor, per-window top-dB, standardisation), so the scores are the
    device's. A clip is cut into the student's windows as the student cuts
    it, and their probabilities are pooled as the student pools them
    (``report.json``'s ``clip_pooling``: mean, log-mean or vote; the mean for
    folders exported before it was recorded).

    Parameters
    ----------
    folder : str or path-like
    partial_windows : bool, default=True
        Also score a clip's trailing partial window (padded), as the float
        student does. The centred frontend gives a clip of exactly one
        window one frame more than a window, so such a clip gets a second,
        mostly padded window; ``False`` scores full windows only (a clip
        shorter than one window still gets its one padded window), as the
        device scores a stream.

    Attributes
    ----------
    classes_ : ndarray of str
    sr : int
    window, hop : float
        The student's analysis window and hop in seconds (from ``report.json``).
    clip_pooling : str
        How a clip's window probabilities are pooled (from ``report.json``).

    Examples
    --------
    >>> from embedclf.stream import Int8Folder
    >>> Int8Folder("no/such/folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: no/such/folder: not an exported int8 model folder ...
    """

    def __init__(self, folder, *, partial_windows=True):
        self.partial_windows = bool(partial_windows)
        folder = os.fspath(folder)
        paths = {n: os.path.join(folder, n) for n in ("model.tflite", "report.json", "frontend.h")}
        missing = [n for n, p in paths.items() if not os.path.isfile(p)]
        if missing:
            raise ValueError(
                f"{folder}: not an exported int8 model folder (missing "
                f"{', '.join(missing)}); write one with `embedclf.distill.export`"
            )
        with open(paths["report.json"]) as fh:
            report = json.load(fh)
        with open(paths["frontend.h"]) as fh:
            self._c = parse_frontend_header(fh.read())
        from .distill.export import Int8Model

        with open(paths["model.tflite"], "rb") as fh:
            self._net = Int8Model(fh.read())
        c = self._c
        self.folder = folder
        self.classes_ = np.asarray(report["classes"], dtype=object)
        self.sr = int(c["EMBEDCLF_SAMPLE_RATE"])
        self.window = float(report["window_seconds"])
        self.hop = float(report["hop_seconds"])
        self.clip_pooling = str(report.get("clip_pooling", "mean"))
        n_fft, n_mels = int(c["EMBEDCLF_N_FFT"]), int(c["EMBEDCLF_N_MELS"])
        basis = np.zeros((n_mels, n_fft // 2 + 1), np.float64)
        pos = 0
        for b, (s, k) in enumerate(zip(c["kMelStart"], c["kMelCount"])):
            basis[b, int(s) : int(s) + int(k)] = c["kMelWeights"][pos : pos + int(k)]
            pos += int(k)
        self._basis = basis

    def get_params(self, deep=True):
        """``{"sr": ...}``: the rate :func:`~embedclf.pipelines.pipeline_sr` reports."""
        return {"sr": self.sr}

    def _features(self, y):
        c = self._c
        n_fft, hop = int(c["EMBEDCLF_N_FFT"]), int(c["EMBEDCLF_HOP_LENGTH"])
        y = np.asarray(y, np.float64)
        if int(c["EMBEDCLF_CENTER"]):
            y = np.pad(y, n_fft // 2)
        if len(y) < n_fft:
            y = np.pad(y, (0, n_fft - len(y)))
        frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]
        P = np.abs(np.fft.rfft(frames * c["kWindow"], axis=1)) ** float(c["EMBEDCLF_POWER"])
        amin = float(c["EMBEDCLF_AMIN"])
        ref = 10 * np.log10(max(float(c["EMBEDCLF_REF"]), amin))
        return 10 * np.log10(np.maximum(P @ self._basis.T, amin)) - ref

    def window_proba(self, y):
        """Int8 probabilities of each of one clip's windows, as the student windows it.

        Parameters
        ----------
        y : ndarray
            A mono waveform at ``sr``.

        Returns
        -------
        ndarray of shape (n_windows, n_classes)
            A trailing partial window (or a clip shorter than one window) is
            padded with the clip's quietest value, as the student pads it.

        Examples
        --------
        >>> from embedclf.stream import Int8Folder
        >>> Int8Folder.window_proba  # doctest: +ELLIPSIS
        <function Int8Folder.window_proba at ...>
        """
        c = self._c
        n, h = int(c["EMBEDCLF_WINDOW_FRAMES"]), int(c["EMBEDCLF_HOP_FRAMES"])
        top_db = float(c["EMBEDCLF_WINDOW_TOP_DB"])
        shape = tuple(self._net.input["shape"][1:])
        F = self._features(y).astype(np.float32)
        pad = "last" if self.partial_windows or len(F) < n else "none"
        W, _ = split_windows(F, n, h, pad=pad)
        if top_db > 0:
            W = windows_top_db_floor(W, top_db)
        W = (W - c["kMean"]) / c["kStd"]
        # windows are (frames, mels); the network takes (mels, frames, 1), as the device
        W = W.transpose(0, 2, 1)
        P = self._net.predict_windows(W.reshape((len(W),) + shape).astype(np.float32))
        return P.astype(np.float64)

    def predict_proba(self, X):
        """Int8 window probabilities of each clip, pooled as the student pools them.

        Parameters
        ----------
        X : sequence of ndarray
            Mono waveforms at ``sr``.

        Returns
        -------
        ndarray of shape (n_clips, n_classes)
        """
        out = []
        for y in X:
            P = self.window_proba(y)
            out.append(pool_windows(P, np.zeros(len(P), int), 1, self.clip_pooling)[0])
        return np.stack(out) if out else np.zeros((0, len(self.classes_)))


def parse_frontend_header(text):
    """The ``#define`` numbers and ``static const`` arrays of an exported ``frontend.h``.

    Parameters
    ----------
    text : str

    Returns
    -------
    dict
        Names to floats (defines) and float64 arrays (tables).

    Examples
    --------
    >>> from embedclf.stream import parse_frontend_header
    >>> h = "#define EMBEDCLF_N_FFT 512\\nstatic const float kMean[2] = {\\n  1.5f, -2f\\n};"
    >>> c = parse_frontend_header(h)
    >>> c["EMBEDCLF_N_FFT"], c["kMean"].tolist()
    (512.0, [1.5, -2.0])
    """
    import re

    out = {}
    for name, value in re.findall(r"#define\s+(EMBEDCLF_\w+)\s+([-+0-9.eE]+)f?\s*$", text, re.M):
        out[name] = float(value)
    for name, body in re.findall(
        r"static const (?:float|unsigned short) (\w+)\[[^\]]*\]\s*=\s*"
        r"\{([^}]*)\}",
        text,
    ):
        out[name] = np.array(
            [float(v.strip().rstrip("f")) for v in body.split(",") if v.strip()], np.float64
        )
    return out


def _needs_proba_message(model):
    from .pipelines import available_pipelines, make_pipeline

    able = []
    for name in available_pipelines():
        try:
            if hasattr(make_pipeline(name), "predict_proba"):
                able.append(name)
        except Exception:  # noqa: BLE001 - a pipeline that cannot be built here is not listed
            pass
    return (
        f"the model ({type(model).__name__}) gives no class probabilities (predict_proba), "
        "which live recognition scores windows with; pipelines ending in a probabilistic "
        f"classifier can: {', '.join(able)}"
    )


class Recognizer:
    """Scores and events from a stream of audio blocks, for any fitted clip classifier.

    Windows of ``window`` seconds start at exact sample positions
    ``k * hop`` (at the model's rate) and are scored by
    ``model.predict_proba`` in fixed groups of ``batch`` consecutive windows
    (window ``k`` in group ``k // batch``; by default each alone), so the
    scores do not depend on how the stream is cut into blocks, and they equal
    :func:`embedclf.predict.predict_table`'s rows with the same ``window``
    and ``hop`` on the same file. At :meth:`flush` the stream's tail is
    treated as ``predict_table`` treats it: when samples are left after the
    last full window, one shorter window from the next start to the end is
    scored (a stream shorter than one window gives one short window).

    Events (one at a time, as in TensorFlow's ``RecognizeCommands``): each
    window's scores are averaged with the previous ones over ``smoothing``
    seconds (``n_smooth = max(1, round(smoothing / hop))`` windows). An
    event starts when the top smoothed class is not a background label, its
    smoothed score reaches ``threshold`` and no event ended less than
    ``suppression`` seconds before (times of decision: the end of the
    window that decides, or of the last window in its ``batch``). It lasts
    while its smoothed score stays at or above ``threshold_off``
    (hysteresis) and is reported when it ends, if it lasted
    ``min_duration``. Each window stands for the ``min(hop, window)``
    seconds around its centre: the event's onset is the beginning of that
    span for the first window (in the averaging span that started it) whose
    own score reached ``threshold_off``, its offset the end of that span for
    the last such window.

    Parameters
    ----------
    model : fitted estimator with ``predict_proba`` and ``classes_``, or Int8Folder
    window : float, optional
        Seconds; default the model's own ``window`` (KerasCNN, Distiller,
        Int8Folder), else 1.0.
    hop : float, optional
        Seconds between window starts; default the model's own ``hop``, else
        ``window / 2``.
    smoothing : float, default=1.0
        Seconds of window scores averaged before deciding.
    threshold : float, default=0.5
        Smoothed score that starts an event.
    threshold_off : float, optional
        Smoothed score under which an event ends; default ``0.8 * threshold``.
    min_duration : float, default=0.0
        Shorter events are dropped (and start no suppression).
    suppression : float, default=0.5
        Seconds after an event's end is decided during which no new event starts.
    background : sequence of str, default=BACKGROUND_LABELS
        Labels never reported (compared as strings).
    sr : int, optional
        The model's rate; default :func:`~embedclf.pipelines.pipeline_sr` (for
        a Distiller: its teacher's).
    input_sr : int, optional
        The rate of the pushed samples; default ``sr``. Another rate is
        resampled as one stream (soxr's streaming resampler, so it does not
        depend on the block size) with one :class:`ResamplingWarning`.
    tail : bool, default=True
        Score the last, shorter window at :meth:`flush` (as ``predict_table``).
    history : bool, default=True
        Keep every window and event for :meth:`scores_table`,
        :meth:`events_table`, :attr:`windows` and :attr:`events` (a few numbers
        per window). ``False`` keeps nothing once returned.
    batch : int, default=1
        Windows per model call. A group is scored (and decided on) when its
        last window is complete, or at :meth:`flush`: a model whose calls
        cost more than their windows (BirdNET's interpreter) runs faster, and
        decisions wait up to ``batch - 1`` hops longer. Groups are fixed by
        window index, so any batch gives block-size-invariant scores.

    Attributes
    ----------
    classes_ : ndarray
    sr : int
    window_samples, hop_samples : int
    capacity : int
        Samples the audio buffer can hold: ``window_samples + hop_samples``
        (besides the at most ``batch - 1`` complete windows waiting for their group).
    buffered : int
        Samples it holds now; never more than ``capacity``.
    max_buffered : int
        The most it has held.
    n_samples : int
        Samples pushed so far (at the model's rate).

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.datasets import make_sound_events
    >>> from embedclf.pipelines import make_pipeline
    >>> from embedclf.stream import Recognizer
    >>> X, y, _ = make_sound_events(n_per_class=4, sr=16000)
    >>> rng = np.random.default_rng(0)
    >>> noise = [0.01 * rng.standard_normal(16000).astype(np.float32) for _ in range(4)]
    >>> model = make_pipeline("logmel-linear", mel__sr=16000).fit(
    ...     X + noise, list(y) + ["_background_"] * 4)
    >>> rec = Recognizer(model, window=1.0, hop=0.5)
    >>> quiet = 0.01 * rng.standard_normal(16000).astype(np.float32)
    >>> stream = np.concatenate([quiet, X[0], quiet, X[4], quiet])  # beep at 1 s, buzz at 4 s
    >>> for i in range(0, len(stream), 3000):  # blocks as they arrive
    ...     update = rec.push(stream[i:i + 3000])
    >>> last = rec.flush()
    >>> [(str(e.label), e.onset, e.offset) for e in rec.events]
    [('beep', 0.75, 2.75), ('buzz', 4.25, 5.25)]
    >>> len(rec.windows), rec.max_buffered <= rec.capacity
    (13, True)
    """

    def __init__(
        self,
        model,
        *,
        window=None,
        hop=None,
        smoothing=1.0,
        threshold=0.5,
        threshold_off=None,
        min_duration=0.0,
        suppression=0.5,
        background=BACKGROUND_LABELS,
        sr=None,
        input_sr=None,
        tail=True,
        history=True,
        batch=1,
    ):
        if not callable(getattr(model, "predict_proba", None)):
            raise ValueError(_needs_proba_message(model))
        if not hasattr(model, "classes_"):
            raise ValueError(
                f"the model ({type(model).__name__}) is not fitted (no classes_); fit it first"
            )
        self.model = model
        self.classes_ = np.asarray(model.classes_)
        if sr is None:  # a Distiller takes clips at its teacher's rate
            sr = pipeline_sr(model) or (
                pipeline_sr(model.teacher) if hasattr(model, "teacher") else None
            )
        self.sr = int(sr or 0)
        if self.sr <= 0:
            raise ValueError("cannot tell the model's sample rate; pass sr=")
        own = lambda name: getattr(model, name, None)  # noqa: E731
        window = (
            window if window is not None else (own("window") if _is_seconds(own("window")) else 1.0)
        )
        if hop is None:
            hop = own("hop") if _is_seconds(own("hop")) and window == own("window") else window / 2
        for name, value in (
            ("window", window),
            ("hop", hop),
            ("smoothing", smoothing),
            ("min_duration", min_duration),
            ("suppression", suppression),
        ):
            if not (_is_seconds(value) or (value == 0 and name not in ("window", "hop"))):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ValueError(f"batch must be a whole number of windows >= 1, got {batch!r}")
        threshold_off = 0.8 * threshold if threshold_off is None else threshold_off
        if not (0 <= threshold <= 1 and 0 <= threshold_off <= threshold):
            raise ValueError(
                f"need 0 <= threshold_off <= threshold <= 1, got threshold "
                f"{threshold!r} and threshold_off {threshold_off!r}"
            )
        self.window, self.hop = float(window), float(hop)
        self.window_samples = max(1, int(round(self.window * self.sr)))
        self.hop_samples = max(1, int(round(self.hop * self.sr)))
        self.smoothing, self.threshold, self.threshold_off = smoothing, threshold, threshold_off
        self.min_duration, self.suppression = float(min_duration), float(suppression)
        self.background = tuple(str(b) for b in (background or ()))
        self.n_smooth = max(1, int(round(self.smoothing / self.hop)))
        self.input_sr = None if input_sr is None else int(input_sr)
        self.tail, self.history, self.batch = bool(tail), bool(history), int(batch)
        # pushed audio goes in pieces of at most one hop: the buffer then never holds more
        # than the window still being filled plus one piece
        self.capacity = self.window_samples + self.hop_samples
        self.reset()

    def reset(self):
        """Forget the stream: the next push starts a new one at time 0.

        Returns
        -------
        self
        """
        self._buf = np.zeros(self.capacity, np.float32)
        self.buffered = 0
        self.max_buffered = 0
        self._buf_pos = 0  # stream position of _buf[0]
        self.n_samples = 0
        self._next = 0  # start sample of the next window
        self._n_windows = 0
        self._pending = []  # complete windows waiting for their group: (start, end, samples)
        self._recent = deque(maxlen=self.n_smooth)  # the last windows: the smoothing span
        self._active = None
        self._last_end_decided = -math.inf
        self._resampler = None
        self._resampling_checked = False
        self._finished = False
        self.windows, self.events = [], []
        return self

    # ---- audio in ----------------------------------------------------------------------
    def _samples(self, block):
        y = np.asarray(block)
        if y.ndim == 2:
            y = to_mono(y, "block")
        if y.ndim != 1:
            raise ValueError(
                f"a block must be 1-D samples (or samples x channels), got shape {y.shape}"
            )
        if y.dtype.kind in "iu":
            raise ValueError(
                f"a block must hold float samples in [-1, 1], got dtype {y.dtype}; "
                "scale integer PCM first (pcm_source does)"
            )
        if y.dtype.kind != "f":
            raise ValueError(f"a block must hold float samples, got dtype {y.dtype}")
        y = y.astype(np.float32, copy=False)
        if not np.isfinite(y).all():
            raise ValueError(f"a block holds NaN or infinity (after {self.n_samples} samples)")
        if not self._resampling_checked:
            self._resampling_checked = True
            if self.input_sr is not None and self.input_sr != self.sr:
                import soxr

                warnings.warn(
                    f"the audio is at {self.input_sr} Hz and the model takes "
                    f"{self.sr} Hz: resampling the stream",
                    ResamplingWarning,
                    stacklevel=3,
                )
                self._resampler = soxr.ResampleStream(
                    self.input_sr, self.sr, 1, dtype="float32", quality="HQ"
                )
        if self._resampler is not None:
            y = self._resampler.resample_chunk(y, last=False)
        return y

    def push(self, block):
        """Feed samples; get the windows scored and the events decided because of them.

        Parameters
        ----------
        block : array-like of shape (n,) or (n, channels)
            Float samples at ``input_sr`` (channels are mixed to mono).

        Returns
        -------
        Update
            ``windows`` (list of Window) and ``events`` (list of Event).
        """
        if self._finished:
            raise ValueError("the stream was flushed; call reset() to start a new one")
        return self._consume(self._samples(block))

    def _consume(self, y):
        windows, events = [], []
        for i in range(0, len(y), self.hop_samples):
            self._append(y[i : i + self.hop_samples])
            while self.n_samples >= self._next + self.window_samples:
                self._queue(self._next, self._next + self.window_samples)
                if len(self._pending) == self.batch:
                    self._score(windows, events)
        return Update(windows, events)

    def _append(self, piece):
        # drop what no window needs any more: everything before the next window's start
        drop = min(self.buffered, self._next - self._buf_pos)
        if drop > 0:
            self._buf[: self.buffered - drop] = self._buf[drop : self.buffered].copy()
            self.buffered -= drop
            self._buf_pos += drop
        if self.buffered == 0:  # a hop longer than the window skips samples
            skip = min(len(piece), max(0, self._next - self.n_samples))
            piece = piece[skip:]
            self._buf_pos = self.n_samples + skip
        if self.buffered + len(piece) > self.capacity:  # pragma: no cover - a broken invariant
            raise RuntimeError("internal error: the recognizer's audio buffer overflowed")
        self._buf[self.buffered : self.buffered + len(piece)] = piece
        self.buffered += len(piece)
        self.n_samples = self._buf_pos + self.buffered
        self.max_buffered = max(self.max_buffered, self.buffered)

    def flush(self):
        """End the stream: score the tail window, close an open event.

        Returns
        -------
        Update
        """
        if self._finished:
            return Update([], [])
        windows, events = [], []
        if self._resampler is not None:
            up = self._consume(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
            windows, events = up.windows, up.events
        if self.tail:
            starts = window_starts(self.n_samples, self.window_samples, self.hop_samples, "last")
            if len(starts) > self._n_windows:
                s = int(starts[-1])
                if s != self._next:  # pragma: no cover - a broken invariant
                    raise RuntimeError("internal error: the tail window is not the next one")
                self._queue(s, self.n_samples)
        if self._pending:  # the last, incomplete group (its composition: the stream's length)
            self._score(windows, events)
        if self._active is not None:
            self._close(self.n_samples / self.sr, events)
        self._finished = True
        return Update(windows, events)

    # ---- scores and events -------------------------------------------------------------
    def _queue(self, start, end):
        a = start - self._buf_pos
        self._pending.append((start, end, self._buf[a : a + (end - start)].copy()))
        self._next = start + self.hop_samples
        self._n_windows += 1

    def _score(self, windows, events):
        group, self._pending = self._pending, []
        P = np.asarray(self.model.predict_proba([w for _, _, w in group]), dtype=np.float64)
        now = group[-1][1] / self.sr  # the decisions are made once the group is scored
        for (start, end, _), scores in zip(group, P):
            recent = [w.scores for w in self._recent][1 - self.n_smooth :]
            smoothed = np.mean(np.stack((recent if self.n_smooth > 1 else []) + [scores]), axis=0)
            win = Window(start / self.sr, end / self.sr, scores, smoothed)
            self._recent.append(win)  # the smoothing span: the last n_smooth windows
            windows.append(win)
            if self.history:
                self.windows.append(win)
            self._decide(win, events, now)

    def _span(self, win):
        """The part of the stream a window stands for: ``min(hop, window)`` around its centre."""
        half = min(self.hop, win.end - win.start) / 2
        centre = (win.start + win.end) / 2
        return centre - half, centre + half

    def _decide(self, win, events, now):
        if self._active is not None:
            k = self._active["k"]
            if win.smoothed[k] >= self.threshold_off:
                self._active["score"] = max(self._active["score"], float(win.smoothed[k]))
                if win.scores[k] >= self.threshold_off:
                    self._active["offset"] = self._span(win)[1]
                return
            self._close(now, events)
        k = int(np.argmax(win.smoothed))
        if (
            str(self.classes_[k]) in self.background
            or win.smoothed[k] < self.threshold
            or now < self._last_end_decided + self.suppression
        ):
            return
        high = [w for w in self._recent if w.scores[k] >= self.threshold_off]
        first, last = (high[0], high[-1]) if high else (win, win)
        self._active = {
            "k": k,
            "onset": self._span(first)[0],
            "offset": self._span(last)[1],
            "score": float(win.smoothed[k]),
            "detected": now,
        }

    def _close(self, now, events):
        a, self._active = self._active, None
        if a["offset"] - a["onset"] + 1e-9 < self.min_duration:
            return
        ev = Event(self.classes_[a["k"]], a["onset"], a["offset"], a["score"], a["detected"], now)
        self._last_end_decided = now
        events.append(ev)
        if self.history:
            self.events.append(ev)

    @property
    def active(self):
        """The event under way as ``(label, onset, score so far)``, or None."""
        a = self._active
        return None if a is None else (self.classes_[a["k"]], a["onset"], a["score"])

    # ---- whole streams and tables ------------------------------------------------------
    def run(self, source):
        """Recognize a whole source: yields an Update per block, then the flush's.

        When the source fails mid-stream (a file cut short, a pipe that
        breaks), the stream still ends cleanly: the flush's Update is
        yielded with what was decided, then the source's error is raised.

        Parameters
        ----------
        source : iterable of blocks
            With an ``sr`` attribute (e.g. :class:`BlockSource`) that sets
            ``input_sr`` when it was not given.

        Yields
        ------
        Update
        """
        if self.input_sr is None and getattr(source, "sr", None) is not None:
            self.input_sr = int(source.sr)
        it = iter(source)
        while True:
            try:
                block = next(it)
            except StopIteration:
                break
            except Exception:
                yield self.flush()
                raise
            yield self.push(block)
        yield self.flush()

    def scores_table(self):
        """Every window's scores: ``start, end, prob_<class>...`` (needs ``history``).

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        rows = [
            {
                "start": w.start,
                "end": w.end,
                **{f"prob_{c}": float(p) for c, p in zip(self.classes_, w.scores)},
            }
            for w in self.windows
        ]
        return pd.DataFrame(rows, columns=["start", "end"] + [f"prob_{c}" for c in self.classes_])

    def events_table(self):
        """Every event: ``onset, offset, label, score, detected, decided`` (needs ``history``).

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        cols = ["onset", "offset", "label", "score", "detected", "decided"]
        return pd.DataFrame([e.as_dict() for e in self.events], columns=cols)


def _is_seconds(value):
    return (
        isinstance(value, (int, float, np.floating, np.integer))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


# ---- sources ---------------------------------------------------------------------------
class BlockSource:
    """An iterable of float32 blocks that knows their rate.

    Parameters
    ----------
    blocks : iterable of ndarray
    sr : int or None
    name : str, default="stream"

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.stream import BlockSource
    >>> src = BlockSource([np.zeros(3), np.ones(2)], 16000)
    >>> [len(b) for b in src], src.sr
    ([3, 2], 16000)
    """

    def __init__(self, blocks, sr, name="stream"):
        self.blocks, self.sr, self.name = blocks, None if sr is None else int(sr), name

    def __iter__(self):
        for block in self.blocks:
            yield np.asarray(block, dtype=np.float32)


def rechunk(blocks, size):
    """Re-cut an iterable of 1-D blocks into blocks of exactly ``size`` samples (the last shorter).

    Parameters
    ----------
    blocks : iterable of ndarray
    size : int

    Yields
    ------
    ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.stream import rechunk
    >>> [len(b) for b in rechunk([np.zeros(5), np.zeros(4)], 4)]
    [4, 4, 1]
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"block size must be >= 1 sample, got {size}")
    pending, held = [], 0
    for block in blocks:
        block = np.asarray(block)
        while len(block):
            take = min(size - held, len(block))
            pending.append(block[:take])
            held += take
            block = block[take:]
            if held == size:
                yield np.concatenate(pending)
                pending, held = [], 0
    if held:
        yield np.concatenate(pending)


def file_source(path, *, block=None):
    """An audio file read in blocks at its own rate (mono float32; bounded memory).

    Parameters
    ----------
    path : str or path-like
    block : int, optional
        Samples per block; default the decoder's own blocks.

    Returns
    -------
    BlockSource

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> from embedclf.stream import file_source
    >>> p = os.path.join(tempfile.mkdtemp(), "a.wav"); sf.write(p, np.zeros(1000), 8000)
    >>> src = file_source(p, block=300)
    >>> src.sr, [len(b) for b in src]
    (8000, [300, 300, 300, 100])
    """
    from .audio import audio_info

    path = os.fspath(path)
    sr = int(audio_info(path).samplerate)
    blocks = stream_audio(path)
    return BlockSource(rechunk(blocks, block) if block else blocks, sr, name=path)


def pcm_source(fh, sr, *, format="s16le", channels=1, block=4096):
    """Raw little-endian PCM from a binary stream (e.g. ``sys.stdin.buffer``).

    A stream that ends inside a sample frame ends with the whole frames read.

    Parameters
    ----------
    fh : binary file object
    sr : int
        The samples' rate.
    format : {"s16le", "f32le"}, default="s16le"
    channels : int, default=1
        Interleaved channels, mixed to mono.
    block : int, default=4096
        Sample frames per block.

    Returns
    -------
    BlockSource

    Examples
    --------
    >>> import io, numpy as np
    >>> from embedclf.stream import pcm_source
    >>> raw = (np.array([0, 16384, -32768], "<i2")).tobytes()
    >>> [b.tolist() for b in pcm_source(io.BytesIO(raw + b"x"), 8000, block=2)]
    [[0.0, 0.5], [-1.0]]
    """
    if format not in PCM_FORMATS:
        raise ValueError(f"unknown PCM format {format!r}; choose from {', '.join(PCM_FORMATS)}")
    if int(sr) < 1 or int(channels) < 1 or int(block) < 1:
        raise ValueError("sr, channels and block must be positive")
    dtype, scale = PCM_FORMATS[format]
    frame = np.dtype(dtype).itemsize * int(channels)

    # read1: what a pipe holds now (at most a block), so live audio is not held back
    read = getattr(fh, "read1", fh.read)

    def blocks():
        rest = b""
        while True:
            data = read(frame * int(block) - len(rest))
            if not data:
                return  # a partial frame left in `rest` is dropped
            data = rest + data
            whole = len(data) - len(data) % frame
            rest = data[whole:]
            if not whole:
                continue
            y = np.frombuffer(data[:whole], dtype=dtype).astype(np.float32) / np.float32(scale)
            if channels > 1:
                y = y.reshape(-1, channels).mean(axis=1, dtype=np.float32)
            if not np.isfinite(y).all():
                raise ValueError("the PCM stream holds NaN or infinity (is the format right?)")
            yield y

    return BlockSource(blocks(), sr, name="pcm")


def mic_source(sr, *, block=1024, device=None, duration=None, stream=None):
    """A microphone, through the optional ``sounddevice`` (``pip install 'embedclf[live]'``).

    Parameters
    ----------
    sr : int
    block : int, default=1024
        Samples per read.
    device : int or str, optional
        sounddevice's device; default the system's input.
    duration : float, optional
        Stop after this many seconds; default run until interrupted.
    stream : object, optional
        An already made input stream (``read(n) -> (data, overflowed)``, a
        context manager); used by tests instead of a real device.

    Returns
    -------
    BlockSource

    Raises
    ------
    OSError
        No microphone (or no PortAudio), when iteration starts.
    ImportError
        sounddevice is not installed.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.stream import mic_source
    >>> class Fake:
    ...     def __enter__(self): return self
    ...     def __exit__(self, *a): return False
    ...     def read(self, n): return np.zeros((n, 1), np.float32), False
    >>> [len(b) for b in mic_source(8000, block=400, duration=0.1, stream=Fake())]
    [400, 400]
    """
    total = None if duration is None else int(round(duration * sr))

    def open_stream():
        if stream is not None:
            return stream
        try:
            import sounddevice as sd
        except ImportError:
            raise ImportError(
                "listening to a microphone needs sounddevice: pip install 'embedclf[live]'"
            ) from None
        except OSError as err:  # the PortAudio library is missing
            raise OSError(f"no microphone: sounddevice cannot load PortAudio ({err})") from None
        try:
            return sd.InputStream(
                samplerate=sr, blocksize=block, device=device, channels=1, dtype="float32"
            )
        except Exception as err:  # noqa: BLE001 - PortAudioError, ValueError: no such device
            raise OSError(f"no microphone: {' '.join(str(err).split())}") from None

    def blocks():
        got = 0
        with open_stream() as s:
            while total is None or got < total:
                n = block if total is None else min(block, total - got)
                data, _overflowed = s.read(n)
                y = to_mono(np.asarray(data, np.float32), "microphone")
                got += len(y)
                yield y

    return BlockSource(blocks(), sr, name="microphone")


def iter_source(blocks, sr):
    """Any iterable of sample blocks at rate ``sr``.

    Parameters
    ----------
    blocks : iterable of array-like
    sr : int

    Returns
    -------
    BlockSource

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.stream import iter_source
    >>> iter_source(iter([np.zeros(4)]), 16000).sr
    16000
    """
    return BlockSource(blocks, sr, name="iterator")


# ---- plot ------------------------------------------------------------------------------
def plot_timeline(path, recognizer, spectrogram=None, reference=None):
    """Write a PNG: spectrogram, per-class scores over time and the events (atomically).

    Parameters
    ----------
    path : str or path-like
    recognizer : Recognizer
        After a stream, with ``history``.
    spectrogram : tuple (times, freqs, S_db), optional
        E.g. from a :class:`SpectrogramLog` fed the same audio.
    reference : sequence of (label, onset, offset), optional
        True events, drawn under the detected ones.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from embedclf.datasets import make_sound_events
    >>> from embedclf.pipelines import make_pipeline
    >>> from embedclf.stream import Recognizer, plot_timeline
    >>> X, y, _ = make_sound_events(n_per_class=3, sr=16000)
    >>> rec = Recognizer(make_pipeline("logmel-linear", mel__sr=16000).fit(X, y))
    >>> _ = list(rec.run([np.concatenate(X[:3])]))
    >>> p = os.path.join(tempfile.mkdtemp(), "t.png"); plot_timeline(p, rec)
    >>> os.path.getsize(p) > 0
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .files import atomic_write

    rows = 3 if spectrogram is not None else 2
    fig, axes = plt.subplots(rows, 1, figsize=(12, 2.4 * rows), sharex=True, squeeze=False)
    axes = axes[:, 0]
    ax = axes[0]
    if spectrogram is not None:
        t, f, S = spectrogram
        if len(t):
            ax.pcolormesh(t, f, S.T, shading="nearest", cmap="magma")
        ax.set_ylabel("Hz")
        ax = axes[1]
    centres = [(w.start + w.end) / 2 for w in recognizer.windows]
    colours = {}
    for k, c in enumerate(recognizer.classes_):
        if str(c) in recognizer.background:
            continue
        (line,) = ax.plot(centres, [w.smoothed[k] for w in recognizer.windows], label=str(c), lw=1)
        colours[str(c)] = line.get_color()
    ax.axhline(recognizer.threshold, color="k", ls="--", lw=0.8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("smoothed score")
    ax.legend(loc="upper right", fontsize="small", ncol=4)
    ev_ax = axes[-1]
    labels = [str(c) for c in recognizer.classes_ if str(c) not in recognizer.background]
    for lab, on, off in reference or ():
        if str(lab) in labels:
            ev_ax.barh(labels.index(str(lab)) - 0.3, off - on, left=on, height=0.15, color="k")
    for e in recognizer.events:
        y = labels.index(str(e.label)) if str(e.label) in labels else 0
        ev_ax.barh(
            y, e.offset - e.onset, left=e.onset, height=0.45, color=colours.get(str(e.label))
        )
    ev_ax.set_yticks(range(len(labels)), labels)
    ev_ax.set_xlabel("seconds")
    ev_ax.set_title("events" + (" (black: reference)" if reference else ""), fontsize="small")
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


class SpectrogramLog:
    """A coarse log-power spectrogram of a stream, frame by frame, for :func:`plot_timeline`.

    Non-overlapping frames of ``frame`` samples, their power spectra summed
    into ``bands`` equal-width bands, in dB. It holds one row per frame (a
    long stream grows it: ``bands`` floats per frame).

    Parameters
    ----------
    sr : int
    frame : int, default=1024
    bands : int, default=64

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.stream import SpectrogramLog
    >>> s = SpectrogramLog(8000, frame=256, bands=8)
    >>> s.push(np.ones(600)); t, f, S = s.result()
    >>> S.shape
    (2, 8)
    """

    def __init__(self, sr, frame=1024, bands=64):
        self.sr, self.frame, self.bands = int(sr), int(frame), int(bands)
        self._rest = np.zeros(0, np.float32)
        self._rows = []

    def push(self, block):
        """Add samples."""
        y = np.concatenate(
            [self._rest, np.asarray(block, np.float32).reshape(len(block), -1).mean(axis=1)]
        )
        n = len(y) // self.frame
        if n:
            F = y[: n * self.frame].reshape(n, self.frame) * np.hanning(self.frame)
            P = np.abs(np.fft.rfft(F, axis=1)) ** 2
            edges = np.linspace(0, P.shape[1], self.bands + 1).astype(int)
            B = np.add.reduceat(P, edges[:-1], axis=1)
            self._rows.append((10 * np.log10(np.maximum(B, 1e-10))).astype(np.float32))
        self._rest = y[n * self.frame :]

    def result(self):
        """``(times, freqs, S_db)``: frame centres (s), band centres (Hz), ``(n_frames, bands)``."""
        S = np.concatenate(self._rows) if self._rows else np.zeros((0, self.bands), np.float32)
        t = (np.arange(len(S)) + 0.5) * self.frame / self.sr
        f = (np.arange(self.bands) + 0.5) * (self.sr / 2) / self.bands
        return t, f, S
