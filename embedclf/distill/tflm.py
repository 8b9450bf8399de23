"""Running an int8 student as the device does: TensorFlow Lite Micro and LiteRT's reference kernels.

:func:`tflm_outputs` runs the model in the TFLM interpreter (the ``tflite-micro``
package), :func:`measure_arena` finds the tensor arena it needs, and
:class:`Int8Model` runs it with LiteRT's reference kernels (TFLM's arithmetic)
for scoring many windows.

Examples
--------
>>> from embedclf.distill.tflm import UnsupportedOpError
>>> issubclass(UnsupportedOpError, ValueError)
True
"""

from __future__ import annotations

import numpy as np

from .._litert import captured_fd
from ..exceptions import UnsupportedOpError  # re-exported

__all__ = ["UnsupportedOpError", "tflm_outputs", "measure_arena", "Int8Model"]


def _tflm_run(model_bytes, x_int8, arena_size):
    """Outputs of the TFLM interpreter, or (None, its error text)."""
    from tflite_micro.python.tflite_micro import runtime as tflm

    with captured_fd(2) as box:
        try:
            it = tflm.Interpreter.from_bytes(model_bytes, arena_size=int(arena_size))
            outs = []
            for x in x_int8:
                it.set_input(x[None], 0)
                it.invoke()
                outs.append(np.array(it.get_output(0)[0]))
            return np.stack(outs), ""
        except RuntimeError:
            pass
    return None, box["text"]


def tflm_outputs(model_bytes, x_int8, arena_size):
    """Run int8 inputs through the TFLM interpreter with ``arena_size`` bytes.

    Parameters
    ----------
    model_bytes : bytes
    x_int8 : ndarray of shape (n, *input_shape), int8
    arena_size : int

    Returns
    -------
    ndarray of shape (n, n_classes), int8

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import Int8Model, tflm_outputs, to_int8_tflite
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> tflite = to_int8_tflite(strided_ds((16, 20, 1), 3), rep)
    >>> q = Int8Model(tflite).quantize(rep[:2])
    >>> np.array_equal(tflm_outputs(tflite, q, 64 * 1024), Int8Model(tflite).run_int8(q))
    True
    """
    out, err = _tflm_run(model_bytes, x_int8, arena_size)
    if out is None:
        missing = [line for line in err.splitlines() if "find op" in line]
        if missing:
            raise UnsupportedOpError(
                f"TensorFlow Lite Micro cannot run this model: {missing[0].strip()}"
            )
        raise RuntimeError(f"TFLM failed with a {arena_size}-byte arena: {err.strip()[-300:]}")
    return out


def measure_arena(model_bytes, x_int8, limit=4 << 20):
    """Smallest tensor arena (bytes) with which TFLM allocates and runs the model.

    A binary search over ``arena_size``: it measures what the interpreter
    needs (activations, the persistent tensor metadata and scratch buffers)
    on this 64-bit host build with reference kernels. A 32-bit build needs
    a little less for metadata; optimised kernels (CMSIS-NN) can add scratch.

    Parameters
    ----------
    model_bytes : bytes
    x_int8 : ndarray of shape (1, *input_shape), int8
        One input, run to make sure ``invoke`` succeeds too.
    limit : int, default=4 MiB

    Returns
    -------
    int

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import Int8Model, measure_arena, to_int8_tflite
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> tflite = to_int8_tflite(strided_ds((16, 20, 1), 3), rep)
    >>> 1000 < measure_arena(tflite, Int8Model(tflite).quantize(rep[:1])) < 32 * 1024
    True
    """
    tflm_outputs(model_bytes, x_int8[:1], limit)  # raises for unsupported ops
    lo, hi = 0, int(limit)  # lo fails, hi works
    while hi - lo > 1:
        mid = (lo + hi) // 2
        ok = _tflm_run(model_bytes, x_int8[:1], mid)[0] is not None
        lo, hi = (lo, mid) if ok else (mid, hi)
    return hi


class Int8Model:
    """An int8 ``.tflite`` run by LiteRT with reference kernels (TFLM's arithmetic).

    Parameters
    ----------
    model_bytes : bytes

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import Int8Model, to_int8_tflite
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> m = Int8Model(to_int8_tflite(strided_ds((16, 20, 1), 3), rep))
    >>> P = m.predict_windows(rep[:4])
    >>> P.shape, bool(np.allclose(P.sum(1), 1, atol=0.03))
    ((4, 3), True)
    """

    def __init__(self, model_bytes):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.interpreter = Interpreter(
            model_content=model_bytes, experimental_op_resolver_type=OpResolverType.BUILTIN_REF
        )
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    @property
    def input_quantization(self):
        """``(scale, zero_point)`` of the int8 input."""
        return tuple(self.input["quantization"])

    @property
    def output_quantization(self):
        """``(scale, zero_point)`` of the int8 output."""
        return tuple(self.output["quantization"])

    def quantize(self, X):
        """Float network inputs to int8."""
        scale, zp = self.input_quantization
        return np.clip(np.round(np.asarray(X) / scale) + zp, -128, 127).astype(np.int8)

    def dequantize(self, Q):
        """int8 outputs to float probabilities."""
        scale, zp = self.output_quantization
        return (np.asarray(Q, np.float32) - zp) * scale

    def run_int8(self, Q):
        """int8 outputs for int8 inputs, one window at a time."""
        outs = []
        for q in Q:
            self.interpreter.set_tensor(self.input["index"], q[None])
            self.interpreter.invoke()
            outs.append(self.interpreter.get_tensor(self.output["index"])[0].copy())
        return np.stack(outs) if outs else np.zeros((0, self.output["shape"][-1]), np.int8)

    def predict_windows(self, X):
        """Float probabilities of float (standardised) windows, through int8."""
        return self.dequantize(self.run_int8(self.quantize(X)))
