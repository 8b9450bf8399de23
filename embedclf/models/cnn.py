"""KerasCNN: a small spectrogram CNN as a scikit-learn classifier over clips."""

from __future__ import annotations

import os
import random
import tempfile
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .._utils.validation import check_n_features, check_X, record_n_features
from ..audio import iter_clips, load_clips, skipped_columns, skipped_from_columns
from .architectures import get_architecture
from .augment import Augmenter
from .windows import (
    POOLINGS,
    pool_windows,
    resolve_clip_pooling,
    spectrogram_windows,
    stream_spectrogram_windows,
    window_frames,
)

__all__ = ["KerasCNN", "default_frontend", "long_training"]

#: clips featurised per batch at prediction time (bounds memory)
_PREDICT_CLIPS = 64
#: windows per network call at prediction time
_PREDICT_BATCH = 256
#: at most this many training steps run eagerly instead of through a traced graph
_EAGER_STEPS = 100


def default_frontend(sr=22050):
    """The log-mel frontend KerasCNN uses unless given another.

    40 mel bands, 1024-sample FFT and hop (46 ms at 22.05 kHz), in dB: a
    small input that trains quickly.

    Parameters
    ----------
    sr : int, default=22050

    Returns
    -------
    LogMel

    Examples
    --------
    >>> from embedclf.models.cnn import default_frontend
    >>> default_frontend(16000).n_mels
    40
    """
    from ..features.logmel import LogMel

    return LogMel(sr=sr, n_fft=1024, hop_length=1024, n_mels=40)


def long_training():
    """KerasCNN parameters for long training: for datasets of a few dozen clips per class or more.

    60 epochs with the learning rate on a cosine decay, mixup (0.3) and
    SpecAugment masks (15% of bands and of frames) on the training windows,
    no early stopping. Each epoch costs what a default one does (no waveform
    copies), so a fit takes about 2x the default's. Compared with the
    defaults on ESC-10 and FSDD, it is ahead with whole training folds and
    behind with 8 clips per class (``docs/results/accuracy.md``), so the
    defaults stay as they are and this is the ``cnn-long`` pipeline.

    Returns
    -------
    dict
        New on every call (the Augmenter is not shared): pass it as
        ``KerasCNN(**long_training())`` or to ``set_params``.

    Examples
    --------
    >>> from embedclf.models import KerasCNN
    >>> from embedclf.models.cnn import long_training
    >>> cnn = KerasCNN(sr=16000, **long_training())
    >>> cnn.epochs, cnn.lr_schedule, cnn.early_stopping, cnn.augment.mixup
    (60, 'cosine', False, 0.3)
    """
    return dict(
        epochs=60,
        lr_schedule="cosine",
        early_stopping=False,
        augment=Augmenter(copies=0, mixup=0.3, freq_mask=0.15, time_mask=0.15),
    )


@contextmanager
def _seeded(seed):
    """Seed Python, NumPy and TensorFlow for one fit, then give the global
    generators back: Python's and NumPy's state exactly, and TensorFlow's
    global seed (TensorFlow offers no way to restore its op-seed counter, so
    a seeded caller's next TF draws restart from that seed)."""
    import keras
    import tensorflow as tf

    py_state, np_state = random.getstate(), np.random.get_state()
    tf_seed = tf.compat.v1.random.get_seed(None)[0]
    keras.utils.set_random_seed(int(seed))
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        tf.random.set_seed(tf_seed)


def _model_to_bytes(model):
    """A Keras model as the bytes of its ``.keras`` file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as fh:
            return fh.read()


def _model_from_bytes(data):
    """The inverse of :func:`_model_to_bytes`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as fh:
            fh.write(data)
        # safe_mode: a Lambda layer's code in the file is refused, never run
        return keras.saving.load_model(path, compile=False, safe_mode=True)


def labels_1d(y, dtype=None):
    """One label per clip: a column vector is accepted with sklearn's warning, other shapes not.

    Examples
    --------
    >>> from embedclf.models.cnn import labels_1d
    >>> labels_1d(["a", "b"]).tolist()
    ['a', 'b']
    """
    y = np.asarray(y, dtype=dtype)
    if y.ndim == 2 and y.shape[1] == 1:
        return column_or_1d(y, warn=True)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per clip), got shape {y.shape}")
    return y


def _epoch_progress(epochs, desc):
    """A Keras callback showing one tqdm step per epoch with the losses."""
    import keras
    from tqdm.auto import tqdm

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc=desc, unit="epoch")

        def on_epoch_end(self, epoch, logs=None):
            self.bar.set_postfix(
                {
                    k: f"{v:.3f}"
                    for k, v in (logs or {}).items()
                    if k in ("loss", "accuracy", "val_loss", "val_accuracy")
                }
            )
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return EpochProgress()


def _batches(X, Y, W, batch_size, augment, rng):
    """Batches for one epoch: shuffled; mixed up and masked as ``augment`` (or None) says."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.order = rng.permutation(len(X))

        def __len__(self):
            return int(np.ceil(len(X) / batch_size))

        def __getitem__(self, i):
            idx = self.order[i * batch_size : (i + 1) * batch_size]
            xb, yb = X[idx], Y[idx]
            if augment is not None:
                xb, yb = augment.augment_windows(xb, yb, rng)
            return (xb, yb) if W is None else (xb, yb, W[idx])

        def on_epoch_end(self):
            self.order = rng.permutation(len(X))

    return Batches()


class KerasCNN(ClassifierMixin, BaseEstimator):
    """A small CNN on log-mel analysis windows, predicting clips.

    Each clip becomes log-mel windows of ``window`` seconds every ``hop``
    seconds; the network is trained on windows labelled with their clip's
    label and predicts a clip by averaging its windows' probabilities
    (``clip_pooling="mean"``), their log-probabilities or by majority vote. Clips shorter than one
    window are padded with silence (one window); a silent clip gives a
    finite prediction.

    Parameters
    ----------
    architecture : {"sbcnn", "ds_cnn", "strided_ds"} or callable, default="sbcnn"
        A name from :mod:`embedclf.models.architectures`, or a callable
        ``f(input_shape, n_classes, *, width, seed) -> keras.Model`` ending in
        a softmax.
    sr : int, default=22050
        Sample rate clips are read (and resampled) at.
    frontend : LogMel or None, default=None
        The log-mel step (its ``sr`` is set to ``sr``); ``None`` means
        :func:`default_frontend`.
    window : float, default=1.0
        Analysis window in seconds.
    hop : float, default=0.5
        Hop between windows in seconds (``window - hop`` is the overlap) when
        predicting: the rate a device runs the network at, so the compute per
        second of audio scales with ``1 / hop``.
    fit_hop : float or None, default=None
        Hop between training windows in seconds; ``None`` means ``hop``. A shorter one
        trains on more shifted views of each clip than the device will run
        (e.g. ``fit_hop=0.5, hop=1.0``: twice the training windows, half the
        compute per second).
    width : float, default=1.0
        Multiplies the architecture's filter counts.
    window_top_db : float or None, default=None
        Clip each window's log-mel to this many dB below the window's own
        maximum (level-robust like the frontend's ``top_db``, but computable
        on a device that holds one window; the distiller's students use 80).
    clip_pooling : {"mean", "logmean", "vote"}, default="mean"
        How a clip's window probabilities become its probabilities: their
        mean; ``"logmean"``, their geometric mean renormalised (each window
        floored at 1/512, so one window can make a class unlikely but not
        impossible); ``"vote"``, each class's share of the windows' answers.
    threshold : float or None, default=None
        When set, ``predict`` returns ``unknown_label`` for clips whose top
        aggregated probability is below it.
    unknown_label : str or number, default="unknown"
        Must be of the labels' type (e.g. ``-1`` for integer labels) and
        not a class itself.
    epochs : int, default=40
    batch_size : int, default=32
    learning_rate : float, default=3e-3
        Adam's learning rate.
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` decays the learning rate along a half cosine over all
        ``epochs`` to 1% of ``learning_rate`` (Loshchilov & Hutter 2017);
        it pays off in long runs without early stopping (with strong
        augmentation, the distiller's students gained several points).
    weight_decay : float, default=0.0
        Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): each step
        shrinks the kernels by ``weight_decay`` times the learning rate; biases
        and batch-norm scales and offsets are left alone. 0 trains with Adam.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the clips (whole clips, so no
        window of a validation clip is trained on; stratified when every
        class has two clips), stop when the validation loss has not
        improved for ``patience`` epochs (never within the first ``patience``
        epochs), and keep the best epoch's weights.
    validation_fraction : float, default=0.1
    patience : int, default=8
    class_weight : "balanced", dict or None, default=None
        Weights per class for the window loss.
    augment : Augmenter or None, default=None
        Waveform augmentation of the training clips (and mixup and
        SpecAugment masks of windows, drawn anew each epoch);
        only ever applied in ``fit``.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, dropout, shuffling, the validation split and
        augmentation: two fits with the same int give the same model on CPU
        with the same number of TensorFlow threads (``tf.config.threading``;
        another count sums in another order, so the models drift apart).
    verbose : int, default=0
        0 silent; 1 a progress bar per epoch; 2 also Keras's own log lines.
    callbacks : list of keras.callbacks.Callback or None, default=None
        Passed to ``keras.Model.fit`` (e.g. ``TensorBoard``).
    on_error : {"raise", "skip"}, default="raise"
        Unreadable clips in ``fit``: stop naming the file, or leave the clip
        and its label out (listed in ``skipped_``). Prediction always raises
        on a bad clip, so outputs stay aligned with the input rows (use
        :func:`embedclf.predict.predict_table` for a per-file report).
    aggregate : {"mean", "logmean", "vote"}, default="deprecated"
        The former name of ``clip_pooling``; when set it is used, with a
        FutureWarning. It will be removed in 0.4.

    Attributes
    ----------
    classes_ : ndarray
    model_ : keras.Model
        The trained network (pickled as the bytes of a ``.keras`` file).
    frontend_ : LogMel
        The fitted frontend.
    feature_mean_, feature_std_ : ndarray of shape (n_mels,)
        Per-band standardisation learnt from the training windows.
    input_shape_ : tuple
        ``(n_mels, n_frames, 1)``.
    window_frames_ : tuple of int
        Window length and (prediction) hop in frames.
    history_ : dict of str to list
        Loss (and validation loss) per epoch.
    n_epochs_ : int
        Epochs run (fewer than ``epochs`` when stopped early).
    n_windows_fit_ : int
        Training windows, augmented copies included.
    skipped_ : pandas.DataFrame
        Clips left out by ``on_error="skip"``.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf import KerasCNN
    >>> from embedclf.datasets import make_sound_events
    >>> X, y, _ = make_sound_events(n_per_class=6, sr=8000, duration=1.0, random_state=0)
    >>> cnn = KerasCNN(architecture="strided_ds", sr=8000, epochs=2, random_state=0)
    >>> cnn.fit(X, y).predict_proba(X[:2]).shape
    (2, 5)
    """

    _parameter_constraints = {
        "architecture": [StrOptions({"sbcnn", "ds_cnn", "strided_ds"}), callable],
        "sr": [Interval(Integral, 1, None, closed="left")],
        "frontend": [None, object],
        "window": [Interval(Real, 0, None, closed="neither")],
        "hop": [Interval(Real, 0, None, closed="neither")],
        "fit_hop": [Interval(Real, 0, None, closed="neither"), None],
        "width": [Interval(Real, 0, None, closed="neither")],
        "window_top_db": [Interval(Real, 0, None, closed="neither"), None],
        "clip_pooling": [StrOptions(set(POOLINGS))],
        "aggregate": [StrOptions(set(POOLINGS)), Hidden(StrOptions({"deprecated"}))],
        "threshold": [Interval(Real, 0, 1, closed="both"), None],
        "unknown_label": "no_validation",
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "augment": [Augmenter, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "on_error": [StrOptions({"raise", "skip"})],
    }

    def __init__(
        self,
        *,
        architecture="sbcnn",
        sr=22050,
        frontend=None,
        window=1.0,
        hop=0.5,
        fit_hop=None,
        width=1.0,
        window_top_db=None,
        clip_pooling="mean",
        threshold=None,
        unknown_label="unknown",
        epochs=40,
        batch_size=32,
        learning_rate=3e-3,
        lr_schedule="constant",
        weight_decay=0.0,
        early_stopping=True,
        validation_fraction=0.1,
        patience=8,
        class_weight=None,
        augment=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        on_error="raise",
        aggregate="deprecated",
    ):
        self.architecture = architecture
        self.sr = sr
        self.frontend = frontend
        self.window = window
        self.hop = hop
        self.fit_hop = fit_hop
        self.width = width
        self.window_top_db = window_top_db
        self.clip_pooling = clip_pooling
        self.threshold = threshold
        self.unknown_label = unknown_label
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.augment = augment
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.on_error = on_error
        self.aggregate = aggregate

    # ------------------------------------------------------------------ fit
    def fit(self, X, y):
        """Train on clips ``X`` with labels ``y``.

        Parameters
        ----------
        X : sequence of clips
            Paths, waveforms, or a 2-D array of mono waveforms.
        y : array-like of shape (n_clips,)

        Returns
        -------
        self : KerasCNN
        """
        self._validate_params()
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        X = check_X(X)  # a generator is read once, here
        record_n_features(self, X)
        if y is None:
            raise ValueError("KerasCNN requires y to be passed, but the target y is None")
        y = labels_1d(y)
        check_classification_targets(y)
        loaded = load_clips(X, y, sr=self.sr, on_error=self.on_error)
        self.skipped_ = loaded.skipped
        waves, y = loaded.clips, loaded.y
        if not waves:
            raise ValueError("no readable clips to fit on")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        self._check_unknown_label()
        rs = check_random_state(self.random_state)
        seed = int(rs.randint(2**31 - 1))
        rng = np.random.default_rng(seed)

        train, val = self.validation_split(y_idx, rng)
        train_waves = [waves[i] for i in train]
        train_y = y_idx[train]
        if self.augment is not None:
            self.augment._validate_params()  # also when only its window transforms are used
        if self.augment is not None and self.augment.copies:
            extra = self.augment.augment(train_waves, self.sr, rng)
            train_y = np.concatenate([train_y, np.repeat(train_y, self.augment.copies)])
            train_waves = train_waves + extra

        Xw, owner, _ = self.fit_frontend(train_waves)
        n_classes = len(self.classes_)
        Yw = np.eye(n_classes, dtype=np.float32)[train_y[owner]]
        validation = None
        if len(val):
            Xv, ov, _ = self._windows([waves[i] for i in val])
            validation = (Xv, np.eye(n_classes, dtype=np.float32)[y_idx[val][ov]])
        weights = self._window_weights(train_y[owner], n_classes)
        return self.fit_windows(
            Xw,
            Yw,
            classes=self.classes_,
            sample_weight=weights,
            validation=validation,
            seed=seed,
            rng=rng,
        )

    # ------------------------------------------------- training on windows
    def validation_split(self, y_idx, rng):
        """Clip indices for training and for early-stopping validation.

        Whole clips are held out, so no window of a validation clip is trained
        on: ``validation_fraction`` of them when ``early_stopping`` is set
        (stratified by ``y_idx`` when every class has two clips on each
        side), none otherwise.

        Parameters
        ----------
        y_idx : ndarray of int, shape (n_clips,)
            Class index of each clip; all zeros for a split that ignores
            classes (e.g. clips labelled by a teacher).
        rng : numpy.random.Generator
            Draws the split.

        Returns
        -------
        train, val : ndarray of int
            Sorted clip indices.

        Examples
        --------
        >>> import numpy as np
        >>> from embedclf import KerasCNN
        >>> cnn = KerasCNN(validation_fraction=0.25)
        >>> train, val = cnn.validation_split(np.zeros(8, int), np.random.default_rng(0))
        >>> len(train), len(val), sorted(set(train) | set(val)) == list(range(8))
        (6, 2, True)
        """
        n = len(y_idx)
        idx = np.arange(n)
        if not self.early_stopping:
            return idx, idx[:0]
        n_val = int(round(self.validation_fraction * n))
        if n_val < 1 or n - n_val < 1:
            return idx, idx[:0]
        counts = np.bincount(y_idx)
        if counts.min() >= 2 and n_val >= len(counts) and n - n_val >= len(counts):
            from sklearn.model_selection import train_test_split

            train, val = train_test_split(
                idx, test_size=n_val, stratify=y_idx, random_state=int(rng.integers(2**31 - 1))
            )
            return np.sort(train), np.sort(val)
        perm = rng.permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def fit_frontend(self, waves):
        """Fit the frontend and the per-band standardisation on training clips.

        The first step of training on windows (:meth:`fit_windows`): it fixes
        ``frontend_``, ``window_frames_``, ``feature_mean_``, ``feature_std_``
        and ``input_shape_``, and returns the training windows (every
        ``fit_hop`` seconds, see :meth:`training_hop`).

        Parameters
        ----------
        waves : sequence of ndarray
            Training waveforms at ``sr`` (augmented copies included).

        Returns
        -------
        windows : ndarray of shape (n_windows, n_mels, n_frames, 1), float32
            Standardised network input.
        owner : ndarray of shape (n_windows,)
            Index of the clip each window comes from.
        starts : ndarray of shape (n_windows,)
            First frame of each window in its clip.

        Examples
        --------
        >>> import numpy as np
        >>> from embedclf import KerasCNN
        >>> cnn = KerasCNN(sr=8000, window=0.5, hop=0.25)
        >>> W, owner, starts = cnn.fit_frontend([np.zeros(8000, np.float32)])
        >>> W.shape == (len(owner), *cnn.input_shape_), owner.tolist()
        (True, [0, 0, 0])
        """
        self._validate_params()
        frontend = clone(self.frontend) if self.frontend is not None else default_frontend()
        self.frontend_ = frontend.set_params(sr=self.sr).fit(waves[:1])
        self.window_frames_ = window_frames(self.frontend_, self.window, self.hop)
        W, owner, starts = spectrogram_windows(
            self.frontend_,
            waves,
            *window_frames(self.frontend_, self.window, self.training_hop()),
            top_db=self.window_top_db,
        )
        self.feature_mean_ = W.mean(axis=(0, 2, 3)).astype(np.float32)
        self.feature_std_ = np.maximum(W.std(axis=(0, 2, 3)), 1.0).astype(np.float32)
        self.input_shape_ = tuple(int(d) for d in W.shape[1:])
        self.n_windows_fit_ = len(W)
        return self._standardize(W), owner, starts

    def fit_windows(
        self,
        windows,
        targets,
        *,
        classes,
        loss=None,
        validation=None,
        sample_weight=None,
        seed=None,
        rng=None,
    ):
        """Train a new network on precomputed windows and (soft) targets.

        The seam for training on something other than one label per clip,
        e.g. a teacher's probabilities per window (the distiller). Call
        :meth:`fit_frontend` first: it fixes the input the windows must be
        (standardised log-mel windows, as it returns them).

        Parameters
        ----------
        windows : ndarray of shape (n_windows, *input_shape_)
        targets : ndarray of shape (n_windows, ...)
            Per window: class probabilities (rows summing to 1, shape
            ``(n_windows, n_classes)``) for the default loss, or whatever
            ``loss`` reads.
        classes : array-like of shape (n_classes,)
            The class of each network output; becomes ``classes_``.
        loss : callable or None, default=None
            ``loss(targets, logits) -> per-window loss``; the network is then
            trained through its logits (the input of its final softmax).
            ``None``: cross-entropy between ``targets`` and the network's
            probabilities.
        validation : (windows, targets) or None, default=None
            Windows of held-out clips (:meth:`validation_split`), monitored
            by early stopping.
        sample_weight : ndarray of shape (n_windows,) or None, default=None
        seed : int or None, default=None
            Seeds the network's initialisation and TensorFlow; ``None`` draws
            one from ``random_state``.
        rng : numpy.random.Generator or None, default=None
            Draws the batch order and the window augmentation; ``None`` means
            ``numpy.random.default_rng(seed)``.

        Returns
        -------
        self : KerasCNN

        Examples
        --------
        >>> import numpy as np
        >>> from embedclf import KerasCNN
        >>> from embedclf.datasets import make_sound_events
        >>> X, y, _ = make_sound_events(n_per_class=4, sr=8000, duration=1.0, random_state=0)
        >>> cnn = KerasCNN(architecture="strided_ds", sr=8000, epochs=1, early_stopping=False,
        ...                random_state=0)
        >>> W, owner, _ = cnn.fit_frontend(X)
        >>> classes, idx = np.unique(y, return_inverse=True)
        >>> soft = np.full((len(W), len(classes)), 0.1 / (len(classes) - 1), np.float32)
        >>> soft[np.arange(len(W)), idx[owner]] = 0.9  # smoothed labels, as soft targets
        >>> cnn.fit_windows(W, soft, classes=classes).predict_proba(X[:2]).shape
        (2, 5)
        """
        check_is_fitted(
            self,
            "feature_mean_",
            msg="call fit_frontend before fit_windows: "
            "it fixes the windows' standardisation and shape",
        )
        self._validate_params()
        classes = np.asarray(classes)
        windows, targets = np.asarray(windows, np.float32), np.asarray(targets, np.float32)
        if windows.shape[1:] != self.input_shape_ or len(targets) != len(windows):
            raise ValueError(
                f"expected windows of shape (n, {', '.join(map(str, self.input_shape_))})"
                f" and one target row per window, got windows {windows.shape} "
                f"and targets {targets.shape}"
            )
        if loss is None and targets.shape[1:] != (len(classes),):
            raise ValueError(
                f"targets must hold one probability per class ({len(classes)}), "
                f"got shape {targets.shape}; pass loss= for other targets"
            )
        self.classes_ = classes
        if seed is None:
            seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        if rng is None:
            rng = np.random.default_rng(seed)
        self.n_windows_fit_ = len(windows)
        self._train(windows, targets, sample_weight, validation, seed, rng, loss=loss)
        return self

    def training_hop(self):
        """The training windows' hop in seconds: ``fit_hop``, or ``hop`` when it is None.

        Examples
        --------
        >>> from embedclf import KerasCNN
        >>> KerasCNN(hop=0.5).training_hop(), KerasCNN(hop=0.5, fit_hop=0.25).training_hop()
        (0.5, 0.25)
        """
        return self.hop if self.fit_hop is None else self.fit_hop

    def windows(self, X):
        """The network input of clips, as the fitted model predicts them.

        Windows every ``hop`` seconds, standardised like the training ones.

        Parameters
        ----------
        X : sequence of clips
            Paths, or waveforms at ``sr``.

        Returns
        -------
        windows : ndarray of shape (n_windows, *input_shape_), float32
        owner : ndarray of shape (n_windows,)
            Index of the clip each window comes from.
        starts : ndarray of shape (n_windows,)
            First frame of each window in its clip.

        Examples
        --------
        >>> import numpy as np
        >>> from embedclf import KerasCNN
        >>> cnn = KerasCNN(sr=8000, window=0.5, hop=0.25)
        >>> _ = cnn.fit_frontend([np.zeros(8000, np.float32)])
        >>> W, owner, starts = cnn.windows([np.zeros(8000, np.float32), np.zeros(2000, np.float32)])
        >>> owner.tolist(), W.shape[1:] == cnn.input_shape_
        ([0, 0, 0, 1], True)
        """
        check_is_fitted(self, "feature_mean_")
        return self._windows([w for _, _, w in iter_clips(X, self.sr)])

    def window_proba(self, windows):
        """The network's probabilities of windows (as :meth:`windows` returns them).

        Parameters
        ----------
        windows : ndarray of shape (n_windows, *input_shape_)

        Returns
        -------
        ndarray of shape (n_windows, n_classes), float64

        Examples
        --------
        >>> import numpy as np
        >>> from embedclf import KerasCNN
        >>> from embedclf.datasets import make_sound_events
        >>> X, y, _ = make_sound_events(n_per_class=4, sr=8000, duration=1.0, random_state=0)
        >>> cnn = KerasCNN(architecture="strided_ds", sr=8000, epochs=1, random_state=0).fit(X, y)
        >>> W, owner, _ = cnn.windows(X[:2])
        >>> P, same_owner = cnn.predict_windows(X[:2])
        >>> bool(np.allclose(cnn.window_proba(W), P)), owner.tolist() == same_owner.tolist()
        (True, True)
        """
        check_is_fitted(self, "model_")
        forward = self._forward()
        windows = np.asarray(windows, dtype=np.float32)
        out = [
            forward(windows[i : i + _PREDICT_BATCH]).numpy().astype(np.float64)
            for i in range(0, len(windows), _PREDICT_BATCH)
        ]
        return np.concatenate(out) if out else np.zeros((0, len(self.classes_)))

    def _forward(self):
        """The network's inference pass as one traced function, made once per fitted network.

        An eager Keras call costs milliseconds of Python per layer, most of a
        one-window call (as a live stream makes); the traced function runs a
        window in about a sixth of that. Its input signature leaves the batch
        dimension open, so it is traced once, whatever the batch sizes.
        """
        cached = self.__dict__.get("_forward_fn")
        if cached is None or cached[0] is not self.model_:  # a network set from outside
            self._set_forward()
            cached = self._forward_fn
        return cached[1]

    def _set_forward(self):
        # made (not traced) where model_ is set, so predicting leaves __dict__ unchanged
        import tensorflow as tf

        model = self.model_
        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        self._forward_fn = (model, fn)

    def _windows(self, waves):
        """Standardised network input of waveforms at ``sr`` (a fitted frontend), owners, starts."""
        W, owner, starts = spectrogram_windows(
            self.frontend_, waves, *self.window_frames_, top_db=self.window_top_db
        )
        return self._standardize(W), owner, starts

    def _check_unknown_label(self):
        if self.threshold is None:
            return
        numeric = np.issubdtype(self.classes_.dtype, np.number)
        if numeric != isinstance(self.unknown_label, (int, float, np.number)) or (
            isinstance(self.unknown_label, bool)
        ):
            raise ValueError(
                f"unknown_label={self.unknown_label!r} must be of the labels' type "
                f"({'numbers' if numeric else 'strings'}), or predictions would mix types; "
                f"e.g. unknown_label={-1 if numeric else repr('unknown')}"
            )
        if numeric and not np.isfinite(self.unknown_label):
            raise ValueError(f"unknown_label={self.unknown_label!r} must be finite")
        if self.unknown_label in set(self.classes_.tolist()):
            raise ValueError(f"unknown_label={self.unknown_label!r} is also a class label")

    def _window_weights(self, labels, n_classes):
        if self.class_weight is None:
            return None
        if self.class_weight == "balanced":
            counts = np.bincount(labels, minlength=n_classes).astype(float)
            per_class = len(labels) / (n_classes * np.maximum(counts, 1))
        else:
            unknown = set(self.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight names classes not in y: {sorted(map(str, unknown))}"
                )
            per_class = np.array([self.class_weight.get(c, 1.0) for c in self.classes_.tolist()])
        return per_class[labels].astype(np.float32)

    def _standardize(self, W):
        return (W - self.feature_mean_[:, None, None]) / self.feature_std_[:, None, None]

    def _build(self, seed):
        build = get_architecture(self.architecture)
        return build(self.input_shape_, len(self.classes_), width=self.width, seed=seed % 2**16)

    def _optimizer(self, lr):
        """Adam, or AdamW decaying only kernels when ``weight_decay`` is set."""
        import keras

        if not self.weight_decay:
            return keras.optimizers.Adam(lr)
        opt = keras.optimizers.AdamW(lr, weight_decay=self.weight_decay)
        opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
        return opt

    def _train(self, Xw, Yw, weights, validation, seed, rng, loss=None):
        """Train a new network on windows ``Xw`` and targets ``Yw``.

        ``loss(targets, logits)``, when given, replaces the cross-entropy on
        probabilities: the network is then trained through its logits (the
        input of its final softmax), as distillation needs.
        """
        import keras

        # Tracing the training graph costs seconds; for a few dozen steps (small data, tests,
        # grid searches on subsets) running eagerly is faster overall (measured about 3x).
        steps = int(np.ceil(len(Xw) / self.batch_size)) * self.epochs
        eager = steps <= _EAGER_STEPS
        with _seeded(seed):
            model = self._build(seed)
            trained = model
            lr = self.learning_rate
            if self.lr_schedule == "cosine":
                lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps, alpha=0.01)
            if loss is None:
                model.compile(
                    optimizer=self._optimizer(lr),
                    loss="categorical_crossentropy",
                    metrics=["accuracy"],
                    run_eagerly=eager,
                )
            else:
                if not isinstance(model.layers[-1], keras.layers.Softmax):
                    raise ValueError(
                        "the architecture must end in a keras.layers.Softmax layer "
                        "to be trained through its logits"
                    )
                trained = keras.Model(model.inputs, model.layers[-1].input)  # shares weights
                trained.compile(optimizer=self._optimizer(lr), loss=loss, run_eagerly=eager)
            callbacks = list(self.callbacks or [])
            if self.early_stopping:
                callbacks.append(
                    keras.callbacks.EarlyStopping(
                        monitor="val_loss" if validation is not None else "loss",
                        patience=self.patience,
                        restore_best_weights=True,
                        # the first epochs' losses are noisy (batch-norm statistics settling)
                        start_from_epoch=self.patience,
                    )
                )
            if self.verbose:
                callbacks.append(_epoch_progress(self.epochs, "training KerasCNN"))
            windows = (
                self.augment if self.augment is not None and self.augment.acts_on_windows else None
            )
            history = trained.fit(
                _batches(Xw, Yw, weights, self.batch_size, windows, rng),
                epochs=self.epochs,
                validation_data=validation,
                callbacks=callbacks,
                verbose=2 if self.verbose >= 2 else 0,
                shuffle=False,
            )
        self.model_ = model
        self._set_forward()
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self.n_epochs_ = len(self.history_.get("loss", []))

    # -------------------------------------------------------------- predict
    def _clip_windows(self, X):
        """Yield ``(windows, owner, n_clips)`` for batches of clips (always raising on bad ones)."""
        batch = []
        for _, _, wave in iter_clips(X, self.sr, on_error="raise"):
            batch.append(wave)
            if len(batch) == _PREDICT_CLIPS:
                yield (*self._windows(batch)[:2], len(batch))
                batch = []
        if batch:
            yield (*self._windows(batch)[:2], len(batch))

    def predict_windows(self, X):
        """Probabilities of every analysis window.

        Parameters
        ----------
        X : sequence of clips

        Returns
        -------
        proba : ndarray of shape (n_windows, n_classes)
        owner : ndarray of shape (n_windows,)
            Index of the clip each window belongs to.

        Examples
        --------
        >>> from embedclf import KerasCNN
        >>> from embedclf.datasets import make_sound_events
        >>> X, y, _ = make_sound_events(n_per_class=4, sr=8000, duration=2.0, random_state=0)
        >>> cnn = KerasCNN(architecture="strided_ds", sr=8000, epochs=1, random_state=0)
        >>> P, owner = cnn.fit(X, y).predict_windows(X[:1])
        >>> P.shape, owner.tolist()
        ((3, 5), [0, 0, 0])
        """
        check_is_fitted(self)
        X = check_X(X)  # a generator is read once, here
        check_n_features(self, X)
        probs, owners, offset = [], [], 0
        for W, owner, n in self._clip_windows(X):
            probs.append(self.window_proba(W))
            owners.append(owner + offset)
            offset += n
        if not probs:
            return np.zeros((0, len(self.classes_))), np.zeros(0, dtype=int)
        return np.concatenate(probs), np.concatenate(owners)

    def predict_proba(self, X):
        """Clip probabilities: the clip's windows pooled as ``clip_pooling`` says.

        Parameters
        ----------
        X : sequence of clips

        Returns
        -------
        ndarray of shape (n_clips, n_classes)
        """
        X = check_X(X)
        P, owner = self.predict_windows(X)
        return pool_windows(P, owner, len(X), self.pooling())

    def pooling(self):
        """The clip pooling in use: ``clip_pooling``, or the deprecated ``aggregate`` when set.

        Returns
        -------
        {"mean", "logmean", "vote"}

        Examples
        --------
        >>> from embedclf import KerasCNN
        >>> KerasCNN(clip_pooling="vote").pooling()
        'vote'
        """
        return resolve_clip_pooling(self.clip_pooling, self.aggregate)

    @property
    def supports_streaming(self):
        """Whether :meth:`predict_proba_file` analyses a file block by block.

        True when the fitted frontend can (see
        :attr:`embedclf.LogMel.supports_streaming`); otherwise
        :meth:`predict_proba_file` loads the file whole.
        """
        return bool(getattr(getattr(self, "frontend_", None), "supports_streaming", False))

    def predict_proba_file(self, path, block_seconds=None):
        """Clip probabilities of one audio file, computed block by block.

        The file is decoded, analysed and cut into windows in blocks, and
        the network sees its windows in the batches ``predict_proba([path])``
        uses (starting at the file's first window): the result equals
        ``predict_proba`` on the loaded clip, while memory holds a block of
        samples, a batch of windows and one row of probabilities per window.
        A frontend that cannot stream (:attr:`supports_streaming`) gets the
        whole file.

        Parameters
        ----------
        path : str or path-like
        block_seconds : float, optional
            Seconds decoded per block (default
            :data:`embedclf.audio.BLOCK_SECONDS`).

        Returns
        -------
        ndarray of shape (1, n_classes)

        Raises
        ------
        AudioError
            Where reading meets an unreadable part of the file.

        Examples
        --------
        >>> import numpy as np, soundfile as sf, tempfile, os
        >>> from embedclf import KerasCNN
        >>> from embedclf.datasets import make_sound_events
        >>> X, y, _ = make_sound_events(n_per_class=4, sr=8000, duration=2.0, random_state=0)
        >>> cnn = KerasCNN(architecture="strided_ds", sr=8000, epochs=1, random_state=0).fit(X, y)
        >>> p = os.path.join(tempfile.mkdtemp(), "a.wav"); sf.write(p, X[0], 8000, subtype="FLOAT")
        >>> np.allclose(cnn.predict_proba_file(p, block_seconds=0.3), cnn.predict_proba([p]))
        True
        """
        check_is_fitted(self)
        path = os.fspath(path)
        if not self.supports_streaming:
            return self.predict_proba([path])
        windows = stream_spectrogram_windows(
            self.frontend_.stream_file(path, block_seconds),
            *self.window_frames_,
            top_db=self.window_top_db,
        )
        probs, pending, held = [], [], 0
        for W in windows:
            pending.append(self._standardize(W))
            held += len(W)
            while held >= _PREDICT_BATCH:  # the batches predict_proba([path]) runs
                batch = np.concatenate(pending)
                probs.append(self.window_proba(batch[:_PREDICT_BATCH]))
                pending, held = [batch[_PREDICT_BATCH:]], held - _PREDICT_BATCH
        if held:
            probs.append(self.window_proba(np.concatenate(pending)))
        P = np.concatenate(probs)
        return pool_windows(P, np.zeros(len(P), dtype=int), 1, self.pooling())

    def predict(self, X):
        """The most probable class of each clip (``unknown_label`` under ``threshold``).

        Parameters
        ----------
        X : sequence of clips

        Returns
        -------
        ndarray of shape (n_clips,)
        """
        return self.labels_from_proba(self.predict_proba(X))

    def labels_from_proba(self, P):
        """Labels from clip probabilities, applying ``threshold``.

        Parameters
        ----------
        P : ndarray of shape (n_clips, n_classes)

        Returns
        -------
        ndarray of shape (n_clips,)
        """
        labels = self.classes_[np.asarray(P).argmax(axis=1)]
        if self.threshold is None:
            return labels
        self._check_unknown_label()  # also after set_params on a fitted model
        unsure = np.asarray(P).max(axis=1) < self.threshold
        if np.issubdtype(labels.dtype, np.number):
            # a dtype that holds both exactly (e.g. -1 with uint8 classes, or -1.5 with ints)
            labels = labels.astype(np.result_type(labels.dtype, np.asarray(self.unknown_label)))
        else:
            labels = labels.astype(object)
        labels[unsure] = self.unknown_label
        return labels

    # ---------------------------------------------------------- persistence
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never touch the live object
        state.pop("_forward_fn", None)  # a traced function: made again when needed
        if "model_" in state:
            state["model_"] = _KerasBytes(_model_to_bytes(state["model_"]))
        if "skipped_" in state:  # plain lists: safe model files (skops) store no DataFrame
            state["skipped_"] = skipped_columns(state["skipped_"])
        return state

    def __setstate__(self, state):
        if "clip_pooling" not in state:  # pickled before the rename: ``aggregate`` was it
            state["clip_pooling"] = state.get("aggregate", "mean")
            state["aggregate"] = "deprecated"
        state.setdefault("lr_schedule", "constant")  # models pickled before these existed
        state.setdefault("weight_decay", 0.0)
        state.setdefault("fit_hop", None)
        model = state.get("model_")
        if isinstance(model, _KerasBytes):
            state["model_"] = _model_from_bytes(model.data)
        if "skipped_" in state:
            state["skipped_"] = skipped_from_columns(state["skipped_"])
        super().__setstate__(state)
        if "model_" in state:
            self._set_forward()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = self.random_state is None
        # sklearn's generic checks feed feature vectors (a few "samples" per clip); a
        # spectrogram CNN cannot score well on those, so the accuracy bars do not apply
        tags.classifier_tags.poor_score = True
        return tags


class _KerasBytes:
    """A pickled Keras model: the bytes of its ``.keras`` file."""

    def __init__(self, data):
        self.data = data
