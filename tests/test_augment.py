"""Augmentation: each transform against librosa or exact arithmetic, seeding."""

import numpy as np
import pytest

from embedclf.models.augment import (
    Augmenter,
    add_noise,
    make_noise,
    mix_clips,
    mixup,
    pitch_shift,
    spec_mask,
    time_shift,
    time_stretch,
)

SR = 16000


def _tone(freq=440.0, seconds=1.0, sr=SR):
    t = np.arange(int(sr * seconds)) / sr
    return np.sin(2 * np.pi * freq * t).astype(np.float32)


def _peak_hz(y, sr=SR):
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.argmax(spec) * sr / len(y)


def test_time_shift_is_circular():
    y = np.arange(6.0)
    assert time_shift(y, -1).tolist() == [1, 2, 3, 4, 5, 0]
    assert time_shift(np.zeros(0), 3).shape == (0,)


@pytest.mark.parametrize("rate", [0.8, 1.25, 2.0])
def test_time_stretch_matches_librosa(rate):
    librosa = pytest.importorskip("librosa")
    y = _tone() + 0.5 * _tone(1250.0)
    ours = time_stretch(y, rate)
    ref = librosa.effects.time_stretch(y, rate=rate)
    assert len(ours) == len(ref) == int(round(len(y) / rate))
    assert _peak_hz(ours) == pytest.approx(_peak_hz(y), abs=2)
    # same magnitude spectrum (steady part, away from the edges)
    a = np.abs(np.fft.rfft(ours[2048:-2048]))
    b = np.abs(np.fft.rfft(ref[2048:-2048]))
    assert np.corrcoef(a, b)[0, 1] > 0.99
    assert np.sqrt(np.mean(ours**2)) == pytest.approx(np.sqrt(np.mean(ref**2)), rel=0.03)


@pytest.mark.parametrize("steps", [-3, 5, 12])
def test_pitch_shift_moves_the_peak_and_keeps_length(steps):
    librosa = pytest.importorskip("librosa")
    y = _tone()
    ours = pitch_shift(y, SR, steps)
    ref = librosa.effects.pitch_shift(y, sr=SR, n_steps=steps)
    assert ours.shape == y.shape and ours.dtype == np.float32
    assert _peak_hz(ours) == pytest.approx(440 * 2 ** (steps / 12), abs=2)
    assert _peak_hz(ours) == pytest.approx(_peak_hz(ref), abs=1)


def test_time_stretch_rejects_bad_rate_and_handles_short_clips():
    with pytest.raises(ValueError, match="rate"):
        time_stretch(_tone(), 0.0)
    assert time_stretch(np.ones(100), 2.0).shape == (50,)
    assert time_stretch(np.zeros(0), 1.5).shape == (0,)
    assert time_stretch(np.ones(100), 1.0).dtype == np.float32
    # shorter than one FFT frame: still a vocoder (pitch kept), not a resampler
    short = _tone(1000.0, 0.05)
    assert len(short) < 1024
    assert _peak_hz(time_stretch(short, 0.5)) == pytest.approx(1000, abs=25)
    assert _peak_hz(pitch_shift(short, SR, 12)) == pytest.approx(2000, abs=50)


@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
def test_add_noise_hits_the_requested_snr(snr):
    y = _tone()
    mixed = add_noise(y, snr, random_state=0)
    measured = 10 * np.log10(np.mean(y**2) / np.mean((mixed - y) ** 2))
    assert measured == pytest.approx(snr, abs=1e-3)


def test_add_noise_from_a_recording_loops_and_keeps_silence_silent():
    rec = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    y = _tone()
    mixed = add_noise(y, 5.0, rec, random_state=1)
    residual = mixed - y
    scale = np.sqrt(np.mean(residual**2) / np.mean(rec**2))
    # the added noise is the recording (looped, scaled): every sample is one of its values
    assert np.allclose(
        np.sort(np.unique(np.round(residual / scale, 4)))[[0, -1]],
        np.round([rec.min(), rec.max()], 4),
        atol=1e-3,
    )
    assert np.array_equal(add_noise(np.zeros(100), 10.0), np.zeros(100))
    with pytest.raises(ValueError, match="noise recording"):
        add_noise(y, 5.0, np.zeros((2, 2)))


@pytest.mark.parametrize("color, slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_make_noise_has_the_colour_slope(color, slope):
    n = make_noise(2**16, color, random_state=0)
    power = np.abs(np.fft.rfft(n)) ** 2
    f = np.arange(len(power))
    band = (f > 50) & (f < 20000)
    fitted = np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.1)
    assert np.mean(n**2) == pytest.approx(1.0, rel=1e-4)


def test_mixup_blends_inputs_and_labels_alike():
    X = np.random.default_rng(0).standard_normal((8, 3, 2)).astype(np.float32)
    Y = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1, 2, 3]]
    Xm, Ym = mixup(X, Y, 0.4, random_state=0)
    assert Xm.shape == X.shape and np.allclose(Ym.sum(1), 1)
    # the same lambda and partner blend each row's input and its label
    rng = np.random.default_rng(0)
    lam = rng.beta(0.4, 0.4, size=8).astype(np.float32)
    perm = rng.permutation(8)
    assert np.allclose(Xm, lam[:, None, None] * X + (1 - lam[:, None, None]) * X[perm])
    assert np.allclose(Ym, lam[:, None] * Y + (1 - lam[:, None]) * Y[perm])
    assert mixup(X, Y, 0.0)[0] is X


def test_spec_mask_hides_one_run_of_bands_and_one_of_frames():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 40, 50, 1)).astype(np.float32) + 5.0  # nothing is 0 by chance
    M = spec_mask(X, 0.2, 0.1, random_state=0)
    assert M.shape == X.shape and M.dtype == X.dtype and (X != 0).all()  # input untouched
    zero = M[..., 0] == 0
    bands, frames = zero.all(axis=2), zero.all(axis=1)  # (window, band), (window, frame)
    widths_b, widths_f = bands.sum(1), frames.sum(1)
    assert widths_b.max() == 8 and widths_f.max() == 5 and widths_b.min() == 0
    for row in [*bands, *frames]:  # one contiguous run of bands and one of frames per window
        idx = np.flatnonzero(row)
        assert len(idx) == 0 or idx[-1] - idx[0] + 1 == len(idx)
    # outside the masked bands and frames every value is kept
    keep = ~(bands[:, :, None] | frames[:, None, :])
    assert np.array_equal(M[..., 0][keep], X[..., 0][keep])
    assert np.array_equal(M, spec_mask(X, 0.2, 0.1, random_state=0))  # seeded
    assert spec_mask(X, 0.0, 0.0) is X


def test_augmenter_windows_only_keeps_the_batch_transforms():
    a = Augmenter(copies=3, mixup=0.2, freq_mask=0.1, time_mask=0.05)
    w = a.windows_only
    assert (w.copies, w.mixup, w.freq_mask, w.time_mask) == (0, 0.2, 0.1, 0.05)
    assert a.acts_on_windows and not Augmenter().acts_on_windows


def test_augmenter_is_seeded_and_keeps_lengths():
    clips = [_tone(300), _tone(600, 0.5)]
    aug = Augmenter(copies=3, p=1.0)
    a = aug.augment(clips, SR, random_state=7)
    b = aug.augment(clips, SR, random_state=7)
    c = aug.augment(clips, SR, random_state=8)
    assert len(a) == 6
    assert [len(w) for w in a] == [SR] * 3 + [SR // 2] * 3
    assert all(np.array_equal(x, z) for x, z in zip(a, b))
    assert not all(np.array_equal(x, z) for x, z in zip(a, c))
    assert not np.allclose(a[0], clips[0])


def test_augmenter_with_p_zero_returns_copies_of_the_input():
    clips = [_tone()]
    out = Augmenter(copies=2, p=0.0).augment(clips, SR, 0)
    assert all(np.array_equal(w, clips[0]) for w in out)


def test_augmenter_draws_from_given_noise_recordings():
    silence = np.zeros(SR, np.float32)
    rec = np.full(100, 0.3, np.float32)
    aug = Augmenter(copies=1, p=1.0, shift=0.0, stretch=None, pitch=None, noise=[rec])
    out = aug.augment([_tone()], SR, 0)[0]
    offset = out - _tone()
    assert np.allclose(offset, offset[0]) and offset[0] > 0  # the constant recording, scaled
    # silence stays silent under every transform (noise is scaled to the signal's level)
    assert np.array_equal(Augmenter(copies=1, p=1.0).augment([silence], SR, 0)[0], silence)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"stretch": (1.2, 0.8)}, "stretch"),
        ({"stretch": (0.0, 1.0)}, "stretch"),
        ({"snr_db": (1.0,)}, "snr_db"),
        ({"p": 2.0}, "p"),
        ({"freq_mask": 1.5}, "freq_mask"),
    ],
)
def test_augmenter_rejects_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        Augmenter(**params).augment([_tone()], SR, 0)


def test_augmenters_pickled_before_the_masks_load_without_them():
    import pickle

    old = Augmenter(copies=1, mixup=0.2)
    del old.freq_mask, old.time_mask  # what an older version pickled
    new = pickle.loads(pickle.dumps(old))
    assert (new.freq_mask, new.time_mask, new.mixup) == (0.0, 0.0, 0.2)
    assert new.get_params()["freq_mask"] == 0.0


def test_mix_clips_adds_another_clip_at_a_drawn_share_keeping_loudness():
    t = np.arange(16000) / 16000
    a = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    b = (0.01 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)  # much quieter
    out = mix_clips([a, b], copies=3, random_state=0, share=(0.5, 0.5))
    assert len(out) == 6 and all(o.shape == a.shape and o.dtype == np.float32 for o in out)
    # two clips: each one's partner is the other, brought to its loudness, equal power shares
    rms = lambda x: np.sqrt(np.mean(np.asarray(x, np.float64) ** 2))  # noqa: E731
    for o in out[:3]:
        np.testing.assert_allclose(
            o, np.sqrt(0.5) * a + np.sqrt(0.5) * b * rms(a) / rms(b), atol=1e-5
        )
    for o in out[3:]:
        np.testing.assert_allclose(rms(o), rms(b), rtol=0.02)  # loudness of clip 1 kept
    # the drawn share is within its range, and seeded
    shares = []
    for o in mix_clips([a, b], copies=20, random_state=1, share=(0.1, 0.3))[:20]:
        w = 1 - (np.dot(o, a) / np.dot(a, a)) ** 2  # a's weight is sqrt(1 - w); a, b orthogonal
        shares.append(w)
    assert 0.09 < min(shares) and max(shares) < 0.31 and np.ptp(shares) > 0.1
    again = mix_clips([a, b], copies=20, random_state=1, share=(0.1, 0.3))
    assert all(np.array_equal(x, y) for x, y in zip(again, mix_clips([a, b], 20, 1, (0.1, 0.3))))


def test_mix_clips_never_mixes_a_clip_with_itself_and_fits_partners_to_length():
    tones = [_tone(f, n / SR) for f, n in [(300, 1600), (500, 1600), (700, 800), (900, 3200)]]
    copies = 12
    out = mix_clips(tones, copies=copies, random_state=0, share=(0.5, 0.5))
    for i, a in enumerate(tones):
        partners, offsets, starts = set(), set(), set()
        for o in out[i * copies : (i + 1) * copies]:
            assert len(o) == len(a)
            rest = o / np.sqrt(0.5) - a  # the partner, brought to a's loudness
            starts.add(int(np.flatnonzero(np.abs(rest) > 1e-3)[0]))
            match = [
                j
                for j, b in enumerate(tones)
                if j != i
                and np.abs(np.fft.rfft(rest))[int(len(rest) * (300 + 200 * j) / SR)]
                > 0.1 * len(rest)
            ]
            assert len(match) == 1  # exactly one other clip, never clip i itself
            assert abs(np.dot(rest, a)) < 0.05 * np.dot(a, a)
            partners.add(match[0])
            if match[0] == 2 and len(a) > 800:  # the short clip is placed, zero-padded
                inside = np.flatnonzero(np.abs(rest) > 1e-3)
                offsets.add(int(inside[0]))
                assert inside[-1] - inside[0] < 800
        assert len(partners) >= 2
        if i in (0, 1, 3):
            assert len(offsets) >= 1
        if i == 3:  # every partner is shorter than clip 3: placed at more than one offset
            assert len(starts) > 1


def test_mix_clips_rejects_one_clip_and_bad_shares():
    with pytest.raises(ValueError, match="at least 2 clips"):
        mix_clips([np.ones(10)], copies=1)
    assert mix_clips([np.ones(10)], copies=0) == []
    with pytest.raises(ValueError, match="share"):
        mix_clips([np.ones(10), np.ones(10)], copies=1, share=(0.8, 0.2))
