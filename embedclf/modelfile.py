"""Model files that do not run code: save and load fitted embedclf models.

:func:`save_model` writes a `skops <https://skops.readthedocs.io>`_ file: the
scikit-learn parts as skops state (arrays stored with ``allow_pickle=False``),
the Keras network of a :class:`~embedclf.models.KerasCNN` (also a
:class:`~embedclf.distill.Distiller`'s student) as the bytes of a ``.keras``
archive. :func:`load_model` creates only the types on :data:`TRUSTED_TYPES`
(plus skops' own defaults and what the caller adds with ``trusted=``) and
loads the Keras network with ``safe_mode=True``, so no code stored in the file
runs. Pickle/joblib files still load, but only with ``trust_pickle=True``.
"""

from __future__ import annotations

import functools
import os
import types
import zipfile

from .exceptions import ModelFileError, UntrustedModelError

__all__ = [
    "save_model",
    "load_model",
    "is_skops_file",
    "TRUSTED_TYPES",
    "ModelFileError",
    "UntrustedModelError",
]

#: Types a skops model file may create beyond skops' defaults. embedclf's own estimators
#: and helpers, and every scikit-learn type of the named pipelines (``embedclf
#: pipelines``; tests/test_modelfile.py checks each one), so this list does not depend on
#: what a skops version happens to trust. numpy arrays and scalars are data, stored as
#: ``.npy`` without pickle.
TRUSTED_TYPES = (
    "embedclf.audio.AudioLoader",
    "embedclf.distill.distiller.Distiller",
    "embedclf.features.birdnet.BirdNETEmbedding",
    "embedclf.features.logmel.LogMel",
    "embedclf.features.logmel.MFCC",
    "embedclf.features.openl3.OpenL3Embedding",
    "embedclf.features.views.SpeedViews",
    "embedclf.features.windows.WindowAggregator",
    "embedclf.models.augment.Augmenter",
    "embedclf.models.cnn.KerasCNN",
    # KerasCNN's state holds its network as .keras bytes, loaded with safe_mode=True
    "embedclf.models.cnn._KerasBytes",
    "embedclf.models.views.ViewsClassifier",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.Normalizer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
)


def _one_line(text):
    return " ".join(str(text).split())


def _stored_functions(obj, where="", seen=None):
    """``(attribute path, function)`` for every function held by an estimator in ``obj``."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(
        obj, (types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial)
    ):
        yield where, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _stored_functions(value, f"{where}[{key!r}]", seen)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _stored_functions(value, f"{where}[{i}]", seen)
    elif hasattr(obj, "get_params") and hasattr(obj, "__dict__"):
        for key, value in vars(obj).items():
            yield from _stored_functions(value, f"{where}.{key}" if where else key, seen)


def save_model(model, path):
    """Save a fitted (or unfitted) model as a skops file that loads without running code.

    The file is written atomically: a crash leaves the old file or none. The
    Keras network of a :class:`~embedclf.models.KerasCNN` (a Distiller's
    student too) is stored as the bytes of its ``.keras`` archive.

    Parameters
    ----------
    model : estimator
        E.g. a pipeline from :func:`embedclf.pipelines.make_pipeline`. Types outside
        :data:`TRUSTED_TYPES` are saved, but :func:`load_model` then needs them in
        its ``trusted`` argument.
    path : str or path-like
        Conventionally ending in ``.skops``.

    Raises
    ------
    ModelFileError
        When the model holds a Python function (e.g. a callable ``architecture``):
        a safe file stores no code, so use a named option instead.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from embedclf.modelfile import load_model, save_model
    >>> from embedclf.pipelines import make_pipeline
    >>> X = [np.random.default_rng(i).standard_normal(8000) for i in range(4)]
    >>> model = make_pipeline("logmel-linear", mel__sr=8000).fit(X, ["a", "b"] * 2)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skops")
    >>> save_model(model, path)
    >>> load_model(path).predict(X).tolist() == model.predict(X).tolist()
    True
    """
    found = next(_stored_functions(model), None)
    if found is not None:
        where, func = found
        name = getattr(func, "__qualname__", None) or repr(func)
        named = (
            " (e.g. architecture='strided_ds')"
            if where.rsplit(".", 1)[-1] in ("architecture", "student")
            else ""
        )
        raise ModelFileError(
            f"cannot save this {type(model).__name__} safely: {where} is the Python function "
            f"{name}, and a safe model file stores no code; use a named option instead{named}, "
            "or pickle it yourself and load it with trust_pickle=True"
        )
    import skops.io as sio

    from .files import atomic_write_data

    data = sio.dumps(model)  # before touching the file: a failure leaves it as it was
    atomic_write_data(path, data)


def is_skops_file(path):
    """Whether ``path`` is a skops file (a zip archive with a ``schema.json``).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    bool

    Examples
    --------
    >>> import os, pickle, tempfile
    >>> from embedclf.modelfile import is_skops_file
    >>> path = os.path.join(tempfile.mkdtemp(), "m.pkl")
    >>> _ = open(path, "wb").write(pickle.dumps([1, 2]))
    >>> is_skops_file(path)
    False
    """
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return "schema.json" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _starts_like_a_zip(path):
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def _type_name(t):
    return t if isinstance(t, str) else f"{t.__module__}.{t.__qualname__}"


def _load_skops(path, trusted):
    import skops.io as sio

    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a damaged archive or schema
        raise ModelFileError(
            _one_line(f"{path}: not a readable skops model file ({type(exc).__name__}: {exc})")
        ) from None
    allowed = set(TRUSTED_TYPES) | {_type_name(t) for t in trusted or ()}
    refused = sorted(t for t in found if t not in allowed)
    if refused:
        raise UntrustedModelError(
            f"{path}: holds types embedclf does not trust: {', '.join(refused)}; inspect them "
            "(skops.io.get_untrusted_types(file=...)) and, only if you trust them, load it "
            "in Python with embedclf.modelfile.load_model(path, trusted=[...])",
            refused,
        )
    try:
        return sio.load(path, trusted=found)
    except Exception as exc:
        if "safe_mode" in str(exc):  # keras refused a Lambda layer or other stored code
            raise UntrustedModelError(
                f"{path}: its Keras network holds Python code (e.g. a Lambda layer), which "
                "Keras safe mode refuses to run; embedclf never saves such a network"
            ) from None
        raise ModelFileError(
            _one_line(f"{path}: not a readable embedclf model ({type(exc).__name__}: {exc})")
        ) from None


def load_model(path, *, trust_pickle=False, trusted=None):
    """Load a model saved by :func:`save_model` (or, when trusted, a pickle/joblib file).

    A skops file creates only the types on :data:`TRUSTED_TYPES`, skops' own
    defaults and ``trusted``; a Keras network inside loads with
    ``safe_mode=True``. Nothing in the file runs.

    .. warning::
        A pickle (or joblib) file can execute arbitrary code when it is loaded,
        as scikit-learn's model-persistence guide warns: never load one from a
        source you do not trust. It loads here only with ``trust_pickle=True``
        (command line: ``--trust-pickle``); re-save a trusted one with
        :func:`save_model` to get a safe file.

    Parameters
    ----------
    path : str or path-like
    trust_pickle : bool, default=False
        Load a file that is not a skops file as a pickle/joblib file, running
        whatever code it holds. Has no effect on skops files.
    trusted : sequence of str or type, optional
        More types a skops file may create (``"module.Class"`` names), for
        models with your own estimators. Inspect a file's types first with
        ``skops.io.get_untrusted_types(file=path)``.

    Returns
    -------
    estimator
        An object with ``fit``, ``get_params`` and ``predict``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    UntrustedModelError
        A pickle without ``trust_pickle``; a skops file with types not trusted;
        a Keras network holding code.
    ModelFileError
        An unreadable file, or one that holds no estimator with ``predict``.

    Examples
    --------
    >>> import os, pickle, tempfile
    >>> from embedclf.modelfile import load_model
    >>> path = os.path.join(tempfile.mkdtemp(), "model.pkl")
    >>> _ = open(path, "wb").write(pickle.dumps({"not": "a model"}))
    >>> load_model(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    embedclf.exceptions.UntrustedModelError: ...model.pkl is not a skops model file: ...
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path}")
    if is_skops_file(path):
        model = _load_skops(path, trusted)
    elif _starts_like_a_zip(path):  # e.g. a truncated .skops file: no pickle either
        raise ModelFileError(
            f"{path} is a zip archive but not a readable skops model file "
            "(damaged, or not written by embedclf.modelfile.save_model)"
        )
    elif not trust_pickle:
        raise UntrustedModelError(
            f"{path} is not a skops model file: embedclf treats it as a pickle/joblib file, "
            "and loading a pickle can run any code it holds; only if you trust its source, "
            "load it with trust_pickle=True and re-save it "
            "with embedclf.modelfile.save_model"
        )
    else:
        import joblib

        try:
            model = joblib.load(path)
        except Exception as exc:  # a truncated or foreign file: say so in one line
            raise ModelFileError(
                _one_line(
                    f"{path}: not a readable pickle/joblib model ({type(exc).__name__}: {exc})"
                )
            ) from None
    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        raise ModelFileError(
            f"{path} holds a {type(model).__module__}.{type(model).__name__}, "
            "not an estimator; use a model written by `embedclf train`"
        )
    if not hasattr(model, "predict"):
        raise ModelFileError(
            f"{path} holds a {type(model).__name__} without a predict method "
            "(not a classifier); use a model written by `embedclf train`"
        )
    return model
