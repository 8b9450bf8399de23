"""Several views of every clip: the same clip played at a few speeds.

A pretrained embedding sees a sound through the model's fixed analysis
(BirdNET's mel bands, its 3 s windows). Playing a clip slightly faster or
slower shifts its pitch and tempo together, the way a recording device,
a slightly different engine or a larger dog would; embedding each of those
views and pooling all their windows gives a clip vector that depends less
on exactly where a sound's energy falls in the model's bands. This is
"speed perturbation" (Ko et al., 2015, speeds 0.9, 1.0 and 1.1) used at both
training and prediction time.

Examples
--------
>>> import numpy as np
>>> from embedclf import LogMel
>>> from embedclf.features.views import SpeedViews
>>> views = SpeedViews(LogMel(sr=8000, n_fft=256, hop_length=128, n_mels=8))
>>> [f.shape for f in views.fit_transform([np.zeros(8000, dtype=np.float32)])]
[(190, 8)]
"""

import numpy as np
from sklearn.base import clone
from sklearn.utils._param_validation import HasMethods, StrOptions

from .._utils.validation import check_X
from ..audio import ClipTransformer, resample
from ..sample_rate import estimator_sr

__all__ = ["SpeedViews"]


class SpeedViews(ClipTransformer):
    """Run a clip transformer on each clip played at several speeds; stack the outputs.

    Each clip is resampled so that it plays ``speed`` times as fast at the
    transformer's sample rate (shorter and higher for a speed above 1,
    longer and lower below), the transformer runs on every view, and a
    clip's outputs are stacked along their first axis (windows or frames),
    in the order of ``speeds``. Follow it with an order-free pooling such as
    :class:`~embedclf.WindowAggregator` ``stats=("mean", "max")``: the clip
    vector then pools the windows of all its views. (``diffs=True`` would
    also difference the last window of one view with the first of the next.)

    With ``pool``, each view is pooled on its own instead and a clip's output
    is an ``(n_views, n_features)`` array, one row per speed: the input of
    :class:`~embedclf.ViewsClassifier`, which trains on every view and
    predicts a clip from all of them (augmentation at training and
    prediction time).

    Parameters
    ----------
    transformer : clip transformer
        An estimator with an ``sr`` parameter whose ``transform`` returns one
        array per clip with windows (or frames) along the first axis, e.g.
        :class:`~embedclf.BirdNETEmbedding`, :class:`~embedclf.OpenL3Embedding`
        or :class:`~embedclf.LogMel`. It is cloned at ``fit``; a ``cache`` it
        has holds every view (each view is its own content).
    speeds : tuple of float, default=(0.9, 1.0, 1.1)
        Playback speeds, each above 0. A view at speed ``s`` is the clip
        resampled from ``round(sr * s)`` Hz to ``sr`` (soxr, high quality);
        ``1.0`` is the clip as it is. Costs one transformer run per speed
        (a clip at speed ``s`` lasts ``1 / s`` as long).
    pool : transformer or None, default=None
        ``None``: stack the windows of all views. Otherwise a pooling step
        that learns nothing from data (such as :class:`~embedclf.WindowAggregator`)
        applied to each view's windows separately; the views' vectors are
        stacked as rows.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a clip that cannot be read: raise an
        :class:`~embedclf.exceptions.AudioError` naming it, or leave it out
        of the output and record it in ``skipped_`` (with a warning).

    Attributes
    ----------
    transformer_ : estimator
        The fitted clone of ``transformer``.
    n_clips_fit_ : int
        Clips passed to ``fit``.
    skipped_ : pandas.DataFrame
        After ``transform`` with ``on_error="skip"``: ``index, source,
        reason`` of every clip left out.

    See Also
    --------
    embedclf.WindowAggregator : pools the stacked windows into one row per clip.

    Notes
    -----
    The ``sr`` this transformer reads clips at is its transformer's.

    References
    ----------
    T. Ko, V. Peddinti, D. Povey and S. Khudanpur, "Audio augmentation for
    speech recognition", Interspeech 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf import LogMel
    >>> from embedclf.features.views import SpeedViews
    >>> clip = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)
    >>> mel = LogMel(sr=8000, n_fft=256, hop_length=128, n_mels=8)
    >>> views = SpeedViews(mel, speeds=(0.5, 1.0)).fit([clip])
    >>> [f.shape for f in views.transform([clip])]  # 126 frames at half speed + 63 as it is
    [(189, 8)]
    >>> from embedclf import WindowAggregator
    >>> per_view = SpeedViews(mel, speeds=(0.5, 1.0), pool=WindowAggregator()).fit([clip])
    >>> [f.shape for f in per_view.transform([clip])]  # mean and std of 8 bands, per speed
    [(2, 16)]
    """

    _parameter_constraints = {
        "transformer": [HasMethods(["fit", "transform"])],
        "speeds": ["array-like"],
        "pool": [HasMethods(["fit", "transform"]), None],
        "on_error": [StrOptions({"raise", "skip"})],
    }

    def __init__(self, transformer, *, speeds=(0.9, 1.0, 1.1), pool=None, on_error="raise"):
        self.transformer = transformer
        self.speeds = speeds
        self.pool = pool
        self.on_error = on_error

    @property
    def sr(self):
        """The sample rate clips are read at: the transformer's ``sr``."""
        return estimator_sr(self.transformer)

    @property
    def learns_from_data(self):
        """Whether ``fit`` learns from the clips: as the wrapped ``transformer`` does."""
        return getattr(self.transformer, "learns_from_data", True)

    def _speeds(self):
        try:
            speeds = [float(s) for s in np.ravel(np.asarray(self.speeds, dtype=object))]
        except (TypeError, ValueError):
            speeds = []
        if not speeds or not all(np.isfinite(s) and s > 0 for s in speeds):
            raise ValueError(
                f"speeds must be one or more finite numbers above 0, got {self.speeds!r}"
            )
        if self.sr is None:
            raise ValueError(
                f"{type(self.transformer).__name__} has no sr parameter: SpeedViews needs a "
                "clip transformer (LogMel, BirdNETEmbedding, OpenL3Embedding, ...)"
            )
        return speeds

    def _check_pool(self):
        if self.pool is not None and getattr(self.pool, "learns_from_data", True):
            # It is fitted on each batch of views at transform time, so it must not learn.
            raise ValueError(
                f"pool={type(self.pool).__name__}(...) may learn from data; SpeedViews pools "
                "each view with a step that learns nothing, such as WindowAggregator. Put a "
                "step that learns after SpeedViews in the pipeline instead."
            )

    def _fit_clips(self, X, y):
        self._speeds()
        self._check_pool()
        super()._fit_clips(X, y)
        # As a list: the transformer sees views of every length, never a fixed 2-D shape.
        self.transformer_ = clone(self.transformer).fit(list(check_X(X)))

    def _transform_waves(self, waves):
        self._check_pool()  # set_params after fit must not slip a learning pool in
        sr = int(self.sr)
        per_speed = []
        for speed in self._speeds():
            rate = int(round(sr * speed))
            views = waves if rate == sr else [resample(w, rate, sr) for w in waves]
            out = self.transformer_.transform(views)
            if self.pool is not None:
                out = clone(self.pool).fit(out).transform(out)
            per_speed.append(out)
        join = np.concatenate if self.pool is None else np.stack
        return [join([out[i] for out in per_speed]) for i in range(len(waves))]
