"""The studio's project folder and training, without a web server or browser."""

import io
import json

import numpy as np
import pytest
import soundfile as sf

from embedclf.audio import AudioError, load_audio
from embedclf.datasets import load_folder, make_sound_events
from embedclf.evaluation import cross_validate_folds
from embedclf.pipelines import make_pipeline
from embedclf.studio import PROJECT_FILE, Project, ProjectError, safe_name
from embedclf.studio.training import load_results, load_trained, train_project

SR = 16000


def wav_bytes(y, sr=SR, fmt="WAV"):
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt)
    return buf.getvalue()


@pytest.fixture
def clips():
    X, y, _ = make_sound_events(
        n_per_class=4, classes=("beep", "buzz"), sr=SR, duration=1.0, random_state=0
    )
    return X, y


def test_safe_name_never_leaves_a_folder():
    for bad in ["../x", "a/b", "a\\b", ".hidden", "/etc/passwd", "x\x00y"]:
        name = safe_name(bad)
        assert "/" not in name and "\\" not in name and not name.startswith(".")
    for empty in ["", "..", "/", "***"]:
        with pytest.raises(ProjectError, match="no usable characters"):
            safe_name(empty)
    assert safe_name("_background_") == "_background_"


def test_reopening_restores_classes_and_clips(tmp_path, clips):
    X, y = clips
    p = Project.open(tmp_path / "proj")
    assert p.add_class("dog bark") == "dog bark"
    p.add_class("empty")
    ids = [p.add_clip("dog bark", X[0], SR), p.add_clip("dog bark", X[1], SR)]
    assert ids == ["dog bark/clip-001.wav", "dog bark/clip-002.wav"]
    again = Project.open(tmp_path / "proj")
    assert again.classes() == ["dog bark", "empty"]  # the empty class too, in order
    assert [c["id"] for c in again.clips()] == ids
    stored, sr = sf.read(again.clip_path(ids[0]), dtype="float32")
    assert sr == SR and np.allclose(stored, X[0], atol=1 / 32768)


def test_a_folder_dataset_opens_as_a_project(tmp_path, clips):
    X, y = clips
    for i, (clip, label) in enumerate(zip(X, y)):
        (tmp_path / label).mkdir(exist_ok=True)
        sf.write(tmp_path / label / f"{i}.flac", clip, SR)
    p = Project.open(tmp_path)
    assert p.classes() == ["beep", "buzz"]
    assert (tmp_path / PROJECT_FILE).is_file()
    assert p.dataset()["path"].tolist() == load_folder(tmp_path)["path"].tolist()


def test_clip_ids_cannot_escape_the_project(tmp_path, clips):
    (tmp_path / "secret.wav").write_bytes(wav_bytes(clips[0][0]))
    p = Project.open(tmp_path / "proj")
    p.add_class("a")
    p.add_clip("a", clips[0][0], SR)
    (tmp_path / "proj" / "a" / "link.wav").symlink_to(tmp_path / "secret.wav")
    for bad in [
        "../secret.wav",
        "a/../../secret.wav",
        str(tmp_path / "secret.wav"),
        "a/link.wav",  # a link out of the class folder
        "a/.hidden.wav",
        "nosuch/clip-001.wav",
        "a",
    ]:
        with pytest.raises(ProjectError):
            p.clip_path(bad)
    with pytest.raises(ProjectError, match="no class"):
        p.add_clip("../outside", clips[0][0], SR)


def test_upload_any_format_relabel_delete(tmp_path, clips):
    X, _ = clips
    p = Project.open(tmp_path)
    p.add_class("a")
    p.add_class("b")
    [cid] = p.add_audio("a", wav_bytes(X[0], fmt="FLAC"), "../../My Take!.flac")
    assert cid == "a/My Take.wav"
    (new,) = [p.relabel(cid, "b")]
    assert new == "b/My Take.wav" and [c["id"] for c in p.clips("a")] == []
    p.delete_clip(new)
    assert p.clips() == []
    with pytest.raises(AudioError):
        p.add_audio("a", b"not audio at all", "x.wav")
    assert p.clips() == []


def test_upload_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    from embedclf.studio import project

    monkeypatch.setattr(project, "MAX_UPLOAD_BYTES", 100)
    p = Project.open(tmp_path)
    p.add_class("a")
    with pytest.raises(ProjectError, match="over the limit"):
        p.add_audio("a", b"x" * 101, "x.wav")


def test_a_long_take_is_cut_into_clips(tmp_path):
    p = Project.open(tmp_path)
    p.add_class("_background_")
    noise = 0.01 * np.random.default_rng(0).standard_normal(int(3.6 * SR))
    ids = p.add_audio("_background_", wav_bytes(noise), "noise.wav", cut=True)
    lengths = [sf.info(p.clip_path(i)).frames for i in ids]
    assert lengths == [SR, SR, SR, int(0.6 * SR)]


def test_rename_and_delete_class(tmp_path, clips):
    p = Project.open(tmp_path)
    p.add_class("a")
    p.add_clip("a", clips[0][0], SR)
    assert p.rename_class("a", "b") == "b"
    assert [c["id"] for c in Project.open(tmp_path).clips()] == ["b/clip-001.wav"]
    p.delete_class("b")
    assert Project.open(tmp_path).classes() == [] and not (tmp_path / "b").exists()


def test_training_accuracy_is_the_librarys_cross_validation(tmp_path):
    X, y, _ = make_sound_events(
        n_per_class=4, classes=("beep", "hum", "knock"), sr=SR, duration=1.0, snr_db=(-12, 0)
    )
    p = Project.open(tmp_path)
    for clip, label in zip(X, y):
        p.add_class(label)
        p.add_clip(label, clip, SR)
    stages = []
    results = train_project(
        p, pipeline="logmel-linear", progress=lambda s, f: stages.append((s, f))
    )
    df = load_folder(tmp_path)
    ref = cross_validate_folds(
        make_pipeline("logmel-linear"),
        df["path"].tolist(),
        df["label"],
        n_splits=4,
        progress=False,
    )
    assert results["accuracy"] == pytest.approx(ref.accuracy_mean, abs=1e-12)
    assert np.array_equal(results["confusion"], ref.confusion.to_numpy())
    assert len(results["errors"]) == int(ref.confusion.to_numpy().sum() - np.trace(ref.confusion))
    assert results["n_splits"] == 4  # no more folds than the smallest class has clips
    assert [pt["per_class"] for pt in results["learning_curve"]] == [1, 2, 3]
    fractions = [f for _, f in stages]
    assert all(b >= a - 1e-9 for a, b in zip(fractions, fractions[1:]))  # progress never goes back
    assert stages[-1] == ("done", 1.0)
    assert load_results(Project.open(tmp_path)) == json.loads(json.dumps(results))
    clips = [load_audio(path, sr=22050)[0] for path in df["path"]]
    reference = make_pipeline("logmel-linear").fit(clips, df["label"])
    assert np.allclose(load_trained(p).predict_proba(clips), reference.predict_proba(clips))


def test_training_needs_two_classes_of_two_clips(tmp_path, clips):
    p = Project.open(tmp_path)
    p.add_class("a")
    p.add_clip("a", clips[0][0], SR)
    with pytest.raises(ProjectError, match="at least two classes"):
        train_project(p, pipeline="logmel-linear")
