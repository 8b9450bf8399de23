"""Take a distilled student to a microcontroller: build its C library and check it against Python.

``export`` writes a self-contained C99 library for the int8 student in ``c/`` (log-mel frontend,
network, streaming API, a demo program and a Makefile). ``verify_student`` builds it for this
computer and, when the Arm cross compiler and QEMU are installed, for a Cortex-M4; runs both on
held-out clips; and compares every int8 feature with the Python frontend, every window's scores
with the TensorFlow Lite Micro interpreter and every clip's label with the Python student. With
the Cortex-M4 build it also reports the firmware's flash, RAM (stack included) and instructions
per window, as measured on the linked image.

    python examples/device_c_library.py my_sounds/
    python examples/device_c_library.py --quick       # synthetic clips, a short training

Needs the ``mcu`` extra and a C compiler with ``make``; the Cortex-M4 checks need
``gcc-arm-none-eabi``, ``libnewlib-arm-none-eabi`` and ``qemu-system-arm``.
"""

import argparse
import json
from pathlib import Path

from _data import held_out_split  # beside this script

from embedclf.distill import Distiller, export
from embedclf.distill.verify import missing_tools, verify_student
from embedclf.pipelines import make_pipeline


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="folder with one sub-folder per class")
    parser.add_argument("--quick", action="store_true", help="small synthetic data, short training")
    parser.add_argument("--out", default="build/examples/device_c_library")
    args = parser.parse_args(argv)
    if args.folder is None and not args.quick:
        parser.error("give a folder, or --quick")
    missing = missing_tools("host")
    if missing:
        parser.error(f"{', '.join(missing)} not installed: the C library cannot be built here")
    out = Path(args.out)
    X_train, X_test, y_train, _ = held_out_split(args.folder, quick=args.quick, random_state=2)
    if args.quick:
        teacher = make_pipeline("logmel-linear", mel__sr=16000)
        student = Distiller(teacher, epochs=20, learning_rate=1e-2, random_state=0)
    else:
        teacher = make_pipeline("logmel-linear")
        student = Distiller(teacher, random_state=0)  # the measured recipe (distill.RECIPE)
    teacher.fit(X_train, y_train)
    student.fit(X_train, y_train)
    export(student, out / "export", representative=X_train)

    m4_missing = missing_tools("m4")  # runs the cross compiler once: ask once
    m4 = not m4_missing
    res = verify_student(student, out / "export", X_test, m4=m4)
    rows = [
        ("int8 features equal Python's", res["feature_values_differing"] == 0,
         f"{res['feature_values'] - res['feature_values_differing']} of {res['feature_values']}"),
        ("window scores equal TFLM's", res["outputs_equal_tflm"] == res["n_windows"],
         f"{res['outputs_equal_tflm']} of {res['n_windows']}"),
        ("clip labels equal the Python int8 student's",
         res["clip_agreement_python"] == res["n_clips"],
         f"{res['clip_agreement_python']} of {res['n_clips']}"),
    ]  # fmt: skip
    if m4:
        dev = res["device"]
        rows += [
            ("Cortex-M4 output equals the host's", res["m4_equal_host"] == res["n_clips"],
             f"{res['m4_equal_host']} of {res['n_clips']}"),
            ("whole firmware within 64 KB flash / 32 KB RAM",
             dev["image_flash_bytes"] <= 64 * 1024 and dev["image_ram_bytes"] <= 32 * 1024,
             f"{dev['image_flash_bytes'] / 1024:.1f} KB / {dev['image_ram_bytes'] / 1024:.1f} KB"),
            ("instructions per window", True, f"{dev['instructions_per_window']:,}"),
        ]  # fmt: skip
    else:
        print(f"Cortex-M4 checks skipped: {', '.join(m4_missing)} not installed")
    for name, ok, detail in rows:
        print(f"{'ok ' if ok else 'BAD'} {name:<46} {detail}")
    summary = {k: v for k, v in res.items() if k != "device"}
    summary.update(m4=m4, device=res.get("device"), all_ok=all(ok for _, ok, _ in rows))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return 0 if summary["all_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
