"""A process-wide pool of batched real-FFT plans (FFTW through pyFFTW, else scipy).

FFTW's plans for a fixed batch shape are faster than pocketfft here, but
planning costs time, so plans are kept for the life of the process and lent
out one user at a time (a plan owns its buffers). After a ``fork`` the child
starts with an empty pool.

Plans are made with ``FFTW_ESTIMATE``: chosen by FFTW's fixed heuristics, so
every process on a machine picks the same algorithm and computes the same
bits. ``FFTW_MEASURE`` would be about 10% faster for ``LogMel`` but picks by
timing, so two processes (a Dask worker and its client, two runs) can pick
different algorithms that round differently.

Examples
--------
>>> import numpy as np
>>> from embedclf._utils.fft import FFTPlan
>>> with FFTPlan.acquire(4, 8) as fft:
...     fft.inp[:] = 1.0
...     spectrum = fft()
>>> spectrum.shape, complex(spectrum[0, 0])
((4, 5), (8+0j))
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import numpy as np
from scipy import fft as sp_fft

__all__ = ["FFTPlan", "PLANNER_FLAGS"]

#: FFTW planner flags: heuristics only, so the plan (and every bit) never depends on timing.
PLANNER_FLAGS = ("FFTW_ESTIMATE",)


class FFTPlan:
    """Batched real FFT of ``chunk`` frames of ``n_fft`` samples, with its own buffers.

    Write float32 frames into ``inp`` (shape ``(chunk, n_fft)``), call the plan,
    read ``out`` (complex64, ``(chunk, n_fft // 2 + 1)``). Get one with
    :meth:`acquire`, which reuses plans across calls and threads.

    Parameters
    ----------
    chunk : int
        Frames per transform.
    n_fft : int
        Samples per frame.

    Attributes
    ----------
    inp : ndarray of shape (chunk, n_fft), float32
    out : ndarray of shape (chunk, n_fft // 2 + 1), complex64

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf._utils.fft import FFTPlan
    >>> plan = FFTPlan(2, 4)
    >>> plan.inp[:] = [[1, 0, 0, 0], [1, 1, 1, 1]]
    >>> np.abs(plan()).tolist()
    [[1.0, 1.0, 1.0], [4.0, 0.0, 0.0]]
    """

    _pool = {}
    _lock = threading.Lock()

    @classmethod
    @contextmanager
    def acquire(cls, chunk, n_fft):
        """Lend a plan for ``(chunk, n_fft)`` from the pool (made on first use).

        Parameters
        ----------
        chunk, n_fft : int
            As for :class:`FFTPlan`.

        Yields
        ------
        FFTPlan
            Used by this caller only, until the ``with`` block ends.

        Examples
        --------
        >>> from embedclf._utils.fft import FFTPlan
        >>> with FFTPlan.acquire(8, 16) as fft:
        ...     fft.inp.shape
        (8, 16)
        """
        key = (chunk, n_fft)
        with cls._lock:
            free = cls._pool.setdefault(key, [])
            plan = free.pop() if free else None
        if plan is None:
            plan = cls(chunk, n_fft)
        try:
            yield plan
        finally:
            with cls._lock:
                cls._pool[key].append(plan)

    def __init__(self, chunk, n_fft):
        try:
            import pyfftw
        except ImportError:  # pragma: no cover - pyfftw is a declared dependency
            pyfftw = None
        if pyfftw is not None:
            self.inp = pyfftw.empty_aligned((chunk, n_fft), dtype="float32")
            self.out = pyfftw.empty_aligned((chunk, n_fft // 2 + 1), dtype="complex64")
            self._plan = pyfftw.FFTW(self.inp, self.out, axes=(-1,), flags=PLANNER_FLAGS, threads=1)
            self.inp[:] = 0
        else:
            self.inp = np.zeros((chunk, n_fft), dtype=np.float32)
            self.out = np.zeros((chunk, n_fft // 2 + 1), dtype=np.complex64)
            self._plan = None

    def __call__(self):
        """Transform ``inp`` into ``out`` and return ``out``."""
        if self._plan is not None:
            self._plan.execute()  # __call__ re-validates arrays: 30% overhead
        else:
            self.out[:] = sp_fft.rfft(self.inp, axis=-1)
        return self.out


def _after_fork_in_child():
    """A forked child may have inherited the lock held: start the pool afresh."""
    FFTPlan._pool = {}
    FFTPlan._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
