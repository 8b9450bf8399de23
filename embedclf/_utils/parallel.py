"""The process-wide worker thread pool and BLAS thread limits.

Work that releases the GIL (numpy, FFTW, BLAS) scales across cores in
threads: :func:`run_in_parts` splits a batch over :func:`executor`'s
long-lived pool, and :func:`single_threaded_blas` keeps BLAS from starting
threads of its own meanwhile. Both are safe after ``fork``: a forked child
has none of its parent's threads, so it starts with a fresh pool and locks.

Examples
--------
>>> from embedclf._utils.parallel import run_in_parts
>>> run_in_parts(lambda part: [len(x) for x in part], ["ab", "c", "def"], 2)
[2, 1, 3]
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager, nullcontext

import numpy as np

__all__ = ["executor", "single_threaded_blas", "blas_threads", "run_in_parts", "thread_count"]

_EXECUTOR = None
_EXECUTOR_LOCK = threading.Lock()
_BLAS = {"users": 0, "limits": None, "controller": None, "n_modules": 0}
_BLAS_LOCK = threading.Lock()


def executor():
    """One long-lived thread pool (threads, and the FFT plans they use, are reused).

    Returns
    -------
    concurrent.futures.ThreadPoolExecutor
        With ``max(2, os.cpu_count())`` workers; the same object on every call
        in a process.

    Examples
    --------
    >>> from embedclf._utils.parallel import executor
    >>> executor() is executor()
    True
    """
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            from concurrent.futures import ThreadPoolExecutor

            _EXECUTOR = ThreadPoolExecutor(max(2, os.cpu_count() or 1), "embedclf-worker")
        return _EXECUTOR


@contextmanager
def single_threaded_blas():
    """Hold BLAS to one thread while any caller is inside (the setting is process-wide).

    Reference-counted, so overlapping users in several threads restore the
    original limits only when the last one leaves.

    Examples
    --------
    >>> from threadpoolctl import threadpool_info
    >>> from embedclf._utils.parallel import single_threaded_blas
    >>> with single_threaded_blas():
    ...     {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} <= {1}
    True
    """
    with _BLAS_LOCK:
        if _BLAS["users"] == 0:
            _BLAS["limits"] = _blas_controller().limit(limits=1, user_api="blas")
        _BLAS["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS["users"] -= 1
            if _BLAS["users"] == 0:
                _BLAS["limits"].restore_original_limits()
                _BLAS["limits"] = None


def blas_threads(n):
    """A context holding BLAS to ``n`` threads; ``None`` leaves it as it is.

    One thread is :func:`single_threaded_blas`, shared with its other users;
    more is a plain limit, restored on leaving.

    Examples
    --------
    >>> from threadpoolctl import threadpool_info
    >>> from embedclf._utils.parallel import blas_threads
    >>> with blas_threads(1):
    ...     {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} <= {1}
    True
    """
    if n is None:
        return nullcontext()
    if n == 1:
        return single_threaded_blas()
    return _blas_controller().limit(limits=n, user_api="blas")


def _blas_controller():
    """A ThreadpoolController, scanned again only when modules were imported since.

    Scanning the loaded libraries takes milliseconds, as much as featurising
    a one-second clip; a library that brings its own BLAS comes with an
    import, so the module count tells when to look again.
    """
    import sys

    from threadpoolctl import ThreadpoolController

    if _BLAS.get("controller") is None or _BLAS.get("n_modules") != len(sys.modules):
        _BLAS["controller"] = ThreadpoolController()
        _BLAS["n_modules"] = len(sys.modules)
    return _BLAS["controller"]


def _after_fork_in_child():
    """A forked child has none of the parent's threads: start the pool and locks afresh."""
    global _EXECUTOR, _EXECUTOR_LOCK, _BLAS_LOCK
    _EXECUTOR = None
    _EXECUTOR_LOCK = threading.Lock()
    _BLAS_LOCK = threading.Lock()
    _BLAS.update(users=0, limits=None, controller=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def thread_count(n_jobs):
    """Threads of this process that ``n_jobs`` (scikit-learn's convention) asks for.

    For work run in :func:`run_in_parts`'s threads. ``None`` is joblib's
    active ``n_jobs`` (1 unless :func:`joblib.parallel_config` sets more),
    ``-1`` every CPU this process may use (:func:`embedclf.threads.model_threads`:
    in a Dask or joblib worker, that worker's share), ``-2`` one fewer, and
    so on. joblib's own ``effective_n_jobs`` is not used for -1: it counts
    worker *processes*, and so gives 1 (with a warning on every call) inside a
    daemonic Dask worker, where threads are fine.

    Parameters
    ----------
    n_jobs : int or None

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> from embedclf._utils.parallel import thread_count
    >>> thread_count(None), thread_count(3)
    (1, 3)
    >>> from embedclf.threads import model_threads
    >>> thread_count(-1) == model_threads()
    True
    """
    if n_jobs is None:
        from joblib import effective_n_jobs

        return max(1, effective_n_jobs(None))
    n_jobs = int(n_jobs)
    if n_jobs < 0:
        from ..threads import model_threads

        return max(1, model_threads() + 1 + n_jobs)
    return max(1, n_jobs)


def run_in_parts(func, waves, n_threads):
    """Run ``func(part)`` on contiguous parts of ``waves`` in threads; concatenate the results.

    Parts are balanced by total length (``len`` of each item, e.g. samples
    of a waveform), one per thread at most, and results come back in input
    order. ``func`` must return one result per item of its part.

    Parameters
    ----------
    func : callable
        Takes a list of items, returns a list of as many results.
    waves : sequence
        Items with a length, at least one.
    n_threads : int

    Returns
    -------
    list
        ``func``'s results for every item, in the order of ``waves``.

    Examples
    --------
    >>> from embedclf._utils.parallel import run_in_parts
    >>> run_in_parts(lambda part: [sum(x) for x in part], [[1, 2], [3], [4, 5, 6]], 3)
    [3, 3, 15]
    """
    n_parts = min(len(waves), n_threads)
    sizes = np.cumsum([len(w) for w in waves])
    cuts = np.searchsorted(sizes, sizes[-1] * np.arange(1, n_parts) / n_parts)
    bounds = [0, *sorted(set(int(c) + 1 for c in cuts)), len(waves)]
    parts = [waves[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    results = list(executor().map(func, parts))
    return [m for r in results for m in r]
