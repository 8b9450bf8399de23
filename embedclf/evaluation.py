"""Cross-validation over the folds a dataset defines, and its report.

:func:`cross_validate_folds` never lets a fold (or a group: a speaker, a
source recording) appear on both sides of a split, and returns a
:class:`FoldReport` with per-fold accuracy and macro-F1, their mean and
standard deviation, the pooled confusion matrix and every prediction. The
report saves itself as CSV, JSON and a confusion-matrix PNG.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.pipeline import FeatureUnion, Pipeline

# re-exported: reports and callers write atomically
from ._utils.jsonsafe import json_safe
from ._utils.parallel import blas_threads as blas_limit  # fold_scores has a blas_threads argument
from .distributed import active_client
from .files import atomic_write, atomic_write_data

__all__ = [
    "cross_validate_folds",
    "fold_scores",
    "fit_estimator",
    "shared_steps",
    "FoldReport",
    "fold_splits",
    "dataset_protocol",
    "atomic_write",
    "atomic_write_data",
]


def fold_splits(n, *, y=None, folds=None, groups=None, split=None, n_splits=5, random_state=0):
    """Train/test index pairs that respect the dataset's own structure.

    Priority: predefined ``folds`` (each value is one test fold), then a
    predefined ``split`` (rows marked ``"test"`` are the test set, the rest
    train; ``"validation"`` rows are left out), then ``groups``
    (StratifiedGroupKFold), then StratifiedKFold.

    Parameters
    ----------
    n : int
    y : array-like, optional
    folds, groups, split : array-like of shape (n,), optional
    n_splits : int, default=5
    random_state : int, default=0

    Returns
    -------
    list of (name, train_idx, test_idx)

    Raises
    ------
    ValueError
        A group appears in more than one fold (the folds would leak).

    Examples
    --------
    >>> from embedclf.evaluation import fold_splits
    >>> [(name, test.tolist()) for name, _, test in fold_splits(4, folds=[1, 2, 1, 2])]
    [('1', [0, 2]), ('2', [1, 3])]
    """
    idx = np.arange(n)
    if folds is not None:
        folds = np.asarray(folds)
        if groups is not None:
            g = pd.DataFrame({"g": np.asarray(groups), "f": folds})
            leaking = g.groupby("g")["f"].nunique()
            leaking = leaking[leaking > 1]
            if len(leaking):
                raise ValueError(
                    f"{len(leaking)} group(s) span several folds (e.g. {leaking.index[0]!r}); "
                    "clips of one source must stay in one fold"
                )
        values = sorted(np.unique(folds), key=lambda v: (str(type(v)), v))
        if len(values) < 2:
            raise ValueError("need at least two distinct folds to cross-validate")
        return [(str(v), idx[folds != v], idx[folds == v]) for v in values]
    if split is not None:
        split = np.asarray(split).astype(str)
        test = idx[split == "test"]
        train = idx[split == "train"]
        if not len(test) or not len(train):
            raise ValueError("split must mark some rows 'train' and some 'test'")
        # Groups are not checked here: a dataset's official split may share
        # groups on purpose (FSDD's split keeps every speaker on both sides).
        return [("test", train, test)]
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if groups is not None:
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        it = cv.split(idx, y, groups)
    else:
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        it = cv.split(idx, y)
    return [(str(k + 1), tr, te) for k, (tr, te) in enumerate(it)]


def dataset_protocol(df, *, n_splits=5):
    """How to cross-validate a dataset index, and that choice in words.

    The index's own ``fold`` column when it holds at least two folds (each
    held out once; a ``split`` column is then ignored); with a single fold
    present (part of a dataset), ``n_splits``-fold cross-validation within
    it, grouped by ``group`` when there is one, so no source is on both
    sides; else the ``split`` column, ``group`` or stratified folds, as
    :func:`fold_splits` ranks them.

    Parameters
    ----------
    df : pandas.DataFrame
        A dataset index (see :mod:`embedclf.datasets`): ``label`` and any of
        ``fold``, ``group``, ``split``.
    n_splits : int, default=5
        Folds to make when the index does not define at least two.

    Returns
    -------
    kwargs : dict
        ``folds``, ``groups``, ``split`` (arrays, those that apply) and
        ``n_splits``, for :func:`cross_validate_folds` or :func:`fold_splits`.
    protocol : str
        One sentence naming the protocol (and the fold, when only one is
        present).

    Examples
    --------
    >>> import pandas as pd
    >>> from embedclf.evaluation import dataset_protocol
    >>> df = pd.DataFrame({"label": list("abab"), "fold": [3] * 4, "group": list("wxyz")})
    >>> kwargs, protocol = dataset_protocol(df, n_splits=2)
    >>> sorted(kwargs)
    ['groups', 'n_splits']
    >>> protocol
    'only fold 3 present: 2-fold cross-validation within it, grouped by source'
    """
    cols = {c: df[c].to_numpy() for c in ("fold", "group", "split") if c in df}
    kwargs = {"n_splits": n_splits}
    if "group" in cols:
        kwargs["groups"] = cols["group"]
    if "fold" in cols:
        present = sorted(pd.unique(cols["fold"]).tolist(), key=lambda v: (str(type(v)), v))
        if len(present) >= 2:
            kwargs["folds"] = cols["fold"]
            shown = ", ".join(str(f) for f in present)
            return kwargs, f"the dataset's folds {shown}, each held out once"
        if len(present) == 1:
            how = "grouped by source" if "groups" in kwargs else "stratified"
            return kwargs, (
                f"only fold {present[0]} present: {n_splits}-fold cross-validation within it, {how}"
            )
    if "split" in cols:
        kwargs["split"] = cols["split"]
        return kwargs, "the dataset's train/test split"
    if "groups" in kwargs:
        return kwargs, f"{n_splits}-fold cross-validation grouped by source"
    return kwargs, f"{n_splits}-fold stratified cross-validation"


def _take(X, idx):
    if isinstance(X, np.ndarray):
        return X[idx]
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    return [X[i] for i in idx]


@dataclass
class FoldReport:
    """Results of :func:`cross_validate_folds`.

    Attributes
    ----------
    per_fold : pandas.DataFrame
        One row per fold: ``fold, n_train, n_test, accuracy, macro_f1,
        fit_seconds, predict_seconds``.
    predictions : pandas.DataFrame
        One row per test clip: ``index, fold, y_true, y_pred``.
    labels : list
        Class labels, in confusion-matrix order.
    confusion : pandas.DataFrame
        Pooled over folds; rows are true labels, columns predictions.
    name : str
        What was evaluated (for titles and file names).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from embedclf.evaluation import cross_validate_folds
    >>> import numpy as np
    >>> X = np.r_[np.zeros((6, 2)), np.ones((6, 2))]; y = np.r_[[0] * 6, [1] * 6]
    >>> rep = cross_validate_folds(LogisticRegression(), X, y, n_splits=3, progress=False)
    >>> rep.accuracy_mean
    1.0
    """

    per_fold: pd.DataFrame
    predictions: pd.DataFrame
    labels: list
    confusion: pd.DataFrame
    name: str = "model"
    meta: dict = field(default_factory=dict)

    @property
    def accuracy_mean(self):
        """Mean accuracy over folds."""
        return float(self.per_fold["accuracy"].mean())

    @property
    def accuracy_std(self):
        """Standard deviation of accuracy over folds (0 for one split)."""
        return float(self.per_fold["accuracy"].std(ddof=0))

    @property
    def f1_mean(self):
        """Mean macro-F1 over folds."""
        return float(self.per_fold["macro_f1"].mean())

    @property
    def f1_std(self):
        """Standard deviation of macro-F1 over folds."""
        return float(self.per_fold["macro_f1"].std(ddof=0))

    def summary(self):
        """Headline numbers as a JSON-ready dict.

        Returns
        -------
        dict
        """
        return {
            "name": self.name,
            "n_folds": int(len(self.per_fold)),
            "n_clips": int(len(self.predictions)),
            "accuracy_mean": self.accuracy_mean,
            "accuracy_std": self.accuracy_std,
            "macro_f1_mean": self.f1_mean,
            "macro_f1_std": self.f1_std,
            "per_fold": self.per_fold.to_dict(orient="records"),
            "labels": [str(x) for x in self.labels],
            "confusion": self.confusion.values.tolist(),
            **self.meta,
        }

    def __str__(self):
        lines = [
            f"{self.name}: accuracy {100 * self.accuracy_mean:.1f}% "
            f"± {100 * self.accuracy_std:.1f}, macro-F1 {100 * self.f1_mean:.1f}% "
            f"± {100 * self.f1_std:.1f} over {len(self.per_fold)} fold(s)"
        ]
        table = self.per_fold.copy()
        table["accuracy"] = (100 * table["accuracy"]).round(1)
        table["macro_f1"] = (100 * table["macro_f1"]).round(1)
        lines.append(table.to_string(index=False))
        if self.meta.get("shared_steps"):
            lines.append(
                f"({', '.join(self.meta['shared_steps'])} computed once for every clip in "
                f"{self.meta['shared_seconds']:.1f} s; fit_seconds is what each fold fits)"
            )
        return "\n".join(lines)

    def plot_confusion(self, ax=None, normalize=True):
        """Draw the pooled confusion matrix (rows: true, columns: predicted).

        Parameters
        ----------
        ax : matplotlib Axes, optional
        normalize : bool, default=True
            Show each row as fractions of its true class.

        Returns
        -------
        matplotlib Axes
        """
        if ax is None:
            import matplotlib.pyplot as plt

            n = len(self.labels)
            _, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.55 * n))
        cm = self.confusion.values.astype(float)
        if normalize:
            cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else None)
        labels = [str(x) for x in self.labels]
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(
            f"{self.name}: {100 * self.accuracy_mean:.1f}% ± {100 * self.accuracy_std:.1f}"
        )
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                if cm[i, j] > 0:
                    ax.text(
                        j,
                        i,
                        f"{cm[i, j]:.2f}" if normalize else int(cm[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if cm[i, j] > 0.6 * cm.max() else "black",
                    )
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.figure.tight_layout()
        return ax

    def save(self, out_dir):
        """Write ``folds.csv``, ``predictions.csv``, ``confusion.csv``,
        ``confusion.png``, then ``report.json`` (each atomically).

        ``report.json`` marks a complete report: it is removed first and
        written last, so when it is there every other file belongs to it;
        a failure midway leaves no ``report.json`` (and the exception).

        Parameters
        ----------
        out_dir : str or path-like

        Returns
        -------
        dict
            Paths written, by kind.
        """
        import matplotlib.pyplot as plt

        os.makedirs(out_dir, exist_ok=True)
        paths = {
            k: os.path.join(out_dir, f)
            for k, f in [
                ("json", "report.json"),
                ("folds", "folds.csv"),
                ("predictions", "predictions.csv"),
                ("confusion_csv", "confusion.csv"),
                ("confusion_png", "confusion.png"),
            ]
        }
        summary = json.dumps(json_safe(self.summary()), indent=2, default=str)  # fail early
        if os.path.lexists(paths["json"]):  # an older report's marker: not for a mixed set
            os.remove(paths["json"])
        atomic_write(paths["folds"], lambda p: self.per_fold.to_csv(p, index=False))
        atomic_write(paths["predictions"], lambda p: self.predictions.to_csv(p, index=False))
        atomic_write(paths["confusion_csv"], lambda p: self.confusion.to_csv(p))
        ax = self.plot_confusion()
        try:
            atomic_write(
                paths["confusion_png"], lambda p: ax.figure.savefig(p, dpi=120, format="png")
            )
        finally:
            plt.close(ax.figure)
        atomic_write_data(paths["json"], summary)
        return paths


def fit_estimator(estimator, X, y, *, blas_threads=1):
    """``estimator.fit(X, y)`` with BLAS held to ``blas_threads`` threads; returns the estimator.

    What ``embedclf train`` and the studio fit with. A linear head on a few
    hundred clips is a string of small matrix products, which BLAS threads
    slow down (a standardised logistic regression on 400 ESC-10 clips of
    ``logmel-linear`` features fitted in 0.1 s on one thread, 1.5 s on two);
    models with their own thread pools (LogMel, LiteRT, TensorFlow) keep
    them, as in :func:`fold_scores`.

    Parameters
    ----------
    estimator : scikit-learn estimator
    X, y : training data
    blas_threads : int or None, default=1
        ``None`` leaves BLAS as it is (e.g. a large linear model on many cores).

    Returns
    -------
    estimator

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from embedclf.evaluation import fit_estimator
    >>> model = fit_estimator(LogisticRegression(), np.eye(4), [0, 1, 0, 1])
    >>> model.classes_.tolist()
    [0, 1]
    """
    with blas_limit(blas_threads):
        return estimator.fit(X, y)


def fold_scores(estimator, X, y, fold_name, train, test, *, labels, blas_threads=1):
    """Fit a clone of ``estimator`` on ``train``, score it on ``test``: one fold's results.

    BLAS (NumPy's and SciPy's) is held to ``blas_threads`` threads while the
    fold runs: the matrix products of linear heads and of the log-mel
    projection are small, and BLAS threads cost more in synchronisation
    than they save. Models with their own thread pools (LiteRT, TensorFlow,
    ``LogMel(n_jobs=...)``) keep them.

    Parameters
    ----------
    estimator : scikit-learn estimator
    X : sequence of clips
    y : ndarray of shape (n_clips,)
    fold_name : str
    train, test : ndarray of int
        Indices into ``X`` and ``y``.
    labels : list
        Every class, for macro-F1.
    blas_threads : int or None, default=1
        BLAS threads while the fold runs; ``None`` leaves BLAS as it is (e.g.
        for a large linear model on many cores).

    Returns
    -------
    row : dict
        ``fold, n_train, n_test, accuracy, macro_f1, fit_seconds, predict_seconds``.
    predictions : pandas.DataFrame
        ``index, fold, y_true, y_pred`` of the test clips.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from embedclf.evaluation import fold_scores
    >>> X, y = np.zeros((4, 1)), np.array(["a", "a", "a", "b"])
    >>> row, _ = fold_scores(DummyClassifier(), X, y, "1", np.array([0, 1, 3]), np.array([2]),
    ...                      labels=["a", "b"])
    >>> row["accuracy"]
    1.0
    """
    model = clone(estimator)
    with blas_limit(blas_threads):
        t0 = time.perf_counter()
        model.fit(_take(X, train), y[train])
        t1 = time.perf_counter()
        y_pred = np.asarray(model.predict(_take(X, test)))
        t2 = time.perf_counter()
    if len(y_pred) != len(test):
        raise RuntimeError(
            f"fold {fold_name}: model returned {len(y_pred)} predictions for {len(test)} clips"
        )
    row = {
        "fold": fold_name,
        "n_train": len(train),
        "n_test": len(test),
        "accuracy": accuracy_score(y[test], y_pred),
        "macro_f1": f1_score(y[test], y_pred, average="macro", labels=labels, zero_division=0),
        "fit_seconds": round(t1 - t0, 3),
        "predict_seconds": round(t2 - t1, 3),
    }
    return row, pd.DataFrame(
        {"index": test, "fold": fold_name, "y_true": y[test], "y_pred": y_pred}
    )


def _is_passthrough(step):
    return step is None or (isinstance(step, str) and step == "passthrough")


def _learns_nothing(step):
    if _is_passthrough(step):
        return True
    if isinstance(step, Pipeline):
        return all(_learns_nothing(s) for _, s in step.steps)
    if isinstance(step, FeatureUnion):
        return all(_learns_nothing(s) for _, s in step.transformer_list)
    return getattr(step, "learns_from_data", True) is False


def shared_steps(estimator):
    """Names of a pipeline's leading steps that learn nothing from their training clips.

    A step qualifies when it declares ``learns_from_data = False`` (every
    clip transformer: :class:`~embedclf.LogMel`, :class:`~embedclf.MFCC`,
    the pretrained embeddings, :class:`~embedclf.AudioLoader`; and
    :class:`~embedclf.WindowAggregator`), or is ``"passthrough"``, or a
    nested pipeline or union made only of such steps. Their output for a
    clip is the same whichever clips they were fitted on, so
    :func:`cross_validate_folds` computes it once for every clip and fits
    only the remaining steps per fold. The final step never qualifies.

    Parameters
    ----------
    estimator : scikit-learn estimator

    Returns
    -------
    list of str
        Empty for anything but a :class:`~sklearn.pipeline.Pipeline`, or when
        its first step learns from data.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from embedclf import LogMel, WindowAggregator
    >>> from embedclf.evaluation import shared_steps
    >>> shared_steps(make_pipeline(LogMel(), WindowAggregator(), StandardScaler(),
    ...                            LogisticRegression()))
    ['logmel', 'windowaggregator']
    >>> shared_steps(make_pipeline(StandardScaler(), LogisticRegression()))
    []
    """
    if not isinstance(estimator, Pipeline):
        return []
    names, work = [], False
    for name, step in estimator.steps[:-1]:
        if not _learns_nothing(step):
            break
        names.append(name)
        work = work or not _is_passthrough(step)
    return names if work else []  # passthrough steps alone: nothing to share


def _join(parts):
    """Outputs of consecutive parts of the clips, as one output of the same kind."""
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts)
    return [o for p in parts for o in p]


def _shared_features(front, X, *, client, progress, blas_threads):
    """``front`` (learns nothing) fitted, then applied once to every clip, in input order."""
    n = len(X)
    with blas_limit(blas_threads):
        front.fit(_take(X, [0]))  # learns nothing: one clip checks the parameters
        if client is not None:
            from .distributed import map_clips

            out, _ = map_clips(
                front,
                "transform",
                X,
                client=client,
                progress=progress,
                desc="features",
                concatenate=True,
            )
            return out
        if not progress:
            return front.transform(X)
        from tqdm.auto import tqdm

        # about twenty updates; a clip's output does not depend on its neighbours
        step = max(1, math.ceil(n / 20))
        parts = []
        with tqdm(total=n, desc="features", unit="clip") as bar:
            for a in range(0, n, step):
                parts.append(front.transform(_take(X, np.arange(a, min(a + step, n)))))
                bar.update(min(a + step, n) - a)
        return _join(parts)


def _fold_task(X, y, estimator, fold_name, train, test, **kwargs):
    """:func:`fold_scores` with the clips first: the arguments every fold shares."""
    return fold_scores(estimator, X, y, fold_name, train, test, **kwargs)


def cross_validate_folds(
    estimator,
    X,
    y,
    *,
    folds=None,
    groups=None,
    split=None,
    n_splits=5,
    random_state=0,
    name=None,
    progress=True,
    blas_threads=1,
    share_features=True,
):
    """Cross-validate ``estimator`` over predefined folds, groups or a split.

    Each fold fits a fresh :func:`~sklearn.base.clone` on the other folds
    and predicts the held-out one; nothing learned is shared between folds.
    A pipeline's leading steps that learn nothing from data
    (:func:`shared_steps`: log-mel, embeddings, window pooling) run once
    over every clip before the folds, which then fit only the remaining
    steps: the scores are the same as fitting the whole pipeline per fold,
    at a fraction of the cost. When a Dask cluster is active (see
    :mod:`embedclf.distributed`), those features are computed across it by
    clip (:func:`embedclf.distributed.map_clips`) and the folds run as tasks
    on it (:func:`embedclf.distributed.map_calls`), with the same scores as
    here.

    Parameters
    ----------
    estimator : scikit-learn estimator
    X : sequence of clips (or any array-like the estimator accepts)
    y : array-like of shape (n_clips,)
    folds : array-like of int, optional
        Predefined folds (UrbanSound8K, ESC): each value is held out once.
    groups : array-like, optional
        Sources that must not be split across train and test; checked
        against ``folds`` when both are given, else used for
        StratifiedGroupKFold.
    split : array-like of str, optional
        A predefined train/test split (``"train"``/``"test"``), e.g. FSDD's.
    n_splits : int, default=5
        Folds to make when none are predefined.
    random_state : int, default=0
    name : str, optional
        Label for the report (default: the estimator's class name).
    progress : bool, default=True
        Show a progress bar over folds.
    blas_threads : int or None, default=1
        BLAS threads while each fold runs (see :func:`fold_scores`); ``None``
        leaves BLAS as it is.
    share_features : bool, default=True
        Compute the :func:`shared_steps` once for all folds. The report's
        ``meta`` then names them (``shared_steps``) with their wall-clock
        time (``shared_seconds``), and ``fit_seconds`` counts only what each
        fold fits. False fits the whole pipeline in every fold.

    Returns
    -------
    FoldReport

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from embedclf.evaluation import cross_validate_folds
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(4, 1, (20, 2))]
    >>> y = np.r_[["a"] * 20, ["b"] * 20]; folds = np.tile([1, 2, 3, 4], 10)
    >>> rep = cross_validate_folds(LogisticRegression(), X, y, folds=folds, progress=False)
    >>> rep.per_fold["fold"].tolist(), round(rep.accuracy_mean, 2)
    (['1', '2', '3', '4'], 1.0)
    """
    y = np.asarray(y)
    n = len(y)
    if len(X) != n:
        raise ValueError(f"X has {len(X)} clips but y has {n} labels")
    for arr, what in ((folds, "folds"), (groups, "groups"), (split, "split")):
        if arr is not None and len(arr) != n:
            raise ValueError(f"{what} has {len(arr)} entries, expected {n}")
    splits = fold_splits(
        n,
        y=y,
        folds=folds,
        groups=groups,
        split=split,
        n_splits=n_splits,
        random_state=random_state,
    )
    labels = sorted(np.unique(y).tolist(), key=str)
    client = active_client()
    name = name or type(estimator).__name__
    meta = {}
    shared = shared_steps(estimator) if share_features else []
    if shared:
        t0 = time.perf_counter()
        front = [
            (step, est if _is_passthrough(est) else clone(est))
            for step, est in estimator.steps[: len(shared)]
        ]
        front = Pipeline(front) if len(front) > 1 else front[0][1]
        X = _shared_features(front, X, client=client, progress=progress, blas_threads=blas_threads)
        if len(X) != n:
            raise ValueError(
                f"steps {', '.join(shared)} gave {len(X)} outputs for {n} clips: a step skipped "
                "clips it could not read (on_error='skip'). Load the clips first with "
                "embedclf.audio.load_clips(..., on_error='skip') and evaluate the ones it keeps."
            )
        estimator = clone(estimator).set_params(**{step: "passthrough" for step in shared})
        meta = {"shared_steps": shared, "shared_seconds": round(time.perf_counter() - t0, 3)}

    def track(folds_done):
        if not progress:
            return list(folds_done)
        from tqdm.auto import tqdm

        return list(tqdm(folds_done, total=len(splits), desc="folds", unit="fold"))

    if client is None:
        results = track(
            fold_scores(
                estimator, X, y, fold_name, train, test, labels=labels, blas_threads=blas_threads
            )
            for fold_name, train, test in splits
        )
    else:  # a Dask cluster is active: one task per fold, the clips sent to each worker once
        from .distributed import map_calls

        calls = [
            ((estimator, fold_name, train, test), {"labels": labels, "blas_threads": blas_threads})
            for fold_name, train, test in splits
        ]
        results = map_calls(
            _fold_task,
            calls,
            client=client,
            shared=(X, y),
            progress=progress,
            desc="folds",
            unit="fold",
        )
    rows = [row for row, _ in results]
    preds = [pred for _, pred in results]
    predictions = pd.concat(preds, ignore_index=True)
    cm = confusion_matrix(predictions["y_true"], predictions["y_pred"], labels=labels)
    confusion = pd.DataFrame(
        cm, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="predicted")
    )
    return FoldReport(pd.DataFrame(rows), predictions, labels, confusion, name, meta)
