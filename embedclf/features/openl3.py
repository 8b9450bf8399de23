"""OpenL3Embedding: OpenL3 audio embeddings from our Keras 3 network.

Same embeddings as the upstream ``openl3`` package on the same weights, on
current TensorFlow/Keras, inside scikit-learn pipelines, cached and batched
by the shared :class:`~embedclf.features.embeddings.PretrainedEmbedding`
base. Weights are the official files, found by :mod:`embedclf.weights`.
"""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from . import openl3_net as net
from .embeddings import PretrainedEmbedding

__all__ = ["OpenL3Embedding"]

#: what each ``fast`` value runs
FAST_MODES = {False: "exact", True: "int8", "int8": "int8", "bfloat16": "bfloat16"}
_LITERT_HINT = "the int8 fast mode needs it: pip install 'embedclf[openl3]'"


class _OpenL3Runner:
    """Network + frontend, compiled once for inference.

    ``mode`` is "exact" (the published network in float32), "bfloat16" (batch
    norms folded, every layer in bfloat16 on TensorFlow/oneDNN) or "int8"
    (batch norms folded, int8 weights and per-window dynamically quantized
    activations on LiteRT/XNNPACK).
    """

    def __init__(self, input_repr, embedding_size, weights_path, mode, num_threads=None):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        self.input_repr, self.mode = input_repr, mode
        model = net.build_network(input_repr, embedding_size)
        net.load_weights(model, weights_path)
        if mode == "int8":
            from .._litert import interpreter_class, keras_to_tflite
            from ..threads import model_threads

            Interpreter = interpreter_class(_LITERT_HINT)
            self._interpreter = Interpreter(
                model_content=keras_to_tflite(net.inference_network(model)),
                num_threads=model_threads(num_threads),
            )
            self._interpreter.allocate_tensors()
            self._io = (
                self._interpreter.get_input_details()[0]["index"],
                self._interpreter.get_output_details()[0]["index"],
            )
            return
        if mode == "bfloat16":
            model = net.inference_network(model, "bfloat16")
        # One window per call: one trace, and results that do not depend on which other
        # windows share a call. oneDNN picks kernels by batch size, and on some CPUs
        # (AMD EPYC, AVX2) a window's output also changes in the last bits with its
        # position in a batch. Throughput per window is flat from batch 1 to 32.
        spec = tf.TensorSpec((1, *net.input_shape(input_repr)), tf.float32)
        self.model = model
        self._call = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        if mode == "bfloat16":  # oneDNN has no bfloat16 convolution on CPUs before AVX-512
            try:
                self._call(np.zeros(spec.shape, np.float32))
            except tf.errors.OpError as exc:
                raise RuntimeError(
                    "OpenL3Embedding(fast='bfloat16') is not supported on this CPU: "
                    "TensorFlow/oneDNN has no bfloat16 convolution for it (it needs AVX-512 "
                    "or AMX). Use fast=True (int8) or fast=False."
                ) from exc

    def __call__(self, windows):
        spec = net.frontend(windows, self.input_repr)
        if self.mode == "int8":  # one window per call: its activations quantized on its own range
            it, (i_in, i_out) = self._interpreter, self._io
            out = np.empty((len(spec), it.get_output_details()[0]["shape"][-1]), np.float32)
            for k in range(len(spec)):
                it.set_tensor(i_in, spec[k : k + 1])
                it.invoke()
                out[k] = it.get_tensor(i_out)[0]
            return out
        out = [np.asarray(self._call(spec[k : k + 1]), np.float32) for k in range(len(spec))]
        return np.concatenate(out)


class OpenL3Embedding(PretrainedEmbedding):
    """OpenL3 audio embeddings: 512 or 6144 values per 1 s window at 48 kHz.

    Our Keras 3 implementation of the published OpenL3 audio network, loading
    the official weight files unchanged; embeddings match the upstream
    ``openl3`` 0.4.2 code on the same weights. Windows
    follow openl3: with ``center=True`` half a window of zeros is prepended,
    so ``times`` are window centres; the end is zero-padded until covered.

    Parameters
    ----------
    content_type : {"music", "env"}, default="music"
        Which training set the embedding was learned on.
    input_repr : {"mel256", "mel128", "linear"}, default="mel256"
    embedding_size : {6144, 512}, default=6144
    hop : float, default=0.1
        Seconds between windows.
    center : bool, default=True
    batch_size : int, default=32
        Windows gathered across clips per frontend call. The network itself
        runs one window at a time, so an embedding never depends on which
        other windows shared its batch.
    sr : int, default=48000
        Rate of in-memory waveforms; files are resampled to 48 kHz (soxr).
    weights : str, path-like or None, default=None
        A weight file or a folder holding ``openl3_audio_<repr>_<content>.h5``;
        default: ``EMBEDCLF_WEIGHTS``, the user cache, an installed ``openl3``
        (see :func:`embedclf.weights.find_openl3`). Missing weights raise an
        error naming the file and the fetch command.
    fast : {False, True, "int8", "bfloat16"}, default=False
        Trade exactness for speed (speed and closeness to exact are measured
        in the documentation's OpenL3 results). ``True`` or ``"int8"``: batch
        norms folded into the convolutions, int8 weights and per-window
        dynamically quantized activations on LiteRT's XNNPACK (needs
        ``ai-edge-litert``), the fastest mode. ``"bfloat16"``: every layer in
        bfloat16 on TensorFlow (AMX tiles where the CPU has them), closer to
        exact than int8; check either against exact on your own data before
        relying on it. CPUs without AVX-512 have no bfloat16 convolutions,
        and there the first use raises a ``RuntimeError`` saying so.
        ``False``: the published network in float32.
    num_threads : int or None, default=None
        Threads of the int8 mode's LiteRT interpreter. ``None``: the CPUs
        this process may use (:func:`embedclf.threads.model_threads`: CPU
        affinity and cgroup quota; inside a joblib worker, that worker's
        share). The float32 and bfloat16 modes run in TensorFlow's
        process-wide thread pools (``tf.config.threading``). Never part of
        the cache key: it does not change the embeddings.
    cache : str, path-like, joblib.Memory or None, default=None
        Embedding cache folder (content-keyed, atomic).
    progress : bool, default=False
    on_error : {"raise", "skip"}, default="raise"
    hop_size : float, default="deprecated"
        The old name of ``hop``: still accepted, with a :class:`FutureWarning`,
        until 0.4.

    Attributes
    ----------
    embedding_dim_ : int
    weights_path_ : str
        The weight file in use.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf import OpenL3Embedding
    >>> emb = OpenL3Embedding(embedding_size=512, weights="openl3_audio_mel256_music.h5")
    >>> y = np.zeros(48000, dtype="float32")
    >>> emb.fit([y]).transform([y])[0].shape  # doctest: +SKIP
    (11, 512)
    """

    model_sr = net.SR
    window_seconds = 1.0

    _parameter_constraints = {
        **PretrainedEmbedding._common_constraints,
        "content_type": [StrOptions(set(net.CONTENT_TYPES))],
        "input_repr": [StrOptions(set(net.INPUT_REPRS))],
        "embedding_size": [StrOptions({"512", "6144"}), Integral],
        "weights": [str, os.PathLike, None],
        "fast": ["boolean", StrOptions({"int8", "bfloat16"})],
        "num_threads": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        content_type="music",
        input_repr="mel256",
        embedding_size=6144,
        hop=0.1,
        center=True,
        batch_size=32,
        sr=48000,
        weights=None,
        fast=False,
        num_threads=None,
        cache=None,
        progress=False,
        on_error="raise",
        hop_size="deprecated",
    ):
        self.content_type = content_type
        self.input_repr = input_repr
        self.embedding_size = embedding_size
        self.hop = hop
        self.center = center
        self.batch_size = batch_size
        self.sr = sr
        self.weights = weights
        self.fast = fast
        self.num_threads = num_threads
        self.cache = cache
        self.progress = progress
        self.on_error = on_error
        self.hop_size = hop_size

    @property
    def _hop(self):
        # openl3 truncates: int(hop_size * 48000) samples (0.0999999 s -> 4799)
        return max(1, int(self._hop_seconds() * self.model_sr))

    def _weights_path(self):
        """The fitted weight file if it is still there, else a fresh lookup.

        A fitted model moved to another machine finds its weights again
        through ``EMBEDCLF_WEIGHTS``, the user cache or an installed openl3.
        """
        from ..weights import find_openl3

        fitted = getattr(self, "weights_path_", None)
        if fitted and os.path.isfile(fitted):
            return fitted
        return find_openl3(self.input_repr, self.content_type, self.weights)

    def _fit_clips(self, X, y):
        if int(self.embedding_size) not in net.EMBEDDING_SIZES:
            raise ValueError(f"embedding_size must be 512 or 6144, got {self.embedding_size}")
        self.__dict__.pop("weights_path_", None)  # a refit looks the weights up again
        self.weights_path_ = self._weights_path()
        super()._fit_clips(X, y)

    def _load_model(self):
        path = self._weights_path()
        return _OpenL3Runner(
            self.input_repr, int(self.embedding_size), path, FAST_MODES[self.fast], self.num_threads
        )

    def _embed_windows(self, windows):
        return self._model()(windows)

    def _embedding_dim(self):
        return int(self.embedding_size)

    def _cache_config(self):
        from ..files import file_digest

        return {
            "input_repr": self.input_repr,
            "content_type": self.content_type,
            "embedding_size": int(self.embedding_size),
            "fast": FAST_MODES[self.fast],
            "weights_sha256": file_digest(self._weights_path()),
        }

    def __setstate__(self, state):
        # embeddings pickled before num_threads existed
        super().__setstate__({"num_threads": None, **state})
