"""Analysis windows and WindowAggregator against plain numpy."""

import numpy as np
import pytest

from embedclf import WindowAggregator
from embedclf.features.windows import split_windows, window_starts


def test_window_starts_cover_the_sequence():
    assert window_starts(10, 4, 4).tolist() == [0, 4, 8]
    assert window_starts(8, 4, 4).tolist() == [0, 4]
    assert window_starts(3, 4, 2).tolist() == [0]
    assert window_starts(3, 4, 2, pad="none").tolist() == []
    assert window_starts(10, 2, 5).tolist() == [0, 5]  # hop > window: no all-padding window
    with pytest.raises(ValueError):
        window_starts(10, 0, 1)


def test_split_windows_in_seconds_with_overlap():
    seq = np.arange(50, dtype=np.float32).reshape(25, 2)  # 25 frames at 10 frames/s
    w, t = split_windows(seq, window=1.0, hop=0.5, frame_rate=10)
    assert w.shape == (4, 10, 2)
    np.testing.assert_allclose(t, [0.0, 0.5, 1.0, 1.5])
    np.testing.assert_array_equal(w[1], seq[5:15])
    # the last window is padded with the sequence minimum (silence)
    assert np.all(w[-1][10:] == 0) and np.array_equal(w[-1][:10], seq[15:25])


def test_split_windows_short_sequence_padded():
    w, t = split_windows(np.ones((3, 4)), window=5, fill=-80.0)
    assert w.shape == (1, 5, 4) and np.all(w[0, 3:] == -80.0) and t.tolist() == [0]


def test_aggregator_matches_numpy(rng):
    seqs = [rng.standard_normal((n, 3)).astype(np.float32) for n in (5, 9, 1)]
    agg = WindowAggregator(
        stats=("mean", "std", "min", "max", "median"), quantiles=(0.25,), diffs=True
    ).fit(seqs)
    out = agg.transform(seqs)
    assert out.shape == (3, 3 * 6 * 2) and out.dtype == np.float32
    for S, row in zip(seqs, out):
        S = S.astype(np.float64)
        D = np.diff(S, axis=0) if len(S) > 1 else np.zeros_like(S)
        expected = np.concatenate(
            [
                f(A)
                for A in (S, D)
                for f in (
                    lambda A: A.mean(0),
                    lambda A: A.std(0),
                    lambda A: A.min(0),
                    lambda A: A.max(0),
                    lambda A: np.median(A, 0),
                    lambda A: np.quantile(A, 0.25, axis=0),
                )
            ]
        )
        np.testing.assert_allclose(row, expected, rtol=1e-6, atol=1e-6)
    names = agg.get_feature_names_out()
    assert names[0] == "mean_f0" and names[-1] == "delta_q0.25_f2" and len(names) == out.shape[1]


def test_aggregator_float64_in_float64_out():
    X = np.zeros((2, 4, 3))
    assert WindowAggregator().fit_transform(X).dtype == np.float64


def test_aggregator_errors():
    with pytest.raises(ValueError, match="unknown stats"):
        WindowAggregator(stats=("mean", "mode")).fit([np.ones((2, 2))])
    with pytest.raises(ValueError, match="quantiles must lie in"):
        WindowAggregator(quantiles=(1.5,)).fit([np.ones((2, 2))])
    agg = WindowAggregator().fit([np.ones((2, 3))])
    with pytest.raises(ValueError, match="X has 4 features, but WindowAggregator is expecting 3"):
        agg.transform([np.ones((2, 4))])
    with pytest.raises(ValueError, match="different feature sizes"):
        WindowAggregator().fit([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="NaN or infinity"):
        agg.transform([np.array([[np.nan, 0, 0]])])


def test_split_windows_nothing_to_keep():
    w, t = split_windows(np.zeros((2, 3)), 4, pad="none")
    assert w.shape == (0, 4, 3) and len(t) == 0
