"""Shared TFLite/LiteRT plumbing: the interpreter class, the converter, C-level output capture.

Used by BirdNET (inference), OpenL3's int8 fast mode and the distiller's export. Imports
nothing heavy until called.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

__all__ = ["interpreter_class", "captured_fd", "keras_to_tflite"]


def interpreter_class(install_hint):
    """LiteRT's ``Interpreter`` (falling back to older packages), or an ImportError with the hint.

    Examples
    --------
    >>> from embedclf._litert import interpreter_class
    >>> interpreter_class("pip install ai-edge-litert").__name__  # doctest: +SKIP
    'Interpreter'
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - fallbacks for older installs
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            try:
                from tensorflow.lite import Interpreter
            except ImportError:
                raise ImportError(
                    f"the LiteRT interpreter (ai-edge-litert) is not installed; {install_hint}"
                ) from None
    return Interpreter


@contextlib.contextmanager
def captured_fd(fd=2):
    """Capture what C code prints to a file descriptor (TFLM errors, converter chatter).

    Examples
    --------
    >>> from embedclf._litert import captured_fd
    >>> with captured_fd(2) as box:
    ...     pass
    >>> box["text"]
    ''
    """
    (sys.stdout if fd == 1 else sys.stderr).flush()
    saved = os.dup(fd)
    box = {"text": ""}
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield box
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            box["text"] = tmp.read().decode(errors="replace")


def keras_to_tflite(model, configure=None, ignore_warnings=""):
    """Convert a Keras model to ``.tflite`` bytes (batch 1, optimised, converter output silenced).

    With no ``configure``, the result has int8 weights (per output channel)
    and dynamically quantized activations: each call quantizes them from
    their own range, so no calibration data is needed, and LiteRT's XNNPACK
    runs the convolutions as int8 GEMMs with float32 inputs and outputs. With
    batch 1, every input is quantized on its own range.

    Parameters
    ----------
    model : keras.Model
    configure : callable, optional
        ``configure(converter, tf)`` sets further converter options (quantization).
    ignore_warnings : str, default=""
        Regex of converter warnings to drop (``""``: all of them).

    Returns
    -------
    bytes

    Examples
    --------
    >>> import keras
    >>> from embedclf._litert import keras_to_tflite
    >>> m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3)])  # doctest: +SKIP
    >>> keras_to_tflite(m)[4:8]                                                  # doctest: +SKIP
    b'TFL3'
    """
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    spec = [tf.TensorSpec((1, *model.input_shape[1:]), tf.float32)]
    # a concrete function without the Keras object: variables are frozen into constants
    # (the fast path that works with Keras 3)
    fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if configure is not None:
        configure(conv, tf)
    # the converter prints to the process's stdout, which would corrupt --json output
    with captured_fd(1), warnings.catch_warnings():
        warnings.filterwarnings("ignore", ignore_warnings)
        return bytes(conv.convert())
