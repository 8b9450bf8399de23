"""KerasCNN: training, window aggregation, augmentation, persistence, errors."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

pytest.importorskip("keras")

from embedclf import AudioError, AudioLoader  # noqa: E402
from embedclf.features.logmel import LogMel  # noqa: E402
from embedclf.models import Augmenter, KerasCNN  # noqa: E402
from embedclf.models import cnn as cnn_module  # noqa: E402

SR = 8000


def tiny(**kw):
    params = dict(
        architecture="strided_ds",
        sr=SR,
        epochs=3,
        random_state=0,
        frontend=LogMel(n_fft=256, hop_length=128, n_mels=20),
        window=0.5,
        hop=0.25,
    )
    params.update(kw)
    return KerasCNN(**params)


@pytest.fixture(scope="module")
def data():
    from embedclf.datasets import make_sound_events

    X, y, folds = make_sound_events(n_per_class=8, sr=SR, duration=1.0, random_state=0)
    return X, y, folds


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _ = data
    return tiny(architecture="ds_cnn", epochs=20, learning_rate=3e-3).fit(X, y)


def test_predictions_do_not_depend_on_the_other_clips(fitted, data):
    # sklearn's sample-order and subset checks, to float32 precision: TensorFlow's CPU
    # kernels may round a window by its position in a batch (test_common says why)
    X, _, _ = data
    P = fitted.predict_proba(X)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(
        fitted.predict_proba([X[i] for i in order]), P[order], rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(fitted.predict_proba(X[5:9]), P[5:9], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fitted.predict_proba(X[7:8]), P[7:8], rtol=1e-5, atol=1e-7)


def test_learns_the_synthetic_events(fitted, data):
    X, y, _ = data
    # 40 clips of 5 classes: well above chance (20%) after a few seconds of training
    assert fitted.score(X, y) > 0.6
    P = fitted.predict_proba(X)
    assert P.shape == (40, 5) and np.allclose(P.sum(1), 1) and np.isfinite(P).all()
    assert fitted.classes_.tolist() == sorted(set(y.tolist()))
    assert fitted.input_shape_ == (20, 31, 1)
    assert fitted.window_frames_ == (31, 16)


def test_clip_probability_is_the_mean_of_its_windows(fitted, data):
    X, _, _ = data
    Pw, owner = fitted.predict_windows(X[:3])
    assert owner.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # 1 s clip, 0.5 s windows, 0.25 s hop
    assert np.allclose(fitted.predict_proba(X[:3]), Pw.reshape(3, 3, -1).mean(1))
    voter = clone(fitted).set_params(clip_pooling="vote")
    voter.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    votes = np.eye(5)[Pw.argmax(1)].reshape(3, 3, -1).mean(1)
    assert np.allclose(voter.predict_proba(X[:3]), votes)
    # logmean: the renormalised geometric mean, windows floored at 1/512 (scipy as reference)
    from scipy.stats import gmean

    geo = voter.set_params(clip_pooling="logmean")
    g = gmean(np.maximum(Pw, 1 / 512).reshape(3, 3, -1), axis=1)
    assert np.allclose(geo.predict_proba(X[:3]), g / g.sum(1, keepdims=True))
    assert (geo.predict(X[:3]) == geo.classes_[g.argmax(1)]).all()


@pytest.mark.numeric
def test_window_proba_runs_the_traced_network_as_the_eager_one(fitted, data):
    X, _, _ = data
    W, _, _ = fitted.windows(X[:4])
    eager = fitted.model_(W, training=False).numpy()
    # a traced graph may fuse operations differently: equal up to float rounding
    np.testing.assert_allclose(fitted.window_proba(W), eager, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fitted.window_proba(W[:1]), eager[:1], rtol=1e-5, atol=1e-7)
    # its batch dimension is open: one trace serves every batch size (a stream's one window)
    fitted.window_proba(W[:5])
    assert fitted._forward().experimental_get_tracing_count() == 1


def test_models_pickled_before_clip_pooling_keep_their_pooling(fitted):
    import pickle

    state = dict(fitted.__getstate__())  # as pickled while the parameter was ``aggregate``
    del state["clip_pooling"]
    state["aggregate"] = "vote"
    old = KerasCNN.__new__(KerasCNN)
    old.__setstate__(dict(state))
    assert (old.clip_pooling, old.aggregate, old.pooling()) == ("vote", "deprecated", "vote")
    del state["aggregate"]  # before the pooling was a parameter: the mean
    older = KerasCNN.__new__(KerasCNN)
    older.__setstate__(dict(state))
    assert older.pooling() == "mean"
    assert pickle.loads(pickle.dumps(old)).get_params()["clip_pooling"] == "vote"


def test_logmean_pooling_lets_one_window_rule_a_class_out():
    from embedclf.models.windows import pool_windows

    P = np.array([[0.8, 0.2, 0.0], [0.0, 0.4, 0.6], [0.5, 0.5, 0.0]])
    owner = np.array([0, 0, 1])
    mean, geo = pool_windows(P, owner, 2), pool_windows(P, owner, 2, "logmean")
    assert mean[0].argmax() == 0 and geo[0].argmax() == 1
    assert np.allclose(geo.sum(1), 1) and np.isfinite(geo).all()
    # one window: its probabilities, the zero raised to the floor, renormalised
    assert np.allclose(geo[1], np.array([0.5, 0.5, 1 / 512]) / (1 + 1 / 512))
    with pytest.raises(ValueError, match="logmean"):
        pool_windows(P, owner, 2, "median")


def test_threshold_rejects_unsure_clips(fitted, data):
    X, _, _ = data
    P = fitted.predict_proba(X)
    cut = float(np.median(P.max(1)))
    model = clone(fitted).set_params(threshold=cut, unknown_label="?")
    model.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    pred = model.predict(X)
    assert ((pred == "?") == (P.max(1) < cut)).all()
    assert set(pred[P.max(1) >= cut]) <= set(fitted.classes_)


def test_threshold_with_integer_labels_and_in_predict_table(fitted, data):
    from embedclf.predict import predict_table

    X, y, _ = data
    codes = np.unique(y, return_inverse=True)[1]
    with pytest.raises(ValueError, match="unknown_label='unknown' must be of the labels' type"):
        tiny(epochs=1, threshold=0.5).fit(X, codes)
    model = tiny(epochs=1, threshold=0.99, unknown_label=-1).fit(X, codes)
    pred = model.predict(X)
    assert pred.dtype.kind == "i" and -1 in pred
    assert 0 <= model.score(X, codes) <= 1
    table = predict_table(model, X[:6])
    assert table["label"].tolist() == pred[:6].tolist()
    # set after fitting: still checked; a value ints cannot hold widens the dtype, never truncates
    model.set_params(unknown_label=-1.5)
    assert -1.5 in model.predict(X)
    with pytest.raises(ValueError, match="also a class label"):
        model.set_params(unknown_label=0).predict(X)


def test_generators_are_read_once_not_dropped(fitted, data):
    X, _, _ = data
    assert fitted.predict_proba(x for x in X[:3]).shape == (3, 5)
    assert fitted.predict(x for x in X[:3]).shape == (3,)
    assert np.array_equal(fitted.predict(iter(X[:3])), fitted.predict(X[:3]))


def test_predict_agrees_with_predict_proba(fitted, data):
    X, _, _ = data
    P = fitted.predict_proba(X)
    assert np.array_equal(fitted.predict(X), fitted.classes_[P.argmax(1)])


@pytest.mark.numeric
def test_same_random_state_same_model_different_seed_differs(data):
    X, y, _ = data
    a = tiny().fit(X, y).predict_proba(X)
    b = tiny().fit(X, y).predict_proba(X)
    c = tiny(random_state=1).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_leaves_global_random_state_alone(data):
    import random

    import tensorflow as tf

    X, y, _ = data
    np.random.seed(123)
    random.seed(5)
    tf.random.set_seed(7)
    expected = (np.random.rand(), random.random(), float(tf.random.uniform([])))
    np.random.seed(123)
    random.seed(5)
    tf.random.set_seed(7)
    tiny(epochs=1).fit(X[:10], y[:10])
    assert (np.random.rand(), random.random()) == expected[:2]
    assert tf.compat.v1.random.get_seed(None)[0] == 7  # the caller's TF seed is back
    tf.random.set_seed(None)


def test_augmentation_changes_training_inputs_never_predictions(data, monkeypatch):
    X, y, _ = data
    seen = []
    real = cnn_module.spectrogram_windows

    def spy(frontend, waves, *frames, **kw):
        seen.append([np.asarray(w).copy() for w in waves])
        return real(frontend, waves, *frames, **kw)

    monkeypatch.setattr(cnn_module, "spectrogram_windows", spy)
    model = tiny(augment=Augmenter(copies=2, p=1.0), early_stopping=False).fit(X, y)
    train_inputs = seen[0]
    assert len(train_inputs) == 3 * len(X) and model.n_windows_fit_ == 3 * 3 * len(X)
    assert all(np.array_equal(a, b) for a, b in zip(train_inputs[: len(X)], X))
    assert not any(np.allclose(a, X[i // 2]) for i, a in enumerate(train_inputs[len(X) :]))

    def no_augment(*args, **kw):
        raise AssertionError("augmentation ran at prediction time")

    monkeypatch.setattr(Augmenter, "augment", no_augment)
    seen.clear()
    first = model.predict_proba(X)
    assert len(seen[0]) == len(X) and all(np.array_equal(a, b) for a, b in zip(seen[0], X))
    assert np.array_equal(first, model.predict_proba(X))


def test_mixup_and_masks_reach_the_training_batches(data, monkeypatch):
    X, y, _ = data
    batches = []
    real = Augmenter.augment_windows

    def spy(self, Xb, Yb, rng):
        out = real(self, Xb, Yb, rng)
        batches.append(out)
        return out

    monkeypatch.setattr(Augmenter, "augment_windows", spy)
    tiny(epochs=1, augment=Augmenter(copies=0, mixup=0.4, freq_mask=0.3, time_mask=0.3)).fit(X, y)
    soft = np.concatenate([b[1] for b in batches])
    assert ((soft > 0.01) & (soft < 0.99)).any() and np.allclose(soft.sum(1), 1)
    inputs = np.concatenate([b[0] for b in batches])[..., 0]
    # SpecAugment: whole bands and whole frames at 0 (the standardised mean)
    assert (inputs == 0).all(axis=2).any() and (inputs == 0).all(axis=1).any()


@pytest.mark.parametrize("dump, load", [(pickle.dumps, pickle.loads), ("joblib", "joblib")])
def test_pickle_round_trip_gives_identical_predictions(fitted, data, dump, load, tmp_path):
    X, _, _ = data
    if dump == "joblib":
        joblib.dump(fitted, tmp_path / "m.joblib")
        back = joblib.load(tmp_path / "m.joblib")
    else:
        back = load(dump(fitted))
    assert np.array_equal(back.predict_proba(X), fitted.predict_proba(X))
    assert back.model_ is not fitted.model_
    assert fitted.predict(X[:1]).shape == (1,)  # pickling left the original usable


def test_pipeline_holding_a_cnn_round_trips(data, tmp_path):
    X, y, _ = data
    pipe = Pipeline([("load", AudioLoader(sr=SR)), ("cnn", tiny(epochs=1))]).fit(X, y)
    joblib.dump(pipe, tmp_path / "p.joblib")
    assert np.array_equal(
        joblib.load(tmp_path / "p.joblib").predict_proba(X), pipe.predict_proba(X)
    )


def test_models_pickled_before_lr_schedule_load_with_the_constant_rate(fitted, data):
    state = dict(fitted.__getstate__())  # a copy: on Python 3.11 it is the __dict__ itself
    del state["lr_schedule"], state["weight_decay"], state["fit_hop"]
    old = KerasCNN.__new__(KerasCNN)
    old.__setstate__(state)
    assert old.lr_schedule == "constant" and clone(old).get_params()["lr_schedule"] == "constant"
    assert old.weight_decay == 0.0 and old.fit_hop is None
    X, _, _ = data
    assert np.array_equal(old.predict_proba(X[:3]), fitted.predict_proba(X[:3]))


def test_clone_is_unfitted_with_same_params(fitted):
    c = clone(fitted)
    assert not hasattr(c, "model_")
    assert c.get_params()["architecture"] == "ds_cnn"


def test_grid_search_over_architectures_does_not_leak_state(data):
    X, y, folds = data
    grid = GridSearchCV(
        tiny(epochs=2), {"architecture": ["strided_ds", "ds_cnn"], "width": [0.5]}, cv=2, n_jobs=1
    )
    grid.fit(X, y)
    assert len(grid.cv_results_["mean_test_score"]) == 2
    # the refitted best model equals a fresh fit with the same parameters
    fresh = tiny(epochs=2).set_params(**grid.best_params_).fit(X, y)
    assert np.array_equal(fresh.predict_proba(X), grid.best_estimator_.predict_proba(X))


def test_short_and_silent_clips_are_padded_not_nan(fitted):
    short = np.random.default_rng(0).standard_normal(SR // 10).astype(np.float32)
    silent = np.zeros(SR, np.float32)
    empty_ish = np.zeros(1, np.float32)
    P, owner = fitted.predict_windows([short, silent, empty_ish])
    assert owner.tolist().count(0) == 1  # one padded window
    assert np.isfinite(P).all()
    assert np.isfinite(fitted.predict_proba([silent])).all()


def test_fits_on_silent_and_short_training_clips(data):
    X, y, _ = data
    clips = [np.zeros(SR, np.float32), X[1][: SR // 20]] + list(X[2:])
    model = tiny(epochs=1).fit(clips, y)
    assert np.isfinite(model.history_["loss"]).all()


def test_early_stopping_keeps_whole_clips_out_and_records_history(data):
    X, y, _ = data
    model = tiny(epochs=30, patience=1, learning_rate=1e-2, validation_fraction=0.25).fit(X, y)
    assert "val_loss" in model.history_
    assert model.n_epochs_ == len(model.history_["loss"]) <= 30
    assert model.n_windows_fit_ == 3 * 30  # 10 of 40 clips held out, 3 windows each


def test_callbacks_and_class_weights_pass_through(data):
    import keras

    X, y, _ = data

    class Count(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            Count.epochs += 1

    tiny(epochs=2, early_stopping=False, callbacks=[Count()], class_weight="balanced").fit(X, y)
    assert Count.epochs == 2
    with pytest.raises(ValueError, match="class_weight names classes not in y"):
        tiny(epochs=1, class_weight={"nope": 2.0}).fit(X, y)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_learning_rate_schedule(data, schedule):
    import keras

    X, y, _ = data
    seen = []

    class Rate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    tiny(
        epochs=4, early_stopping=False, learning_rate=1e-2, lr_schedule=schedule, callbacks=[Rate()]
    ).fit(X, y)
    if schedule == "constant":
        assert seen == pytest.approx([1e-2] * 4)
    else:  # a half cosine over all steps, down to 1% of the rate at the last one
        assert seen[0] < 1e-2 and all(a > b for a, b in zip(seen, seen[1:]))
        assert seen[1] == pytest.approx(1e-2 * (0.01 + 0.99 * 0.5), rel=1e-3)  # half way
        assert seen[-1] == pytest.approx(1e-4, rel=1e-3)


def test_weight_decay_shrinks_kernels_only(data):
    import keras

    X, y, _ = data
    seen = {}

    class Look(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            opt = self.model.optimizer
            seen["optimizer"] = type(opt).__name__
            if seen["optimizer"] == "AdamW":
                seen["decayed"] = {
                    v.path.split("/")[-1]: opt._use_weight_decay(v)
                    for v in self.model.trainable_variables
                }

    def kernels(model):
        return np.sqrt(
            sum(
                float(np.sum(v.numpy() ** 2))
                for v in model.trainable_variables
                if v.path.endswith("kernel")
            )
        )

    plain = tiny(epochs=3, early_stopping=False, learning_rate=1e-2, callbacks=[Look()]).fit(X, y)
    assert seen["optimizer"] == "Adam"  # no decay: the optimizer every earlier model used
    decayed = tiny(
        epochs=3, early_stopping=False, learning_rate=1e-2, weight_decay=20.0, callbacks=[Look()]
    ).fit(X, y)
    assert seen["optimizer"] == "AdamW"
    names = seen["decayed"]
    assert {n for n, on in names.items() if on} == {n for n in names if n.endswith("kernel")}
    assert {"bias", "gamma", "beta"} <= {n for n, on in names.items() if not on}
    # 20 x 1e-2 per step over 3 epochs pulls the kernels well below the undecayed ones
    assert kernels(decayed.model_) < 0.8 * kernels(plain.model_)
    with pytest.raises(ValueError, match="weight_decay"):
        tiny(weight_decay=-1.0).fit(X, y)


def test_verbose_shows_progress_per_epoch(data, capsys):
    X, y, _ = data
    tiny(epochs=2, verbose=1, early_stopping=False).fit(X[:10], y[:10])
    err = capsys.readouterr().err
    assert "training KerasCNN" in err and "2/2" in err


def test_bad_files_follow_on_error_in_fit_and_raise_in_predict(data, tmp_path):
    X, y, _ = data
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio")
    clips = list(X[:9]) + [str(bad)]
    with pytest.raises(AudioError, match="broken.wav"):
        tiny(epochs=1).fit(clips, y[:10])
    with pytest.warns(UserWarning, match="skipped 1"):
        model = tiny(epochs=1, on_error="skip").fit(clips, y[:10])
    assert model.skipped_["source"].tolist() == [str(bad)]
    with pytest.raises(AudioError, match="broken.wav"):
        model.predict(clips)


def test_wrong_shapes_give_clear_errors(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="y must be 1-D"):
        tiny(epochs=1).fit(X, np.zeros((len(X), 2)))
    with pytest.raises(ValueError, match="labels"):
        tiny(epochs=1).fit(X, y[:-1])
    with pytest.raises(ValueError):
        tiny(epochs=1).fit(np.zeros((4, 10, 2)), y[:4])
    with pytest.raises(ValueError, match="unknown architecture|architecture"):
        tiny(architecture="resnet").fit(X, y)


def test_user_callable_architecture(data):
    import keras

    X, y, _ = data

    def flat(input_shape, n_classes, *, width, seed):
        inp = keras.Input(input_shape)
        x = keras.layers.Flatten()(inp)
        out = keras.layers.Dense(n_classes, activation="softmax")(x)
        return keras.Model(inp, out)

    model = tiny(architecture=flat, epochs=2).fit(X, y)
    assert model.predict(X[:2]).shape == (2,)


def test_two_d_array_fit_enforces_samples_per_clip(data):
    X, y, _ = data
    A = np.stack(X)
    model = tiny(epochs=1).fit(A, y)
    assert model.n_features_in_ == A.shape[1]
    with pytest.raises(ValueError, match="expecting 8000 features"):
        model.predict(A[:, :4000])
    assert model.predict(list(A[:2, :4000])).shape == (2,)  # a list: any clip length


def test_window_top_db_clips_each_window_against_its_own_maximum(data):
    from embedclf.models.windows import spectrogram_windows

    X, _, _ = data
    fe = LogMel(sr=SR, n_fft=256, hop_length=128, n_mels=20, top_db=None).fit(X[:1])
    quiet_then_loud = np.concatenate([X[0] * 1e-4, X[1]])
    raw, _, _ = spectrogram_windows(fe, [quiet_then_loud], 31, 31)
    clipped, _, _ = spectrogram_windows(fe, [quiet_then_loud], 31, 31, top_db=30.0)
    for r, c in zip(raw, clipped):
        assert c.max() == r.max() and np.isclose(c.min(), max(r.min(), r.max() - 30.0))
    assert raw[0].max() < raw[-1].max() - 30  # a quiet first window keeps its own detail
    assert (clipped[0] > raw[-1].max() - 30).mean() < 0.5


def test_fit_hop_trains_on_denser_windows_than_it_predicts(data, monkeypatch):
    X, y, _ = data
    seen = {}
    real_train = KerasCNN._train

    def spy(self, Xw, *args, **kw):
        seen["windows"] = Xw.copy()
        return real_train(self, Xw, *args, **kw)

    monkeypatch.setattr(KerasCNN, "_train", spy)
    dense = tiny(epochs=1, early_stopping=False, hop=0.5, fit_hop=0.125).fit(X[:4], y[:4])
    # 1 s clips are 63 frames of 16 ms and windows 0.5 s (31 frames). Training every
    # 0.125 s (8 frames) starts windows at frames 0, 8, 16, 24 and 32; predicting every 0.5 s
    # (31 frames) at 0, 31 and 62 (the last one padded with silence)
    assert dense.n_windows_fit_ == 4 * 5 and len(seen["windows"]) == 4 * 5
    assert dense.window_frames_ == (31, 31)
    _, owner = dense.predict_windows(X[:2])
    assert owner.tolist() == [0, 0, 0, 1, 1, 1]
    first, _, _ = dense._windows(X[:1])
    assert np.array_equal(seen["windows"][0], first[0])  # both start at frame 0
    assert not np.array_equal(seen["windows"][1], first[1])  # frame 8, not 31
    sparse = tiny(epochs=1, early_stopping=False, hop=0.5).fit(X[:4], y[:4])
    assert sparse.n_windows_fit_ == 4 * 3 and sparse.fit_hop is None
    with pytest.raises(ValueError, match="fit_hop"):
        tiny(fit_hop=0.0).fit(X[:4], y[:4])


def test_fit_windows_trains_on_precomputed_windows_with_soft_targets(data):
    from sklearn.exceptions import NotFittedError

    X, y, _ = data
    X, y = X[:10], y[:10]
    cnn = tiny(epochs=2, early_stopping=False)
    with pytest.raises(NotFittedError, match="call fit_frontend before fit_windows"):
        cnn.fit_windows(np.zeros((2, 20, 31, 1)), np.zeros((2, 5)), classes=np.arange(5))
    W, owner, _ = cnn.fit_frontend(X)
    classes, idx = np.unique(y, return_inverse=True)
    with pytest.raises(ValueError, match="one probability per class"):
        cnn.fit_windows(W, np.zeros((len(W), 2)), classes=classes)
    with pytest.raises(ValueError, match="one target row per window"):
        cnn.fit_windows(W[:, :, :5], np.zeros((len(W), len(classes))), classes=classes)
    # one-hot targets through the seam train exactly what fit trains (same seed and windows)
    onehot = np.eye(len(classes), dtype=np.float32)[idx[owner]]
    seam = cnn.fit_windows(W, onehot, classes=classes)
    assert seam.classes_.tolist() == classes.tolist() and seam.n_windows_fit_ == len(W)
    reference = tiny(epochs=2, early_stopping=False).fit(X, y)
    np.testing.assert_allclose(seam.predict_proba(X), reference.predict_proba(X), atol=1e-5)
    # soft targets are learnt as given: every window told "class 0 with 0.9", the network leans
    # to class 0 everywhere
    soft = np.full((len(W), len(classes)), 0.1 / (len(classes) - 1), np.float32)
    soft[:, 0] = 0.9
    leaning = tiny(epochs=20, early_stopping=False)
    leaning.fit_windows(leaning.fit_frontend(X)[0], soft, classes=classes)
    assert (leaning.predict(X) == classes[0]).all()
