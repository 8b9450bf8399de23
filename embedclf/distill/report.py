"""The export report and the budget check.

:func:`student_report` describes an int8 student (footprint, compute, the
recipe it was trained with), :func:`held_out_scores` scores it on held-out
clips against its float network and its teacher, :func:`check_budget` holds
it against a flash and RAM budget.

Examples
--------
>>> from embedclf.distill.report import check_budget
>>> report = {"flash_bytes": 40 * 1024, "arena_bytes": 20 * 1024}
>>> check_budget(report, max_flash_kb=32, max_ram_kb=64)
['flash 40960 B > 32 KB']
>>> report["budget"]["within_budget"]
False
"""

from __future__ import annotations

import numpy as np

from ..exceptions import BudgetError  # re-exported
from .csource import frontend_macs_per_frame

__all__ = [
    "BudgetError",
    "student_report",
    "held_out_scores",
    "check_budget",
    "training_summary",
    "frontend_spec",
]


def _plain(value):
    """``value`` with numpy scalars and tuples made JSON-ready (recursively)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def training_summary(est, cnn):
    """How the student was trained, for the report: enough to reproduce the recipe.

    Parameters
    ----------
    est : Distiller or KerasCNN
        Fitted.
    cnn : KerasCNN
        Its network (``est.student_`` for a Distiller, else ``est``).

    Returns
    -------
    dict
        JSON-ready: epochs, schedule, windows, augmentation and, for a
        Distiller, its teaching (temperature, alpha, teacher context...).

    Examples
    --------
    >>> from embedclf.datasets import make_sound_events
    >>> from embedclf.distill.report import training_summary
    >>> from embedclf.models import KerasCNN
    >>> X, y, _ = make_sound_events(n_per_class=2, sr=8000, duration=1.0, random_state=0)
    >>> cnn = KerasCNN(architecture="strided_ds", sr=8000, epochs=1, random_state=0).fit(X, y)
    >>> training_summary(cnn, cnn)["epochs_run"]
    1
    """
    from .distiller import Distiller

    aug = est.augment
    params = {} if aug is None else aug.get_params()
    if not isinstance(params.get("noise", ""), str) and any(
        isinstance(n, np.ndarray) for n in params["noise"]
    ):
        params["noise"] = f"{len(params['noise'])} recordings"  # named, not dumped
    out = {
        "epochs": cnn.epochs,
        "epochs_run": int(cnn.n_epochs_),
        "learning_rate": cnn.learning_rate,
        "lr_schedule": cnn.lr_schedule,
        "weight_decay": cnn.weight_decay,
        "fit_hop_seconds": cnn.training_hop(),  # the device runs at hop_seconds
        "early_stopping": cnn.early_stopping,
        "n_windows": int(cnn.n_windows_fit_),
        "augment": None if aug is None else params,
    }
    if isinstance(est, Distiller):
        out.update(
            temperature=est.temperature,
            alpha=est.alpha,
            teacher_context=est.teacher_context_,
            mix_copies=est.mix_copies,
            n_labelled_clips=int(est.n_labelled_),
            # how right the targets were on the labelled training clips (None: no labels)
            teacher_targets={
                "window_accuracy": getattr(est, "teacher_window_accuracy_", None),
                "averaged_clip_accuracy": getattr(est, "teacher_averaged_accuracy_", None),
                "clip_accuracy": getattr(est, "teacher_clip_accuracy_", None),
            },
        )
    return _plain(out)


def frontend_spec(cnn):
    """How the student computes its network input, as JSON values (``report["frontend"]``).

    Enough to recompute the int8 input in Python from an export folder alone
    (:func:`embedclf.distill.verify.python_int8_features`): the log-mel
    frontend's parameters, the window and hop in frames, the per-window
    clipping and the per-band standardisation (float32 values, exact in JSON).

    Parameters
    ----------
    cnn : KerasCNN
        The fitted student.

    Returns
    -------
    dict or None
        None when a frontend parameter has no JSON form (an array window).

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf import KerasCNN
    >>> from embedclf.distill import mcu_frontend
    >>> from embedclf.distill.report import frontend_spec
    >>> cnn = KerasCNN(sr=16000, frontend=mcu_frontend())
    >>> _ = cnn.fit_frontend([np.zeros(16000, np.float32)])
    >>> spec = frontend_spec(cnn)
    >>> spec["logmel"]["n_fft"], spec["window_frames"], spec["hop_frames"]
    (512, 50, 25)
    """
    import json

    params = {
        k: v for k, v in cnn.frontend_.get_params().items() if k not in ("n_jobs", "on_error")
    }
    n_frames, hop_frames = cnn.window_frames_
    top_db = cnn.window_top_db
    spec = _plain(
        {
            "logmel": params,
            "window_frames": int(n_frames),
            "hop_frames": int(hop_frames),
            "window_top_db": None if top_db is None else float(top_db),
            "feature_mean": [float(v) for v in np.asarray(cnn.feature_mean_, np.float32)],
            "feature_std": [float(v) for v in np.asarray(cnn.feature_std_, np.float32)],
        }
    )
    try:
        json.dumps(spec)
    except TypeError:
        return None
    return spec


def student_report(est, model_bytes, ops, arena_bytes, frontend_table_bytes):
    """The report of an exported student: footprint, compute, classes and training.

    Parameters
    ----------
    est : Distiller or KerasCNN
        Fitted.
    model_bytes : bytes
        Its int8 ``.tflite``.
    ops : list of str
        The model's operators (:func:`~embedclf.distill.convert.op_list`).
    arena_bytes : int
        Measured tensor arena (:func:`~embedclf.distill.tflm.measure_arena`).
    frontend_table_bytes : int
        Flash taken by ``frontend.h``'s tables
        (:func:`~embedclf.distill.csource.frontend_header`).

    Returns
    -------
    dict

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.datasets import make_sound_events
    >>> from embedclf.distill import mcu_frontend
    >>> from embedclf.distill.report import student_report
    >>> from embedclf.models import KerasCNN
    >>> X, y, _ = make_sound_events(n_per_class=2, sr=16000, duration=1.0, random_state=0)
    >>> cnn = KerasCNN(architecture="strided_ds", sr=16000, frontend=mcu_frontend(), epochs=1,
    ...                random_state=0).fit(X, y)
    >>> r = student_report(cnn, b"0" * 1000, ["CONV_2D"], 5000, 200)
    >>> r["flash_bytes"], r["windows_per_second"], r["macs_per_second"] == 2 * r["macs_per_window"]
    (1200, 2.0, True)
    """
    from ..models.architectures import count_macs, count_params

    cnn = getattr(est, "student_", est)
    macs = count_macs(cnn.model_)
    frame_s = cnn.frontend_.hop_length / cnn.sr
    windows_per_s = 1.0 / (cnn.window_frames_[1] * frame_s)  # the hop in whole frames
    frontend_macs = int(round(frontend_macs_per_frame(cnn.frontend_) / frame_s))
    return {
        "architecture": cnn.architecture if isinstance(cnn.architecture, str) else "custom",
        "width": cnn.width,
        "params": count_params(cnn.model_),
        "input_shape": list(cnn.input_shape_),
        "model_bytes": len(model_bytes),
        "frontend_table_bytes": frontend_table_bytes,
        "flash_bytes": len(model_bytes) + frontend_table_bytes,
        "arena_bytes": arena_bytes,
        "macs_per_window": macs,
        "windows_per_second": round(windows_per_s, 4),
        "macs_per_second": int(round(macs * windows_per_s)),
        "frontend_macs_per_second": frontend_macs,
        "total_macs_per_second": int(round(macs * windows_per_s)) + frontend_macs,
        "ops": sorted(set(ops)),
        "sample_rate": cnn.sr,
        "n_mels": cnn.frontend_.n_mels,
        "window_seconds": cnn.window,
        "hop_seconds": cnn.hop,
        "clip_pooling": cnn.pooling(),
        "classes": [str(c) for c in cnn.classes_],
        "training": training_summary(est, cnn),
        "notes": {
            "flash_bytes": "the .tflite model plus frontend.h's tables; the TFLM runtime and "
            "kernels (code) come on top",
            "arena_bytes": "measured in the TFLM Python interpreter (64-bit host, reference "
            "kernels); a 32-bit build needs a little less for tensor metadata, "
            "optimised kernels (CMSIS-NN) may add scratch",
            "macs_per_second": "the network only; frontend_macs_per_second estimates the "
            "log-mel computation (window, FFT, power, mel)",
        },
    }


def held_out_scores(est, int8, X_test, y_test=None, teacher=None):
    """Scores of an int8 student on held-out clips, pooled as the estimator pools.

    Parameters
    ----------
    est : Distiller or KerasCNN
        Fitted.
    int8 : Int8Model
        Its int8 model (:class:`~embedclf.distill.tflm.Int8Model`).
    X_test : sequence of clips
        Read as ``est`` reads clips (a Distiller: at its teacher's rate).
    y_test : array-like or None, default=None
        Labels: accuracies of the int8 and float students (and the teacher).
    teacher : estimator or None, default=None
        Scored too, with its agreement with the int8 student.

    Returns
    -------
    dict
        ``n_test_clips``, ``int8_float_agreement`` and, as the arguments
        allow, ``teacher_student_agreement``, ``student_accuracy``,
        ``student_float_accuracy``, ``teacher_accuracy``.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.datasets import make_sound_events
    >>> from embedclf.distill import mcu_frontend
    >>> from embedclf.distill.convert import to_int8_tflite
    >>> from embedclf.distill.report import held_out_scores
    >>> from embedclf.distill.tflm import Int8Model
    >>> from embedclf.models import KerasCNN
    >>> X, y, _ = make_sound_events(n_per_class=2, sr=16000, duration=1.0, random_state=0)
    >>> cnn = KerasCNN(architecture="strided_ds", sr=16000, frontend=mcu_frontend(), epochs=1,
    ...                random_state=0).fit(X, y)
    >>> int8 = Int8Model(to_int8_tflite(cnn.model_, cnn.windows(X)[0]))
    >>> scores = held_out_scores(cnn, int8, X, y)
    >>> scores["n_test_clips"], 0 <= scores["student_accuracy"] <= 1
    (10, True)
    """
    from ..models.windows import pool_windows

    cnn = getattr(est, "student_", est)
    X_test = list(X_test)
    W, owner, _ = est.windows(X_test)
    n = len(X_test)
    # pooled as the estimator pools, so the report scores what predict() would
    p_float = pool_windows(cnn.window_proba(W), owner, n, cnn.pooling())
    p_int8 = pool_windows(int8.predict_windows(W).astype(np.float64), owner, n, cnn.pooling())
    pred_float = cnn.classes_[p_float.argmax(1)]
    pred_int8 = cnn.classes_[p_int8.argmax(1)]
    scores = {
        "n_test_clips": int(n),
        "int8_float_agreement": float(np.mean(pred_float == pred_int8)),
    }
    if teacher is not None:
        pred_teacher = np.asarray(teacher.predict(X_test))
        scores["teacher_student_agreement"] = float(np.mean(pred_teacher == pred_int8))
    if y_test is not None:
        y_test = np.asarray(y_test)
        scores["student_accuracy"] = float(np.mean(pred_int8 == y_test))
        scores["student_float_accuracy"] = float(np.mean(pred_float == y_test))
        if teacher is not None:
            scores["teacher_accuracy"] = float(np.mean(pred_teacher == y_test))
    return scores


def check_budget(report, max_flash_kb=None, max_ram_kb=None):
    """Hold a report against a flash and RAM budget; records ``report["budget"]``.

    Parameters
    ----------
    report : dict
        With ``flash_bytes`` and ``arena_bytes``, and a ``device`` section
        whose figures, measured on the linked Cortex-M4 image, are used
        instead when present.
    max_flash_kb, max_ram_kb : float or None, default=None
        The budget (None: no limit).

    Returns
    -------
    list of str
        What exceeds the budget (empty: within it).

    Examples
    --------
    >>> from embedclf.distill.report import check_budget
    >>> check_budget({"flash_bytes": 1000, "arena_bytes": 2048}, max_ram_kb=1)
    ['tensor arena 2048 B > 1 KB']
    """
    # measured on the linked Cortex-M4 image when it could be built, else the TFLM figures
    device = report.get("device") or {}
    if device.get("measured"):
        flash_used, flash_what = device["flash_bytes"], "flash (measured, C library)"
        ram_used, ram_what = device["ram_bytes"], "RAM (measured, C library)"
    else:
        flash_used, flash_what = report["flash_bytes"], "flash"
        ram_used, ram_what = report["arena_bytes"], "tensor arena"
    over = []
    if max_flash_kb is not None and flash_used > max_flash_kb * 1024:
        over.append(f"{flash_what} {flash_used} B > {max_flash_kb} KB")
    if max_ram_kb is not None and ram_used > max_ram_kb * 1024:
        over.append(f"{ram_what} {ram_used} B > {max_ram_kb} KB")
    report["budget"] = {
        "max_flash_kb": max_flash_kb,
        "max_ram_kb": max_ram_kb,
        "within_budget": not over,
        "exceeded": over,
    }
    return over
