"""Dataset indexes from layouts the tests build, and the synthetic generator."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from embedclf.datasets import (
    load_audacity,
    load_dataset,
    load_esc10,
    load_esc50,
    load_folder,
    load_fsdd,
    load_segments,
    load_speechcommands,
    make_sound_events,
    read_audacity_labels,
    write_sound_events,
)


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_folder_per_class(tmp_path):
    touch(tmp_path / "dog" / "a.wav")
    touch(tmp_path / "dog" / "sub" / "b.FLAC")
    touch(tmp_path / "cat" / "c.ogg")
    touch(tmp_path / "cat" / "notes.txt")
    touch(tmp_path / ".hidden" / "x.wav")
    df = load_folder(tmp_path)
    assert list(df.columns) == ["path", "label"]
    assert sorted(df["label"]) == ["cat", "dog", "dog"]
    assert not any(p.endswith("notes.txt") for p in df["path"])


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no audio files"):
        load_folder(tmp_path)


def test_urbansound8k(tmp_path):
    (tmp_path / "metadata").mkdir()
    pd.DataFrame(
        {
            "slice_file_name": ["100032-3-0-0.wav", "100263-2-0-117.wav"],
            "fsID": [100032, 100263],
            "start": [0.0, 58.5],
            "end": [0.3, 62.5],
            "salience": [1, 1],
            "fold": [5, 5],
            "classID": [3, 2],
            "class": ["dog_bark", "children_playing"],
        }
    ).to_csv(tmp_path / "metadata" / "UrbanSound8K.csv", index=False)
    df = load_dataset("urbansound8k", tmp_path)
    assert df["path"][0].endswith("audio/fold5/100032-3-0-0.wav")
    assert df["fold"].dtype.kind == "i" and df["label"].tolist() == ["dog_bark", "children_playing"]
    assert df["group"].tolist() == ["100032", "100263"]


def _esc50_meta(root):
    (root / "meta").mkdir(parents=True)
    pd.DataFrame(
        {
            "filename": ["1-100032-A-0.wav", "1-100038-A-14.wav", "2-100648-A-43.wav"],
            "fold": [1, 1, 2],
            "target": [0, 14, 43],
            "category": ["dog", "chirping_birds", "car_horn"],
            "esc10": [True, False, False],
            "src_file": [100032, 100038, 100648],
            "take": ["A"] * 3,
        }
    ).to_csv(root / "meta" / "esc50.csv", index=False)


def test_esc50_and_its_esc10_subset(tmp_path):
    _esc50_meta(tmp_path)
    df = load_esc50(tmp_path)
    assert len(df) == 3 and set(df.columns) == {"path", "label", "fold", "group"}
    assert load_esc10(tmp_path)["label"].tolist() == ["dog"]


def test_esc10_folder_layout(tmp_path):
    touch(tmp_path / "001 - Dog bark" / "1-100032-A.ogg")
    touch(tmp_path / "001 - Dog bark" / "5-9032-B.ogg")
    touch(tmp_path / "010 - Fire crackling" / "2-18766-A.ogg")
    df = load_esc10(tmp_path)
    assert df[["label", "fold", "group"]].values.tolist() == [
        ["Dog bark", 1, "100032"],
        ["Dog bark", 5, "9032"],
        ["Fire crackling", 2, "18766"],
    ]
    touch(tmp_path / "001 - Dog bark" / "badname.ogg")
    with pytest.raises(ValueError, match="badname.ogg"):
        load_esc10(tmp_path)


def test_fsdd_split_and_speakers(tmp_path):
    for name in [
        "0_george_0.wav",
        "0_george_4.wav",
        "0_george_5.wav",
        "9_yweweler_49.wav",
        "README.wav",
    ]:
        touch(tmp_path / "recordings" / name)
    df = load_fsdd(tmp_path)
    assert df["split"].tolist() == ["test", "test", "train", "train"]
    assert df["group"].tolist() == ["george"] * 3 + ["yweweler"]
    assert df["label"].tolist() == ["0", "0", "0", "9"]


def test_speechcommands(tmp_path):
    for rel in [
        "yes/aa11_nohash_0.wav",
        "yes/bb22_nohash_1.wav",
        "no/aa11_nohash_2.wav",
        "_background_noise_/white.wav",
    ]:
        touch(tmp_path / rel)
    (tmp_path / "testing_list.txt").write_text("yes/bb22_nohash_1.wav\n")
    (tmp_path / "validation_list.txt").write_text("no/aa11_nohash_2.wav\n")
    df = load_speechcommands(tmp_path)
    assert df[["label", "group", "split"]].values.tolist() == [
        ["no", "aa11", "validation"],
        ["yes", "aa11", "train"],
        ["yes", "bb22", "test"],
    ]
    assert "_background_noise_" in set(
        load_speechcommands(tmp_path, include_background=True)["label"]
    )


def test_audacity_labels_to_segments(tmp_path):
    sr = 8000
    audio = np.r_[np.zeros(sr), np.ones(sr) * 0.5, np.zeros(sr)]
    wav = tmp_path / "rec.wav"
    sf.write(wav, audio, sr)
    (tmp_path / "rec.txt").write_text("1.0\t2.0\tbeep\n\\\t200.0\t1000.0\n2.5\t2.5\tclick\n")
    df = load_audacity(wav)
    assert df[["start", "end", "label"]].values.tolist() == [
        [1.0, 2.0, "beep"],
        [2.5, 2.5, "click"],
    ]
    segs = load_segments(df, sr=4000, min_duration=0.5)
    assert len(segs[0]) == 4000 and abs(segs[0][100:-100].mean() - 0.5) < 1e-3
    assert len(segs[1]) == 2000  # the point label was widened to 0.5 s


def test_audacity_bad_lines(tmp_path):
    p = tmp_path / "l.txt"
    p.write_text("1.0\tabc\tx\n")
    with pytest.raises(ValueError, match="l.txt:1: start/end are not numbers"):
        read_audacity_labels(p)
    p.write_text("2.0\t1.0\tx\n")
    with pytest.raises(ValueError, match="before start"):
        read_audacity_labels(p)


def test_make_sound_events_is_seeded_and_balanced():
    X1, y1, f1 = make_sound_events(n_per_class=5, random_state=7)
    X2, y2, f2 = make_sound_events(n_per_class=5, random_state=7)
    X3, _, _ = make_sound_events(n_per_class=5, random_state=8)
    assert all(np.array_equal(a, b) for a, b in zip(X1, X2)) and np.array_equal(y1, y2)
    assert not np.array_equal(X1[0], X3[0])
    labels, counts = np.unique(y1, return_counts=True)
    assert len(labels) == 5 and set(counts) == {5}
    assert set(f1) == {1, 2, 3, 4, 5}
    assert all(np.max(np.abs(x)) <= 0.5 + 1e-6 and x.dtype == np.float32 for x in X1)


def test_write_sound_events_round_trip(tmp_path):
    df = write_sound_events(tmp_path, n_per_class=2, sr=8000, duration=0.5)
    back = load_folder(tmp_path)
    assert sorted(back["path"]) == sorted(df["path"])
    X, _, _ = make_sound_events(n_per_class=2, sr=8000, duration=0.5)
    y, sr = sf.read(df["path"][0], dtype="float32")
    assert sr == 8000 and np.array_equal(y, X[0])


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'timit'"):
        load_dataset("timit", tmp_path)
