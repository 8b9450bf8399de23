"""Peak memory of predicting and embedding one long file: whole-file loading against streaming.

Synthetic 16 kHz mono FLAC files of 1 minute, 10 minutes and 2 hours (tones in
noise) are written to a temporary folder. Models are fitted once on small
synthetic data and saved; then every case runs in a fresh Python process that
loads the model, predicts (or embeds) the one file and reports its peak
resident memory (``VmHWM``, reset just before the call) together with the RSS
it had then (model loaded, libraries imported, a 5 s file predicted once), so
the table separates what the file costs from what the process costs anyway.

Cases: the ``logmel-linear`` pipeline in clip mode and in window mode
(10 s windows), ``birdnet-linear`` (clip mode), the ``cnn`` pipeline
(KerasCNN, clip mode), and the ``embed`` command with BirdNET. "whole" is the
previous behaviour: the file decoded and resampled whole, then predicted as
one in-memory clip; "stream" is :func:`embedclf.predict.predict_table` on the
path (block by block). Writes ``benchmarks/results/memory.{csv,md}``.

Usage: python benchmarks/memory.py [--durations 60,600,7200] [--cases logmel,...]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from embedclf.evaluation import atomic_write, atomic_write_data

HERE = Path(__file__).resolve().parent
FILE_SR = 16000
CASES = {  # name: (model file stem, window seconds or None, mode)
    "logmel": ("logmel", None, "predict"),
    "logmel-window": ("logmel", 10.0, "predict"),
    "birdnet": ("birdnet", None, "predict"),
    "cnn": ("cnn", None, "predict"),
    "embed-birdnet": (None, None, "embed"),
}


def write_file(path, seconds):
    """Tones in noise, written a minute at a time (the writer never holds the file)."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", FILE_SR, 1, format="FLAC", subtype="PCM_16") as fh:
        for start in range(0, int(seconds), 60):
            n = int(min(60, seconds - start) * FILE_SR)
            t = (start * FILE_SR + np.arange(n)) / FILE_SR
            y = 0.2 * np.sin(2 * np.pi * (500 + 300 * np.sin(t / 7)) * t)
            fh.write((y + 0.02 * rng.standard_normal(n)).astype(np.float32))


def fit_models(folder, names):
    import joblib

    from embedclf.datasets import make_sound_events
    from embedclf.pipelines import make_pipeline

    paths = {}
    if "logmel" in names:
        X, y, _ = make_sound_events(n_per_class=6, sr=22050, duration=2.0, random_state=0)
        paths["logmel"] = os.path.join(folder, "logmel.joblib")
        joblib.dump(make_pipeline("logmel-linear").fit(X, y), paths["logmel"])
    if "birdnet" in names:
        X, y, _ = make_sound_events(n_per_class=3, sr=48000, duration=3.0, random_state=0)
        paths["birdnet"] = os.path.join(folder, "birdnet.joblib")
        joblib.dump(make_pipeline("birdnet-linear").fit(X, y), paths["birdnet"])
    if "cnn" in names:
        X, y, _ = make_sound_events(n_per_class=6, sr=22050, duration=2.0, random_state=0)
        model = make_pipeline("cnn").set_params(epochs=2, verbose=0).fit(X, y)
        paths["cnn"] = os.path.join(folder, "cnn.joblib")
        joblib.dump(model, paths["cnn"])
    return paths


CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
def status_mb(key):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith(key + ":")) / 1024
def rss_mb():
    with open("/proc/self/clear_refs", "w") as fh:  # peak RSS (VmHWM) := current RSS
        fh.write("5")
    return status_mb("VmRSS")
args = json.loads(sys.argv[1])
if args["mode"] == "embed":
    from embedclf.cli import main
    from embedclf.features.birdnet import BirdNETEmbedding
    BirdNETEmbedding().fit([args["file"]])  # load the model and its libraries first
    before = rss_mb()
    t = time.perf_counter()
    main(["embed", args["file"], "-o", args["out"], "--quiet"])
else:
    import joblib
    from embedclf.audio import load_audio
    from embedclf.pipelines import pipeline_sr
    from embedclf.predict import predict_table
    model = joblib.load(args["model"])
    sr = pipeline_sr(model)
    predict_table(model, [args["warm"]], window=args["window"])  # lazy imports, model loading
    before = rss_mb()
    t = time.perf_counter()
    if args["how"] == "whole":
        y, _ = load_audio(args["file"], sr=sr)
        table = predict_table(model, [y], window=args["window"])
    else:
        table = predict_table(model, [args["file"]], window=args["window"])
    assert table["error"].isna().all(), table["error"].tolist()
seconds = time.perf_counter() - t
peak = status_mb("VmHWM")  # ru_maxrss would keep the parent's peak across fork/exec
print(json.dumps({"before_mb": before, "peak_mb": peak, "seconds": seconds}))
"""


def run_case(args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env
    )
    if proc.returncode:
        raise RuntimeError(f"case {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--durations", default="60,600,7200", help="file lengths in seconds")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    durations = [float(d) for d in args.durations.split(",")]
    cases = args.cases.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for seconds in [5.0, *durations]:
            files[seconds] = os.path.join(tmp, f"{seconds:g}s.flac")
            write_file(files[seconds], seconds)
        models = fit_models(tmp, {CASES[c][0] for c in cases if CASES[c][0]})
        for case in cases:
            stem, window, mode = CASES[case]
            for seconds in durations:
                for how in ("stream",) if mode == "embed" else ("whole", "stream"):
                    spec = {
                        "mode": mode,
                        "how": how,
                        "file": files[seconds],
                        "warm": files[5.0],
                        "window": window,
                        "model": models.get(stem),
                        "out": os.path.join(tmp, "emb.csv"),
                    }
                    res = run_case(spec)
                    row = {
                        "case": case,
                        "how": how,
                        "minutes": seconds / 60,
                        **res,
                        "file_mb": res["peak_mb"] - res["before_mb"],
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    df = pd.DataFrame(rows)
    os.makedirs(args.out, exist_ok=True)
    atomic_write(os.path.join(args.out, "memory.csv"), lambda p: df.round(1).to_csv(p, index=False))
    lines = [
        "Peak resident memory (MB) predicting one 16 kHz mono FLAC file, each case in a fresh "
        "process; `before` is the RSS with the model loaded, just before the call. "
        "`whole`: the file decoded whole then predicted (the previous behaviour); "
        "`stream`: `predict_table` on the path (blocks of 30 s).",
        "",
        "| case | how | "
        + " | ".join(f"{m:g} min peak (+file)" for m in sorted(df["minutes"].unique()))
        + " |",
        "|---|---|" + "---|" * df["minutes"].nunique(),
    ]
    for (case, how), part in df.groupby(["case", "how"], sort=False):
        cells = [
            f"{r.peak_mb:.0f} (+{r.file_mb:.0f})" for r in part.sort_values("minutes").itertuples()
        ]
        lines.append(f"| {case} | {how} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "`+file` is the peak less the RSS just before the call. What streaming still costs "
        "does not grow with the file: a block of samples and its features; for the CNN, the "
        "network's activations for one call of 256 windows (the batches `predict_proba` uses; a "
        "1-minute file has fewer windows, hence its smaller figure); for BirdNET, the LiteRT "
        "interpreter's tensors for a batch of 16 three-second windows; `embed` loads a second "
        "BirdNET model (the command's own). Window mode adds one table row per window.",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} with `python benchmarks/memory.py "
        f"--durations {args.durations}` (times in memory.csv are not comparable: other jobs "
        "shared the machine).",
    ]
    atomic_write_data(os.path.join(args.out, "memory.md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
