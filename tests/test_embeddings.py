"""The shared pretrained-embedding base, with a tiny deterministic backend."""

import os
import warnings

import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from embedclf import WindowAggregator
from embedclf import audio as audio_mod
from embedclf.audio import SkippedClipsWarning
from embedclf.features import embeddings as emb_mod
from embedclf.features.embeddings import EmbeddingCache, PretrainedEmbedding, frame_count


class ToyEmbedding(PretrainedEmbedding):
    """8 kHz model, 0.5 s windows; the 'embedding' summarises each window."""

    model_sr = 8000
    window_seconds = 0.5
    windows_computed = 0  # across instances and clones, for cache tests
    _parameter_constraints = dict(PretrainedEmbedding._common_constraints)

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
    ):
        self.sr = sr
        self.hop = hop
        self.center = center
        self.batch_size = batch_size
        self.cache = cache
        self.progress = progress
        self.on_error = on_error

    def _load_model(self):
        return "loaded"

    def _embed_windows(self, windows):
        assert self._model() == "loaded" and windows.shape[1] == 4000
        ToyEmbedding.windows_computed += len(windows)
        return np.stack(
            [windows.mean(1), windows.std(1), windows.max(1), windows[:, 0], windows[:, -1]], axis=1
        )

    def _embedding_dim(self):
        return 5

    def _cache_config(self):
        return {"toy": 1}


def expected(y, hop, center, window=4000):
    """Windows by hand: openl3's rule (half a window in front when centred, zeros at the end)."""
    y = np.r_[np.zeros(window // 2 if center else 0, np.float32), y]
    n = frame_count(len(y) - (window // 2 if center else 0), window, hop, center)
    y = np.r_[y, np.zeros(max(0, (n - 1) * hop + window - len(y)), np.float32)]
    W = np.stack([y[k * hop : k * hop + window] for k in range(n)])
    return np.stack([W.mean(1), W.std(1), W.max(1), W[:, 0], W[:, -1]], axis=1)


@pytest.fixture
def clips():
    rng = np.random.default_rng(0)
    return [rng.uniform(-0.5, 0.5, n).astype(np.float32) for n in (8000, 1000, 11111, 4000)]


def test_frame_count_follows_openl3():
    assert frame_count(10 * 48000, 48000, 4800, center=True) == 96
    assert frame_count(48000, 48000, 4800, center=False) == 1
    assert frame_count(48001, 48000, 4800, center=False) == 2
    assert frame_count(10, 48000, 4800, center=True) == 1


@pytest.mark.parametrize("center", [False, True])
def test_windows_and_timestamps(clips, center):
    est = ToyEmbedding(center=center).fit(clips)
    for y, e in zip(clips, est.embed(clips)):
        np.testing.assert_allclose(e.values, expected(y, 2000, center), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(e.times, np.arange(len(e.values)) * 0.25)
        assert e.values.dtype == np.float32


@pytest.mark.numeric
def test_batch_size_does_not_change_results(clips):
    ref = ToyEmbedding(batch_size=1).fit(clips).transform(clips)
    for bs in (3, 7, 100):
        out = ToyEmbedding(batch_size=bs).fit(clips).transform(clips)
        assert all(np.array_equal(a, b) for a, b in zip(ref, out))


@pytest.mark.numeric
def test_streamed_file_equals_in_memory(tmp_path, clips, monkeypatch):
    monkeypatch.setattr(audio_mod, "BLOCK_SECONDS", 0.07)  # many blocks per file
    paths = []
    for k, y in enumerate(clips):
        paths.append(str(tmp_path / f"{k}.wav"))
        sf.write(paths[-1], y, 8000, subtype="FLOAT")
    est = ToyEmbedding(center=True).fit(paths)
    for a, b in zip(est.transform(paths), est.transform(clips)):
        np.testing.assert_array_equal(a, b)


def test_resampling_file_and_waveform_agree(tmp_path):
    t = np.arange(44100 * 2) / 44100
    y = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = str(tmp_path / "a.wav")
    sf.write(path, np.stack([y, y], 1), 44100, subtype="FLOAT")  # stereo too
    est = ToyEmbedding(sr=44100).fit([y])
    a, b = est.transform([path, y])
    assert a.shape == b.shape == (7, 5)
    np.testing.assert_allclose(a, b, atol=2e-4)  # streamed vs one-shot soxr


def test_skip_policy_drops_only_bad_clips(tmp_path, clips, monkeypatch):
    monkeypatch.setattr(audio_mod, "BLOCK_SECONDS", 0.1)
    bad = np.zeros(8000, np.float32)
    bad[6000] = np.nan  # found only in a later block, after windows were queued
    sf.write(tmp_path / "bad.wav", bad, 8000, subtype="FLOAT")
    X = [clips[0], str(tmp_path / "bad.wav"), str(tmp_path / "missing.wav"), clips[2]]
    est = ToyEmbedding(batch_size=3, on_error="skip").fit(clips)
    with pytest.warns(SkippedClipsWarning, match="skipped 2 clip"):
        out = est.embed(X)
    assert [e.source for e in out] == ["clip 0", "clip 3"]
    assert est.skipped_["index"].tolist() == [1, 2]
    np.testing.assert_allclose(out[1].values, expected(clips[2], 2000, False), atol=1e-7)
    with pytest.raises(Exception, match="missing.wav: file not found"):
        ToyEmbedding().fit(clips).transform(X[2:])


def test_grid_search_computes_each_clip_once(tmp_path, clips):
    rng = np.random.default_rng(1)
    X = [rng.uniform(-1, 1, 6000).astype(np.float32) * (0.2 if k % 2 else 1.0) for k in range(12)]
    y = np.array(["quiet" if k % 2 else "loud" for k in range(12)])
    pipe = Pipeline(
        [
            ("emb", ToyEmbedding(cache=str(tmp_path))),
            ("agg", WindowAggregator()),
            ("clf", LogisticRegression()),
        ]
    )
    ToyEmbedding.windows_computed = 0
    grid = GridSearchCV(pipe, {"clf__C": [0.1, 1.0, 10.0]}, cv=3).fit(X, y)
    n_windows = sum(frame_count(len(x), 4000, 2000, False) for x in X)
    assert ToyEmbedding.windows_computed == n_windows  # 3 params x 3 folds + refit: once each
    assert grid.best_score_ == 1.0
    GridSearchCV(pipe, {"clf__C": [0.5, 2.0]}, cv=2).fit(X, y)
    assert ToyEmbedding.windows_computed == n_windows  # a second search: all from the cache
    # the key is the content, not the object or path: a copy of a clip hits the cache
    ToyEmbedding(cache=str(tmp_path)).fit(X).transform([X[0].copy()])
    assert ToyEmbedding.windows_computed == n_windows
    # a parameter that changes the output is part of the key
    ToyEmbedding(cache=str(tmp_path), hop=0.5).fit(X).transform(X[:1])
    assert ToyEmbedding.windows_computed == n_windows + frame_count(6000, 4000, 4000, False)


def test_crash_during_cache_write_leaves_no_entry(tmp_path, clips, monkeypatch):
    def crashing_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 partial npz")  # some bytes reach the disk...
        raise OSError("simulated crash while writing")  # ...then the process dies

    real_savez = np.savez
    monkeypatch.setattr(emb_mod.np, "savez", crashing_savez)
    est = ToyEmbedding(cache=str(tmp_path)).fit(clips)
    with pytest.raises(OSError, match="simulated crash"):
        est.transform(clips[:1])
    leftovers = [f for _, _, files in os.walk(tmp_path) for f in files]
    assert leftovers == []  # neither a partial entry nor a temporary file
    monkeypatch.setattr(emb_mod.np, "savez", real_savez)
    ToyEmbedding.windows_computed = 0
    out = est.transform(clips[:1])[0]
    assert ToyEmbedding.windows_computed == len(out)  # recomputed, not read
    np.testing.assert_allclose(out, expected(clips[0], 2000, False), atol=1e-7)


def test_truncated_cache_entry_is_recomputed(tmp_path, clips):
    est = ToyEmbedding(cache=str(tmp_path)).fit(clips)
    good = est.transform(clips[:1])[0]
    [entry] = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files]
    with open(entry, "r+b") as fh:
        fh.truncate(20)  # as left by a non-atomic writer that crashed
    ToyEmbedding.windows_computed = 0
    with pytest.warns(RuntimeWarning, match="unreadable cache entry"):
        again = est.transform(clips[:1])[0]
    assert ToyEmbedding.windows_computed == len(good)
    np.testing.assert_array_equal(again, good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten entry reads cleanly
        np.testing.assert_array_equal(est.transform(clips[:1])[0], good)


def test_joblib_memory_as_cache(tmp_path, clips):
    from joblib import Memory

    est = ToyEmbedding(cache=Memory(str(tmp_path), verbose=0)).fit(clips)
    est.transform(clips[:1])
    assert any(f.endswith(".npz") for _, _, fs in os.walk(tmp_path) for f in fs)
    cache = EmbeddingCache(str(tmp_path), "x")
    assert cache.get("absent") is None


def test_pickle_drops_loaded_model(clips):
    import pickle

    est = ToyEmbedding().fit(clips)
    est.transform(clips[:1])
    assert "_loaded_model" in est.__dict__
    again = pickle.loads(pickle.dumps(est))
    assert "_loaded_model" not in again.__dict__
    np.testing.assert_array_equal(again.transform(clips[:1])[0], est.transform(clips[:1])[0])


def test_cache_entry_of_wrong_shape_is_not_trusted(tmp_path, clips):
    est = ToyEmbedding(cache=str(tmp_path)).fit(clips)
    good = est.transform(clips[:1])[0]
    [entry] = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files]
    np.savez(entry, values=np.zeros((1, 7), np.float32), times=np.zeros(1))
    with pytest.warns(RuntimeWarning, match="unexpected shapes"):
        np.testing.assert_array_equal(est.transform(clips[:1])[0], good)


def test_rewritten_file_with_restored_mtime_gets_a_new_key(tmp_path):
    path = str(tmp_path / "a.wav")
    sf.write(path, np.full(8000, 0.1, np.float32), 8000, subtype="FLOAT")
    est = ToyEmbedding(cache=str(tmp_path / "c")).fit([path])
    first = est.transform([path])[0]
    st = os.stat(path)
    sf.write(path, np.full(8000, -0.3, np.float32), 8000, subtype="FLOAT")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # as cp -p / rsync -t do
    second = est.transform([path])[0]
    assert first[0, 0] == pytest.approx(0.1) and second[0, 0] == pytest.approx(-0.3)


def test_junk_file_with_cache_is_skipped_not_crashing(tmp_path, clips):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio" * 50)
    est = ToyEmbedding(cache=str(tmp_path / "c"), on_error="skip").fit(clips)
    with pytest.warns(SkippedClipsWarning):
        out = est.embed([str(junk), clips[0]])
    assert [e.source for e in out] == ["clip 1"]
    assert "not a readable audio file" in est.skipped_["reason"][0]


def test_checking_files_primes_the_content_keys(tmp_path, clips, monkeypatch):
    """The CLI checks files before an embedding pipeline reads them: one hashing decode each."""
    from embedclf.audio import load_clips

    paths = []
    for k, y in enumerate(clips):
        paths.append(str(tmp_path / f"{k}.wav"))
        sf.write(paths[-1], y, 8000, subtype="FLOAT")
    decodes = []
    real = audio_mod.stream_audio
    monkeypatch.setattr(
        audio_mod, "stream_audio", lambda *a, **kw: decodes.append(a) or real(*a, **kw)
    )
    load_clips(paths, sr=8000, lazy=True)
    assert len(decodes) == len(paths)
    ToyEmbedding(cache=str(tmp_path / "c")).fit(paths).transform(paths)
    assert len(decodes) == len(paths)  # the cache keys came from the check, not a new decode
