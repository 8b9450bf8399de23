"""Export a student for a microcontroller: int8 TFLite, C sources, measured footprint.

The network is converted to a full-integer int8 ``.tflite`` (int8 input and
output; batch norm folded, ReLU fused) and checked in the TensorFlow Lite
Micro interpreter (the ``tflite-micro`` package), which also gives the
tensor-arena size the model needs. The log-mel frontend's constants go to
``frontend.h`` so the device computes exactly the features the student saw.

:func:`export` runs the steps, each in its own module: conversion
(:mod:`~embedclf.distill.convert`), TFLM runs and measurement
(:mod:`~embedclf.distill.tflm`), C text (:mod:`~embedclf.distill.csource`),
report and budget (:mod:`~embedclf.distill.report`); their public names are
importable from here too.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..files import atomic_write_data, check_replaceable, recover_folder, replace_folder
from .cevents import event_settings
from .clib import C_LIBRARY_FOLDER, c_files_relative, c_library_for_export
from .convert import op_list, to_int8_tflite
from .csource import c_array_source, check_mcu_frontend, frontend_header
from .report import (
    BudgetError,
    check_budget,
    frontend_spec,
    held_out_scores,
    student_report,
    training_summary,
)
from .tflm import Int8Model, UnsupportedOpError, measure_arena, tflm_outputs
from .verify import measure_library_files

#: the report's training section (the name before it was public)
_training = training_summary

__all__ = [
    "export",
    "to_int8_tflite",
    "op_list",
    "measure_arena",
    "Int8Model",
    "BudgetError",
    "UnsupportedOpError",
    "c_array_source",
    "EXPORT_FILES",
    "OVER_BUDGET_REPORT",
    "tflm_outputs",
    "check_mcu_frontend",
]

#: where the report of a student over budget goes (report.json stays the last good one)
OVER_BUDGET_REPORT = "report.over_budget.json"

#: the files one export writes, as one set (``report.json`` describes the other four)
EXPORT_FILES = ("model.tflite", "model_data.h", "model_data.c", "frontend.h", "report.json")


def _as_student(est):
    """(KerasCNN student, teacher or None) of a fitted Distiller or KerasCNN."""
    from ..models.cnn import KerasCNN
    from .distiller import Distiller

    if isinstance(est, Distiller):
        if not hasattr(est, "student_"):
            raise ValueError("the Distiller is not fitted: call fit first")
        return est.student_, est.teacher
    if isinstance(est, KerasCNN):
        if not hasattr(est, "model_"):
            raise ValueError("the KerasCNN is not fitted: call fit first")
        return est, None
    raise TypeError(f"export needs a fitted Distiller or KerasCNN, got {type(est).__name__}")


def export(
    student,
    out_dir,
    representative,
    *,
    X_test=None,
    y_test=None,
    teacher=None,
    max_flash_kb=None,
    max_ram_kb=None,
    n_representative=300,
    random_state=0,
    extra=None,
    events=None,
):
    """Write a student for a microcontroller and measure it.

    Files written to ``out_dir``, as one set (:data:`EXPORT_FILES`):
    ``model.tflite`` (int8 in and out), ``model_data.h``/``model_data.c``
    (the same bytes as an aligned C array), ``frontend.h`` (sample rate,
    FFT, hop, window, sparse mel filterbank, log and standardisation
    constants, quantisation parameters, labels), ``report.json`` and, when
    every operator is one it compiles, the self-contained C library in
    ``c/`` (:mod:`embedclf.distill.clib`; ``report["c_library"]`` says why
    not otherwise).

    The set is consistent: the files are written into a new sibling folder
    that replaces ``out_dir`` as a whole (:func:`embedclf.files.replace_folder`),
    so a crash or an error while writing leaves the earlier export complete
    and untouched, never a new model next to an old ``frontend.h``; a crash
    during the swap itself is repaired by the next export. Other files and
    folders a user keeps in ``out_dir`` are carried over into the new folder
    (hard links, no copy); a stale ``report.over_budget.json`` is removed.
    ``out_dir`` must not be (or contain) the current working directory.

    Parameters
    ----------
    student : Distiller or KerasCNN
        Fitted.
    out_dir : str or path
    representative : sequence of clips
        Calibration clips for the int8 ranges (training clips are fine).
    X_test, y_test : sequence of clips and labels, optional
        Held-out clips: int8-vs-float agreement always; accuracies when
        ``y_test`` is given. Clips are paths or, for a Distiller, waveforms
        at the teacher's rate.
    teacher : estimator, optional
        Defaults to the Distiller's teacher; its accuracy and its agreement
        with the student are reported.
    max_flash_kb, max_ram_kb : float, optional
        Budget. When exceeded, the report goes to ``report.over_budget.json``
        (written on its own, atomically), the files of an earlier export
        (``report.json`` included) stay as they were, and
        :class:`BudgetError` is raised.
    n_representative : int, default=300
        Windows drawn from ``representative`` for calibration.
    random_state : int, default=0
    extra : dict, optional
        More entries for the report (e.g. how the teacher was trained).
    events : dict, optional
        Settings of the C library's sound events (``c/embedclf_events.c``):
        any of ``smoothing``, ``threshold``, ``threshold_off``,
        ``min_duration``, ``suppression`` and ``background``, as
        :class:`embedclf.stream.Recognizer` takes them; the others are the
        Recognizer's defaults (:func:`embedclf.distill.cevents.event_settings`).
        The complete settings go to ``report["c_library"]["events"]``.

    Returns
    -------
    dict
        The report (also in ``report.json``), with ``flash_bytes``,
        ``arena_bytes``, ``macs_per_window``, ``macs_per_second``, ``ops``,
        ``int8_float_agreement``, ``student_accuracy``,
        ``student_float_accuracy``, ``teacher_accuracy`` and
        ``teacher_student_agreement``.

    Examples
    --------
    >>> import os, tempfile
    >>> from embedclf.datasets import make_sound_events
    >>> from embedclf.distill import export, mcu_frontend
    >>> from embedclf.models import KerasCNN
    >>> X, y, _ = make_sound_events(n_per_class=4, sr=16000, duration=1.0, random_state=0)
    >>> cnn = KerasCNN(architecture="strided_ds", sr=16000, frontend=mcu_frontend(),
    ...                window_top_db=80.0, epochs=1, random_state=0).fit(X, y)
    >>> out = tempfile.mkdtemp()
    >>> report = export(cnn, out, X, X_test=X, y_test=y)
    >>> sorted(os.listdir(out))
    ['c', 'frontend.h', 'model.tflite', 'model_data.c', 'model_data.h', 'report.json']
    >>> report["arena_bytes"] < 32 * 1024, "int8_float_agreement" in report
    (True, True)
    """
    cnn, own_teacher = _as_student(student)
    check_mcu_frontend(cnn.frontend_)  # before any work: can a device compute the input?
    event_settings(events)  # a bad setting fails before any work
    teacher = own_teacher if teacher is None else teacher
    check_replaceable(out_dir)  # before any work
    recover_folder(out_dir)  # an earlier export interrupted mid-swap: its set comes back
    # read as the estimator reads clips in fit (a Distiller: at its teacher's rate, resampled)
    W, _, _ = student.windows(representative)
    rng = np.random.default_rng(random_state)
    rep = W[np.sort(rng.choice(len(W), min(n_representative, len(W)), replace=False))]
    model_bytes = to_int8_tflite(cnn.model_, rep)
    ops = op_list(model_bytes)
    int8 = Int8Model(model_bytes)
    # running it in TFLM is the support check: an op TFLM lacks fails here, by name
    arena = measure_arena(model_bytes, int8.quantize(rep[:1]))
    header, source = c_array_source(model_bytes)
    # {} when an op is not compiled
    c_files, c_report = c_library_for_export(cnn, model_bytes, events)
    device = (
        measure_library_files(c_files_relative(c_files), cnn.sr)
        if c_files
        else {"measured": False, "reason": c_report["reason"]}
    )
    fe_header, fe_bytes = frontend_header(cnn, int8.input_quantization, int8.output_quantization)
    report = student_report(student, model_bytes, ops, arena, fe_bytes)
    report.update({"c_library": c_report, "device": device, "frontend": frontend_spec(cnn)})
    report["notes"]["device"] = (
        "the C library linked into a Cortex-M4 firmware (arm-none-eabi-gcc -Os, QEMU "
        "mps2-an386): flash_bytes is the library's code and constants, ram_bytes its statics, "
        "the caller's ecl_state and ecl_listener (the events) and its peak stack; "
        "image_flash_bytes and image_ram_bytes the whole demo firmware with newlib's stdio "
        "(RAM: linked .data and .bss, heap and the "
        "program's peak stack); instructions counted with QEMU -icount; the budget uses the "
        "library's figures when measured"
    )
    report["notes"]["frontend"] = (
        "the student's frontend (LogMel parameters, window and hop in frames, per-window "
        "clipping, per-band standardisation): embedclf verify recomputes the int8 input from it"
    )
    if X_test is not None:
        report.update(held_out_scores(student, int8, X_test, y_test, teacher))
    report.update(extra or {})
    over = check_budget(report, max_flash_kb, max_ram_kb)

    if over:  # an over-budget student never replaces an earlier good export, report included
        path = os.path.join(out_dir, OVER_BUDGET_REPORT)
        atomic_write_data(path, json.dumps(report, indent=2) + "\n")
        error = BudgetError(
            "the student exceeds the budget: " + "; ".join(over) + f". Its report is in "
            f"{path}; try a smaller width or student='strided_ds'"
        )
        error.report = report
        raise error
    contents = dict(
        zip(
            EXPORT_FILES,
            (model_bytes, header, source, fe_header, json.dumps(report, indent=2) + "\n"),
        )
    )
    contents = {**c_files, **contents}  # report.json stays last

    def write(folder):
        for name, data in contents.items():
            atomic_write_data(os.path.join(folder, name), data)

    # "c": an earlier export's C library never outlives its model
    replace_folder(out_dir, write, drop=[OVER_BUDGET_REPORT, C_LIBRARY_FOLDER])
    return report
