"""A classifier trained on every view of every clip, predicting a clip from all its views.

Views are versions of one clip that should get the same label: the clip
played at a few speeds (:class:`~embedclf.SpeedViews` with ``pool``), time
shifts, crops. Training on each view as its own row is augmentation;
predicting a clip from the mean log-probability of its views is test-time
augmentation, the same pooling the distilled student uses over windows.

Examples
--------
>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> from embedclf.models.views import ViewsClassifier
>>> X = np.array([[[0.0], [0.2]], [[1.0], [1.2]]])  # 2 clips, 2 views, 1 feature
>>> ViewsClassifier(LogisticRegression()).fit(X, ["a", "b"]).predict(X).tolist()
['a', 'b']
"""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .windows import pool_windows

__all__ = ["ViewsClassifier"]


class ViewsClassifier(ClassifierMixin, BaseEstimator):
    """Fit a classifier on every view of every clip; pool the views' log-probabilities.

    ``X`` holds several views of each clip: a 3-D array ``(n_clips,
    n_views, n_features)``, or a sequence of ``(n_views_i, n_features)``
    arrays (clips may have different numbers of views), such as the output
    of :class:`~embedclf.SpeedViews` with ``pool``. A 2-D array is one view
    per clip, and then this is ``estimator`` itself. Rows must be dense,
    finite numbers, whatever ``estimator`` accepts on its own.

    ``fit`` trains a clone of ``estimator`` on all views as rows, each with
    its clip's label. A clip's log-probabilities are the mean over its views
    of the estimator's (each probability floored at ``floor``, so that no
    single view can veto a class), normalised to sum to one.

    Parameters
    ----------
    estimator : classifier
        Any estimator with ``fit`` and ``predict_proba``, e.g. a pipeline of
        ``StandardScaler`` and ``LogisticRegression``. It is cloned at ``fit``.
    floor : float, default=1e-12
        Smallest probability a view contributes, in (0, 1). Keep it far below
        ``1 / n_classes``: at that value or above, every clip's prediction is
        close to uniform.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator`` (one row per view).
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Features per view.

    See Also
    --------
    embedclf.SpeedViews : views of each clip at several playback speeds.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from embedclf import ViewsClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 20)
    >>> X = y[:, None, None] + rng.normal(0, 0.3, (40, 3, 2))  # 3 noisy views per clip
    >>> clf = ViewsClassifier(LogisticRegression()).fit(X, y)
    >>> clf.predict_proba(X).shape
    (40, 2)
    >>> float(clf.score(X, y))
    1.0
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "floor": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(self, estimator, *, floor=1e-12):
        self.estimator = estimator
        self.floor = floor

    def fit(self, X, y):
        """Fit ``estimator`` on every view, each labelled as its clip.

        Parameters
        ----------
        X : array of shape (n_clips, n_views, n_features), or sequence of 2-D arrays
            The views of each clip (a 2-D array: one view per clip).
        y : array-like of shape (n_clips,)
            Clip labels.

        Returns
        -------
        self : ViewsClassifier
        """
        self._validate_params()
        rows, owner, n_clips = self._rows(X, reset=True)
        y = column_or_1d(y, warn=True)
        if len(y) != n_clips:
            raise ValueError(f"y must have one label per clip: {n_clips} clips, {len(y)} labels")
        check_classification_targets(y)
        self.estimator_ = clone(self.estimator).fit(rows, y[owner])
        self.classes_ = self.estimator_.classes_
        return self

    def predict_log_proba(self, X):
        """Mean log-probability of each clip's views, normalised.

        Parameters
        ----------
        X : array of shape (n_clips, n_views, n_features), or sequence of 2-D arrays

        Returns
        -------
        ndarray of shape (n_clips, n_classes)
        """
        return np.log(self.predict_proba(X))

    def predict_proba(self, X):
        """Class probabilities of each clip from all its views.

        Parameters
        ----------
        X : array of shape (n_clips, n_views, n_features), or sequence of 2-D arrays

        Returns
        -------
        ndarray of shape (n_clips, n_classes)
        """
        check_is_fitted(self)
        rows, owner, n_clips = self._rows(X, reset=False)
        # the log-mean pooling of window probabilities, with views as the windows
        P = self.estimator_.predict_proba(rows)
        return pool_windows(P, owner, n_clips, "logmean", floor=self.floor)

    def predict(self, X):
        """The most probable class of each clip.

        Parameters
        ----------
        X : array of shape (n_clips, n_views, n_features), or sequence of 2-D arrays

        Returns
        -------
        ndarray of shape (n_clips,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def _rows(self, X, reset):
        """All views as rows, the clip each row belongs to, and the number of clips."""
        if getattr(X, "ndim", None) == 1 and (hasattr(X, "iloc") or X.dtype == object):
            X = list(X)  # a Series or object array of per-clip arrays
        if isinstance(X, (list, tuple)) and len(X) and all(np.ndim(x) == 2 for x in X):
            sizes = [len(x) for x in X]
            if min(sizes) == 0:
                raise ValueError(f"clip {sizes.index(0)} has no views")
            rows = np.concatenate([np.asarray(x) for x in X])
            owner = np.repeat(np.arange(len(X)), sizes)
        elif getattr(X, "ndim", None) == 3:
            n, v = X.shape[:2]
            if v == 0:
                raise ValueError(f"X has no views (shape {X.shape})")
            rows, owner = X.reshape(n * v, *X.shape[2:]), np.repeat(np.arange(n), v)
        else:  # one view per clip; validate_data explains anything else
            rows, owner = X, None
        rows = validate_data(self, rows, reset=reset)
        if owner is None:
            owner = np.arange(len(rows))
        return rows, owner, int(owner[-1]) + 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
