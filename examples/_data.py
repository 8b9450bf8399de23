"""Data for the examples: your folder of recordings, or small synthetic clips, split for testing."""

import numpy as np
from sklearn.model_selection import train_test_split

from embedclf.datasets import load_dataset, make_sound_events


def held_out_split(folder=None, *, quick=False, sr=16000, random_state=0):
    """``(X_train, X_test, y_train, y_test)`` with a fifth to a quarter of the clips held out.

    With ``quick``: 50 synthetic waveforms of 1.5 s at ``sr`` (five classes), fold 1 held
    out; waveforms in memory work wherever paths do. Otherwise the files of ``folder`` (one
    sub-folder per class), a stratified quarter held out.
    """
    if quick:
        X, y, folds = make_sound_events(
            n_per_class=10, sr=sr, duration=1.5, random_state=random_state
        )
        train, test = np.flatnonzero(folds != 1), np.flatnonzero(folds == 1)
        return [X[i] for i in train], [X[i] for i in test], y[train], y[test]
    df = load_dataset("folder", folder)
    return train_test_split(
        df["path"].tolist(),
        df["label"].to_numpy(),
        test_size=0.25,
        stratify=df["label"],
        random_state=random_state,
    )
