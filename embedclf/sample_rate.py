"""The sample rate an estimator expects its clips at: read from its parameters.

A utility below every layer, so the distiller (a teacher's rate), the
pipelines and prediction all read it the same way.

Examples
--------
>>> from embedclf import LogMel
>>> from embedclf.sample_rate import estimator_sr
>>> estimator_sr(LogMel(sr=16000))
16000
"""

from __future__ import annotations

from numbers import Integral

__all__ = ["estimator_sr"]


def estimator_sr(estimator):
    """The sample rate a fitted or unfitted estimator (or pipeline) expects its clips at.

    Looks for an ``sr`` parameter on the estimator or its first step, or
    an ``sr`` attribute of the first step (a wrapper such as
    :class:`~embedclf.features.views.SpeedViews` reads clips at its
    transformer's rate).

    Parameters
    ----------
    estimator : estimator

    Returns
    -------
    int or None

    Examples
    --------
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from embedclf import LogMel, WindowAggregator
    >>> from embedclf.sample_rate import estimator_sr
    >>> estimator_sr(Pipeline([("mel", LogMel(sr=8000)), ("agg", WindowAggregator()),
    ...                        ("clf", LogisticRegression())]))
    8000
    >>> estimator_sr(LogisticRegression()) is None
    True
    """
    params = estimator.get_params(deep=True)
    if "sr" in params:
        return params["sr"]
    for key, value in params.items():
        if key.endswith("__sr") and key.count("__") == 1:
            return value
    steps = getattr(estimator, "steps", None)
    if steps:
        sr = getattr(steps[0][1], "sr", None)
        return sr if isinstance(sr, Integral) else None
    return None
