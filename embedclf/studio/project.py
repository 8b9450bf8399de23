"""A studio project: a folder with one sub-folder of WAV clips per class and a project file.

The folder is the ``folder`` dataset layout (:func:`embedclf.datasets.load_folder`), so any
such dataset opens as a project, and a project is a dataset every other embedclf command
reads. The project file (:data:`PROJECT_FILE`) keeps what the folders cannot: the class order
(empty classes too) and the clip length of recordings. What the studio computes (the trained
model, its results, exports) lives in the hidden :data:`WORK_DIR`, which dataset loaders skip.

Every name that comes from outside (a class, an uploaded file name, a clip id) is checked:
class names are sanitised by :func:`safe_name`, and a clip id must name a file inside its
class folder, so no request can read, write or delete a path outside the project.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
import unicodedata
from pathlib import Path

import numpy as np

from ..datasets import AUDIO_EXTENSIONS, BACKGROUND_LABEL
from ..exceptions import ProjectError
from ..files import atomic_write, atomic_write_data

__all__ = [
    "Project",
    "ProjectError",
    "safe_name",
    "PROJECT_FILE",
    "WORK_DIR",
    "MAX_UPLOAD_BYTES",
    "BACKGROUND_LABEL",
]

#: The project file at the top of a project folder.
PROJECT_FILE = "embedclf-studio.json"
#: Hidden folder of a project with the trained model, its results and exports.
WORK_DIR = ".studio"
#: Largest audio upload accepted, in bytes.
MAX_UPLOAD_BYTES = 50 * 2**20
#: Longest class or file name kept (characters).
MAX_NAME = 64


def safe_name(name, *, what="class name"):
    """``name`` as a safe folder or file name: letters, digits, ``_ - .`` and spaces.

    Accents are dropped, other characters become ``_``; leading dots and
    spaces are removed, so the result is never hidden, never ``..`` and never
    holds a path separator.

    Parameters
    ----------
    name : str
    what : str, default="class name"
        Named in the error message.

    Returns
    -------
    str

    Raises
    ------
    ProjectError
        Nothing usable is left.

    Examples
    --------
    >>> from embedclf.studio.project import safe_name
    >>> safe_name("Dog bark / loud"), safe_name("../../etc/passwd"), safe_name("Café")
    ('Dog bark _ loud', 'etc_passwd', 'Cafe')
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9_. -]+", "_", text)
    text = re.sub(r"_{2,}", "_", text).strip(" ._")
    if name and str(name).startswith("_") and str(name).endswith("_") and text:
        text = f"_{text}_"  # keep the background label's form
    text = text[:MAX_NAME].strip(" .")
    if not text or set(text) <= {"_", "."}:
        raise ProjectError(f"{what} {name!r} has no usable characters; use letters or digits")
    return text


class Project:
    """A project folder: classes, their clips, and the project file.

    Use :meth:`open` (creates the folder and project file when missing;
    an existing ``folder``-layout dataset becomes a project as it is).

    Parameters
    ----------
    root : str or path-like
        An existing folder.

    Attributes
    ----------
    root : pathlib.Path
    settings : dict
        The project file's content: ``classes`` (ordered), ``clip_seconds``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from embedclf.studio import Project
    >>> p = Project.open(tempfile.mkdtemp())
    >>> p.add_class("dog")
    'dog'
    >>> p.add_clip("dog", np.zeros(16000, np.float32), 16000)
    'dog/clip-001.wav'
    >>> Project.open(p.root).clips()[0]["label"]
    'dog'
    """

    def __init__(self, root):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise ProjectError(f"project folder {str(self.root)!r} does not exist")
        self.settings = {"classes": [], "clip_seconds": 1.0}
        path = self.root / PROJECT_FILE
        if path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ProjectError(
                    f"cannot read the project file {path}: {exc}; fix or delete it "
                    "(the clips are kept in the class folders)"
                ) from exc
            if not isinstance(saved, dict):
                raise ProjectError(f"the project file {path} holds no JSON object; delete it")
            self.settings.update(saved)
        # class folders on disk join the list, so a dataset folder opens as a project
        known = [c for c in self.settings["classes"] if isinstance(c, str)]
        found = sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name != WORK_DIR
        )
        self.settings["classes"] = known + [c for c in found if c not in known]

    @classmethod
    def open(cls, root):
        """Open the project in ``root``, creating the folder and project file when missing.

        Parameters
        ----------
        root : str or path-like

        Returns
        -------
        Project
        """
        root = Path(root).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        project = cls(root)
        project.save()
        return project

    # ---- the project file ---------------------------------------------------------------
    def save(self):
        """Write the project file (atomically)."""
        text = json.dumps(self.settings, indent=2, sort_keys=True) + "\n"
        atomic_write_data(self.root / PROJECT_FILE, text)

    @property
    def work_dir(self):
        """The hidden folder for the model, results and exports (created on use)."""
        path = self.root / WORK_DIR
        path.mkdir(exist_ok=True)
        return path

    @property
    def clip_seconds(self):
        """Length of a recorded take and of the windows a long recording is cut into."""
        return float(self.settings.get("clip_seconds") or 1.0)

    # ---- classes ------------------------------------------------------------------------
    def classes(self):
        """Class names in project order.

        Returns
        -------
        list of str
        """
        return list(self.settings["classes"])

    def _class_dir(self, label):
        if label not in self.settings["classes"] or label != safe_name(label):
            raise ProjectError(f"no class {label!r} in this project; add it first")
        return self.root / label

    def add_class(self, name):
        """Add a class (its folder too); returns the sanitised name.

        Adding an existing class does nothing.

        Parameters
        ----------
        name : str

        Returns
        -------
        str
        """
        name = safe_name(name)
        if name == PROJECT_FILE or name == WORK_DIR:
            raise ProjectError(f"{name!r} is reserved; choose another class name")
        (self.root / name).mkdir(exist_ok=True)
        if name not in self.settings["classes"]:
            self.settings["classes"].append(name)
            self.save()
        return name

    def rename_class(self, label, new_name):
        """Rename a class and its folder; returns the new name.

        Parameters
        ----------
        label, new_name : str

        Returns
        -------
        str
        """
        src = self._class_dir(label)
        new = safe_name(new_name)
        if new == label:
            return new
        if new in self.settings["classes"] or (self.root / new).exists():
            raise ProjectError(f"a class {new!r} exists already; move its clips instead")
        src.rename(self.root / new)
        self.settings["classes"] = [new if c == label else c for c in self.settings["classes"]]
        self.save()
        return new

    def delete_class(self, label):
        """Delete a class with all its clips.

        Parameters
        ----------
        label : str
        """
        folder = self._class_dir(label)
        for clip in self.clips(label):
            os.remove(self.clip_path(clip["id"]))
        for sub in sorted(folder.rglob("*"), reverse=True):  # emptied sub-folders
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        self.settings["classes"].remove(label)
        self.save()

    # ---- clips --------------------------------------------------------------------------
    def clips(self, label=None):
        """The clips, in :func:`~embedclf.datasets.load_folder` order.

        Parameters
        ----------
        label : str, optional
            Only this class.

        Returns
        -------
        list of dict
            ``id`` (``"class/file.wav"``, the handle the other methods take),
            ``label``, ``path``.
        """
        labels = self.classes() if label is None else [label]
        rows = []
        for cls in labels:
            folder = self._class_dir(cls)
            if not folder.is_dir():
                continue
            for f in folder.rglob("*"):
                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS:
                    rel = f.relative_to(self.root).as_posix()
                    if not any(part.startswith(".") for part in rel.split("/")):
                        rows.append({"id": rel, "label": cls, "path": str(f)})
        return sorted(rows, key=lambda r: r["path"])

    def clip_path(self, clip_id):
        """The file of clip ``clip_id``, checked to be a clip of this project.

        Parameters
        ----------
        clip_id : str
            ``"class/file.wav"`` as :meth:`clips` gives it.

        Returns
        -------
        pathlib.Path

        Raises
        ------
        ProjectError
            An id outside the class folders (``..``, absolute, hidden) or no such clip.
        """
        parts = str(clip_id).replace("\\", "/").split("/")
        if (
            len(parts) < 2
            or any(p in ("", ".", "..") or p.startswith(".") for p in parts)
            or os.path.isabs(str(clip_id))
        ):
            raise ProjectError(f"{clip_id!r} is not a clip id (expected 'class/file.wav')")
        folder = self._class_dir(parts[0])
        path = (self.root / Path(*parts)).resolve()
        if folder.resolve() not in path.parents:
            raise ProjectError(f"clip {clip_id!r} points outside its class folder")
        if not path.is_file() or path.suffix.lower() not in AUDIO_EXTENSIONS:
            raise ProjectError(f"no clip {clip_id!r} in this project")
        return path

    def _free_name(self, label, stem):
        folder = self._class_dir(label)
        folder.mkdir(exist_ok=True)
        stem = safe_name(stem, what="file name")[: MAX_NAME - 8]
        numbered = (f"{stem}-{n:03d}.wav" for n in itertools.count(1 if stem == "clip" else 2))
        names = numbered if stem == "clip" else itertools.chain([f"{stem}.wav"], numbered)
        return next(folder / n for n in names if not (folder / n).exists())

    def add_clip(self, label, y, sr, *, name="clip"):
        """Store a waveform as a 16-bit WAV clip of class ``label``; returns its id.

        Parameters
        ----------
        label : str
            An existing class.
        y : array-like of shape (n_samples,) or (n_samples, n_channels)
            Float samples in [-1, 1] (channels are mixed to mono).
        sr : int
        name : str, default="clip"
            File name stem (sanitised; numbered when taken).

        Returns
        -------
        str
        """
        import soundfile as sf

        from ..audio import to_mono

        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2:
            y = to_mono(y, name)
        if y.ndim != 1 or not y.size:
            raise ProjectError(f"a clip needs samples, got shape {y.shape}")
        if not np.isfinite(y).all():
            raise ProjectError("the clip holds NaN or infinite samples")
        path = self._free_name(label, name)
        atomic_write(path, lambda tmp: sf.write(tmp, np.clip(y, -1, 1), int(sr), "PCM_16"))
        return path.relative_to(self.root).as_posix()

    def add_audio(self, label, data, filename="clip.wav", *, cut=False):
        """Add an uploaded audio file (any format embedclf reads); returns the new clip ids.

        Parameters
        ----------
        label : str
            An existing class.
        data : bytes
            The file's content, at most :data:`MAX_UPLOAD_BYTES`.
        filename : str, default="clip.wav"
            The uploaded name: its stem names the clip, its ending helps decoding.
        cut : bool, default=False
            Cut the recording into clips of :attr:`clip_seconds` (a background
            take, or a long recording of one class), as
            :func:`embedclf.datasets.cut_background` does.

        Returns
        -------
        list of str
        """
        from ..audio import audio_info, load_audio
        from ..datasets import cut_background

        if len(data) > MAX_UPLOAD_BYTES:
            raise ProjectError(
                f"the upload has {len(data)} bytes, over the limit of {MAX_UPLOAD_BYTES}; "
                "cut the recording into shorter files"
            )
        self._class_dir(label)
        suffix = Path(str(filename)).suffix.lower()
        suffix = suffix if suffix in AUDIO_EXTENSIONS else ".wav"
        stem = Path(str(filename).replace("\\", "/")).stem or "clip"
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "upload" + suffix)
            with open(path, "wb") as fh:
                fh.write(data)
            if cut:
                sr = int(audio_info(path).samplerate)
                clips, _ = cut_background(path, sr=sr, window=self.clip_seconds, label=label)
            else:
                y, sr = load_audio(path)
                clips = [y]
        try:
            safe_name(stem, what="file name")
        except ProjectError:
            stem = "clip"
        return [self.add_clip(label, y, sr, name=stem) for y in clips]

    def relabel(self, clip_id, label):
        """Move a clip to class ``label``; returns its new id.

        Parameters
        ----------
        clip_id, label : str

        Returns
        -------
        str
        """
        src = self.clip_path(clip_id)
        dst = self._free_name(label, src.stem)
        src.rename(dst)
        return dst.relative_to(self.root).as_posix()

    def delete_clip(self, clip_id):
        """Delete a clip.

        Parameters
        ----------
        clip_id : str
        """
        os.remove(self.clip_path(clip_id))

    def dataset(self):
        """The clips as a dataset index (columns ``path, label``), in load_folder order.

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        rows = self.clips()
        return pd.DataFrame(
            [(r["path"], r["label"]) for r in rows], columns=["path", "label"]
        ).reset_index(drop=True)
