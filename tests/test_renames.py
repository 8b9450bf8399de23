"""Renamed parameters keep working for two releases, the scikit-learn way.

``hop_size`` -> ``hop`` (seconds between windows) on the pretrained
embeddings and ``deltas`` -> ``diffs`` on WindowAggregator: the old name is
still accepted with a FutureWarning, results equal the new name's, and
estimators pickled (or saved as skops files) before the rename load with the
new name set.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from embedclf import BirdNETEmbedding, OpenL3Embedding, WindowAggregator
from embedclf.features.embeddings import PretrainedEmbedding
from embedclf.modelfile import load_model, save_model


class Toy(PretrainedEmbedding):
    """8 kHz, 0.5 s windows, 'embedded' by mean and peak; the current parameter names."""

    model_sr, window_seconds = 8000, 0.5
    _parameter_constraints = PretrainedEmbedding._common_constraints

    def __init__(
        self,
        *,
        sr=8000,
        hop=0.5,
        center=False,
        batch_size=4,
        cache=None,
        progress=False,
        on_error="raise",
        hop_size="deprecated",
    ):
        self.sr, self.hop, self.center, self.batch_size = sr, hop, center, batch_size
        self.cache, self.progress, self.on_error, self.hop_size = (
            cache,
            progress,
            on_error,
            hop_size,
        )

    def _load_model(self):
        return "model"

    def _embed_windows(self, w):
        return np.c_[w.mean(1), np.abs(w).max(1)]

    def _embedding_dim(self):
        return 2

    def _cache_config(self):
        return {}


class LegacyToy(Toy):
    """A backend written before the rename: only ``hop_size``."""

    def __init__(
        self,
        *,
        sr=8000,
        hop_size=0.5,
        center=False,
        batch_size=4,
        cache=None,
        progress=False,
        on_error="raise",
    ):
        self.sr, self.hop_size, self.center, self.batch_size = sr, hop_size, center, batch_size
        self.cache, self.progress, self.on_error = cache, progress, on_error


def _clips():
    rng = np.random.default_rng(0)
    return [rng.standard_normal(n).astype(np.float32) for n in (8000, 13000)]


def _embed(est, X):
    return [(e.values, e.times) for e in est.fit(X).embed(X)]


def _same(a, b):
    return all(
        np.array_equal(va, vb) and np.array_equal(ta, tb) for (va, ta), (vb, tb) in zip(a, b)
    )


@pytest.mark.parametrize(
    "old", [Toy(hop_size=0.25), LegacyToy(hop_size=0.25)], ids=["both-names", "legacy-backend"]
)
def test_hop_size_still_works_with_a_future_warning(old):
    X = _clips()
    with pytest.warns(FutureWarning, match="`hop_size` was renamed `hop`.*removed in 0.4"):
        got = _embed(old, X)
    new = _embed(Toy(hop=0.25), X)
    assert _same(got, new) and np.allclose(new[0][1], [0.0, 0.25, 0.5])


def test_hop_needs_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        _embed(Toy(hop=0.25), _clips())


@pytest.mark.parametrize("cls, hop", [(OpenL3Embedding, 0.5), (BirdNETEmbedding, 1.5)])
def test_embeddings_pickled_before_the_rename_load_with_hop(cls, hop):
    est = cls(hop=hop)
    old_state = est.__getstate__()
    del old_state["hop"]
    old_state["hop_size"] = hop  # the state a 0.1 pickle holds
    loaded = cls.__new__(cls)
    loaded.__setstate__(old_state)
    assert loaded.get_params() == cls(hop=hop).get_params()
    assert loaded._hop == cls(hop=hop)._hop == cls(hop_size=hop)._hop


def _old_pipeline(diffs, seqs):
    """A fitted pipeline whose WindowAggregator is as 0.1 saved it: ``deltas``, no ``diffs``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    model = Pipeline(
        [
            ("agg", WindowAggregator(stats=("mean", "max"), diffs=diffs)),
            ("clf", LogisticRegression()),
        ]
    ).fit(seqs, [0, 1])
    agg = model.named_steps["agg"]
    del agg.__dict__["diffs"]
    agg.__dict__["deltas"] = diffs
    return model


def test_window_aggregator_deltas_still_works_with_a_future_warning():
    seqs = [np.random.default_rng(1).standard_normal((n, 3)) for n in (1, 6)]
    with pytest.warns(FutureWarning, match="`deltas` was renamed `diffs`"):
        old = WindowAggregator(stats=("mean", "max"), deltas=True).fit(seqs)
    new = WindowAggregator(stats=("mean", "max"), diffs=True).fit(seqs)
    np.testing.assert_array_equal(old.transform(seqs), new.transform(seqs))
    assert list(old.get_feature_names_out()) == list(new.get_feature_names_out())
    assert new.n_features_out_ == old.n_features_out_ == 12


@pytest.mark.parametrize("diffs", [True, False])
def test_window_aggregator_pickled_before_the_rename_loads_with_diffs(diffs, tmp_path):
    seqs = [np.arange(12.0).reshape(4, 3) ** 2, np.ones((2, 3))]
    expected = WindowAggregator(stats=("mean", "max"), diffs=diffs).fit(seqs).transform(seqs)
    pickled = pickle.loads(pickle.dumps(_old_pipeline(diffs, seqs)))
    save_model(_old_pipeline(diffs, seqs), tmp_path / "model.skops")
    from_skops = load_model(tmp_path / "model.skops")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        for model in (pickled, from_skops):
            agg = model.named_steps["agg"]
            assert agg.diffs is diffs and agg.deltas == "deprecated"
            np.testing.assert_array_equal(agg.transform(seqs), expected)
            assert model.predict(seqs).shape == (2,)


def test_cli_embed_hop_size_flag_still_works(capsys, tmp_path, monkeypatch, write_wav):
    import embedclf.cli as cli

    monkeypatch.setitem(cli.EMBEDDERS, "birdnet", (__name__, "Toy"))
    wav = write_wav("a.wav", np.zeros(16000), sr=8000)
    for flag in ("--hop", "--hop-size"):
        out = tmp_path / f"{flag.strip('-')}.csv"
        code = cli.main(["embed", str(wav), "-o", str(out), flag, "0.25", "--quiet"])
        err = capsys.readouterr().err
        assert code == 0 and pd.read_csv(out)["time"].tolist()[:3] == [0.0, 0.25, 0.5]
        assert ("--hop-size is deprecated" in err) == (flag == "--hop-size")
