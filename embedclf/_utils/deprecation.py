"""Renamed estimator parameters, deprecated the scikit-learn way.

Both names are ``__init__`` parameters; the old one defaults to
:data:`DEPRECATED`. ``fit`` reads the value through :func:`renamed_value`,
which takes the old name's value when a user set it and warns
(:class:`FutureWarning`, for two releases), and ``__setstate__`` calls
:func:`migrate_state` so estimators pickled before the rename load with the
new name set.

Examples
--------
>>> import warnings
>>> from sklearn.base import BaseEstimator
>>> from embedclf._utils.deprecation import DEPRECATED, renamed_value
>>> class Est(BaseEstimator):
...     def __init__(self, *, hop=0.5, hop_size=DEPRECATED):
...         self.hop, self.hop_size = hop, hop_size
>>> renamed_value(Est(hop=0.2), "hop_size", "hop")
0.2
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     value = renamed_value(Est(hop_size=0.3), "hop_size", "hop")
>>> value, caught[0].category.__name__
(0.3, 'FutureWarning')
"""

from __future__ import annotations

import warnings

__all__ = ["DEPRECATED", "renamed_value", "migrate_state"]

#: Default of a renamed parameter's old name: "not set by the user".
DEPRECATED = "deprecated"

#: Release that renamed the parameters, and the one that drops the old names.
RENAMED_IN, REMOVED_IN = "0.2", "0.4"


def _is_unset(value):
    return isinstance(value, str) and value == DEPRECATED


def renamed_value(est, old, new, *, warn=True):
    """The value of a renamed parameter: ``est.<old>`` if the user set it, else ``est.<new>``.

    Parameters
    ----------
    est : estimator
    old, new : str
        The parameter's old and new names. An estimator class that only has
        the old name (a subclass written before the rename) gets its value.
    warn : bool, default=True
        Issue a :class:`FutureWarning` when the old name is in use (``fit``
        warns; repeated internal reads pass ``False``).

    Returns
    -------
    object

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> from embedclf._utils.deprecation import renamed_value
    >>> class Legacy(BaseEstimator):
    ...     def __init__(self, *, hop_size=1.0):
    ...         self.hop_size = hop_size
    >>> renamed_value(Legacy(hop_size=2.0), "hop_size", "hop", warn=False)
    2.0
    """
    value = getattr(est, old, DEPRECATED)
    if _is_unset(value):
        return getattr(est, new)
    if warn:
        warnings.warn(
            f"{type(est).__name__}: the parameter `{old}` was renamed `{new}` in {RENAMED_IN} "
            f"and `{old}` will be removed in {REMOVED_IN}; pass {new}={value!r} instead",
            FutureWarning,
            stacklevel=3,
        )
    return value


def migrate_state(cls, state, renames):
    """Move old parameter names in a pickled ``state`` to their new names.

    Only for classes that take the new name; the old name is left as
    :data:`DEPRECATED`, so the loaded estimator behaves as it did and warns
    no more.

    Parameters
    ----------
    cls : type
        The estimator class being unpickled.
    state : dict
        Its pickled ``__dict__`` (changed in place).
    renames : dict
        ``{old: new}``.

    Returns
    -------
    dict
        ``state``.

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> from embedclf._utils.deprecation import migrate_state
    >>> class Est(BaseEstimator):
    ...     def __init__(self, *, hop=0.5, hop_size="deprecated"):
    ...         self.hop, self.hop_size = hop, hop_size
    >>> migrate_state(Est, {"hop_size": 0.3}, {"hop_size": "hop"})
    {'hop_size': 'deprecated', 'hop': 0.3}
    """
    params = cls._get_param_names()
    for old, new in renames.items():
        if new in params and new not in state and old in state:
            state[new] = state[old]
            state[old] = DEPRECATED
    return state
