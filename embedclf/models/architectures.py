"""Named small CNNs for log-mel windows, and their cost (parameters, MACs).

Each architecture is a function ``f(input_shape, n_classes, *, width=1.0,
dropout=..., seed=0) -> keras.Model`` taking a ``(n_mels, n_frames, 1)``
input and returning class probabilities (softmax). Only ops that TensorFlow
Lite Micro runs in int8 are used (Conv2D, DepthwiseConv2D, MaxPool2D,
AveragePool2D, Dense, ReLU, Softmax; batch norm folds into the convolutions
on conversion), so every architecture can be distilled and exported.

``width`` scales every layer's filter count (the knob the distiller turns to
meet a flash/RAM budget).
"""

from __future__ import annotations

import os

__all__ = [
    "ARCHITECTURES",
    "get_architecture",
    "sbcnn",
    "ds_cnn",
    "strided_ds",
    "count_macs",
    "count_params",
]


# Keras's default 0.99 needs thousands of steps before the running statistics
# used at inference are right; small audio sets give a few hundred.
_BN_MOMENTUM = 0.9


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def _filters(n, width):
    return max(4, int(round(n * width)))


def _conv_bn_relu(x, layers, filters, kernel, seed, strides=1, name=None):
    x = layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer=_init(seed),
        name=name,
    )(x)
    x = layers.BatchNormalization(momentum=_BN_MOMENTUM)(x)
    return layers.ReLU()(x)


def _ds_block(x, layers, filters, seed, strides=1):
    """Depthwise 3x3 then pointwise 1x1, each with batch norm and ReLU."""
    x = layers.DepthwiseConv2D(
        3, strides=strides, padding="same", use_bias=False, depthwise_initializer=_init(seed)
    )(x)
    x = layers.BatchNormalization(momentum=_BN_MOMENTUM)(x)
    x = layers.ReLU()(x)
    return _conv_bn_relu(x, layers, filters, 1, seed + 1)


def _init(seed):
    keras = _keras()
    return keras.initializers.HeUniform(seed=seed)


def _head(x, layers, n_classes, dropout, seed, hidden=None):
    keras = _keras()
    if hidden:
        x = layers.Dropout(dropout, seed=seed)(x)
        x = layers.Dense(hidden, activation="relu", kernel_initializer=_init(seed + 1))(x)
    x = layers.Dropout(dropout, seed=seed + 2)(x)
    x = layers.Dense(n_classes, kernel_initializer=keras.initializers.GlorotUniform(seed + 3))(x)
    return layers.Softmax()(x)


def sbcnn(input_shape, n_classes, *, width=1.0, dropout=0.5, seed=0):
    """SB-CNN-like network (Salamon & Bello 2017): the accurate default.

    Three 5x5 convolution blocks (24, 48, 48 filters x ``width``) with batch
    norm and ReLU, 3x2 / 3x2 max pooling after the first two, global max
    pooling, then a dropout + dense(64) + dropout + softmax head.

    Parameters
    ----------
    input_shape : tuple of int
        ``(n_mels, n_frames, 1)``.
    n_classes : int
    width : float, default=1.0
        Multiplies every filter count.
    dropout : float, default=0.5
    seed : int, default=0
        Seeds the initialisers and dropout.

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> from embedclf.models.architectures import sbcnn, count_params
    >>> count_params(sbcnn((40, 32, 1), 10, width=0.5))
    23270
    """
    keras = _keras()
    layers = keras.layers
    inp = keras.Input(input_shape)
    x = _conv_bn_relu(inp, layers, _filters(24, width), 5, seed)
    x = layers.MaxPool2D((3, 2), padding="same")(x)
    x = _conv_bn_relu(x, layers, _filters(48, width), 5, seed + 10)
    x = layers.MaxPool2D((3, 2), padding="same")(x)
    x = _conv_bn_relu(x, layers, _filters(48, width), 5, seed + 20)
    x = layers.GlobalMaxPooling2D()(x)
    out = _head(x, layers, n_classes, dropout, seed + 30, hidden=_filters(64, width))
    return keras.Model(inp, out, name="sbcnn")


def ds_cnn(input_shape, n_classes, *, width=1.0, dropout=0.3, seed=0):
    """Depthwise-separable CNN (Zhang et al. 2017, "Hello Edge" DS-CNN-S).

    A strided 5x5 convolution (32 x ``width`` filters, stride 2), four
    depthwise-separable blocks at the same width, global average pooling
    and a softmax layer.

    Parameters
    ----------
    input_shape : tuple of int
    n_classes : int
    width : float, default=1.0
    dropout : float, default=0.3
    seed : int, default=0

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> from embedclf.models.architectures import ds_cnn, count_params
    >>> count_params(ds_cnn((40, 32, 1), 10, width=0.5))
    2746
    """
    keras = _keras()
    layers = keras.layers
    inp = keras.Input(input_shape)
    f = _filters(32, width)
    x = _conv_bn_relu(inp, layers, f, 5, seed, strides=2)
    for i in range(4):
        x = _ds_block(x, layers, f, seed + 10 * (i + 1))
    x = layers.GlobalAveragePooling2D()(x)
    out = _head(x, layers, n_classes, dropout, seed + 60)
    return keras.Model(inp, out, name="ds_cnn")


def strided_ds(input_shape, n_classes, *, width=1.0, dropout=0.2, seed=0):
    """Tiny strided depthwise-separable CNN for microcontrollers.

    A 3x3 stride-2 convolution (16 x ``width`` filters), then three
    depthwise-separable blocks with stride 2 (no pooling layers: strides cut
    both compute and the activation memory that sets the tensor arena) at
    16, 32, 32 filters x ``width``, global average pooling and softmax.

    Parameters
    ----------
    input_shape : tuple of int
    n_classes : int
    width : float, default=1.0
    dropout : float, default=0.2
    seed : int, default=0

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> from embedclf.models.architectures import strided_ds, count_params
    >>> count_params(strided_ds((40, 32, 1), 10))
    3482
    """
    keras = _keras()
    layers = keras.layers
    inp = keras.Input(input_shape)
    x = _conv_bn_relu(inp, layers, _filters(16, width), 3, seed, strides=2)
    for i, n in enumerate((16, 32, 32)):
        x = _ds_block(x, layers, _filters(n, width), seed + 10 * (i + 1), strides=2)
    x = layers.GlobalAveragePooling2D()(x)
    out = _head(x, layers, n_classes, dropout, seed + 50)
    return keras.Model(inp, out, name="strided_ds")


#: Architectures by name.
ARCHITECTURES = {"sbcnn": sbcnn, "ds_cnn": ds_cnn, "strided_ds": strided_ds}


def get_architecture(architecture):
    """Resolve a name or callable to an architecture function.

    Parameters
    ----------
    architecture : str or callable
        A key of :data:`ARCHITECTURES`, or a callable
        ``f(input_shape, n_classes, seed=...) -> keras.Model``.

    Returns
    -------
    callable

    Examples
    --------
    >>> from embedclf.models.architectures import get_architecture
    >>> get_architecture("ds_cnn").__name__
    'ds_cnn'
    """
    if callable(architecture):
        return architecture
    try:
        return ARCHITECTURES[architecture]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown architecture {architecture!r}; use one of {sorted(ARCHITECTURES)} "
            "or a callable f(input_shape, n_classes, seed=...) -> keras.Model"
        ) from None


def count_params(model):
    """Number of weights (trainable and not) of a Keras model.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    int

    Examples
    --------
    >>> from embedclf.models.architectures import strided_ds, count_params
    >>> count_params(strided_ds((40, 32, 1), 4)) > 0
    True
    """
    return int(sum(int(w.numpy().size) for w in model.weights))


def count_macs(model):
    """Multiply-accumulates of one forward pass (one window), from layer shapes.

    Counts Conv2D, DepthwiseConv2D and Dense layers, which dominate; pooling,
    batch norm (folded into the convolutions when exported) and activations
    are left out.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    int

    Examples
    --------
    >>> from embedclf.models.architectures import strided_ds, count_macs
    >>> count_macs(strided_ds((40, 32, 1), 10))
    99392
    """
    keras = _keras()
    layers = keras.layers
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * c * kh * kw
        elif isinstance(layer, layers.Conv2D):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * c * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
