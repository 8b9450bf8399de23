"""Scale-out throughput: BirdNET embeddings and fold evaluation on 1 and 2 Dask workers.

Three ways to run the same work, measured side by side in one run (wall
clock, after a warm-up that starts the workers and loads the model):

- ``plain``: this process, no cluster (BirdNET's LiteRT runs on every
  available CPU, as it does by default);
- ``plain, 1 thread``: the same with ``BirdNETEmbedding(num_threads=1)``
  and ``LogMel(n_jobs=1)``, the work of one core (on 2 CPUs one worker
  already runs its model on both cores, so "2 workers vs 1" cannot show how
  throughput grows per core; "2 workers vs one thread" does);
- ``dask, 1 worker`` / ``dask, 2 workers``: a ``LocalCluster`` of worker
  processes with one task thread each, each worker's model running on its
  share of the CPUs (``embedclf.distributed.cluster``, what ``--workers N``
  starts).

Work: ``BirdNETEmbedding().embed`` on UrbanSound8K clips from
``../shared/data`` (synthetic 4 s clips when absent), no cache; and
``cross_validate_folds`` (5 folds) of ``birdnet-linear`` on the same files
grouped by source recording, and of ``logmel-linear`` on ESC-10 clips
already decoded (synthetic events when absent): a heavy front whose
features dominate, and a light one where moving the decoded audio to the
workers is a visible share of the work. Every configuration's results are
checked equal to the plain run. Writes
``benchmarks/results/scale.csv`` and ``scale.md``.

Usage: python benchmarks/scale.py [--clips 120] [--repeats 2]
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from timing import load_average  # beside this script

from embedclf.distributed import cluster
from embedclf.evaluation import atomic_write, atomic_write_data, cross_validate_folds
from embedclf.features.birdnet import BirdNETEmbedding
from embedclf.pipelines import make_pipeline

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


def birdnet_clips(n):
    """Paths of real clips (UrbanSound8K) with labels and sources, or synthetic 4 s waveforms."""
    root = DATA / "urbansound8k-fold3-partial"
    if root.is_dir():
        from embedclf.datasets import load_urbansound8k

        df = load_urbansound8k(root).sort_values("path").head(n)
        return (
            df["path"].tolist(),
            df["label"].to_numpy(),
            df["group"].to_numpy(),
            "UrbanSound8K fold 3 files",
        )
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(4 * 48000)).astype(np.float32) for _ in range(n)]
    return clips, np.arange(n) % 4, np.arange(n) // 2, "synthetic 4 s clips"


def eval_data(n_per_class):
    from embedclf.audio import load_clips

    root = DATA / "esc10"
    if root.is_dir():
        from embedclf.datasets import load_esc10

        df = load_esc10(root).groupby("label").head(n_per_class)
        res = load_clips(df["path"].tolist(), df["label"].to_numpy(), sr=22050)
        return res.clips, res.y, df["fold"].to_numpy()[res.kept], "ESC-10 (decoded)"
    from embedclf.datasets import make_sound_events

    X, y, folds = make_sound_events(n_per_class=n_per_class, sr=22050, duration=5.0)
    return X, y, folds, "synthetic events"


def markdown(df):
    rows = [list(df.columns), ["---"] * len(df.columns)] + df.astype(str).values.tolist()
    return "\n".join("| " + " | ".join(map(str, r)) + " |" for r in rows)


def best_of(repeats, run):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=120, help="BirdNET clips")
    parser.add_argument("--per-class", type=int, default=40, help="ESC-10 clips per class")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    clips, clip_labels, sources, clips_name = birdnet_clips(args.clips)
    X, y, folds, eval_name = eval_data(args.per_class)
    audio_s = None
    emb = BirdNETEmbedding().fit(clips[:1])
    model = make_pipeline("logmel-linear")
    birdnet_model = make_pipeline("birdnet-linear")

    def embed():
        return emb.embed(clips)

    def evaluate(one_thread=False):
        # one thread: what one worker of Dask's default (one thread per worker) does
        one = clone(model).set_params(mel__n_jobs=1) if one_thread else model
        return cross_validate_folds(one, X, y, folds=folds, progress=False)

    def evaluate_birdnet(one_thread=False):
        one = clone(birdnet_model).set_params(emb__num_threads=1) if one_thread else birdnet_model
        with warnings.catch_warnings():  # classes with fewer sources than folds
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            return cross_validate_folds(one, clips, clip_labels, groups=sources, progress=False)

    load_before = load_average()
    rows, reference = [], {}
    single = BirdNETEmbedding(num_threads=1).fit(clips[:1])
    for config in ("plain", "one thread", 1, 2):
        if config == "one thread":
            single.embed(clips[:4])  # warm-up: model load
            t_emb, out_emb = best_of(args.repeats, lambda: single.embed(clips))
            t_bird, out_bird = best_of(args.repeats, lambda: evaluate_birdnet(one_thread=True))
            t_eval, out_eval = best_of(args.repeats, lambda: evaluate(one_thread=True))
            label = "plain, 1 thread"
        elif config == "plain":
            emb.embed(clips[:4])  # warm-up: model load
            t_emb, out_emb = best_of(args.repeats, embed)
            t_bird, out_bird = best_of(args.repeats, evaluate_birdnet)
            t_eval, out_eval = best_of(args.repeats, evaluate)
            reference = {"emb": out_emb, "eval": out_eval, "bird": out_bird}
            label = "plain (one process)"
        else:
            with cluster(workers=config):
                emb.embed(clips[: 4 * config])  # warm-up: workers import, load the model
                evaluate()
                t_emb, out_emb = best_of(args.repeats, embed)
                t_bird, out_bird = best_of(args.repeats, evaluate_birdnet)
                t_eval, out_eval = best_of(args.repeats, evaluate)
            label = f"dask, {config} worker{'s' if config > 1 else ''}"
        if audio_s is None:
            audio_s = sum(len(e.times) for e in out_emb)  # BirdNET windows
        max_diff = max(
            float(np.abs(a.values - b.values).max()) for a, b in zip(reference["emb"], out_emb)
        )

        def same(a, b):
            return a.per_fold["accuracy"].tolist() == b.per_fold["accuracy"].tolist()

        rows.append(
            {
                "configuration": label,
                "embed_s": round(t_emb, 2),
                "windows_per_s": round(audio_s / t_emb, 1),
                "evaluate_birdnet_s": round(t_bird, 2),
                "evaluate_logmel_s": round(t_eval, 2),
                "embed_max_abs_diff": f"{max_diff:.1e}",
                "same_fold_scores": same(out_bird, reference["bird"])
                and same(out_eval, reference["eval"]),
            }
        )
    load_after = load_average()
    df = pd.DataFrame(rows)
    t = df.set_index("configuration")
    one, two, plain = "dask, 1 worker", "dask, 2 workers", "plain (one process)"
    thread = "plain, 1 thread"
    ratios = {
        "embed: 2 workers vs one thread": t.loc[thread, "embed_s"] / t.loc[two, "embed_s"],
        "embed: 2 workers vs 1": t.loc[one, "embed_s"] / t.loc[two, "embed_s"],
        "embed: 1 worker vs plain": t.loc[plain, "embed_s"] / t.loc[one, "embed_s"],
        "embed: 2 workers vs plain": t.loc[plain, "embed_s"] / t.loc[two, "embed_s"],
    }
    for what in ("birdnet", "logmel"):
        col = f"evaluate_{what}_s"
        ratios[f"evaluate {what}: 2 workers vs one thread"] = t.loc[thread, col] / t.loc[two, col]
        ratios[f"evaluate {what}: 2 workers vs 1"] = t.loc[one, col] / t.loc[two, col]
        ratios[f"evaluate {what}: 1 worker vs plain"] = t.loc[plain, col] / t.loc[one, col]
        ratios[f"evaluate {what}: 2 workers vs plain"] = t.loc[plain, col] / t.loc[two, col]
    out = HERE / "results"
    atomic_write(out / "scale.csv", lambda tmp: df.to_csv(tmp, index=False))
    lines = [
        f"BirdNET `embed` on {len(clips)} {clips_name} ({audio_s} BirdNET windows, no "
        "cache); `evaluate` (`cross_validate_folds`, 5 folds): birdnet-linear on the same "
        f"clips grouped by source, and logmel-linear on {len(y)} {eval_name} clips. "
        f"Wall clock, best of {args.repeats}, on {os.cpu_count()} CPUs "
        f"(1-minute load average {load_before:.1f} before, {load_after:.1f} after: on a "
        "machine shared with other jobs the ratios vary from run to run).",
        "",
        markdown(df),
        "",
        "| speed-up | ratio |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.2f}x |" for k, v in ratios.items()]
    atomic_write_data(out / "scale.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
