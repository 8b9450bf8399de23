"""Shared base for pretrained-embedding transformers.

A backend declares its sample rate, window length, embedding size and a
function from a batch of windows to embeddings; :class:`PretrainedEmbedding`
does the rest: decoding and resampling (streamed in blocks, so memory stays
bounded for arbitrarily long files), framing into the model's windows with
timestamps, batching windows across clips, the ``on_error`` policy, a
progress bar, and a content-keyed on-disk cache.

Framing follows openl3: with ``center=True`` half a window of zeros is
prepended so window ``k`` is centred at ``k * hop``; the end is padded
with zeros until the last samples are covered. ``times`` are
``k * hop``: the window centre with ``center=True``, its start otherwise.
``hop`` is in seconds (it was called ``hop_size`` before 0.2; the old name
still works, with a :class:`FutureWarning`, until 0.4).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._utils.deprecation import DEPRECATED, migrate_state, renamed_value
from .._utils.validation import check_n_features, check_X, is_path
from ..audio import (
    AudioError,
    ClipTransformer,
    content_key,
    resample,
    skipped_columns,
    skipped_frame,
    skipped_from_columns,
    stream_audio,
    to_mono,
    warn_skipped,
)
from ..distributed import distribute
from ..files import atomic_write

__all__ = ["PretrainedEmbedding", "Embedding", "EmbeddingCache", "frame_count"]


@dataclass
class Embedding:
    """Embeddings of one clip with their timestamps.

    Attributes
    ----------
    values : ndarray of shape (n_windows, dim), float32
    times : ndarray of shape (n_windows,)
        Seconds: window centres with ``center=True``, window starts otherwise.
    source : str
        The path, or ``"clip <index>"``.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.features.embeddings import Embedding
    >>> Embedding(np.zeros((2, 4), "float32"), np.array([0.0, 0.5]), "a.wav").times.tolist()
    [0.0, 0.5]
    """

    values: np.ndarray
    times: np.ndarray
    source: str = ""


def frame_count(n_samples, window, hop, center):
    """Number of windows covering ``n_samples`` (openl3's framing rule).

    Parameters
    ----------
    n_samples, window, hop : int
        Lengths in samples.
    center : bool
        Whether half a window of zeros is prepended.

    Returns
    -------
    int

    Examples
    --------
    >>> from embedclf.features.embeddings import frame_count
    >>> frame_count(480000, 48000, 4800, center=True)   # 10 s at hop 0.1 s
    96
    >>> frame_count(100, 48000, 4800, center=False)     # shorter than a window
    1
    """
    padded = n_samples + (window // 2 if center else 0)
    if padded <= window:
        return 1
    return 1 + int(np.ceil((padded - window) / hop))


class _Framer:
    """Turn a stream of sample blocks into fixed-length windows (bounded memory)."""

    def __init__(self, window, hop, center):
        self.window, self.hop, self.center = window, hop, center
        self.buf = np.zeros(window // 2 if center else 0, dtype=np.float32)
        self.offset = 0  # padded-signal index of buf[0]
        self.next_start = 0
        self.n_samples = 0
        self.emitted = 0

    def push(self, block):
        self.n_samples += len(block)
        self.buf = np.concatenate([self.buf, block.astype(np.float32, copy=False)])
        while self.next_start + self.window <= self.offset + len(self.buf):
            a = self.next_start - self.offset
            yield self.buf[a : a + self.window].copy()
            self.emitted += 1
            self.next_start += self.hop
        drop = min(self.next_start - self.offset, len(self.buf))
        if drop > 0:  # keep only what later windows still need
            self.buf = self.buf[drop:]
            self.offset += drop

    def finish(self):
        total = frame_count(self.n_samples, self.window, self.hop, self.center)
        while self.emitted < total:
            a = self.next_start - self.offset
            w = np.zeros(self.window, dtype=np.float32)
            part = self.buf[max(a, 0) : a + self.window]
            w[: len(part)] = part
            yield w
            self.emitted += 1
            self.next_start += self.hop


class EmbeddingCache:
    """On-disk cache of per-clip embeddings, keyed by content and model config.

    Each entry is an ``.npz`` written to a temporary file and renamed into
    place, so a crash never leaves a partial entry under the final name; an
    unreadable entry (e.g. written by something else), or one holding NaN or
    inf, is ignored, recomputed and replaced. Non-finite values are never
    stored.

    Parameters
    ----------
    location : str or path-like or joblib.Memory
        A directory, or a ``joblib.Memory`` whose location is used.
    namespace : str
        Model and configuration identity; part of the folder name.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from embedclf.features.embeddings import EmbeddingCache
    >>> cache = EmbeddingCache(tempfile.mkdtemp(), "demo-model")
    >>> cache.put("abc", np.ones((2, 3), "float32"), np.array([0.0, 1.0]))
    >>> cache.get("abc")[0].shape
    (2, 3)
    """

    def __init__(self, location, namespace):
        if hasattr(location, "location"):  # joblib.Memory
            location = location.location
            if location is None:
                raise ValueError("the joblib.Memory given as cache has no location")
        self.dir = os.path.join(os.path.expanduser(os.fspath(location)), namespace)
        os.makedirs(self.dir, exist_ok=True)

    def _path(self, key):
        return os.path.join(self.dir, f"{key}.npz")

    def get(self, key, dim=None):
        """The entry's ``(values, times)``, or None when absent or not trustworthy.

        An entry that cannot be read, whose arrays do not have the expected
        shapes (``(n, dim)`` values, ``n`` times), or that holds NaN or inf
        (poisoned), is ignored with a warning.
        """
        path = self._path(key)
        if not os.path.exists(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                values, times = z["values"], z["times"]
            if (
                values.ndim != 2
                or times.shape != (values.shape[0],)
                or (dim is not None and values.shape[1] != dim)
            ):
                raise ValueError(f"unexpected shapes {values.shape} and {times.shape}")
            if not (np.isfinite(values).all() and np.isfinite(times).all()):
                raise ValueError("it holds NaN or inf values")
            return values, times
        except Exception as exc:  # truncated/corrupt/foreign entry: never trust it
            warnings.warn(
                f"ignoring unreadable cache entry {path} ({exc}); recomputing",
                RuntimeWarning,
                stacklevel=2,
            )
            return None

    def put(self, key, values, times):
        """Store an entry atomically.

        Raises
        ------
        ValueError
            ``values`` or ``times`` hold NaN or inf: such an entry would
            poison every later run, so it is refused.
        """
        if not (np.isfinite(values).all() and np.isfinite(times).all()):
            raise ValueError(f"refusing to cache entry {key}: it holds NaN or inf values")

        def write(tmp):
            with open(tmp, "wb") as fh:  # a handle: np.savez would append .npz to a name
                np.savez(fh, values=values, times=times)

        atomic_write(self._path(key), write)


class PretrainedEmbedding(ClipTransformer):
    """Base class: a pretrained network applied to fixed-length windows of clips.

    Subclasses set ``model_sr`` and ``window_seconds`` (class attributes or
    properties), and implement ``_load_model()``, ``_embed_windows(windows)``
    (a float32 array ``(n, window_samples)`` to ``(n, dim)``),
    ``_embedding_dim()`` and ``_cache_config()``. Parameters every backend
    takes: ``sr``, ``hop`` (seconds between windows), ``center``,
    ``batch_size``, ``cache``, ``progress`` and ``on_error``. A backend
    written before 0.2 with ``hop_size`` instead of ``hop`` still works, with
    a :class:`FutureWarning` in ``fit``.

    The loaded model is not a parameter and not pickled: it is reloaded on
    first use after unpickling or cloning.

    Examples
    --------
    A backend in a dozen lines: 0.5 s windows at 8 kHz, "embedded" by
    their mean and peak.

    >>> import numpy as np
    >>> from embedclf.features.embeddings import PretrainedEmbedding
    >>> class Peak(PretrainedEmbedding):
    ...     model_sr, window_seconds = 8000, 0.5
    ...     _parameter_constraints = PretrainedEmbedding._common_constraints
    ...     def __init__(self, *, sr=8000, hop=0.5, center=False, batch_size=8,
    ...                  cache=None, progress=False, on_error="raise"):
    ...         self.sr, self.hop, self.center, self.batch_size = sr, hop, center, batch_size
    ...         self.cache, self.progress, self.on_error = cache, progress, on_error
    ...     def _load_model(self): return "model"
    ...     def _embed_windows(self, w): return np.c_[w.mean(1), np.abs(w).max(1)]
    ...     def _embedding_dim(self): return 2
    ...     def _cache_config(self): return {}
    >>> e = Peak().fit([np.ones(8000)]).embed([np.ones(8000)])[0]
    >>> e.values.shape, e.times.tolist()
    ((2, 2), [0.0, 0.5])
    """

    model_sr = None
    window_seconds = None

    _common_constraints = {
        "sr": [Interval(Integral, 1, None, closed="left")],
        "hop": [Interval(Real, 0, None, closed="neither")],
        "hop_size": [Interval(Real, 0, None, closed="neither"), StrOptions({DEPRECATED})],
        "center": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "cache": [str, os.PathLike, None, HasMethods(["cache"])],  # dir or joblib.Memory
        "progress": ["boolean"],
        "on_error": [StrOptions({"raise", "skip"})],
    }

    # -- backend interface ---------------------------------------------------------------
    def _load_model(self):
        raise NotImplementedError

    def _embed_windows(self, windows):
        raise NotImplementedError

    def _embedding_dim(self):
        raise NotImplementedError

    def _cache_config(self):
        raise NotImplementedError

    # -- machinery -----------------------------------------------------------------------
    @property
    def _window(self):
        return int(round(self.window_seconds * self.model_sr))

    def _hop_seconds(self, warn=False):
        """``hop``, or the deprecated ``hop_size`` when it is set."""
        return renamed_value(self, "hop_size", "hop", warn=warn)

    @property
    def _hop(self):
        return max(1, int(round(self._hop_seconds() * self.model_sr)))

    def _model(self):
        model = self.__dict__.get("_loaded_model")
        if model is None:
            model = self._load_model()
            self.__dict__["_loaded_model"] = model
        return model

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        state = dict(state)
        state.pop("_loaded_model", None)
        if "skipped_" in state:  # plain lists: safe model files (skops) store no DataFrame
            state["skipped_"] = skipped_columns(state["skipped_"])
        return state

    def __setstate__(self, state):
        state = migrate_state(type(self), dict(state), {"hop_size": "hop"})  # pickled before 0.2
        if "skipped_" in state:
            state["skipped_"] = skipped_from_columns(state["skipped_"])
        super().__setstate__(state)

    def _fit_clips(self, X, y):
        self._hop_seconds(warn=True)
        super()._fit_clips(X, y)
        self.__dict__.pop("_loaded_model", None)  # parameters may have changed since
        self._model()  # fail at fit, with the backend's message, if the model is missing
        self.embedding_dim_ = self._embedding_dim()

    def _cache(self):
        if self.cache is None:
            return None
        config = {
            "class": type(self).__name__,
            "window": self._window,
            "hop": self._hop,
            "center": bool(self.center),
            "model_sr": self.model_sr,
            **self._cache_config(),
        }
        digest = hashlib.blake2b(
            json.dumps(config, sort_keys=True).encode(), digest_size=8
        ).hexdigest()
        return EmbeddingCache(self.cache, f"{type(self).__name__}-{digest}")

    def _blocks(self, clip, source):
        """Mono float32 blocks at the model rate."""
        if is_path(clip):
            return stream_audio(os.fspath(clip), self.model_sr)
        y = to_mono(clip, source)
        return iter([resample(y, self.sr, self.model_sr, source=source)])

    def _clip_windows(self, clip, source):
        return self._clip_windows_from(self._blocks(clip, source))

    def _clip_windows_from(self, blocks):
        framer = _Framer(self._window, self._hop, self.center)
        for block in blocks:
            yield from framer.push(block)
        yield from framer.finish()

    def _key(self, clip, source):
        if is_path(clip):
            return content_key(clip)
        return content_key(clip, self.sr, source)

    def embed(self, X):
        """Embeddings with timestamps, one :class:`Embedding` per kept clip.

        Parameters
        ----------
        X : sequence of clips
            Paths (decoded and resampled to the model's rate, streamed in
            blocks) or waveforms at ``sr``.

        Returns
        -------
        list of Embedding
            In input order; with ``on_error="skip"`` unreadable clips are
            left out and listed in ``skipped_``.
        """
        check_is_fitted(self)
        X = check_X(X)
        check_n_features(self, X)
        if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype != object:
            X = [X[i] for i in range(X.shape[0])]
        remote = distribute(self, "embed", X)  # None: no Dask cluster is active
        if remote is not None:
            if self.on_error == "skip":
                self.skipped_ = skipped_frame(remote[1])
                warn_skipped(self.skipped_, type(self).__name__)
            return remote[0]
        cache = self._cache()
        hop = self._hop
        results, remaining, complete, keys, skipped = {}, {}, set(), {}, []
        pending = []  # (clip index, window): windows of several clips share a batch
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(X), desc=type(self).__name__, unit="clip")

        def maybe_finish(i):
            if i not in complete or remaining[i]:
                return
            values = np.concatenate(results[i]).astype(np.float32, copy=False)
            times = np.arange(len(values)) * (hop / self.model_sr)
            complete.discard(i)
            if not np.isfinite(values).all():  # never returned, never cached
                err = AudioError(
                    sources[i],
                    f"{type(self).__name__} produced NaN or inf "
                    "embeddings (not cached); check the input's level",
                )
                if self.on_error == "raise":
                    raise err
                skipped.append((i, sources[i], err.reason))
                del results[i]
                if bar is not None:
                    bar.update(1)
                return
            results[i] = Embedding(values, times, sources[i])
            if cache is not None:
                cache.put(keys[i], values, times)
            if bar is not None:
                bar.update(1)

        def run_batch():
            batch = np.stack([w for _, w in pending])
            owners = [i for i, _ in pending]
            pending.clear()
            out = np.asarray(self._embed_windows(batch), dtype=np.float32)
            for i, row in zip(owners, out):
                results[i].append(row[None, :])
                remaining[i] -= 1
            for i in dict.fromkeys(owners):
                maybe_finish(i)

        sources = {}
        for i, clip in enumerate(X):
            source = sources[i] = os.fspath(clip) if is_path(clip) else f"clip {i}"
            try:
                if cache is not None:
                    keys[i] = self._key(clip, source)
                    hit = cache.get(keys[i], self.embedding_dim_)
                    if hit is not None:
                        results[i] = Embedding(hit[0], hit[1], source)
                        if bar is not None:
                            bar.update(1)
                        continue
                results[i], remaining[i] = [], 0
                for w in self._clip_windows(clip, source):
                    pending.append((i, w))
                    remaining[i] += 1
                    if len(pending) == self.batch_size:
                        run_batch()
            except AudioError as err:
                if self.on_error == "raise":
                    raise
                skipped.append((i, source, err.reason))
                pending[:] = [(j, w) for j, w in pending if j != i]
                results.pop(i, None)
                remaining.pop(i, None)
                if bar is not None:
                    bar.update(1)
                continue
            complete.add(i)
            maybe_finish(i)
        if pending:
            run_batch()
        if bar is not None:
            bar.close()
        if self.on_error == "skip":
            self.skipped_ = skipped_frame(sorted(skipped))
            warn_skipped(self.skipped_, type(self).__name__)
        return [results[i] for i in sorted(results)]

    #: Every backend embeds a file block by block (:meth:`stream_embeddings`).
    supports_streaming = True

    #: A streamed file whose embeddings take at most this many bytes is added to
    #: the cache (kept until the file ends); longer ones are not cached.
    stream_cache_bytes = 64 * 2**20

    def stream_embeddings(self, path, block_seconds=None):
        """Embeddings of one audio file with their times, ``batch_size`` windows at a time.

        The file is decoded in blocks and cut into windows as :meth:`embed`
        cuts it, so memory holds one block of samples and one batch of
        windows whatever the file's length. Batches start at the file's first
        window, as in ``embed([path])``, so the rows equal its values. With a
        ``cache``, an entry is used when there is one, and a file whose
        embeddings fit in :attr:`stream_cache_bytes` is added once read to
        its end.

        Parameters
        ----------
        path : str or path-like
        block_seconds : float, optional
            Seconds decoded per block (default
            :data:`embedclf.audio.BLOCK_SECONDS`).

        Yields
        ------
        Embedding
            Consecutive windows of the file (``source`` is the path).

        Raises
        ------
        AudioError
            Where iteration meets an unreadable part of the file, or the
            model gives NaN or inf.

        Examples
        --------
        >>> import numpy as np, soundfile as sf, tempfile, os
        >>> from embedclf.features.embeddings import PretrainedEmbedding
        >>> class Peak(PretrainedEmbedding):
        ...     model_sr, window_seconds = 8000, 0.5
        ...     _parameter_constraints = PretrainedEmbedding._common_constraints
        ...     def __init__(self, *, sr=8000, hop=0.5, center=False, batch_size=2,
        ...                  cache=None, progress=False, on_error="raise"):
        ...         self.sr, self.hop, self.center, self.batch_size = sr, hop, center, batch_size
        ...         self.cache, self.progress, self.on_error = cache, progress, on_error
        ...     def _load_model(self): return "model"
        ...     def _embed_windows(self, w): return np.c_[w.mean(1), np.abs(w).max(1)]
        ...     def _embedding_dim(self): return 2
        ...     def _cache_config(self): return {}
        >>> p = os.path.join(tempfile.mkdtemp(), "a.wav"); sf.write(p, np.ones(20000) / 2, 8000)
        >>> [e.times.tolist() for e in Peak().fit([p]).stream_embeddings(p, block_seconds=0.3)]
        [[0.0, 0.5], [1.0, 1.5], [2.0]]
        """
        check_is_fitted(self)
        path = os.fspath(path)
        cache, key = self._cache(), None
        if cache is not None:
            key = self._key(path, path)
            hit = cache.get(key, self.embedding_dim_)
            if hit is not None:
                yield Embedding(hit[0], hit[1], path)
                return
        windows = self._clip_windows_from(stream_audio(path, self.model_sr, block_seconds))
        step = self._hop / self.model_sr
        done, kept = 0, [] if cache is not None else None
        while True:
            batch = list(itertools.islice(windows, self.batch_size))
            if not batch:
                break
            out = np.asarray(self._embed_windows(np.stack(batch)), dtype=np.float32)
            if not np.isfinite(out).all():
                raise AudioError(
                    path,
                    f"{type(self).__name__} produced NaN or inf embeddings "
                    "(not cached); check the input's level",
                )
            times = np.arange(done, done + len(out)) * step
            done += len(out)
            if kept is not None:
                kept.append(out)
                if done * out.shape[1] * 4 > self.stream_cache_bytes:
                    kept = None  # too long to cache without holding it all
            yield Embedding(out, times, path)
        if kept:
            values = np.concatenate(kept)
            cache.put(key, values, np.arange(len(values)) * step)

    def stream_file(self, path, block_seconds=None):
        """The values of :meth:`stream_embeddings`: ``(n, embedding_dim_)`` float32 blocks.

        Parameters
        ----------
        path : str or path-like
        block_seconds : float, optional

        Yields
        ------
        ndarray of shape (n, embedding_dim_), float32

        Examples
        --------
        >>> from embedclf.features.embeddings import PretrainedEmbedding
        >>> PretrainedEmbedding.supports_streaming
        True
        """
        for e in self.stream_embeddings(path, block_seconds):
            yield e.values

    def transform(self, X):
        """Per-clip embeddings, ``(n_windows, dim)`` float32 each.

        Parameters
        ----------
        X : sequence of clips

        Returns
        -------
        list of ndarray
        """
        return [e.values for e in self.embed(X)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
