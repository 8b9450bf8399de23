"""OpenL3: architecture, weight files, frontend, the estimator, and weights management."""

import gzip
import hashlib
import http.server
import json
import os
import threading

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="OpenL3 needs the openl3 extra (TensorFlow)")
h5py = pytest.importorskip("h5py")
librosa = pytest.importorskip("librosa")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from embedclf import OpenL3Embedding  # noqa: E402
from embedclf.features import openl3_net as net  # noqa: E402
from embedclf.weights import WeightsNotFoundError, fetch_openl3, find_openl3  # noqa: E402

EXPECTED_LAYOUT = [((1,),) * 4] + [
    shapes
    for cin, cout in [
        (1, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 512),
        (512, 512),
    ]
    for shapes in ([(3, 3, cin, cout), (cout,)], [(cout,)] * 4)
][:-1]


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(
                [
                    (
                        rng.uniform(0.5, 1.5, w.shape)
                        if "variance" in w.path or "gamma" in w.path
                        else rng.normal(0, 0.05, w.shape)
                    ).astype(np.float32)
                    for w in layer.weights
                ]
            )
    return model


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("w")
    path = folder / net.weights_filename("mel128", "env")
    net.save_weights(
        randomize(net.build_network("mel128", 512)), path, frontend_layer="melspectrogram_1"
    )
    return str(path)


@pytest.mark.parametrize("input_repr", net.INPUT_REPRS)
def test_architecture_matches_the_published_network(input_repr):
    m = net.build_network(input_repr, 6144)
    assert m.count_params() == 4_689_860
    layout = net.weight_layout(m)
    kinds = [k for k, _ in layout]
    assert kinds == ["batch_normalization"] + ["conv2d", "batch_normalization"] * 7 + ["conv2d"]
    flat = [tuple(map(tuple, shapes)) for _, shapes in layout]
    assert flat[0] == ((1,), (1,), (1,), (1,))
    assert flat[1] == ((3, 3, 1, 64), (64,)) and flat[-1] == ((3, 3, 512, 512), (512,))
    freq, time, _ = net.input_shape(input_repr)
    assert m.input_shape == (None, freq, time, 1)
    assert m.output_shape == (None, 6144)
    assert net.build_network(input_repr, 512).output_shape == (None, 512)


def test_weight_file_round_trip_in_the_official_layout(weights_file):

    spec = np.random.default_rng(1).uniform(-80, 0, (3, 128, 199, 1)).astype(np.float32)
    src = net.build_network("mel128", 512)
    net.load_weights(src, weights_file)
    ours = net.build_network("mel128", 512)
    net.load_weights(ours, weights_file)
    np.testing.assert_array_equal(src.predict(spec, verbose=0), ours.predict(spec, verbose=0))
    with h5py.File(weights_file) as fh:  # legacy layout: layer_names + weight_names by layer
        names = [n.decode() for n in fh.attrs["layer_names"]]
        assert names[0] == "melspectrogram_1" and len(names) == 17
        assert list(fh[names[1]].attrs["weight_names"]) == [
            b"batch_normalization_1/gamma:0",
            b"batch_normalization_1/beta:0",
            b"batch_normalization_1/moving_mean:0",
            b"batch_normalization_1/moving_variance:0",
        ]
    # Keras's own legacy HDF5 loader reads the file the same way (an independent reader)
    other = net.build_network("mel128", 512)
    other.load_weights(weights_file)
    np.testing.assert_array_equal(other.predict(spec, verbose=0), ours.predict(spec, verbose=0))


def test_bad_weight_files_are_explained(tmp_path, weights_file):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"nope")
    with pytest.raises(ValueError, match="not an HDF5 weight file"):
        net.load_weights(net.build_network("mel128"), junk)
    small = tmp_path / "small.h5"
    with h5py.File(weights_file) as src, h5py.File(small, "w") as dst:
        names = list(src.attrs["layer_names"])[:5]
        for n in names:
            src.copy(n.decode(), dst)
        dst.attrs["layer_names"] = names
    with pytest.raises(ValueError, match="found 4 convolution/batch-norm layers with weights"):
        net.load_weights(net.build_network("mel128"), small)


@pytest.mark.parametrize("input_repr", net.INPUT_REPRS)
def test_frontend_matches_the_formula_computed_with_librosa(input_repr):
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 48000
    y = (0.4 * np.sin(2 * np.pi * 880 * t) + 0.05 * rng.standard_normal(48000)).astype(np.float32)
    ours = net.frontend(y[None], input_repr)[0, :, :, 0]
    if input_repr == "linear":
        S = np.abs(librosa.stft(y.astype(np.float64), n_fft=512, hop_length=242, center=False))
    else:
        n_mels = int(input_repr[3:])
        padded = np.pad(y.astype(np.float64), (0, 198 * 242 + 2048 - 48000))  # frames = ceil(N/hop)
        mag = np.abs(librosa.stft(padded, n_fft=2048, hop_length=242, center=False))
        S = librosa.filters.mel(sr=48000, n_fft=2048, n_mels=n_mels) @ mag
    ref = 10 * np.log10(np.maximum(S, 1e-10))
    ref = np.maximum(ref - ref.max(), -80.0)
    assert ours.shape == ref.shape == net.input_shape(input_repr)[:2]
    assert np.max(np.abs(ours - ref)) / 80.0 < 1e-4


@pytest.mark.numeric
def test_embedding_framing_batching_and_rates(weights_file):
    rng = np.random.default_rng(3)
    y = (0.2 * rng.standard_normal(int(48000 * 2.35))).astype(np.float32)
    est = OpenL3Embedding(
        content_type="env",
        input_repr="mel128",
        embedding_size=512,
        weights=weights_file,
        batch_size=7,
    ).fit([y])
    e = est.embed([y])[0]
    assert e.values.shape == (1 + int(np.ceil((len(y) + 24000 - 48000) / 4800)), 512)
    np.testing.assert_allclose(e.times, np.arange(len(e.values)) * 0.1)
    big = est.set_params(batch_size=64).transform([y])[0]
    np.testing.assert_array_equal(big, e.values)  # batch composition never matters
    # ten seconds at hop 0.1 with centring: 96 windows, as openl3
    ten = np.zeros(480000, np.float32)
    assert est.set_params(hop=0.1).transform([ten])[0].shape == (96, 512)
    # the same windows computed by hand through the network equal the estimator's
    padded = np.r_[np.zeros(24000, np.float32), y, np.zeros(48000, np.float32)]
    windows = np.stack([padded[k * 4800 : k * 4800 + 48000] for k in range(3)])
    model = net.build_network("mel128", 512)
    net.load_weights(model, weights_file)
    by_hand = model.predict(net.frontend(windows, "mel128"), verbose=0)
    np.testing.assert_allclose(e.values[:3], by_hand, rtol=1e-4, atol=1e-5)


def test_inference_network_folds_batch_norm_without_changing_outputs(weights_file):
    model = net.build_network("mel128", 512)
    net.load_weights(model, weights_file)
    folded = net.inference_network(model)
    # no batch-norm layers left, the same weights count minus the 7 folded batch norms
    assert not any("batch_norm" in type(layer).__name__.lower() for layer in folded.layers)
    assert folded.count_params() == model.count_params() - 4 * (
        1 + 64 + 64 + 128 + 128 + 256 + 256 + 512
    )
    rng = np.random.default_rng(5)
    x = net.frontend((0.2 * rng.standard_normal((3, 48000))).astype(np.float32), "mel128")
    np.testing.assert_allclose(
        folded.predict(x, verbose=0),
        model.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-5 * np.abs(model.predict(x, verbose=0)).max(),
    )
    with pytest.raises(ValueError, match="dtype must be"):
        net.inference_network(model, "float16")


def _has_bfloat16_convolutions():
    """Whether oneDNN runs a bfloat16 convolution here (not on AVX2-only CPUs or ISA limits)."""
    import tensorflow as tf

    try:
        x = tf.zeros((1, 4, 4, 1), tf.bfloat16)
        tf.nn.conv2d(x, tf.zeros((2, 2, 1, 1), tf.bfloat16), 1, "SAME")
    except tf.errors.OpError:
        return False
    return True


@pytest.mark.numeric
@pytest.mark.parametrize("fast", [True, "int8", "bfloat16"])
def test_fast_modes_are_close_to_exact(weights_file, fast):
    rng = np.random.default_rng(4)
    t = np.arange(48000 * 2) / 48000
    y = 0.3 * np.sin(2 * np.pi * 600 * t * (1 + t)) + 0.02 * rng.standard_normal(len(t))
    y = y.astype(np.float32)
    kw = dict(content_type="env", input_repr="mel128", embedding_size=512, weights=weights_file)
    exact = OpenL3Embedding(**kw).fit([y]).transform([y])[0]
    if fast == "bfloat16" and not _has_bfloat16_convolutions():  # e.g. AVX2-only CPUs
        with pytest.raises(RuntimeError, match="not supported on this CPU.*fast=True"):
            OpenL3Embedding(fast=fast, **kw).fit([y]).transform([y])
        return
    est = OpenL3Embedding(fast=fast, **kw).fit([y])
    approx = est.transform([y])[0]
    assert est._model().mode == ("bfloat16" if fast == "bfloat16" else "int8")
    cos = np.sum(exact * approx, 1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(approx, axis=1)
    assert cos.min() > 0.99
    assert not np.allclose(exact, approx, rtol=1e-5, atol=1e-5)  # the fast path really ran
    # a window's embedding never depends on which windows share its batch
    np.testing.assert_array_equal(est.set_params(batch_size=1).transform([y])[0], approx)
    np.testing.assert_array_equal(est.transform([y[: 48000 + 4800 * 3]])[0][:4], approx[:4])


def test_fast_mode_is_validated_and_keyed_in_the_cache(weights_file, tmp_path):
    from sklearn.utils._param_validation import InvalidParameterError

    y = np.zeros(48000, np.float32)
    with pytest.raises(InvalidParameterError, match="fast"):
        OpenL3Embedding(fast="float16", weights=weights_file).fit([y])
    kw = dict(
        content_type="env",
        input_repr="mel128",
        embedding_size=512,
        weights=weights_file,
        cache=str(tmp_path),
    )
    keys = {OpenL3Embedding(fast=f, **kw)._cache().dir for f in (False, "int8", "bfloat16")}
    assert len(keys) == 3
    assert (
        OpenL3Embedding(fast=True, **kw)._cache().dir
        == OpenL3Embedding(fast="int8", **kw)._cache().dir
    )


def test_refit_after_set_params_rebuilds_the_network(weights_file):
    y = np.zeros(48000, np.float32)
    est = OpenL3Embedding(
        content_type="env", input_repr="mel128", embedding_size=512, weights=weights_file
    ).fit([y])
    assert est.transform([y])[0].shape[1] == 512
    est.set_params(embedding_size=6144).fit([y])
    assert est.embedding_dim_ == 6144 and est.transform([y])[0].shape[1] == 6144


def test_missing_weights_name_the_file_places_and_command(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("EMBEDCLF_WEIGHTS", str(tmp_path / "env"))
    with pytest.raises(WeightsNotFoundError) as info:
        OpenL3Embedding(input_repr="mel256", content_type="music").fit([np.zeros(100)])
    msg = str(info.value)
    assert "openl3_audio_mel256_music.h5" in msg and str(tmp_path / "env") in msg
    assert str(tmp_path / "cache") in msg
    # the library names the Python call; the command line translates it (test_cli_errors)
    assert "Fetch them with: embedclf.weights.fetch_openl3('mel256', 'music')" in msg
    assert "--" not in msg


def test_weights_lookup_order(tmp_path, monkeypatch, weights_file):
    import shutil

    env, cache = tmp_path / "env", tmp_path / "cache" / "embedclf"
    for d in (env, cache):
        d.mkdir(parents=True)
        shutil.copy(weights_file, d / "openl3_audio_mel128_env.h5")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("EMBEDCLF_WEIGHTS", str(env))
    assert find_openl3("mel128", "env") == str(env / "openl3_audio_mel128_env.h5")
    assert find_openl3("mel128", "env", weights=weights_file) == weights_file
    monkeypatch.delenv("EMBEDCLF_WEIGHTS")
    assert find_openl3("mel128", "env") == str(cache / "openl3_audio_mel128_env.h5")
    (cache / "openl3_audio_mel128_env.h5").write_bytes(b"")  # an empty placeholder is not weights
    with pytest.raises(WeightsNotFoundError):
        find_openl3("mel128", "env")
    # an explicit choice that does not resolve is an error, never a silent fallback
    with pytest.raises(WeightsNotFoundError, match="the weights argument"):
        find_openl3("mel128", "env", weights=str(tmp_path))
    assert find_openl3("mel128", "env", weights=str(env)) == str(env / "openl3_audio_mel128_env.h5")
    with pytest.raises(ValueError, match="holds the mel128/env weights"):
        find_openl3("linear", "music", weights=weights_file)


@pytest.fixture
def weights_server(tmp_path, weights_file):
    """A local HTTP server holding a gzipped weight file, as the official site does."""
    root = tmp_path / "site"
    root.mkdir()
    gz = root / "openl3_audio_mel128_env-v0_4_0.h5.gz"
    with open(weights_file, "rb") as src, gzip.open(gz, "wb") as dst:
        dst.write(src.read())
    digest = hashlib.sha256(gz.read_bytes()).hexdigest()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", digest
    server.shutdown()
    server.server_close()


def test_fetch_verifies_and_unpacks_atomically(tmp_path, weights_server, weights_file):
    url, digest = weights_server
    dest = tmp_path / "dest"
    with pytest.raises(
        ValueError, match="no SHA-256 is recorded.*sha256=DIGEST.*allow_unverified=True"
    ):
        fetch_openl3("mel128", "env", dest=str(dest), base_url=url, progress=False)
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        fetch_openl3("mel128", "env", dest=str(dest), base_url=url, sha256="0" * 64, progress=False)
    assert not (dest / "openl3_audio_mel128_env.h5").exists()
    assert [p.name for p in dest.iterdir()] == []  # no partial or temporary files left
    path = fetch_openl3(
        "mel128", "env", dest=str(dest), base_url=url, sha256=digest, progress=False
    )
    assert open(path, "rb").read() == open(weights_file, "rb").read()
    unverified = fetch_openl3(
        "mel128",
        "env",
        dest=str(tmp_path / "tofu"),
        base_url=url,
        progress=False,
        allow_unverified=True,
    )
    assert open(unverified, "rb").read() == open(weights_file, "rb").read()
    with pytest.raises(OSError, match="download of .*mel256_music-v0_4_0.h5.gz failed"):
        fetch_openl3("mel256", "music", dest=str(dest), base_url=url, sha256=digest, progress=False)


def test_cli_weights_fetch_and_list(tmp_path, weights_server, capsys, monkeypatch):
    from embedclf.cli import main

    url, digest = weights_server
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("EMBEDCLF_WEIGHTS", raising=False)
    assert (
        main(
            [
                "weights",
                "fetch",
                "openl3",
                "--input-repr",
                "mel128",
                "--content-type",
                "env",
                "--base-url",
                url,
                "--sha256",
                digest,
                "--quiet",
                "--json",
            ]
        )
        == 0
    )
    fetched = json.loads(capsys.readouterr().out)["fetched"][0]["path"]
    assert fetched.startswith(str(tmp_path / "cache"))
    assert main(["weights", "list", "--json"]) == 0
    listed = {
        (r["input_repr"], r["content_type"]): r["path"] for r in json.loads(capsys.readouterr().out)
    }
    assert listed[("mel128", "env")] == fetched and listed[("mel256", "music")] in (None, "")
    assert (
        main(
            [
                "weights",
                "fetch",
                "openl3",
                "--input-repr",
                "mel256",
                "--content-type",
                "music",
                "--base-url",
                url,
                "--quiet",
            ]
        )
        == 1
    )
    assert "failed" in capsys.readouterr().err


def test_estimator_contract(weights_file):
    import pickle

    from sklearn.base import clone

    est = OpenL3Embedding(
        content_type="env", input_repr="mel128", embedding_size=512, weights=weights_file, hop=0.5
    )
    y = np.zeros(48000, np.float32)
    assert clone(est).get_params() == est.get_params()
    fitted = est.fit([y])
    assert fitted is est and est.embedding_dim_ == 512 and est.weights_path_ == weights_file
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform([y])[0], est.transform([y])[0])


_LIST_OUTPUT = (
    "transform returns one (n_windows, dim) array per clip in a list (clips have different lengths)"
)


@pytest.mark.slow
@parametrize_with_checks(
    [
        OpenL3Embedding(
            embedding_size=512,
            center=False,
            hop=1.0,
            batch_size=8,
            sr=8000,
            weights=os.environ.get("EMBEDCLF_TEST_OPENL3_WEIGHTS", "__test_weights__"),
        )
    ],
    expected_failed_checks=lambda est: {
        "check_transformer_general": _LIST_OUTPUT,
        "check_transformer_data_not_an_array": _LIST_OUTPUT,
        "check_transformer_preserve_dtypes": _LIST_OUTPUT,
        "check_estimators_dtypes": "integer PCM samples are refused as ambiguous (AudioError)",
    },
)
def test_sklearn_compatible(estimator, check, weights_file, tmp_path_factory):
    # The checks need real weights: point the estimator at this module's test file (mel128:
    # half the default's convolution work, the same code).
    check(estimator.set_params(weights=weights_file, input_repr="mel128", content_type="env"))
