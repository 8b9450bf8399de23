"""``embedclf distill`` (a model into a tiny int8 CNN) and ``embedclf verify`` (its C build)."""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from ._args import (
    count,
    event_options,
    events_from_args,
    int_in,
    number_in,
    output_folder,
    positive,
    seed,
    share,
)
from ._common import (
    CLIError,
    check_model,
    dump,
    in_option_words,
    limit_per_class,
    load_labelled,
    load_model,
    quieted,
    read_table,
)

__all__ = [
    "add_parser",
    "add_verify_parser",
    "recipe_from_args",
    "run",
    "run_verify",
]


def _teacher_context(text):
    from ..recipe import parse_teacher_context

    try:
        return parse_teacher_context(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_parser(sub, common):
    """Add the ``distill`` sub-parser to ``sub``; its defaults are the measured recipe.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli import distill
    >>> sub = argparse.ArgumentParser(prog="embedclf").add_subparsers()
    >>> sp = distill.add_parser(sub, lambda sp, on_error=True: None)
    >>> sp.parse_args(["--teacher", "t.skops", "--data", "clips"]).out
    'build/mcu'
    """
    from ..datasets import DATASETS
    from ..recipe import RECIPE, TEST_FRACTION

    sp = sub.add_parser(
        "distill",
        help="distil a saved model into a tiny int8 CNN for a "
        "microcontroller (TFLite, C array, report)",
    )
    sp.add_argument("--teacher", required=True, help="model file written by `embedclf train`")
    sp.add_argument(
        "--trust-pickle",
        action="store_true",
        help="also load a pickle/joblib model file; loading a pickle can run any "
        "code it holds: only for files from a source you trust",
    )
    sp.add_argument("--data", required=True, help="dataset folder or CSV (labelled clips)")
    sp.add_argument(
        "--dataset", choices=sorted(DATASETS), help="layout of DATA (default: folder per class)"
    )
    sp.add_argument(
        "--out", type=output_folder, default="build/mcu", help="output folder (default build/mcu)"
    )
    # defaults: the measured recipe, embedclf.distill.RECIPE (README, distill_tradeoff.py)
    r = RECIPE
    sp.add_argument("--student", default=r.student, choices=["strided_ds", "ds_cnn", "sbcnn"])
    sp.add_argument(
        "--width",
        type=positive,
        default=r.width,
        help=f"filter-count multiplier (default {r.width:g}: the measured ESC-10 "
        "student, 30 KB flash, 25 KB arena)",
    )
    sp.add_argument(
        "--window",
        type=number_in(1e-3),
        default=r.window,
        metavar="SECONDS",
        help=f"the student's analysis window (default {r.window:g})",
    )
    sp.add_argument(
        "--hop",
        type=number_in(1e-3),
        default=r.hop,
        metavar="SECONDS",
        help=f"how often the device runs the student (default {r.hop:g}); MACs per "
        "second of audio scale with 1/HOP",
    )
    sp.add_argument(
        "--fit-hop",
        type=number_in(1e-3),
        default=r.fit_hop,
        metavar="SECONDS",
        help="hop between the training windows the teacher labels (default: HOP); "
        "shorter trains on more shifted views than the device runs",
    )
    sp.add_argument(
        "--epochs", type=count, default=r.epochs, help=f"training epochs (default {r.epochs})"
    )
    sp.add_argument(
        "--lr-schedule",
        choices=["cosine", "constant"],
        default=r.lr_schedule,
        help=f"learning rate over the epochs (default {r.lr_schedule})",
    )
    sp.add_argument(
        "--weight-decay",
        type=number_in(0),
        default=r.weight_decay,
        metavar="DECAY",
        help="decoupled weight decay of the student's kernels (AdamW; default "
        f"{r.weight_decay:g}; 0: Adam)",
    )
    sp.add_argument(
        "--early-stopping",
        action="store_true",
        default=r.early_stopping,
        help="stop when held-out clips stop improving, instead of running every epoch",
    )
    sp.add_argument(
        "--augment",
        type=int_in(0),
        default=r.augment_copies,
        metavar="COPIES",
        help=f"augmented copies per clip, labelled by the teacher (default "
        f"{r.augment_copies}; each copy costs one more teacher pass)",
    )
    sp.add_argument(
        "--mix-copies",
        type=int_in(0),
        default=r.mix_copies,
        metavar="COPIES",
        help="unlabelled mixtures of two training clips per clip, labelled by the "
        f"teacher alone (default {r.mix_copies}; each costs one more teacher "
        "pass)",
    )
    sp.add_argument(
        "--mixup",
        type=number_in(0),
        default=r.mixup,
        metavar="ALPHA",
        help=f"mixup of training windows and their targets (default {r.mixup:g}; 0 = off)",
    )
    sp.add_argument(
        "--freq-mask",
        type=share,
        default=r.freq_mask,
        metavar="SHARE",
        help="SpecAugment: largest share of mel bands hidden per training window "
        f"(default {r.freq_mask:g}; 0 = off)",
    )
    sp.add_argument(
        "--time-mask",
        type=share,
        default=r.time_mask,
        metavar="SHARE",
        help="SpecAugment: largest share of frames hidden per training window "
        f"(default {r.time_mask:g}; 0 = off)",
    )
    sp.add_argument(
        "--teacher-context",
        type=_teacher_context,
        default=r.teacher_context,
        metavar="auto|window|SECONDS|clip",
        help="audio the teacher hears per student window: seconds centred on it, "
        "the window, the clip, or auto: the teacher's own analysis window when "
        "longer, two of them when it pools a spread such as std (BirdNET: 3 s or "
        f"6 s; default {r.teacher_context})",
    )
    sp.add_argument(
        "--temperature",
        type=positive,
        default=r.temperature,
        help=f"softening of the teacher's and the student's outputs (default {r.temperature:g})",
    )
    sp.add_argument(
        "--alpha",
        type=share,
        default=r.alpha,
        help=f"weight of the teacher's soft targets vs the true labels (default {r.alpha:g})",
    )
    sp.add_argument(
        "--clip-pooling",
        choices=["mean", "logmean", "vote"],
        default=r.clip_pooling,
        help="how the device combines a clip's windows: mean log-probability "
        "(logmean), mean probability, or a vote (default "
        f"{r.clip_pooling})",
    )
    # the device's sound events (c/embedclf_events.c): the names and defaults of `stream`
    event_options(
        sp.add_argument_group(
            "events on the device",
            "settings of the C library's sound events, as `embedclf stream`",
        )
    )
    sp.add_argument("--max-flash-kb", type=positive, default=256)
    sp.add_argument("--max-ram-kb", type=positive, default=64)
    sp.add_argument("--test-fold", type=int, help="hold out this fold (datasets with folds)")
    sp.add_argument(
        "--test-fraction",
        type=number_in(0, 1, above=True),
        default=TEST_FRACTION,
        help=f"held-out share of the clips when no --test-fold (default {TEST_FRACTION:g})",
    )
    sp.add_argument(
        "--keep-teacher",
        action="store_true",
        help="distil the saved teacher as is, instead of refitting a copy without "
        "the held-out clips (its accuracy is then not a held-out number)",
    )
    sp.add_argument("--limit-per-class", type=count)
    sp.add_argument("--seed", type=seed, default=0)
    common(sp)
    return sp


def recipe_from_args(args):
    """The recipe the ``distill`` arguments describe (their defaults are RECIPE's).

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> from embedclf.cli.distill import recipe_from_args
    >>> args = build_parser().parse_args(["distill", "--teacher", "t", "--data", "d",
    ...                                   "--epochs", "3"])
    >>> recipe_from_args(args).epochs
    3
    """
    from ..recipe import RECIPE

    return RECIPE.replace(
        student=args.student,
        width=args.width,
        window=args.window,
        hop=args.hop,
        fit_hop=args.fit_hop,
        teacher_context=args.teacher_context,
        temperature=args.temperature,
        alpha=args.alpha,
        epochs=args.epochs,
        lr_schedule=args.lr_schedule,
        weight_decay=args.weight_decay,
        early_stopping=args.early_stopping,
        augment_copies=args.augment,
        mix_copies=args.mix_copies,
        mixup=args.mixup,
        freq_mask=args.freq_mask,
        time_mask=args.time_mask,
        clip_pooling=args.clip_pooling,
    )


def run(args):
    """Run ``embedclf distill``; returns the exit code (1 when over the flash/RAM budget).

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> from embedclf.cli.distill import run
    >>> run(build_parser().parse_args(["distill", "--teacher", "missing.skops", "--data", "clips"]))
    Traceback (most recent call last):
        ...
    FileNotFoundError: model file not found: missing.skops
    """
    from ..distill import (
        BudgetError,
        TeacherClassesWarning,
        TeacherTargetsWarning,
        distill_and_export,
    )
    from ..distill.cevents import event_settings
    from ..files import check_replaceable

    check_replaceable(args.out)  # export swaps the folder in whole: fail before any work
    events = events_from_args(args)
    try:
        event_settings(events)
    except ValueError as err:
        raise CLIError(in_option_words(str(err))) from None
    # refitting a copy needs `fit` and `classes_` too; the student learns from predict_proba
    teacher = check_model(
        load_model(args.teacher, args.trust_pickle), args.teacher, needs=("predict_proba",)
    )
    df = limit_per_class(read_table(args.data, args.dataset), args.limit_per_class)
    if args.test_fold is not None and "fold" not in df:
        raise CLIError("--test-fold needs a dataset with folds (e.g. --dataset esc10)")
    res, df = load_labelled(
        df,
        teacher,
        args.on_error,
        not args.quiet,
        f'{os.path.join(args.out, "report.json")} ("skipped")',
    )
    code, message = 0, None
    try:
        with warnings.catch_warnings():
            shown = warnings.showwarning

            def show(message, category, *rest, **kw):  # about the teacher: one line
                if issubclass(category, (TeacherClassesWarning, TeacherTargetsWarning)):
                    print(f"embedclf: warning: {in_option_words(str(message))}", file=sys.stderr)
                else:
                    shown(message, category, *rest, **kw)

            warnings.showwarning = show
            report = distill_and_export(
                quieted(teacher, args.quiet),
                res.clips,
                res.y,
                args.out,
                recipe=recipe_from_args(args),
                folds=df["fold"].to_numpy() if "fold" in df else None,
                test_fold=args.test_fold,
                test_fraction=args.test_fraction,
                refit_teacher=not args.keep_teacher,
                max_flash_kb=args.max_flash_kb,
                max_ram_kb=args.max_ram_kb,
                random_state=args.seed,
                verbose=0 if args.quiet else 1,
                extra={"skipped": res.skipped.to_dict("records")},
                events=events,
            )
    except BudgetError as err:
        report = err.report
        code, message = 1, in_option_words(str(err))
    except TypeError as err:  # e.g. a teacher without predict_proba
        raise CLIError(str(err)) from None
    if args.json:
        print(dump(report))
    else:
        print(
            f"student {report['architecture']} x{report['width']}: "
            f"flash {report['flash_bytes'] / 1024:.1f} KB "
            f"(model {report['model_bytes'] / 1024:.1f} KB), "
            f"arena {report['arena_bytes'] / 1024:.1f} KB, "
            f"{report['macs_per_second'] / 1e6:.2f} M MACs/s; "
            f"accuracy int8 {100 * report['student_accuracy']:.1f}% vs teacher "
            f"{100 * report['teacher_accuracy']:.1f}% on {report['n_test_clips']} held-out "
            f"clips; int8 = float on {100 * report['int8_float_agreement']:.1f}% -> {args.out}/"
        )
        device = report.get("device", {})
        if device.get("measured"):
            print(
                f"C library on a Cortex-M4 (measured): "
                f"flash {device['flash_bytes'] / 1024:.1f} KB, "
                f"RAM {device['ram_bytes'] / 1024:.1f} KB, "
                f"{device['instructions_per_window'] / 1e6:.1f} M instructions per window; "
                f"check it with: embedclf verify {args.out} CLIPS..."
            )
    if message:
        print(f"embedclf: error: {message}", file=sys.stderr)
    return code


def add_verify_parser(sub, common):
    """Add the ``verify`` sub-parser to ``sub``; ``common`` adds the shared options.

    Examples
    --------
    >>> import argparse
    >>> from embedclf.cli import distill
    >>> sub = argparse.ArgumentParser(prog="embedclf").add_subparsers()
    >>> sp = distill.add_verify_parser(sub, lambda sp, on_error=True: None)
    >>> sp.parse_args(["build/mcu", "a.wav"]).clips
    ['a.wav']
    """
    sp = sub.add_parser(
        "verify",
        help="build an exported student's C library for the host and an emulated "
        "Cortex-M4, run both on clips, compare with Python (features) and TFLM (scores)",
    )
    sp.add_argument("build_dir", metavar="BUILD_DIR", help="a folder written by distill")
    sp.add_argument("clips", metavar="CLIPS", nargs="+", help="audio files")
    common(sp, on_error=False)
    return sp


def run_verify(args):
    """Run ``embedclf verify``; returns the exit code (1 when C disagrees with TFLM or Python).

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> from embedclf.cli.distill import run_verify
    >>> run_verify(build_parser().parse_args(["verify", "no_such_build", "a.wav"]))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    FileNotFoundError: no_such_build/report.json: not an export folder with a C library ...
    """
    from ..distill.verify import ToolMissingError, features_agree, verify_build
    from ..files import atomic_write_data

    try:
        res = verify_build(args.build_dir, args.clips)
    except ToolMissingError as err:
        raise CLIError(str(err)) from None
    out = os.path.join(args.build_dir, "verify.json")
    atomic_write_data(out, dump(res) + "\n")
    if args.json:
        print(dump(res))
        return 0
    d, n, w = res["device"], res["n_clips"], res["n_windows"]
    if res["features_compared"]:
        features = (
            f"{res['feature_values'] - res['feature_values_differing']} of "
            f"{res['feature_values']} values (max step {res['feature_max_step']})"
        )
    else:
        features = "not compared: the export's report.json has no frontend section"
    rows = [
        ("int8 features, C = Python", features),
        ("int8 scores, C = TFLM on the C features", f"{res['outputs_equal_tflm']} of {w} windows"),
        ("clip labels, C = pooled TFLM", f"{res['clip_agreement_tflm']} of {n} clips"),
        ("Cortex-M4 (QEMU) output = host output", f"{res['m4_equal_host']} of {n} clips"),
        ("library flash (code + constants)", f"{d['flash_bytes']} B"),
        ("library RAM (statics, state, stack)", f"{d['ram_bytes']} B"),
        ("whole demo firmware flash", f"{d['image_flash_bytes']} B"),
        ("whole demo firmware RAM (with heap and stack)", f"{d['image_ram_bytes']} B"),
        ("instructions per window", f"{d['instructions_per_window']:,}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"-> {out}")
    ok = res["outputs_equal_tflm"] == w and res["m4_equal_host"] == n
    ok = ok and (not res["features_compared"] or features_agree(res))
    return 0 if ok else 1
