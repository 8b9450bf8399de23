"""Live recognition on long recordings: event F1 (sed_eval), real-time factor, latency.

Long recordings are built from held-out ESC-10 clips (fold 5): each clip is
trimmed to its sound (frames within 40 dB of its loudest), scaled to a given
SNR against the background and placed at a random time, one after another
with 1-6 s gaps, over synthetic pink noise whose level drifts slowly (ESC-10
has no background recordings of its own; its rain, sea waves and fire are
target classes). One recording per SNR (20, 10, 0 dB), 44.1 kHz, streamed
through :class:`embedclf.stream.Recognizer` in 4096-sample blocks and
resampled on the fly to each model's rate.

Models are trained on folds 1-4 as the streams hold them (each clip trimmed,
cropped to at most 2 s, at a random 0-20 dB SNR over pink noise of another
seed) plus a ``_background_`` class (80 two-second noise clips, +-6 dB; the
Recognizer never reports it): ``logmel-linear``, ``birdnet-linear``, ``cnn`` and the int8
student (a Distiller of the logmel-linear teacher, exported and run from its
folder by LiteRT).

Metrics: event-based precision, recall and F1 from ``sed_eval`` with a
0.5 s onset collar (offsets not scored; a second F1 also scores offsets with
sed_eval's default 50%-of-length offset collar); real-time factor (audio
seconds per wall second and per CPU second, resampling included); decision
latency (from a detected event's true onset to the moment the Recognizer
started it, median over detected reference events) and per-window compute
latency. A sweep replays the stored window scores through the event logic
(no model calls) for other smoothing / threshold / suppression settings.

Settings are chosen on separate validation recordings: ESC-10 fold 4 clips
(built the same way, other seeds) streamed to the same kinds of model
trained on folds 1-3 only; the test F1 of the chosen settings is reported
beside the defaults' (and, for reference only, the best setting chosen on
the test recordings themselves).

A run with ``--kinds`` keeps the other kinds' rows from the last run's tables.

Writes ``benchmarks/results/streaming.csv``, ``streaming.md``,
``streaming_sweep.csv`` (both splits) and ``streaming_timeline.png`` (the first minute at
10 dB SNR, ``cnn`` when it is run).

``int8-student-full`` streams the same exported student scoring full windows only
(``Int8Folder(partial_windows=False)``; it needs ``int8-student`` run before it).

Usage: python benchmarks/streaming.py [--kinds logmel-linear,birdnet-linear,cnn,int8-student]
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from timing import load_average  # beside this script

from embedclf.audio import load_audio
from embedclf.datasets import load_esc10
from embedclf.files import atomic_write, atomic_write_data
from embedclf.pipelines import make_pipeline
from embedclf.stream import Recognizer, ResamplingWarning, plot_timeline, rechunk

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
SR = 44100
NOISE_DBFS = -30.0
SNRS = (20, 10, 0)
BLOCK = 4096
WINDOWS = {"birdnet-linear": (3.0, 1.0)}  # others: 1 s windows, 0.5 s hop (the CNNs' own)
# windows per model call (the Recognizer's batch; default 1): BirdNET's interpreter runs a
# batch of windows faster per window, for up to one more hop of decision latency
BATCH = {"birdnet-linear": 2}


def pink_noise(n, rng):
    """Pink (1/f) noise at NOISE_DBFS RMS, its level drifting +-3 dB over ~10 s."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    y = np.fft.irfft(spec, n)
    y *= 10 ** (NOISE_DBFS / 20) / np.sqrt(np.mean(y**2))
    drift = 10 ** (3 * np.sin(2 * np.pi * np.arange(n) / (10 * SR) + rng.uniform(0, 6)) / 20)
    return (y * drift).astype(np.float32)


def trimmed(y, top_db=40.0, frame=2048):
    """The clip from its first to its last frame within ``top_db`` of its loudest."""
    n = len(y) // frame
    rms = np.sqrt(np.mean(y[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)
    on = np.flatnonzero(20 * np.log10(rms / rms.max()) > -top_db)
    return y[on[0] * frame : (on[-1] + 1) * frame]


def build_recording(clips, labels, snr, seed):
    """One long recording and its reference events (label, onset, offset)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(clips))
    pieces, ref, t = [], [], 0
    noise_rms = 10 ** (NOISE_DBFS / 20)
    for i in order:
        gap = int(rng.uniform(1.0, 6.0) * SR)
        ev = trimmed(clips[i])
        ev = ev * (noise_rms * 10 ** (snr / 20) / np.sqrt(np.mean(ev**2)))
        pieces += [np.zeros(gap, np.float32), ev.astype(np.float32)]
        ref.append((labels[i], (t + gap) / SR, (t + gap + len(ev)) / SR))
        t += gap + len(ev)
    pieces.append(np.zeros(3 * SR, np.float32))
    y = np.concatenate(pieces)
    return y + pink_noise(len(y), rng), ref


def background_files(folder, n=80, seed=123):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        p = folder / f"noise_{k:02d}.wav"
        if not p.exists():
            sf.write(
                p, pink_noise(2 * SR, rng) * 10 ** (rng.uniform(-6, 6) / 20), SR, subtype="FLOAT"
            )
        paths.append(str(p))
    return paths


def training_mixtures(folder, paths, labels, seed=7, max_event=2.0):
    """Training clips as the streams hold them: each fold 1-4 clip trimmed to its sound
    (a random crop of at most ``max_event`` s), at a random SNR of 0-20 dB over pink noise
    (another seed), with 0.25 s of noise before and after."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    noise_rms = 10 ** (NOISE_DBFS / 20)
    for k, (path, _label) in enumerate(zip(paths, labels)):
        p = folder / f"{k:03d}.wav"
        if not p.exists():
            ev = trimmed(load_audio(path, sr=SR)[0])
            n = int(max_event * SR)
            if len(ev) > n:
                start = rng.integers(0, len(ev) - n + 1)
                ev = ev[start : start + n]
            ev = ev * (noise_rms * 10 ** (rng.uniform(0, 20) / 20) / np.sqrt(np.mean(ev**2)))
            pad = int(0.25 * SR)
            mix = np.concatenate([np.zeros(pad), ev, np.zeros(pad)]).astype(np.float32)
            sf.write(p, mix + pink_noise(len(mix), rng), SR, subtype="FLOAT")
        out.append(str(p))
    return out


def train(kind, X, y, build, teacher=None, cache=None):
    if kind == "int8-student-full":  # the int8-student's folder, full windows only
        from embedclf.stream import Int8Folder

        return Int8Folder(build / "student", partial_windows=False)
    if kind == "int8-student":
        from embedclf.distill import Distiller, export
        from embedclf.models import Augmenter
        from embedclf.stream import Int8Folder

        dist = Distiller(
            teacher,
            width=2.0,
            epochs=60,
            random_state=0,
            augment=Augmenter(copies=0, mixup=0.3, freq_mask=0.15, time_mask=0.15),
        )
        dist.fit(X, y)
        out = build / "student"
        export(dist, out, X)
        return Int8Folder(out)
    model = make_pipeline(kind)
    if "emb__cache" in model.get_params():
        model.set_params(emb__cache=str(cache or build / "cache"))
        model.fit(X, y)
        return model.set_params(emb__cache=None)  # streamed windows are never seen twice
    return model.fit(X, y)


def stream(model, y, window, hop, **settings):
    rec = Recognizer(model, window=window, hop=hop, input_sr=SR, **settings)
    t, c = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResamplingWarning)  # every model here resamples
        for block in rechunk([y], BLOCK):
            rec.push(block)
        rec.flush()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return rec, wall, cpu


class Replay:
    """Stored window scores played back to the Recognizer's event logic."""

    def __init__(self, rec):
        self.classes_, self.rows, self.k = rec.classes_, [w.scores for w in rec.windows], 0
        self.sr = rec.sr

    def get_params(self, deep=True):
        return {"sr": self.sr}

    def predict_proba(self, X):
        self.k += 1
        return self.rows[self.k - 1][None]


def replay(rec, y_len_s, **settings):
    """Events from ``rec``'s stored scores under other settings (no audio, no model)."""
    r = Recognizer(Replay(rec), window=rec.window, hop=rec.hop, history=True, **settings)
    w = [(win.start, win.end) for win in rec.windows]
    # push exactly the samples that make the same windows appear, then flush for the tail
    for _s, e in w:
        need = int(round(e * r.sr)) - r.n_samples
        if need > 0:
            r.push(np.zeros(need, np.float32))
    r.flush()
    return r.events


def scores_of(ref, events, labels):
    import dcase_util
    import sed_eval

    def lst(items):
        return dcase_util.containers.MetaDataContainer(
            [
                {
                    "event_label": str(lab),
                    "onset": float(on),
                    "offset": float(off),
                    "filename": "stream",
                }
                for lab, on, off in items
            ]
        )

    est = [(e.label, e.onset, e.offset) for e in events]
    out = {}
    for name, offset in (("onset", False), ("onset_offset", True)):
        m = sed_eval.sound_event.EventBasedMetrics(
            event_label_list=labels, t_collar=0.5, evaluate_onset=True, evaluate_offset=offset
        )
        m.evaluate(reference_event_list=lst(ref), estimated_event_list=lst(est))
        r = m.results_overall_metrics()
        out[name] = (
            r["f_measure"]["precision"],
            r["f_measure"]["recall"],
            r["f_measure"]["f_measure"],
        )
    return out


def latency(ref, events):
    """Median seconds from a detected reference event's onset to the start decision."""
    lat = []
    for lab, on, off in ref:
        hits = [
            e.detected - on
            for e in events
            if str(e.label) == str(lab) and e.onset < off and e.offset > on
        ]
        if hits:
            lat.append(min(hits))
    return float(np.median(lat)) if lat else float("nan")


GRID = [
    {"smoothing": sm, "threshold": th, "suppression": su}
    for sm in (0.5, 1.0, 2.0)
    for th in (0.3, 0.4, 0.5, 0.6, 0.7)
    for su in (0.0, 0.5, 1.0)
]
DEFAULTS = {"smoothing": 1.0, "threshold": 0.5, "suppression": 0.5}  # the Recognizer's


def setting_key(settings):
    return (settings["smoothing"], settings["threshold"], settings["suppression"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--kinds", default="logmel-linear,int8-student,int8-student-full,cnn,birdnet-linear"
    )
    ap.add_argument("--build", default=str(HERE.parent / "build" / "streaming"))
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if not (DATA / "esc10").is_dir():
        print(f"no ESC-10 under {DATA}; nothing to measure", file=sys.stderr)
        return 0
    build = Path(args.build)
    df = load_esc10(DATA / "esc10")
    tr, te = df[df["fold"] != 5], df[df["fold"] == 5]
    labels = sorted(df["label"].unique())
    bg = background_files(build / "background")
    mixtures = training_mixtures(build / "train", tr["path"].tolist(), tr["label"].tolist())
    train_folds = tr["fold"].to_numpy()

    def training_set(keep):
        X = [m for m, k in zip(mixtures, keep) if k] + bg
        y = [lab for lab, k in zip(tr["label"].tolist(), keep) if k] + ["_background_"] * len(bg)
        return X, np.asarray(y, dtype=object)

    def recordings_of(clips_df, seed0):
        clips = [load_audio(p, sr=SR)[0] for p in clips_df["path"]]
        return {
            snr: build_recording(clips, clips_df["label"].tolist(), snr, seed=seed0 + snr)
            for snr in SNRS
        }

    va = tr[tr["fold"] == 4]
    # validation: fold-4 clips streamed to models trained on folds 1-3 (settings chosen here);
    # test: fold-5 clips streamed to models trained on folds 1-4 (reported)
    splits = {
        "validation": (training_set(train_folds != 4), recordings_of(va, 1000)),
        "test": (training_set(np.ones(len(tr), bool)), recordings_of(te, 0)),
    }
    kinds = args.kinds.split(",")
    rows, sweep, timeline = kept_rows(args.out, kinds) + (None,)
    for kind in kinds:
        window, hop = WINDOWS.get(kind, (1.0, 0.5))
        batch = BATCH.get(kind, 1)
        for split, ((X, y), recordings) in splits.items():
            t = time.perf_counter()
            sub = build / split
            teacher = None
            if kind == "int8-student":
                teacher = train("logmel-linear", X, y, sub)
            model = train(kind, X, y, sub, teacher=teacher, cache=build / "cache")
            fit_s = time.perf_counter() - t
            for snr, (audio, ref) in recordings.items():
                load = load_average()
                rec, wall, cpu = stream(model, audio, window, hop, batch=batch)
                load = (load + load_average()) / 2
                dur = len(audio) / SR
                for settings in GRID:
                    ev = replay(rec, dur, **settings)
                    f = scores_of(ref, ev, labels)
                    sweep.append(
                        {
                            "kind": kind,
                            "split": split,
                            "snr_db": snr,
                            **settings,
                            "n_events": len(ev),
                            "precision": f["onset"][0],
                            "recall": f["onset"][1],
                            "f1": f["onset"][2],
                            "f1_onset_offset": f["onset_offset"][2],
                            "decision_latency_s": latency(ref, ev),
                        }
                    )
                if split != "test":
                    continue
                s = scores_of(ref, rec.events, labels)
                rows.append(
                    {
                        "kind": kind,
                        "snr_db": snr,
                        "audio_s": round(dur, 1),
                        "n_ref": len(ref),
                        "n_events": len(rec.events),
                        "precision": s["onset"][0],
                        "recall": s["onset"][1],
                        "f1": s["onset"][2],
                        "f1_onset_offset": s["onset_offset"][2],
                        "rtf_wall": dur / wall,
                        "rtf_cpu": dur / cpu,
                        "load_avg": load,
                        "ms_per_window": 1e3 * wall / max(1, len(rec.windows)),
                        "decision_latency_s": latency(ref, rec.events),
                        "fit_s": round(fit_s, 1),
                        "window_s": window,
                        "hop_s": hop,
                        "batch": batch,
                    }
                )
                print(
                    {k: (round(v, 3) if isinstance(v, float) else v) for k, v in rows[-1].items()},
                    file=sys.stderr,
                )
                if snr == 10 and (timeline is None or kind == "cnn"):  # the best kind, if run
                    timeline = (rec, audio, ref)
        write_results(rows, sweep, args.out)  # after each kind: a long run shows progress
    # the timeline shows the cnn when it is run; another kind only when there is none yet
    drawn = os.path.exists(os.path.join(args.out, "streaming_timeline.png"))
    write_results(rows, sweep, args.out, timeline if "cnn" in kinds or not drawn else None)
    return 0


def kept_rows(out, kinds):
    """Rows and sweep rows of the kinds not run this time, from the last run's tables."""
    rows, sweep = [], []
    for name, into in (("streaming.csv", rows), ("streaming_sweep.csv", sweep)):
        path = os.path.join(out, name)
        if os.path.exists(path):
            old = pd.read_csv(path)
            into += old[~old["kind"].isin(kinds)].to_dict("records")
    return rows, sweep


def write_results(rows, sweep, out, timeline=None):
    table = pd.DataFrame(rows)
    sw = pd.DataFrame(sweep)
    os.makedirs(out, exist_ok=True)
    atomic_write(os.path.join(out, "streaming.csv"), lambda p: table.to_csv(p, index=False))
    atomic_write(os.path.join(out, "streaming_sweep.csv"), lambda p: sw.to_csv(p, index=False))
    md = [
        "Event-based (sed_eval, onset collar 0.5 s) on ESC-10 fold 5 placed over pink noise, "
        "models trained on folds 1-4; the Recognizer's defaults (smoothing "
        f"{DEFAULTS['smoothing']:g} s, threshold {DEFAULTS['threshold']:g} (off 0.8x), "
        f"suppression {DEFAULTS['suppression']:g} s); 4096-sample blocks at 44.1 kHz, "
        "resampled to each model's rate. RTF = audio s per wall (CPU) s on 2 cores shared "
        "with other jobs (load average beside it).",
        "",
        "| kind | window / hop / batch | SNR dB | events (ref) | precision | recall | F1 | "
        "F1 onset+offset | RTF wall | RTF CPU | load avg | ms / window | decision latency s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| `{r['kind']}` | {r['window_s']:g} s / {r['hop_s']:g} s / {r['batch']} | "
            f"{r['snr_db']} | {r['n_events']} ({r['n_ref']}) | "
            f"{100 * r['precision']:.1f}% | {100 * r['recall']:.1f}% | "
            f"{100 * r['f1']:.1f}% | {100 * r['f1_onset_offset']:.1f}% | "
            f"{r['rtf_wall']:.0f}x | {r['rtf_cpu']:.0f}x | {r['load_avg']:.1f} | "
            f"{r['ms_per_window']:.1f} | {r['decision_latency_s']:.2f} |"
        )
    if len(sw):
        md += choice_tables(sw)
    atomic_write_data(os.path.join(out, "streaming.md"), "\n".join(md) + "\n")
    print("\n".join(md), file=sys.stderr)
    if timeline is not None:
        from embedclf.stream import SpectrogramLog

        rec, audio, ref = timeline
        span = 60.0  # the first minute, readable
        spec = SpectrogramLog(SR, frame=2048)
        spec.push(audio[: int(span * SR)])
        short = Recognizer(Replay(rec), window=rec.window, hop=rec.hop)
        short.windows = [w for w in rec.windows if w.end <= span]
        short.events = [e for e in rec.events if e.offset <= span]
        plot_timeline(
            os.path.join(out, "streaming_timeline.png"),
            short,
            spec.result(),
            reference=[r for r in ref if r[2] <= span],
        )


def choice_tables(sw):
    """Markdown: settings chosen on the validation recordings, their F1 on the test ones."""
    keys = ["smoothing", "threshold", "suppression"]
    mean = sw.groupby(["split", "kind", *keys])["f1"].mean()  # over the three SNRs
    val, test = mean.loc["validation"], mean.loc["test"]
    kinds = list(dict.fromkeys(sw["kind"]))
    # one setting for every kind: the best mean validation F1 over kinds
    # (the full-windows student is a diagnostic of int8-student: not counted twice)
    counted = val[val.index.get_level_values("kind") != "int8-student-full"]
    common = counted.groupby(level=keys).mean().idxmax()
    d = setting_key(DEFAULTS)
    md = [
        "",
        "Settings chosen on separate validation recordings (ESC-10 fold 4 over pink noise of "
        "other seeds, models trained on folds 1-3; stored window scores replayed over a grid "
        "of smoothing 0.5-2 s, threshold 0.3-0.7, suppression 0-1 s) and scored on the test "
        "recordings above; mean F1 over the three SNRs. 'Common' is the one setting best over "
        f"all kinds on validation: smoothing {common[0]:g} s, threshold {common[1]:g}, "
        f"suppression {common[2]:g} s. 'Test-best' is chosen on the test recordings themselves "
        "(optimistic, for reference only).",
        "",
        "| kind | test F1, defaults | chosen on validation (smoothing / threshold / "
        "suppression) | validation F1 | test F1 | test F1, common | test-best F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in kinds:
        v, t = val.loc[kind], test.loc[kind]
        best = v.idxmax()
        md.append(
            f"| `{kind}` | {100 * t.loc[d]:.1f}% | {best[0]:g} / {best[1]:g} / {best[2]:g} | "
            f"{100 * v.loc[best]:.1f}% | {100 * t.loc[best]:.1f}% | "
            f"{100 * t.loc[tuple(common)]:.1f}% | {100 * t.max():.1f}% |"
        )
    return md


if __name__ == "__main__":
    sys.exit(main())
