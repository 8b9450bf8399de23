"""OpenL3Embedding against the unmodified upstream openl3 0.4.2, in one run.

Needs the reference environment built by ``../shared/tools/openl3-reference/install.sh
VENV`` (pass ``--reference-python VENV/bin/python``, or set OPENL3_REFERENCE_PYTHON).

1. Writes random weights in the official file layout (our ``save_weights``; upstream's
   own loader reads the same file).
2. Parity: several lengths, 22.05/44.1/48 kHz, mono and stereo. Reports the max relative
   difference of embeddings (max |ours - upstream| / max |upstream|) and of timestamps.
   For resampled inputs two numbers: on the raw input (our soxr vs upstream's resampy) and
   on upstream's own 48 kHz samples (the network and frontend alone).
3. Throughput on a long clip at hop 0.1: wall and CPU seconds per second of audio for
   upstream, our exact mode and the two fast modes (bfloat16; int8 on LiteRT), with each fast
   mode's cosine similarity to exact on that clip and on real ESC-10 recordings (when
   ../shared/data is there).

Writes ``benchmarks/results/openl3_parity.{csv,md}`` (parity) and ``openl3_speed.{csv,md}``
(speed); ``--only parity|speed`` runs one of them.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from embedclf import OpenL3Embedding  # noqa: E402
from embedclf.evaluation import atomic_write, atomic_write_data  # noqa: E402
from embedclf.features import openl3_net as net  # noqa: E402

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "_reference" / "openl3_upstream.py"


def random_weights(input_repr, path, seed=0):
    """Plausible random weights: He-normal kernels, BN statistics that keep activations sane."""
    rng = np.random.default_rng(seed)
    model = net.build_network(input_repr, 512)
    first = True
    for layer in model.layers:
        if not layer.weights:
            continue
        values = []
        for w in layer.weights:
            shape, name = tuple(w.shape), w.path.split("/")[-1]
            if name == "kernel":
                fan_in = int(np.prod(shape[:-1]))
                values.append(rng.normal(0, np.sqrt(2.0 / fan_in), shape))
            elif name == "bias":
                values.append(rng.normal(0, 0.01, shape))
            elif name == "gamma":
                values.append(rng.uniform(0.5, 1.5, shape))
            elif name == "beta":
                values.append(rng.normal(0, 0.1, shape))
            elif name == "moving_mean":
                values.append(np.full(shape, -40.0) if first else rng.normal(0, 0.1, shape))
            else:  # moving_variance
                values.append(np.full(shape, 400.0) if first else rng.uniform(0.5, 2.0, shape))
        layer.set_weights([v.astype(np.float32) for v in values])
        first = False
    net.save_weights(model, path, frontend_layer="melspectrogram")
    return path


def run_upstream(python, job):
    with tempfile.TemporaryDirectory() as tmp:
        job_path, out_path = os.path.join(tmp, "job.npz"), os.path.join(tmp, "out.npz")
        np.savez(job_path, **job)
        subprocess.run([python, str(RUNNER), job_path, out_path], check=True)
        return dict(np.load(out_path))


def signals(rng):
    cases = []
    for seconds in (0.5, 1.0, 2.37, 5.0):
        for sr in (22050, 44100, 48000):
            for channels in (1, 2):
                if seconds != 2.37 and channels == 2 and sr != 44100:
                    continue  # keep the grid small: stereo at several lengths at 44.1 kHz
                n = int(seconds * sr)
                t = np.arange(n) / sr
                y = np.stack(
                    [
                        0.3 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t * (1 + 0.3 * t))
                        + 0.03 * rng.standard_normal(n)
                        for _ in range(channels)
                    ],
                    axis=1,
                )
                cases.append((seconds, sr, channels, y.astype(np.float32).squeeze()))
    return cases


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


MODES = (("exact", False), ("bfloat16", "bfloat16"), ("int8", "int8"))
LABELS = {
    "exact": "OpenL3Embedding exact",
    "bfloat16": "OpenL3Embedding fast='bfloat16'",
    "int8": "OpenL3Embedding fast=True (int8)",
}
ESC10 = HERE.parent.parent / "shared" / "data" / "esc10"


def cosines(a, b):
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def fast_mode_agreement(weights, timings, n_real):
    """Cosine similarity of each fast mode to exact: the long synthetic clip and real ESC-10 clips.

    The real clips (the first of every ``40 / per_class`` files of each class, hop 0.5 s) are
    read from ../shared/data when it is there; the rows say which audio they used.
    """
    rows = []
    exact = timings["exact"][2]
    for mode, _ in MODES[1:]:
        c = cosines(timings[mode][2], exact)
        rows.append(
            {
                "mode": mode,
                "audio": "synthetic tone + noise, 20 s",
                "windows": len(c),
                "cos_min": c.min(),
                "cos_mean": c.mean(),
                "max_rel": rel(timings[mode][2], exact),
            }
        )
    files = sorted(ESC10.glob("*/*.ogg"))
    if n_real and files:
        per_class = max(1, n_real // 10)
        picked = [
            f
            for d in sorted({f.parent for f in files})
            for f in sorted(d.glob("*.ogg"))[:: max(1, 40 // per_class)][:per_class]
        ]
        ests = {
            m: OpenL3Embedding(embedding_size=512, weights=weights, fast=f, hop=0.5)
            for m, f in MODES
        }
        emb = {m: est.fit(picked[:1]).transform(picked) for m, est in ests.items()}
        for mode, _ in MODES[1:]:
            c = np.concatenate([cosines(a, b) for a, b in zip(emb[mode], emb["exact"])])
            rows.append(
                {
                    "mode": mode,
                    "audio": f"ESC-10, {len(picked)} clips",
                    "windows": len(c),
                    "cos_min": c.min(),
                    "cos_mean": c.mean(),
                    "max_rel": max(rel(a, b) for a, b in zip(emb[mode], emb["exact"])),
                }
            )
    return pd.DataFrame(rows)


def parity(args, rng, tmp):
    """Embeddings and timestamps against upstream: writes openl3_parity.{csv,md}."""
    cases = signals(rng)
    rows = []
    for input_repr in args.input_reprs.split(","):
        weights = random_weights(input_repr, os.path.join(tmp, f"w_{input_repr}.h5"))
        for size in (512, 6144):
            job = {
                "weights": weights,
                "input_repr": input_repr,
                "embedding_size": size,
                "hop_size": 0.1,
                "center": True,
                "n_clips": len(cases),
            }
            for k, (_, sr, _, y) in enumerate(cases):
                job[f"clip_{k}"], job[f"sr_{k}"] = y, sr
            up = run_upstream(args.reference_python, job)
            ours = OpenL3Embedding(input_repr=input_repr, embedding_size=size, weights=weights).fit(
                [cases[0][3]]
            )
            for k, (seconds, sr, channels, y) in enumerate(cases):
                ref_e, ref_t = up[f"emb_{k}"], up[f"ts_{k}"]
                # the network and frontend on the very samples upstream's network saw
                same = ours.embed([up[f"audio48_{k}"].astype(np.float32)])[0]
                # the whole path from the raw input (our soxr vs upstream's resampy 0.2)
                raw = ours.set_params(sr=sr).embed([y])[0]
                ours.set_params(sr=48000)
                row = {
                    "input_repr": input_repr,
                    "embedding_size": size,
                    "seconds": seconds,
                    "sr": sr,
                    "channels": channels,
                    "n_windows": len(ref_e),
                    "same_n_windows": len(raw.values) == len(ref_e) == len(same.values),
                }
                if row["same_n_windows"]:
                    row["max_rel_diff"] = rel(same.values, ref_e)
                    row["max_rel_diff_own_resampler"] = rel(raw.values, ref_e)
                    row["max_time_diff"] = float(np.max(np.abs(raw.times - ref_t)))
                rows.append(row)
            print(pd.DataFrame(rows).tail(len(cases)).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    atomic_write(
        os.path.join(args.out, "openl3_parity.csv"), lambda p: table.to_csv(p, index=False)
    )
    resampled = table[table["sr"] != 48000]
    md = [
        f"Parity on the same 48 kHz samples: max relative difference "
        f"{table['max_rel_diff'].max():.1e} over {len(table)} cases "
        f"({', '.join(sorted(set(table['input_repr'])))}; 512 and 6144; 0.5-5 s; 22.05/44.1/48 "
        f"kHz inputs, mono and stereo); timestamps max diff {table['max_time_diff'].max():.1e} s; "
        f"window counts equal in {int(table['same_n_windows'].sum())}/{len(table)} cases.",
        f"From the raw 22.05/44.1 kHz input with our own resampler (soxr HQ, vs upstream's "
        f"resampy 0.2 kaiser_best): max relative difference "
        f"{resampled['max_rel_diff_own_resampler'].max():.1e}.",
        "",
        "| input_repr | full-band input (48 kHz) | band-limited input (from 22.05/44.1 kHz) |",
        "|---|---|---|",
        *[
            f"| {r} | {part[part['sr'] == 48000]['max_rel_diff'].max():.1e} | "
            f"{part[part['sr'] != 48000]['max_rel_diff'].max():.1e} |"
            for r, part in table.groupby("input_repr")
        ],
    ]
    return md


def speed(args, rng, tmp):
    """Throughput against upstream and the fast modes' agreement: writes openl3_speed.{csv,md}."""
    weights = random_weights("mel256", os.path.join(tmp, "w_speed_mel256.h5"))
    n = int(args.speed_seconds * 48000)
    long = (
        0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000) + 0.05 * rng.standard_normal(n)
    ).astype(np.float32)
    job = {
        "weights": weights,
        "input_repr": "mel256",
        "embedding_size": 512,
        "hop_size": 0.1,
        "center": True,
        "n_clips": 1,
        "clip_0": long,
        "sr_0": 48000,
    }
    ests = {}
    for name, fast in MODES:
        ests[name] = OpenL3Embedding(embedding_size=512, weights=weights, fast=fast).fit([long])
        ests[name].transform([long[:48000]])  # warm-up: load, trace, convert
    # Interleaved repeats, best of each: a slow spell of the machine hits every method alike.
    best, outputs = {}, {}
    for _ in range(args.repeats):
        up = run_upstream(args.reference_python, job)
        measured = {"upstream": (float(up["wall"]), float(up["cpu"]))}
        for name, est in ests.items():
            w, c = time.perf_counter(), time.process_time()
            outputs[name] = est.transform([long])[0]
            measured[name] = (time.perf_counter() - w, time.process_time() - c)
        for name, (wall, cpu) in measured.items():
            old_wall, old_cpu = best.get(name, (np.inf, np.inf))
            best[name] = (min(old_wall, wall), min(old_cpu, cpu))
        print(
            {k: f"{w / args.speed_seconds:.3f} s/s wall" for k, (w, _) in measured.items()},
            flush=True,
        )
    timings = {name: (*best[name], outputs[name]) for name in ests}
    rows = [
        {
            "method": name,
            "wall_s_per_audio_s": wall / args.speed_seconds,
            "cpu_s_per_audio_s": cpu / args.speed_seconds,
        }
        for name, (wall, cpu) in (
            ("upstream openl3 0.4.2", best["upstream"]),
            *((LABELS[m], best[m]) for m, _ in MODES),
        )
    ]
    table = pd.DataFrame(rows)
    table["speedup_cpu"] = table["cpu_s_per_audio_s"].iloc[0] / table["cpu_s_per_audio_s"]
    table["speedup_wall"] = table["wall_s_per_audio_s"].iloc[0] / table["wall_s_per_audio_s"]
    atomic_write(os.path.join(args.out, "openl3_speed.csv"), lambda p: table.to_csv(p, index=False))
    agreement = fast_mode_agreement(weights, timings, args.real_clips)
    md = [
        f"{args.speed_seconds:g} s at 48 kHz, mel256, hop 0.1, 512-d; best of {args.repeats} "
        "interleaved runs (random weights in the official layout):",
        "",
        "| method | wall s / audio s | CPU s / audio s | speed-up (CPU) | speed-up (wall) |",
        "|---|---|---|---|---|",
    ]
    md += [
        f"| {r.method} | {r.wall_s_per_audio_s:.3f} | {r.cpu_s_per_audio_s:.3f} | "
        f"{r.speedup_cpu:.2f}x | {r.speedup_wall:.2f}x |"
        for r in table.itertuples()
    ]
    md += [
        "",
        f"Exact mode vs upstream on this clip: max relative difference "
        f"{rel(timings['exact'][2], up['emb_0']):.1e}.",
        "",
        "Fast modes against exact (cosine similarity per window; max |fast - exact| / "
        "max |exact| per clip):",
        "",
        "| mode | audio | windows | cosine min | cosine mean | max relative difference |",
        "|---|---|---|---|---|---|",
    ]
    md += [
        f"| {r.mode} | {r.audio} | {r.windows} | {r.cos_min:.5f} | {r.cos_mean:.5f} | "
        f"{r.max_rel:.1e} |"
        for r in agreement.itertuples()
    ]
    return md


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--reference-python",
        default=os.environ.get(
            "OPENL3_REFERENCE_PYTHON", str(HERE.parent.parent / "openl3ref" / "bin" / "python")
        ),
    )
    ap.add_argument("--input-reprs", default="mel256,mel128,linear")
    ap.add_argument("--speed-seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per method (best kept)")
    ap.add_argument(
        "--real-clips",
        type=int,
        default=50,
        help="ESC-10 clips for the fast modes' agreement (0: none)",
    )
    ap.add_argument(
        "--only",
        choices=("parity", "speed"),
        help="run one part (the other part's result files are left as they are)",
    )
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if not os.path.exists(args.reference_python):
        print(
            f"reference python {args.reference_python} not found; build it with "
            "bash ../shared/tools/openl3-reference/install.sh VENV",
            file=sys.stderr,
        )
        return 2
    os.makedirs(args.out, exist_ok=True)
    for part in ("parity", "speed"):
        if args.only in (None, part):
            with tempfile.TemporaryDirectory() as tmp:
                md = {"parity": parity, "speed": speed}[part](args, np.random.default_rng(0), tmp)
            atomic_write_data(os.path.join(args.out, f"openl3_{part}.md"), "\n".join(md) + "\n")
            print("\n".join(md), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
