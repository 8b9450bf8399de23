"""Distil a fitted classifier into a tiny int8 CNN and export it for a microcontroller.

A teacher (any fitted classifier with ``predict_proba``; here the named ``logmel-linear``
pipeline) labels every analysis window of the training clips, and a ``strided_ds`` student on a
frontend a device can compute learns those soft labels. ``export`` writes the int8
``model.tflite``, the same bytes as a C array (``model_data.h``/``.c``), the frontend's
constants (``frontend.h``) and ``report.json`` with the flash size, the tensor arena measured by
the TensorFlow Lite Micro interpreter, MACs, and the student's and teacher's held-out accuracy.
Export fails with ``BudgetError`` when the student exceeds ``--max-flash-kb``/``--max-ram-kb``.

    python examples/distill_and_export.py my_sounds/
    python examples/distill_and_export.py --quick       # synthetic clips, a short training

Needs the ``mcu`` extra (``pip install 'embedclf[mcu]'``).
"""

import argparse
import json
from pathlib import Path

from _data import held_out_split  # beside this script

from embedclf.distill import Distiller, export
from embedclf.models import Augmenter
from embedclf.pipelines import make_pipeline


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="folder with one sub-folder per class")
    parser.add_argument("--quick", action="store_true", help="small synthetic data, short training")
    parser.add_argument("--max-flash-kb", type=float, default=64)
    parser.add_argument("--max-ram-kb", type=float, default=32)
    parser.add_argument("--out", default="build/examples/distill_and_export")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.folder is None and not args.quick:
        parser.error("give a folder, or --quick")
    X_train, X_test, y_train, y_test = held_out_split(args.folder, quick=args.quick, random_state=2)
    if args.quick:  # the synthetic clips are 16 kHz waveforms; a short training
        teacher = make_pipeline("logmel-linear", mel__sr=16000)
        student = Distiller(teacher, epochs=40, learning_rate=1e-2, random_state=0)
    else:
        teacher = make_pipeline("logmel-linear")
        # the recipe measured on ESC-10 (docs/results/distillation.md)
        student = Distiller(
            teacher,
            width=2.0,
            random_state=0,
            augment=Augmenter(copies=2, mixup=0.3, freq_mask=0.15, time_mask=0.15),
        )

    teacher.fit(X_train, y_train)
    student.fit(X_train, y_train)
    report = export(
        student,
        out,
        representative=X_train,
        X_test=X_test,
        y_test=y_test,
        teacher=teacher,
        max_flash_kb=args.max_flash_kb,
        max_ram_kb=args.max_ram_kb,
    )
    print(f"exported to {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")
    print(
        f"flash {report['flash_bytes'] / 1024:.1f} KB, "
        f"arena {report['arena_bytes'] / 1024:.1f} KB (TFLM), "
        f"{report['macs_per_second'] / 1e6:.2f} M MACs per second of audio"
    )
    print(
        f"held-out accuracy: int8 student {report['student_accuracy']:.3f}, "
        f"teacher {report['teacher_accuracy']:.3f}, int8 = float on "
        f"{report['int8_float_agreement']:.0%} of clips"
    )
    print(
        json.dumps(
            {
                k: report[k]
                for k in ("flash_bytes", "arena_bytes", "student_accuracy", "teacher_accuracy")
            }
        )
    )


if __name__ == "__main__":
    main()
