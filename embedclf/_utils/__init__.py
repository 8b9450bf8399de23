"""Internal utilities shared across embedclf's modules (not part of the public API).

Each module has public names, so the rest of the package imports them
without reaching into another module's private helpers; users should not
rely on them, as they may change without deprecation.

* :mod:`embedclf._utils.validation`: what a sequence of clips ``X`` may be.
* :mod:`embedclf._utils.parallel`: the process-wide worker thread pool and BLAS
  thread limits, safe across ``fork``.
* :mod:`embedclf._utils.fft`: a pool of batched real-FFT plans.
* :mod:`embedclf._utils.jsonsafe`: making values JSON-safe.
* :mod:`embedclf._utils.random_state`: random-state helpers.
* :mod:`embedclf._utils.deprecation`: renamed parameters, deprecated the scikit-learn way.
"""
