"""Shared fixtures: synthetic clips and files made by the tests themselves."""

import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import soundfile as sf

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_dataset(name):
    """Path to a real-recordings folder, or skip the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real recordings not available ({path} missing)")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def tone():
    """A 1 s, 440 Hz tone at 22.05 kHz with a little noise (float32)."""
    sr = 22050
    t = np.arange(sr) / sr
    noise = np.random.default_rng(1).standard_normal(sr) * 0.01
    return (0.5 * np.sin(2 * np.pi * 440 * t) + noise).astype(np.float32), sr


@pytest.fixture(scope="session")
def events():
    from embedclf.datasets import make_sound_events

    return make_sound_events(n_per_class=8, sr=16000, duration=1.0, random_state=0)


@pytest.fixture(scope="session")
def event_files(tmp_path_factory):
    """Folder-per-class wav files of synthetic events, with their index."""
    from embedclf.datasets import write_sound_events

    root = tmp_path_factory.mktemp("events")
    df = write_sound_events(root, n_per_class=6, sr=16000, duration=1.0, random_state=3)
    return root, df


@pytest.fixture
def write_wav(tmp_path):
    def _write(name, data, sr=16000, **kw):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data, sr, **kw)
        return str(path)

    return _write
