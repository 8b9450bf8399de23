"""LogMel and MFCC against librosa (an independent reference), and their options."""

import librosa
import numpy as np
import pytest

from embedclf import MFCC, LogMel
from embedclf.features.logmel import log_mel, mel_filterbank, mfcc, power_to_db

RTOL = 1e-4


def assert_close(ours, ref):
    """Within 1e-4 relative error, relative to the spectrogram's dB range."""
    ref = np.asarray(ref, dtype=np.float64)
    err = np.max(np.abs(ours - ref)) / np.max(np.abs(ref))
    assert err < RTOL, f"max relative error {err:.2e}"


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(42)
    sr = 22050
    t = np.arange(3 * sr) / sr
    out = []
    for k in range(3):
        sweep = np.sin(2 * np.pi * (200 + 800 * k) * t * (1 + t))
        out.append((0.3 * sweep + 0.05 * rng.standard_normal(len(t))).astype(np.float32))
    out.append((0.1 * rng.standard_normal(sr // 3)).astype(np.float32))  # a short clip
    return out, sr


PARAMS = [
    {},
    {"n_fft": 2048, "hop_length": 256, "n_mels": 128},
    {"center": False},
    {"pad_mode": "reflect"},
    {"win_length": 512, "window": "hamming"},
    {"htk": True, "norm": None, "n_mels": 40, "fmin": 50.0, "fmax": 8000.0},
    {"power": 1.0},
    {"norm": 2.0},
    {"n_fft": 1023, "hop_length": 300},  # odd n_fft: the bin grid is rfftfreq's
]


@pytest.mark.parametrize(
    "params", PARAMS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default"
)
def test_logmel_matches_librosa(clips, params):
    X, sr = clips
    mel = LogMel(sr=sr, **params).fit(X)
    ours = mel.transform(X)
    kw = {"n_fft": 1024, "hop_length": 512, "n_mels": 64, **params}
    for y, S in zip(X, ours):
        ref = librosa.power_to_db(
            librosa.feature.melspectrogram(y=y.astype(np.float64), sr=sr, **kw)
        )
        assert S.dtype == np.float32 and S.shape == ref.T.shape
        assert_close(S, ref.T)


@pytest.mark.parametrize(
    "ref, top_db, amin", [("max", 80.0, 1e-10), (1.0, None, 1e-5), (10.0, 60.0, 1e-10)]
)
def test_log_compression_matches_librosa(clips, ref, top_db, amin):
    X, sr = clips
    S = LogMel(sr=sr, ref=ref, top_db=top_db, amin=amin).fit(X).transform(X[:1])[0]
    P = librosa.feature.melspectrogram(
        y=X[0].astype(np.float64), sr=sr, n_fft=1024, hop_length=512, n_mels=64
    )
    expected = librosa.power_to_db(P, ref=np.max if ref == "max" else ref, amin=amin, top_db=top_db)
    np.testing.assert_allclose(S, expected.T, rtol=RTOL, atol=RTOL * np.abs(expected).max())


def test_mel_power_without_log(clips):
    X, sr = clips
    S = LogMel(sr=sr, log=False).fit(X).transform(X[:1])[0]
    ref = librosa.feature.melspectrogram(
        y=X[0].astype(np.float64), sr=sr, n_fft=1024, hop_length=512, n_mels=64
    ).T
    # power values: relative to the largest entry (float32 FFT rounding)
    assert np.max(np.abs(S - ref)) / ref.max() < 1e-5


def test_filterbank_matches_librosa():
    for kw in [{}, {"htk": True}, {"fmin": 100, "fmax": 4000, "norm": None}]:
        ours = mel_filterbank(16000, 512, n_mels=40, **kw)
        ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, **kw)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("deltas, lifter", [(0, 0), (2, 0), (1, 22)])
def test_mfcc_matches_librosa(clips, deltas, lifter):
    X, sr = clips
    ours = MFCC(sr=sr, n_mfcc=13, deltas=deltas, lifter=lifter).fit(X).transform(X[:2])
    for y, C in zip(X[:2], ours):
        ref = librosa.feature.mfcc(
            y=y.astype(np.float64),
            sr=sr,
            n_mfcc=13,
            n_fft=1024,
            hop_length=512,
            n_mels=64,
            lifter=lifter,
        )
        parts = [ref] + [librosa.feature.delta(ref, order=k) for k in range(1, deltas + 1)]
        expected = np.vstack(parts).T
        assert C.shape == expected.shape
        assert_close(C, expected)


def test_functional_forms_equal_transformers(clips):
    X, sr = clips
    np.testing.assert_array_equal(
        log_mel(X[0], sr, n_mels=32), LogMel(sr=sr, n_mels=32).fit(X).transform(X[:1])[0]
    )
    np.testing.assert_array_equal(mfcc(X[0], sr), MFCC(sr=sr).fit(X).transform(X[:1])[0])


@pytest.mark.numeric
def test_batching_and_threads_do_not_change_results(clips):
    X, sr = clips
    many = X * 30  # several internal chunks and thread parts
    one_by_one = [LogMel(sr=sr).fit(X).transform([y])[0] for y in X]
    threaded = LogMel(sr=sr, n_jobs=2).fit(X).transform(many)
    for k, S in enumerate(threaded):
        np.testing.assert_array_equal(S, one_by_one[k % len(X)])
    two_d = LogMel(sr=sr).fit(X).transform(np.stack([X[0], X[1]]))
    np.testing.assert_array_equal(two_d[1], one_by_one[1])


@pytest.mark.numeric
@pytest.mark.parametrize(
    "params", [{}, {"top_db": None}, {"ref": 2.5, "top_db": 40}, {"power": 1.0, "amin": 1e-5}]
)
def test_decibels_of_a_batch_equal_each_clip_converted_alone(clips, params):
    """The batch's decibels are one elementwise call; a clip's bits must not depend on
    where its frames sit in that call (SIMD bodies and tails round alike)."""
    from embedclf.features.mel import mel_power

    X, sr = clips
    many = [y[: len(y) - 37 * k] for k in range(5) for y in X]  # frames at many offsets
    lm = LogMel(sr=sr, n_jobs=2, **params).fit(X)
    alone = [
        power_to_db(M, lm.ref, lm.amin, lm.top_db)
        for y in many
        for M in mel_power(
            [y],
            lm.n_fft,
            lm.hop_length,
            lm.window_,
            lm.center,
            lm.pad_mode,
            float(lm.power),
            lm.mel_basis_,
        )
    ]
    for got, want in zip(lm.transform(many), alone):
        np.testing.assert_array_equal(got, want)


@pytest.mark.numeric
def test_a_clip_never_shares_a_matrix_product_with_another_clip(clips, monkeypatch):
    """Features do not depend on the batch even where BLAS rounds a row by its position.

    OpenBLAS's Haswell/Zen kernels (e.g. AMD EPYC) round a row of a product
    differently by where it sits in the block; this stands in for such a kernel.
    """
    from embedclf.features import mel as lm

    def position_sensitive(P, groups, out):
        for a, b, lo, hi, B in groups:
            rows = P[:, lo:hi] @ B
            rows *= 1 + 1e-6 * (np.arange(len(rows)) % 5)[:, None]  # a row's rounding moves
            out[:, a:b] = rows

    monkeypatch.setattr(lm, "_project", position_sensitive)
    X, sr = clips
    mel = LogMel(sr=sr).fit(X)
    alone = [mel.transform([y])[0] for y in X]
    for order in ([3, 0, 2, 1], [1, 1, 3, 2, 0]):
        together = mel.transform([X[k] for k in order])
        for k, S in zip(order, together):
            np.testing.assert_array_equal(S, alone[k])


def test_frame_times_match_librosa():
    mel = LogMel(sr=22050, hop_length=512)
    np.testing.assert_allclose(
        mel.frame_times(5), librosa.frames_to_time(np.arange(5), sr=22050, hop_length=512)
    )


def test_clip_shorter_than_one_frame():
    S = LogMel(sr=8000, n_fft=1024, center=False).fit([np.ones(10)]).transform([np.ones(10)])
    assert S[0].shape == (1, 64) and np.all(np.isfinite(S[0]))


def test_silence_is_finite_and_floored():
    S = log_mel(np.zeros(8000, dtype=np.float32), 8000, n_mels=16)
    np.testing.assert_allclose(S, -100.0, rtol=1e-6)  # 10*log10(amin=1e-10)


def test_window_normalisation(clips):
    X, sr = clips
    mel = LogMel(sr=sr, normalize="window", normalize_window=1.0).fit(X)
    S = mel.transform(X[:1])[0]
    fpw = int(round(sr / 512))
    for start in range(0, S.shape[0] - fpw, fpw):
        block = S[start : start + fpw]
        assert abs(block.mean()) < 1e-4 and abs(block.std() - 1) < 1e-3
    # silence (a constant log-mel) must not be blown up to unit variance
    quiet = mel.transform([np.zeros(sr, dtype=np.float32)])[0]
    assert np.max(np.abs(quiet)) < 1e-5
    # a near-silent window has its std floored: values stay small
    hush = mel.transform(
        [(1e-7 * np.random.default_rng(0).standard_normal(sr)).astype(np.float32)]
    )[0]
    assert np.max(np.abs(hush)) < 1e3


def test_clip_normalisation(clips):
    X, sr = clips
    S = LogMel(sr=sr, normalize="clip").fit(X).transform(X[:1])[0]
    assert abs(S.mean()) < 1e-4 and abs(S.std() - 1) < 1e-3


def test_invalid_parameters_are_clear():
    with pytest.raises(ValueError, match="fmin < fmax <= sr/2"):
        LogMel(sr=8000, fmax=6000).fit([np.zeros(100)])
    with pytest.raises(ValueError, match="win_length=2048 must be <= n_fft=1024"):
        LogMel(win_length=2048).fit([np.zeros(100)])
    with pytest.raises(ValueError, match="n_mfcc=30 must be <= n_mels=20"):
        MFCC(n_mfcc=30, n_mels=20).fit([np.zeros(100)])
    with pytest.raises(ValueError, match="'n_mels' parameter"):
        LogMel(n_mels=0).fit([np.zeros(100)])


def test_power_to_db_reference_values():
    np.testing.assert_allclose(
        power_to_db(np.array([1e-12, 1.0, 100.0]), top_db=None), [-100.0, 0.0, 20.0]
    )


def test_windows_top_db_floor_equals_each_window_floored_alone():
    from numpy.lib.stride_tricks import sliding_window_view

    from embedclf.features.mel import top_db_floor, windows_top_db_floor

    rng = np.random.default_rng(0)
    S = (rng.standard_normal((40, 6)) * 40).astype(np.float32)
    W = sliding_window_view(S, (8, 6))[:, 0]  # read-only, overlapping windows
    got = windows_top_db_floor(W, 50.0)
    want = np.stack([top_db_floor(w.copy(), 50.0) for w in W])
    assert got.dtype == np.float32 and np.array_equal(got, want)
    assert not np.array_equal(got, W)  # the floor bites in this draw
    assert windows_top_db_floor(W, None) is W


def test_concurrent_transforms_restore_blas_threads(clips):
    import threading

    from threadpoolctl import threadpool_info

    X, sr = clips
    before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    mel = LogMel(sr=sr, n_jobs=2).fit(X)
    threads = [
        threading.Thread(target=lambda: [mel.transform(X[:2]) for _ in range(30)]) for _ in range(3)
    ]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"] == before


def test_threaded_transform_works_in_forked_child(clips):
    import multiprocessing as mp

    X, sr = clips
    mel = LogMel(sr=sr, n_jobs=2).fit(X)
    mel.transform(X)  # the parent's pool and plans exist now
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=lambda: queue.put(mel.transform(X)[0].shape))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and queue.get(timeout=5) == mel.transform(X)[0].shape


@pytest.mark.numeric
def test_fft_plans_never_depend_on_timing_so_processes_agree_bit_for_bit():
    """FFTW_MEASURE picks an algorithm by timing it, so two processes on one machine (a Dask
    worker and its client) could round differently; plans use FFTW's fixed heuristics."""
    import subprocess
    import sys

    from embedclf._utils.fft import FFTPlan

    plan = FFTPlan(8, 2048)
    if plan._plan is None:
        pytest.skip("pyFFTW not installed: scipy's FFT has no planner")
    assert "FFTW_ESTIMATE" in plan._plan.flags
    assert not {"FFTW_MEASURE", "FFTW_PATIENT", "FFTW_EXHAUSTIVE"} & set(plan._plan.flags)
    code = (
        "import numpy as np, sys; from embedclf import LogMel;"
        "x = np.random.default_rng(0).standard_normal(44100).astype(np.float32);"
        "sys.stdout.buffer.write(LogMel(sr=22050).fit([x]).transform([x])[0].tobytes())"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
            for _ in range(2)]  # fmt: skip
    assert len(runs[0]) > 0 and runs[0] == runs[1]
