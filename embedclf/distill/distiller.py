"""Distiller: train a tiny CNN student from any fitted teacher, window by window."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .._utils.validation import check_n_features, check_X, record_n_features
from ..audio import iter_clips, load_clips, resample
from ..exceptions import TeacherTargetsWarning  # re-exported
from ..models.augment import Augmenter, mix_clips
from ..models.cnn import KerasCNN, labels_1d
from ..models.windows import POOLINGS, resolve_clip_pooling
from ..recipe import RECIPE, parse_teacher_context
from ..sample_rate import estimator_sr

__all__ = [
    "Distiller",
    "mcu_frontend",
    "parse_teacher_context",
    "teacher_window_seconds",
    "pools_spread",
    "auto_teacher_context",
    "teacher_window_proba",
    "soften",
    "TeacherTargetsWarning",
    "TARGETS_WARN_SHARE",
]

#: windows of teacher audio built and predicted at a time
_TEACHER_BATCH = 256

#: ``fit`` warns (:class:`TeacherTargetsWarning`) when the teacher's window answers, averaged
#: per clip, are right on less than this share of the clips its whole-clip answers get right
TARGETS_WARN_SHARE = 0.9


def mcu_frontend():
    """The student's default frontend: what a Cortex-M4 computes in real time.

    16 kHz, 512-point FFT (32 ms Hann window), 20 ms hop, 40 mel bands,
    power in dB with a fixed floor (``amin``) and no clipping relative to the
    clip's loudest frame (``top_db=None``): a device that sees one window at
    a time computes exactly the same numbers.

    Returns
    -------
    LogMel

    Examples
    --------
    >>> from embedclf.distill import mcu_frontend
    >>> f = mcu_frontend()
    >>> f.sr, f.n_fft, f.hop_length, f.n_mels
    (16000, 512, 320, 40)
    """
    from ..features.logmel import LogMel

    return LogMel(sr=16000, n_fft=512, hop_length=320, n_mels=40, top_db=None)


def _unfrozen(teacher):
    """The estimator inside a ``FrozenEstimator``, else ``teacher`` itself."""
    try:
        from sklearn.frozen import FrozenEstimator
    except ImportError:  # scikit-learn < 1.6
        return teacher
    return teacher.estimator if isinstance(teacher, FrozenEstimator) else teacher


def _teacher_sr(teacher):
    return estimator_sr(_unfrozen(teacher))


def teacher_window_seconds(teacher):
    """The teacher's own analysis window in seconds, or None if it declares none.

    The longest window among the teacher and its steps: a pretrained
    embedding's ``window_seconds`` (BirdNET 3 s, OpenL3 1 s) or a
    :class:`~embedclf.models.KerasCNN`'s ``window``.

    Examples
    --------
    >>> from embedclf.distill.distiller import teacher_window_seconds
    >>> from embedclf.pipelines import make_pipeline
    >>> teacher_window_seconds(make_pipeline("birdnet-linear"))
    3.0
    >>> teacher_window_seconds(make_pipeline("logmel-linear")) is None
    True
    """
    from ..features.embeddings import PretrainedEmbedding

    parts = _teacher_parts(teacher)
    seconds = [float(p.window_seconds) for p in parts if isinstance(p, PretrainedEmbedding)]
    seconds += [float(p.window) for p in parts if isinstance(p, KerasCNN)]
    return max(seconds) if seconds else None


def _teacher_parts(teacher):
    """The teacher (unfrozen) and every estimator among its parameters."""
    teacher = _unfrozen(teacher)
    parts = [teacher]
    if hasattr(teacher, "get_params"):
        parts += list(teacher.get_params(deep=True).values())
    return parts


def pools_spread(teacher):
    """Whether the teacher pools its frames or windows with a spread statistic.

    True when one of its steps is a :class:`~embedclf.WindowAggregator`
    with ``"std"`` among its statistics or with frame differences: over a
    single window these are 0 whatever the audio, a value a teacher trained
    on clips of several windows never saw.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from embedclf import BirdNETEmbedding, WindowAggregator
    >>> from embedclf.distill.distiller import pools_spread
    >>> pools_spread(make_pipeline(BirdNETEmbedding(), WindowAggregator()))  # mean and std
    True
    >>> pools_spread(make_pipeline(BirdNETEmbedding(), WindowAggregator(stats=("mean", "max"))))
    False
    """
    from .._utils.deprecation import renamed_value
    from ..features.windows import WindowAggregator

    return any(
        isinstance(p, WindowAggregator)
        and ("std" in p.stats or bool(renamed_value(p, "deltas", "diffs")))
        for p in _teacher_parts(teacher)
    )


def auto_teacher_context(teacher, window):
    """What ``teacher_context="auto"`` lets the teacher hear around a student window.

    The teacher's own analysis window (:func:`teacher_window_seconds`) when
    it is longer than the student's ``window``; when the teacher also pools
    its windows with a spread statistic (:func:`pools_spread`), enough audio
    for two of its windows (its window plus its hop), so the statistic
    takes values like those it was trained on. Otherwise the student window
    alone (``None``).

    Parameters
    ----------
    teacher : estimator
    window : float
        The student's window in seconds.

    Returns
    -------
    float or None
        Seconds of audio centred on each student window, or None.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from embedclf import BirdNETEmbedding, WindowAggregator
    >>> from embedclf.distill.distiller import auto_teacher_context
    >>> def teacher(*stats):
    ...     return make_pipeline(BirdNETEmbedding(), WindowAggregator(stats=stats),
    ...                          LogisticRegression())
    >>> auto_teacher_context(teacher("mean", "max"), 1.0)  # BirdNET's own 3 s window
    3.0
    >>> auto_teacher_context(teacher("mean", "std"), 1.0)  # two windows: 3 s + its 3 s hop
    6.0
    """
    from .._utils.deprecation import renamed_value
    from ..features.embeddings import PretrainedEmbedding

    own = teacher_window_seconds(teacher)
    if own is None:
        return None
    if pools_spread(teacher):
        hops = [
            float(renamed_value(p, "hop_size", "hop"))
            for p in _teacher_parts(teacher)
            if isinstance(p, PretrainedEmbedding) and float(p.window_seconds) == own
        ]
        own += min(hops) if hops else own  # no embedding hop known: two windows end to end
    return own if own > window else None


def _check_teacher(teacher):
    """Raise a clear error unless ``teacher`` is a fitted classifier with ``predict_proba``."""
    if not hasattr(teacher, "predict_proba"):
        raise TypeError(
            f"the teacher ({type(teacher).__name__}) has no predict_proba: the distiller needs "
            "class probabilities (use a classifier such as LogisticRegression or KerasCNN)"
        )
    try:
        check_is_fitted(teacher)
        classes = teacher.classes_
    except (NotFittedError, AttributeError):
        raise NotFittedError(
            f"the teacher ({type(teacher).__name__}) is not fitted: fit it on labelled clips "
            "first (e.g. `embedclf train`), then distil it. Under clone() (cross-validation, "
            "grid search) wrap it as sklearn.frozen.FrozenEstimator(teacher) so it stays "
            "fitted"
        ) from None
    if _teacher_sr(teacher) is None:
        raise ValueError(
            "cannot tell the teacher's sample rate: it needs an `sr` parameter "
            "(on itself or its first step)"
        )
    return np.asarray(classes)


def _distillation_loss(n_classes, temperature, alpha):
    """Hinton et al. (2015) loss on ``[soft targets | one-hot labels | has-label]``.

    ``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(label, student)``;
    clips without a label get the KL term alone (at full weight).
    """
    from keras import ops

    k = n_classes

    def loss(targets, logits):
        soft, hard, has = targets[:, :k], targets[:, k : 2 * k], targets[:, 2 * k]
        log_p_t = ops.log_softmax(logits / temperature, axis=-1)
        kl = ops.sum(soft * (ops.log(ops.maximum(soft, 1e-8)) - log_p_t), axis=-1)
        ce = -ops.sum(hard * ops.log_softmax(logits, axis=-1), axis=-1)
        weight = ops.where(has > 0, alpha, 1.0)
        return weight * temperature**2 * kl + has * (1 - alpha) * ce

    return loss


def teacher_window_proba(
    teacher, waves, owner, starts, *, sr, frame_seconds, window_frames, context=None, n_classes=None
):
    """A teacher's probabilities for each student window.

    With ``context=None`` each window's audio (the span the student sees,
    padded with silence past the clip's end) is passed to the teacher as a
    clip. A number of seconds passes that much audio centred on the window
    instead (silence beyond the clip's ends); ``"clip"`` gives every window
    its whole clip's probabilities.

    Parameters
    ----------
    teacher : estimator
        Fitted, with ``predict_proba`` over clips at ``sr``.
    waves : sequence of ndarray
        The clips, at ``sr``.
    owner, starts : ndarray of shape (n_windows,)
        Clip and first frame of each student window (as
        :meth:`~embedclf.models.KerasCNN.fit_frontend` returns them).
    sr : int
        The teacher's sample rate.
    frame_seconds : float
        The student frontend's frame hop in seconds.
    window_frames : int
        The student window's length in frames.
    context : float, "clip" or None, default=None
    n_classes : int or None, default=None
        Columns of the (empty) result when there are no windows.

    Returns
    -------
    ndarray of shape (n_windows, n_classes), float64

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.distill.distiller import teacher_window_proba
    >>> class Loudness:  # a stand-in teacher: "loud" when the audio it hears is loud
    ...     def predict_proba(self, clips):
    ...         p = np.array([min(1.0, np.abs(c).mean()) for c in clips])
    ...         return np.stack([1 - p, p], axis=1)
    >>> wave = np.r_[np.zeros(100), np.ones(100)].astype(np.float32)
    >>> P = teacher_window_proba(Loudness(), [wave], [0, 0], [0, 10], sr=100,
    ...                          frame_seconds=0.1, window_frames=10)
    >>> P[:, 1].tolist()  # the first second is silent, the second loud
    [0.0, 1.0]
    >>> teacher_window_proba(Loudness(), [wave], [0, 0], [0, 10], sr=100, frame_seconds=0.1,
    ...                      window_frames=10, context="clip")[:, 1].tolist()
    [0.5, 0.5]
    """
    n = int(round(window_frames * frame_seconds * sr))  # the student window's span
    owner, starts = np.asarray(owner, dtype=int), np.asarray(starts)
    empty = np.zeros((0, n_classes or 0))
    if context == "clip":  # one question per clip
        clips = np.unique(owner)
        parts = [
            np.asarray(
                teacher.predict_proba([waves[c] for c in clips[b : b + _TEACHER_BATCH]]),
                dtype=np.float64,
            )
            for b in range(0, len(clips), _TEACHER_BATCH)
        ]
        P = np.concatenate(parts or [empty])
        return P[np.searchsorted(clips, owner)]
    span = n if context is None else int(round(context * sr))
    out = []
    for b in range(0, len(owner), _TEACHER_BATCH):  # bounded memory: one batch of audio
        pieces = []
        for clip, start in zip(owner[b : b + _TEACHER_BATCH], starts[b : b + _TEACHER_BATCH]):
            # centred on the student window; the window itself when span == n
            a = int(round(start * frame_seconds * sr)) + (n - span) // 2
            wave = waves[clip]
            piece = np.asarray(wave[max(a, 0) : max(a + span, 0)], dtype=np.float32)
            left = min(max(-a, 0), span)
            pieces.append(np.pad(piece, (left, span - left - len(piece))))
        out.append(np.asarray(teacher.predict_proba(pieces), dtype=np.float64))
    return np.concatenate(out) if out else empty


def soften(P, temperature):
    """Teacher probabilities at temperature ``T``: ``softmax(log(P) / T)``.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.distill.distiller import soften
    >>> soften(np.array([[0.9, 0.1]]), 2.0).round(3).tolist()
    [[0.75, 0.25]]
    """
    logp = np.log(np.maximum(np.asarray(P, np.float64), 1e-12)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


class Distiller(ClassifierMixin, BaseEstimator):
    """Train a tiny int8-ready CNN (the student) to imitate a fitted teacher.

    The teacher (any fitted classifier over clips with ``predict_proba``,
    e.g. a BirdNET, OpenL3 or CNN pipeline) labels every *analysis window*
    of the training clips with its probabilities; the student, a
    :class:`~embedclf.models.KerasCNN` on a microcontroller-friendly log-mel
    frontend, learns those soft targets (temperature-scaled KL divergence),
    plus the true labels when given. Clips without labels still teach.
    :func:`embedclf.distill.export` then writes the student for a
    microcontroller. The training defaults are those of the measured recipe,
    :data:`embedclf.distill.RECIPE`; ``RECIPE.distiller(teacher)`` applies it
    whole (also ``width=2`` and its augmenter), whose measurements are in the
    documentation's distillation results.

    Parameters
    ----------
    teacher : estimator
        Fitted, with ``predict_proba`` and ``classes_``, taking clips; its
        sample rate comes from its (or its first step's) ``sr``. ``clone``
        (used by cross-validation) unfits estimators, so to cross-validate a
        Distiller pass ``sklearn.frozen.FrozenEstimator(teacher)``.
    student : {"strided_ds", "ds_cnn", "sbcnn"} or callable, default="strided_ds"
        The student architecture (see :mod:`embedclf.models.architectures`).
    width : float, default=1.0
        Filter-count multiplier: the knob for flash, RAM and MACs (the
        recipe's is 2).
    frontend : LogMel or None, default=None
        The student's log-mel frontend; ``None`` means :func:`mcu_frontend`
        (16 kHz, 40 mels, 20 ms hop). Its parameters are exported.
    window, hop : float, default=1.0, 0.5
        Analysis window and hop in seconds (the student's input and the
        unit the teacher is asked about). ``hop`` is how often the device
        runs the student, so its compute per second of audio (the report's
        ``macs_per_second``) scales with ``1 / hop``.
    fit_hop : float or None, default=None
        Hop in seconds between the training windows the teacher labels; ``None`` means
        ``hop``. A shorter one teaches on more shifted views than the device
        runs (see :class:`~embedclf.models.KerasCNN`).
    window_top_db : float or None, default=80.0
        Clip each window to this many dB below its own maximum (exported;
        see :class:`~embedclf.models.KerasCNN`).
    teacher_context : "auto", float, "clip" or None, default="auto"
        How much audio the teacher hears when it labels a student window
        (the student still sees only its window): a number of seconds, that
        much audio centred on the window (silence beyond the clip's ends);
        ``None``, the window itself; ``"clip"``, the whole clip (every window
        of a clip gets the same targets); ``"auto"``, the teacher's own
        analysis window when it is longer than the student's (see
        :func:`teacher_window_seconds`; BirdNET: 3 s), and two of them when
        the teacher pools its windows with a spread such as ``std`` (BirdNET:
        6 s; :func:`auto_teacher_context`), else the window. A teacher built
        for longer windows labels a short window heard alone poorly, so
        hearing its own windows around it gives better targets. ``fit``
        measures how right those targets are (``teacher_*_accuracy_``) and
        warns (:class:`~embedclf.exceptions.TeacherTargetsWarning`) when they
        are far worse than the teacher's answers about whole clips.
    temperature : float, default=4.0
        Softens the teacher's window probabilities (``softmax(log(P) / T)``)
        and the student's logits alike, so the student also learns how the
        teacher ranks the wrong classes.
    alpha : float, default=0.5
        Weight of the distillation term against the label term.
    augment : Augmenter or None, default=None
        Augmented copies of the training clips, labelled by the teacher
        window by window (and with their clip's true label): the student
        sees more of what the teacher knows. Its ``mixup`` blends windows
        together with their soft targets and labels, and its SpecAugment
        masks (``freq_mask``, ``time_mask``) hide bands and frames of the
        student's windows (the teacher heard them whole). Only used in ``fit``.
    mix_copies : int, default=0
        Unlabelled mixtures per training clip: each clip with another random
        training clip at a random share (:func:`~embedclf.models.augment.mix_clips`).
        The teacher hears every mixture and labels its windows; the student
        learns those targets alone (no true label). Unlike window ``mixup``,
        whose targets are a straight line between two answers, the targets
        are the teacher's own answers to the overlapping sounds ("consistent
        teaching", Beyer et al. 2022). Each copy costs the teacher as much
        work as an augmented one.
    epochs, batch_size, learning_rate, lr_schedule, weight_decay, early_stopping, patience
        Training of the student, as in :class:`~embedclf.models.KerasCNN`.
        The defaults (120 epochs, cosine decay, no early stopping, so no
        clips are held back) are a long, patient training: the student
        learns from soft targets that change with every augmented copy and
        mask, and early stopping would end it before that pays off.
    clip_pooling : {"logmean", "mean", "vote"}, default="logmean"
        How the student pools a clip's window probabilities (exported; see
        :class:`~embedclf.models.KerasCNN`): by default their geometric mean,
        which favours the class every window finds likely over one confident
        window. Distillers pickled before this parameter existed keep ``"mean"``.
    aggregate : {"logmean", "mean", "vote"}, default="deprecated"
        The former name of ``clip_pooling``; when set it is used, with a
        FutureWarning. It will be removed in 0.4.
    random_state : int or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    student_ : KerasCNN
        The fitted student (``student_.model_`` is the Keras network).
    classes_ : ndarray
        The teacher's classes.
    teacher_sr_ : int
        Rate clips are read at for the teacher; in-memory waveforms passed
        to ``fit``/``predict`` must be at this rate (they are resampled for
        the student). Paths work for both.
    n_windows_fit_ : int
    n_labelled_ : int
        Training clips that had a label.
    teacher_context_ : float, "clip" or None
        What the teacher heard per window (``"auto"`` resolved).
    teacher_window_accuracy_ : float or None
        Share of the labelled training clips' windows (augmented copies
        aside) whose top class in the teacher's answer is their clip's
        label: how good the targets are, window by window. ``None`` without
        labels.
    teacher_averaged_accuracy_ : float or None
        Share of the labelled training clips whose windows' answers,
        averaged, name the clip's label: about what a student imitating the
        targets perfectly would score on them.
    teacher_clip_accuracy_ : float or None
        The teacher's accuracy on the same clips heard whole. ``fit`` warns
        (:class:`~embedclf.exceptions.TeacherTargetsWarning`) when
        ``teacher_averaged_accuracy_`` is below :data:`TARGETS_WARN_SHARE`
        times this.

    Examples
    --------
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from embedclf import LogMel, WindowAggregator
    >>> from embedclf.distill import Distiller
    >>> from embedclf.datasets import make_sound_events
    >>> X, y, _ = make_sound_events(n_per_class=6, sr=16000, duration=1.0, random_state=0)
    >>> teacher = Pipeline([("mel", LogMel(sr=16000)), ("agg", WindowAggregator()),
    ...                     ("clf", LogisticRegression(max_iter=1000))]).fit(X, y)
    >>> d = Distiller(teacher, epochs=2, random_state=0).fit(X, y)
    >>> d.predict_proba(X[:2]).shape
    (2, 5)
    """

    _parameter_constraints = {
        "teacher": [object],
        "student": [StrOptions({"sbcnn", "ds_cnn", "strided_ds"}), callable],
        "width": [Interval(Real, 0, None, closed="neither")],
        "frontend": [None, object],
        "window": [Interval(Real, 0, None, closed="neither")],
        "hop": [Interval(Real, 0, None, closed="neither")],
        "fit_hop": [Interval(Real, 0, None, closed="neither"), None],
        "window_top_db": [Interval(Real, 0, None, closed="neither"), None],
        "teacher_context": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto", "clip"}),
            None,
        ],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "patience": [Interval(Integral, 0, None, closed="left")],
        "augment": [Augmenter, None],
        "mix_copies": [Interval(Integral, 0, None, closed="left")],
        "clip_pooling": [StrOptions(set(POOLINGS))],
        "aggregate": [StrOptions(set(POOLINGS)), Hidden(StrOptions({"deprecated"}))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # the training defaults are the recipe's (one place: embedclf.distill.RECIPE); width and
    # augment keep lighter defaults of their own (RECIPE.distiller(teacher) applies it whole)
    def __init__(
        self,
        teacher,
        *,
        student=RECIPE.student,
        width=1.0,
        frontend=None,
        window=RECIPE.window,
        hop=RECIPE.hop,
        fit_hop=RECIPE.fit_hop,
        window_top_db=80.0,
        teacher_context=RECIPE.teacher_context,
        temperature=RECIPE.temperature,
        alpha=RECIPE.alpha,
        epochs=RECIPE.epochs,
        batch_size=32,
        learning_rate=3e-3,
        lr_schedule=RECIPE.lr_schedule,
        weight_decay=RECIPE.weight_decay,
        early_stopping=RECIPE.early_stopping,
        patience=8,
        augment=None,
        mix_copies=RECIPE.mix_copies,
        clip_pooling=RECIPE.clip_pooling,
        random_state=None,
        verbose=0,
        aggregate="deprecated",
    ):
        self.teacher = teacher
        self.student = student
        self.width = width
        self.frontend = frontend
        self.window = window
        self.hop = hop
        self.fit_hop = fit_hop
        self.window_top_db = window_top_db
        self.teacher_context = teacher_context
        self.temperature = temperature
        self.alpha = alpha
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.patience = patience
        self.augment = augment
        self.mix_copies = mix_copies
        self.clip_pooling = clip_pooling
        self.random_state = random_state
        self.verbose = verbose
        self.aggregate = aggregate

    def new_student(self):
        """The unfitted student :class:`~embedclf.models.KerasCNN` that ``fit`` trains.

        Its architecture, frontend, window geometry and training come from
        this Distiller's parameters (only the window transforms of
        ``augment`` reach it: the augmented copies are made here, for the
        teacher to hear).

        Returns
        -------
        KerasCNN

        Examples
        --------
        >>> from embedclf.distill import Distiller
        >>> student = Distiller(None, width=2.0, hop=0.25).new_student()
        >>> student.architecture, student.width, student.hop, student.sr
        ('strided_ds', 2.0, 0.25, 16000)
        """
        frontend = self.frontend if self.frontend is not None else mcu_frontend()
        windows = self.augment is not None and self.augment.acts_on_windows
        return KerasCNN(
            augment=self.augment.windows_only if windows else None,
            architecture=self.student,
            sr=frontend.sr,
            frontend=frontend,
            window=self.window,
            hop=self.hop,
            fit_hop=self.fit_hop,
            width=self.width,
            window_top_db=self.window_top_db,
            clip_pooling=resolve_clip_pooling(self.clip_pooling, self.aggregate),
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            lr_schedule=self.lr_schedule,
            weight_decay=self.weight_decay,
            early_stopping=self.early_stopping,
            patience=self.patience,
            random_state=self.random_state,
            verbose=self.verbose,
        )

    _new_student = new_student  # the name before it was public

    def _student_waves(self, waves):
        return [resample(w, self.teacher_sr_, self.student_.sr) for w in waves]

    def _teacher_waves(self, X):
        """Clips decoded (paths) or checked (arrays) at the teacher's rate, raising on bad ones."""
        return [w for _, _, w in iter_clips(X, self.teacher_sr_)]

    def _resolved_context(self):
        if self.teacher_context != "auto":
            return self.teacher_context
        window = (
            self.student_.window_frames_[0] * self.student_.frontend_.hop_length / self.student_.sr
        )
        return auto_teacher_context(self.teacher, window)

    def teacher_window_proba(self, waves, owner, starts):
        """The teacher's probabilities for each student window (teacher-rate waveforms).

        :func:`teacher_window_proba` with this fitted Distiller's teacher,
        rate, student window and :attr:`teacher_context_` (``"auto"``
        resolved).
        """
        return teacher_window_proba(
            self.teacher,
            waves,
            owner,
            starts,
            sr=self.teacher_sr_,
            frame_seconds=self.student_.frontend_.hop_length / self.student_.sr,
            window_frames=self.student_.window_frames_[0],
            context=self._resolved_context(),
            n_classes=len(self.classes_),
        )

    def fit(self, X, y=None):
        """Distil the teacher into the student on clips ``X`` (labels optional).

        Parameters
        ----------
        X : sequence of clips
            Paths, or waveforms at the teacher's sample rate.
        y : array-like of shape (n_clips,) or None
            True labels (from the teacher's classes); ``None`` entries, or
            ``y=None``, mark unlabelled clips.

        Returns
        -------
        self : Distiller
        """
        self._validate_params()
        if self.augment is not None:
            self.augment._validate_params()  # also when only its window transforms are used
        X = check_X(X)  # a generator is read once, here
        record_n_features(self, X)
        labels = None if y is None else self._check_labels(y)
        self.classes_ = _check_teacher(self.teacher)
        self.teacher_sr_ = int(_teacher_sr(self.teacher))
        loaded = load_clips(X, labels, sr=self.teacher_sr_)
        waves = loaded.clips
        if not waves:
            raise ValueError("no clips to distil on")
        k = len(self.classes_)
        hard = np.zeros((len(waves), k), np.float32)
        has = np.zeros(len(waves), np.float32)
        if labels is not None:
            index = {c: i for i, c in enumerate(self.classes_.tolist())}
            import pandas as pd

            for i, label in enumerate(loaded.y):
                if pd.isna(label):
                    continue
                if label not in index:
                    raise ValueError(
                        f"label {label!r} of clip {i} is not one of the teacher's "
                        f"classes {self.classes_.tolist()}"
                    )
                hard[i, index[label]] = 1.0
                has[i] = 1.0
        self.n_labelled_ = int(has.sum())

        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        rng = np.random.default_rng(seed)
        self.student_ = student = self.new_student()
        train, val = student.validation_split(np.zeros(len(waves), dtype=int), rng)
        big = [waves[i] for i in train]
        hard_train, has_train = hard[train], has[train]
        if self.augment is not None and self.augment.copies:
            # copies keep their clip's label; the teacher labels each of their windows
            big = big + self.augment.augment(big, self.teacher_sr_, rng)
            hard_train = np.concatenate([hard_train, np.repeat(hard_train, self.augment.copies, 0)])
            has_train = np.concatenate([has_train, np.repeat(has_train, self.augment.copies)])
        if self.mix_copies:
            # drawn after the augmented copies, so those stay as they were without mixtures
            n_mix = self.mix_copies * len(train)
            big = big + mix_clips([waves[i] for i in train], self.mix_copies, rng)
            hard_train = np.concatenate([hard_train, np.zeros((n_mix, k), np.float32)])
            has_train = np.concatenate([has_train, np.zeros(n_mix, np.float32)])
        small = self._student_waves(waves)
        small_train = [small[i] for i in train] + self._student_waves(big[len(train) :])
        Xw, owner, starts = student.fit_frontend(small_train)
        self.teacher_context_ = self._resolved_context()
        P = self.teacher_window_proba(big, owner, starts)
        self._measure_teacher([waves[i] for i in train], P, owner, hard_train, has_train)
        targets = self._targets_of(P, owner, hard_train, has_train)
        validation = None
        if len(val):
            Xv, ov, sv = student.windows([small[i] for i in val])
            validation = (Xv, self._targets([waves[i] for i in val], ov, sv, hard[val], has[val]))
        student.fit_windows(
            Xw,
            targets,
            classes=self.classes_,
            validation=validation,
            seed=seed,
            rng=rng,
            loss=_distillation_loss(k, self.temperature, self.alpha),
        )
        self.n_windows_fit_ = student.n_windows_fit_
        self.history_ = student.history_
        return self

    @staticmethod
    def _check_labels(y):
        """Labels as an object array; ``None`` (or NaN) marks an unlabelled clip."""
        import pandas as pd

        y = labels_1d(y, dtype=object)
        given = ~pd.isna(y).astype(bool)  # None, NaN, pd.NA, NaT: unlabelled
        if given.any():
            check_classification_targets(np.asarray(y[given].tolist()))
        return y

    def _targets(self, waves, owner, starts, hard, has):
        return self._targets_of(self.teacher_window_proba(waves, owner, starts), owner, hard, has)

    def _targets_of(self, P, owner, hard, has):
        soft = soften(P, self.temperature)
        return np.concatenate([soft, hard[owner], has[owner, None]], axis=1).astype(np.float32)

    def _measure_teacher(self, clips, P, owner, hard, has):
        """How right the teacher's window answers are on the labelled training ``clips``.

        ``P`` holds its answers for the windows of ``clips`` (then of any
        copies: those are not scored); sets the ``teacher_*_accuracy_``
        attributes and warns when the answers averaged per clip fall far below
        the teacher's answers about the same clips heard whole.
        """
        labelled = np.flatnonzero(has[: len(clips)] > 0)
        self.teacher_window_accuracy_ = None
        self.teacher_averaged_accuracy_ = None
        self.teacher_clip_accuracy_ = None
        if not len(labelled):
            return
        label = hard.argmax(axis=1)
        mine = np.isin(owner, labelled)
        self.teacher_window_accuracy_ = float(np.mean(P[mine].argmax(1) == label[owner[mine]]))
        sums = np.zeros((len(clips), P.shape[1]))
        np.add.at(sums, owner[mine], P[mine])
        self.teacher_averaged_accuracy_ = float(
            np.mean(sums[labelled].argmax(1) == label[labelled])
        )
        if self.teacher_context_ == "clip":  # each window's answer already is its clip's
            present, first = np.unique(owner, return_index=True)
            whole = P[first[np.searchsorted(present, labelled)]]
        else:
            whole = np.concatenate(
                [
                    np.asarray(
                        self.teacher.predict_proba(
                            [clips[i] for i in labelled[b : b + _TEACHER_BATCH]]
                        )
                    )
                    for b in range(0, len(labelled), _TEACHER_BATCH)
                ]
            )
        self.teacher_clip_accuracy_ = float(np.mean(whole.argmax(1) == label[labelled]))
        if self.teacher_averaged_accuracy_ < TARGETS_WARN_SHARE * self.teacher_clip_accuracy_:
            context = self.teacher_context_
            heard = (
                {None: "the window alone", "clip": "the whole clip"}[context]
                if context is None or context == "clip"
                else f"{context:g} s around it"
            )
            warnings.warn(
                f"the teacher's answers about the student's windows (hearing {heard}), "
                f"averaged per clip, name the label of {self.teacher_averaged_accuracy_:.0%} "
                f"of the labelled training clips, against {self.teacher_clip_accuracy_:.0%} "
                "when it hears the clips whole: the student learns from poor targets. Let "
                "the teacher hear more around each window (teacher_context=SECONDS spanning "
                "several of its own analysis windows, or teacher_context='clip'), or pool the "
                "teacher's windows with statistics one window gives in range (mean, max) "
                "rather than spreads (std, differences)",
                TeacherTargetsWarning,
                stacklevel=3,
            )

    def student_waves(self, X):
        """Clips as the student hears them: read as in ``fit``, at the teacher's rate, resampled.

        Parameters
        ----------
        X : sequence of clips
            Paths or waveforms at the teacher's rate.

        Returns
        -------
        list of ndarray of shape (n_samples,), float32
            Mono waveforms at the student's rate (``student_.sr``).

        Examples
        --------
        >>> import numpy as np
        >>> from embedclf.distill import Distiller
        >>> from embedclf.datasets import make_sound_events
        >>> from embedclf.pipelines import make_pipeline
        >>> X, y, _ = make_sound_events(n_per_class=4, sr=16000, duration=1.0, random_state=0)
        >>> teacher = make_pipeline("logmel-linear", mel__sr=16000).fit(X, y)
        >>> student = Distiller(teacher, epochs=1, random_state=0).fit(X, y)
        >>> [len(w) for w in student.student_waves(X[:2])]
        [16000, 16000]
        """
        return self._student_waves(self._teacher_waves(X))

    def windows(self, X):
        """The student's input windows of clips, read as ``fit`` reads them.

        Clips are read at the teacher's rate, resampled to the student's and
        cut into its windows (:meth:`KerasCNN.windows
        <embedclf.models.KerasCNN.windows>`).

        Parameters
        ----------
        X : sequence of clips
            Paths, or waveforms at the teacher's sample rate.

        Returns
        -------
        windows : ndarray of shape (n_windows, *student_.input_shape_), float32
        owner : ndarray of shape (n_windows,)
        starts : ndarray of shape (n_windows,)

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.pipeline import Pipeline
        >>> from sklearn.linear_model import LogisticRegression
        >>> from embedclf import LogMel, WindowAggregator
        >>> from embedclf.distill import Distiller
        >>> from embedclf.datasets import make_sound_events
        >>> X, y, _ = make_sound_events(n_per_class=4, sr=22050, duration=1.0, random_state=0)
        >>> teacher = Pipeline([("mel", LogMel()), ("agg", WindowAggregator()),
        ...                     ("clf", LogisticRegression(max_iter=1000))]).fit(X, y)
        >>> d = Distiller(teacher, epochs=1, random_state=0).fit(X, y)  # 22.05 kHz teacher
        >>> W, owner, starts = d.windows(X[:1])  # read at 22.05 kHz, seen at 16 kHz
        >>> owner.tolist(), starts.tolist(), W.shape[1:] == d.student_.input_shape_
        ([0, 0], [0, 25], True)
        >>> from embedclf.models.windows import pool_windows  # what predict_proba does
        >>> P = pool_windows(d.student_.window_proba(W), owner, 1, d.clip_pooling)
        >>> bool(np.allclose(P, d.predict_proba(X[:1])))
        True
        """
        check_is_fitted(self, "student_")
        return self.student_.windows(self.student_waves(X))

    def predict_proba(self, X):
        """The student's clip probabilities.

        Parameters
        ----------
        X : sequence of clips
            Paths, or waveforms at the teacher's sample rate.

        Returns
        -------
        ndarray of shape (n_clips, n_classes)
        """
        check_is_fitted(self, "student_")
        X = check_X(X)
        check_n_features(self, X)
        return self.student_.predict_proba(self.student_waves(X))

    def predict(self, X):
        """The student's predicted class of each clip.

        Parameters
        ----------
        X : sequence of clips

        Returns
        -------
        ndarray of shape (n_clips,)
        """
        P = self.predict_proba(X)  # first: raises NotFittedError before fit
        return self.classes_[P.argmax(axis=1)]

    def __setstate__(self, state):
        state = dict(state)
        if "clip_pooling" not in state:  # pickled before the rename: ``aggregate`` was it
            state["clip_pooling"] = state.get("aggregate", "mean")  # before it existed: mean
            state["aggregate"] = "deprecated"
        state.setdefault("mix_copies", 0)
        state.setdefault("weight_decay", 0.0)
        state.setdefault("fit_hop", None)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags
