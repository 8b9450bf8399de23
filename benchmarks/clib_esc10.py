"""The exported C library on ESC-10: Python vs host vs an emulated Cortex-M4.

Fits the teacher (`birdnet-linear`) on folds 1-4, distils the default
student (`embedclf.distill.RECIPE`: `strided_ds` x2) on the same clips, exports it and runs the
C library on fold 5's clips: int8 features against the Python frontend, int8
scores against TFLM, clip labels against the Python int8 student and
`Distiller.predict`, the Cortex-M4 firmware (QEMU mps2-an386) against the
host build, and the firmware's measured flash, RAM and instructions.

Writes ``benchmarks/results/clib_esc10.json`` and ``.md`` (the comparison with the TFLM
runtime comes from ``tflm_runtime.json``, written by ``benchmarks/tflm_runtime.py``).

Usage: python benchmarks/clib_esc10.py [--width 2] [--epochs 120] [--fold 5] [--render-only]
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
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="only rewrite clib_esc10.md from the saved JSON files",
    )
    args = ap.parse_args()
    if args.render_only:
        return render(args.out)
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
    res.update(
        width=args.width,
        epochs=args.epochs,
        fold=args.fold,
        student_accuracy=report["student_accuracy"],
        teacher_accuracy=report["teacher_accuracy"],
        tflite_bytes=tflite,
        tflm_arena_bytes=report["arena_bytes"],
        seconds=round(time.perf_counter() - t0),
    )
    os.makedirs(args.out, exist_ok=True)
    atomic_write_data(os.path.join(args.out, "clib_esc10.json"), json.dumps(res, indent=2) + "\n")
    return render(args.out)


def render(out):
    """Write clib_esc10.md from clib_esc10.json and, when present, tflm_runtime.json."""
    with open(os.path.join(out, "clib_esc10.json")) as fh:
        res = json.load(fh)
    d = res["device"]
    n, w = res["n_clips"], res["n_windows"]
    rows = [
        f"ESC-10, fold {res['fold']} held out ({n} clips, {w} windows); default student "
        f"(the recipe: strided_ds x{res['width']:g}, {res['epochs']} epochs) distilled "
        f"from birdnet-linear on folds 1-4.",
        "",
        "| check | result |",
        "| --- | --- |",
        "| int8 features, C vs Python | "
        f"{res['feature_values'] - res['feature_values_differing']}"
        f" of {res['feature_values']} equal (max step {res['feature_max_step']}) |",
        f"| int8 scores, C vs TFLM | {res['outputs_equal_tflm']} of {w} windows equal |",
        f"| clip labels, C vs Python int8 | {res['clip_agreement_python']} of {n} |",
        f"| clip labels, C vs Distiller.predict | {res['clip_agreement_predict']} of {n} |",
        f"| Cortex-M4 (QEMU) output = host output | {res['m4_equal_host']} of {n} clips |",
        f"| library flash (code + constants) | {d['flash_bytes']} B |",
        f"| library RAM (statics + ecl_state + peak stack {d['stack_bytes']} B) | "
        f"{d['ram_bytes']} B |",
        f"| whole demo firmware flash | {d['image_flash_bytes']} B |",
        f"| whole demo firmware RAM (.data + .bss {d['image_static_ram_bytes']} B, heap "
        f"{d['image_heap_bytes']} B, peak stack {d['image_stack_bytes']} B) | "
        f"{d['image_ram_bytes']} B |",
        f"| instructions per window (0.5 s hop) | {d['instructions_per_window']:,} |",
        f"| .tflite + TFLM arena (for comparison) | {res['tflite_bytes']} B + "
        f"{res['tflm_arena_bytes']} B |",
    ]
    tflm_path = os.path.join(out, "tflm_runtime.json")
    if os.path.exists(tflm_path):
        with open(tflm_path) as fh:
            t = json.load(fh)
        flash = res["tflite_bytes"] + t["runtime_flash_bytes"]
        ram = t["arena_used_bytes"] + t["runtime_ram_bytes"]
        rows += [
            f"| TFLM runtime with these {len(t['ops'])} ops, Cortex-M4 -Os (built from source, "
            f"measured: benchmarks/tflm_runtime.py) | {t['runtime_flash_bytes']} B flash, "
            f"{t['runtime_ram_bytes']} B RAM besides the arena (arena used on the M4: "
            f"{t['arena_used_bytes']} B) |",
            f"| TFLM path, network only: .tflite + runtime / arena + runtime RAM | {flash} B / "
            f"{ram} B (C library with its frontend: {d['flash_bytes']} B / {d['ram_bytes']} B) |",
        ]
    rows += [
        f"| int8 student / teacher accuracy | {res['student_accuracy']:.3f} / "
        f"{res['teacher_accuracy']:.3f} |",
        "",
    ]
    md = "\n".join(rows)
    atomic_write_data(os.path.join(out, "clib_esc10.md"), md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
