"""Every exception and warning embedclf raises or issues, in one place.

Each class subclasses the built-in exception a generic handler would expect
(:class:`ValueError` for bad input, :class:`FileNotFoundError` for missing
weights, :class:`UserWarning` for warnings), so code that catches the built-in
keeps working. The modules that raise them re-export them too:
``from embedclf.audio import AudioError`` and
``from embedclf.exceptions import AudioError`` give the same class.

This module imports nothing from the rest of the package, so any module may
import it.

Examples
--------
>>> from embedclf.exceptions import AudioError, DatasetError
>>> from embedclf.audio import AudioError as FromAudio
>>> FromAudio is AudioError
True
>>> try:
...     raise DatasetError("index.csv line 3: no file named 'x.wav'")
... except ValueError as err:
...     print(type(err).__name__)
DatasetError
"""

from __future__ import annotations

__all__ = [
    "AudioError",
    "SkippedClipsWarning",
    "DatasetError",
    "ModelFileError",
    "UntrustedModelError",
    "WeightsNotFoundError",
    "BudgetError",
    "UnsupportedOpError",
    "TeacherClassesWarning",
    "TeacherTargetsWarning",
    "ResamplingWarning",
    "UnsupportedNetworkError",
    "ToolMissingError",
    "ClusterUnavailableError",
    "ProjectError",
]


class AudioError(ValueError):
    """A clip could not be used: the message names the clip and the cause.

    Subclasses :class:`ValueError` so generic input-validation handlers (and
    scikit-learn's checks) treat it as bad input.

    Parameters
    ----------
    source : str
        The file path, or ``"clip <index>"`` for an in-memory waveform.
    reason : str
        What is wrong and, where possible, what to do about it.

    Examples
    --------
    >>> from embedclf import AudioError
    >>> err = AudioError("dog.wav", "file not found")
    >>> str(err)
    'dog.wav: file not found'
    >>> err.source, err.reason
    ('dog.wav', 'file not found')
    """

    def __init__(self, source, reason):
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")

    def __reduce__(self):  # keep pickling (joblib workers) working
        return (type(self), (self.source, self.reason))


class SkippedClipsWarning(UserWarning):
    """Issued whenever ``on_error="skip"`` left clips out of a batch.

    Examples
    --------
    >>> import warnings
    >>> from embedclf.audio import SkippedClipsWarning
    >>> issubclass(SkippedClipsWarning, UserWarning)
    True
    """


class DatasetError(ValueError):
    """A dataset's index is unusable: the message names the file and row, and the fix.

    Examples
    --------
    >>> from embedclf.datasets import DatasetError
    >>> issubclass(DatasetError, ValueError)
    True
    """


class ModelFileError(ValueError):
    """A model file that cannot be used: unreadable, or not holding a classifier.

    Examples
    --------
    >>> from embedclf.modelfile import ModelFileError
    >>> issubclass(ModelFileError, ValueError)
    True
    """


class UntrustedModelError(ModelFileError):
    """Loading the file would run code from it, or create types nobody said to trust.

    Parameters
    ----------
    message : str
        What was refused and how to opt in.
    types : sequence of str, default=()
        The skops types outside the allow-list.

    Attributes
    ----------
    types : list of str
        The skops types outside the allow-list (empty for a pickle file).

    Examples
    --------
    >>> from embedclf.modelfile import UntrustedModelError
    >>> err = UntrustedModelError("model.skops holds untrusted types", ["x.Y"])
    >>> err.types, isinstance(err, ValueError)
    (['x.Y'], True)
    """

    def __init__(self, message, types=()):
        super().__init__(message)
        self.types = list(types)


class WeightsNotFoundError(FileNotFoundError):
    """No weight file was found; the message names it, where we looked, and the fix.

    Examples
    --------
    >>> from embedclf.weights import WeightsNotFoundError
    >>> issubclass(WeightsNotFoundError, FileNotFoundError)
    True
    """


class BudgetError(ValueError):
    """The exported student exceeds the flash or RAM budget.

    Its report is written to ``report.over_budget.json`` and kept in the
    error's ``report`` attribute; files of an earlier export in the same
    folder are left as they were.

    Examples
    --------
    >>> from embedclf.distill import BudgetError
    >>> issubclass(BudgetError, ValueError)
    True
    """


class UnsupportedOpError(ValueError):
    """The model uses an op TensorFlow Lite Micro cannot run.

    Examples
    --------
    >>> from embedclf.distill import UnsupportedOpError
    >>> issubclass(UnsupportedOpError, ValueError)
    True
    """


class TeacherClassesWarning(UserWarning):
    """The teacher, refitted without the held-out clips, knows other classes than before.

    Raised by :func:`embedclf.distill.distill_and_export`.

    Examples
    --------
    >>> from embedclf.distill.flow import TeacherClassesWarning
    >>> issubclass(TeacherClassesWarning, UserWarning)
    True
    """


class TeacherTargetsWarning(UserWarning):
    """The teacher's answers about the student's windows are far worse than about whole clips.

    The distiller asks its teacher about every student window (hearing
    ``teacher_context`` of audio around it) and measures, on the labelled
    training clips, how often those answers, averaged over a clip's windows,
    name the clip's label; when that falls far below the teacher's accuracy
    on the same clips heard whole, the student learns from poor targets.
    Issued by :class:`embedclf.distill.Distiller`'s ``fit``.

    Examples
    --------
    >>> from embedclf.distill import TeacherTargetsWarning
    >>> issubclass(TeacherTargetsWarning, UserWarning)
    True
    """


class ResamplingWarning(UserWarning):
    """A stream's rate differs from the model's: it is resampled (said once).

    Raised by :class:`embedclf.stream.Recognizer`.

    Examples
    --------
    >>> from embedclf.stream import ResamplingWarning
    >>> issubclass(ResamplingWarning, UserWarning)
    True
    """


class UnsupportedNetworkError(ValueError):
    """The network has an operator or a layout the C library does not compile.

    The message names the operator; the TensorFlow Lite Micro path
    (``model_data.c`` with the listed ops registered) still runs it.

    Examples
    --------
    >>> from embedclf.distill.clib import UnsupportedNetworkError
    >>> issubclass(UnsupportedNetworkError, ValueError)
    True
    """


class ToolMissingError(RuntimeError):
    """A compiler, ``make`` or the emulator is not installed.

    Examples
    --------
    >>> from embedclf.distill.verify import ToolMissingError
    >>> issubclass(ToolMissingError, RuntimeError)
    True
    """


class ClusterUnavailableError(ConnectionError):
    """The Dask scheduler asked for cannot be reached (nothing was computed).

    Examples
    --------
    >>> from embedclf.distributed import ClusterUnavailableError
    >>> issubclass(ClusterUnavailableError, OSError)
    True
    """


class ProjectError(ValueError):
    """A studio request the project cannot carry out (a bad name, a missing clip, a path escape).

    Examples
    --------
    >>> from embedclf.studio.project import ProjectError
    >>> isinstance(ProjectError("no clip 'a/b.wav'"), ValueError)
    True
    """
