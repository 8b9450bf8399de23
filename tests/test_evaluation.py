"""Fold cross-validation: no leakage, correct numbers, saved reports."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from embedclf import LogMel, WindowAggregator
from embedclf.evaluation import (
    atomic_write,
    cross_validate_folds,
    dataset_protocol,
    fold_splits,
    shared_steps,
)
from embedclf.exceptions import SkippedClipsWarning
from embedclf.features.views import SpeedViews


class Recorder(ClassifierMixin, BaseEstimator):
    """Predicts the majority training label and remembers what it trained on."""

    seen = []

    def fit(self, X, y):
        Recorder.seen.append(np.asarray(X)[:, 0].tolist())
        vals, counts = np.unique(y, return_counts=True)
        self.label_ = vals[counts.argmax()]
        self.classes_ = vals
        return self

    def predict(self, X):
        return np.full(len(X), self.label_)


def test_predefined_folds_never_mix():
    folds = np.array([1, 2, 3, 1, 2, 3, 1, 2, 3])
    for name, train, test in fold_splits(9, folds=folds):
        assert set(folds[test]) == {int(name)} and int(name) not in set(folds[train])


def test_groups_spanning_folds_are_rejected():
    with pytest.raises(ValueError, match="span several folds"):
        fold_splits(4, folds=[1, 1, 2, 2], groups=["a", "b", "b", "c"])


def test_groups_without_folds_stay_together():
    y = np.array(["a", "b"] * 10)
    groups = np.repeat(np.arange(10), 2)
    for _, train, test in fold_splits(20, y=y, groups=groups, n_splits=5):
        assert not set(groups[train]) & set(groups[test])


def test_split_uses_official_test_rows():
    split = np.array(["train", "test", "train", "validation"])
    [(name, train, test)] = fold_splits(4, split=split)
    assert train.tolist() == [0, 2] and test.tolist() == [1]


def test_estimator_trains_only_on_other_folds():
    Recorder.seen = []
    X = np.arange(12).reshape(-1, 1)
    y = np.array(["a", "b", "a"] * 4)
    folds = np.repeat([1, 2, 3], 4)
    rep = cross_validate_folds(Recorder(), X, y, folds=folds, progress=False)
    assert [sorted(s) for s in Recorder.seen] == [
        list(range(4, 12)),
        list(range(0, 4)) + list(range(8, 12)),
        list(range(0, 8)),
    ]
    # accuracy by hand: majority 'a' is right for 'a' rows in each test fold
    expected = [np.mean(y[folds == k] == "a") for k in (1, 2, 3)]
    np.testing.assert_allclose(rep.per_fold["accuracy"], expected)
    assert rep.accuracy_mean == pytest.approx(np.mean(expected))
    assert rep.accuracy_std == pytest.approx(np.std(expected))
    assert rep.confusion.loc["b", "a"] == 4 and rep.confusion.values.sum() == 12
    assert rep.predictions["index"].sort_values().tolist() == list(range(12))


def test_report_saves_files(tmp_path):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (30, 2)), rng.normal(3, 1, (30, 2))]
    y = np.r_[["low"] * 30, ["high"] * 30]
    rep = cross_validate_folds(LogisticRegression(), X, y, n_splits=3, name="toy", progress=False)
    paths = rep.save(tmp_path / "rep")
    summary = json.loads(open(paths["json"]).read())
    assert summary["name"] == "toy" and summary["n_folds"] == 3
    assert summary["accuracy_mean"] == pytest.approx(rep.accuracy_mean)
    assert pd.read_csv(paths["folds"]).shape[0] == 3
    assert open(paths["confusion_png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "toy: accuracy" in str(rep)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.csv"
    atomic_write(target, lambda p: open(p, "w").write("old"))

    def crash(p):
        open(p, "w").write("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, crash)
    assert target.read_text() == "old" and [f.name for f in tmp_path.iterdir()] == ["out.csv"]


def test_length_mismatches_are_errors():
    with pytest.raises(ValueError, match="3 clips but y has 2"):
        cross_validate_folds(LogisticRegression(), np.zeros((3, 1)), [0, 1], progress=False)
    with pytest.raises(ValueError, match="folds has 2 entries"):
        cross_validate_folds(
            LogisticRegression(), np.zeros((3, 1)), [0, 1, 0], folds=[1, 2], progress=False
        )


def test_dataset_protocol_keeps_the_folds_and_falls_back_within_a_single_fold():
    df = pd.DataFrame(
        {
            "label": list("ab") * 6,
            "fold": [1, 1, 2, 2] * 3,
            "group": [f"s{i // 2}" for i in range(12)],
            "split": ["train"] * 12,
        }
    )
    kwargs, protocol = dataset_protocol(df)
    assert sorted(kwargs) == ["folds", "groups", "n_splits"]  # the folds win over the split
    assert protocol == "the dataset's folds 1, 2, each held out once"
    assert [name for name, _, _ in fold_splits(12, y=df["label"], **kwargs)] == ["1", "2"]
    single = df.assign(fold=7).drop(columns=["group", "split"])
    kwargs, protocol = dataset_protocol(single, n_splits=3)
    assert sorted(kwargs) == ["n_splits"]
    assert protocol == "only fold 7 present: 3-fold cross-validation within it, stratified"
    tests = [test for _, _, test in fold_splits(12, y=single["label"], **kwargs)]
    assert len(tests) == 3 and sorted(np.concatenate(tests).tolist()) == list(range(12))


def blas_threads():
    """The thread counts of the BLAS libraries loaded in this process."""
    from threadpoolctl import threadpool_info

    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


class BlasThreads(ClassifierMixin, BaseEstimator):
    """A logistic regression that records the BLAS thread counts it fits under."""

    seen = []

    def fit(self, X, y):
        BlasThreads.seen.append(blas_threads())
        self.model_ = LogisticRegression(max_iter=500).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_folds_run_with_one_blas_thread_and_the_same_scores():
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 40))
    y = np.repeat(np.arange(4), 30)
    X[np.arange(120), y] += 3.0
    folds = np.tile(np.arange(1, 5), 30)
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        BlasThreads.seen.clear()
        one = cross_validate_folds(BlasThreads(), X, y, folds=folds, progress=False)
        assert BlasThreads.seen == [{1}] * 4
        BlasThreads.seen.clear()
        as_is = cross_validate_folds(
            BlasThreads(), X, y, folds=folds, progress=False, blas_threads=None
        )
        assert BlasThreads.seen == [before] * 4
        after = blas_threads()
    assert after == before  # the limit is lifted when the folds are done
    pd.testing.assert_frame_equal(one.predictions, as_is.predictions)
    assert 0.5 < one.accuracy_mean == as_is.accuracy_mean


class CountingLogMel(LogMel):
    """LogMel that records how many clips each ``transform`` call received."""

    calls = []

    def transform(self, X):
        CountingLogMel.calls.append(len(X))
        return super().transform(X)


class LearningScaler(TransformerMixin, BaseEstimator):
    """A clip-level step that learns from data (centres each sequence by the training mean)."""

    def fit(self, X, y=None):
        self.mean_ = np.mean([S.mean() for S in X])
        return self

    def transform(self, X):
        return [S - self.mean_ for S in X]


def _events():
    from embedclf.datasets import make_sound_events

    X, y = make_sound_events(n_per_class=8, sr=8000, duration=0.5, random_state=0)[:2]
    folds = np.tile([1, 2, 3, 4], len(y) // 4 + 1)[: len(y)]
    return X, y, folds


@pytest.mark.parametrize("progress", [False, True])
def test_steps_that_learn_nothing_run_once_with_the_same_scores(progress):
    """Every clip goes through the log-mel step once, not once per fold, and the
    predictions are those of fitting the whole pipeline in every fold."""
    X, y, folds = _events()
    model = make_pipeline(
        CountingLogMel(sr=8000, n_mels=16),
        WindowAggregator(stats=("mean", "std", "max")),
        StandardScaler(),
        LogisticRegression(max_iter=500),
    )
    CountingLogMel.calls.clear()
    shared = cross_validate_folds(model, X, y, folds=folds, progress=progress)
    # fit checks one clip; then every clip once (in parts when showing progress)
    assert CountingLogMel.calls[0] == 1 and sum(CountingLogMel.calls[1:]) == len(y)
    CountingLogMel.calls.clear()
    whole = cross_validate_folds(model, X, y, folds=folds, progress=False, share_features=False)
    assert sum(CountingLogMel.calls) > 4 * len(y) // 2  # every fold transforms its clips
    pd.testing.assert_frame_equal(shared.predictions, whole.predictions)
    assert shared.per_fold["accuracy"].tolist() == whole.per_fold["accuracy"].tolist()
    assert shared.accuracy_mean > 0.6  # the task is learnable: equal scores are not both chance
    assert shared.meta["shared_steps"] == ["countinglogmel", "windowaggregator"]
    assert shared.meta["shared_seconds"] >= 0 and "shared_steps" not in whole.meta
    assert "computed once for every clip" in str(shared)
    assert json.loads(json.dumps(shared.summary()))["shared_steps"] == shared.meta["shared_steps"]


def test_shared_steps_stop_at_the_first_step_that_learns():
    mel, agg = LogMel(sr=8000), WindowAggregator()
    clf = LogisticRegression()
    assert shared_steps(make_pipeline(mel, LearningScaler(), agg, clf)) == ["logmel"]
    assert shared_steps(make_pipeline(LearningScaler(), mel, agg, clf)) == []
    assert shared_steps(make_pipeline(StandardScaler(), clf)) == []
    assert shared_steps(clf) == []
    assert shared_steps(make_pipeline(mel, agg)) == ["logmel"]  # the final step never
    nested = Pipeline([("front", make_pipeline(mel, agg)), ("clf", clf)])
    assert shared_steps(nested) == ["front"]
    union = Pipeline([("both", FeatureUnion([("a", agg), ("b", WindowAggregator())])), ("c", clf)])
    assert shared_steps(Pipeline([("mel", mel), *union.steps])) == ["mel", "both"]
    learning_union = FeatureUnion([("a", agg), ("s", LearningScaler())])
    assert shared_steps(Pipeline([("mel", mel), ("u", learning_union), ("c", clf)])) == ["mel"]
    assert shared_steps(Pipeline([("p", "passthrough"), ("c", clf)])) == []
    assert shared_steps(Pipeline([("p", "passthrough"), ("mel", mel), ("c", clf)])) == ["p", "mel"]
    # a speed-views wrapper learns what its transformer learns
    assert shared_steps(Pipeline([("v", SpeedViews(mel)), ("a", agg), ("c", clf)])) == ["v", "a"]
    views = SpeedViews(LearningScaler())
    assert shared_steps(Pipeline([("v", views), ("c", clf)])) == []


def test_a_shared_step_that_skips_clips_is_a_clear_error():
    X, y, folds = _events()
    X = list(X)
    X[3] = np.full(4000, np.nan, dtype=np.float32)  # cannot be transformed: skipped
    model = make_pipeline(
        LogMel(sr=8000, n_mels=16, on_error="skip"), WindowAggregator(), LogisticRegression()
    )
    n = len(y)
    with pytest.warns(SkippedClipsWarning, match="clip 3"):
        with pytest.raises(ValueError, match=f"{n - 1} outputs for {n} clips.*load_clips"):
            cross_validate_folds(model, X, y, folds=folds, progress=False)
