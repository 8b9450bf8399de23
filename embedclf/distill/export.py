"""Export a student for a microcontroller: int8 TFLite, C sources, measured footprint.

The network is converted to a full-integer int8 ``.tflite`` (int8 input and
output; batch norm folded, ReLU fused) and checked in the TensorFlow Lite
Micro interpreter (the ``tflite-micro`` package), which also gives the
tensor-arena size the model needs. The log-mel frontend's constants go to
``frontend.h`` so the device computes exactly the features the student saw.
"""

from __future__ import annotations

import json
import os

from numbers import Real

import numpy as np

from .._litert import captured_fd as _captured_fd
from .._litert import keras_to_tflite
from ..files import atomic_write_data, check_replaceable, recover_folder, replace_folder
from ..models._windows import LOG_FLOOR
from .clib import C_LIBRARY_FOLDER, c_library_for_export, c_files_relative
from .verify import measure_library_files

__all__ = ["export", "to_int8_tflite", "op_list", "measure_arena", "Int8Model", "BudgetError",
           "UnsupportedOpError", "c_array_source", "EXPORT_FILES", "OVER_BUDGET_REPORT"]

#: where the report of a student over budget goes (report.json stays the last good one)
OVER_BUDGET_REPORT = "report.over_budget.json"

#: the files one export writes, as one set (``report.json`` describes the other four)
EXPORT_FILES = ("model.tflite", "model_data.h", "model_data.c", "frontend.h", "report.json")


class BudgetError(ValueError):
    """The exported student exceeds the flash or RAM budget.

    Its report is written to ``report.over_budget.json``; files of an earlier
    export in the same folder are left as they were.

    Examples
    --------
    >>> from embedclf.distill import BudgetError
    >>> issubclass(BudgetError, ValueError)
    True
    """


class UnsupportedOpError(ValueError):
    """The model uses an op TensorFlow Lite Micro cannot run.

    Examples
    --------
    >>> from embedclf.distill import UnsupportedOpError
    >>> issubclass(UnsupportedOpError, ValueError)
    True
    """


def to_int8_tflite(model, representative):
    """Full-integer int8 conversion of a Keras model (int8 input and output).

    Parameters
    ----------
    model : keras.Model
    representative : ndarray of shape (n, *input_shape)
        Typical inputs, for calibrating the activation ranges (a few hundred
        windows).

    Returns
    -------
    bytes
        The ``.tflite`` flatbuffer.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import to_int8_tflite
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> tflite = to_int8_tflite(strided_ds((16, 20, 1), 3), rep)
    >>> tflite[4:8]
    b'TFL3'
    """
    rep = np.asarray(representative, np.float32)

    def full_integer(conv, tf):
        conv.representative_dataset = lambda: ([rep[i : i + 1]] for i in range(len(rep)))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8

    return keras_to_tflite(model, full_integer, ignore_warnings="Statistics for quantized inputs")


def op_list(model_bytes):
    """Names of the operators in a ``.tflite`` file, in execution order.

    Parameters
    ----------
    model_bytes : bytes

    Returns
    -------
    list of str

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import op_list, to_int8_tflite
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> sorted(set(op_list(to_int8_tflite(strided_ds((16, 20, 1), 3), rep))))
    ['CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED', 'MEAN', 'SOFTMAX']
    """
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    m = fb.Model.GetRootAsModel(model_bytes, 0)
    out = []
    for s in range(m.SubgraphsLength()):
        g = m.Subgraphs(s)
        for i in range(g.OperatorsLength()):
            code = m.OperatorCodes(g.Operators(i).OpcodeIndex())
            op = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            out.append(code.CustomCode().decode() if op == fb.BuiltinOperator.CUSTOM
                       else names[op])
    return out


def _tflm_run(model_bytes, x_int8, arena_size):
    """Outputs of the TFLM interpreter, or (None, its error text)."""
    from tflite_micro.python.tflite_micro import runtime as tflm

    with _captured_fd(2) as box:
        try:
            it = tflm.Interpreter.from_bytes(model_bytes, arena_size=int(arena_size))
            outs = []
            for x in x_int8:
                it.set_input(x[None], 0)
                it.invoke()
                outs.append(np.array(it.get_output(0)[0]))
            return np.stack(outs), ""
        except RuntimeError:
            pass
    return None, box["text"]


def tflm_outputs(model_bytes, x_int8, arena_size):
    """Run int8 inputs through the TFLM interpreter with ``arena_size`` bytes.

    Parameters
    ----------
    model_bytes : bytes
    x_int8 : ndarray of shape (n, *input_shape), int8
    arena_size : int

    Returns
    -------
    ndarray of shape (n, n_classes), int8

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import Int8Model, tflm_outputs, to_int8_tflite
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> tflite = to_int8_tflite(strided_ds((16, 20, 1), 3), rep)
    >>> q = Int8Model(tflite).quantize(rep[:2])
    >>> np.array_equal(tflm_outputs(tflite, q, 64 * 1024), Int8Model(tflite).run_int8(q))
    True
    """
    out, err = _tflm_run(model_bytes, x_int8, arena_size)
    if out is None:
        missing = [line for line in err.splitlines() if "find op" in line]
        if missing:
            raise UnsupportedOpError(f"TensorFlow Lite Micro cannot run this model: "
                                     f"{missing[0].strip()}")
        raise RuntimeError(f"TFLM failed with a {arena_size}-byte arena: {err.strip()[-300:]}")
    return out


def measure_arena(model_bytes, x_int8, limit=4 << 20):
    """Smallest tensor arena (bytes) with which TFLM allocates and runs the model.

    A binary search over ``arena_size``: it measures what the interpreter
    needs (activations, the persistent tensor metadata and scratch buffers)
    on this 64-bit host build with reference kernels. A 32-bit build needs
    a little less for metadata; optimised kernels (CMSIS-NN) can add scratch.

    Parameters
    ----------
    model_bytes : bytes
    x_int8 : ndarray of shape (1, *input_shape), int8
        One input, run to make sure ``invoke`` succeeds too.
    limit : int, default=4 MiB

    Returns
    -------
    int

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import Int8Model, measure_arena, to_int8_tflite
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> tflite = to_int8_tflite(strided_ds((16, 20, 1), 3), rep)
    >>> 1000 < measure_arena(tflite, Int8Model(tflite).quantize(rep[:1])) < 32 * 1024
    True
    """
    tflm_outputs(model_bytes, x_int8[:1], limit)  # raises for unsupported ops
    lo, hi = 0, int(limit)  # lo fails, hi works
    while hi - lo > 1:
        mid = (lo + hi) // 2
        ok = _tflm_run(model_bytes, x_int8[:1], mid)[0] is not None
        lo, hi = (lo, mid) if ok else (mid, hi)
    return hi


class Int8Model:
    """An int8 ``.tflite`` run by LiteRT with reference kernels (TFLM's arithmetic).

    Parameters
    ----------
    model_bytes : bytes

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import Int8Model, to_int8_tflite
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> m = Int8Model(to_int8_tflite(strided_ds((16, 20, 1), 3), rep))
    >>> P = m.predict_windows(rep[:4])
    >>> P.shape, bool(np.allclose(P.sum(1), 1, atol=0.03))
    ((4, 3), True)
    """

    def __init__(self, model_bytes):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.interpreter = Interpreter(
            model_content=model_bytes,
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    @property
    def input_quantization(self):
        """``(scale, zero_point)`` of the int8 input."""
        return tuple(self.input["quantization"])

    @property
    def output_quantization(self):
        """``(scale, zero_point)`` of the int8 output."""
        return tuple(self.output["quantization"])

    def quantize(self, X):
        """Float network inputs to int8."""
        scale, zp = self.input_quantization
        return np.clip(np.round(np.asarray(X) / scale) + zp, -128, 127).astype(np.int8)

    def dequantize(self, Q):
        """int8 outputs to float probabilities."""
        scale, zp = self.output_quantization
        return (np.asarray(Q, np.float32) - zp) * scale

    def run_int8(self, Q):
        """int8 outputs for int8 inputs, one window at a time."""
        outs = []
        for q in Q:
            self.interpreter.set_tensor(self.input["index"], q[None])
            self.interpreter.invoke()
            outs.append(self.interpreter.get_tensor(self.output["index"])[0].copy())
        return np.stack(outs) if outs else np.zeros((0, self.output["shape"][-1]), np.int8)

    def predict_windows(self, X):
        """Float probabilities of float (standardised) windows, through int8."""
        return self.dequantize(self.run_int8(self.quantize(X)))


def c_array_source(model_bytes, name="g_model_data"):
    """``model_data.h`` and ``model_data.c`` holding the model as an aligned byte array.

    Parameters
    ----------
    model_bytes : bytes
    name : str, default="g_model_data"

    Returns
    -------
    header, source : str

    Examples
    --------
    >>> from embedclf.distill.export import c_array_source
    >>> h, c = c_array_source(b"\\x01\\xff")
    >>> "0x01, 0xff" in c, "g_model_data_len = 2" in c
    (True, True)
    """
    header = (
        "/* Generated by embedclf: int8 TFLite model for TensorFlow Lite Micro. */\n"
        "#ifndef EMBEDCLF_MODEL_DATA_H_\n#define EMBEDCLF_MODEL_DATA_H_\n\n"
        f"extern const unsigned char {name}[];\n"
        f"extern const unsigned int {name}_len;\n\n#endif\n"
    )
    rows = [", ".join(f"0x{b:02x}" for b in model_bytes[i : i + 12])
            for i in range(0, len(model_bytes), 12)]
    source = (
        '/* Generated by embedclf. */\n#include "model_data.h"\n\n'
        "/* 16-byte aligned: TFLM reads tensors in place from flash */\n"
        f"alignas(16) const unsigned char {name}[] = {{\n  " + ",\n  ".join(rows) + "\n};\n"
        f"const unsigned int {name}_len = {len(model_bytes)};\n"
    )
    return header, source


def _c_floats(values, per_line=8):
    vals = [f"{float(v):.9g}f" for v in np.ravel(values)]
    return ",\n  ".join(", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line))


def check_mcu_frontend(fe):
    """Raise unless a device can compute ``fe`` exactly from ``frontend.h``.

    A device sees one window at a time, so nothing may depend on the whole
    clip (``top_db`` clipping, ``ref="max"``, clip normalisation).

    Examples
    --------
    >>> from embedclf import LogMel
    >>> from embedclf.distill import mcu_frontend
    >>> from embedclf.distill.export import check_mcu_frontend
    >>> check_mcu_frontend(mcu_frontend())
    >>> check_mcu_frontend(LogMel(top_db=80.0))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: ... top_db=80.0 clips relative to the whole clip's maximum ...
    """
    from ..features.logmel import MFCC, LogMel

    problems = []
    if not isinstance(fe, LogMel) or isinstance(fe, MFCC):
        problems.append(f"the frontend is {type(fe).__name__}, not LogMel")
    else:
        if fe.top_db is not None:
            problems.append(f"top_db={fe.top_db} clips relative to the whole clip's maximum")
        if not isinstance(fe.ref, Real) or fe.ref <= 0:
            problems.append(f"ref={fe.ref!r} depends on the clip")
        if not fe.log:
            problems.append("log=False")
        if fe.normalize is not None:
            problems.append(f"normalize={fe.normalize!r}")
        if fe.center and fe.pad_mode != "constant":
            problems.append(f"pad_mode={fe.pad_mode!r}")
    if problems:
        raise ValueError(
            "this student's frontend cannot be reproduced on a device from frontend.h: "
            + "; ".join(problems) + ". Train the student with embedclf.distill.mcu_frontend() "
            "(or a LogMel with top_db=None, a numeric ref, log=True, normalize=None)")


def _frontend_macs_per_frame(fe):
    """Approximate multiply-accumulates of one log-mel frame on a device.

    Window (n_fft), a real FFT (about (n_fft/2)·log2(n_fft/2) complex
    butterflies of 4 MACs, plus the real-input post-processing), power
    (2 per bin) and the mel weights (one per non-zero filter weight).
    """
    half = fe.n_fft // 2
    fft = 4 * half * int(np.log2(max(half, 2))) + 4 * half
    return int(fe.n_fft + fft + 2 * (half + 1) + np.count_nonzero(fe.mel_basis_))


#: How ``frontend.h`` tells a device to pool a clip's windows, per ``aggregate``.
_POOLING_IN_C = {
    "mean": "is the class with the highest mean p over its windows",
    "logmean": f"is the class with the highest mean log(max(p, 1/{round(1 / LOG_FLOOR)})) over its "
               "windows",
    "vote": "is its windows' most frequent answer",
}


def _frontend_header(student, input_q, output_q):
    """``frontend.h``: every constant the device needs to compute the student's input.

    The mel filterbank is stored sparsely (first FFT bin and weights of each
    band), which is also how a device applies it.
    """
    fe = student.frontend_
    check_mcu_frontend(fe)
    n_frames, hop_frames = student.window_frames_
    basis = np.asarray(fe.mel_basis_, np.float64)
    starts, counts, weights = [], [], []
    for band in basis:
        nz = np.flatnonzero(band)
        first = int(nz[0]) if len(nz) else 0
        last = int(nz[-1]) + 1 if len(nz) else 0
        starts.append(first)
        counts.append(last - first)
        weights.extend(band[first:last])
    labels = ", ".join(json.dumps(str(c)) for c in student.classes_)
    ref = fe.ref if isinstance(fe.ref, (int, float)) else 1.0
    lines = [
        "/* Generated by embedclf: the student's log-mel frontend, exactly as trained.",
        " * Per frame: y = window * samples[hop*t : hop*t + n_fft]"
        + (" (EMBEDCLF_CENTER: the clip is padded with n_fft/2 zeros at both ends)" if fe.center
           else "") + ";",
        " * P = |rfft(y)|^power; mel[b] = sum_k weights * P[start+k];",
        " * dB = 10*log10(max(mel, AMIN)) - 10*log10(max(REF, AMIN)); per window of WINDOW_FRAMES frames, when",
        " * WINDOW_TOP_DB > 0: dB = max(dB, window max - WINDOW_TOP_DB); x = (dB - MEAN[b]) / STD[b];",
        " * int8 input = round(x / INPUT_SCALE) + INPUT_ZERO_POINT, saturated.",
        " * Output: int8 probabilities p = (q - OUTPUT_ZERO_POINT) * OUTPUT_SCALE per window;",
        " * a clip's prediction " + _POOLING_IN_C[student.aggregate] + ". */",
        "/* Include this header in one .c file only: the tables below are static. */",
        "#ifndef EMBEDCLF_FRONTEND_H_", "#define EMBEDCLF_FRONTEND_H_", "",
        f"#define EMBEDCLF_SAMPLE_RATE {fe.sr}",
        f"#define EMBEDCLF_N_FFT {fe.n_fft}",
        f"#define EMBEDCLF_HOP_LENGTH {fe.hop_length}",
        f"#define EMBEDCLF_CENTER {int(fe.center)}",
        f"#define EMBEDCLF_POWER {float(fe.power):.9g}f",
        f"#define EMBEDCLF_N_MELS {basis.shape[0]}",
        f"#define EMBEDCLF_N_MEL_WEIGHTS {len(weights)}",
        f"#define EMBEDCLF_AMIN {float(fe.amin):.9g}f",
        f"#define EMBEDCLF_REF {float(ref):.9g}f",
        f"#define EMBEDCLF_WINDOW_FRAMES {n_frames}",
        f"#define EMBEDCLF_HOP_FRAMES {hop_frames}",
        f"#define EMBEDCLF_WINDOW_TOP_DB {float(student.window_top_db or 0):.9g}f",
        f"#define EMBEDCLF_INPUT_SCALE {float(input_q[0]):.9g}f",
        f"#define EMBEDCLF_INPUT_ZERO_POINT {int(input_q[1])}",
        f"#define EMBEDCLF_OUTPUT_SCALE {float(output_q[0]):.9g}f",
        f"#define EMBEDCLF_OUTPUT_ZERO_POINT {int(output_q[1])}",
        f"#define EMBEDCLF_N_CLASSES {len(student.classes_)}", "",
        f"static const char *const kLabels[EMBEDCLF_N_CLASSES] = {{{labels}}};",
        "static const float kWindow[EMBEDCLF_N_FFT] = {\n  " + _c_floats(fe.window_) + "\n};",
        "static const unsigned short kMelStart[EMBEDCLF_N_MELS] = {"
        + ", ".join(map(str, starts)) + "};",
        "static const unsigned short kMelCount[EMBEDCLF_N_MELS] = {"
        + ", ".join(map(str, counts)) + "};",
        "static const float kMelWeights[EMBEDCLF_N_MEL_WEIGHTS] = {\n  " + _c_floats(weights)
        + "\n};",
        "static const float kMean[EMBEDCLF_N_MELS] = {\n  " + _c_floats(student.feature_mean_)
        + "\n};",
        "static const float kStd[EMBEDCLF_N_MELS] = {\n  " + _c_floats(student.feature_std_)
        + "\n};", "", "#endif", "",
    ]
    table_bytes = 4 * (len(fe.window_) + len(weights) + 2 * basis.shape[0]) + 4 * basis.shape[0]
    return "\n".join(lines), int(table_bytes)


def _as_student(est):
    """(KerasCNN student, function mapping clips to the student's input, teacher or None)."""
    from ..models.cnn import KerasCNN
    from .distiller import Distiller

    if isinstance(est, Distiller):
        if not hasattr(est, "student_"):
            raise ValueError("the Distiller is not fitted: call fit first")
        return est.student_, est._student_input, est.teacher
    if isinstance(est, KerasCNN):
        if not hasattr(est, "model_"):
            raise ValueError("the KerasCNN is not fitted: call fit first")
        return est, (lambda X: X), None
    raise TypeError(f"export needs a fitted Distiller or KerasCNN, got {type(est).__name__}")


def _plain(value):
    """``value`` with numpy scalars and tuples made JSON-ready (recursively)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _training(est, cnn):
    """How the student was trained, for the report: enough to reproduce the recipe."""
    from .distiller import Distiller

    aug = est.augment
    params = {} if aug is None else aug.get_params()
    if not isinstance(params.get("noise", ""), str) and any(
            isinstance(n, np.ndarray) for n in params["noise"]):
        params["noise"] = f"{len(params['noise'])} recordings"  # named, not dumped
    out = {"epochs": cnn.epochs, "epochs_run": int(cnn.n_epochs_),
           "learning_rate": cnn.learning_rate, "lr_schedule": cnn.lr_schedule,
           "weight_decay": cnn.weight_decay,
           "fit_hop_seconds": cnn._fit_hop(),  # the device runs at hop_seconds
           "early_stopping": cnn.early_stopping, "n_windows": int(cnn.n_windows_fit_),
           "augment": None if aug is None else params}
    if isinstance(est, Distiller):
        out.update(temperature=est.temperature, alpha=est.alpha,
                   teacher_context=est.teacher_context_, mix_copies=est.mix_copies,
                   n_labelled_clips=int(est.n_labelled_))
    return _plain(out)


def _windows_of(est, clips):
    """((windows, owner), n_clips): ``clips`` as the student's input, read as ``est`` reads
    them in ``fit`` (a Distiller: at its teacher's rate, then resampled)."""
    from ..audio import iter_clips

    cnn, to_input, _ = _as_student(est)
    waves = [w for _, _, w in iter_clips(to_input(clips), cnn.sr)]
    return cnn._windows(waves)[:2], len(waves)


def export(student, out_dir, representative, *, X_test=None, y_test=None, teacher=None,
           max_flash_kb=None, max_ram_kb=None, n_representative=300, random_state=0,
           extra=None):
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
    from ..models.architectures import count_macs, count_params
    from ..models._windows import pool_windows

    cnn, _, own_teacher = _as_student(student)
    check_mcu_frontend(cnn.frontend_)  # before any work: can a device compute the input?
    teacher = own_teacher if teacher is None else teacher
    check_replaceable(out_dir)  # before any work
    recover_folder(out_dir)  # an earlier export interrupted mid-swap: its set comes back
    (W, _), _ = _windows_of(student, representative)
    rng = np.random.default_rng(random_state)
    rep = W[np.sort(rng.choice(len(W), min(n_representative, len(W)), replace=False))]
    model_bytes = to_int8_tflite(cnn.model_, rep)
    ops = op_list(model_bytes)
    int8 = Int8Model(model_bytes)
    # running it in TFLM is the support check: an op TFLM lacks fails here, by name
    arena = measure_arena(model_bytes, int8.quantize(rep[:1]))
    header, source = c_array_source(model_bytes)
    c_files, c_report = c_library_for_export(cnn, model_bytes)  # {} when an op is not compiled
    device = measure_library_files(c_files_relative(c_files), cnn.sr) if c_files else {
        "measured": False, "reason": c_report["reason"]}
    fe_header, fe_bytes = _frontend_header(cnn, int8.input_quantization, int8.output_quantization)
    macs = count_macs(cnn.model_)
    frame_s = cnn.frontend_.hop_length / cnn.sr
    windows_per_s = 1.0 / (cnn.window_frames_[1] * frame_s)  # the hop in whole frames
    frontend_macs = int(round(_frontend_macs_per_frame(cnn.frontend_) / frame_s))
    report = {
        "architecture": cnn.architecture if isinstance(cnn.architecture, str) else "custom",
        "width": cnn.width, "params": count_params(cnn.model_),
        "input_shape": list(cnn.input_shape_),
        "model_bytes": len(model_bytes), "frontend_table_bytes": fe_bytes,
        "flash_bytes": len(model_bytes) + fe_bytes,
        "arena_bytes": arena,
        "macs_per_window": macs, "windows_per_second": round(windows_per_s, 4),
        "macs_per_second": int(round(macs * windows_per_s)),
        "frontend_macs_per_second": frontend_macs,
        "total_macs_per_second": int(round(macs * windows_per_s)) + frontend_macs,
        "ops": sorted(set(ops)), "c_library": c_report, "device": device,
        "sample_rate": cnn.sr, "n_mels": cnn.frontend_.n_mels,
        "window_seconds": cnn.window, "hop_seconds": cnn.hop, "clip_pooling": cnn.aggregate,
        "classes": [str(c) for c in cnn.classes_],
        "training": _training(student, cnn),
        "notes": {
            "flash_bytes": "the .tflite model plus frontend.h's tables; the TFLM runtime and "
                           "kernels (code) come on top",
            "arena_bytes": "measured in the TFLM Python interpreter (64-bit host, reference "
                           "kernels); a 32-bit build needs a little less for tensor metadata, "
                           "optimised kernels (CMSIS-NN) may add scratch",
            "macs_per_second": "the network only; frontend_macs_per_second estimates the "
                               "log-mel computation (window, FFT, power, mel)",
            "device": "the C library linked into a Cortex-M4 firmware (arm-none-eabi-gcc -Os, "
                      "QEMU mps2-an386): flash_bytes is the library's code and constants, "
                      "ram_bytes its statics, the caller's ecl_state and its peak stack; "
                      "image_flash_bytes the whole demo firmware with newlib's stdio; "
                      "instructions counted with QEMU -icount; the budget uses these when "
                      "measured",
        },
    }
    if X_test is not None:
        (Wt, owner), n = _windows_of(student, X_test)
        # pooled as the estimator pools, so the report scores what predict() would
        p_float = pool_windows(cnn._network_proba(Wt), owner, n, cnn.aggregate)
        p_int8 = pool_windows(int8.predict_windows(Wt).astype(np.float64), owner, n,
                              cnn.aggregate)
        pred_float = cnn.classes_[p_float.argmax(1)]
        pred_int8 = cnn.classes_[p_int8.argmax(1)]
        report["n_test_clips"] = int(n)
        report["int8_float_agreement"] = float(np.mean(pred_float == pred_int8))
        if teacher is not None:
            pred_teacher = np.asarray(teacher.predict(X_test))
            report["teacher_student_agreement"] = float(np.mean(pred_teacher == pred_int8))
        if y_test is not None:
            y_test = np.asarray(y_test)
            report["student_accuracy"] = float(np.mean(pred_int8 == y_test))
            report["student_float_accuracy"] = float(np.mean(pred_float == y_test))
            if teacher is not None:
                report["teacher_accuracy"] = float(np.mean(pred_teacher == y_test))
    report.update(extra or {})
    over = []
    # measured on the linked Cortex-M4 image when it could be built, else the TFLM estimates
    if device["measured"]:
        flash_used, flash_what = device["flash_bytes"], "flash (measured, C library)"
        ram_used, ram_what = device["ram_bytes"], "RAM (measured, C library)"
    else:
        flash_used, flash_what = report["flash_bytes"], "flash"
        ram_used, ram_what = arena, "tensor arena"
    if max_flash_kb is not None and flash_used > max_flash_kb * 1024:
        over.append(f"{flash_what} {flash_used} B > {max_flash_kb} KB")
    if max_ram_kb is not None and ram_used > max_ram_kb * 1024:
        over.append(f"{ram_what} {ram_used} B > {max_ram_kb} KB")
    report["budget"] = {"max_flash_kb": max_flash_kb, "max_ram_kb": max_ram_kb,
                        "within_budget": not over, "exceeded": over}

    if over:  # an over-budget student never replaces an earlier good export, report included
        path = os.path.join(out_dir, OVER_BUDGET_REPORT)
        atomic_write_data(path, json.dumps(report, indent=2) + "\n")
        raise BudgetError(
            "the student exceeds the budget: " + "; ".join(over) + f". Its report is in "
            f"{path}; try a smaller --width or --student strided_ds")
    contents = dict(zip(EXPORT_FILES, (model_bytes, header, source, fe_header,
                                       json.dumps(report, indent=2) + "\n")))
    contents = {**c_files, **contents}  # report.json stays last

    def write(folder):
        for name, data in contents.items():
            atomic_write_data(os.path.join(folder, name), data)

    # "c": an earlier export's C library never outlives its model
    replace_folder(out_dir, write, drop=[OVER_BUDGET_REPORT, C_LIBRARY_FOLDER])
    return report

