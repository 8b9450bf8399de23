"""The OpenL3 audio network, its spectrogram frontend, and its weight files.

Our own implementation of the published OpenL3 audio architecture (Cramer et
al., 2019) in Keras 3: 48 kHz input, 1 s windows, a log spectrogram frontend
and four blocks of 3x3 convolutions with batch normalisation (64/128/256/512
filters), 4,689,860 parameters. The frontend is numpy (it matches kapre 0.4's
layers as openl3 0.4 configures them); the weights load from the official
``openl3_audio_<input_repr>_<content_type>.h5`` files (legacy Keras HDF5,
weights in layer order) with h5py, so no Keras HDF5 loader is involved.

TensorFlow/Keras are imported only when a network is built.
"""

from __future__ import annotations

import os

import numpy as np

# the weight files' names and configurations belong to the weights layer, below this one
from ..weights import CONTENT_TYPES, INPUT_REPRS, weights_filename

__all__ = [
    "INPUT_REPRS",
    "CONTENT_TYPES",
    "EMBEDDING_SIZES",
    "SR",
    "WINDOW",
    "frontend",
    "build_network",
    "inference_network",
    "load_weights",
    "save_weights",
    "weight_layout",
    "weights_filename",
]

SR = 48000
WINDOW = SR  # one second
EMBEDDING_SIZES = (512, 6144)

# STFT settings of each input representation (kapre 0.4 as openl3 0.4 builds it).
_FRONTENDS = {
    "linear": {"n_fft": 512, "n_mels": None, "pad_end": False},
    "mel128": {"n_fft": 2048, "n_mels": 128, "pad_end": True},
    "mel256": {"n_fft": 2048, "n_mels": 256, "pad_end": True},
}
_HOP = 242
_AMIN = 1e-10
_DYNAMIC_RANGE = 80.0
# Final max-pool size giving the 512- or 6144-value embedding.
_POOL = {
    "linear": {6144: (8, 8), 512: (32, 24)},
    "mel128": {6144: (4, 8), 512: (16, 24)},
    "mel256": {6144: (8, 8), 512: (32, 24)},
}
_FILTERS = (64, 128, 256, 512)
_BN_EPSILON = 1e-3  # Keras' default, with which the official weights were trained


def _check(input_repr, content_type=None, embedding_size=None):
    if input_repr not in INPUT_REPRS:
        raise ValueError(f"input_repr must be one of {INPUT_REPRS}, got {input_repr!r}")
    if content_type is not None and content_type not in CONTENT_TYPES:
        raise ValueError(f"content_type must be one of {CONTENT_TYPES}, got {content_type!r}")
    if embedding_size is not None and embedding_size not in EMBEDDING_SIZES:
        raise ValueError(f"embedding_size must be one of {EMBEDDING_SIZES}, got {embedding_size!r}")


def input_shape(input_repr):
    """Network input ``(freq, time, 1)`` for one 1 s window.

    Examples
    --------
    >>> from embedclf.features.openl3_net import input_shape
    >>> input_shape("mel256"), input_shape("linear")
    ((256, 199, 1), (257, 197, 1))
    """
    _check(input_repr)
    cfg = _FRONTENDS[input_repr]
    n_freq = cfg["n_mels"] or cfg["n_fft"] // 2 + 1
    if cfg["pad_end"]:
        n_frames = -(-WINDOW // _HOP)
    else:
        n_frames = 1 + (WINDOW - cfg["n_fft"]) // _HOP
    return (n_freq, n_frames, 1)


_BASES = {}


def _basis(input_repr):
    if input_repr not in _BASES:
        from .mel import mel_filterbank

        cfg = _FRONTENDS[input_repr]
        if cfg["n_mels"]:
            basis = mel_filterbank(SR, cfg["n_fft"], cfg["n_mels"], 0.0, SR / 2, False, "slaney")
        else:
            basis = np.eye(cfg["n_fft"] // 2 + 1)
        _BASES[input_repr] = basis.astype(np.float32)
    return _BASES[input_repr]


def frontend(windows, input_repr):
    """Log spectrograms of 1 s windows at 48 kHz, shaped for the network.

    STFT with a periodic Hann window (hop 242; n_fft 2048 for mel, 512 for
    linear; mel frames zero-pad the end so every sample is covered), the
    magnitude, a Slaney mel filterbank (mel only), then
    ``10 log10(max(x, 1e-10))`` minus the window's maximum, floored at -80 dB.

    Parameters
    ----------
    windows : ndarray of shape (n, 48000), float
    input_repr : {"linear", "mel128", "mel256"}

    Returns
    -------
    ndarray of shape (n, freq, time, 1), float32

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.openl3_net import frontend
    >>> x = np.random.default_rng(0).standard_normal((2, 48000)).astype("float32")
    >>> frontend(x, "mel128").shape
    (2, 128, 199, 1)
    """
    from .mel import mel_power, stft_window

    _check(input_repr)
    windows = np.asarray(windows, dtype=np.float32)
    if windows.ndim != 2 or windows.shape[1] != WINDOW:
        raise ValueError(f"windows must have shape (n, {WINDOW}), got {windows.shape}")
    cfg = _FRONTENDS[input_repr]
    n_fft = cfg["n_fft"]
    n_freq, n_frames, _ = input_shape(input_repr)
    if cfg["pad_end"]:  # zero-pad so frames = ceil(48000 / 242)
        windows = np.pad(windows, ((0, 0), (0, (n_frames - 1) * _HOP + n_fft - WINDOW)))
    mags = mel_power(
        list(windows),
        n_fft,
        _HOP,
        stft_window("hann", n_fft, n_fft),
        False,
        "constant",
        1.0,
        _basis(input_repr),
    )
    S = np.stack(mags)  # (n, time, freq)
    np.maximum(S, np.float32(_AMIN), out=S)
    np.log10(S, out=S)
    S *= np.float32(10.0)
    S -= S.max(axis=(1, 2), keepdims=True)
    np.maximum(S, np.float32(-_DYNAMIC_RANGE), out=S)
    return np.ascontiguousarray(S.transpose(0, 2, 1)[..., None])


def build_network(input_repr="mel256", embedding_size=512, dtype=None):
    """The OpenL3 audio network (spectrogram in, embedding out), uninitialised.

    Parameters
    ----------
    input_repr : {"linear", "mel128", "mel256"}, default="mel256"
    embedding_size : {512, 6144}, default=512
    dtype : str, optional
        Keras dtype policy for the layers, e.g. ``"mixed_bfloat16"`` (weights
        stay float32; the fast mode). Default float32.

    Returns
    -------
    keras.Model
        Input ``(freq, time, 1)``; output ``(embedding_size,)``: a max pool
        over the final 512-channel map, flattened.

    Examples
    --------
    >>> from embedclf.features.openl3_net import build_network
    >>> build_network("mel128").count_params()  # doctest: +SKIP
    4689860
    """
    _check(input_repr, embedding_size=embedding_size)
    from keras import Input, Model, layers

    kw = {} if dtype is None else {"dtype": dtype}
    x = inp = Input(shape=input_shape(input_repr), dtype="float32", name="spectrogram")
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name="input_bn", **kw)(x)
    for block, filters in enumerate(_FILTERS, 1):
        for k in (1, 2):
            last = block == len(_FILTERS) and k == 2
            x = layers.Conv2D(
                filters,
                (3, 3),
                padding="same",
                **kw,
                name="audio_embedding_layer" if last else f"conv{block}_{k}",
            )(x)
            if last:
                break
            x = layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"bn{block}_{k}", **kw)(x)
            x = layers.Activation("relu", name=f"relu{block}_{k}", **kw)(x)
        if block < len(_FILTERS):
            x = layers.MaxPooling2D((2, 2), strides=2, name=f"pool{block}", **kw)(x)
    x = layers.MaxPooling2D(
        _POOL[input_repr][embedding_size], padding="same", name="embedding_pool", **kw
    )(x)
    x = layers.Flatten(name="embedding", dtype="float32")(x)
    return Model(inp, x, name=f"openl3_{input_repr}_{embedding_size}")


def inference_network(model, dtype="float32"):
    """The same network for inference only: batch norms folded into the convolutions.

    Each convolution followed by batch normalisation becomes one convolution
    with scaled kernels and shifted biases and a fused ReLU, so a pass reads
    and writes every activation map once instead of three times. The input
    batch norm (one channel, before the zero padding of the first convolution)
    stays a scale and shift. In float32 the outputs equal ``model``'s to
    rounding (relative 1e-6); ``dtype="bfloat16"`` runs every layer in
    bfloat16, the precision this CPU's AMX tiles compute in.

    Parameters
    ----------
    model : keras.Model
        From :func:`build_network`, with weights loaded.
    dtype : {"float32", "bfloat16"}, default="float32"

    Returns
    -------
    keras.Model
        Float32 spectrogram in, float32 embedding out.

    Examples
    --------
    >>> from embedclf.features.openl3_net import build_network, inference_network
    >>> fast = inference_network(build_network("mel128", 512), "bfloat16")   # doctest: +SKIP
    >>> fast.output_shape                                                    # doctest: +SKIP
    (None, 512)
    """
    from keras import Input, Model, layers, ops

    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"dtype must be 'float32' or 'bfloat16', got {dtype!r}")
    weights = {layer.name: layer.get_weights() for layer in _weighted_layers(model)}

    def bn_affine(name):
        gamma, beta, mean, var = weights[name]
        scale = gamma / np.sqrt(var + _BN_EPSILON)
        return scale, beta - mean * scale

    pool = next(layer for layer in model.layers if layer.name == "embedding_pool").pool_size
    x = inp = Input(shape=model.input_shape[1:], dtype="float32", name="spectrogram")
    scale, shift = bn_affine("input_bn")
    x = ops.cast(x * scale + shift, dtype)
    for block, filters in enumerate(_FILTERS, 1):
        for k in (1, 2):
            last = block == len(_FILTERS) and k == 2
            name = "audio_embedding_layer" if last else f"conv{block}_{k}"
            kernel, bias = weights[name]
            if not last:
                scale, shift = bn_affine(f"bn{block}_{k}")
                kernel, bias = kernel * scale, bias * scale + shift
            conv = layers.Conv2D(
                filters,
                (3, 3),
                padding="same",
                dtype=dtype,
                name=name,
                activation=None if last else "relu",
            )
            x = conv(x)
            conv.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
            if last:
                break
        if block < len(_FILTERS):
            x = layers.MaxPooling2D((2, 2), strides=2, name=f"pool{block}", dtype=dtype)(x)
    x = layers.MaxPooling2D(pool, padding="same", name="embedding_pool", dtype=dtype)(x)
    x = ops.cast(layers.Flatten(name="embedding", dtype=dtype)(x), "float32")
    return Model(inp, x, name=f"{model.name}_inference_{dtype}")


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


# Names of each weighted layer's variables in the legacy files, in Keras' order.
_CONV_WEIGHTS = ("kernel", "bias")
_BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")


def weight_layout(model):
    """(layer kind, [weight shapes]) of each weighted layer, in file order.

    Examples
    --------
    >>> from embedclf.features.openl3_net import build_network, weight_layout
    >>> weight_layout(build_network())[:2]  # doctest: +SKIP
    [('batch_normalization', [(1,), (1,), (1,), (1,)]), ('conv2d', [(3, 3, 1, 64), (64,)])]
    """
    out = []
    for layer in _weighted_layers(model):
        kind = "conv2d" if "conv" in type(layer).__name__.lower() else "batch_normalization"
        out.append((kind, [tuple(w.shape) for w in layer.weights]))
    return out


def _as_str(x):
    return x.decode("utf8") if isinstance(x, bytes) else str(x)


def load_weights(model, path):
    """Load an official OpenL3 ``.h5`` weight file into ``model``, by layer order.

    The file is legacy Keras HDF5 (``save_weights`` or a whole saved model):
    root attribute ``layer_names`` lists layers in order, each layer group
    lists its ``weight_names``. Layers without weights (including a kapre
    frontend's) are ignored; the 16 weighted layers are matched in order and
    every shape is checked.

    Parameters
    ----------
    model : keras.Model
        From :func:`build_network`.
    path : str or path-like

    Raises
    ------
    ValueError
        The file does not hold OpenL3's layers (the message says what it
        found), or a shape differs.

    Examples
    --------
    >>> from embedclf.features.openl3_net import build_network, load_weights
    >>> model = build_network("mel256", 512)                         # doctest: +SKIP
    >>> load_weights(model, "openl3_audio_mel256_music.h5")          # doctest: +SKIP
    """
    import h5py

    path = os.fspath(path)
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not an HDF5 weight file ({exc})") from None
    with fh:
        group = fh["model_weights"] if "model_weights" in fh else fh
        if "layer_names" not in group.attrs:
            raise ValueError(f"{path}: no 'layer_names' attribute; not a Keras weight file")
        stored = []
        for name in map(_as_str, group.attrs["layer_names"]):
            try:
                names = [_as_str(n) for n in group[name].attrs.get("weight_names", [])]
                leaf = [n.split("/")[-1].split(":")[0] for n in names]
                if tuple(leaf) in (_CONV_WEIGHTS, _BN_WEIGHTS):
                    stored.append((name, [np.asarray(group[name][n]) for n in names]))
            except (KeyError, OSError) as exc:
                raise ValueError(
                    f"{path}: layer {name!r} is incomplete or unreadable ({exc}); "
                    "fetch the file again"
                ) from None
        targets = _weighted_layers(model)
        if len(stored) != len(targets):
            raise ValueError(
                f"{path}: found {len(stored)} convolution/batch-norm layers with weights, the "
                f"OpenL3 audio network has {len(targets)}; is this an openl3_audio_*.h5 file?"
            )
        for (name, arrays), layer in zip(stored, targets):
            shapes = [tuple(w.shape) for w in layer.weights]
            if [a.shape for a in arrays] != shapes:
                raise ValueError(
                    f"{path}: layer {name!r} has weights of shapes "
                    f"{[a.shape for a in arrays]}, expected {shapes}"
                )
            layer.set_weights(arrays)


def save_weights(model, path, layer_prefix="", frontend_layer=None):
    """Write ``model``'s weights in the official legacy layout (atomically).

    Used by the tests and the parity benchmark to make weight files without
    downloading anything; ``openl3``'s own loader reads them.

    Parameters
    ----------
    model : keras.Model
    path : str or path-like
    layer_prefix : str, default=""
        Prepended to generated layer names.
    frontend_layer : str, optional
        Name of a weightless frontend layer to list first, as in files saved
        from a model with a kapre frontend.

    Examples
    --------
    >>> import os, tempfile
    >>> from embedclf.features.openl3_net import build_network, save_weights
    >>> path = os.path.join(tempfile.mkdtemp(), "openl3_audio_mel256_music.h5")
    >>> save_weights(build_network("mel256", 512), path)              # doctest: +SKIP
    """
    import h5py

    from ..files import atomic_write

    def write(tmp):
        with h5py.File(tmp, "w") as fh:
            names = [] if frontend_layer is None else [frontend_layer]
            counters = {}
            if frontend_layer is not None:
                fh.create_group(frontend_layer).attrs["weight_names"] = np.array([], dtype="S1")
            for layer in _weighted_layers(model):
                kind = "conv2d" if "conv" in type(layer).__name__.lower() else "batch_normalization"
                counters[kind] = counters.get(kind, 0) + 1
                name = f"{layer_prefix}{kind}_{counters[kind]}"
                leaves = _CONV_WEIGHTS if kind == "conv2d" else _BN_WEIGHTS
                g = fh.create_group(name)
                wnames = [f"{name}/{leaf}:0" for leaf in leaves]
                g.attrs["weight_names"] = np.array([w.encode() for w in wnames])
                for wname, value in zip(wnames, layer.get_weights()):
                    g.create_dataset(wname, data=value)
                names.append(name)
            fh.attrs["layer_names"] = np.array([n.encode() for n in names])
            fh.attrs["backend"] = b"tensorflow"
            fh.attrs["keras_version"] = b"2.2.4"

    atomic_write(path, write)
