"""Run the unmodified upstream openl3 0.4.2 on given audio (executed by the reference venv).

Usage (from benchmarks/openl3_parity.py): python openl3_upstream.py JOB.npz OUT.npz
JOB holds: weights (path), input_repr, embedding_size, hop_size, center, and clips as
arrays clip_<k> with rates sr_<k>. OUT gets emb_<k>, ts_<k> and the CPU/wall seconds of the
embedding calls (after one warm-up call).
"""

import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import openl3  # noqa: E402
import openl3.models as models  # noqa: E402


def main(job_path, out_path):
    job = dict(np.load(job_path, allow_pickle=False))
    repr_, size = str(job["input_repr"]), int(job["embedding_size"])
    weights = str(job["weights"])
    models.get_audio_embedding_model_path = lambda input_repr, content_type: weights
    model = models.load_audio_embedding_model(repr_, "music", size, frontend="kapre")
    n = int(job["n_clips"])
    clips = [job[f"clip_{k}"] for k in range(n)]
    rates = [int(job[f"sr_{k}"]) for k in range(n)]
    kw = dict(
        model=model,
        hop_size=float(job["hop_size"]),
        center=bool(job["center"]),
        batch_size=32,
        verbose=False,
    )
    openl3.get_audio_embedding(clips[:1], rates[:1], **kw)  # warm-up (graph tracing)
    w, c = time.perf_counter(), time.process_time()
    embs, tss = openl3.get_audio_embedding(clips, rates, **kw)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    out = {"wall": wall, "cpu": cpu}
    for k, (e, t) in enumerate(zip(embs, tss)):
        out[f"emb_{k}"], out[f"ts_{k}"] = e, t
        # the 48 kHz samples upstream's network saw (its own downmix and resampy call)
        y = clips[k].mean(axis=1) if clips[k].ndim == 2 else clips[k]
        if rates[k] != 48000:
            import resampy

            y = resampy.resample(y, sr_orig=rates[k], sr_new=48000, filter="kaiser_best")
        out[f"audio48_{k}"] = y
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
