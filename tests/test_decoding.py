"""Decoding is total: hostile or damaged input is an AudioError (per ``on_error``), never a
raw decoder error, a MemoryError, or NaN/inf that reaches features or the embedding cache."""

import os
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import soundfile as sf
from test_embeddings import ToyEmbedding

from embedclf import MFCC, AudioError, AudioLoader, LogMel
from embedclf import audio as audio_mod
from embedclf.audio import (
    MAX_DURATION_SECONDS,
    MAX_FILE_CHANNELS,
    SkippedClipsWarning,
    audio_info,
    content_key,
    iter_clips,
    load_audio,
    load_clips,
    resample,
    stream_audio,
    to_mono,
)
from embedclf.features.embeddings import EmbeddingCache

F32_MAX = float(np.finfo(np.float32).max)


def _noise(n, seed=0, channels=None):
    rng = np.random.default_rng(seed)
    shape = (n,) if channels is None else (n, channels)
    return rng.uniform(-0.5, 0.5, shape).astype(np.float32)


@pytest.fixture
def good_wav(tmp_path):
    path = str(tmp_path / "good.wav")
    sf.write(path, _noise(8000, seed=1), 8000, subtype="FLOAT")
    return path


@pytest.fixture
def truncated_flac(tmp_path):
    """A real FLAC file cut mid-stream, as a failed copy or download leaves it."""
    full = tmp_path / "full.flac"
    sf.write(str(full), _noise(3 * 8000), 8000)
    data = full.read_bytes()
    path = tmp_path / "cut.flac"
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def _flac_declaring(tmp_path, name, total_samples, seconds=1.0, sr=16000):
    """A small real FLAC whose STREAMINFO header claims ``total_samples`` samples."""
    path = tmp_path / name
    sf.write(str(path), _noise(int(seconds * sr)), sr)
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # first block: STREAMINFO
    # STREAMINFO bytes 10..17 (file offset 18..25): rate 20 bits, channels-1 3, bits-1 5,
    # total samples 36 bits
    fields = int.from_bytes(data[18:26], "big")
    fields = (fields & ~((1 << 36) - 1)) | total_samples
    data[18:26] = fields.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    assert sf.info(str(path)).frames == total_samples
    return str(path)


# --- 1. every decoder failure on every path is an AudioError naming the file --------------


@pytest.mark.parametrize(
    "read",
    [
        lambda p: load_audio(p, sr=8000),
        lambda p: list(stream_audio(p)),
        lambda p: list(stream_audio(p, sr=16000)),
        lambda p: content_key(p),
    ],
    ids=["load_audio", "stream_audio", "stream_audio_resampled", "content_key"],
)
def test_truncated_flac_is_an_audio_error_naming_the_file(truncated_flac, read):
    with pytest.raises(AudioError, match="truncated or corrupt") as info:
        read(truncated_flac)
    assert info.value.source == truncated_flac


def test_truncated_flac_is_skipped_by_audio_loader_and_lazy_loading(truncated_flac, good_wav):
    with pytest.warns(SkippedClipsWarning):
        out = AudioLoader(sr=8000, on_error="skip").fit_transform([truncated_flac, good_wav])
    assert len(out) == 1 and len(out[0]) == 8000
    # lazy checking decodes through stream_audio/content_key (the CLI's path)
    with pytest.warns(SkippedClipsWarning):
        res = load_clips(
            [truncated_flac, good_wav], y=["a", "b"], sr=8000, on_error="skip", lazy=True
        )
    assert res.y.tolist() == ["b"] and res.skipped["source"].tolist() == [truncated_flac]
    assert "truncated" in res.skipped["reason"][0]
    with pytest.raises(AudioError, match="truncated"):
        load_clips([good_wav, truncated_flac], sr=8000, lazy=True)


@pytest.mark.parametrize("cache", [False, True])
def test_truncated_flac_is_skipped_by_an_embedding_transformer(
    tmp_path, truncated_flac, good_wav, cache
):
    cache = str(tmp_path / "cache") if cache else None
    est = ToyEmbedding(cache=cache, on_error="skip").fit([good_wav])
    with pytest.warns(SkippedClipsWarning):
        out = est.embed([truncated_flac, good_wav])
    assert [e.source for e in out] == [good_wav]
    assert est.skipped_["source"].tolist() == [truncated_flac]
    with pytest.raises(AudioError, match="truncated") as info:
        ToyEmbedding(cache=cache).fit([good_wav]).transform([good_wav, truncated_flac])
    assert info.value.source == truncated_flac


# --- 2. declared length, rate and channels are checked before anything is allocated ------


@pytest.mark.parametrize(
    "read",
    [
        lambda p: load_audio(p),
        lambda p: audio_info(p),
        lambda p: next(stream_audio(p)),
        lambda p: content_key(p),
    ],
    ids=["load_audio", "audio_info", "stream_audio", "content_key"],
)
def test_huge_declared_length_is_an_audio_error_before_allocating(tmp_path, read):
    path = _flac_declaring(tmp_path, "huge.flac", (1 << 36) - 1)  # 2**36 samples: 256 GiB
    start = time.perf_counter()
    with pytest.raises(AudioError, match=r"declares 68719476735 samples at 16000 Hz") as info:
        read(path)
    assert f"limit is {MAX_DURATION_SECONDS / 3600:g} h" in str(info.value)
    assert info.value.source == path
    assert time.perf_counter() - start < 2.0  # refused from the header, nothing decoded


_LOW_MEMORY = textwrap.dedent("""
    import resource, sys
    limit = 3 << 30  # 3 GiB of address space: the header asks for 8 GiB of float32
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from embedclf.audio import AudioError, load_audio, stream_audio
    for read in (load_audio, lambda p: list(stream_audio(p, sr=8000))):
        try:
            read(sys.argv[1])
        except AudioError as err:
            print("AudioError:", err.reason)
        else:
            print("no error")
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS semantics")
def test_declared_length_within_limits_allocates_only_what_the_file_holds(tmp_path):
    # 2**31 samples at 16 kHz is 37 h (within MAX_DURATION_SECONDS), 8 GiB as float32;
    # the file holds 1 s. A whole-file read sized by the header would be a MemoryError.
    path = _flac_declaring(tmp_path, "liar.flac", 1 << 31)
    env = dict(
        os.environ,
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    run = subprocess.run(
        [sys.executable, "-c", _LOW_MEMORY, path],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("AudioError:") for line in lines), run.stdout
    assert all("truncated or corrupt" in line for line in lines)


def _patch_wav_rate(path, rate):
    data = bytearray(open(path, "rb").read())
    assert data[12:16] == b"fmt "
    data[24:28] = rate.to_bytes(4, "little")
    open(path, "wb").write(bytes(data))


@pytest.mark.parametrize("rate", [1, 50_000_000])
def test_absurd_declared_sample_rate_is_an_audio_error(tmp_path, rate):
    path = str(tmp_path / "rate.wav")
    sf.write(path, _noise(800), 8000)
    _patch_wav_rate(path, rate)
    for read in (audio_info, load_audio, lambda p: list(stream_audio(p))):
        with pytest.raises(AudioError, match=f"declares a sample rate of {rate} Hz"):
            read(path)


def test_too_many_declared_channels_is_an_audio_error(tmp_path):
    path = str(tmp_path / "many.wav")
    sf.write(path, np.zeros((10, MAX_FILE_CHANNELS + 1), np.float32), 8000)
    with pytest.raises(
        AudioError,
        match=f"declares {MAX_FILE_CHANNELS + 1} channels; the limit is {MAX_FILE_CHANNELS}",
    ):
        load_audio(path)


def test_blocks_are_capped_in_samples_whatever_the_rate_and_channels(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_mod, "MAX_BLOCK_SAMPLES", 4096)
    path = str(tmp_path / "wide.wav")
    y = _noise(20000, channels=8)
    sf.write(path, y, 16000, subtype="FLOAT")
    sizes = [len(b) for b in stream_audio(path)]
    assert max(sizes) == 4096 // 8 and sum(sizes) == 20000
    np.testing.assert_array_equal(load_audio(path, mono=False)[0], y)


# --- 3. NaN/inf is an AudioError on every path; extreme finite input stays finite ---------


@pytest.fixture
def nan_wav(tmp_path):
    y = _noise(8000)
    y[5000] = np.nan
    path = str(tmp_path / "nan.wav")
    sf.write(path, y, 8000, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    "read",
    [
        lambda p: load_audio(p),
        lambda p: list(stream_audio(p, sr=16000)),
        lambda p: content_key(p),
        lambda p: load_clips([p], sr=8000, lazy=True),
        lambda p: list(iter_clips([p], sr=8000)),
        lambda p: ToyEmbedding().fit([p]).transform([p]),
        lambda p: LogMel(sr=8000).fit([p]).transform([p]),
    ],
    ids=[
        "load_audio",
        "stream_audio",
        "content_key",
        "load_clips_lazy",
        "iter_clips",
        "embedding",
        "logmel",
    ],
)
def test_nan_in_a_file_is_an_audio_error_on_every_path(nan_wav, read):
    with pytest.raises(AudioError, match="NaN or inf") as info:
        read(nan_wav)
    assert info.value.source == nan_wav


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_waveform_is_an_audio_error(bad):
    y = _noise(100).astype(np.float64)
    y[3] = bad
    with pytest.raises(AudioError, match="NaN" if np.isnan(bad) else "inf"):
        to_mono(y)
    # a float64 sum of finite values may overflow: that alone is no reason to refuse
    np.testing.assert_array_equal(
        to_mono(np.array([1e308, 1e308, -1.0])), np.float32([F32_MAX, F32_MAX, -1.0])
    )


def _extreme(n, channels=None):
    """Finite float32 samples at +-3e38 (a corrupt or wrongly scaled float file)."""
    y = np.sign(_noise(n, seed=3, channels=channels)) * np.float32(3e38)
    return y.astype(np.float32)


def test_extreme_finite_stereo_mixes_to_finite_mono(tmp_path):
    y = np.full((1000, 2), 3e38, np.float32)
    y[::2, 1] = -3e38
    with np.errstate(over="raise"):
        mono = to_mono(y)
    assert np.isfinite(mono).all() and mono[1] == np.float32(3e38) and mono[0] == 0
    path = str(tmp_path / "loud.wav")
    sf.write(path, y, 8000, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(path)[0], mono)
    np.testing.assert_array_equal(np.concatenate(list(stream_audio(path))), mono)


@pytest.mark.parametrize("channels", [None, 2])
def test_extreme_finite_samples_stay_finite_when_resampled(tmp_path, channels):
    y = _extreme(8000, channels)
    path = str(tmp_path / "loud.wav")
    sf.write(path, y, 8000, subtype="FLOAT")
    whole = load_audio(path, sr=22050)[0]
    streamed = np.concatenate(list(stream_audio(path, sr=22050, block_seconds=0.3)))
    direct = resample(to_mono(y), 8000, 22050)
    for out in (whole, streamed, direct):
        assert out.shape == (22050,) and np.isfinite(out).all()
        assert np.abs(out).max() > 1e38  # the loudness survives (clipped to float32 at most)
    np.testing.assert_array_equal(whole, streamed)
    np.testing.assert_array_equal(whole, direct)
    assert np.isfinite(load_audio(path, sr=16000, mono=False)[0]).all()


def test_float64_samples_beyond_float32_range_are_clipped_not_inf():
    y = np.array([1e300, -1e39, 0.25])
    out = resample(y, 8000, 8000)
    np.testing.assert_array_equal(out, np.float32([F32_MAX, -F32_MAX, 0.25]))
    assert np.isfinite(resample(np.tile(y, 1000), 8000, 16000)).all()


def test_resampling_ordinary_audio_is_unchanged_by_the_overflow_guard():
    import soxr

    y = _noise(44100) * np.geomspace(1, 1e-9, 44100).astype(np.float32)  # with a long fade
    for a, b in [(44100, 22050), (16000, 48000), (22050, 16000)]:
        np.testing.assert_array_equal(resample(y, a, b), soxr.resample(y, a, b, quality="HQ"))


def test_non_finite_resampler_output_is_an_audio_error(monkeypatch):
    import soxr

    monkeypatch.setattr(
        soxr, "resample", lambda y, *a, **kw: np.full(len(y) // 2, np.nan, np.float32)
    )
    with pytest.raises(AudioError, match="resampled waveform contains NaN"):
        resample(_noise(800), 16000, 8000, source="x.wav")


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"ref": "max"},
        {"log": False},
        {"normalize": "clip"},
        {"log": False, "normalize": "window"},
        {"power": 1.0, "top_db": None},
    ],
    ids=["default", "ref_max", "power_spectrum", "normalized", "power_normalized", "magnitude"],
)
def test_logmel_of_extreme_finite_samples_is_finite(params):
    ordinary = _noise(8000)
    est = LogMel(sr=8000, n_mels=32, **params).fit([ordinary])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow along the way either
        loud, again = est.transform([_extreme(8000), ordinary])
    assert np.isfinite(loud).all() and loud.dtype == np.float32
    # an ordinary clip in the same batch is untouched by the loud one
    np.testing.assert_array_equal(again, est.transform([ordinary])[0])


def test_logmel_of_a_loud_clip_is_the_exact_decibel_shift():
    """The scaled computation is not just finite but right: x * 2**100 is 602.06 dB louder."""
    x = _noise(8000)
    est = LogMel(sr=8000, n_mels=32, top_db=None).fit([x])
    quiet, loud = est.transform([x, np.ldexp(x, 100)])
    np.testing.assert_allclose(loud - quiet, 20 * 100 * np.log10(2), atol=2e-3)
    rel = LogMel(sr=8000, n_mels=32, ref="max").fit([x]).transform([x, np.ldexp(x, 100)])
    np.testing.assert_allclose(rel[1], rel[0], atol=1e-3)  # relative to the maximum: the same


def test_mfcc_of_extreme_finite_samples_is_finite():
    est = MFCC(sr=8000, n_mels=32, n_mfcc=13, deltas=2).fit([_noise(8000)])
    assert np.isfinite(est.transform([_extreme(8000)])[0]).all()


# --- 4. the embedding cache never stores a non-finite embedding, nor trusts one -----------


def test_embedding_cache_refuses_non_finite_values(tmp_path):
    cache = EmbeddingCache(str(tmp_path), "toy")
    with pytest.raises(ValueError, match="refusing to cache entry k: it holds NaN or inf"):
        cache.put("k", np.float32([[1.0, np.nan]]), np.array([0.0]))
    with pytest.raises(ValueError, match="NaN or inf"):
        cache.put("k", np.float32([[1.0, 2.0]]), np.array([np.inf]))
    assert cache.get("k") is None and os.listdir(cache.dir) == []


def test_non_finite_embedding_is_not_cached_and_honours_on_error(tmp_path):
    good = _noise(8000)
    loud = _extreme(8000)  # ToyEmbedding's float32 statistics overflow on it
    est = ToyEmbedding(cache=str(tmp_path), on_error="skip").fit([good])
    with np.errstate(over="ignore", invalid="ignore"), pytest.warns(SkippedClipsWarning):
        out = est.embed([loud, good])
    assert [e.source for e in out] == ["clip 1"] and np.isfinite(out[0].values).all()
    assert est.skipped_["index"].tolist() == [0]
    assert "produced NaN or inf embeddings (not cached)" in est.skipped_["reason"][0]
    entries = [f for _, _, files in os.walk(tmp_path) for f in files]
    assert len(entries) == 1  # the good clip's only
    with (
        np.errstate(over="ignore", invalid="ignore"),
        pytest.raises(AudioError, match="clip 0: ToyEmbedding produced NaN or inf"),
    ):
        ToyEmbedding(cache=str(tmp_path)).fit([good]).transform([loud, good])
    assert len([f for _, _, files in os.walk(tmp_path) for f in files]) == 1


def test_poisoned_cache_entry_is_recomputed(tmp_path):
    clip = _noise(8000)
    est = ToyEmbedding(cache=str(tmp_path)).fit([clip])
    good = est.transform([clip])[0]
    [entry] = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files]
    poisoned = good.copy()
    poisoned[1, 2] = np.nan  # right shapes, wrong values: as left by an older version
    np.savez(entry, values=poisoned, times=np.arange(len(good)) * 0.25)
    ToyEmbedding.windows_computed = 0
    with pytest.warns(RuntimeWarning, match="holds NaN or inf"):
        again = est.transform([clip])[0]
    assert ToyEmbedding.windows_computed == len(good)  # recomputed, not trusted
    np.testing.assert_array_equal(again, good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the replaced entry is clean
        np.testing.assert_array_equal(est.transform([clip])[0], good)


def test_truncated_flac_segment_is_an_audio_error(truncated_flac):
    import pandas as pd

    from embedclf.datasets import load_segments

    df = pd.DataFrame({"path": [truncated_flac], "start": [2.0], "end": [2.5]})
    with pytest.raises(AudioError, match="truncated or corrupt") as info:
        load_segments(df, sr=8000)
    assert info.value.source == truncated_flac
