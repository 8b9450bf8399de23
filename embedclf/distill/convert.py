"""Conversion of a student network to a full-integer int8 ``.tflite``, and its op list.

The network is converted with int8 input and output (batch norm folded,
ReLU fused), calibrated on representative windows.

Examples
--------
>>> import numpy as np
>>> from embedclf.models.architectures import strided_ds
>>> from embedclf.distill.convert import op_list, to_int8_tflite
>>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
>>> "SOFTMAX" in op_list(to_int8_tflite(strided_ds((16, 20, 1), 3), rep))
True
"""

from __future__ import annotations

import numpy as np

from .._litert import keras_to_tflite

__all__ = ["to_int8_tflite", "op_list"]


def to_int8_tflite(model, representative):
    """Full-integer int8 conversion of a Keras model (int8 input and output).

    Parameters
    ----------
    model : keras.Model
    representative : ndarray of shape (n, *input_shape)
        Typical inputs, for calibrating the activation ranges (a few hundred
        windows).

    Returns
    -------
    bytes
        The ``.tflite`` flatbuffer.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import to_int8_tflite
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> tflite = to_int8_tflite(strided_ds((16, 20, 1), 3), rep)
    >>> tflite[4:8]
    b'TFL3'
    """
    rep = np.asarray(representative, np.float32)

    def full_integer(conv, tf):
        conv.representative_dataset = lambda: ([rep[i : i + 1]] for i in range(len(rep)))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8

    return keras_to_tflite(model, full_integer, ignore_warnings="Statistics for quantized inputs")


def op_list(model_bytes):
    """Names of the operators in a ``.tflite`` file, in execution order.

    Parameters
    ----------
    model_bytes : bytes

    Returns
    -------
    list of str

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import op_list, to_int8_tflite
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> sorted(set(op_list(to_int8_tflite(strided_ds((16, 20, 1), 3), rep))))
    ['CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED', 'MEAN', 'SOFTMAX']
    """
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    m = fb.Model.GetRootAsModel(model_bytes, 0)
    out = []
    for s in range(m.SubgraphsLength()):
        g = m.Subgraphs(s)
        for i in range(g.OperatorsLength()):
            code = m.OperatorCodes(g.Operators(i).OpcodeIndex())
            op = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            out.append(code.CustomCode().decode() if op == fb.BuiltinOperator.CUSTOM else names[op])
    return out
