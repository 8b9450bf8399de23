"""Distiller and MCU export: soft targets per window, int8 files checked in LiteRT and TFLM."""

import json
import re
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

pytest.importorskip("keras")
pytest.importorskip("tflite_micro")

from embedclf import LogMel, WindowAggregator  # noqa: E402
from embedclf.distill import BudgetError, Distiller, UnsupportedOpError, export  # noqa: E402
from embedclf.distill.distiller import soften  # noqa: E402
from embedclf.distill.export import Int8Model, measure_arena, op_list, tflm_outputs  # noqa: E402

SR = 16000


@pytest.fixture(scope="module")
def data():
    from embedclf.datasets import make_sound_events

    X, y, folds = make_sound_events(n_per_class=10, sr=SR, duration=1.5, random_state=2)
    train, test = np.where(folds != 1)[0], np.where(folds == 1)[0]
    return [X[i] for i in train], y[train], [X[i] for i in test], y[test]


@pytest.fixture(scope="module")
def teacher(data):
    X, y, _, _ = data
    return Pipeline(
        [
            ("mel", LogMel(sr=SR)),
            ("agg", WindowAggregator(stats=("mean", "std", "max"))),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    ).fit(X, y)


@pytest.fixture(scope="module")
def distilled(data, teacher):
    X, y, _, _ = data
    return Distiller(teacher, epochs=40, learning_rate=1e-2, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def exported(distilled, data, tmp_path_factory):
    X, _, Xt, yt = data
    out = tmp_path_factory.mktemp("mcu")
    return out, export(distilled, out, X, X_test=Xt, y_test=yt)


def test_student_learns_from_the_teacher(distilled, data, teacher):
    X, y, Xt, yt = data
    assert distilled.classes_.tolist() == teacher.classes_.tolist()
    assert distilled.n_labelled_ == len(X)
    assert distilled.student_.frontend_.sr == 16000 and distilled.student_.frontend_.n_mels == 40
    # the tiny student is well above chance (20%) after 40 epochs on 40 clips
    assert distilled.score(X, y) > 0.5
    P = distilled.predict_proba(Xt)
    assert P.shape == (len(Xt), 5) and np.allclose(P.sum(1), 1)


def test_clip_pooling_sets_how_the_student_pools_windows(data, teacher, distilled):
    import pickle

    from embedclf.models.windows import pool_windows

    X, y, Xt, _ = data
    assert distilled.clip_pooling == distilled.student_.clip_pooling == "logmean"  # the default
    P, owner = distilled.student_.predict_windows(distilled.student_waves(Xt))
    assert np.allclose(distilled.predict_proba(Xt), pool_windows(P, owner, len(Xt), "logmean"))
    d = Distiller(teacher, epochs=1, clip_pooling="mean", random_state=0).fit(X, y)
    assert d.student_.clip_pooling == "mean"
    P, owner = d.student_.predict_windows(d.student_waves(Xt))
    assert np.allclose(d.predict_proba(Xt), pool_windows(P, owner, len(Xt), "mean"))
    # a Distiller pickled before the pooling was a parameter loads with the old behaviour ...
    old = dict(distilled.__getstate__())  # a copy: it can be the fixture's __dict__
    del old["aggregate"], old["clip_pooling"]
    restored = Distiller.__new__(Distiller)
    restored.__setstate__(old)
    assert restored.get_params()["clip_pooling"] == "mean"
    assert restored.get_params()["aggregate"] == "deprecated"
    # ... one pickled while it was called ``aggregate`` keeps its value under the new name
    old["aggregate"] = "vote"
    restored = Distiller.__new__(Distiller)
    restored.__setstate__(old)
    assert (restored.clip_pooling, restored.aggregate) == ("vote", "deprecated")
    assert pickle.loads(pickle.dumps(d)).get_params()["clip_pooling"] == "mean"


def test_aggregate_still_works_with_a_future_warning(data, teacher):
    # sklearn's way of renaming a parameter: the old name is used when set, and warns
    X, y, Xt, _ = data
    with pytest.warns(FutureWarning, match="renamed `clip_pooling`"):
        d = Distiller(teacher, epochs=1, aggregate="vote", random_state=0).fit(X[:10], y[:10])
    assert d.student_.clip_pooling == "vote" and d.get_params()["aggregate"] == "vote"
    with pytest.warns(FutureWarning, match="clip_pooling='mean'"):
        assert d.student_.set_params(aggregate="mean").pooling() == "mean"
    with pytest.raises(ValueError, match="aggregate"):
        Distiller(teacher, epochs=1, aggregate="median").fit(X[:10], y[:10])


def recording_teacher(classes, seen):
    """A teacher that keeps every clip it is asked about and answers a distinct row each."""

    class Recorder:
        classes_ = classes

        def predict_proba(self, clips):
            seen.extend(np.asarray(c).copy() for c in clips)
            return np.eye(len(classes))[np.arange(len(seen) - len(clips), len(seen)) % len(classes)]

    return Recorder()


def test_teacher_is_asked_about_every_window(distilled, data):
    X, _, _, _ = data
    seen = []
    d = Distiller(recording_teacher(distilled.classes_, seen))
    d.__dict__.update(student_=distilled.student_, teacher_sr_=SR, classes_=distilled.classes_)
    _, owner, starts = distilled.student_._windows([X[0]])
    d.teacher_window_proba([X[0]], owner, starts)
    # 1.5 s clip (76 frames of 20 ms), 1 s windows every 0.5 s: two full windows and
    # a last one padded with silence, each the 1 s of audio the student window covers
    assert starts.tolist() == [0, 25, 50]
    assert [len(p) for p in seen] == [SR, SR, SR]
    assert np.array_equal(seen[0], X[0][:SR])
    assert np.array_equal(seen[1], X[0][SR // 2 : SR // 2 + SR])
    assert np.array_equal(seen[2][: SR // 2], X[0][SR:]) and not seen[2][SR // 2 :].any()


def test_teacher_context_centres_longer_audio_on_each_window(distilled, data):
    X, _, _, _ = data
    seen = []
    d = Distiller(recording_teacher(distilled.classes_, seen), teacher_context=2.0)
    d.__dict__.update(student_=distilled.student_, teacher_sr_=SR, classes_=distilled.classes_)
    _, owner, starts = distilled.student_._windows([X[0]])
    P = d.teacher_window_proba([X[0]], owner, starts)
    # 1.5 s clip, windows at 0, 0.5, 1.0 s: 2 s centred on each (window +- 0.5 s), silence
    # outside the clip on both sides
    assert [len(p) for p in seen] == [2 * SR] * 3
    half = SR // 2
    assert not seen[0][:half].any() and np.array_equal(seen[0][half:], X[0][: 3 * half])
    assert np.array_equal(seen[1][: 3 * half], X[0]) and not seen[1][3 * half :].any()
    assert np.array_equal(seen[2][:SR], X[0][half:]) and not seen[2][SR:].any()
    assert P.argmax(1).tolist() == [0, 1, 2]
    # the whole clip: one question per clip, its answer for every window of that clip
    seen.clear()
    d.set_params(teacher_context="clip")
    _, owner, starts = distilled.student_._windows([X[0], X[1]])
    P = d.teacher_window_proba([X[0], X[1]], owner, starts)
    assert len(seen) == 2 and np.array_equal(seen[0], X[0]) and np.array_equal(seen[1], X[1])
    assert P.argmax(1).tolist() == owner.tolist()


def test_auto_context_is_the_teachers_own_window_when_longer(distilled):
    from sklearn.frozen import FrozenEstimator

    from embedclf.distill.distiller import teacher_window_seconds
    from embedclf.pipelines import make_pipeline

    birdnet = make_pipeline("birdnet-linear")
    assert teacher_window_seconds(birdnet) == 3.0
    assert teacher_window_seconds(FrozenEstimator(birdnet)) == 3.0
    assert teacher_window_seconds(make_pipeline("cnn")) == 1.0  # KerasCNN's window
    assert teacher_window_seconds(make_pipeline("logmel-linear")) is None
    d = Distiller(birdnet)
    d.__dict__.update(student_=distilled.student_)  # 1 s student windows
    assert d._resolved_context() == 3.0
    assert d.set_params(teacher=make_pipeline("cnn"))._resolved_context() is None  # not longer
    assert d.set_params(teacher_context=0.5)._resolved_context() == 0.5
    assert distilled.teacher_context_ is None  # its log-mel teacher declares no window


def test_auto_context_spans_two_teacher_windows_when_it_pools_a_spread():
    # one BirdNET window pooled with std gives a spread of 0, never seen in training: two do not
    from sklearn.frozen import FrozenEstimator
    from sklearn.preprocessing import StandardScaler

    from embedclf import BirdNETEmbedding
    from embedclf.distill.distiller import auto_teacher_context, pools_spread

    def birdnet(agg, hop=3.0):
        return Pipeline(
            [
                ("emb", BirdNETEmbedding(hop=hop)),
                ("agg", agg),
                ("scale", StandardScaler()),
                ("clf", LogisticRegression()),
            ]
        )

    assert pools_spread(birdnet(WindowAggregator())) is True  # default stats: mean, std
    assert pools_spread(birdnet(WindowAggregator(stats=("mean",), diffs=True))) is True
    assert pools_spread(birdnet(WindowAggregator(stats=("mean", "max", "median")))) is False
    assert auto_teacher_context(birdnet(WindowAggregator()), 1.0) == 6.0
    assert auto_teacher_context(FrozenEstimator(birdnet(WindowAggregator())), 1.0) == 6.0
    assert auto_teacher_context(birdnet(WindowAggregator(), hop=1.5), 1.0) == 4.5
    assert auto_teacher_context(birdnet(WindowAggregator(stats=("mean", "max"))), 1.0) == 3.0
    assert auto_teacher_context(birdnet(WindowAggregator()), 8.0) is None  # student's is longer
    # a spread over log-mel frames is fine in any window: no teacher window, no context
    assert (
        auto_teacher_context(Pipeline([("mel", LogMel()), ("agg", WindowAggregator())]), 1) is None
    )


def test_fit_measures_the_teachers_answers_on_what_it_is_asked(distilled, data, teacher):
    from embedclf.distill.distiller import teacher_window_proba

    X, y, _, _ = data
    student = distilled.student_  # every clip trained (no early stopping, no held-out clips)
    _, owner, starts = student.windows(X)
    P = teacher_window_proba(
        teacher,
        X,
        owner,
        starts,
        sr=SR,
        frame_seconds=student.frontend_.hop_length / SR,
        window_frames=student.window_frames_[0],
    )
    top = teacher.classes_[P.argmax(1)]
    assert distilled.teacher_window_accuracy_ == pytest.approx(np.mean(top == y[owner]))
    averaged = np.stack([P[owner == i].mean(0) for i in range(len(X))])
    assert distilled.teacher_averaged_accuracy_ == pytest.approx(
        np.mean(teacher.classes_[averaged.argmax(1)] == y)
    )
    assert distilled.teacher_clip_accuracy_ == pytest.approx(teacher.score(X, y))
    unlabelled = Distiller(teacher, epochs=1, random_state=0).fit(X, None)
    assert unlabelled.teacher_window_accuracy_ is None and unlabelled.teacher_clip_accuracy_ is None


class WholeClipTeacher(ClassifierMixin, BaseEstimator):
    """Right about whole clips, always "quiet" about shorter audio: like a teacher whose
    pooled statistic is out of range on less audio than it was trained on."""

    def __init__(self, sr=SR, clip_seconds=1.5):
        self.sr = sr
        self.clip_seconds = clip_seconds

    def fit(self, X, y):
        self.classes_ = np.array(["loud", "quiet"])
        return self

    def predict_proba(self, X):
        P = []
        for clip in X:
            whole = len(clip) >= self.clip_seconds * self.sr
            loud = whole and np.abs(np.asarray(clip)).mean() > 0.1
            P.append([0.9, 0.1] if loud else [0.1, 0.9])
        return np.array(P)


def test_teacher_far_worse_on_windows_than_on_clips_warns_what_to_do():
    from embedclf.distill import TeacherTargetsWarning

    rng = np.random.default_rng(0)
    X = [rng.uniform(-a, a, int(1.5 * SR)).astype(np.float32) for a in [0.5, 0.01] * 4]
    y = np.array(["loud", "quiet"] * 4)
    teacher = WholeClipTeacher().fit(X, y)
    with pytest.warns(TeacherTargetsWarning, match=r"50% .* 100% .*teacher_context=SECONDS"):
        d = Distiller(teacher, epochs=1, random_state=0).fit(X, y)
    assert (d.teacher_averaged_accuracy_, d.teacher_clip_accuracy_) == (0.5, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TeacherTargetsWarning)  # hearing the clip, it is right
        d = Distiller(teacher, teacher_context="clip", epochs=1, random_state=0).fit(X, y)
    assert d.teacher_window_accuracy_ == d.teacher_averaged_accuracy_ == 1.0
    assert d.teacher_clip_accuracy_ == 1.0


def test_mixup_and_masks_reach_the_student(data, teacher, monkeypatch):
    from embedclf.models import Augmenter

    X, y, _, _ = data
    seen = []
    real = Augmenter.augment_windows

    def spy(self, Xb, Yb, rng):
        seen.append((self.copies, self.mixup, self.freq_mask, self.time_mask))
        return real(self, Xb, Yb, rng)

    monkeypatch.setattr(Augmenter, "augment_windows", spy)
    augment = Augmenter(copies=0, mixup=0.3, freq_mask=0.2, time_mask=0.1)
    # the old recipe's path too: early stopping on held-out clips' soft targets
    d = Distiller(
        teacher,
        epochs=2,
        patience=0,
        early_stopping=True,
        lr_schedule="constant",
        random_state=0,
        augment=augment,
    ).fit(X, y)
    assert seen and set(seen) == {(0, 0.3, 0.2, 0.1)}
    assert len(d.history_["val_loss"]) == d.student_.n_epochs_ >= 1
    assert np.isfinite(d.history_["val_loss"]).all()
    with pytest.raises(ValueError, match="freq_mask"):  # checked even without copies
        Distiller(teacher, epochs=1, augment=Augmenter(copies=0, freq_mask=1.5)).fit(X, y)


def test_soften_is_a_tempered_softmax():
    P = np.array([[0.7, 0.2, 0.1]])
    assert np.allclose(soften(P, 1.0), P)
    flat = soften(P, 1e6)
    assert np.allclose(flat, 1 / 3, atol=1e-4)
    expected = P**0.5 / (P**0.5).sum()
    assert np.allclose(soften(P, 2.0), expected)


def test_unlabelled_clips_still_teach(data, teacher):
    X, y, _, _ = data
    d = Distiller(teacher, epochs=2, random_state=0).fit(X, None)
    assert d.n_labelled_ == 0 and np.isfinite(d.history_["loss"]).all()
    partial = np.array(list(y[:10]) + [None] * (len(y) - 10), dtype=object)
    assert Distiller(teacher, epochs=1, random_state=0).fit(X, partial).n_labelled_ == 10
    import pandas as pd

    with_na = pd.Series(list(y[:5]) + [pd.NA] * (len(y) - 5), dtype="string")
    assert Distiller(teacher, epochs=1, random_state=0).fit(X, with_na).n_labelled_ == 5
    with pytest.raises(ValueError, match="not one of the teacher's classes"):
        Distiller(teacher, epochs=1).fit(X, ["cat"] * len(X))


def test_export_writes_files_that_run_the_same_in_litert_and_tflm(exported, distilled, data):
    out, report = exported
    model = (out / "model.tflite").read_bytes()
    # the C array holds exactly the .tflite bytes
    source = (out / "model_data.c").read_text()
    body = source.split("{", 1)[1].split("}", 1)[0]
    assert bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body)) == model
    assert f"g_model_data_len = {len(model)};" in source
    assert "alignas(16)" in source
    # full integer: int8 in, int8 out
    int8 = Int8Model(model)
    assert int8.input["dtype"] == np.int8 and int8.output["dtype"] == np.int8
    _, _, Xt, _ = data
    W, _, _ = distilled.student_._windows(Xt)
    Q = int8.quantize(W)
    lite = int8.run_int8(Q)
    micro = tflm_outputs(model, Q, report["arena_bytes"])
    # same kernels up to the int8 softmax, whose exp approximation differs by at most one
    # step in rare cases (measured: identical except about 0.1% of values, by 1 LSB)
    diff = np.abs(lite.astype(int) - micro.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.98
    assert (lite.argmax(1) == micro.argmax(1)).mean() > 0.95
    assert (
        set(op_list(model))
        == set(report["ops"])
        <= {"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}
    )


def test_report_arena_is_what_tflm_needs(exported, distilled, data):
    out, report = exported
    model = (out / "model.tflite").read_bytes()
    X, _, _, _ = data
    Q = Int8Model(model).quantize(distilled.student_._windows(X[:1])[0])
    arena = report["arena_bytes"]
    tflm_outputs(model, Q, arena)  # enough
    with pytest.raises(RuntimeError, match="arena"):
        tflm_outputs(model, Q, arena - 1)  # one byte less is not
    assert measure_arena(model, Q) == arena
    assert 1000 < arena < 64 * 1024


def test_report_numbers(exported, distilled):
    out, report = exported
    saved = json.loads((out / "report.json").read_text())
    assert saved == report
    for key in (
        "flash_bytes",
        "arena_bytes",
        "macs_per_second",
        "student_accuracy",
        "teacher_accuracy",
        "int8_float_agreement",
    ):
        assert key in report
    assert report["flash_bytes"] == report["model_bytes"] + report["frontend_table_bytes"]
    assert report["model_bytes"] == (out / "model.tflite").stat().st_size
    assert report["macs_per_second"] == report["macs_per_window"] * 2  # 0.5 s hop
    assert report["int8_float_agreement"] >= 0.9
    assert report["teacher_accuracy"] > 0.8
    assert report["budget"]["within_budget"] is True
    # the recipe is recorded: the distiller's defaults (cosine decay over every epoch)
    assert report["training"] == {
        "epochs": 40,
        "epochs_run": 40,
        "learning_rate": 1e-2,
        "lr_schedule": "cosine",
        "weight_decay": 0.0,
        "fit_hop_seconds": 0.5,
        "early_stopping": False,
        "n_windows": distilled.n_windows_fit_,
        "augment": None,
        "temperature": 4.0,
        "alpha": 0.5,
        "teacher_context": None,
        "mix_copies": 0,
        "n_labelled_clips": distilled.n_labelled_,
        "teacher_targets": {
            "window_accuracy": distilled.teacher_window_accuracy_,
            "averaged_clip_accuracy": distilled.teacher_averaged_accuracy_,
            "clip_accuracy": distilled.teacher_clip_accuracy_,
        },
    }


def test_report_training_section_is_json_with_numpy_parameters(distilled):
    import copy

    from embedclf.distill.export import _training
    from embedclf.models import Augmenter

    d = copy.copy(distilled)  # the same fit, another augmenter (e.g. from a grid of numpy values)
    d.augment = Augmenter(
        copies=np.int64(2),
        mixup=np.float32(0.25),
        stretch=(np.float64(0.9), 1.1),
        noise=[np.zeros(100, np.float32)] * 3,
    )
    d.temperature = np.float64(3.0)
    section = json.loads(json.dumps(_training(d, d.student_)))
    assert section["augment"]["copies"] == 2 and section["augment"]["mixup"] == 0.25
    assert section["augment"]["stretch"] == [0.9, 1.1] and section["temperature"] == 3.0
    assert section["augment"]["noise"] == "3 recordings"
    d.augment = Augmenter(noise=["white", "pink"])  # colour names are kept as they are
    assert _training(d, d.student_)["augment"]["noise"] == ["white", "pink"]


def test_frontend_header_reproduces_the_int8_input(exported, distilled, data):
    """A device computing features from frontend.h alone feeds the model the same bytes."""
    out, _ = exported
    text = (out / "frontend.h").read_text()

    def define(name):
        return float(re.search(rf"#define EMBEDCLF_{name} (\S+?)f?\n", text).group(1))

    def array(name):
        block = re.search(rf"{name}\[[A-Z_]+\] = \{{(.*?)\}};", text, re.S).group(1)
        return np.array([float(v.rstrip("f")) for v in re.findall(r"[-\d.e+]+f?", block)])

    n_fft, hop = int(define("N_FFT")), int(define("HOP_LENGTH"))
    win, start, count = array("kWindow"), array("kMelStart").astype(int), array("kMelCount")
    weights, mean, std = array("kMelWeights"), array("kMean"), array("kStd")
    _, _, Xt, _ = data
    clip = np.concatenate([Xt[0], np.zeros(2 * SR, np.float32)])  # an event, then silence
    padded = np.pad(clip, n_fft // 2)
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.stack([padded[t * hop : t * hop + n_fft] * win for t in range(n_frames)])
    P = np.abs(np.fft.rfft(frames, axis=1)) ** define("POWER")
    mel = np.zeros((n_frames, len(start)))
    offset = 0
    for b, (s, c) in enumerate(zip(start, count.astype(int))):
        mel[:, b] = P[:, s : s + c] @ weights[offset : offset + c]
        offset += c
    dB = 10 * np.log10(np.maximum(mel, define("AMIN")) / define("REF"))
    n_win = int(define("WINDOW_FRAMES"))
    W, _, starts = distilled.student_._windows([clip])
    k = np.flatnonzero(starts + n_win <= n_frames)[-1]  # the last full window: silence
    assert starts[k] * hop >= len(Xt[0]) + n_fft  # well inside the silent part
    int8 = Int8Model((out / "model.tflite").read_bytes())
    for j in (0, k):  # the event's first window, and one of pure silence
        win_db = dB[starts[j] : starts[j] + n_win]
        if define("WINDOW_TOP_DB") > 0:
            win_db = np.maximum(win_db, win_db.max() - define("WINDOW_TOP_DB"))
        x = ((win_db - mean) / std).T[..., None]
        q = np.clip(np.round(x / define("INPUT_SCALE")) + define("INPUT_ZERO_POINT"), -128, 127)
        expected = int8.quantize(W[j : j + 1])[0]
        assert np.abs(q - expected).max() <= 1  # float rounding at a quantisation step
        assert np.mean(q == expected) > 0.99
    assert re.search(r'kLabels\[EMBEDCLF_N_CLASSES\] = \{"beep", "buzz"', text)


def test_budget_overrun_raises_keeps_the_report_and_the_earlier_export(distilled, data, tmp_path):
    X, _, _, _ = data
    export(distilled, tmp_path, X[:5])
    good = {
        name: (tmp_path / name).read_bytes()
        for name in ("model.tflite", "model_data.c", "frontend.h", "report.json")
    }
    with pytest.raises(BudgetError, match="flash .* > 1 KB.*report.over_budget.json"):
        export(distilled, tmp_path, X[:5], max_flash_kb=1, max_ram_kb=64, n_representative=7)
    report = json.loads((tmp_path / "report.over_budget.json").read_text())
    assert report["budget"]["within_budget"] is False
    assert "flash" in report["budget"]["exceeded"][0]
    assert all((tmp_path / name).read_bytes() == data for name, data in good.items())


def test_frontends_a_device_cannot_reproduce_are_refused(data, tmp_path):
    from embedclf.models import KerasCNN

    X, y, _, _ = data
    cnn = KerasCNN(architecture="strided_ds", sr=SR, epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="top_db=80.0 clips relative to the whole clip"):
        export(cnn, tmp_path, X[:5])
    assert not (tmp_path / "model.tflite").exists()


def test_export_scores_clips_pooled_as_the_estimator_pools(tmp_path):
    from embedclf.datasets import make_sound_events
    from embedclf.distill import mcu_frontend
    from embedclf.models import KerasCNN

    # 3 s clips: five windows each, so a vote and a mean can disagree
    X, y, _ = make_sound_events(n_per_class=6, sr=SR, duration=3.0, random_state=2)
    cnn = KerasCNN(
        architecture="strided_ds",
        sr=SR,
        frontend=mcu_frontend(),
        window_top_db=80.0,
        clip_pooling="vote",
        epochs=3,
        random_state=0,
    ).fit(X, y)
    votes = cnn.predict(X)
    means = cnn.set_params(clip_pooling="mean").predict(X)
    assert (votes != means).any(), "no clip where the poolings differ: the test proves nothing"
    cnn.set_params(clip_pooling="vote")
    # scored against the vote answers, the float student must be exactly right
    report = export(cnn, tmp_path, X, X_test=X, y_test=votes, n_representative=50)
    assert report["clip_pooling"] == "vote" and report["student_float_accuracy"] == 1.0
    assert "most frequent answer" in (tmp_path / "frontend.h").read_text()
    report = export(
        cnn.set_params(clip_pooling="mean"),
        tmp_path,
        X,
        X_test=X,
        y_test=votes,
        n_representative=50,
    )
    assert report["student_float_accuracy"] == np.mean(means == votes) < 1.0
    assert "highest mean p over its windows" in (tmp_path / "frontend.h").read_text()
    geo = cnn.set_params(clip_pooling="logmean").predict(X)
    report = export(cnn, tmp_path, X, X_test=X, y_test=votes, n_representative=50)
    assert report["clip_pooling"] == "logmean"
    assert report["student_float_accuracy"] == np.mean(geo == votes)
    assert "mean log(max(p, 1/512))" in (tmp_path / "frontend.h").read_text()


def test_cross_validation_with_a_frozen_teacher(data, teacher):
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import cross_val_score

    X, y, _, _ = data
    scores = cross_val_score(
        Distiller(FrozenEstimator(teacher), epochs=1, random_state=0), X, y, cv=2
    )
    assert scores.shape == (2,) and np.isfinite(scores).all()
    with pytest.raises(NotFittedError, match="FrozenEstimator"):
        cross_val_score(Distiller(teacher, epochs=1), X, y, cv=2, error_score="raise")


def test_bad_teachers_get_clear_errors(data):
    X, y, _, _ = data
    no_proba = Pipeline([("mel", LogMel(sr=SR)), ("agg", WindowAggregator())])
    with pytest.raises(TypeError, match="no predict_proba"):
        Distiller(no_proba).fit(X, y)
    unfitted = Pipeline(
        [("mel", LogMel(sr=SR)), ("agg", WindowAggregator()), ("clf", LogisticRegression())]
    )
    with pytest.raises(NotFittedError, match="not fitted"):
        Distiller(unfitted).fit(X, y)
    with pytest.raises(TypeError, match="fitted Distiller or KerasCNN"):
        export(unfitted, "unused", X)


def test_an_op_tflm_lacks_is_named(data, teacher, tmp_path):
    import keras

    X, y, _, _ = data

    def with_gelu(input_shape, n_classes, *, width, seed):
        inp = keras.Input(input_shape)
        x = keras.layers.Conv2D(4, 3, strides=4)(inp)
        x = keras.layers.Activation("gelu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dense(n_classes)(x)
        return keras.Model(inp, keras.layers.Softmax()(x))

    d = Distiller(teacher, student=with_gelu, epochs=1, random_state=0).fit(X, y)
    with pytest.raises(UnsupportedOpError, match="GELU"):
        export(d, tmp_path, X[:5])


def asking_teacher(teacher, asked):
    """``teacher``, keeping a copy of every clip it is asked about in ``asked``."""
    from sklearn.base import BaseEstimator

    class Asking(BaseEstimator):
        def __init__(self, sr=SR):
            self.sr = sr
            self.classes_ = teacher.classes_

        def fit(self, X, y):
            return self

        def predict_proba(self, clips):
            asked.extend(np.asarray(c).copy() for c in clips)
            return teacher.predict_proba(clips)

    return Asking()


def test_augmented_copies_are_labelled_by_the_teacher(data, teacher):
    from embedclf.models import Augmenter

    X, y, _, _ = data
    asked = []
    d = Distiller(
        asking_teacher(teacher, asked),
        epochs=1,
        early_stopping=False,
        random_state=0,
        augment=Augmenter(copies=1, p=1.0),
    ).fit(X, y)
    # 40 clips of 1.5 s -> 3 windows each, plus one augmented copy of each; then the
    # original clips heard whole, to measure the window answers against
    assert d.n_windows_fit_ == len(asked) - len(X) == 2 * 3 * len(X)
    originals = asked[: 3 * len(X)]
    copies = asked[3 * len(X) : 6 * len(X)]
    assert not any(np.allclose(a, b) for a, b in zip(originals, copies))
    assert all(np.array_equal(a, b) for a, b in zip(asked[6 * len(X) :], X))


def test_mixtures_are_heard_by_the_teacher_and_taught_without_labels(data, teacher, monkeypatch):
    from embedclf.models import Augmenter
    from embedclf.models.cnn import KerasCNN

    X, y, _, _ = data
    trained = []
    real = KerasCNN._train

    def spy(self, Xw, targets, *args, **kwargs):
        trained.append(targets.copy())
        return real(self, Xw, targets, *args, **kwargs)

    monkeypatch.setattr(KerasCNN, "_train", spy)
    augment = Augmenter(copies=1, p=1.0)
    asked = []
    plain = Distiller(teacher, epochs=1, augment=augment, random_state=0).fit(X, y)
    mixed = Distiller(
        asking_teacher(teacher, asked), epochs=1, augment=augment, mix_copies=2, random_state=0
    ).fit(X, y)
    # 40 clips of 1.5 s -> 3 windows each: originals, one augmented copy, two mixtures
    assert plain.n_windows_fit_ == 2 * 3 * len(X) and mixed.n_windows_fit_ == 4 * 3 * len(X)
    before, after = trained
    k = len(teacher.classes_)
    n = len(before)
    # the originals and augmented copies are exactly as without mixtures ...
    np.testing.assert_array_equal(after[:n], before)
    # ... the mixtures carry the teacher's (softened) answers and no label
    soft, hard, has = after[n:, :k], after[n:, k : 2 * k], after[n:, 2 * k]
    assert np.allclose(soft.sum(1), 1) and not hard.any() and not has.any()
    assert (before[:, 2 * k] == 1).all()
    # ... they are the teacher's answers to what it heard: clip i's mixtures are clip i plus
    # another sound at its loudness, with a power share of at most 75%
    heard = asked[n : -len(X)]  # the last are the original clips heard whole
    np.testing.assert_allclose(soft, soften(teacher.predict_proba(heard), 4.0), atol=1e-6)
    for m in range(2 * len(X)):
        first, last = heard[3 * m], heard[3 * m + 2]  # windows at 0 s and 1 s cover the clip
        mixture, clip = np.concatenate([first, last[: SR // 2]]), X[m // 2]
        cos = np.dot(mixture, clip) / (np.linalg.norm(mixture) * np.linalg.norm(clip))
        assert 0.4 < cos < 0.99
    with pytest.raises(ValueError, match="at least 2 clips"):
        Distiller(teacher, epochs=1, mix_copies=1).fit(X[:1], y[:1])


def test_distillers_pickled_before_mix_copies_and_weight_decay_load_without_them(distilled):
    import pickle

    state = dict(distilled.__getstate__())
    state.pop("mix_copies"), state.pop("weight_decay"), state.pop("fit_hop")
    old = Distiller.__new__(Distiller)
    old.__setstate__(state)
    assert (old.mix_copies, old.weight_decay, old.fit_hop) == (0, 0.0, None)
    assert pickle.loads(pickle.dumps(old)).get_params()["mix_copies"] == 0


def test_weight_decay_reaches_the_student(distilled):
    assert Distiller(None, weight_decay=0.05)._new_student().weight_decay == 0.05
    assert distilled.student_.weight_decay == 0.0


def test_fit_hop_teaches_on_more_windows_than_the_device_runs(data, teacher, tmp_path):
    X, y, Xt, yt = data
    asked = []
    d = Distiller(
        asking_teacher(teacher, asked), epochs=1, hop=1.0, fit_hop=0.5, random_state=0
    ).fit(X, y)
    # 1.5 s clips (76 frames of 20 ms): the teacher labels windows every 0.5 s (frames 0, 25
    # and 50, the last padded), the device runs one every 1 s (frames 0 and 50)
    windows = [a for a in asked if len(a) == SR]  # 1 s: what the student's windows hear
    assert d.n_windows_fit_ == 3 * len(X) == len(windows)
    # and each clip once whole, to measure the teacher's clip accuracy (teacher_targets)
    assert len(asked) - len(windows) == len(X) and d.teacher_clip_accuracy_ is not None
    assert d.student_.window_frames_ == (50, 50) and d.student_.fit_hop == 0.5
    _, owner = d.student_.predict_windows(d.student_waves(Xt[:1]))
    assert owner.tolist() == [0, 0]
    d.teacher = teacher  # the export also scores the teacher, which the recorder cannot
    report = export(d, tmp_path, X, X_test=Xt, y_test=yt, n_representative=20)
    # the compute per second of audio follows the device's hop, not the training one
    assert report["windows_per_second"] == 1.0
    assert report["macs_per_second"] == report["macs_per_window"]
    assert (report["hop_seconds"], report["training"]["fit_hop_seconds"]) == (1.0, 0.5)
    assert Distiller(None, fit_hop=0.25)._new_student().fit_hop == 0.25


def test_export_replaces_the_whole_set_and_a_failure_midway_keeps_the_old_one(
    distilled, data, tmp_path, monkeypatch
):
    import importlib

    from embedclf.distill.export import EXPORT_FILES, OVER_BUDGET_REPORT

    export_module = importlib.import_module("embedclf.distill.export")  # not the function

    X, _, _, _ = data
    out = tmp_path / "mcu"
    export(distilled, out, X[:5], extra={"run": 1})
    (out / "notes.txt").write_text("kept by the user")
    (out / OVER_BUDGET_REPORT).write_text("{}")  # stale, from an earlier attempt
    old = {name: (out / name).read_bytes() for name in EXPORT_FILES}
    real_write = export_module.atomic_write_data

    def crash_at_frontend(path, data):
        if str(path).endswith("frontend.h"):
            raise OSError("disk full")
        real_write(path, data)

    monkeypatch.setattr(export_module, "atomic_write_data", crash_at_frontend)
    with pytest.raises(OSError, match="disk full"):
        export(distilled, out, X[:5], n_representative=7, extra={"run": 2})
    assert {name: (out / name).read_bytes() for name in EXPORT_FILES} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mcu"]  # no half-built folder left
    monkeypatch.setattr(export_module, "atomic_write_data", real_write)
    report = export(distilled, out, X[:5], n_representative=7, extra={"run": 2})
    assert json.loads((out / "report.json").read_text())["run"] == 2 == report["run"]
    model = (out / "model.tflite").read_bytes()
    assert model != old["model.tflite"]  # calibrated on other windows
    c_bytes = bytes(
        int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", (out / "model_data.c").read_text())
    )
    assert c_bytes == model  # the C array is the new model, not a leftover
    assert (out / "notes.txt").read_text() == "kept by the user"
    assert not (out / OVER_BUDGET_REPORT).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mcu"]


def test_distill_and_export_scores_a_teacher_refitted_without_the_held_out_fold(
    data, teacher, tmp_path
):
    from sklearn.base import clone

    from embedclf.distill import RECIPE, TeacherClassesWarning, distill_and_export, held_out_split

    X, y, Xt, yt = data
    clips, labels = X + Xt, np.concatenate([y, yt])
    folds = np.r_[np.zeros(len(X), int), np.ones(len(Xt), int)]
    saved = clone(teacher).fit(clips, labels)  # a saved teacher has usually seen every clip
    quick = RECIPE.replace(width=0.5, epochs=1, augment_copies=0, mixup=0, freq_mask=0, time_mask=0)
    report = distill_and_export(
        saved,
        clips,
        labels,
        tmp_path / "a",
        recipe=quick,
        folds=folds,
        test_fold=1,
        extra={"note": 1},
    )
    assert report["n_test_clips"] == len(Xt) and report["note"] == 1
    assert report["teacher_refit_without_held_out"] is True
    assert report["width"] == 0.5 and report["training"]["epochs"] == 1
    # the teacher scored is one refitted on the other fold only, not the saved one
    assert report["teacher_accuracy"] == clone(teacher).fit(X, y).score(Xt, yt)
    assert json.loads((tmp_path / "a" / "report.json").read_text()) == report
    kept = distill_and_export(
        saved,
        clips,
        labels,
        tmp_path / "b",
        recipe=quick,
        folds=folds,
        test_fold=1,
        refit_teacher=False,
    )
    assert kept["teacher_accuracy"] == saved.score(Xt, yt)
    assert kept["teacher_refit_without_held_out"] is False
    # a class only in the held-out fold: the refitted teacher cannot know it, and says so
    only_held_out = np.where(folds == 1, labels, np.where(labels == labels[0], "other", labels))
    with pytest.warns(TeacherClassesWarning, match="refitted on this data it knows"):
        distill_and_export(
            saved, clips, only_held_out, tmp_path / "c", recipe=quick, folds=folds, test_fold=1
        )
    with pytest.raises(ValueError, match="test_fold needs the fold of each clip"):
        held_out_split(labels, test_fold=1)
    with pytest.raises(ValueError, match="empty or takes every clip"):
        held_out_split(labels, folds=folds, test_fold=7)
