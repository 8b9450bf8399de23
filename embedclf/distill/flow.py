"""Distil and export in one call: held-out clips, teacher refit, student, MCU files, report.

What ``embedclf distill`` does, as a library call: :func:`distill_and_export`.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import TeacherClassesWarning  # re-exported
from ..files import check_replaceable
from ..recipe import RECIPE, TEST_FRACTION
from .export import export

__all__ = ["distill_and_export", "held_out_split", "TeacherClassesWarning", "TEST_FRACTION"]


def held_out_split(y, *, folds=None, test_fold=None, test_fraction=TEST_FRACTION, random_state=0):
    """Clips to distil on and clips held out: a fold, or a stratified share.

    Parameters
    ----------
    y : array-like of shape (n_clips,)
        Labels (stratify the share when every class can be on both sides).
    folds : array-like of shape (n_clips,) or None, default=None
        Each clip's fold; needed with ``test_fold``.
    test_fold : int or None, default=None
        Hold out the clips of this fold.
    test_fraction : float, default=0.2
        Held-out share of the clips when no ``test_fold`` is given.
    random_state : int, default=0

    Returns
    -------
    train, test : ndarray of bool, shape (n_clips,)

    Raises
    ------
    ValueError
        When ``test_fold`` has no ``folds``, or the split leaves a side empty.

    Examples
    --------
    >>> from embedclf.distill import held_out_split
    >>> train, test = held_out_split(["a", "b"] * 5, test_fraction=0.2)
    >>> int(train.sum()), int(test.sum())
    (8, 2)
    >>> held_out_split(["a", "b"], folds=[1, 2], test_fold=2)[1].tolist()
    [False, True]
    """
    y = np.asarray(y)
    if test_fold is not None:
        if folds is None:
            raise ValueError(
                "test_fold needs the fold of each clip (folds=...): use a dataset "
                "with folds, or hold out test_fraction of the clips instead"
            )
        test = np.asarray(folds) == test_fold
    else:
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(y))
        try:  # stratified when every class can be on both sides
            _, te = train_test_split(
                idx, test_size=test_fraction, random_state=random_state, stratify=y
            )
        except ValueError:
            _, te = train_test_split(idx, test_size=test_fraction, random_state=random_state)
        test = np.isin(idx, te)
    if test.all() or not test.any():
        raise ValueError(
            "the held-out split is empty or takes every clip; change test_fold or test_fraction"
        )
    return ~test, test


def distill_and_export(
    teacher,
    X,
    y,
    out_dir,
    *,
    recipe=RECIPE,
    folds=None,
    test_fold=None,
    test_fraction=TEST_FRACTION,
    refit_teacher=True,
    max_flash_kb=None,
    max_ram_kb=None,
    random_state=0,
    verbose=0,
    extra=None,
    events=None,
):
    """Distil ``teacher`` into a microcontroller student and export it, scored on held-out clips.

    The whole flow of ``embedclf distill``: hold out clips
    (:func:`held_out_split`); refit a copy of the teacher without them
    (``refit_teacher``), so teacher and student are compared on clips neither
    has seen; distil a student with ``recipe``
    (:meth:`DistillRecipe.distiller <embedclf.recipe.DistillRecipe.distiller>`);
    export it to ``out_dir`` with its report (:func:`~embedclf.distill.export`,
    calibrated on the distillation clips) and check the budget.

    Parameters
    ----------
    teacher : estimator
        Fitted classifier over clips with ``predict_proba`` (e.g. a model
        trained with ``embedclf train``).
    X : sequence of clips
        Paths, or waveforms at the teacher's sample rate.
    y : array-like of shape (n_clips,)
        Labels.
    out_dir : str or path
        Export folder (replaced as a whole; see :func:`~embedclf.distill.export`).
    recipe : DistillRecipe, default=RECIPE
        The student and its training (:data:`embedclf.distill.RECIPE`).
    folds, test_fold, test_fraction
        Which clips are held out (:func:`held_out_split`).
    refit_teacher : bool, default=True
        Refit a clone of the teacher on the distillation clips only. With
        False the teacher is distilled as it is (its accuracy is then not a
        held-out number when it was trained on these clips).
    max_flash_kb, max_ram_kb : float or None, default=None
        Budget: exceeding it raises :class:`~embedclf.distill.BudgetError`
        (its report in ``report.over_budget.json`` and the error's ``report``).
    random_state : int, default=0
        Seeds the Distiller. The held-out split has its own fixed seed (0),
        so students of different seeds are scored on the same clips.
    verbose : int, default=0
        The Distiller's progress output.
    extra : dict or None, default=None
        More report entries (after ``teacher_refit_without_held_out``).
    events : dict or None, default=None
        Event settings of the C library (as :func:`~embedclf.distill.export` takes them).

    Returns
    -------
    dict
        The report, as written to ``report.json``.

    Warns
    -----
    TeacherClassesWarning
        When the refitted teacher knows other classes than the given one.

    Examples
    --------
    >>> import json, os, tempfile
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from embedclf import LogMel, WindowAggregator
    >>> from embedclf.datasets import make_sound_events
    >>> from embedclf.distill import RECIPE, distill_and_export
    >>> X, y, _ = make_sound_events(n_per_class=5, sr=16000, duration=1.0, random_state=0)
    >>> teacher = Pipeline([("mel", LogMel(sr=16000)), ("agg", WindowAggregator()),
    ...                     ("clf", LogisticRegression(max_iter=1000))]).fit(X, y)
    >>> out = tempfile.mkdtemp()
    >>> report = distill_and_export(teacher, X, y, out, recipe=RECIPE.replace(
    ...     width=0.5, epochs=1, augment_copies=0))
    >>> report["n_test_clips"], report["teacher_refit_without_held_out"]
    (5, True)
    >>> json.load(open(os.path.join(out, "report.json"))) == report
    True
    """
    check_replaceable(out_dir)  # export swaps the folder in whole: fail before training
    y = np.asarray(y)
    train, test = held_out_split(
        y, folds=folds, test_fold=test_fold, test_fraction=test_fraction, random_state=0
    )
    X_train = [X[i] for i in np.flatnonzero(train)]
    X_test = [X[i] for i in np.flatnonzero(test)]
    if refit_teacher:
        from sklearn.base import clone

        known = [str(c) for c in teacher.classes_]
        teacher = clone(teacher).fit(X_train, y[train])
        now = [str(c) for c in teacher.classes_]
        if now != known:
            warnings.warn(
                f"the saved teacher knew classes {known}; refitted on this data it knows {now}",
                TeacherClassesWarning,
                stacklevel=2,
            )
    student = recipe.distiller(teacher, random_state=random_state, verbose=verbose)
    student.fit(X_train, y[train])
    return export(
        student,
        out_dir,
        X_train,
        X_test=X_test,
        y_test=y[test],
        max_flash_kb=max_flash_kb,
        max_ram_kb=max_ram_kb,
        extra={"teacher_refit_without_held_out": bool(refit_teacher), **(extra or {})},
        events=events,
    )
