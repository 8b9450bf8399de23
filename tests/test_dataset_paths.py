"""Dataset metadata cannot point a loader outside the dataset root."""

import os

import pandas as pd
import pytest

from embedclf.datasets import DatasetError, load_esc50, load_urbansound8k


def urbansound(root, names):
    (root / "metadata").mkdir(parents=True)
    pd.DataFrame(
        {
            "slice_file_name": names,
            "fsID": range(len(names)),
            "start": 0.0,
            "end": 1.0,
            "salience": 1,
            "fold": 1,
            "classID": 0,
            "class": "dog_bark",
        }
    ).to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)


def esc50(root, names):
    (root / "meta").mkdir(parents=True)
    pd.DataFrame(
        {
            "filename": names,
            "fold": 1,
            "target": 0,
            "category": "dog",
            "esc10": True,
            "src_file": range(len(names)),
            "take": "A",
        }
    ).to_csv(root / "meta" / "esc50.csv", index=False)


@pytest.mark.parametrize("bad", ["../../../secret.wav", "/etc/passwd", "../../../x/../../y.wav"])
def test_urbansound8k_row_outside_the_root_is_an_error_naming_the_row(tmp_path, bad):
    urbansound(tmp_path, ["100032-3-0-0.wav", bad])
    with pytest.raises(
        DatasetError,
        match=r"UrbanSound8K.csv, line 3: slice_file_name .*"
        r"outside the dataset root",
    ):
        load_urbansound8k(tmp_path)


def test_esc50_row_outside_the_root_is_an_error_naming_the_row(tmp_path):
    esc50(tmp_path, ["1-100032-A-0.wav", "1-2-A-0.wav", "../../escape.wav"])
    with pytest.raises(DatasetError, match=r"esc50.csv, line 4: filename '../../escape.wav'"):
        load_esc50(tmp_path)
    with pytest.raises(DatasetError, match="line 4"):  # the ESC-10 subset checks it too
        load_esc50(tmp_path, esc10=True)


def test_dotdot_that_stays_inside_the_root_and_empty_names(tmp_path):
    urbansound(tmp_path / "a", ["../fold2/x.wav"])  # audio/fold1/../fold2: still inside
    df = load_urbansound8k(tmp_path / "a")
    assert os.path.normpath(df["path"][0]) == str(tmp_path / "a" / "audio" / "fold2" / "x.wav")
    esc50(tmp_path / "b", ["1-1-A-0.wav", None])
    with pytest.raises(DatasetError, match="line 3: filename is nan, not a file name"):
        load_esc50(tmp_path / "b")


def test_symlinks_inside_the_root_are_followed(tmp_path):
    elsewhere = tmp_path / "disk2"
    elsewhere.mkdir()
    (elsewhere / "1-1-A-0.wav").write_bytes(b"")
    root = tmp_path / "ESC-50"
    esc50(root, ["1-1-A-0.wav"])
    (root / "audio").symlink_to(elsewhere, target_is_directory=True)
    path = load_esc50(root)["path"][0]
    assert os.path.realpath(path) == str(elsewhere / "1-1-A-0.wav")
