"""Feature extractors: log-mel, MFCC, speed views, analysis windows and pooling.

Names and units
---------------
One convention for every estimator, function and CLI flag in embedclf:

* **Durations are seconds** at the API level, named ``window`` (analysis
  window length) and ``hop`` (seconds between window starts): ``KerasCNN``,
  ``Distiller``, ``predict_table``, the embeddings (``OpenL3Embedding``,
  ``BirdNETEmbedding``) and the CLI's ``--window``/``--hop``. Where a bare
  name would be ambiguous, the unit is in the name: ``window_seconds``,
  ``block_seconds``, ``fit_hop`` (the training hop, seconds).
* **Samples only where librosa uses them**, with librosa's names and
  meanings: ``n_fft``, ``hop_length`` and ``win_length`` of :class:`LogMel`
  and :class:`MFCC`, whose ``window`` is the STFT window function's name
  (as in ``librosa.stft``), not a duration.
* **Frames** are named as such (``window_frames_``, ``frames_per_window``,
  ``n_frames``); low-level helpers that take frame counts
  (:func:`~embedclf.features.windows.window_starts`,
  :func:`split_windows` without ``frame_rate``) say so.
* **Pooling**: windows into a clip's prediction is ``clip_pooling``
  (``"mean"``, ``"logmean"``, ``"vote"``); frames into a clip's feature
  vector is :class:`WindowAggregator`'s ``stats`` and ``quantiles``.
* **Deltas**: ``deltas`` is librosa's smoothed delta features, an order
  (``MFCC(deltas=2)``); plain frame-to-frame differences pooled by
  :class:`WindowAggregator` are ``diffs``.
* A CLI flag is its parameter's name with dashes, in the same unit.

A renamed parameter keeps its old name working for two releases: both are
``__init__`` parameters, the old one defaults to ``"deprecated"``, ``fit``
warns with a :class:`FutureWarning` when it is used, and estimators saved
before the rename load with the new name set. Renamed in 0.2:
``hop_size`` -> ``hop`` (embeddings; CLI ``embed --hop-size`` -> ``--hop``),
``WindowAggregator(deltas=...)`` -> ``diffs``.

Examples
--------
>>> import numpy as np
>>> from embedclf.features import LogMel, WindowAggregator
>>> clips = [np.zeros(8000, dtype=np.float32)]
>>> frames = LogMel(sr=8000, n_fft=256, hop_length=128, n_mels=16).fit_transform(clips)
>>> WindowAggregator(stats=("mean",), diffs=True).fit_transform(frames).shape
(1, 32)
"""

from .logmel import MFCC, LogMel, log_mel, mfcc
from .views import SpeedViews
from .windows import WindowAggregator, split_windows

__all__ = ["LogMel", "MFCC", "log_mel", "mfcc", "SpeedViews", "WindowAggregator", "split_windows"]
