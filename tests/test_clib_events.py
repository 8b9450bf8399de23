"""Sound events in the exported C library (embedclf_events.c): the Recognizer's decisions on a
device, on real audio (ESC-10 clips over noise), checked on the host build."""

import inspect
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")
pytest.importorskip("tflite_micro")

from embedclf.distill.cevents import (  # noqa: E402
    EVENT_BACKGROUND_LABELS,
    EVENT_DEFAULTS,
    event_settings,
    events_config_header,
)
from embedclf.distill.export import Int8Model, tflm_outputs  # noqa: E402
from embedclf.distill.verify import build, missing_tools, parse_demo_output, write_pcm  # noqa: E402

SR = 16000
ESC10 = Path(__file__).resolve().parents[2] / "shared" / "data" / "esc10"
CLASSES = ("Baby cry", "Chainsaw", "Dog bark", "Rooster")


def test_event_defaults_are_the_recognizers():
    from embedclf.stream import BACKGROUND_LABELS, Recognizer

    params = inspect.signature(Recognizer).parameters
    for name, value in EVENT_DEFAULTS.items():
        assert params[name].default == value, name
    assert EVENT_BACKGROUND_LABELS == BACKGROUND_LABELS == params["background"].default


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"threshold": 1.5}, "threshold must be a number in"),
        ({"threshold": 0.5, "threshold_off": 0.6}, "threshold_off must be a number in"),
        ({"suppression": -1}, "suppression must be a number >= 0"),
        ({"smoothing": float("nan")}, "smoothing must be"),
        ({"background": "noise"}, "list of labels, not one string"),
        ({"hop": 0.5}, "unknown event setting 'hop'"),
    ],
)
def test_bad_event_settings_are_refused_as_the_recognizer_refuses_them(bad, match):
    with pytest.raises(ValueError, match=match):
        event_settings(bad)


def test_distill_command_passes_the_stream_settings_to_the_device():
    from embedclf.cli import build_parser
    from embedclf.cli._args import events_from_args

    args = build_parser().parse_args(
        ["distill", "--teacher", "t", "--data", "d", "--smoothing", "1.5", "--suppression", "2"]
        + ["--threshold-off", "0.3", "--min-duration", "0.25", "--background", "wind"]
    )
    events = events_from_args(args)
    assert events == {
        "smoothing": 1.5,
        "threshold_off": 0.3,
        "min_duration": 0.25,
        "suppression": 2.0,
        "background": ["wind"],
    }
    assert event_settings(events)["threshold"] == 0.5  # not given: the Recognizer's


# ---- a student trained on ESC-10, its C library built for the host ------------------------
def _esc10():
    if not ESC10.is_dir():
        pytest.skip(f"{ESC10} absent (the shared real-recordings folder)")
    from embedclf.audio import load_audio
    from embedclf.datasets import load_esc10

    df = load_esc10(ESC10)
    df = df[df.label.isin(CLASSES)].sort_values("path")
    train = df[df.fold <= 4].groupby("label").head(8)
    test = df[df.fold == 5].groupby("label").head(2)
    load = lambda paths: [load_audio(p, sr=SR)[0] for p in paths]  # noqa: E731
    return load(train.path), train.label.to_numpy(), load(test.path)


def _recording(clips, seed=0):
    """Held-out clips (2 s of each) at random gaps over low noise: about 20 s."""
    rng = np.random.default_rng(seed)
    pieces = []
    for clip in clips:
        pieces += [np.zeros(int(rng.uniform(0.5, 2.0) * SR), np.float32), clip[: 2 * SR]]
    y = np.concatenate(pieces + [np.zeros(SR // 3, np.float32)])
    return y + 0.003 * rng.standard_normal(len(y)).astype(np.float32)


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    """The exported student (custom event settings), its host build and a recording."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from embedclf import LogMel, WindowAggregator
    from embedclf.distill import Distiller, export

    X, y, held_out = _esc10()
    rng = np.random.default_rng(1)  # a background class: quiet noise is not an event
    X += [
        (10 ** rng.uniform(-3, -1.5) * rng.standard_normal(5 * SR)).astype(np.float32)
        for _ in range(8)
    ]
    y = np.concatenate([y, ["_background_"] * 8])
    teacher = Pipeline(
        [
            ("mel", LogMel(sr=SR)),
            ("agg", WindowAggregator()),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    ).fit(X, y)
    student = Distiller(teacher, epochs=8, random_state=0).fit(X, y)
    out = tmp_path_factory.mktemp("events") / "mcu"
    settings = {"threshold": 0.45, "suppression": 1.0, "min_duration": 1.25}
    report = export(student, out, X[:6], events=settings)
    if missing_tools("host"):
        pytest.skip(f"{', '.join(missing_tools('host'))} not installed")
    build(out / "c", "host")
    wave = _recording(held_out)
    pcm = out.parent / "recording.pcm"
    samples = write_pcm(wave, pcm)  # the int16 samples the device reads, as floats
    return student, out, report, settings, pcm, samples


class _Replay:
    """A clip model that answers each window with the next of the given scores."""

    def __init__(self, scores, classes):
        self.scores, self.classes_, self.i = scores, np.asarray(classes), 0

    def predict_proba(self, X):
        self.i += 1
        return self.scores[self.i - 1 : self.i]


def _run_device(lib, pcm):
    out = subprocess.run([lib / "embedclf_demo", pcm], capture_output=True, text=True, check=True)
    scores, _ = parse_demo_output(out.stdout)
    events = [
        tuple(line.split(",")[1:7]) for line in out.stdout.splitlines() if line.startswith("event,")
    ]
    events = [
        (int(k), int(a), int(b), np.uint32(int(s, 16)).view(np.float32), int(d), int(e))
        for k, a, b, s, d, e in events
    ]
    return scores, events


def _as_device(rec, events):
    """The Recognizer's events in the device's units: class index, samples, float32 score."""
    classes = [str(c) for c in rec.classes_]
    samples = lambda t: int(np.floor(t * rec.sr + 0.5))  # noqa: E731
    return [
        (
            classes.index(str(e.label)),
            samples(e.onset),
            samples(e.offset),
            np.float32(e.score),
            samples(e.detected),
            samples(e.decided),
        )
        for e in events
    ]


def _recognize(model, samples, settings, **kw):
    from embedclf.stream import Recognizer, rechunk

    rec = Recognizer(model, **settings, **kw)
    for block in rechunk([samples], 4099):
        rec.push(block)
    rec.flush()
    return rec


@pytest.mark.parametrize(
    "settings", [None, {"smoothing": 1.5, "threshold_off": 0.2, "suppression": 0.0}]
)
def test_device_events_equal_the_recognizers_for_the_python_int8_student(device, settings):
    """Real audio through the device (C frontend, C network, C events) and through Python (the
    student's frontend, the TFLM interpreter, the Recognizer's decisions on those window
    scores): the same window scores and the same events, to the sample, with the same score
    (the device computes the Recognizer's double-precision arithmetic on the same int8 steps)."""
    student, out, _, exported, pcm, samples = device
    lib = out / "c"
    if settings is None:  # the settings the export wrote
        settings = exported
    else:  # other settings, a class as background: only the generated header changes
        lib = out.parent / "other"
        shutil.copytree(out / "c", lib, dirs_exist_ok=True)
        settings = dict(settings, background=[str(student.classes_[0])])
        header, _ = events_config_header(student.student_, settings)
        (lib / "embedclf_events_config.h").write_text(header)
        build(lib, "host")
    scores, events = _run_device(lib, pcm)
    model = (out / "model.tflite").read_bytes()
    int8 = Int8Model(model)
    W, _, _ = student.windows([samples])  # the student's windows over the whole recording
    T = tflm_outputs(model, int8.quantize(W), 64 * 1024)
    np.testing.assert_array_equal(scores, T)
    P = int8.dequantize(T).astype(np.float64)
    rec = _recognize(_Replay(P, student.classes_), samples, settings, window=1.0, hop=0.5, sr=SR)
    # a stream ending exactly where a full window does: the device scores one more window
    assert len(T) - len(rec.windows) in (0, 1)
    assert len(events) >= 2  # a recording with events, not an empty comparison
    assert events == _as_device(rec, rec.events)


@pytest.mark.numeric
def test_int8_folder_scores_a_window_as_the_device_does(device, tmp_path):
    """A clip of exactly one student window: Int8Folder (LiteRT, numpy frontend from
    frontend.h) equals the device's scores within one int8 step (float rounding next to a
    feature step; LiteRT's FULLY_CONNECTED differs from TFLM by one step on rare windows)."""
    from embedclf.stream import Int8Folder

    _, out, _, _, _, samples = device
    model = Int8Folder(out)
    n = 15700  # 1 + n // hop_length = 50 frames: one window, no padding
    got, want = [], []
    for k in range(0, len(samples) - n, 3 * SR):
        clip = samples[k : k + n]
        write_pcm(clip, tmp_path / "clip.pcm")
        scores, _ = _run_device(out / "c", tmp_path / "clip.pcm")
        assert len(scores) == 1
        want.append((scores[0].astype(np.float64) + 128) / 256)
        got.append(model.window_proba(clip)[0])
    got, want = np.array(got), np.array(want)
    assert np.abs(got - want).max() <= 1 / 256 + 1e-12
    assert np.mean(got == want) >= 0.9
    assert len(np.unique(want.argmax(1))) > 1  # varied windows


def test_streaming_the_exported_folder_gives_the_devices_events(device, tmp_path):
    """``embedclf stream`` on the exported folder (LiteRT and a numpy frontend, not the C
    code) reports the device's events: same classes, onsets and offsets within one hop."""
    import pandas as pd
    import soundfile as sf

    from embedclf.cli import main
    from embedclf.stream import Int8Folder

    _, out, _, settings, pcm, samples = device
    _, want = _run_device(out / "c", pcm)
    wav = tmp_path / "recording.wav"
    sf.write(wav, samples.astype(np.float32), SR, subtype="FLOAT")
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    assert main(["stream", str(out), str(wav), "-o", str(tmp_path / "ev.csv")] + flags) == 0
    got = pd.read_csv(tmp_path / "ev.csv")
    classes = [str(c) for c in Int8Folder(out).classes_]
    assert len(want) >= 2 and len(got) == len(want)
    assert [classes.index(str(lbl)) for lbl in got.label] == [e[0] for e in want]
    hop = 0.5 * SR
    assert np.all(np.abs(got.onset.to_numpy() * SR - [e[1] for e in want]) <= hop)
    assert np.all(np.abs(got.offset.to_numpy() * SR - [e[2] for e in want]) <= hop)


def _built_for(lib, target):
    """The library's demo built for ``target`` (the host build is the fixture's)."""
    if target == "m4":
        missing = missing_tools("m4")
        if missing:
            pytest.skip(f"{', '.join(missing)} not installed: `make test` installs them as root")
        build(lib, "m4")


def _events_of(stdout):
    return [line.split(",")[1:7] for line in stdout.splitlines() if line.startswith("event,")]


@pytest.mark.parametrize("target", ["host", "m4"])
def test_event_positions_do_not_wrap_after_37_hours(device, target):
    """A listening device runs for days; a 32-bit sample count wraps after 2^31 samples (37
    hours at 16 kHz). The recording reported from just before that point
    (ecl_listener_start_at, the demo's --first-sample) gives the events of the recording
    reported from 0, moved by as much, past the wrap, on the Cortex-M4 (32-bit long) too.
    The start is a multiple of the hop, so every window boundary is as exact in seconds."""
    from embedclf.distill.verify import run_demo

    _, out, _, _, pcm, _ = device
    _built_for(out / "c", target)
    first = (2**31 // 8000 - 10) * 8000  # 2^31 - 83,648: the wrap comes 5.2 s in
    *_, base = run_demo(out / "c", pcm, target)
    *_, moved = run_demo(out / "c", pcm, target, first_sample=first)
    base, moved = _events_of(base), _events_of(moved)
    assert len(base) >= 2 and len(moved) == len(base)
    assert max(int(e[1]) for e in moved) > 2**31  # events after the wrap
    for a, b in zip(base, moved):
        assert (a[0], a[3]) == (b[0], b[3])  # class and score bits
        assert [int(v) + first for v in a[1:3] + a[4:6]] == [int(v) for v in b[1:3] + b[4:6]]


@pytest.mark.parametrize("target", ["host", "m4"])
def test_moving_the_frame_count_back_changes_nothing(device, target, tmp_path):
    """Long streams move the library's frame count back by a common multiple of the window
    and the hop before it could overflow (about 16 months of audio by default). Built to
    move it back every few windows, the demo prints exactly what the normal build prints:
    the same window scores, events and clip label."""
    import math
    import re

    from embedclf.distill.verify import run_demo

    _, out, _, _, pcm, _ = device
    _built_for(out / "c", target)
    header = (out / "c" / "embedclf_network.h").read_text()
    frames = {
        k: int(re.search(rf"#define {k} (\d+)", header).group(1))
        for k in ("ECL_WINDOW_FRAMES", "ECL_HOP_FRAMES")
    }
    rebase = math.lcm(*frames.values())
    lib = tmp_path / "rebased"
    shutil.copytree(out / "c", lib)
    subprocess.run(
        ["make", "-C", str(lib), "clean", target, f"EXTRA_CFLAGS=-DECL_FRAMES_REBASE={rebase}"],
        check=True,
        capture_output=True,
    )
    *_, normal = run_demo(out / "c", pcm, target)
    *_, rebased = run_demo(lib, pcm, target)
    n_windows = sum(1 for line in normal.splitlines() if line[0].isdigit())
    assert n_windows * frames["ECL_HOP_FRAMES"] > 4 * rebase  # moved back several times
    assert rebased == normal


def test_int8_folder_pools_a_clips_windows_as_the_student_does(device):
    """A clip of several windows: the exported folder pools its windows' int8 probabilities
    as the student (and the device, ECL_POOLING) does: the distilled default is the log-mean,
    which names another class than the plain mean for some clips."""
    from embedclf.models.windows import pool_windows
    from embedclf.stream import Int8Folder

    student, out, _, _, _, samples = device
    model = Int8Folder(out)
    assert model.clip_pooling == student.student_.pooling() == "logmean"
    clips = [samples[k : k + 3 * SR] for k in range(0, len(samples) - 3 * SR, SR // 2)]
    got = model.predict_proba(clips)
    windows = [model.window_proba(c) for c in clips]
    assert all(len(P) >= 3 for P in windows)
    owner = lambda P: np.zeros(len(P), int)  # noqa: E731
    want = np.vstack([pool_windows(P, owner(P), 1, "logmean") for P in windows])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    mean = np.vstack([P.mean(axis=0) for P in windows])
    assert np.abs(got - mean).max() > 0.01  # the pooling matters on these clips
