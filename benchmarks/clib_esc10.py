"""The exported C library on ESC-10: Python vs host vs an emulated Cortex-M4.

Fits the teacher (`birdnet-linear`) on folds 1-4, distils the default
student (`embedclf.distill.RECIPE`: `strided_ds` x2) on the same clips, exports it and runs the
C library on fold 5's clips: int8 features against the Python frontend, int8
scores against TFLM, clip labels against the Python int8 student and
`Distiller.predict`, the Cortex-M4 firmware (QEMU mps2-an386) against the
host build, and the firmware's measured flash, RAM and instructions.

Writes ``benchmarks/results/clib_esc10.json`` and ``.md``.

Usage: python benchmarks/clib_esc10.py [--width 2] [--epochs 120] [--fold 5]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from embedclf.datasets import load_esc10
from embedclf.distill import RECIPE, export
from embedclf.distill.verify import verify_student
from embedclf.files import atomic_write_data
from embedclf.pipelines import make_pipeline

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EMBEDCLF_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=float, default=RECIPE.width)
    ap.add_argument("--epochs", type=int, default=RECIPE.epochs)
    ap.add_argument("--fold", type=int, default=5)
    ap.add_argument("--cache", default=str(HERE.parent / "build" / "cache"))
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if not (DATA / "esc10").is_dir():
        print(f"no ESC-10 under {DATA}; nothing to measure", file=sys.stderr)
        return 0
    df = load_esc10(DATA / "esc10")
    train = (df["fold"] != args.fold).to_numpy()
    X, y = df["path"].tolist(), df["label"].to_numpy()
    Xtr = [x for x, t in zip(X, train) if t]
    Xte = [x for x, t in zip(X, train) if not t]
    t0 = time.perf_counter()
    teacher = make_pipeline("birdnet-linear").set_params(emb__cache=args.cache)
    teacher.fit(Xtr, y[train])
    recipe = RECIPE.replace(width=args.width, epochs=args.epochs)
    dist = recipe.distiller(teacher, random_state=0).fit(Xtr, y[train])
    with tempfile.TemporaryDirectory() as out:
        report = export(dist, out, Xtr, X_test=Xte, y_test=y[~train])
        res = verify_student(dist, out, Xte)
        tflite = os.path.getsize(os.path.join(out, "model.tflite"))
    res.update(width=args.width, epochs=args.epochs, fold=args.fold,
               student_accuracy=report["student_accuracy"],
               teacher_accuracy=report["teacher_accuracy"], tflite_bytes=tflite,
               tflm_arena_bytes=report["arena_bytes"], seconds=round(time.perf_counter() - t0))
    os.makedirs(args.out, exist_ok=True)
    atomic_write_data(os.path.join(args.out, "clib_esc10.json"), json.dumps(res, indent=2) + "\n")
    d = res["device"]
    n, w = res["n_clips"], res["n_windows"]
    md = "\n".join([
        f"ESC-10, fold {args.fold} held out ({n} clips, {w} windows); default student "
        f"(the recipe: strided_ds x{args.width:g}, {args.epochs} epochs) distilled "
        f"from birdnet-linear on folds 1-4.", "",
        "| check | result |", "| --- | --- |",
        f"| int8 features, C vs Python | {res['feature_values'] - res['feature_values_differing']}"
        f" of {res['feature_values']} equal (max step {res['feature_max_step']}) |",
        f"| int8 scores, C vs TFLM | {res['outputs_equal_tflm']} of {w} windows equal |",
        f"| clip labels, C vs Python int8 | {res['clip_agreement_python']} of {n} |",
        f"| clip labels, C vs Distiller.predict | {res['clip_agreement_predict']} of {n} |",
        f"| Cortex-M4 (QEMU) output = host output | {res['m4_equal_host']} of {n} clips |",
        f"| library flash (code + constants) | {d['flash_bytes']} B |",
        f"| library RAM (statics + ecl_state + peak stack {d['stack_bytes']} B) | "
        f"{d['ram_bytes']} B |",
        f"| whole demo firmware flash / static RAM | {d['image_flash_bytes']} B / "
        f"{d['image_ram_bytes']} B |",
        f"| instructions per window (0.5 s hop) | {d['instructions_per_window']:,} |",
        f"| .tflite + TFLM arena (for comparison) | {tflite} B + {report['arena_bytes']} B |",
        f"| int8 student / teacher accuracy | {res['student_accuracy']:.3f} / "
        f"{res['teacher_accuracy']:.3f} |", ""])
    atomic_write_data(os.path.join(args.out, "clib_esc10.md"), md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
