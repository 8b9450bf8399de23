"""Real recordings from ../shared/data: skipped cleanly when the folder is absent."""

import numpy as np
import pytest
from conftest import shared_dataset

from embedclf.audio import load_clips
from embedclf.datasets import load_esc10, load_fsdd
from embedclf.evaluation import cross_validate_folds
from embedclf.pipelines import make_pipeline

pytestmark = pytest.mark.realdata


def test_esc10_index():
    df = load_esc10(shared_dataset("esc10"))
    assert len(df) == 400 and df["label"].nunique() == 10
    assert set(df["label"].value_counts()) == {40}
    assert sorted(df["fold"].unique()) == [1, 2, 3, 4, 5]
    assert (df.groupby("group")["fold"].nunique() == 1).all()


def test_fsdd_index():
    df = load_fsdd(shared_dataset("fsdd"))
    assert len(df) == 3000 and (df["split"] == "test").sum() == 300
    assert df["group"].nunique() == 6 and df["label"].nunique() == 10


def test_real_files_decode():
    esc = load_esc10(shared_dataset("esc10"))
    res = load_clips(esc["path"][:5].tolist(), sr=22050)
    assert all(abs(len(c) - 5 * 22050) < 2205 for c in res.clips)  # ~5 s clips
    assert all(np.isfinite(c).all() and c.dtype == np.float32 for c in res.clips)


@pytest.mark.slow
def test_fsdd_official_split_accuracy():
    df = load_fsdd(shared_dataset("fsdd"))
    res = load_clips(df["path"].tolist(), df["label"].to_numpy(), sr=22050)
    rep = cross_validate_folds(
        make_pipeline("mfcc-linear"), res.clips, res.y, split=df["split"].to_numpy(), progress=False
    )
    assert rep.accuracy_mean > 0.95  # docs/results/accuracy.md: 99.0%


@pytest.mark.slow
def test_esc10_five_fold_accuracy():
    df = load_esc10(shared_dataset("esc10"))
    res = load_clips(df["path"].tolist(), df["label"].to_numpy(), sr=22050)
    rep = cross_validate_folds(
        make_pipeline("logmel-linear"),
        res.clips,
        res.y,
        folds=df["fold"].to_numpy(),
        progress=False,
    )
    assert len(rep.per_fold) == 5 and rep.accuracy_mean > 0.75  # docs/results/accuracy.md: ~81%
