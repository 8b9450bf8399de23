"""What several commands share (internal to :mod:`embedclf.cli`).

The one-line error type, JSON output, reading dataset indexes, loading and
checking model files, loading labelled clips, reporting skipped clips,
writing result tables, and library messages in the words of the options.
"""

from __future__ import annotations

import json
import os
import sys
import warnings


class CLIError(Exception):
    """A failure to report as one line and exit code 1.

    Examples
    --------
    >>> from embedclf.cli import CLIError
    >>> str(CLIError("--set expects KEY=VALUE, got 'x'"))
    "--set expects KEY=VALUE, got 'x'"
    """


def dump(obj):
    """``obj`` as indented JSON (numpy values and NaN made JSON-safe).

    Examples
    --------
    >>> from embedclf.cli._common import dump
    >>> print(dump({"n_clips": 3}))
    {
      "n_clips": 3
    }
    """
    from .._utils.jsonsafe import json_safe

    return json.dumps(json_safe(obj), indent=2, allow_nan=False, default=str)


def with_cache(model, cache):
    """Point every step's ``cache`` parameter at ``cache`` (embedding steps have one)."""
    if cache:
        keys = [k for k in model.get_params(deep=True) if k == "cache" or k.endswith("__cache")]
        if not keys:
            raise CLIError("--cache given, but this pipeline has no step that caches")
        model.set_params(**{k: cache for k in keys})
    return model


def quieted(model, quiet):
    """Silence per-epoch progress of trainable steps (KerasCNN) under ``--quiet``."""
    if quiet:
        params = model.get_params(deep=True)
        keys = [k for k in params if k == "verbose" or k.endswith("__verbose")]
        # Pipeline's own `verbose` is a bool, an estimator's an int level
        model.set_params(**{k: False if isinstance(params[k], bool) else 0 for k in keys})
    return model


def save_model(model, path):
    """Write ``model`` to ``path`` (see :func:`embedclf.modelfile.save_model`)."""
    from ..modelfile import save_model as save

    save(model, path)


def load_model(path, trust_pickle=False):
    """Read a model file (see :func:`embedclf.modelfile.load_model`)."""
    from ..modelfile import load_model as load

    return load(path, trust_pickle=trust_pickle)  # errors are one-line ValueErrors


def read_table(data, dataset, need_label=True):
    """A dataset index from a name+root, a CSV (path,label[,fold,...]) or a folder."""
    import pandas as pd

    from ..datasets import load_dataset

    if dataset is None and str(data).lower().endswith(".csv"):
        df = pd.read_csv(data)
        needed = ["path", "label"] if need_label else ["path"]
        missing = set(needed) - set(df.columns)
        if missing:
            raise CLIError(
                f"{data}: CSV needs columns {','.join(needed)} (missing {sorted(missing)})"
            )
        for col in needed:
            empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
            if empty.any():
                lines = (empty[empty].index + 2).tolist()  # 1-based, after the header line
                shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
                raise CLIError(
                    f"{data}: empty {col} on {len(lines)} row(s) (line {shown}); "
                    f"every row needs a {col}"
                )
        base = os.path.dirname(os.path.abspath(data))
        df["path"] = [
            p if os.path.isabs(p) else os.path.join(base, p) for p in df["path"].astype(str)
        ]
        return df
    return load_dataset(dataset or "folder", data)


def limit_per_class(df, per_class, seed=0):
    """At most ``per_class`` rows of each label: a seeded random subset, in the index's order."""
    if not per_class:
        return df
    if "label" not in df:
        raise CLIError("--limit-per-class needs labels (a label column or class folders)")
    # a seeded random subset per class, kept in the index's own order
    shuffled = df.sample(frac=1.0, random_state=seed)
    return shuffled.groupby("label", sort=False).head(per_class).sort_index().reset_index(drop=True)


def check_model(model, path, needs=("predict",)):
    """Check that a loaded model file holds a fitted estimator with the methods a command uses.

    Loading succeeds for any object a file holds (a dict, a bare transformer,
    an unfitted pipeline); checking here turns what would be a traceback deep
    in a command into one line naming the file.
    """
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from ..pipelines import pipeline_sr

    # load_model already refused objects that are not estimators or cannot predict
    missing = [m for m in needs if not callable(getattr(model, m, None))]
    if missing:
        raise CLIError(
            f"{path}: the model ({type(model).__name__}) has no "
            f"{' or '.join(missing)}; give a classifier written by `embedclf train`"
        )
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise CLIError(
            f"{path}: the model is not fitted; train it first (`embedclf train`)"
        ) from None
    except TypeError:  # an estimator check_is_fitted cannot inspect: let the command try
        pass
    if pipeline_sr(model) is None:
        raise CLIError(
            f"{path}: cannot tell the sample rate the model expects (no step has "
            "an `sr` parameter); give a model written by `embedclf train`"
        )
    return model


def _streams_files(model):
    """Pipelines that start with a pretrained embedding read files themselves (streamed)."""
    from ..features.embeddings import PretrainedEmbedding

    first = model.steps[0][1] if hasattr(model, "steps") else model
    return isinstance(first, PretrainedEmbedding)


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


def load_labelled(df, model, on_error, progress, full_list):
    """Check (and, when they fit in memory, load) the clips; labels stay aligned.

    Skipped clips are summarised on stderr; ``full_list`` says where the
    caller keeps every one of them.

    Embedding pipelines always get the checked paths: they stream and cache
    by content. Feature pipelines get decoded waveforms (decoded once for
    all folds) unless those would take more than
    ``embedclf.cli.PRELOAD_LIMIT_BYTES``.
    """
    from ..audio import SkippedClipsWarning, load_clips
    from ..pipelines import pipeline_sr
    from . import PRELOAD_LIMIT_BYTES  # read when called: the package's setting may be changed

    sr = pipeline_sr(model)
    paths = df["path"].tolist()
    lazy = _streams_files(model)
    if not lazy and _decoded_bytes(paths, sr) > PRELOAD_LIMIT_BYTES:
        lazy = True
        print(
            "embedclf: the decoded clips would take more than "
            f"{PRELOAD_LIMIT_BYTES / 1024**3:.0f} GB; checking them and reading files as "
            "needed instead",
            file=sys.stderr,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedClipsWarning)  # reported below instead
        res = load_clips(
            paths, df["label"].to_numpy(), sr=sr, on_error=on_error, progress=progress, lazy=lazy
        )
    report_skipped(res.skipped, full_list)
    return res, df.iloc[res.kept].reset_index(drop=True)


def report_skipped(skipped, full_list):
    """One stderr line per skip reason (count, a few names); ``full_list`` says where all are."""
    from ..audio import summarize_skipped

    examples, max_reasons = 3, 5
    for line in summarize_skipped(skipped, examples=examples, max_reasons=max_reasons):
        print(f"embedclf: {line}", file=sys.stderr)
    shown = skipped["reason"].astype(str).value_counts().head(max_reasons).clip(upper=examples)
    if len(skipped) > shown.sum():  # names were left out: say where every one is
        print(f"embedclf: every skipped file is listed in {full_list}", file=sys.stderr)


def write_table(table, path):
    """Write a result table in the format the (already checked) suffix names."""
    from ..files import atomic_write

    def write_json(tmp):
        with open(tmp, "w") as fh:
            fh.write(dump(table.to_dict("records")) + "\n")

    if path.lower().endswith(".parquet"):
        atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))
    elif path.lower().endswith(".json"):
        atomic_write(path, write_json)
    else:
        atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


#: Python parameter names in library messages, as the commands' options
_OPTION_WORDS = {
    "width or student='strided_ds'": "--width or --student strided_ds",
    "test_fold or test_fraction": "--test-fold or --test-fraction",
    "trust_pickle=True": "--trust-pickle",
    "sha256=DIGEST": "--sha256 DIGEST",
    "allow_unverified=True": "--allow-unverified",
    "teacher_context=SECONDS": "--teacher-context SECONDS",
    "teacher_context='clip'": "--teacher-context clip",
}


def _fetch_command(match):
    command = f"embedclf weights fetch openl3 --input-repr {match[1]} --content-type {match[2]}"
    return command + (" --sha256 DIGEST" if match[3] else "")


def in_option_words(text):
    """A library message with the Python calls and parameters it names as command-line options.

    Examples
    --------
    >>> from embedclf.cli._common import in_option_words
    >>> in_option_words("load it with trust_pickle=True and re-save it")
    'load it with --trust-pickle and re-save it'
    >>> in_option_words("(teacher_context=SECONDS, or teacher_context='clip')")
    '(--teacher-context SECONDS, or --teacher-context clip)'
    >>> in_option_words("Fetch them with: embedclf.weights.fetch_openl3('mel128', 'env', "
    ...                 "sha256=DIGEST) (no digest is recorded)")
    'Fetch them with: embedclf weights fetch openl3 --input-repr mel128 --content-type env \
--sha256 DIGEST (no digest is recorded)'
    """
    import re

    text = re.sub(
        r"embedclf\.weights\.fetch_openl3\('(\w+)', '(\w+)'(, sha256=DIGEST)?\)",
        _fetch_command,
        text,
    )
    for words, option in _OPTION_WORDS.items():
        text = text.replace(words, option)
    return text
