"""Audio in: decoding, mono mixing, resampling and every bad-input case."""

import warnings

import numpy as np
import pytest
import soundfile as sf

from embedclf import AudioError, AudioLoader, LogMel
from embedclf.audio import SkippedClipsWarning, iter_clips, load_audio, load_clips, resample


def test_load_mixes_stereo_and_resamples(write_wav):
    sr = 44100
    t = np.arange(sr) / sr
    left = np.sin(2 * np.pi * 1000 * t)
    path = write_wav("st.wav", np.stack([left, np.zeros_like(left)], axis=1), sr=sr)
    y, out_sr = load_audio(path, sr=22050)
    assert out_sr == 22050 and y.dtype == np.float32 and y.shape == (22050,)
    # The mix is the channel mean: a half-amplitude 1 kHz tone, resampled cleanly.
    t2 = np.arange(22050) / 22050
    ref = 0.5 * np.sin(2 * np.pi * 1000 * t2)
    assert np.max(np.abs(y[1000:-1000] - ref[1000:-1000])) < 1e-3


def test_load_keeps_channels_when_asked(write_wav):
    path = write_wav("st.wav", np.zeros((800, 2)), sr=8000)
    y, sr = load_audio(path, mono=False, sr=16000)
    assert y.shape == (1600, 2) and sr == 16000


def test_resample_matches_analytic_sine():
    t = np.arange(48000) / 48000
    y = np.sin(2 * np.pi * 300 * t).astype(np.float32)
    out = resample(y, 48000, 16000)
    ref = np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)
    assert out.shape == (16000,)
    assert np.max(np.abs(out[200:-200] - ref[200:-200])) < 1e-3


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_formats_read_the_same(write_wav, subtype, tone):
    y, sr = tone
    path = write_wav(
        f"t_{subtype}.flac" if subtype != "FLOAT" else "t.wav", y, sr=sr, subtype=subtype
    )
    got, _ = load_audio(path)
    assert np.max(np.abs(got - y)) < 1e-4


def test_ogg_vorbis_is_read(write_wav, tone):
    y, sr = tone
    path = write_wav("t.ogg", y, sr=sr, format="OGG", subtype="VORBIS")
    got, got_sr = load_audio(path)
    assert got_sr == sr and abs(len(got) - len(y)) < 2048


# --- bad input: each case names the file and the cause ------------------------------------


def _bad_files(tmp_path, write_wav):
    cases = {}
    cases["missing"] = (str(tmp_path / "nope.wav"), "file not found")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 10)
    cases["not audio"] = (str(text), "not a readable audio file")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    cases["empty"] = (str(empty), "empty file")
    cases["zero-length"] = (write_wav("zero.wav", np.zeros(0)), "zero-length")
    nan = np.zeros(100, dtype=np.float32)
    nan[10] = np.nan
    cases["nan"] = (write_wav("nan.wav", nan, subtype="FLOAT"), "NaN or inf")
    inf = np.zeros(100, dtype=np.float32)
    inf[3] = np.inf
    cases["inf"] = (write_wav("inf.wav", inf, subtype="FLOAT"), "NaN or inf")
    cases["directory"] = (str(tmp_path), "directory")
    return cases


@pytest.mark.parametrize(
    "case", ["missing", "not audio", "empty", "zero-length", "nan", "inf", "directory"]
)
def test_bad_file_raises_audio_error_naming_file(tmp_path, write_wav, case):
    path, reason = _bad_files(tmp_path, write_wav)[case]
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert info.value.source == path
    assert reason in str(info.value) and path in str(info.value)


@pytest.mark.parametrize(
    "clip, reason",
    [
        (np.zeros(0, dtype=np.float32), "zero-length"),
        (np.array([0.0, np.nan], dtype=np.float32), "NaN"),
        (np.array([0.0, np.inf]), "inf"),
        (np.zeros(10, dtype=np.int16), "integer samples"),
        (np.array(["a", "b"]), "unsupported sample format"),
        (np.zeros((2, 8000), dtype=np.float32), "channels-first"),
        (np.zeros((2, 2, 2), dtype=np.float32), "1-D or 2-D"),
    ],
)
def test_bad_waveforms(clip, reason):
    with pytest.raises(AudioError, match=reason) as info:
        list(iter_clips([np.zeros(4, dtype=np.float32), clip], sr=8000))
    assert info.value.source == "clip 1"


def test_ambiguous_X_is_rejected_with_hint():
    with pytest.raises(ValueError, match=r"wrap a single waveform as \[y\]"):
        LogMel().fit(np.zeros(100))
    with pytest.raises(ValueError, match="single path"):
        LogMel().fit("a.wav")


def test_skip_keeps_labels_aligned_and_reports(tmp_path, write_wav):
    cases = _bad_files(tmp_path, write_wav)
    good = [write_wav(f"good{i}.wav", np.full(800, 0.1 * (i + 1))) for i in range(3)]
    X = [good[0], cases["missing"][0], good[1], cases["not audio"][0], cases["nan"][0], good[2]]
    y = ["a", "x1", "b", "x2", "x3", "c"]
    with pytest.warns(SkippedClipsWarning, match="skipped 3 clip"):
        res = load_clips(X, y, sr=16000, on_error="skip")
    assert res.y.tolist() == ["a", "b", "c"]
    assert res.kept.tolist() == [0, 2, 5]
    # each kept clip is the file its label belongs to (distinct constant levels)
    assert [round(float(c.mean()), 3) for c in res.clips] == [0.1, 0.2, 0.3]
    assert res.skipped["index"].tolist() == [1, 3, 4]
    assert res.skipped["source"].tolist() == [X[1], X[3], X[4]]
    assert "file not found" in res.skipped["reason"].iloc[0]


def test_raise_policy_stops_at_first_bad_file(tmp_path, write_wav):
    good = write_wav("g.wav", np.zeros(800))
    with pytest.raises(AudioError, match="nope.wav: file not found"):
        load_clips([good, str(tmp_path / "nope.wav")], sr=16000)


def test_labels_must_match_clips():
    with pytest.raises(ValueError, match="2 clips but y has 3 labels"):
        load_clips([np.zeros(5), np.zeros(5)], ["a", "b", "c"], sr=8000)


def test_audio_loader_skip_records_skipped(tmp_path, write_wav):
    good = write_wav("g.wav", np.zeros(1600), sr=16000)
    loader = AudioLoader(sr=8000, on_error="skip").fit([good])
    with pytest.warns(SkippedClipsWarning):
        out = loader.transform([good, str(tmp_path / "missing.wav"), good])
    assert [len(w) for w in out] == [800, 800]
    assert loader.skipped_["index"].tolist() == [1]


def test_logmel_skip_policy_matches_loader(tmp_path, write_wav):
    good = write_wav("g.wav", np.random.default_rng(0).standard_normal(16000) * 0.1)
    mel = LogMel(sr=16000, on_error="skip").fit([good])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = mel.transform([str(tmp_path / "gone.wav"), good])
    assert len(out) == 1 and mel.skipped_["source"].tolist() == [str(tmp_path / "gone.wav")]
    assert any(issubclass(w.category, SkippedClipsWarning) for w in rec)


@pytest.mark.numeric
def test_paths_and_waveforms_give_same_features(write_wav, tone):
    y, sr = tone
    path = write_wav("t.wav", y, sr=sr, subtype="FLOAT")
    mel = LogMel(sr=sr).fit([path])
    a, b = mel.transform([path, y])
    np.testing.assert_array_equal(a, b)


def test_audio_error_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(AudioError("x.wav", "file not found")))
    assert str(err) == "x.wav: file not found" and err.reason == "file not found"
    assert sf is not None


def test_lazy_loading_checks_but_keeps_paths(tmp_path, write_wav, monkeypatch):
    from embedclf import audio as audio_mod

    monkeypatch.setattr(audio_mod, "BLOCK_SECONDS", 0.01)
    good = write_wav("good.wav", np.full(800, 0.1), sr=16000)
    late_nan = np.zeros(1600, dtype=np.float32)
    late_nan[1500] = np.nan  # only the last block holds it
    bad = write_wav("late_nan.wav", late_nan, sr=16000, subtype="FLOAT")
    with pytest.warns(SkippedClipsWarning):
        res = load_clips([good, bad, good], ["a", "b", "c"], sr=8000, on_error="skip", lazy=True)
    assert res.clips == [good, good] and res.y.tolist() == ["a", "c"]
    assert "NaN or inf" in res.skipped["reason"].iloc[0]


def test_stream_audio_matches_one_shot(write_wav, tone):
    from embedclf.audio import stream_audio

    y, sr = tone
    path = write_wav("t.wav", y, sr=sr, subtype="FLOAT")
    streamed = np.concatenate(list(stream_audio(path, sr=16000, block_seconds=0.1)))
    whole, _ = load_audio(path, sr=16000)
    assert abs(len(streamed) - len(whole)) <= 1
    n = min(len(streamed), len(whole))
    assert np.max(np.abs(streamed[:n] - whole[:n])) < 1e-3


def test_too_short_to_resample(write_wav):
    path = write_wav("two.wav", np.zeros(2), sr=48000)
    with pytest.raises(AudioError, match="too short"):
        load_audio(path, sr=8000)


def test_one_stereo_waveform_as_X_is_refused():
    with pytest.raises(ValueError, match=r"looks like one 2-channel waveform.*Pass it as \[y\]"):
        LogMel().fit(np.zeros((22050, 2), dtype=np.float32))


def test_skip_policy_applies_to_fit_too():
    bad = [np.zeros(800, np.float32), np.array([np.nan] * 800, np.float32)]
    with pytest.raises(AudioError, match="clip 1"):
        LogMel(sr=8000).fit(bad)
    mel = LogMel(sr=8000, on_error="skip")
    with pytest.warns(SkippedClipsWarning):
        out = mel.fit_transform(bad)
    assert len(out) == 1 and mel.skipped_["index"].tolist() == [1]
