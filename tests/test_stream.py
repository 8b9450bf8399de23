"""Live recognition (issue 22): block-size invariance, sources, predict_table's windows, the
event logic on hand-computed scores, a breaking source, the `stream` command, bad input, memory."""

import io
import json
import sys
import types

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from embedclf.cli import main
from embedclf.modelfile import save_model
from embedclf.predict import predict_table
from embedclf.stream import (
    Event,
    Recognizer,
    ResamplingWarning,
    file_source,
    iter_source,
    mic_source,
    pcm_source,
    rechunk,
)

SR = 16000
BLOCKS = [1, 37, 4096, SR, 10 * SR]  # 1 sample, odd, typical, 1 s, 10 s


@pytest.fixture(scope="module")
def logmel_model():
    from embedclf.datasets import make_sound_events
    from embedclf.pipelines import make_pipeline

    X, y, _ = make_sound_events(n_per_class=6, sr=SR, random_state=0)
    rng = np.random.default_rng(0)
    noise = [0.01 * rng.standard_normal(2 * SR).astype(np.float32) for _ in range(6)]
    return make_pipeline("logmel-linear", mel__sr=SR).fit(X + noise, list(y) + ["_background_"] * 6)


@pytest.fixture(scope="module")
def stream_file(tmp_path_factory):
    """~8.3 s of events over noise as 16-bit PCM (so file, pipe and array hold equal samples)."""
    from embedclf.datasets import make_sound_events

    X, _, _ = make_sound_events(n_per_class=1, sr=SR, random_state=5)
    rng = np.random.default_rng(1)
    quiet = [0.01 * rng.standard_normal(n).astype(np.float32) for n in (SR, 7000, 9001, 5000)]
    y = np.concatenate([quiet[0], X[0], quiet[1], X[1], quiet[2], X[3], quiet[3]])
    path = tmp_path_factory.mktemp("stream") / "stream.wav"
    sf.write(path, y, SR, subtype="PCM_16")
    pcm, _ = sf.read(path, dtype="int16")
    return path, pcm


def as_float(pcm):
    return pcm.astype(np.float32) / np.float32(32768)


def recognize(model, blocks, **kw):
    rec = Recognizer(model, **kw)
    for _ in rec.run(blocks):
        assert rec.buffered <= rec.capacity
    return rec


def scores(rec):
    return np.stack([w.scores for w in rec.windows]), [(w.start, w.end) for w in rec.windows]


def assert_same_results(a, b):
    Sa, ta = scores(a)
    Sb, tb = scores(b)
    assert ta == tb
    np.testing.assert_array_equal(Sa, Sb)  # one window per model call: equal by construction
    assert a.events == b.events


@pytest.mark.numeric
def test_logmel_scores_and_events_do_not_depend_on_the_block_size(logmel_model, stream_file):
    _, pcm = stream_file
    y = as_float(pcm)
    runs = [
        recognize(logmel_model, iter_source(rechunk([y], b), SR), window=1.0, hop=0.5)
        for b in BLOCKS
    ]
    assert len(runs[0].windows) == 16 and runs[0].events  # a real stream with real events
    for other in runs[1:]:
        assert_same_results(runs[0], other)


@pytest.mark.numeric
def test_cnn_scores_and_events_do_not_depend_on_the_block_size(stream_file):
    pytest.importorskip("keras")
    from embedclf.datasets import make_sound_events
    from embedclf.features.logmel import LogMel
    from embedclf.models import KerasCNN

    sr = 8000
    X, y, _ = make_sound_events(n_per_class=4, sr=sr, duration=1.0, random_state=0)
    cnn = KerasCNN(
        architecture="strided_ds",
        sr=sr,
        epochs=2,
        random_state=0,
        frontend=LogMel(n_fft=256, hop_length=128, n_mels=20),
        window=0.5,
        hop=0.25,
    ).fit(X, y)
    stream = np.concatenate([X[0], X[1], X[2], X[3]])[: int(3.3 * sr)]
    runs = [
        recognize(cnn, iter_source(rechunk([stream], b), sr), threshold=0.3)
        for b in [1, 37, 4096, sr, 10 * sr]
    ]
    assert runs[0].window == 0.5 and runs[0].hop == 0.25  # the model's own windows
    assert len(runs[0].windows) == 13
    for other in runs[1:]:
        assert_same_results(runs[0], other)


@pytest.mark.numeric
def test_batched_windows_do_not_depend_on_the_block_size(logmel_model, stream_file):
    y = as_float(stream_file[1])
    runs = [recognize(logmel_model, iter_source(rechunk([y], b), SR), batch=3) for b in BLOCKS]
    # groups are fixed by window index (0-2, 3-5, ...; the tail with the last group), so
    # every block size makes the same model calls: equal by construction
    for other in runs[1:]:
        assert_same_results(runs[0], other)
    # against one window per call only the batch's float rounding differs
    alone = recognize(logmel_model, iter_source(rechunk([y], 4096), SR))
    np.testing.assert_allclose(scores(runs[0])[0], scores(alone)[0], rtol=1e-5, atol=1e-7)
    assert scores(runs[0])[1] == scores(alone)[1]
    assert [(e.label, e.onset, e.offset) for e in runs[0].events] == [
        (e.label, e.onset, e.offset) for e in alone.events
    ]


def test_file_pipe_and_iterator_give_the_same_results(logmel_model, stream_file):
    path, pcm = stream_file
    from_file = recognize(logmel_model, file_source(path, block=4000))
    from_pipe = recognize(logmel_model, pcm_source(io.BytesIO(pcm.tobytes()), SR, block=999))
    from_iter = recognize(logmel_model, iter_source(iter([as_float(pcm)]), SR))
    assert from_file.events
    assert_same_results(from_file, from_pipe)
    assert_same_results(from_file, from_iter)


def test_window_scores_equal_predict_tables_windows(logmel_model, stream_file):
    path, _ = stream_file
    rec = recognize(logmel_model, file_source(path, block=4096), window=1.0, hop=0.5)
    table = predict_table(logmel_model, [path], window=1.0, hop=0.5)
    ours = rec.scores_table()
    # the same windows, the short tail included (8.3 s: the last one is 7.5..8.3 s)
    np.testing.assert_array_equal(
        ours[["start", "end"]].to_numpy(), table[["start", "end"]].to_numpy()
    )
    assert ours["end"].iloc[-1] - ours["start"].iloc[-1] < 1.0
    cols = [c for c in table if c.startswith("prob_")]
    assert list(ours.columns[2:]) == cols
    # predict_table scores all windows in one batch: equal up to float rounding only
    np.testing.assert_allclose(
        ours[cols].to_numpy(), table[cols].to_numpy(dtype=float), rtol=1e-5, atol=1e-7
    )


def test_window_scores_equal_predict_table_with_a_hop_longer_than_the_window(
    logmel_model, stream_file
):
    path, _ = stream_file
    rec = recognize(logmel_model, file_source(path, block=777), window=0.5, hop=1.25, tail=False)
    table = predict_table(logmel_model, [path], window=0.5, hop=1.25)
    full = table[table["end"] - table["start"] > 0.499]
    np.testing.assert_array_equal(
        rec.scores_table()[["start", "end"]].to_numpy(), full[["start", "end"]].to_numpy()
    )
    np.testing.assert_allclose(
        rec.scores_table().iloc[:, 2:].to_numpy(),
        full.filter(like="prob_").to_numpy(dtype=float),
        rtol=1e-5,
        atol=1e-7,
    )


# ---- the event logic, on scores written by hand ----------------------------------------
class Scripted:
    """A 'model' that returns the next row of a script for each window it is asked about."""

    classes_ = np.array(["_background_", "a", "b"], dtype=object)

    def __init__(self, rows):
        self.rows = [np.asarray(r, float) for r in rows]
        self.calls = 0

    def get_params(self, deep=True):
        return {"sr": 10}

    def predict_proba(self, X):
        assert len(X) == 1 and len(X[0]) == 10  # one full 1 s window at 10 Hz per call
        self.calls += 1
        return self.rows[self.calls - 1][None]


def events_of(a_scores, other=None, **kw):
    """Events for a stream of windows (1 s, hop 1 s) whose scores for class "a" are given."""
    rows = [[1 - a, a, 0.0] for a in a_scores] if other is None else other
    kw = {"window": 1.0, "hop": 1.0, "smoothing": 1.0, "suppression": 0.0, **kw}
    rec = Recognizer(Scripted(rows), **kw)
    out = []
    for _k in range(len(rows)):
        out += rec.push(np.zeros(10)).events
    out += rec.flush().events
    assert out == rec.events
    return [(e.label, e.onset, e.offset, round(e.score, 6), e.detected, e.decided) for e in out]


def test_an_event_starts_at_the_threshold_and_ends_under_threshold_off():
    a = [0.1, 0.7, 0.5, 0.45, 0.3, 0.1]
    # window k stands for [k, k+1]; it starts at window 1 (decided at its end, 2 s) and lasts
    # while the score stays >= 0.4; window 4 (0.3) ends it, decided at 5 s
    assert events_of(a, threshold=0.6, threshold_off=0.4) == [("a", 1.0, 4.0, 0.7, 2.0, 5.0)]
    # without hysteresis it ends at once
    assert events_of(a, threshold=0.6, threshold_off=0.6) == [("a", 1.0, 2.0, 0.7, 2.0, 3.0)]
    assert events_of(a, threshold=0.75) == []


def test_hysteresis_defaults_to_eight_tenths_of_the_threshold():
    assert Recognizer(Scripted([]), threshold=0.5).threshold_off == pytest.approx(0.4)
    assert events_of([0.6, 0.41, 0.39], threshold=0.5) == [("a", 0.0, 2.0, 0.6, 1.0, 3.0)]


def test_suppression_holds_off_a_new_event_after_one_ends():
    a = [0.0, 0.9, 0.0, 0.9, 0.9, 0.0]
    # the first ends at 3 s; window 3 is decided at 4 s < 3 + 1.5, window 4 at 5 s is free
    assert events_of(a, threshold=0.5, suppression=1.5) == [
        ("a", 1.0, 2.0, 0.9, 2.0, 3.0),
        ("a", 4.0, 5.0, 0.9, 5.0, 6.0),
    ]
    assert [e[1] for e in events_of(a, threshold=0.5, suppression=0.0)] == [1.0, 3.0]


def test_min_duration_drops_short_events_and_they_start_no_suppression():
    a = [0.9, 0.0, 0.9, 0.9, 0.0]
    assert events_of(a, threshold=0.5, min_duration=1.5, suppression=5.0) == [
        ("a", 2.0, 4.0, 0.9, 3.0, 5.0)
    ]


def test_background_labels_are_never_reported():
    rows = [[0.9, 0.7, 0.0], [0.95, 0.0, 0.0], [0.1, 0.0, 0.8], [0.0, 0.0, 0.0]]
    # the background is top in windows 0-1 (never an event, even with "a" over the threshold)
    assert events_of(None, other=rows, threshold=0.5) == [("b", 2.0, 3.0, 0.8, 3.0, 4.0)]
    # named otherwise, the same class is reported
    assert [e[0] for e in events_of(None, other=rows, threshold=0.5, background=())] == [
        "_background_",
        "b",
    ]


def test_smoothing_averages_windows_and_the_onset_is_the_first_high_window():
    # smoothed over 2 windows: 0, 0.5, 0.65, 0.15; starts at window 2 (0.65 >= 0.6) with its
    # onset at window 1 (the first in the span whose own score reached 0.48)
    assert events_of([0.0, 1.0, 0.3, 0.0], smoothing=2.0, threshold=0.6) == [
        ("a", 1.0, 2.0, 0.65, 3.0, 4.0)
    ]


class ScriptedBatches(Scripted):
    """Scripted, taking windows in groups and recording each call's group size."""

    def __init__(self, rows):
        super().__init__(rows)
        self.sizes = []

    def predict_proba(self, X):
        self.sizes.append(len(X))
        self.calls += len(X)
        return np.stack(self.rows[self.calls - len(X) : self.calls])


def test_a_batch_scores_fixed_groups_and_decides_at_the_groups_end():
    a = [0.1, 0.7, 0.5, 0.45, 0.3, 0.1, 0.0]
    model = ScriptedBatches([[1 - v, v, 0.0] for v in a])
    rec = Recognizer(model, window=1.0, hop=1.0, smoothing=1.0, suppression=0.0, batch=3)
    rec.push(np.zeros(25))  # windows 0-1 complete: their group waits for window 2
    assert model.sizes == [] and rec.buffered <= rec.capacity
    up = rec.push(np.zeros(45))  # windows 2-6: group 0-2 scored, 3-5 scored, 6 waits
    assert model.sizes == [3, 3] and len(up.windows) == 6
    rec.flush()  # the last group: window 6 alone (the stream ends at a window's end)
    assert model.sizes == [3, 3, 1]
    (e,) = rec.events
    # the same event as one window per call (test above), decided when its group was scored:
    # started by window 1 (group 0-2, scored at 3 s), ended by window 4 (group 3-5, at 6 s)
    assert (e.label, e.onset, e.offset, e.detected, e.decided) == ("a", 1.0, 4.0, 3.0, 6.0)


def test_flush_closes_an_event_still_open_at_the_end():
    assert events_of([0.0, 0.9, 0.9], threshold=0.5) == [("a", 1.0, 3.0, 0.9, 2.0, 3.0)]


# ---- sources that end or break ----------------------------------------------------------
def test_a_source_breaking_mid_stream_ends_with_what_was_decided(logmel_model, stream_file):
    _, pcm = stream_file
    y = as_float(pcm)
    cut = 7 * SR + 123

    def breaking():
        yield from rechunk([y[:cut]], 5000)
        raise OSError("the pipe broke")

    rec = Recognizer(logmel_model)
    updates = []
    with pytest.raises(OSError, match="the pipe broke"):
        for u in rec.run(iter_source(breaking(), SR)):
            updates.append(u)
    clean = recognize(logmel_model, iter_source([y[:cut]], SR))
    assert_same_results(rec, clean)  # what was pushed, flushed as if the stream ended there
    assert sum((u.events for u in updates), []) == clean.events


def test_a_pipe_ending_inside_a_sample_keeps_the_whole_samples(logmel_model, stream_file):
    _, pcm = stream_file
    raw = pcm[: 3 * SR].tobytes() + b"\x01"  # half a sample at the end
    rec = recognize(logmel_model, pcm_source(io.BytesIO(raw), SR, block=1000))
    assert rec.n_samples == 3 * SR


def test_f32le_pcm_is_read_as_floats():
    y = np.array([0.25, -0.5, 1.0, 0.125], np.float32)
    blocks = list(
        pcm_source(io.BytesIO(y.astype("<f4").tobytes()), 8000, format="f32le", channels=2, block=1)
    )
    assert [b.tolist() for b in blocks] == [[-0.125], [0.5625]]


def test_a_file_cut_short_ends_the_stream_with_the_samples_it_holds(
    logmel_model, stream_file, tmp_path
):
    path, _ = stream_file
    data = path.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2 + 1])  # the header still declares 8.3 s
    held, _ = sf.read(cut, dtype="int16")
    rec = recognize(logmel_model, file_source(cut, block=4000))
    assert 4 * SR < rec.n_samples < 4.5 * SR
    assert_same_results(rec, recognize(logmel_model, iter_source([as_float(held)], SR)))


class FakeInput:
    """What sounddevice.InputStream offers: a context manager with read(n)."""

    def __init__(self, y):
        self.y, self.pos, self.entered = y, 0, False

    def __enter__(self):
        self.entered = True
        return self

    def __exit__(self, *exc):
        return False

    def read(self, n):
        out = self.y[self.pos : self.pos + n]
        self.pos += n
        return out[:, None], False


def test_a_microphone_stream_gives_what_the_same_samples_give(logmel_model, stream_file):
    _, pcm = stream_file
    y = as_float(pcm)
    fake = FakeInput(y)
    mic = recognize(logmel_model, mic_source(SR, block=1234, duration=len(y) / SR, stream=fake))
    assert fake.entered
    assert_same_results(mic, recognize(logmel_model, iter_source([y], SR)))


# ---- resampling, bad input, memory --------------------------------------------------------
@pytest.mark.numeric
def test_another_rate_is_resampled_once_and_still_block_size_invariant(logmel_model, stream_file):
    _, pcm = stream_file
    y = as_float(pcm)[: 4 * SR]
    runs = []
    for b in [37, 22050, 10 * 22050]:
        with pytest.warns(ResamplingWarning) as record:
            runs.append(recognize(logmel_model, iter_source(rechunk([y], b), 22050)))
        assert len([w for w in record if issubclass(w.category, ResamplingWarning)]) == 1
    # 4 s at 22.05 kHz is 2.9 s at 16 kHz: windows at 0, 0.5, ... then the tail
    assert runs[0].n_samples == round(4 * SR * SR / 22050)
    for other in runs[1:]:
        assert_same_results(runs[0], other)


def test_a_model_without_probabilities_is_one_error_naming_pipelines_that_can(events):
    from sklearn.pipeline import make_pipeline as sk_pipeline
    from sklearn.svm import LinearSVC

    from embedclf import LogMel, WindowAggregator

    X, y, _ = events
    model = sk_pipeline(LogMel(sr=SR), WindowAggregator(), LinearSVC(max_iter=5000)).fit(X, y)
    with pytest.raises(ValueError, match=r"predict_proba.*pipelines .* can: .*logmel-linear"):
        Recognizer(model)


@pytest.mark.parametrize(
    "kw, says",
    [
        ({"window": 0}, "window must be a positive"),
        ({"hop": -1}, "hop must be a positive"),
        ({"threshold": 0.5, "threshold_off": 0.7}, "threshold_off <= threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"batch": 0}, "batch must be a whole number"),
        ({"batch": 2.5}, "batch must be a whole number"),
    ],
)
def test_bad_settings_are_refused(logmel_model, kw, says):
    with pytest.raises(ValueError, match=says):
        Recognizer(logmel_model, **kw)


@pytest.mark.parametrize(
    "block, says",
    [
        (np.array([0.0, np.nan]), "NaN or infinity"),
        (np.zeros((2, 2, 2)), "1-D samples"),
        (np.array(["a"]), "float samples"),
        (np.array([0, 16384], np.int16), "scale integer PCM first"),
    ],
)
def test_bad_blocks_are_refused(logmel_model, block, says):
    with pytest.raises(ValueError, match=says):
        Recognizer(logmel_model).push(block)


def test_a_flushed_stream_takes_no_more_samples(logmel_model):
    rec = Recognizer(logmel_model)
    rec.flush()
    with pytest.raises(ValueError, match="reset"):
        rec.push(np.zeros(10))
    assert rec.reset().push(np.zeros(10)).windows == []


def test_the_audio_buffer_never_holds_more_than_its_capacity(logmel_model):
    rec = Recognizer(logmel_model, window=1.0, hop=0.25, history=False)
    assert rec.capacity == SR + SR // 4
    rng = np.random.default_rng(0)
    n = 0
    for size in [10 * SR, 1, 37, 3 * SR + 5, 4096] * 3:
        rec.push(0.01 * rng.standard_normal(size).astype(np.float32))
        n += size
        assert rec.buffered <= rec.capacity and rec.max_buffered <= rec.capacity
    assert rec.n_samples == n
    assert rec.windows == [] and rec.events == []  # history=False keeps nothing


def test_a_hop_longer_than_the_window_skips_the_samples_between(logmel_model):
    rec = Recognizer(logmel_model, window=0.25, hop=1.0)
    up = rec.push(np.zeros(5 * SR, np.float32))
    assert [(w.start, w.end) for w in up.windows] == [(k, k + 0.25) for k in range(5)]
    assert rec.max_buffered <= rec.capacity


# ---- the command -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_path(logmel_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "model.skops"
    save_model(logmel_model, path)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_stream_command_prints_json_events_and_writes_outputs(
    capsys, model_path, stream_file, logmel_model, tmp_path
):
    path, pcm = stream_file
    events, table, plot = tmp_path / "ev.csv", tmp_path / "sc.csv", tmp_path / "t.png"
    code, out, err = run(
        capsys,
        "stream",
        model_path,
        path,
        "--json",
        "-o",
        events,
        "--scores",
        table,
        "--plot",
        plot,
        "--block",
        37,
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    ref = recognize(logmel_model, iter_source([as_float(pcm)], SR))
    assert lines == [
        {k: e.as_dict()[k] for k in ("onset", "offset", "label", "score")} for e in ref.events
    ]
    assert lines and set(lines[0]) == {"onset", "offset", "label", "score"}
    written = pd.read_csv(events)
    assert written["label"].tolist() == [str(e.label) for e in ref.events]
    np.testing.assert_allclose(written["onset"], [e.onset for e in ref.events])
    np.testing.assert_allclose(
        pd.read_csv(table).iloc[:, 2:].to_numpy(),
        np.stack([w.scores for w in ref.windows]),
        rtol=1e-12,
    )
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_stream_command_reads_raw_pcm_from_stdin(capsys, model_path, stream_file, monkeypatch):
    path, pcm = stream_file
    code, from_file, _ = run(capsys, "stream", model_path, path)
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(pcm.tobytes())))
    code2, from_pipe, err = run(capsys, "stream", model_path, "-", "--rate", SR, "--block", 500)
    assert code == code2 == 0
    assert from_pipe == from_file and from_file.count("\n") >= 2
    assert "event(s) in 8.3 s" in err


def test_stream_command_says_once_that_it_resamples(capsys, model_path, stream_file, monkeypatch):
    _, pcm = stream_file
    monkeypatch.setattr(
        sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(pcm[: 2 * SR].tobytes()))
    )
    code, out, err = run(capsys, "stream", model_path, "-", "--rate", 22050)
    assert code == 0
    assert err.count("resampling") == 1 and "22050 Hz" in err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["-"], "--rate: needed with -"),
        ([], "give a SOURCE"),
        (["x.wav", "--mic"], "give a SOURCE"),
        (["x.wav", "--rate", "16000"], "only for - or --mic"),
        (["x.wav", "--threshold", "0.3", "--threshold-off", "0.5"], "must not exceed"),
        (["x.wav", "--duration", "2"], "only with --mic"),
    ],
)
def test_stream_command_refuses_bad_usage(capsys, model_path, argv, says):
    with pytest.raises(SystemExit) as info:
        main(["stream", str(model_path), *argv])
    _, err = capsys.readouterr()
    assert info.value.code == 2 and says in err


def one_line_error(code, err, says):
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("embedclf: error: ") and says in err, err


def test_stream_command_without_a_microphone_is_one_line(capsys, model_path, monkeypatch):
    fake = types.ModuleType("sounddevice")

    def no_device(**kw):
        raise RuntimeError("Error querying device -1")

    fake.InputStream = no_device
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    code, _, err = run(capsys, "stream", model_path, "--mic", "--quiet")
    one_line_error(code, err, "no microphone: Error querying device -1")


def test_stream_command_without_sounddevice_is_one_line(capsys, model_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    code, _, err = run(capsys, "stream", model_path, "--mic", "--quiet")
    one_line_error(code, err, "pip install 'embedclf[live]'")


def test_stream_command_on_a_model_without_probabilities_is_one_line(
    capsys, tmp_path, events, stream_file
):
    from sklearn.pipeline import make_pipeline as sk_pipeline
    from sklearn.svm import LinearSVC

    from embedclf import LogMel, WindowAggregator

    X, y, _ = events
    path = tmp_path / "svm.skops"
    svm = sk_pipeline(LogMel(sr=SR), WindowAggregator(), LinearSVC(max_iter=5000))
    save_model(svm.fit(X, y), path)
    code, _, err = run(capsys, "stream", path, stream_file[0])
    one_line_error(code, err, "gives no class probabilities")


def test_stream_command_on_a_missing_file_is_one_line(capsys, model_path, tmp_path):
    code, _, err = run(capsys, "stream", model_path, tmp_path / "nope.wav")
    one_line_error(code, err, "file not found")


def test_stream_command_stops_quietly_when_its_reader_goes_away(
    capsys, model_path, stream_file, monkeypatch, tmp_path
):
    import builtins

    real_print = builtins.print

    def broken(*a, **kw):
        if kw.get("file") is None:
            raise BrokenPipeError
        real_print(*a, **kw)

    events = tmp_path / "ev.csv"
    monkeypatch.setattr(builtins, "print", broken)
    monkeypatch.setattr("os.dup2", lambda *a: None)  # keep pytest's stdout
    code = main(["stream", str(model_path), str(stream_file[0]), "-o", str(events)])
    monkeypatch.undo()
    out, err = capsys.readouterr()
    assert code == 141 and "Traceback" not in err
    assert len(pd.read_csv(events)) >= 1  # what was decided is written all the same


def test_events_as_dicts_round_times():
    e = Event("x", 1.0000000001, 2.5, np.float32(0.5), 1.5, 3.0)
    assert e.as_dict() == {
        "onset": 1.0,
        "offset": 2.5,
        "label": "x",
        "score": 0.5,
        "detected": 1.5,
        "decided": 3.0,
    }


# ---- background class ---------------------------------------------------------------------
def test_cut_background_cuts_recordings_and_folders_into_window_clips(tmp_path):
    from embedclf.datasets import cut_background

    rng = np.random.default_rng(0)
    y = 0.1 * rng.standard_normal(3 * SR + SR // 2 + 10).astype(np.float32)
    (tmp_path / "noise").mkdir()
    sf.write(tmp_path / "noise" / "a.wav", y, SR, subtype="FLOAT")
    sf.write(tmp_path / "b.wav", y[: SR // 3], SR, subtype="FLOAT")
    clips, labels = cut_background([tmp_path / "noise", tmp_path / "b.wav"], sr=SR, label="quiet")
    # 3.5 s: three 1 s clips and the half-second remainder; the short file whole
    assert [len(c) for c in clips] == [SR, SR, SR, SR // 2 + 10, SR // 3]
    np.testing.assert_array_equal(np.concatenate(clips[:4]), y)
    assert labels == ["quiet"] * 5
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        cut_background(tmp_path / "empty", sr=SR)


def test_train_with_background_learns_a_class_the_recognizer_never_reports(
    capsys, event_files, tmp_path
):
    root, _ = event_files
    rng = np.random.default_rng(2)
    noise = tmp_path / "noise.wav"
    sf.write(noise, 0.02 * rng.standard_normal(12 * SR).astype(np.float32), SR)
    model = tmp_path / "bg.skops"
    code, out, err = run(
        capsys,
        "train",
        root,
        "--set",
        "mel__sr=16000",
        "-o",
        model,
        "--background",
        noise,
        "--json",
        "--quiet",
    )
    assert code == 0, err
    info = json.loads(out)
    assert info["n_background_clips"] == 12 and "_background_" in info["classes"]
    # a stream of that noise alone: windows scored, mostly background, and no event
    stream = tmp_path / "quiet.wav"
    sf.write(stream, 0.02 * rng.standard_normal(6 * SR).astype(np.float32), SR)
    scores = tmp_path / "s.csv"
    code, out, err = run(capsys, "stream", model, stream, "--scores", scores, "--json")
    table = pd.read_csv(scores)
    assert code == 0 and out == ""
    assert (table.filter(like="prob_").idxmax(axis=1) == "prob__background_").mean() > 0.8


# ---- a Distiller and its exported int8 student --------------------------------------------
@pytest.fixture(scope="module")
def distilled(logmel_model, tmp_path_factory):
    pytest.importorskip("keras")
    pytest.importorskip("ai_edge_litert")
    from embedclf.datasets import make_sound_events
    from embedclf.distill import Distiller, export

    X, y, _ = make_sound_events(n_per_class=4, sr=SR, duration=1.0, random_state=0)
    dist = Distiller(logmel_model, epochs=3, random_state=0).fit(X, y)
    out = tmp_path_factory.mktemp("student") / "mcu"
    export(dist, out, X)
    return dist, out, X


def test_an_int8_folder_scores_as_its_float_student(distilled):
    from embedclf.stream import Int8Folder

    dist, out, X = distilled
    m = Int8Folder(out)
    assert (m.sr, m.window, m.hop) == (SR, dist.window, dist.hop)
    assert list(m.classes_) == [str(c) for c in dist.classes_]
    P_int8, P_float = m.predict_proba(X), dist.predict_proba(X)
    # int8 rounding only: the frontend computed from frontend.h is the student's
    np.testing.assert_allclose(P_int8, P_float, atol=0.05)
    assert np.mean(P_int8.argmax(1) == P_float.argmax(1)) >= 0.9


def test_an_int8_folder_can_score_full_windows_only(distilled):
    from embedclf.stream import Int8Folder

    dist, out, X = distilled
    clip = X[0][:SR]  # exactly one window: the centred frontend gives it one frame more
    W, _, _ = dist.windows([clip])
    assert len(W) == 2  # the float student adds a mostly padded window
    full = Int8Folder(out, partial_windows=False).predict_proba([clip])
    np.testing.assert_allclose(full[0], dist.student_.window_proba(W[:1])[0], atol=0.05)
    # a clip shorter than one window still gets its one padded window
    short = X[0][: SR // 2]
    np.testing.assert_array_equal(
        Int8Folder(out, partial_windows=False).predict_proba([short]),
        Int8Folder(out).predict_proba([short]),
    )


@pytest.mark.numeric
def test_distiller_and_int8_folder_streams_do_not_depend_on_the_block_size(distilled, stream_file):
    from embedclf.stream import Int8Folder

    dist, out, _ = distilled
    y = as_float(stream_file[1])[: 4 * SR]
    for model in (dist, Int8Folder(out)):
        runs = [recognize(model, iter_source(rechunk([y], b), SR)) for b in (37, SR, 10 * SR)]
        assert runs[0].sr == SR and (runs[0].window, runs[0].hop) == (1.0, 0.5)
        for other in runs[1:]:
            assert_same_results(runs[0], other)


def test_stream_command_runs_an_exported_int8_folder(capsys, distilled, stream_file):
    from embedclf.stream import Int8Folder

    _, out, _ = distilled
    code, text, err = run(capsys, "stream", out, stream_file[0], "--json", "--threshold", 0.3)
    assert code == 0, err
    ref = recognize(Int8Folder(out), file_source(stream_file[0]), threshold=0.3)
    assert [json.loads(line)["onset"] for line in text.splitlines()] == [
        e.onset for e in ref.events
    ]
