"""The toolkit inside scikit-learn: Pipeline on paths, persistence, grid search."""

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline

from embedclf import AudioLoader, LogMel, WindowAggregator
from embedclf.pipelines import available_pipelines, make_pipeline, pipeline_sr


def path_pipeline():
    return Pipeline(
        [
            ("load", AudioLoader(sr=22050)),
            ("mel", LogMel(sr=22050)),
            ("agg", WindowAggregator()),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    )


def test_pipeline_on_paths_pickles_and_predicts_the_same(event_files, tmp_path):
    _, df = event_files
    X, y = df["path"].tolist(), df["label"].to_numpy()
    model = path_pipeline().fit(X, y)
    before = model.predict_proba(X)
    assert (model.predict(X) == y).mean() > 0.9  # fits its own training data
    joblib.dump(model, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(again.predict_proba(X), before)
    assert list(again.classes_) == sorted(set(y))


def test_grid_search_over_feature_and_classifier_params(events):
    X, y, _ = events
    pipe = make_pipeline("logmel-linear", mel__sr=16000)
    grid = GridSearchCV(pipe, {"mel__n_mels": [32, 64], "clf__C": [0.1, 1.0]}, cv=3)
    grid.fit(X, y)
    assert set(grid.best_params_) == {"mel__n_mels", "clf__C"}
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_score_ > 0.6  # five balanced classes: chance is 0.2


def test_cross_val_score_with_forest(events):
    X, y, _ = events
    pipe = make_pipeline("logmel-forest", mel__sr=16000, clf__n_estimators=50)
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.6


def test_registry():
    names = available_pipelines()
    assert {"logmel-linear", "logmel-forest", "mfcc-linear"} <= set(names)
    assert pipeline_sr(make_pipeline("mfcc-linear", mfcc__sr=8000)) == 8000
    assert isinstance(make_pipeline("logmel-forest")[-1], RandomForestClassifier)
    with pytest.raises(ValueError, match="unknown pipeline 'nope'; available: "):
        make_pipeline("nope")
