"""Recognize sound events live in a long recording, as a microphone would deliver it.

A classifier trained on short clips, plus a background class cut from recordings of "nothing
of interest", is run by ``embedclf.stream.Recognizer`` over a stream in blocks: each analysis
window is scored as soon as its samples have arrived, scores are smoothed over time, and an
event (label, onset, offset) is reported once it has ended. Background labels are never
reported. The same code runs on a microphone (``embedclf.stream.mic_source``) or raw PCM on a
pipe (``pcm_source``); the ``embedclf stream`` command wraps it.

    python examples/live_recognition.py my_sounds/ --background noise.wav --recording street.wav
    python examples/live_recognition.py --quick     # synthetic clips and a synthetic recording
"""

import argparse
import json
from pathlib import Path

import numpy as np
from _data import held_out_split  # beside this script

from embedclf.datasets import cut_background, make_sound_events
from embedclf.pipelines import make_pipeline, pipeline_sr
from embedclf.stream import Recognizer, file_source, iter_source, rechunk

SR = 16000


def quiet_clips(n, seed):
    """``n`` clips of the synthetic clips' background noise alone (the event 80 dB under it)."""
    X, _, _ = make_sound_events(
        n_per_class=n, classes=("hum",), sr=SR, duration=1.5, snr_db=(-80, -80), random_state=seed
    )
    return X


def recording_of(clips, labels, seed=0):
    """Clips with background noise between them: a long recording, and where each clip is."""
    rng = np.random.default_rng(seed)
    gaps = quiet_clips(len(clips), seed=100 + seed)
    pieces, truth, t = [], [], 0.0
    for clip, label, gap in zip(clips, labels, gaps):
        gap = gap[: int(rng.uniform(0.5, 1.0) * len(gap))]
        pieces += [gap, np.asarray(clip, np.float32)]
        t += len(gap) / SR
        end = t + len(clip) / SR
        truth.append({"label": str(label), "onset": round(t, 3), "offset": round(end, 3)})
        t = end
    return np.concatenate(pieces + [quiet_clips(1, seed=99)[0]]), truth


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="folder with one sub-folder per class")
    parser.add_argument("--background", help="recording(s) of background: a file or a folder")
    parser.add_argument("--recording", help="the long recording to recognize events in")
    parser.add_argument("--quick", action="store_true", help="synthetic clips and recording")
    parser.add_argument("--out", default="build/examples/live_recognition")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        X, X_test, y, y_test = held_out_split(quick=True, sr=SR)
        noise = quiet_clips(10, seed=1)  # "nothing of interest": a class never reported
        X, y = list(X) + noise, list(y) + ["_background_"] * len(noise)
        model = make_pipeline("cnn", sr=SR)  # the CNN: the best live model measured
        wave, truth = recording_of(X_test, y_test)  # the held-out clips, 1.5 s each
        source = iter_source(rechunk([wave], 4096), SR)  # as a microphone delivers it
    else:
        if not (args.folder and args.background and args.recording):
            parser.error("give a folder, --background and --recording, or --quick")
        X, _, y, _ = held_out_split(args.folder)
        model = make_pipeline("cnn")
        bg, bg_labels = cut_background(args.background, sr=pipeline_sr(model))
        X, y = list(X) + bg, list(y) + bg_labels
        source, truth = file_source(args.recording), None

    model.fit(X, y)
    # the CNN's own windows; scores smoothed over 0.5 s must pass 0.5 to start an event
    rec = Recognizer(model, smoothing=0.5, threshold=0.5)
    for update in rec.run(source):
        for e in update.events:  # reported as soon as each event has ended
            print(f"{e.onset:7.2f}-{e.offset:6.2f} s  {e.label:<12} score {e.score:.2f}")
    events = [e.as_dict() for e in rec.events]
    rec.events_table().to_csv(out / "events.csv", index=False)
    summary = {"events": events, "classes": [str(c) for c in rec.classes_]}
    if truth is not None:  # which clips were found: an event of their label overlapping them
        found = [any(overlaps(e, t) and e["label"] == t["label"] for e in events) for t in truth]
        wrong = [
            e for e in events if not any(overlaps(e, t) for t in truth if t["label"] == e["label"])
        ]
        summary.update(truth=truth, found=sum(found), false_events=len(wrong))
        print(f"found {sum(found)} of {len(truth)} clips, {len(wrong)} false event(s)")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"{len(events)} event(s); written to {out / 'events.csv'}")


def overlaps(a, b):
    return a["onset"] < b["offset"] and b["onset"] < a["offset"]


if __name__ == "__main__":
    main()
