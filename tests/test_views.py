"""SpeedViews: a clip transformer run on each clip played at several speeds."""

import librosa
import numpy as np
import pytest
import soundfile as sf
import soxr
from sklearn.base import clone

from embedclf import LogMel, SpeedViews, WindowAggregator
from embedclf.exceptions import AudioError, SkippedClipsWarning
from embedclf.pipelines import make_pipeline, pipeline_sr

SR = 8000


def _mel(**kw):
    return LogMel(sr=SR, n_fft=512, hop_length=128, n_mels=64, **kw)


def _tone(freq, seconds=1.0):
    t = np.arange(int(SR * seconds)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_each_view_is_the_transformer_on_the_clip_resampled_by_soxr():
    rng = np.random.default_rng(0)
    clips = [(0.2 * rng.standard_normal(n)).astype(np.float32) for n in (8000, 5300)]
    speeds = (0.8, 1.0, 1.25)
    out = SpeedViews(_mel(), speeds=speeds).fit(clips).transform(clips)
    mel = _mel().fit(clips)
    for clip, got in zip(clips, out):
        # independent reference: soxr called directly, one view after the other
        views = [
            clip if s == 1.0 else soxr.resample(clip, int(SR * s), SR, quality="HQ") for s in speeds
        ]
        want = np.concatenate([mel.transform([v])[0] for v in views])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_a_faster_view_is_higher_and_shorter():
    """A 500 Hz tone played at 2x peaks near 1000 Hz in half the frames."""
    centres = librosa.mel_frequencies(n_mels=64 + 2, fmax=SR / 2)[1:-1]  # LogMel's htk=False
    frames = {}
    for speed in (1.0, 2.0):
        (S,) = SpeedViews(_mel(), speeds=(speed,)).fit([_tone(500)]).transform([_tone(500)])
        peak = centres[np.argmax(S.mean(0))]
        assert abs(peak - 500 * speed) < 0.1 * 500 * speed, (speed, peak)
        frames[speed] = len(S)
    assert frames[2.0] == pytest.approx(frames[1.0] / 2, abs=2)


def test_paths_and_waveforms_give_the_same_views(tmp_path):
    clip = _tone(300, 0.7)
    path = tmp_path / "tone.wav"
    sf.write(path, clip, SR, subtype="FLOAT")
    views = SpeedViews(_mel()).fit([clip])
    np.testing.assert_array_equal(views.transform([str(path)])[0], views.transform([clip])[0])


def test_unreadable_files_follow_on_error_and_are_named(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, _tone(300, 0.5), SR, subtype="FLOAT")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    X = [str(good), str(bad), str(good)]
    with pytest.raises(AudioError, match="bad.wav"):
        SpeedViews(_mel()).fit(X[:1]).transform(X)
    views = SpeedViews(_mel(), on_error="skip").fit(X[:1])
    with pytest.warns(SkippedClipsWarning, match="bad.wav"):
        out = views.transform(X)
    assert len(out) == 2 and np.array_equal(out[0], out[1])
    assert views.skipped_["index"].tolist() == [1]
    assert views.skipped_["source"].tolist() == [str(bad)]


@pytest.mark.parametrize("speeds", [(), (1.0, 0.0), (1.0, -0.5), (float("nan"),), ("fast",)])
def test_bad_speeds_are_refused_at_fit(speeds):
    with pytest.raises(ValueError, match="speeds must be"):
        SpeedViews(_mel(), speeds=speeds).fit([_tone(300)])


def test_a_transformer_without_a_sample_rate_is_refused():
    with pytest.raises(ValueError, match="has no sr parameter"):
        SpeedViews(WindowAggregator()).fit([_tone(300)])


def test_fit_leaves_the_given_transformer_alone_and_clones_survive():
    mel = _mel()
    views = SpeedViews(mel, speeds=(0.9, 1.1)).fit([_tone(300)])
    assert views.transformer_ is not mel and not hasattr(mel, "mel_basis_")
    assert views.sr == SR
    copy = clone(views)
    assert copy.get_params()["speeds"] == (0.9, 1.1) and not hasattr(copy, "transformer_")


def test_the_named_pipeline_reads_clips_at_birdnets_rate():
    pipe = make_pipeline("birdnet-speeds")
    assert pipeline_sr(pipe) == 48000
    assert pipe.named_steps["emb"].speeds == (0.9, 1.0, 1.1)


def test_a_pipeline_with_speed_views_classifies_pitch():
    """Low and high tones, each heard at several speeds, stay separable."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(1)
    X = [_tone(f) for f in rng.uniform(200, 400, 8)] + [
        _tone(f) for f in rng.uniform(1400, 1800, 8)
    ]
    y = ["low"] * 8 + ["high"] * 8
    pipe = Pipeline(
        [
            ("views", SpeedViews(_mel())),
            ("agg", WindowAggregator(stats=("mean", "max"))),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    ).fit(X, y)
    assert pipeline_sr(pipe) == SR
    assert pipe.predict([_tone(300), _tone(1600)]).tolist() == ["low", "high"]


def test_pool_gives_one_row_per_view_equal_to_pooling_each_view_alone():
    rng = np.random.default_rng(2)
    clips = [(0.2 * rng.standard_normal(n)).astype(np.float32) for n in (8000, 5300)]
    speeds = (0.8, 1.0, 1.25)
    agg = WindowAggregator(stats=("mean", "max"))
    out = SpeedViews(_mel(), speeds=speeds, pool=agg).fit(clips).transform(clips)
    for i, got in enumerate(out):
        assert got.shape == (3, 2 * 64)
        for row, speed in zip(got, speeds):
            (frames,) = SpeedViews(_mel(), speeds=(speed,)).fit(clips).transform(clips[i : i + 1])
            np.testing.assert_array_equal(row, agg.fit_transform([frames])[0])


def test_a_pool_that_learns_is_refused():
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(ValueError, match="learns nothing, such as WindowAggregator"):
        SpeedViews(_mel(), pool=StandardScaler()).fit([_tone(300)])


def test_views_classifier_is_the_mean_log_probability_of_a_model_fitted_on_every_view():
    """Reference written out by hand: stack the views, repeat labels, average log-probs."""
    from sklearn.linear_model import LogisticRegression

    from embedclf import ViewsClassifier

    rng = np.random.default_rng(3)
    y = np.repeat(["a", "b", "c"], 10)
    X = rng.normal(0, 1.0, (30, 3, 4)) + (np.searchsorted(["a", "b", "c"], y))[:, None, None]
    clf = ViewsClassifier(LogisticRegression(C=0.5)).fit(X, y)
    ref = LogisticRegression(C=0.5).fit(X.reshape(90, 4), np.repeat(y, 3))
    np.testing.assert_allclose(clf.estimator_.coef_, ref.coef_)
    Xt = rng.normal(1.0, 1.5, (12, 3, 4))
    log_p = np.log(ref.predict_proba(Xt.reshape(36, 4))).reshape(12, 3, 3).mean(axis=1)
    want = np.exp(log_p) / np.exp(log_p).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(Xt), want, rtol=1e-10)
    np.testing.assert_allclose(clf.predict_proba(Xt).sum(axis=1), 1.0)
    assert clf.predict(Xt).tolist() == ref.classes_[log_p.argmax(axis=1)].tolist()
    # one view per clip: the estimator itself
    np.testing.assert_allclose(clf.predict_proba(Xt[:, 0]), clf.estimator_.predict_proba(Xt[:, 0]))


def test_views_classifier_takes_clips_with_different_numbers_of_views():
    from sklearn.linear_model import LogisticRegression

    from embedclf import ViewsClassifier

    rng = np.random.default_rng(4)
    X = [rng.normal(k % 2, 0.3, (1 + k % 3, 2)) for k in range(20)]
    y = np.arange(20) % 2
    clf = ViewsClassifier(LogisticRegression()).fit(X, y)
    ref = LogisticRegression().fit(np.concatenate(X), np.repeat(y, [len(x) for x in X]))
    np.testing.assert_allclose(clf.estimator_.coef_, ref.coef_)
    one = [clf.predict_proba([x])[0] for x in X]
    np.testing.assert_allclose(clf.predict_proba(X), one)
    with pytest.raises(ValueError, match="one label per clip: 20 clips, 19 labels"):
        ViewsClassifier(LogisticRegression()).fit(X, y[:19])
    with pytest.raises(ValueError, match="clip 1 has no views"):
        clf.predict([X[0], np.zeros((0, 2))])


def test_a_floored_view_cannot_veto_a_class():
    """A view that gives a class probability 0 lowers it by log(floor), not to -inf."""
    from sklearn.dummy import DummyClassifier

    from embedclf import ViewsClassifier

    class Sure(DummyClassifier):
        def predict_proba(self, X):
            return np.where(X[:, :1] > 0, [[1.0, 0.0]], [[0.1, 0.9]])

    clf = ViewsClassifier(Sure(), floor=1e-3).fit(np.array([[1.0], [-1.0]]), [0, 1])
    # view 1 is certain of class 0; views 2-5 say 0.9 for class 1
    X = np.array([[[1.0], [-1.0], [-1.0], [-1.0], [-1.0]]])
    log_p = np.array([np.log(1.0) + 4 * np.log(0.1), np.log(1e-3) + 4 * np.log(0.9)]) / 5
    want = np.exp(log_p) / np.exp(log_p).sum()
    np.testing.assert_allclose(clf.predict_proba(X)[0], want)
    assert clf.predict(X).tolist() == [1]


def test_the_views_pipeline_reads_clips_at_birdnets_rate_and_pools_each_speed():
    pipe = make_pipeline("birdnet-views")
    assert pipeline_sr(pipe) == 48000
    emb = pipe.named_steps["emb"]
    assert emb.speeds == (0.9, 1.0, 1.1) and emb.pool.stats == ("mean", "max")
    assert emb.learns_from_data is False


def _noisy_pitches(seed, n, low, noise):
    """``n`` low and ``n`` high half-second tones in white noise, with their labels."""
    rng = np.random.default_rng(seed)
    freqs = np.r_[rng.uniform(*low, n), rng.uniform(600, 1200, n)]
    X = [_tone(f, 0.5) + noise * rng.standard_normal(4000).astype(np.float32) for f in freqs]
    return X, np.repeat(["low", "high"], n)


def _views_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.pipeline import make_pipeline as chain
    from sklearn.preprocessing import StandardScaler

    from embedclf import ViewsClassifier

    return Pipeline(
        [
            ("views", SpeedViews(_mel(), speeds=(0.9, 1.1), pool=WindowAggregator())),
            ("clf", ViewsClassifier(chain(StandardScaler(), LogisticRegression()))),
        ]
    )


def test_a_views_pipeline_evaluates_the_same_with_shared_features():
    """Per-clip (n_views, n_features) outputs are computed once and split by fold."""
    from embedclf.evaluation import cross_validate_folds, shared_steps

    # overlapping pitch ranges in loud noise: some clips are misclassified, so equal
    # predictions say more than two perfect scores would
    X, y = _noisy_pitches(5, 10, (300, 900), 0.5)
    pipe = _views_pipeline()
    assert shared_steps(pipe) == ["views"]
    folds = np.arange(20) % 4
    shared = cross_validate_folds(pipe, X, y, folds=folds)
    plain = cross_validate_folds(pipe, X, y, folds=folds, share_features=False)
    assert shared.meta["shared_steps"] == ["views"]
    pd_s, pd_p = (r.predictions.sort_values("index") for r in (shared, plain))
    assert pd_s["y_pred"].tolist() == pd_p["y_pred"].tolist()
    assert 0.5 < shared.accuracy_mean < 1.0, shared.accuracy_mean


def test_a_grid_search_runs_on_shared_view_features():
    """The recipe of docs/guide/evaluation.md: shared steps once, search over the rest."""
    from sklearn.model_selection import GridSearchCV, PredefinedSplit

    from embedclf.evaluation import shared_steps

    X, y = _noisy_pitches(6, 9, (300, 700), 0.1)
    pipe = _views_pipeline()
    k = len(shared_steps(pipe))
    features = pipe[:k].fit(X[:1]).transform(X)
    grid = {"clf__estimator__logisticregression__C": [1e-3, 0.1, 1.0]}
    cv = PredefinedSplit(np.arange(18) % 3)
    search = GridSearchCV(pipe[k:], grid, cv=cv).fit(features, y)
    # the same search over the whole pipeline, features recomputed in every fit
    whole = GridSearchCV(pipe, grid, cv=cv).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    np.testing.assert_array_equal(scores, whole.cv_results_["mean_test_score"])
    assert len(set(scores)) > 1, scores  # the candidates differ, so the comparison bites


def test_views_classifier_takes_a_series_of_clips_and_names_empty_input():
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from embedclf import ViewsClassifier

    rng = np.random.default_rng(7)
    X = [rng.normal(k % 2, 0.3, (3, 2)) for k in range(10)]
    y = np.arange(10) % 2
    clf = ViewsClassifier(LogisticRegression()).fit(X, y)
    want = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.predict_proba(pd.Series(X)), want)
    as_objects = np.empty(len(X), dtype=object)
    as_objects[:] = X
    np.testing.assert_array_equal(clf.predict_proba(as_objects), want)
    with pytest.raises(ValueError, match="0 sample"):
        clf.predict(np.zeros((0, 3, 2)))


def test_a_learning_pool_set_after_fit_is_refused_at_transform():
    from sklearn.preprocessing import StandardScaler

    views = SpeedViews(_mel(), pool=WindowAggregator()).fit([_tone(300)])
    views.set_params(pool=StandardScaler())
    with pytest.raises(ValueError, match="learns nothing, such as WindowAggregator"):
        views.transform([_tone(300)])
