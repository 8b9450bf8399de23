"""Run clip transformers and evaluation folds on a Dask cluster when one is active.

Scale-out is opt-in and needs the ``dask`` extra (``pip install
'embedclf[dask]'``). Work goes to a cluster when a
``dask.distributed.Client`` exists in this process (the default client), or
inside ``joblib.parallel_config(backend="dask")``; otherwise, and always
without Dask installed, everything runs in this process as before. Nothing
here imports Dask until a cluster is used: ``import embedclf`` never does.

How work is shared (:func:`map_clips`): the clips are split, in order, into
tasks of at most ``clips_per_task`` clips; every task carries the fitted
estimator (its model is not pickled), and each worker thread unpickles it
once and loads the model on first use, so a model is loaded once per worker
(thread), not once per task. Workers started through :func:`cluster` run one
task thread each and set ``OMP_NUM_THREADS`` (and OpenBLAS's and MKL's
counts) to their share of the CPUs (Dask's nanny otherwise sets 1), which
:func:`embedclf.threads.model_threads` follows: workers together run no more
model threads than the machine has. They leave glibc's memory trimming as
in this process (Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_``, which slows
numpy-heavy work), and this process's environment is left as it was.
Results come back in input order. A task whose worker dies is run again on
another worker by Dask's scheduler, and since a clip's features never depend
on which other clips share its task, the result equals a single-process run.
Pretrained embeddings with a ``cache`` read and write it on the workers: on
storage the workers share, the cache is the checkpoint, and a rerun after an
interruption computes only what is missing.

Examples
--------
Without a cluster nothing is distributed:

>>> import numpy as np
>>> from embedclf import LogMel
>>> from embedclf.distributed import active_client, distribute
>>> active_client() is None
True
>>> est = LogMel(sr=8000).fit([np.zeros(800)])
>>> distribute(est, "transform", [np.zeros(800), np.ones(800)]) is None
True
"""

from __future__ import annotations

import hashlib
import math
import re
import sys
import threading
import warnings
from contextlib import contextmanager

import numpy as np

from .exceptions import ClusterUnavailableError, SkippedClipsWarning

__all__ = [
    "ClusterUnavailableError",
    "active_client",
    "cluster",
    "distribute",
    "map_clips",
    "map_calls",
    "CLIPS_PER_TASK",
    "CONNECT_TIMEOUT",
]

#: Seconds :func:`cluster` waits for a scheduler by default.
CONNECT_TIMEOUT = 10

#: Most clips in one task (bounds a task's memory and the work a lost worker redoes).
CLIPS_PER_TASK = 32

#: Thread-count variables Dask's nanny sets to 1 in every worker; :func:`cluster`
#: sets them to the worker's share of the CPUs instead (OpenMP, OpenBLAS, MKL).
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_INSTALL = (
    "running on a Dask cluster needs dask's distributed package: pip install 'embedclf[dask]'"
)


def _on_worker():
    import distributed

    try:
        distributed.get_worker()
    except ValueError:  # not inside a task
        return False
    return True


def active_client():
    """The ``dask.distributed.Client`` work should go to, or None.

    A client is active inside ``joblib.parallel_config(backend="dask")``, or
    when a ``Client`` exists in this process (Dask's default client). Code
    running inside a Dask task never sees one: a task runs its work where it
    is, so nothing is sent to the cluster twice.

    Returns
    -------
    distributed.Client or None
        None when Dask is not installed or not imported: without a client
        (which imports it) there can be no cluster.

    Examples
    --------
    >>> from embedclf.distributed import active_client
    >>> active_client() is None
    True
    """
    if "distributed" not in sys.modules:  # no Client can exist; never import Dask here
        return None
    import distributed

    if _on_worker():
        return None
    try:
        from joblib.parallel import get_active_backend

        backend, _ = get_active_backend()
        client = getattr(backend, "client", None)
        if client is not None and getattr(client, "status", None) == "running":
            return client
    except Exception:  # noqa: BLE001 - an unusual joblib backend: fall back to the default client
        pass
    try:
        client = distributed.default_client()
    except ValueError:  # no client
        return None
    return client if client.status == "running" else None


# -- worker side ---------------------------------------------------------------------------
_WORKER_ESTIMATORS = {}  # (payload digest, thread id) -> unpickled estimator
_WORKER_LOCK = threading.Lock()
_KEEP = 8  # estimators kept per worker process (a few pipelines' worth)


def _worker_estimator(token, payload):
    """The estimator of ``payload``, unpickled once per worker thread (its model then loads once).

    Keyed by thread too: ``transform`` records ``skipped_`` on the estimator,
    so two threads of one worker must not share it.
    """
    import pickle

    key = (token, threading.get_ident())
    with _WORKER_LOCK:
        est = _WORKER_ESTIMATORS.get(key)
        if est is None:
            est = pickle.loads(payload)
            while len(_WORKER_ESTIMATORS) >= _KEEP:
                _WORKER_ESTIMATORS.pop(next(iter(_WORKER_ESTIMATORS)))
            _WORKER_ESTIMATORS[key] = est
    return est


_CLIP_NAME = re.compile(r"^clip (\d+)$")
#: times map_clips sends a part's clips again after the worker holding them died
_MAX_RESENDS = 100


def _global_source(source, item, offset):
    """In-memory clips are named by their index: ``"clip 3"`` of a task at offset 32 is clip 35."""
    match = _CLIP_NAME.match(str(source))
    if match and not isinstance(item, (str, bytes)) and not hasattr(item, "__fspath__"):
        return f"clip {int(match.group(1)) + offset}"
    return source


def _run_task(token, payload, method, clips, offset):
    """One task: ``estimator.<method>(clips)``, and the clips it skipped (global indices)."""
    est = _worker_estimator(token, payload)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedClipsWarning)  # the client reports them once
        out = getattr(est, method)(clips)
    for item in out:  # Embedding objects name their clip
        if hasattr(item, "source"):
            index = _CLIP_NAME.match(str(item.source))
            if index:
                item.source = _global_source(item.source, clips[int(index.group(1))], offset)
    skipped = []
    if getattr(est, "on_error", None) == "skip" and hasattr(est, "skipped_"):
        for i, source, reason in zip(
            est.skipped_["index"], est.skipped_["source"], est.skipped_["reason"]
        ):
            skipped.append(
                (int(i) + offset, str(_global_source(source, clips[int(i)], offset)), str(reason))
            )
    return (out if isinstance(out, np.ndarray) else list(out)), skipped


# -- client side ---------------------------------------------------------------------------
def map_clips(
    estimator,
    method,
    X,
    *,
    client,
    clips_per_task=None,
    progress=False,
    desc=None,
    concatenate=False,
):
    """Run ``estimator.<method>`` over ``X`` on a Dask cluster, in tasks of a few clips.

    Parameters
    ----------
    estimator : fitted estimator
        Pickled once and sent with every task; each worker thread unpickles
        it once (its model, not pickled, then loads once per worker).
    method : str
        A method returning one output per kept clip, e.g. ``"transform"``
        or ``"embed"``; with ``on_error="skip"`` it records ``skipped_``.
    X : sequence of clips
    client : distributed.Client
    clips_per_task : int, optional
        Default: enough tasks for four per worker, at most
        :data:`CLIPS_PER_TASK` clips each.
    progress : bool, default=False
        A progress bar over clips done across the cluster.
    desc : str, optional
        The progress bar's label.
    concatenate : bool, default=False
        When ``method`` returns an array (one row per clip, e.g. a pipeline
        ending in :class:`~embedclf.WindowAggregator`), join the tasks'
        arrays into one instead of a list of rows.

    Returns
    -------
    outputs : list or ndarray
        In input order; an ndarray only with ``concatenate=True`` and array
        outputs.
    skipped : list of (int, str, str)
        ``(index, source, reason)`` of the clips left out, in input order.

    Raises
    ------
    Exception
        The first task's error (e.g. :class:`~embedclf.exceptions.AudioError`
        naming the clip with ``on_error="raise"``); the remaining tasks are
        cancelled.

    Examples
    --------
    >>> import numpy as np
    >>> from distributed import Client, LocalCluster
    >>> from embedclf import LogMel
    >>> from embedclf.distributed import map_clips
    >>> est = LogMel(sr=8000, n_mels=8).fit([np.zeros(800)])
    >>> with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as lc, \\
    ...         Client(lc) as client:
    ...     out, skipped = map_clips(est, "transform", [np.zeros(800)] * 3, client=client)
    >>> [o.shape for o in out], skipped
    ([(2, 8), (2, 8), (2, 8)], [])
    """
    import cloudpickle  # a Dask dependency; pickles classes defined in a script by value
    from distributed import as_completed

    n = len(X)
    if clips_per_task is None:
        n_workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
        clips_per_task = max(1, min(CLIPS_PER_TASK, math.ceil(n / (4 * n_workers))))
    payload = cloudpickle.dumps(estimator)
    token = hashlib.blake2b(payload, digest_size=16).hexdigest()
    bounds = [(a, min(a + clips_per_task, n)) for a in range(0, n, clips_per_task)]
    sent = []  # the scattered parts, released at the end

    def submit(ks):
        # Clips are scattered (straight to the workers, spread over them), not put in the
        # task graph: in-memory waveforms would otherwise pass through the scheduler.
        parts = client.scatter([X[bounds[k][0] : bounds[k][1]] for k in ks], hash=False)
        sent.extend(parts)
        return {
            client.submit(_run_task, token, payload, method, part, bounds[k][0], pure=False): k
            for part, k in zip(parts, ks)
        }

    futures = submit(range(len(bounds)))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=desc or type(estimator).__name__, unit="clip")
    results = [None] * len(bounds)
    resent = 0
    try:
        pending = as_completed(futures)
        for future in pending:
            k = futures[future]
            if future.cancelled() and resent < _MAX_RESENDS:
                # its clips were on a worker that died before the task ran: send them again
                resent += 1
                again = submit([k])
                futures.update(again)
                pending.update(again)
                continue
            results[k] = future.result()  # a task's error is raised here, by its own type
            if bar is not None:
                bar.update(bounds[k][1] - bounds[k][0])
    finally:
        if bar is not None:
            bar.close()
        client.cancel([f for f in futures if not f.done()] + sent)
    if concatenate and results and all(isinstance(out, np.ndarray) for out, _ in results):
        outputs = np.concatenate([out for out, _ in results])
    else:
        outputs = [o for out, _ in results for o in out]
    skipped = [s for _, sk in results for s in sk]
    return outputs, skipped


def map_calls(func, calls, *, client, shared=(), progress=False, desc=None, unit="task"):
    """Run ``func(*shared, *args, **kwargs)`` for every ``(args, kwargs)`` on a Dask cluster.

    One task per call, submitted to ``client`` directly (joblib's Dask
    backend would run every call in this process when the cluster has a
    single worker thread). ``shared`` (e.g. the clips and labels every fold
    needs) is sent once and copied to every worker, not once per task, so
    a worker lost mid-run loses no data: its tasks run again elsewhere.

    Parameters
    ----------
    func : callable
        Importable by the workers (a module-level function).
    calls : sequence of (tuple, dict)
        Positional and keyword arguments of each call, after ``shared``.
    client : distributed.Client
    shared : tuple, default=()
        Leading positional arguments of every call.
    progress : bool, default=False
        A progress bar over calls done.
    desc : str, optional
        The progress bar's label (default: ``func``'s name).
    unit : str, default="task"

    Returns
    -------
    list
        ``func``'s results, in the order of ``calls``.

    Raises
    ------
    Exception
        The first failed call's error, by its own type; the other tasks are
        cancelled.

    Examples
    --------
    >>> from operator import add
    >>> from distributed import Client, LocalCluster
    >>> from embedclf.distributed import map_calls
    >>> with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as lc, \\
    ...         Client(lc) as client:
    ...     map_calls(add, [((1,), {}), ((2,), {})], client=client, shared=(10,))
    [11, 12]
    """
    from distributed import as_completed

    sent = client.scatter(list(shared), broadcast=True, hash=False) if shared else []
    futures = {
        client.submit(func, *sent, *args, pure=False, **kwargs): k
        for k, (args, kwargs) in enumerate(calls)
    }
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(futures), desc=desc or getattr(func, "__name__", "tasks"), unit=unit)
    results = [None] * len(futures)
    try:
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        client.cancel([f for f in futures if not f.done()])
        if sent:
            client.cancel(sent)
    return results


def distribute(estimator, method, X):
    """``estimator.<method>(X)`` on the active cluster, or None when there is none.

    What transformers call first: None means "run here" (no client, Dask not
    installed, or fewer than two clips).

    Parameters
    ----------
    estimator : fitted estimator
    method : str
    X : sequence of clips

    Returns
    -------
    tuple of (list, list) or None
        ``(outputs, skipped)`` as from :func:`map_clips`.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf import AudioLoader
    >>> from embedclf.distributed import distribute
    >>> distribute(AudioLoader(sr=8000).fit([np.zeros(4)]), "transform", [np.zeros(4)]) is None
    True
    """
    if len(X) < 2:
        return None
    client = active_client()
    if client is None:
        return None
    return map_clips(
        estimator, method, X, client=client, progress=bool(getattr(estimator, "progress", False))
    )


@contextmanager
def _parent_environ_kept(values):
    """Set ``values`` in ``os.environ`` for the block, then restore what was there.

    Dask's nanny writes its workers' pre-spawn variables into *this*
    process's environment before it spawns each worker (libraries read them
    at import, so they must be inherited). Setting them here first makes the
    workers get exactly ``values`` (the nanny prefers the environment to its
    config), and restoring them afterwards keeps a cluster from leaving this
    process's later work on one thread.
    """
    import os

    names = {*values, "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED"}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def cluster(*, scheduler=None, workers=None, timeout=None):
    """A Dask client for the block: an existing scheduler, or a local cluster of processes.

    Inside the block the client is the default one, so embedclf's
    transformers and :func:`~embedclf.evaluation.cross_validate_folds` use
    it. A local cluster (``workers``) is started and closed here; a client to
    an existing scheduler is closed, the scheduler left running.

    Parameters
    ----------
    scheduler : str, optional
        The scheduler's address, e.g. ``"tcp://10.0.0.5:8786"``.
    workers : int, optional
        Start a ``LocalCluster`` of this many worker processes, one thread
        each; a worker's models run its share of this process's CPUs
        (``available_cpus() // workers`` threads, at least one). The client
        sends data straight to these workers (not through the scheduler),
        and they run no statistical profiler. Ignored when ``scheduler`` is
        given.
    timeout : float, optional
        Seconds to wait for the scheduler (default :data:`CONNECT_TIMEOUT`).

    Yields
    ------
    distributed.Client or None
        None when neither ``scheduler`` nor ``workers`` is given.

    Raises
    ------
    ClusterUnavailableError
        The scheduler cannot be reached (raised before any work).
    ImportError
        Dask's ``distributed`` is not installed.

    Examples
    --------
    >>> from embedclf.distributed import cluster
    >>> with cluster() as client:
    ...     client is None
    True
    """
    if scheduler is None and workers is None:
        yield None
        return
    try:
        import distributed
    except ImportError:
        raise ImportError(_INSTALL) from None
    import logging

    import dask

    if scheduler is not None:
        try:
            wait = CONNECT_TIMEOUT if timeout is None else timeout
            client = distributed.Client(scheduler, timeout=wait)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ClusterUnavailableError(
                f"cannot reach the Dask scheduler at {scheduler} ({reason}); check that it "
                "is running and that the address and port are right"
            ) from None
        with client:
            yield client
        return
    if int(workers) < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    from .threads import available_cpus

    # Dask's nanny would hold every worker's models and BLAS to one thread; here each
    # worker gets its share of the CPUs, so fewer workers than CPUs still use them all.
    share = max(1, available_cpus() // int(workers))
    threads = {var: str(share) for var in _THREAD_VARS}
    pre_spawn = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **threads}
    # Dask's MALLOC_TRIM_THRESHOLD_ fixes glibc's mmap threshold at 128 KiB, so every
    # large numpy temporary is mapped and unmapped afresh: fits and embeddings ran
    # 10-15% slower than in this process. Workers allocate as this process does.
    pre_spawn["MALLOC_TRIM_THRESHOLD_"] = None
    # The statistical profiler (the dashboard's Profile page, which nobody sees here)
    # samples every thread 100 times a second: on a busy machine that is CPU taken
    # from the models, and a worker slower than this process.
    settings = {
        "distributed.nanny.pre-spawn-environ": pre_spawn,
        "distributed.worker.profile.enabled": False,
    }
    with _parent_environ_kept(threads):
        with (
            dask.config.set(settings),
            distributed.LocalCluster(
                n_workers=int(workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            ) as lc,
            # the workers are on this machine: send clips and fetch results directly,
            # not through the scheduler (which doubles every transfer)
            distributed.Client(lc, direct_to_workers=True) as client,
        ):
            yield client
