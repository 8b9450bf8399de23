"""Random-state helpers.

Examples
--------
>>> from embedclf._utils.random_state import check_generator
>>> bool(check_generator(0).integers(10) == check_generator(0).integers(10))
True
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

__all__ = ["check_generator"]


def check_generator(random_state):
    """A :class:`numpy.random.Generator` from any accepted ``random_state``.

    Parameters
    ----------
    random_state : int, Generator, RandomState or None
        A Generator is used as it is (so draws advance it); a RandomState
        seeds a new Generator from one draw; an int seeds one; ``None`` gives
        fresh entropy.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    ValueError
        For anything else.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf._utils.random_state import check_generator
    >>> rng = np.random.default_rng(1)
    >>> check_generator(rng) is rng
    True
    >>> check_generator("seed")
    Traceback (most recent call last):
    ...
    ValueError: random_state must be an int, a Generator or None, got 'seed'
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    if random_state is None or isinstance(random_state, Integral):
        return np.random.default_rng(random_state)
    raise ValueError(f"random_state must be an int, a Generator or None, got {random_state!r}")
