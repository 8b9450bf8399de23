"""Dataset indexes as DataFrames, and a seeded synthetic sound-event generator.

Every loader returns a :class:`pandas.DataFrame` with one row per clip and at
least the columns ``path`` and ``label``; ``fold`` (int) where the dataset
defines cross-validation folds, ``group`` where clips share a source (a
speaker, a recording) and must stay on one side of a split, and ``split``
where the dataset defines a train/test split. Nothing is downloaded: point
``root`` at a copy on disk.

A file name read from a dataset's metadata (UrbanSound8K, ESC-50) must stay
inside the dataset root: a row whose name is absolute or climbs out with
``..`` raises :class:`DatasetError` naming the row, so a metadata file from
elsewhere cannot make a loader read arbitrary files. The check is on the
name as written: symbolic links inside the root are followed wherever they
point, since whoever set up the root put them there (a dataset whose
``audio/`` links to another disk is common).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import DatasetError
from .labels import BACKGROUND_LABEL

__all__ = [
    "AUDIO_EXTENSIONS",
    "DatasetError",
    "load_dataset",
    "load_folder",
    "load_urbansound8k",
    "load_esc50",
    "load_esc10",
    "load_fsdd",
    "load_speechcommands",
    "read_audacity_labels",
    "load_audacity",
    "load_segments",
    "make_sound_events",
    "write_sound_events",
    "write_urbansound8k",
    "cut_background",
    "BACKGROUND_LABEL",
    "DATASETS",
]


AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".opus")


def _row_path(root, folder, name, meta, line, column):
    """``root/folder/name`` as a string, or a DatasetError naming the metadata row.

    ``name`` comes from a file someone else may have written: an absolute
    name or one that climbs out with ``..`` would read outside the dataset.
    """
    if not isinstance(name, str) or not name.strip():
        raise DatasetError(
            f"{meta}, line {line}: {column} is {name!r}, not a file name; fix or remove that row"
        )
    path = os.path.normpath(os.path.join(root, folder, name))
    base = os.path.normpath(root)
    try:
        inside = not os.path.isabs(name) and os.path.commonpath([base, path]) == base
    except ValueError:  # Windows: another drive ("D:x.wav")
        inside = False
    if not inside:
        raise DatasetError(
            f"{meta}, line {line}: {column} {name!r} points outside the dataset root {base}; "
            "metadata names must be relative paths inside the root (fix or remove that row)"
        )
    return str(Path(root) / folder / name)


def _root(root):
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {str(root)!r} is not a directory")
    return root


def _audio_files(folder, extensions):
    exts = tuple(e.lower() for e in extensions)
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in exts and not p.name.startswith(".")
    )


def _frame(rows, columns):
    df = pd.DataFrame(rows, columns=columns)
    if df.empty:
        return df
    return df.sort_values("path", kind="stable").reset_index(drop=True)


def load_folder(root, extensions=AUDIO_EXTENSIONS):
    """Folder-per-class layout: ``root/<label>/**/<clip>``.

    Parameters
    ----------
    root : str or path-like
    extensions : tuple of str, default=AUDIO_EXTENSIONS
        File endings counted as audio (case-insensitive).

    Returns
    -------
    pandas.DataFrame
        Columns ``path, label``.

    Raises
    ------
    FileNotFoundError
        ``root`` is not a directory.
    ValueError
        No class folder holds any audio file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from embedclf.datasets import load_folder
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "dog").mkdir(); (root / "dog" / "a.wav").write_bytes(b"")
    0
    >>> load_folder(root)["label"].tolist()
    ['dog']
    """
    root = _root(root)
    rows = []
    for cls in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        rows += [(str(f), cls.name) for f in _audio_files(cls, extensions)]
    if not rows:
        raise ValueError(
            f"no audio files ({', '.join(extensions)}) found in class folders under {str(root)!r}; "
            "expected root/<label>/<clip>"
        )
    return _frame(rows, ["path", "label"])


def load_urbansound8k(root):
    """UrbanSound8K: ``metadata/UrbanSound8K.csv`` and ``audio/fold<N>/``.

    Parameters
    ----------
    root : str or path-like
        The folder that holds ``metadata/`` and ``audio/``.

    Returns
    -------
    pandas.DataFrame
        Columns ``path, label, fold, group`` (group = Freesound source id,
        ``fsID``; the official folds already keep sources together), plus
        ``start, end, salience``.

    Raises
    ------
    DatasetError
        A metadata row names a file outside ``root`` (absolute, or climbing
        out with ``..``) or no file at all; the message gives its line.

    Examples
    --------
    >>> from embedclf.datasets import load_urbansound8k
    >>> df = load_urbansound8k("UrbanSound8K")  # doctest: +SKIP
    >>> sorted(df["fold"].unique())  # doctest: +SKIP
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    """
    root = _root(root)
    meta = root / "metadata" / "UrbanSound8K.csv"
    if not meta.is_file():
        raise FileNotFoundError(f"UrbanSound8K metadata not found: {meta}")
    m = pd.read_csv(meta)
    df = pd.DataFrame(
        {
            "path": [
                _row_path(root, f"audio/fold{f}", n, meta, i + 2, "slice_file_name")
                for i, f, n in zip(m.index, m["fold"], m["slice_file_name"])
            ],
            "label": m["class"].astype(str),
            "fold": m["fold"].astype(int),
            "group": m["fsID"].astype(str),
            "start": m["start"],
            "end": m["end"],
            "salience": m["salience"],
        }
    )
    return df.reset_index(drop=True)


def load_esc50(root, esc10=False):
    """ESC-50: ``meta/esc50.csv`` and ``audio/``.

    Parameters
    ----------
    root : str or path-like
    esc10 : bool, default=False
        Keep only the ESC-10 subset (the ``esc10`` column).

    Returns
    -------
    pandas.DataFrame
        Columns ``path, label, fold, group`` (group = source file; clips
        cut from one recording share a fold).

    Raises
    ------
    DatasetError
        A metadata row names a file outside ``root`` (absolute, or climbing
        out with ``..``) or no file at all; the message gives its line.

    Examples
    --------
    >>> from embedclf.datasets import load_esc50
    >>> load_esc50("ESC-50-master").shape  # doctest: +SKIP
    (2000, 4)
    """
    root = _root(root)
    meta = root / "meta" / "esc50.csv"
    if not meta.is_file():
        raise FileNotFoundError(f"ESC-50 metadata not found: {meta}")
    m = pd.read_csv(meta)
    if esc10:
        m = m[m["esc10"].astype(str).str.lower().isin(["true", "1"])]
    df = pd.DataFrame(
        {
            "path": [
                _row_path(root, "audio", n, meta, i + 2, "filename")
                for i, n in zip(m.index, m["filename"])
            ],
            "label": m["category"].astype(str).values,
            "fold": m["fold"].astype(int).values,
            "group": m["src_file"].astype(str).values,
        }
    )
    return df.sort_values("path", kind="stable").reset_index(drop=True)


_ESC_FILE = re.compile(r"^(\d+)-([^-]+)-([A-Za-z0-9]+)\.\w+$")
_ESC_CLASS = re.compile(r"^\d+\s*-\s*(.+)$")


def load_esc10(root):
    """ESC-10, from its own folder layout or from an ESC-50 copy.

    The folder layout is ``NNN - Class name/{fold}-{freesound id}-{take}.ogg``;
    the fold is the file-name prefix and the group the Freesound id (clips
    of one source recording share a fold). A root holding ``meta/esc50.csv``
    is read as ESC-50 filtered to ESC-10.

    Parameters
    ----------
    root : str or path-like

    Returns
    -------
    pandas.DataFrame
        Columns ``path, label, fold, group``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from embedclf.datasets import load_esc10
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "001 - Dog bark").mkdir()
    >>> (root / "001 - Dog bark" / "3-100032-A.ogg").write_bytes(b"")
    0
    >>> load_esc10(root)[["label", "fold", "group"]].values.tolist()
    [['Dog bark', 3, '100032']]
    """
    root = _root(root)
    if (root / "meta" / "esc50.csv").is_file():
        return load_esc50(root, esc10=True)
    rows = []
    for cls in sorted(p for p in root.iterdir() if p.is_dir()):
        m = _ESC_CLASS.match(cls.name)
        label = m.group(1).strip() if m else cls.name
        for f in _audio_files(cls, AUDIO_EXTENSIONS):
            fm = _ESC_FILE.match(f.name)
            if not fm:
                raise ValueError(
                    f"{f}: file name does not follow ESC's "
                    "'{fold}-{source id}-{take}' pattern"
                )
            rows.append((str(f), label, int(fm.group(1)), fm.group(2)))
    if not rows:
        raise ValueError(f"no ESC-10 clips found under {str(root)!r}")
    return _frame(rows, ["path", "label", "fold", "group"])


_FSDD_FILE = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def load_fsdd(root):
    """Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav``.

    Parameters
    ----------
    root : str or path-like
        The repository folder (with ``recordings/``) or the recordings folder.

    Returns
    -------
    pandas.DataFrame
        Columns ``path, label, group, split``: label is the digit (as a
        string), group the speaker, split the official one (``"test"`` for
        index 0-4, ``"train"`` otherwise).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from embedclf.datasets import load_fsdd
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for n in ["7_jackson_3.wav", "7_jackson_12.wav"]:
    ...     _ = (root / n).write_bytes(b"")
    >>> load_fsdd(root)[["label", "group", "split"]].values.tolist()
    [['7', 'jackson', 'train'], ['7', 'jackson', 'test']]
    """
    root = _root(root)
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    rows = []
    for f in sorted(folder.glob("*.wav")):
        m = _FSDD_FILE.match(f.name)
        if m:
            idx = int(m.group(3))
            rows.append((str(f), m.group(1), m.group(2), "test" if idx < 5 else "train"))
    if not rows:
        raise ValueError(
            f"no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) in {str(folder)!r}"
        )
    return _frame(rows, ["path", "label", "group", "split"])


def load_speechcommands(root, include_background=False):
    """Speech Commands: ``<label>/<speaker>_nohash_<n>.wav``.

    Parameters
    ----------
    root : str or path-like
    include_background : bool, default=False
        Keep ``_background_noise_`` files (label ``"_background_noise_"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``path, label, group, split``: group is the speaker hash;
        split is ``"validation"``/``"test"`` from ``validation_list.txt`` /
        ``testing_list.txt`` when present, else ``"train"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from embedclf.datasets import load_speechcommands
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "yes").mkdir()
    >>> (root / "yes" / "0a7c2a8d_nohash_0.wav").write_bytes(b"")
    0
    >>> load_speechcommands(root)[["label", "group"]].values.tolist()
    [['yes', '0a7c2a8d']]
    """
    root = _root(root)

    def listed(name):
        p = root / name
        return set(p.read_text().split()) if p.is_file() else set()

    val, test = listed("validation_list.txt"), listed("testing_list.txt")
    rows = []
    for cls in sorted(p for p in root.iterdir() if p.is_dir()):
        if cls.name == "_background_noise_" and not include_background:
            continue
        for f in sorted(cls.glob("*.wav")):
            rel = f"{cls.name}/{f.name}"
            split = "test" if rel in test else "validation" if rel in val else "train"
            rows.append((str(f), cls.name, f.name.split("_nohash_")[0], split))
    if not rows:
        raise ValueError(
            f"no Speech Commands clips (<label>/<speaker>_nohash_<n>.wav) in {str(root)!r}"
        )
    return _frame(rows, ["path", "label", "group", "split"])


def read_audacity_labels(path):
    """Read an Audacity label track (tab-separated ``start end label``, no header).

    Spectral-selection lines (starting with ``\\``) are ignored; a point
    label has ``start == end``.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    pandas.DataFrame
        Columns ``start, end, label`` (seconds, seconds, str).

    Examples
    --------
    >>> import tempfile, os
    >>> from embedclf.datasets import read_audacity_labels
    >>> p = os.path.join(tempfile.mkdtemp(), "labels.txt")
    >>> _ = open(p, "w").write("0.5\\t1.25\\tbark\\n\\\\\\t100\\t2000\\n2.0\\t2.0\\tclick\\n")
    >>> read_audacity_labels(p).values.tolist()
    [[0.5, 1.25, 'bark'], [2.0, 2.0, 'click']]
    """
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("\\"):
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise ValueError(f"{path}:{n}: expected 'start<TAB>end<TAB>label', got {line!r}")
            try:
                start, end = float(parts[0]), float(parts[1])
            except ValueError:
                raise ValueError(f"{path}:{n}: start/end are not numbers: {line!r}") from None
            if end < start:
                raise ValueError(f"{path}:{n}: end {end} is before start {start}")
            rows.append((start, end, parts[2] if len(parts) > 2 else ""))
    return pd.DataFrame(rows, columns=["start", "end", "label"])


def load_audacity(audio_path, labels_path=None):
    """Labelled segments of one recording from its Audacity label track.

    Parameters
    ----------
    audio_path : str or path-like
    labels_path : str or path-like, optional
        Default: the audio path with a ``.txt`` ending.

    Returns
    -------
    pandas.DataFrame
        Columns ``path, start, end, label``; load the audio with
        :func:`load_segments`.

    Examples
    --------
    >>> from embedclf.datasets import load_audacity
    >>> load_audacity("night.wav")  # doctest: +SKIP
    """
    labels_path = Path(audio_path).with_suffix(".txt") if labels_path is None else labels_path
    df = read_audacity_labels(labels_path)
    df.insert(0, "path", str(audio_path))
    return df


def load_segments(df, sr, min_duration=0.0):
    """Load the ``[start, end)`` segment of each row as a mono waveform at ``sr``.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``path, start, end`` (seconds).
    sr : int
    min_duration : float, default=0.0
        Segments shorter than this (point labels included) are centred and
        extended to this length, within the file.

    Returns
    -------
    list of ndarray

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os, pandas as pd
    >>> from embedclf.datasets import load_segments
    >>> p = os.path.join(tempfile.mkdtemp(), "a.wav"); sf.write(p, np.zeros(8000), 8000)
    >>> [len(w) for w in load_segments(pd.DataFrame({"path": [p], "start": [0.25],
    ...                                               "end": [0.5]}), sr=8000)]
    [2000]
    """
    import soundfile as sf

    from .audio import AudioError, audio_info, resample, to_mono

    out = []
    for path, start, end in zip(df["path"], df["start"], df["end"]):
        info = audio_info(path)
        if end > info.duration + 1.0 / info.samplerate:
            raise AudioError(
                path, f"segment [{start}, {end}) s ends after the file ({info.duration:.3f} s)"
            )
        if end - start < min_duration:
            mid = (start + end) / 2
            start, end = (
                max(0.0, mid - min_duration / 2),
                min(info.duration, mid + min_duration / 2),
            )
        a, b = int(round(start * info.samplerate)), int(round(end * info.samplerate))
        if b <= a:
            raise AudioError(path, f"segment [{start}, {end}) s is empty")
        try:  # audio_info checked the header; the data may still be cut or corrupt
            data, file_sr = sf.read(path, start=a, stop=b, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, ValueError) as exc:
            raise AudioError(
                path,
                f"decoding [{start}, {end}) s failed ({exc}): the file is truncated or corrupt",
            ) from None
        out.append(resample(to_mono(data, f"{path}[{start}:{end}]"), file_sr, sr))
    return out


# ----------------------------------------------------------------------------
# Synthetic sound events
# ----------------------------------------------------------------------------


def _envelope(n, rng):
    attack = max(1, int(n * rng.uniform(0.02, 0.1)))
    release = max(1, int(n * rng.uniform(0.2, 0.5)))
    env = np.ones(n)
    env[:attack] = np.linspace(0, 1, attack)
    env[-release:] *= np.linspace(1, 0, release)
    return env


def _beep(n, sr, rng):
    t = np.arange(n) / sr
    return np.sin(2 * np.pi * rng.uniform(700, 1400) * t) * _envelope(n, rng)


def _chirp(n, sr, rng):
    t = np.arange(n) / sr
    f0, f1 = rng.uniform(300, 700), rng.uniform(2000, 3500)
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * t[-1]))
    return np.sin(phase) * _envelope(n, rng)


def _knock(n, sr, rng):
    out = np.zeros(n)
    hits = rng.integers(2, 5)
    length = int(0.04 * sr)
    for s in np.sort(rng.integers(0, max(1, n - length), hits)):
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (0.006 * sr))
        out[s : s + length] += burst
    return out


def _hum(n, sr, rng):
    t = np.arange(n) / sr
    f = rng.uniform(90, 180)
    tone = sum(np.sin(2 * np.pi * k * f * t + rng.uniform(0, 6.28)) / k for k in range(1, 6))
    return tone * _envelope(n, rng)


def _buzz(n, sr, rng):
    t = np.arange(n) / sr
    carrier = np.sign(np.sin(2 * np.pi * rng.uniform(250, 450) * t))
    am = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(8, 20) * t))
    return carrier * am * _envelope(n, rng)


_EVENTS = {"beep": _beep, "chirp": _chirp, "knock": _knock, "hum": _hum, "buzz": _buzz}


def _background(n, rng):
    """Pink-ish noise: white noise through a one-pole low-pass, mixed with white."""
    from scipy.signal import lfilter

    white = rng.standard_normal(n)
    return 0.7 * lfilter([1.0], [1.0, -0.97], white) / 8.0 + 0.3 * white


def make_sound_events(
    n_per_class=20,
    classes=("beep", "chirp", "knock", "hum", "buzz"),
    *,
    sr=16000,
    duration=2.0,
    event_duration=(0.3, 1.0),
    snr_db=(0.0, 20.0),
    n_folds=5,
    random_state=0,
):
    """Seeded synthetic clips: one sound event over background noise.

    Each clip holds one event of its class (tone beep, rising chirp, knocks,
    harmonic hum, amplitude-modulated buzz) at a random position, length and
    signal-to-noise ratio over pink-ish noise; hard enough at low SNR that
    classifiers differ, easy enough to learn from a few dozen clips.

    Parameters
    ----------
    n_per_class : int, default=20
    classes : tuple of str, default=("beep", "chirp", "knock", "hum", "buzz")
    sr : int, default=16000
    duration : float, default=2.0
        Clip length in seconds.
    event_duration : (float, float), default=(0.3, 1.0)
        Range of event lengths in seconds.
    snr_db : (float, float), default=(0.0, 20.0)
        Range of event-to-background power ratios.
    n_folds : int, default=5
        Folds assigned round-robin within each class (balanced).
    random_state : int, default=0

    Returns
    -------
    X : list of ndarray of shape (int(sr * duration),), float32
    y : ndarray of str
    folds : ndarray of int, values 1..n_folds

    Examples
    --------
    >>> from embedclf.datasets import make_sound_events
    >>> X, y, folds = make_sound_events(n_per_class=2, random_state=0)
    >>> len(X), X[0].shape, sorted(set(y.tolist()))[:2]
    (10, (32000,), ['beep', 'buzz'])
    """
    unknown = [c for c in classes if c not in _EVENTS]
    if unknown:
        raise ValueError(f"unknown event classes {unknown}; choose from {sorted(_EVENTS)}")
    rng = np.random.default_rng(random_state)
    n = int(round(sr * duration))
    X, y, folds = [], [], []
    for k in range(n_per_class):
        for cls in classes:
            ev_len = min(n, int(sr * rng.uniform(*event_duration)))
            event = _EVENTS[cls](ev_len, sr, rng)
            noise = _background(n, rng)
            snr = rng.uniform(*snr_db)
            p_event = np.mean(event**2) + 1e-12
            p_noise = np.mean(noise**2)
            event *= np.sqrt(p_noise * 10 ** (snr / 10) / p_event)
            start = rng.integers(0, n - ev_len + 1)
            clip = noise.copy()
            clip[start : start + ev_len] += event
            clip *= 0.5 / (np.max(np.abs(clip)) + 1e-12)  # leave headroom
            X.append(clip.astype(np.float32))
            y.append(cls)
            folds.append(k % n_folds + 1)
    return X, np.asarray(y), np.asarray(folds)


def write_sound_events(out_dir, **kwargs):
    """Write :func:`make_sound_events` clips as wav files, folder per class.

    Parameters
    ----------
    out_dir : str or path-like
    **kwargs
        Passed to :func:`make_sound_events`.

    Returns
    -------
    pandas.DataFrame
        Columns ``path, label, fold``; ``load_folder(out_dir)`` reads the
        same files back.

    Examples
    --------
    >>> import tempfile
    >>> from embedclf.datasets import write_sound_events
    >>> df = write_sound_events(tempfile.mkdtemp(), n_per_class=1)
    >>> df.shape
    (5, 3)
    """
    import soundfile as sf

    sr = kwargs.get("sr", 16000)
    X, y, folds = make_sound_events(**kwargs)
    out = Path(out_dir)
    rows = []
    counters = {}
    for clip, label, fold in zip(X, y, folds):
        counters[label] = counters.get(label, 0) + 1
        path = out / label / f"{fold}-{label}-{counters[label]:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, clip, sr, subtype="FLOAT")
        rows.append((str(path), label, int(fold)))
    return pd.DataFrame(rows, columns=["path", "label", "fold"])


def write_urbansound8k(root, *, folds=(1, 2, 3), slices_per_source=2, **kwargs):
    """Write :func:`make_sound_events` clips in UrbanSound8K's layout, for trying fold code.

    ``metadata/UrbanSound8K.csv`` and ``audio/fold<N>/{fsID}-{classID}-0-{slice}.wav``:
    the clips of each fold and class are cut, ``slices_per_source`` at a time, from
    made-up source recordings (``fsID``), so a fold holds several sources per class
    and no source spans two folds, as in the real dataset.

    Parameters
    ----------
    root : str or path-like
    folds : sequence of int, default=(1, 2, 3)
        The fold numbers to write; clips are dealt to them round-robin within
        each class.
    slices_per_source : int, default=2
    **kwargs
        Passed to :func:`make_sound_events` (not ``n_folds``).

    Returns
    -------
    pandas.DataFrame
        The index :func:`load_urbansound8k` reads back from ``root``.

    Examples
    --------
    >>> import tempfile
    >>> from embedclf.datasets import write_urbansound8k
    >>> df = write_urbansound8k(tempfile.mkdtemp(), folds=(3,), n_per_class=4, duration=0.5)
    >>> len(df), sorted(df["fold"].unique().tolist()), df["group"].nunique()
    (20, [3], 10)
    """
    import soundfile as sf

    if "n_folds" in kwargs:
        raise TypeError("write_urbansound8k takes folds=(...), not n_folds")
    folds = [int(f) for f in folds]
    if not folds or slices_per_source < 1:
        raise ValueError("give at least one fold and slices_per_source >= 1")
    sr = kwargs.get("sr", 16000)
    X, y, dealt = make_sound_events(n_folds=len(folds), **kwargs)
    classes = sorted(set(y.tolist()))
    root = Path(root)
    seen, sources, rows = {}, {}, []
    for clip, label, k in zip(X, y, dealt):
        fold, class_id = folds[k - 1], classes.index(label)
        n = seen[(fold, label)] = seen.get((fold, label), -1) + 1
        source, slice_no = divmod(n, slices_per_source)
        fs_id = sources.setdefault((fold, class_id, source), 1000 + len(sources))
        name = f"{fs_id}-{class_id}-0-{slice_no}.wav"
        path = root / "audio" / f"fold{fold}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, clip, sr)
        rows.append((name, fs_id, 0.0, len(clip) / sr, 1, fold, class_id, label))
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        rows,
        columns=["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"],
    ).to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    return load_urbansound8k(root)


#: Loaders by name, for :func:`load_dataset` and the command line.
DATASETS = {
    "folder": load_folder,
    "urbansound8k": load_urbansound8k,
    "esc50": load_esc50,
    "esc10": load_esc10,
    "fsdd": load_fsdd,
    "speechcommands": load_speechcommands,
}


def cut_background(sources, *, sr, window=1.0, label=BACKGROUND_LABEL):
    """Cut long background recordings into clips of their own class (Teachable Machine's way).

    Each recording is cut into consecutive ``window``-second clips (a
    remainder of at least half a window is one shorter clip, a shorter one
    is dropped; a recording shorter than one window is one clip), so a model learns what "nothing of
    interest" sounds like and a :class:`~embedclf.stream.Recognizer` can
    leave it unreported.

    Parameters
    ----------
    sources : str, path-like, or a sequence of them
        Audio files, or folders searched (recursively) for audio files.
    sr : int
        Rate of the clips (the model's).
    window : float, default=1.0
        Seconds per clip.
    label : str, default=BACKGROUND_LABEL

    Returns
    -------
    clips : list of ndarray
        Mono float32 waveforms at ``sr``.
    labels : list of str

    Raises
    ------
    DatasetError
        A folder without audio files.
    AudioError
        An unreadable recording.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> from embedclf.datasets import cut_background
    >>> p = os.path.join(tempfile.mkdtemp(), "noise.wav")
    >>> sf.write(p, np.zeros(16000 * 5 + 9000), 16000)
    >>> clips, labels = cut_background(p, sr=16000)
    >>> len(clips), labels[0], len(clips[0])
    (6, '_background_', 16000)
    """
    from .audio import load_audio

    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    if not window > 0:
        raise ValueError(f"window must be a positive number of seconds, got {window!r}")
    paths = []
    for src in sources:
        src = Path(src).expanduser()
        if src.is_dir():
            found = _audio_files(src, AUDIO_EXTENSIONS)
            if not found:
                raise DatasetError(
                    f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {str(src)!r}"
                )
            paths += found
        else:
            paths.append(src)
    n = max(1, int(round(window * sr)))
    clips = []
    for path in paths:
        y, _ = load_audio(path, sr=sr)
        starts = range(0, max(1, len(y) - n // 2), n) if len(y) >= n else [0]
        clips += [np.ascontiguousarray(y[s : s + n]) for s in starts]
    return clips, [label] * len(clips)


def load_dataset(name, root, **kwargs):
    """Load a dataset index by name.

    Parameters
    ----------
    name : {"folder", "urbansound8k", "esc50", "esc10", "fsdd", "speechcommands"}
    root : str or path-like
    **kwargs
        Passed to the loader.

    Returns
    -------
    pandas.DataFrame
        Columns ``path, label`` and ``fold`` and/or ``group``/``split``.

    Examples
    --------
    >>> import tempfile
    >>> from embedclf.datasets import load_dataset, write_sound_events
    >>> root = tempfile.mkdtemp(); _ = write_sound_events(root, n_per_class=1)
    >>> load_dataset("folder", root).shape
    (5, 2)
    """
    key = name.lower().replace("-", "").replace("_", "")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[key](root, **kwargs)
