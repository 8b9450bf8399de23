"""Scale out on Dask: the same features and fold scores, computed by a cluster's workers.

With a Dask client active, embedclf's transformers (``LogMel``, ``MFCC``, ``AudioLoader``, the
pretrained embeddings) send their clips to the workers in tasks and return results in input
order, and ``cross_validate_folds`` runs its folds there. Nothing else in the code changes, and
the results equal a run in this process. ``embedclf.distributed.cluster(workers=N)`` starts a
local cluster for a block; pass ``scheduler="tcp://HOST:8786"`` to use a running one (see the
scale-out guide for SSH, SLURM and Kubernetes).

    python examples/scale_out_dask.py my_sounds/ --workers 2
    python examples/scale_out_dask.py --quick       # synthetic clips, a local cluster of 2

Needs the ``dask`` extra (``pip install 'embedclf[dask]'``).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _data import held_out_split  # beside this script

from embedclf import LogMel
from embedclf.distributed import cluster
from embedclf.evaluation import cross_validate_folds
from embedclf.pipelines import make_pipeline


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="folder with one sub-folder per class")
    parser.add_argument("--quick", action="store_true", help="small synthetic data")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--scheduler", help="a running scheduler, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--out", default="build/examples/scale_out_dask")
    args = parser.parse_args(argv)
    if args.folder is None and not args.quick:
        parser.error("give a folder, or --quick")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    X_train, X_test, y_train, y_test = held_out_split(args.folder, quick=args.quick)
    X, y = list(X_train) + list(X_test), np.concatenate([y_train, y_test])
    sr = 16000 if args.quick else 22050
    mel = LogMel(sr=sr).fit(X[:1])
    pipeline = make_pipeline("logmel-linear", mel__sr=sr)

    t0 = time.perf_counter()
    here = mel.transform(X)
    scores_here = cross_validate_folds(pipeline, X, y, n_splits=5, progress=False)
    t_here = time.perf_counter() - t0
    with cluster(scheduler=args.scheduler, workers=args.workers) as client:
        print(f"cluster: {client.dashboard_link}")
        t0 = time.perf_counter()
        there = mel.transform(X)  # tasks of clips on the workers, results in input order
        scores_there = cross_validate_folds(pipeline, X, y, n_splits=5, progress=False)
        t_there = time.perf_counter() - t0
    same_features = all(np.array_equal(a, b) for a, b in zip(here, there))
    same_scores = scores_here.per_fold["accuracy"].tolist() == (
        scores_there.per_fold["accuracy"].tolist()
    )
    print(f"{len(X)} clips: log-mel features equal bit for bit: {same_features}")
    print(
        f"5-fold accuracy here {scores_here.accuracy_mean:.3f}, on the cluster "
        f"{scores_there.accuracy_mean:.3f} (fold scores equal: {same_scores})"
    )
    print(f"{t_here:.1f} s in this process, {t_there:.1f} s on the cluster once started")
    summary = {
        "n_clips": len(X),
        "same_features": same_features,
        "same_fold_scores": same_scores,
        "accuracy_here": scores_here.accuracy_mean,
        "accuracy_cluster": scores_there.accuracy_mean,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
