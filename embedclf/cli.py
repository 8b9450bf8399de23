"""The ``embedclf`` command: a thin layer over the public API.

Every subcommand prints a readable result (or JSON with ``--json``) on
stdout, progress on stderr, and exits 0 on success, 1 with a one-line
``embedclf: error: ...`` message on failure (with ``--json`` also an
``{"error": ..., "type": ...}`` object on stdout), 130 when interrupted, 2 on
bad usage. Arguments (numbers, output paths and formats) are checked before
any work. Tracebacks only with ``--debug`` (or ``EMBEDCLF_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import math
import os
import sys
import traceback
import warnings

__all__ = ["main"]


class CLIError(Exception):
    """A failure to report as one line and exit code 1."""


def _parse_set(items):
    params = {}
    for item in items or []:
        if "=" not in item:
            raise CLIError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def _with_cache(model, cache):
    """Point every step's ``cache`` parameter at ``cache`` (embedding steps have one)."""
    if cache:
        keys = [k for k in model.get_params(deep=True) if k == "cache" or k.endswith("__cache")]
        if not keys:
            raise CLIError("--cache given, but this pipeline has no step that caches")
        model.set_params(**{k: cache for k in keys})
    return model


def _quiet(model, quiet):
    """Silence per-epoch progress of trainable steps (KerasCNN) under ``--quiet``."""
    if quiet:
        params = model.get_params(deep=True)
        keys = [k for k in params if k == "verbose" or k.endswith("__verbose")]
        # Pipeline's own `verbose` is a bool, an estimator's an int level
        model.set_params(**{k: False if isinstance(params[k], bool) else 0 for k in keys})
    return model


def _dump(obj):
    from ._utils.jsonsafe import json_safe

    return json.dumps(json_safe(obj), indent=2, allow_nan=False, default=str)


def _save_model(model, path):
    from .modelfile import save_model

    save_model(model, path)


def _load_model(path, trust_pickle=False):
    from .modelfile import load_model

    return load_model(path, trust_pickle=trust_pickle)  # errors are one-line ValueErrors


def _read_table(data, dataset, need_label=True):
    """A dataset index from a name+root, a CSV (path,label[,fold,...]) or a folder."""
    import pandas as pd

    from .datasets import load_dataset

    if dataset is None and str(data).lower().endswith(".csv"):
        df = pd.read_csv(data)
        needed = ["path", "label"] if need_label else ["path"]
        missing = set(needed) - set(df.columns)
        if missing:
            raise CLIError(f"{data}: CSV needs columns {','.join(needed)} "
                           f"(missing {sorted(missing)})")
        for col in needed:
            empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
            if empty.any():
                lines = (empty[empty].index + 2).tolist()  # 1-based, after the header line
                shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
                raise CLIError(f"{data}: empty {col} on {len(lines)} row(s) (line {shown}); "
                               f"every row needs a {col}")
        base = os.path.dirname(os.path.abspath(data))
        df["path"] = [p if os.path.isabs(p) else os.path.join(base, p)
                      for p in df["path"].astype(str)]
        return df
    return load_dataset(dataset or "folder", data)


def _limit(df, per_class, seed=0):
    if not per_class:
        return df
    if "label" not in df:
        raise CLIError("--limit-per-class needs labels (a label column or class folders)")
    # a seeded random subset per class, kept in the index's own order
    shuffled = df.sample(frac=1.0, random_state=seed)
    return shuffled.groupby("label", sort=False).head(per_class).sort_index().reset_index(drop=True)


def _check_model(model, path, needs=("predict",)):
    """Check that a loaded model file holds a fitted estimator with the methods a command uses.

    Loading succeeds for any object a file holds (a dict, a bare transformer,
    an unfitted pipeline); checking here turns what would be a traceback deep
    in a command into one line naming the file.
    """
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from .pipelines import pipeline_sr

    # load_model already refused objects that are not estimators or cannot predict
    missing = [m for m in needs if not callable(getattr(model, m, None))]
    if missing:
        raise CLIError(f"{path}: the model ({type(model).__name__}) has no "
                       f"{' or '.join(missing)}; give a classifier written by `embedclf train`")
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise CLIError(f"{path}: the model is not fitted; train it first "
                       "(`embedclf train`)") from None
    except TypeError:  # an estimator check_is_fitted cannot inspect: let the command try
        pass
    if pipeline_sr(model) is None:
        raise CLIError(f"{path}: cannot tell the sample rate the model expects (no step has "
                       "an `sr` parameter); give a model written by `embedclf train`")
    return model


def _streams_files(model):
    """Pipelines that start with a pretrained embedding read files themselves (streamed)."""
    from .features.embeddings import PretrainedEmbedding

    first = model.steps[0][1] if hasattr(model, "steps") else model
    return isinstance(first, PretrainedEmbedding)


#: Above this many bytes of decoded audio, clips are checked and passed as paths
#: (decoded again per fold) instead of held in memory.
PRELOAD_LIMIT_BYTES = 2 * 1024**3


def _decoded_bytes(paths, sr):
    """float32 bytes the clips take once decoded at ``sr`` (from headers; unreadable: 0)."""
    import soundfile as sf

    total = 0
    for p in paths:
        try:
            info = sf.info(p)
            total += int(info.frames * sr / info.samplerate) * 4
        except Exception:  # reported when the clip is checked
            pass
    return total


def _load_labelled(df, model, on_error, progress, full_list):
    """Check (and, when they fit in memory, load) the clips; labels stay aligned.

    Skipped clips are summarised on stderr; ``full_list`` says where the
    caller keeps every one of them.

    Embedding pipelines always get the checked paths: they stream and cache
    by content. Feature pipelines get decoded waveforms (decoded once for
    all folds) unless those would take more than ``PRELOAD_LIMIT_BYTES``.
    """
    from .audio import SkippedClipsWarning, load_clips
    from .pipelines import pipeline_sr

    sr = pipeline_sr(model)
    paths = df["path"].tolist()
    lazy = _streams_files(model)
    if not lazy and _decoded_bytes(paths, sr) > PRELOAD_LIMIT_BYTES:
        lazy = True
        print("embedclf: the decoded clips would take more than "
              f"{PRELOAD_LIMIT_BYTES / 1024**3:.0f} GB; checking them and reading files as "
              "needed instead", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedClipsWarning)  # reported below instead
        res = load_clips(paths, df["label"].to_numpy(), sr=sr, on_error=on_error,
                         progress=progress, lazy=lazy)
    _report_skipped(res.skipped, full_list)
    return res, df.iloc[res.kept].reset_index(drop=True)


def _report_skipped(skipped, full_list):
    """One stderr line per skip reason (count, a few names); ``full_list`` says where all are."""
    from .audio import summarize_skipped

    examples, max_reasons = 3, 5
    for line in summarize_skipped(skipped, examples=examples, max_reasons=max_reasons):
        print(f"embedclf: {line}", file=sys.stderr)
    shown = skipped["reason"].astype(str).value_counts().head(max_reasons).clip(upper=examples)
    if len(skipped) > shown.sum():  # names were left out: say where every one is
        print(f"embedclf: every skipped file is listed in {full_list}", file=sys.stderr)


def cmd_pipelines(args):
    from .pipelines import available_pipelines

    pipes = available_pipelines()
    if args.json:
        print(_dump(pipes))
    else:
        width = max(map(len, pipes))
        for name, desc in pipes.items():
            print(f"{name:<{width}}  {desc}")
    return 0


def cmd_train(args):
    import numpy as np

    from .pipelines import make_pipeline

    model = _with_cache(make_pipeline(args.pipeline, **_parse_set(args.set)), args.cache)
    model = _quiet(model, args.quiet)
    df = _limit(_read_table(args.data, args.dataset), args.limit_per_class)
    res, df = _load_labelled(df, model, args.on_error, not args.quiet,
                             "the --json output (\"skipped\")")
    X, y = list(res.clips), list(res.y)
    if args.background:
        from .datasets import cut_background
        from .pipelines import pipeline_sr

        # long background recordings become clips of their own class (Teachable Machine's
        # "background noise"); `embedclf stream` never reports that class
        clips, labels = cut_background(args.background, sr=pipeline_sr(model),
                                       window=args.background_window, label=args.background_label)
        X, y = X + clips, y + labels
    n_background = len(y) - len(res.y)
    if len(set(map(str, y))) < 2:
        raise CLIError(f"need at least two classes to train, found {sorted(set(map(str, y)))}")
    if n_background:  # one label type: numbered classes become strings next to the label
        y = np.asarray(y if all(isinstance(v, str) for v in y) else [str(v) for v in y],
                       dtype=object)
    model.fit(X, res.y if not n_background else y)
    _save_model(model, args.output)
    out = {"model": args.output, "pipeline": args.pipeline, "n_clips": len(res.y),
           "n_background_clips": n_background,
           "classes": [str(c) for c in model.classes_], "skipped": res.skipped.to_dict("records")}
    print(_dump(out) if args.json else
          f"trained {args.pipeline} on {len(res.y)} clips"
          + (f" and {n_background} background clips" if n_background else "")
          + f" ({len(model.classes_)} classes) -> {args.output}"
          + (f"; skipped {len(res.skipped)}" if len(res.skipped) else ""))
    return 0


def cmd_predict(args):
    from .predict import predict_table

    from .audio import SkippedClipsWarning

    model = _check_model(_load_model(args.model, args.trust_pickle), args.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedClipsWarning)  # the table's error column says it
        table = predict_table(model, args.files, on_error=args.on_error, window=args.window,
                              hop=args.hop, progress=not args.quiet)
    if args.on_error == "skip":
        _report_skipped(table.loc[table["error"].notna(), ["source", "error"]]
                        .drop_duplicates("source").rename(columns={"error": "reason"}),
                        "the output's error column")
    if args.output:
        _write_table(table, args.output)
    if args.json:
        print(_dump(table.to_dict("records")))
    elif not args.output:
        print(table.to_csv(index=False), end="")
    n_err = int(table["error"].notna().sum())
    return 1 if n_err and args.on_error == "raise" else 0


#: Table formats an output's suffix selects (parquet needs pyarrow).
_TABLE_SUFFIXES = (".csv", ".json", ".parquet")


def _write_table(table, path):
    """Write a result table in the format the (already checked) suffix names."""
    from .files import atomic_write

    def write_json(tmp):
        with open(tmp, "w") as fh:
            fh.write(_dump(table.to_dict("records")) + "\n")

    if path.lower().endswith(".parquet"):
        atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))
    elif path.lower().endswith(".json"):
        atomic_write(path, write_json)
    else:
        atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


def cmd_evaluate(args):
    from .evaluation import cross_validate_folds
    from .pipelines import make_pipeline

    model = _with_cache(make_pipeline(args.pipeline, **_parse_set(args.set)), args.cache)
    model = _quiet(model, args.quiet)
    df = _limit(_read_table(args.root, args.dataset), args.limit_per_class)
    res, df = _load_labelled(df, model, args.on_error, not args.quiet,
                             "the --json output and --out's report.json (\"skipped\")")
    cols = {c: df[c].to_numpy() for c in ("fold", "group", "split") if c in df}
    if "fold" in cols:
        cols.pop("split", None)
    report = cross_validate_folds(model, res.clips, res.y, n_splits=args.n_splits,
                                  name=f"{args.pipeline} on {args.dataset or 'folder'}",
                                  progress=not args.quiet, **{
                                      {"fold": "folds", "group": "groups"}.get(k, k): v for k, v in cols.items()})
    report.meta["skipped"] = res.skipped.to_dict("records")
    if args.out:
        report.save(args.out)
    if args.json:
        print(_dump(report.summary()))
    else:
        print(report)
        print("\nconfusion matrix (rows: true, columns: predicted)")
        print(report.confusion.to_string())
        if args.out:
            print(f"\nreport written to {args.out}/")
    return 0


EMBEDDERS = {
    "birdnet": ("embedclf.features.birdnet", "BirdNETEmbedding"),
    "openl3": ("embedclf.features.openl3", "OpenL3Embedding"),
}


def _teacher_context(text):
    from .recipe import parse_teacher_context

    try:
        return parse_teacher_context(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _number_in(low, high=float("inf"), *, above=False):
    """An argparse type: a finite number from ``low`` (excluded when ``above``) to ``high``."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and (value > low if above else value >= low)
                and value <= high):
            if high == float("inf"):
                bound = f"a finite number {'>' if above else '>='} {low:g}"
            else:
                bound = f"a number {'above' if above else 'from'} {low:g} to {high:g}"
            raise argparse.ArgumentTypeError(f"expected {bound}, got {text!r}")
        return value

    return parse


def _int_in(low, high=None):
    """An argparse type: a whole number from ``low`` to ``high``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"expected a whole number {bound}, got {text!r}")
        return value

    return parse


_share = _number_in(0, 1)
_positive = _number_in(0, above=True)
_count = _int_in(1)
#: numpy's seeds are 32-bit
_seed = _int_in(0, 2**32 - 1)


def _writable_place(path):
    """Why nothing could be written at ``path`` (missing folders are created), or None."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):  # the nearest folder that exists decides
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"no permission to write in {folder}"
    return None


def _output_file(*suffixes):
    """An argparse type: a file to write, whose suffix (one of ``suffixes``) sets its format."""
    def parse(text):
        if os.path.isdir(text):
            raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name")
        problem = _writable_place(text)
        if problem:
            raise argparse.ArgumentTypeError(f"cannot write {text}: {problem}")
        if suffixes and not text.lower().endswith(suffixes):
            raise argparse.ArgumentTypeError(
                f"cannot tell the format of {text}: name it ending in {', '.join(suffixes)}")
        if text.lower().endswith(".parquet") and importlib.util.find_spec("pyarrow") is None:
            raise argparse.ArgumentTypeError(
                "writing .parquet needs pyarrow: pip install 'embedclf[parquet]' (or write .csv)")
        return text

    return parse


def _output_folder(text):
    """An argparse type: a folder to write into (created when missing)."""
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    problem = _writable_place(os.path.join(text, "x"))
    if problem:
        raise argparse.ArgumentTypeError(f"cannot write into {text}: {problem}")
    return text


def _distill_recipe(args):
    """The recipe the command's arguments describe (their defaults are RECIPE's)."""
    from .recipe import RECIPE

    return RECIPE.replace(
        student=args.student, width=args.width, window=args.window, hop=args.hop,
        fit_hop=args.fit_hop, teacher_context=args.teacher_context,
        temperature=args.temperature, alpha=args.alpha, epochs=args.epochs,
        lr_schedule=args.lr_schedule, weight_decay=args.weight_decay,
        early_stopping=args.early_stopping, augment_copies=args.augment,
        mix_copies=args.mix_copies, mixup=args.mixup, freq_mask=args.freq_mask,
        time_mask=args.time_mask, clip_pooling=args.clip_pooling)


#: Python parameter names in library messages, as the commands' options
_OPTION_WORDS = {
    "width or student='strided_ds'": "--width or --student strided_ds",
    "test_fold or test_fraction": "--test-fold or --test-fraction",
    "trust_pickle=True": "--trust-pickle",
    "sha256=DIGEST": "--sha256 DIGEST",
    "allow_unverified=True": "--allow-unverified",
}


def _fetch_command(match):
    command = (f"embedclf weights fetch openl3 --input-repr {match[1]} "
               f"--content-type {match[2]}")
    return command + (" --sha256 DIGEST" if match[3] else "")


def _in_option_words(text):
    """A library message with the Python calls and parameters it names as command-line options.

    Examples
    --------
    >>> from embedclf.cli import _in_option_words
    >>> _in_option_words("load it with trust_pickle=True and re-save it")
    'load it with --trust-pickle and re-save it'
    >>> _in_option_words("Fetch them with: embedclf.weights.fetch_openl3('mel128', 'env', "
    ...                  "sha256=DIGEST) (no digest is recorded)")
    'Fetch them with: embedclf weights fetch openl3 --input-repr mel128 --content-type env \
--sha256 DIGEST (no digest is recorded)'
    """
    import re

    text = re.sub(r"embedclf\.weights\.fetch_openl3\('(\w+)', '(\w+)'(, sha256=DIGEST)?\)",
                  _fetch_command, text)
    for words, option in _OPTION_WORDS.items():
        text = text.replace(words, option)
    return text


def cmd_distill(args):
    from .distill import BudgetError, TeacherClassesWarning, distill_and_export
    from .files import check_replaceable

    check_replaceable(args.out)  # export swaps the folder in whole: fail before any work
    # refitting a copy needs `fit` and `classes_` too; the student learns from predict_proba
    teacher = _check_model(_load_model(args.teacher, args.trust_pickle), args.teacher,
                           needs=("predict_proba",))
    df = _limit(_read_table(args.data, args.dataset), args.limit_per_class)
    if args.test_fold is not None and "fold" not in df:
        raise CLIError("--test-fold needs a dataset with folds (e.g. --dataset esc10)")
    res, df = _load_labelled(df, teacher, args.on_error, not args.quiet,
                             f"{os.path.join(args.out, 'report.json')} (\"skipped\")")
    code, message = 0, None
    try:
        with warnings.catch_warnings():
            shown = warnings.showwarning

            def show(message, category, *rest, **kw):  # the refitted teacher: one line
                if issubclass(category, TeacherClassesWarning):
                    print(f"embedclf: warning: {message}", file=sys.stderr)
                else:
                    shown(message, category, *rest, **kw)

            warnings.showwarning = show
            report = distill_and_export(
                _quiet(teacher, args.quiet), res.clips, res.y, args.out,
                recipe=_distill_recipe(args),
                folds=df["fold"].to_numpy() if "fold" in df else None,
                test_fold=args.test_fold, test_fraction=args.test_fraction,
                refit_teacher=not args.keep_teacher, max_flash_kb=args.max_flash_kb,
                max_ram_kb=args.max_ram_kb, random_state=args.seed, verbose=0 if args.quiet else 1,
                extra={"skipped": res.skipped.to_dict("records")})
    except BudgetError as err:
        report = err.report
        code, message = 1, _in_option_words(str(err))
    except TypeError as err:  # e.g. a teacher without predict_proba
        raise CLIError(str(err)) from None
    if args.json:
        print(_dump(report))
    else:
        print(f"student {report['architecture']} x{report['width']}: "
              f"flash {report['flash_bytes'] / 1024:.1f} KB "
              f"(model {report['model_bytes'] / 1024:.1f} KB), "
              f"arena {report['arena_bytes'] / 1024:.1f} KB, "
              f"{report['macs_per_second'] / 1e6:.2f} M MACs/s; "
              f"accuracy int8 {100 * report['student_accuracy']:.1f}% vs teacher "
              f"{100 * report['teacher_accuracy']:.1f}% on {report['n_test_clips']} held-out "
              f"clips; int8 = float on {100 * report['int8_float_agreement']:.1f}% -> {args.out}/")
        device = report.get("device", {})
        if device.get("measured"):
            print(f"C library on a Cortex-M4 (measured): "
                  f"flash {device['flash_bytes'] / 1024:.1f} KB, "
                  f"RAM {device['ram_bytes'] / 1024:.1f} KB, "
                  f"{device['instructions_per_window'] / 1e6:.1f} M instructions per window; "
                  f"check it with: embedclf verify {args.out} CLIPS...")
    if message:
        print(f"embedclf: error: {message}", file=sys.stderr)
    return code


def cmd_verify(args):
    from .distill.verify import ToolMissingError, verify_build
    from .files import atomic_write_data

    try:
        res = verify_build(args.build_dir, args.clips)
    except ToolMissingError as err:
        raise CLIError(str(err)) from None
    out = os.path.join(args.build_dir, "verify.json")
    atomic_write_data(out, _dump(res) + "\n")
    if args.json:
        print(_dump(res))
        return 0
    d, n, w = res["device"], res["n_clips"], res["n_windows"]
    rows = [("int8 scores, C = TFLM on the C features",
             f"{res['outputs_equal_tflm']} of {w} windows"),
            ("clip labels, C = pooled TFLM", f"{res['clip_agreement_tflm']} of {n} clips"),
            ("Cortex-M4 (QEMU) output = host output", f"{res['m4_equal_host']} of {n} clips"),
            ("library flash (code + constants)", f"{d['flash_bytes']} B"),
            ("library RAM (statics, state, stack)", f"{d['ram_bytes']} B"),
            ("whole demo firmware flash", f"{d['image_flash_bytes']} B"),
            ("instructions per window", f"{d['instructions_per_window']:,}")]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"-> {out}")
    ok = res["outputs_equal_tflm"] == w and res["m4_equal_host"] == n
    return 0 if ok else 1


def cmd_weights(args):
    from . import weights

    if args.action == "list":
        table = weights.list_weights(args.weights)
        if args.json:
            print(_dump(table.to_dict("records")))
        else:
            print(table.fillna("").to_string(index=False))
        return 0
    reprs = [args.input_repr] if args.input_repr else ["mel256", "mel128", "linear"]
    contents = [args.content_type] if args.content_type else ["music", "env"]
    done, failed = [], []
    for r in reprs:
        for c in contents:
            try:
                path = weights.fetch_openl3(r, c, dest=args.dest, base_url=args.base_url,
                                            sha256=args.sha256, progress=not args.quiet,
                                            force=args.force,
                                            allow_unverified=args.allow_unverified)
                done.append({"input_repr": r, "content_type": c, "path": path})
            except (ValueError, OSError) as exc:  # the others may still work
                message = _in_option_words(str(exc))
                failed.append({"input_repr": r, "content_type": c, "error": message})
                print(f"embedclf: error: {message}", file=sys.stderr)
    print(_dump({"fetched": done, "failed": failed}) if args.json
          else "\n".join(d["path"] for d in done))
    return 1 if failed else 0


class _ChunkedTable:
    """A CSV or parquet file written a chunk of rows at a time (same columns each time)."""

    def __init__(self, path, parquet):
        self.path, self.parquet, self.out, self.rows = path, parquet, None, 0

    def write(self, part):
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self.out is None:
                table = pa.Table.from_pandas(part, preserve_index=False)
                self.out = pq.ParquetWriter(self.path, table.schema)
            else:
                table = pa.Table.from_pandas(part, schema=self.out.schema, preserve_index=False)
            self.out.write_table(table)
        else:
            if self.out is None:
                self.out = open(self.path, "w", newline="")
            part.to_csv(self.out, index=False, header=self.rows == 0)
        self.rows += len(part)

    def close(self):
        if self.out is not None:
            self.out.close()


#: embedding rows read back from a file's spool per output chunk
_EMBED_CHUNK_ROWS = 4096


def _embed_to(tmp, est, df, parquet, bar, skipped):
    """Stream every file's embeddings into ``tmp``; returns (clips, windows, dim).

    A file's rows go to a spool on disk first and into the table only once the
    file has been read to its end, so a file that fails part way leaves no rows.
    """
    import tempfile

    import numpy as np
    import pandas as pd

    from .audio import AudioError

    table = _ChunkedTable(tmp, parquet)
    n_clips = dim = 0
    try:
        for i, path in enumerate(df["path"].tolist()):
            with tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(tmp))) as spool:
                times = []
                try:
                    for e in est.stream_embeddings(path):
                        np.ascontiguousarray(e.values, dtype=np.float32).tofile(spool)
                        times.append(e.times)
                        dim = e.values.shape[1]
                except AudioError as err:
                    if est.on_error == "raise":
                        raise
                    skipped.append((i, path, err.reason))
                    continue
                finally:
                    if bar is not None:
                        bar.update(1)
                n_clips += 1
                times = np.concatenate(times) if times else np.zeros(0)
                spool.seek(0)
                for start in range(0, len(times), _EMBED_CHUNK_ROWS):
                    stop = min(start + _EMBED_CHUNK_ROWS, len(times))
                    values = np.fromfile(spool, dtype=np.float32, count=(stop - start) * dim)
                    part = pd.DataFrame(values.reshape(stop - start, dim),
                                        columns=[f"e{k}" for k in range(dim)])
                    part.insert(0, "time", times[start:stop])
                    part.insert(0, "window", np.arange(start, stop))
                    if "label" in df:
                        part.insert(0, "label", df["label"].iloc[i])
                    part.insert(0, "path", path)
                    table.write(part)
        if table.rows == 0:  # nothing embedded: an empty table, as pandas writes one
            if parquet:
                pd.DataFrame().to_parquet(tmp, index=False)
            else:
                pd.DataFrame().to_csv(tmp, index=False)
    finally:
        table.close()
    return n_clips, table.rows, dim


def cmd_embed(args):
    import importlib

    import pandas as pd

    from .audio import skipped_from_columns
    from .files import atomic_write

    module, name = EMBEDDERS[args.model]
    hop = args.hop if args.hop is not None else args.hop_size
    if args.hop_size is not None:
        print("note: --hop-size is deprecated and will be removed in 0.4; use --hop",
              file=sys.stderr)
    params = {"on_error": args.on_error, "progress": False, "cache": args.cache,
              **({"hop": hop} if hop else {}), **_parse_set(args.set)}
    est = getattr(importlib.import_module(module), name)(**params)
    if os.path.isfile(args.data) and not args.data.lower().endswith(".csv"):
        df = pd.DataFrame({"path": [args.data]})
    else:
        df = _limit(_read_table(args.data, args.dataset, need_label=False), args.limit_per_class)
    paths = df["path"].tolist()
    out = args.output
    parquet = out.endswith(".parquet")
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CLIError("writing .parquet needs pyarrow: pip install 'embedclf[parquet]' "
                           "(or write .csv)") from None
    elif not out.endswith(".csv"):
        raise CLIError(f"output must end in .parquet or .csv, got {out!r}")
    est.fit(paths[:1] if paths else [])
    bar = None
    if not args.quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths), desc=name, unit="clip")
    skipped, counts = [], {}
    try:
        # rows are written as they come; the file takes its name only when complete
        atomic_write(out, lambda tmp: counts.update(
            zip(("n_clips", "n_windows", "dim"), _embed_to(tmp, est, df, parquet, bar, skipped))))
    finally:
        if bar is not None:
            bar.close()
    skipped = skipped_from_columns({"index": [s[0] for s in skipped],
                                    "source": [s[1] for s in skipped],
                                    "reason": [s[2] for s in skipped]})
    if args.on_error == "skip":
        _report_skipped(skipped, "the --json output (\"skipped\")")
    summary = {"output": out, "model": args.model, **counts,
               "skipped": [] if args.on_error != "skip" else skipped.to_dict("records")}
    print(_dump(summary) if args.json else
          f"embedded {summary['n_clips']} clips ({summary['n_windows']} windows x "
          f"{summary['dim']}) -> {out}")
    return 0


def cmd_stream(args):
    """Recognize events live in a file, raw PCM on stdin or a microphone."""
    from .stream import (Int8Folder, Recognizer, ResamplingWarning, SpectrogramLog, file_source,
                         mic_source, pcm_source, plot_timeline)

    if os.path.isdir(args.model):
        model = Int8Folder(args.model)
    else:
        model = _check_model(_load_model(args.model, args.trust_pickle), args.model, needs=())
    settings = dict(window=args.window, hop=args.hop, smoothing=args.smoothing,
                    threshold=args.threshold, threshold_off=args.threshold_off,
                    min_duration=args.min_duration, suppression=args.suppression)
    if args.background:
        settings["background"] = args.background
    try:
        rec = Recognizer(model, **{k: v for k, v in settings.items() if v is not None})
    except ValueError as err:
        raise CLIError(f"{args.model}: {err}") from None
    if args.mic:
        device = int(args.device) if args.device and args.device.isdigit() else args.device
        source = mic_source(args.rate or rec.sr, block=args.block or 1024, device=device,
                            duration=args.duration)
    elif args.source == "-":
        source = pcm_source(sys.stdin.buffer, args.rate, format=args.format,
                            block=args.block or 4096)
    else:
        source = file_source(args.source, block=args.block)
    rec.input_sr = source.sr
    if source.sr != rec.sr and not args.quiet:
        print(f"embedclf: note: the audio is at {source.sr} Hz and the model takes {rec.sr} Hz: "
              "resampling the stream", file=sys.stderr)
    spec = SpectrogramLog(source.sr) if args.plot else None

    def blocks():
        for block in source:
            if spec is not None:
                spec.push(block)
            yield block

    def show(update):
        for e in update.events:
            d = e.as_dict()
            print(json.dumps({k: d[k] for k in ("onset", "offset", "label", "score")})
                  if args.json else
                  f"{e.onset:9.2f} {e.offset:9.2f}  {e.label}  {e.score:.3f}", flush=True)

    failure = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResamplingWarning)  # said above, once
        try:
            for update in rec.run(blocks()):
                show(update)
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - keep what was decided
            failure = exc
            if not isinstance(exc, BrokenPipeError):
                show(rec.flush())  # run() flushed already when the source failed
    # the outputs hold what was decided, also when the stream broke or was interrupted
    if args.output:
        _write_table(rec.events_table(), args.output)
    if args.scores:
        _write_table(rec.scores_table(), args.scores)
    if args.plot:
        plot_timeline(args.plot, rec, spec.result())
    if isinstance(failure, KeyboardInterrupt) and args.mic:
        failure = None  # Ctrl-C is how one stops listening
    if failure is not None:
        raise failure
    if not args.quiet:
        print(f"embedclf: {len(rec.events)} event(s) in {rec.n_samples / rec.sr:.1f} s of audio, "
              f"{len(rec.windows)} windows", file=sys.stderr)
    return 0


def _add_stream_parser(sub, common):
    """``embedclf stream``: its arguments and the checks argparse cannot express."""
    from .stream import PCM_FORMATS

    sp = sub.add_parser("stream", help="recognize sound events live: a file, raw PCM on stdin "
                                       "(-) or a microphone (--mic)")
    sp.add_argument("model", help="model file written by `embedclf train` (or an exported "
                                  "int8 folder from `embedclf distill`)")
    sp.add_argument("source", nargs="?", help="an audio file, or - for raw PCM on stdin "
                                              "(with --rate and --format)")
    sp.add_argument("--mic", action="store_true",
                    help="listen to the microphone (needs: pip install 'embedclf[live]')")
    sp.add_argument("--device", help="microphone device (name or number; default the system's)")
    sp.add_argument("--duration", type=_positive, metavar="SECONDS",
                    help="with --mic: stop after SECONDS (default: until Ctrl-C)")
    sp.add_argument("--rate", type=_int_in(1000, 768000), metavar="HZ",
                    help="sample rate of raw PCM on stdin (required with -) or of the microphone "
                         "(default the model's)")
    sp.add_argument("--format", choices=sorted(PCM_FORMATS), default="s16le",
                    help="raw PCM sample format on stdin (default s16le)")
    sp.add_argument("--block", type=_count, metavar="SAMPLES",
                    help="samples read at a time (results do not depend on it)")
    sp.add_argument("--window", type=_number_in(1e-3), metavar="SECONDS",
                    help="analysis window (default the model's own, else 1)")
    sp.add_argument("--hop", type=_number_in(1e-3), metavar="SECONDS",
                    help="hop between windows (default the model's own, else WINDOW/2)")
    sp.add_argument("--smoothing", type=_number_in(0), metavar="SECONDS",
                    help="seconds of window scores averaged before deciding (default 1)")
    sp.add_argument("--threshold", type=_share, help="smoothed score that starts an event "
                                                     "(default 0.5)")
    sp.add_argument("--threshold-off", type=_share,
                    help="smoothed score under which an event ends (default 0.8 x THRESHOLD)")
    sp.add_argument("--min-duration", type=_number_in(0), metavar="SECONDS",
                    help="drop shorter events (default 0)")
    sp.add_argument("--suppression", type=_number_in(0), metavar="SECONDS",
                    help="no new event this long after one ended (default 0.5)")
    sp.add_argument("--background", action="append", metavar="LABEL",
                    help="a label never reported (repeatable; default _background_ and Speech "
                         "Commands' _silence_, _unknown_, _background_noise_)")
    sp.add_argument("-o", "--output", type=_output_file(*_TABLE_SUFFIXES),
                    help="write the events here too: .csv, .json or .parquet")
    sp.add_argument("--scores", type=_output_file(*_TABLE_SUFFIXES),
                    help="write every window's scores here: .csv, .json or .parquet")
    sp.add_argument("--plot", type=_output_file(".png"),
                    help="a timeline PNG: spectrogram, scores, events")
    sp.add_argument("--trust-pickle", action="store_true",
                    help="also load a pickle/joblib model file; loading a pickle can run any "
                         "code it holds: only for files from a source you trust")
    common(sp, on_error=False)

    def check(args):
        if args.mic == (args.source is not None):
            sp.error("give a SOURCE (a file, or - for stdin) or --mic, not both")
        if args.source == "-" and args.rate is None:
            sp.error("argument --rate: needed with - (raw PCM carries no sample rate)")
        if args.source not in (None, "-") and args.rate is not None:
            sp.error("argument --rate: only for - or --mic (a file has its own rate)")
        if not args.mic and (args.device is not None or args.duration is not None):
            sp.error("arguments --device/--duration: only with --mic")
        if (args.threshold is not None and args.threshold_off is not None
                and args.threshold_off > args.threshold):
            sp.error("argument --threshold-off: must not exceed --threshold")

    sp.set_defaults(func=cmd_stream, check=check)
    return sp


def cmd_demo(args):
    import numpy as np

    from .datasets import make_sound_events, write_sound_events
    from .evaluation import cross_validate_folds
    from .pipelines import make_pipeline
    from .predict import predict_table

    sr = 16000
    X, y, folds = make_sound_events(n_per_class=args.n_per_class, sr=sr, random_state=args.seed)
    model = make_pipeline("logmel-linear", mel__sr=sr)
    if not args.json:
        print(f"synthetic sound events: {len(X)} clips, {len(set(y))} classes, 5 folds, {sr} Hz")
    report = cross_validate_folds(model, X, y, folds=folds, name="logmel-linear (demo)",
                                  progress=not args.quiet)
    model.fit(X, y)
    os.makedirs(args.out, exist_ok=True)
    model_path = os.path.join(args.out, "model.skops")
    _save_model(model, model_path)
    report.save(os.path.join(args.out, "report"))
    # Predict fresh files the model never saw, written the way a user has them.
    files = write_sound_events(os.path.join(args.out, "new_clips"), n_per_class=1, sr=sr,
                               random_state=args.seed + 1)
    table = predict_table(_load_model(model_path), files["path"].tolist())
    table.insert(1, "true", files["label"].to_numpy())
    if args.json:
        print(_dump({**report.summary(), "model": model_path,
                     "new_clips": table.drop(columns="error").to_dict("records")}))
        return 0
    print(report)
    print("\nconfusion matrix (rows: true, columns: predicted)")
    print(report.confusion.to_string())
    print(f"\nmodel saved to {model_path}; report and confusion.png in {args.out}/report/")
    shown = table[["source", "true", "label"]].assign(
        source=[os.path.relpath(p, args.out) for p in table["source"]],
        confidence=table.filter(like="prob_").max(axis=1).round(3))
    print("\npredictions on new clips:\n" + shown.to_string(index=False))
    print(f"\naccuracy on new clips: {np.mean(table['true'] == table['label']):.0%}")
    return 0


def _cluster_options(sp):
    """``--scheduler`` / ``--workers``: run the command's work on a Dask cluster."""
    group = sp.add_mutually_exclusive_group()
    group.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="run on an existing Dask cluster (needs embedclf[dask])")
    group.add_argument("--workers", type=_int_in(1), metavar="N",
                       help="run on a local Dask cluster of N worker processes started for "
                            "this command (needs embedclf[dask])")


def _run(args):
    """The command, inside a Dask cluster when ``--scheduler`` or ``--workers`` asks for one."""
    from .distributed import cluster

    with cluster(scheduler=getattr(args, "scheduler", None),
                 workers=getattr(args, "workers", None)):
        return args.func(args)


def build_parser():
    """The argument parser (exposed for documentation and tests).

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> from embedclf.cli import build_parser
    >>> build_parser().parse_args(["pipelines"]).command
    'pipelines'
    """
    from . import __version__
    from .datasets import DATASETS
    from .recipe import RECIPE, TEST_FRACTION

    p = argparse.ArgumentParser(prog="embedclf", description=(
        "Embeddings-first audio classification: train, predict, evaluate."))
    p.add_argument("--version", action="version", version=f"embedclf {__version__}")
    debug_help = ("on an error, show the Python traceback instead of one line "
                  "(or set EMBEDCLF_DEBUG=1)")
    p.add_argument("--debug", action="store_true", help=debug_help)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp, on_error=True):
        sp.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
        if on_error:
            sp.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                            help="unreadable clips: stop (default) or skip and report them")

    sp = sub.add_parser("demo", help="synthetic end-to-end run: evaluate, train, save, predict")
    sp.add_argument("--out", type=_output_folder, default="build/demo",
                    help="output folder (default build/demo)")
    sp.add_argument("--n-per-class", type=_int_in(2), default=40,
                    help="clips per class (default 40; cross-validation needs >= 2)")
    sp.add_argument("--seed", type=_seed, default=0)
    common(sp, on_error=False)
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("pipelines", help="list the named pipelines")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_pipelines)

    datasets = sorted(DATASETS)
    sp = sub.add_parser("train", help="fit a named pipeline on labelled clips and save it")
    sp.add_argument("data", help="dataset root folder, or a CSV with path,label columns")
    sp.add_argument("--dataset", choices=datasets, help="layout of DATA (default: folder per class)")
    sp.add_argument("--pipeline", default="logmel-linear", help="see `embedclf pipelines`")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="pipeline parameter, e.g. --set clf__C=0.1 (repeatable)")
    sp.add_argument("-o", "--output", type=_output_file(), required=True,
                    help="where to write the model, e.g. model.skops (a safe format)")
    sp.add_argument("--limit-per-class", type=_count, help="use at most N clips per class")
    sp.add_argument("--cache", type=_output_folder, metavar="DIR",
                    help="embedding cache folder (embedding pipelines)")
    sp.add_argument("--background", action="append", metavar="NOISE.wav|FOLDER",
                    help="long background recordings, cut into clips of their own class "
                         "(repeatable); `embedclf stream` never reports that class")
    sp.add_argument("--background-label", default="_background_", metavar="LABEL",
                    help="the background class's label (default _background_)")
    sp.add_argument("--background-window", type=_number_in(1e-3), default=1.0,
                    metavar="SECONDS", help="length of the background clips (default 1)")
    common(sp)
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("predict", help="label audio files with a saved model "
                                        "(a CSV, JSON or Parquet table)")
    sp.add_argument("model", help="model file written by `embedclf train`")
    sp.add_argument("files", nargs="+", help="audio files")
    sp.add_argument("--window", "--windows", dest="window", type=_number_in(1e-3),
                    metavar="SECONDS",
                    help="predict each window of SECONDS separately (rows with timestamps)")
    sp.add_argument("--hop", type=_number_in(1e-3), metavar="SECONDS",
                    help="hop between windows in seconds (default WINDOW)")
    sp.add_argument("-o", "--output", type=_output_file(*_TABLE_SUFFIXES),
                    help="write the table here instead of stdout: .csv, .json or .parquet")
    sp.add_argument("--trust-pickle", action="store_true",
                    help="also load a pickle/joblib model file; loading a pickle can run any "
                         "code it holds: only for files from a source you trust")
    common(sp)
    sp.set_defaults(func=cmd_predict, check=_hop_needs_window(sp))

    sp = sub.add_parser("evaluate", help="cross-validate a pipeline on a dataset's own folds")
    sp.add_argument("--dataset", choices=datasets, required=True)
    sp.add_argument("--root", required=True, help="the dataset's folder")
    sp.add_argument("--pipeline", default="logmel-linear")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE")
    sp.add_argument("--n-splits", type=_int_in(2), default=5,
                    help="folds when the dataset has none")
    sp.add_argument("--limit-per-class", type=_count)
    sp.add_argument("--out", type=_output_folder,
                    help="folder for report.json, CSVs and confusion.png")
    sp.add_argument("--cache", type=_output_folder, metavar="DIR",
                    help="embedding cache folder (embedding pipelines)")
    common(sp)
    _cluster_options(sp)
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("distill", help="distil a saved model into a tiny int8 CNN for a "
                                        "microcontroller (TFLite, C array, report)")
    sp.add_argument("--teacher", required=True, help="model file written by `embedclf train`")
    sp.add_argument("--trust-pickle", action="store_true",
                    help="also load a pickle/joblib model file; loading a pickle can run any "
                         "code it holds: only for files from a source you trust")
    sp.add_argument("--data", required=True, help="dataset folder or CSV (labelled clips)")
    sp.add_argument("--dataset", choices=datasets, help="layout of DATA (default: folder per class)")
    sp.add_argument("--out", type=_output_folder, default="build/mcu",
                    help="output folder (default build/mcu)")
    # defaults: the measured recipe, embedclf.distill.RECIPE (README, distill_tradeoff.py)
    r = RECIPE
    sp.add_argument("--student", default=r.student, choices=["strided_ds", "ds_cnn", "sbcnn"])
    sp.add_argument("--width", type=_positive, default=r.width,
                    help=f"filter-count multiplier (default {r.width:g}: the measured ESC-10 "
                         "student, 30 KB flash, 25 KB arena)")
    sp.add_argument("--window", type=_number_in(1e-3), default=r.window, metavar="SECONDS",
                    help=f"the student's analysis window (default {r.window:g})")
    sp.add_argument("--hop", type=_number_in(1e-3), default=r.hop, metavar="SECONDS",
                    help=f"how often the device runs the student (default {r.hop:g}); MACs per "
                         "second of audio scale with 1/HOP")
    sp.add_argument("--fit-hop", type=_number_in(1e-3), default=r.fit_hop, metavar="SECONDS",
                    help="hop between the training windows the teacher labels (default: HOP); "
                         "shorter trains on more shifted views than the device runs")
    sp.add_argument("--epochs", type=_count, default=r.epochs,
                    help=f"training epochs (default {r.epochs})")
    sp.add_argument("--lr-schedule", choices=["cosine", "constant"], default=r.lr_schedule,
                    help=f"learning rate over the epochs (default {r.lr_schedule})")
    sp.add_argument("--weight-decay", type=_number_in(0), default=r.weight_decay,
                    metavar="DECAY",
                    help="decoupled weight decay of the student's kernels (AdamW; default "
                         f"{r.weight_decay:g}; 0: Adam)")
    sp.add_argument("--early-stopping", action="store_true", default=r.early_stopping,
                    help="stop when held-out clips stop improving, instead of running every "
                         "epoch")
    sp.add_argument("--augment", type=_int_in(0), default=r.augment_copies, metavar="COPIES",
                    help=f"augmented copies per clip, labelled by the teacher (default "
                         f"{r.augment_copies}; each copy costs one more teacher pass)")
    sp.add_argument("--mix-copies", type=_int_in(0), default=r.mix_copies, metavar="COPIES",
                    help="unlabelled mixtures of two training clips per clip, labelled by the "
                         f"teacher alone (default {r.mix_copies}; each costs one more teacher "
                         "pass)")
    sp.add_argument("--mixup", type=_number_in(0), default=r.mixup, metavar="ALPHA",
                    help=f"mixup of training windows and their targets (default {r.mixup:g}; "
                         "0 = off)")
    sp.add_argument("--freq-mask", type=_share, default=r.freq_mask, metavar="SHARE",
                    help="SpecAugment: largest share of mel bands hidden per training window "
                         f"(default {r.freq_mask:g}; 0 = off)")
    sp.add_argument("--time-mask", type=_share, default=r.time_mask, metavar="SHARE",
                    help="SpecAugment: largest share of frames hidden per training window "
                         f"(default {r.time_mask:g}; 0 = off)")
    sp.add_argument("--teacher-context", type=_teacher_context, default=r.teacher_context,
                    metavar="auto|window|SECONDS|clip",
                    help="audio the teacher hears per student window: seconds centred on it, "
                         "the window, the clip, or auto: the teacher's own analysis window when "
                         f"longer (BirdNET: 3 s; default {r.teacher_context})")
    sp.add_argument("--temperature", type=_positive, default=r.temperature,
                    help="softening of the teacher's and the student's outputs (default "
                         f"{r.temperature:g})")
    sp.add_argument("--alpha", type=_share, default=r.alpha,
                    help="weight of the teacher's soft targets vs the true labels (default "
                         f"{r.alpha:g})")
    sp.add_argument("--clip-pooling", choices=["mean", "logmean", "vote"], default=r.clip_pooling,
                    help="how the device combines a clip's windows: mean log-probability "
                         "(logmean), mean probability, or a vote (default "
                         f"{r.clip_pooling})")
    sp.add_argument("--max-flash-kb", type=_positive, default=256)
    sp.add_argument("--max-ram-kb", type=_positive, default=64)
    sp.add_argument("--test-fold", type=int, help="hold out this fold (datasets with folds)")
    sp.add_argument("--test-fraction", type=_number_in(0, 1, above=True), default=TEST_FRACTION,
                    help=f"held-out share of the clips when no --test-fold (default "
                         f"{TEST_FRACTION:g})")
    sp.add_argument("--keep-teacher", action="store_true",
                    help="distil the saved teacher as is, instead of refitting a copy without "
                         "the held-out clips (its accuracy is then not a held-out number)")
    sp.add_argument("--limit-per-class", type=_count)
    sp.add_argument("--seed", type=_seed, default=0)
    common(sp)
    sp.set_defaults(func=cmd_distill)

    sp = sub.add_parser("verify", help="build an exported student's C library for the host "
                        "and an emulated Cortex-M4, run both on clips, compare with TFLM")
    sp.add_argument("build_dir", metavar="BUILD_DIR", help="a folder written by distill")
    sp.add_argument("clips", metavar="CLIPS", nargs="+", help="audio files")
    common(sp, on_error=False)
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("weights", help="fetch or list pretrained weight files")
    sp.add_argument("action", choices=["fetch", "list"])
    sp.add_argument("model", nargs="?", default="openl3", choices=["openl3"])
    sp.add_argument("--input-repr", choices=["mel256", "mel128", "linear"],
                    help="fetch only this representation (default: all)")
    sp.add_argument("--content-type", choices=["music", "env"], help="default: both")
    sp.add_argument("--dest", type=_output_folder,
                    help="folder to unpack into (default: the user cache)")
    sp.add_argument("--base-url", help="where the .h5.gz files are (default: the official place)")
    sp.add_argument("--sha256", help="expected SHA-256 of the .h5.gz (when none is recorded)")
    sp.add_argument("--weights", help="with list: also look in this folder")
    sp.add_argument("--force", action="store_true", help="download even if present")
    sp.add_argument("--allow-unverified", action="store_true",
                    help="install a file with no known SHA-256 and print its digest")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--quiet", action="store_true")
    sp.set_defaults(func=cmd_weights)

    sp = sub.add_parser("embed", help="per-window pretrained embeddings with timestamps, to a table")
    sp.add_argument("data", help="an audio file, a dataset folder, or a CSV with a path column")
    sp.add_argument("-o", "--output", type=_output_file(".parquet", ".csv"), required=True,
                    help="embeddings.parquet or .csv")
    sp.add_argument("--model", choices=sorted(EMBEDDERS), default="birdnet")
    sp.add_argument("--dataset", choices=datasets, help="layout of DATA (default: folder per class)")
    sp.add_argument("--hop", type=_positive, metavar="SECONDS",
                    help="seconds between windows (model default)")
    # the flag's name before 0.2, kept working until 0.4 (a note says to use --hop)
    sp.add_argument("--hop-size", type=_positive, help=argparse.SUPPRESS)
    sp.add_argument("--cache", type=_output_folder, metavar="DIR", help="embedding cache folder")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="embedding parameter")
    sp.add_argument("--limit-per-class", type=_count)
    common(sp)
    _cluster_options(sp)
    sp.set_defaults(func=cmd_embed)

    _add_stream_parser(sub, common)
    for sp in sub.choices.values():  # --debug also after the command; SUPPRESS keeps the global
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=debug_help)
    return p


def _hop_needs_window(parser):
    """A check run after parsing: ``--hop`` alone would be silently ignored."""
    def check(args):
        if args.hop is not None and args.window is None:
            parser.error("argument --hop: needs --window (the hop is between windows)")

    return check


#: Failures a command reports on purpose: their message is the whole story.
_EXPECTED_ERRORS = (CLIError, ValueError, OSError, ImportError)


def _one_line(exc):
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return text or type(exc).__name__


def _fail(exc, *, as_json, debug, code=1):
    """Report ``exc`` as one stderr line (and a JSON object with ``--json``); the exit code."""
    if isinstance(exc, KeyboardInterrupt):
        message = "interrupted"
    elif isinstance(exc, _EXPECTED_ERRORS):  # AudioError is a ValueError
        message = _in_option_words(_one_line(exc))  # library messages name Python parameters
    else:  # a bug or an unforeseen input: name the kind and where to see more
        message = (f"unexpected {type(exc).__name__}: {_one_line(exc)} (run again with "
                   "--debug or EMBEDCLF_DEBUG=1 for the traceback)")
    if debug:
        traceback.print_exc()
    if as_json:
        obj = {"error": message, "type": type(exc).__name__}
        if getattr(exc, "source", None) is not None:  # AudioError: the clip at fault
            obj["source"] = exc.source
        print(_dump(obj))
    print(f"embedclf: error: {message}", file=sys.stderr)
    return code


def main(argv=None):
    """Run the command line; returns the exit code.

    No traceback reaches the user: any exception becomes one line on stderr
    (``embedclf: error: ...``) and exit code 1 (130 when interrupted), and
    with ``--json`` also an ``{"error": ..., "type": ...}`` object on stdout.
    ``--debug`` (or ``EMBEDCLF_DEBUG=1``) prints the traceback too. Bad usage
    exits 2 before any work.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int

    Examples
    --------
    >>> from embedclf.cli import main
    >>> main(["pipelines"])  # doctest: +ELLIPSIS
    birdnet-forest ...
    0
    """
    debug = os.environ.get("EMBEDCLF_DEBUG", "").strip().lower() not in ("", "0", "false", "no")
    as_json = False
    try:
        import matplotlib

        matplotlib.use("Agg")  # the command line never opens windows
        args = build_parser().parse_args(argv)  # bad usage: SystemExit(2), not caught here
        debug = debug or args.debug
        as_json = getattr(args, "json", False)
        if getattr(args, "check", None):
            args.check(args)
        return _run(args)
    except BrokenPipeError:
        # the reader of stdout went away (`embedclf predict ... | head`): stop quietly, like
        # other command-line tools, with the shell's code for SIGPIPE
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # stdout without a file descriptor
            pass
        return 141
    except KeyboardInterrupt as exc:
        return _fail(exc, as_json=as_json, debug=debug, code=130)
    except Exception as exc:  # noqa: BLE001 - the one place every failure becomes one line
        return _fail(exc, as_json=as_json, debug=debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
