"""The command line never shows a traceback: errors are one line, arguments are checked
before any work, and skipped files are summarised (issue 19, item 5)."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import skops.io

import embedclf.cli as cli
from embedclf.audio import summarize_skipped
from embedclf.cli import main
from embedclf.modelfile import save_model


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, expected_code=1, says=""):
    """The exit code, exactly one line on stderr naming the cause, no traceback anywhere."""
    assert code == expected_code, (code, err)
    assert err.count("\n") == 1 and err.startswith("embedclf: error: "), err
    assert says in err, err
    assert "Traceback" not in out + err


def usage_error(capsys, *argv):
    """Run a command that argparse must refuse; its stderr."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert "Traceback" not in out + err
    assert [line.startswith("embedclf") for line in err.splitlines()].count(True) == 1, err
    return err.splitlines()[-1]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, event_files):
    from embedclf.pipelines import make_pipeline

    _, df = event_files
    path = tmp_path_factory.mktemp("model") / "m.skops"
    model = make_pipeline("logmel-linear", mel__sr=16000)
    save_model(model.fit(df["path"].tolist(), df["label"].to_numpy()), path)
    return path


# --- 1. any exception: one line, exit 1 (130 when interrupted), --debug, --json ---------------


@pytest.fixture
def broken_command(monkeypatch):
    """`embedclf pipelines` fails the way a bug would (a multi-line message)."""

    def boom(args):
        raise RuntimeError("something broke\nin two lines")

    monkeypatch.setattr(cli, "cmd_pipelines", boom)
    monkeypatch.delenv("EMBEDCLF_DEBUG", raising=False)


def test_unexpected_exception_is_one_line_pointing_at_debug(capsys, broken_command):
    code, out, err = run(capsys, "pipelines")
    assert_one_line_error(
        code, out, err, 1, "unexpected RuntimeError: something broke in two lines"
    )
    assert "--debug" in err and "EMBEDCLF_DEBUG=1" in err and out == ""


@pytest.mark.parametrize(
    "argv, env",
    [(["--debug", "pipelines"], None), (["pipelines", "--debug"], None), (["pipelines"], "1")],
)
def test_debug_flag_or_env_shows_the_traceback(capsys, broken_command, monkeypatch, argv, env):
    if env:
        monkeypatch.setenv("EMBEDCLF_DEBUG", env)
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith("Traceback") and "RuntimeError: something broke" in err
    assert err.splitlines()[-1].startswith("embedclf: error: unexpected RuntimeError")


def test_keyboard_interrupt_exits_130_with_one_line(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_pipelines", interrupted)
    code, out, err = run(capsys, "pipelines")
    assert_one_line_error(code, out, err, 130, "interrupted")


def test_json_error_is_an_object_on_stdout(capsys, tmp_path, model_file, broken_command):
    missing = tmp_path / "gone.wav"
    code, out, err = run(capsys, "predict", model_file, missing, "--json", "--quiet")
    assert_one_line_error(code, out, err, 1, "file not found")
    assert json.loads(out) == {
        "error": f"{missing}: file not found",
        "type": "AudioError",
        "source": str(missing),
    }
    code, out, err = run(capsys, "pipelines", "--json")
    assert_one_line_error(code, out, err, 1, "unexpected RuntimeError")
    assert json.loads(out)["type"] == "RuntimeError"


def test_a_real_process_prints_no_traceback(tmp_path):
    skops.io.dump({"not": "a model"}, tmp_path / "dict.skops")
    env = {k: v for k, v in os.environ.items() if k != "EMBEDCLF_DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "embedclf.cli", "predict", str(tmp_path / "dict.skops"), "x.wav"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "holds a builtins.dict, not an estimator" in proc.stderr


# --- 2. arguments are checked before any work ------------------------------------------------

PREDICT = ["predict", "no-such-model.joblib", "x.wav"]  # a missing model: exit 1 if reached
DISTILL = ["distill", "--teacher", "no-such-model.joblib", "--data", "nowhere"]


@pytest.mark.parametrize(
    "argv, says",
    [
        (PREDICT + ["--window", "inf"], "argument --window/--windows: expected a finite number"),
        (PREDICT + ["--window", "nan"], "argument --window/--windows: expected a finite number"),
        (PREDICT + ["--window", "-1"], "argument --window/--windows: expected a finite number"),
        (PREDICT + ["--window", "1", "--hop", "0"], "argument --hop: expected a finite number"),
        (PREDICT + ["--window", "1", "--hop", "inf"], "argument --hop: expected a finite number"),
        (PREDICT + ["--hop", "0.5"], "argument --hop: needs --window"),
        (DISTILL + ["--width", "0"], "argument --width: expected a finite number > 0"),
        (DISTILL + ["--epochs", "0"], "argument --epochs: expected a whole number >= 1"),
        (DISTILL + ["--augment", "-1"], "argument --augment: expected a whole number >= 0"),
        (DISTILL + ["--temperature", "inf"], "argument --temperature: expected a finite number"),
        (DISTILL + ["--alpha", "2"], "argument --alpha: expected a number from 0 to 1"),
        (DISTILL + ["--test-fraction", "0"], "argument --test-fraction: expected a number above 0"),
        (DISTILL + ["--max-flash-kb", "nan"], "argument --max-flash-kb: expected a finite number"),
        (DISTILL + ["--seed", "-1"], "argument --seed: expected a whole number from 0 to"),
        (
            ["evaluate", "--dataset", "folder", "--root", "nowhere", "--n-splits", "1"],
            "argument --n-splits: expected a whole number >= 2",
        ),
        (
            ["train", "nowhere", "-o", "m.joblib", "--limit-per-class", "0"],
            "argument --limit-per-class: expected a whole number >= 1",
        ),
        (
            ["embed", "nowhere", "-o", "e.csv", "--hop-size", "0"],
            "argument --hop-size: expected a finite number > 0",
        ),
        (["demo", "--n-per-class", "1"], "argument --n-per-class: expected a whole number >= 2"),
    ],
)
def test_bad_numbers_are_usage_errors_naming_the_flag(capsys, argv, says):
    assert says in usage_error(capsys, *argv)


def test_output_path_is_checked_before_the_model_is_loaded(capsys, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    last = usage_error(capsys, *PREDICT, "-o", a_file / "sub" / "out.csv")
    assert "argument -o/--output: cannot write" in last and "is a file, not a folder" in last
    last = usage_error(capsys, *PREDICT, "-o", tmp_path / "out.xlsx")
    assert "cannot tell the format of" in last and ".csv, .json, .parquet" in last
    assert "is a folder" in usage_error(capsys, *PREDICT, "-o", tmp_path)
    assert "is a file, not a folder" in usage_error(
        capsys, "train", "nowhere", "-o", a_file / "m.joblib"
    )
    assert "argument --out: " in usage_error(
        capsys, "evaluate", "--dataset", "folder", "--root", "nowhere", "--out", a_file
    )
    assert "argument --out: " in usage_error(capsys, *DISTILL, "--out", a_file)
    assert not (tmp_path / "out.xlsx").exists()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere"
)
def test_unwritable_output_folder_is_a_usage_error(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert "no permission to write in" in usage_error(capsys, *PREDICT, "-o", locked / "x.csv")


def test_predict_output_suffix_selects_the_format(capsys, tmp_path, model_file, event_files):
    _, df = event_files
    files = df["path"][:2].tolist()
    assert run(capsys, "predict", model_file, *files, "-o", tmp_path / "p.json", "--quiet")[0] == 0
    rows = json.loads((tmp_path / "p.json").read_text())
    assert [r["source"] for r in rows] == files
    assert run(capsys, "predict", model_file, *files, "-o", tmp_path / "p.csv", "--quiet")[0] == 0
    assert pd.read_csv(tmp_path / "p.csv")["label"].tolist() == [r["label"] for r in rows]
    pytest.importorskip("pyarrow")
    assert (
        run(capsys, "predict", model_file, *files, "-o", tmp_path / "p.parquet", "--quiet")[0] == 0
    )
    assert pd.read_parquet(tmp_path / "p.parquet")["source"].tolist() == files


# --- 3. data errors are one line ------------------------------------------------------------


def test_csv_with_an_empty_path_cell_is_one_line_naming_the_line(capsys, tmp_path, event_files):
    _, df = event_files
    csv = tmp_path / "index.csv"
    csv.write_text(f"path,label\n{df['path'][0]},beep\n,beep\n   ,knock\n")
    code, out, err = run(capsys, "train", csv, "-o", tmp_path / "m.joblib", "--quiet")
    assert_one_line_error(code, out, err, 1, "empty path on 2 row(s) (line 3, 4)")


def test_csv_with_an_empty_label_cell_is_one_line(capsys, tmp_path, event_files):
    _, df = event_files
    csv = tmp_path / "index.csv"
    csv.write_text(f"path,label\n{df['path'][0]},beep\n{df['path'][1]},\n")
    code, out, err = run(capsys, "train", csv, "-o", tmp_path / "m.joblib", "--quiet")
    assert_one_line_error(code, out, err, 1, "empty label on 1 row(s) (line 3)")


@pytest.mark.parametrize(
    "header, missing", [("file,label", "['path']"), ("path,class", "['label']")]
)
def test_csv_missing_path_or_label_column_is_one_line(capsys, tmp_path, header, missing):
    csv = tmp_path / "index.csv"
    csv.write_text(f"{header}\na.wav,beep\n")
    code, out, err = run(capsys, "train", csv, "-o", tmp_path / "m.joblib", "--quiet")
    assert_one_line_error(code, out, err, 1, f"CSV needs columns path,label (missing {missing})")


def _fitted_scaler():
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit(np.ones((3, 2)))


def _unfitted_pipeline():
    from embedclf.pipelines import make_pipeline

    return make_pipeline("logmel-linear")


@pytest.mark.parametrize(
    "content, says",
    [
        ({"not": "a model"}, "holds a builtins.dict, not an estimator"),
        (_fitted_scaler, "holds a StandardScaler without a predict method"),
        (_unfitted_pipeline, "the model is not fitted"),
    ],
)
def test_model_file_that_cannot_predict_is_one_line(capsys, tmp_path, event_files, content, says):
    _, df = event_files
    path = tmp_path / "model.skops"
    skops.io.dump(content() if callable(content) else content, path)
    code, out, err = run(capsys, "predict", path, df["path"][0], "--quiet")
    assert_one_line_error(code, out, err, 1, f"{path}")
    assert says in err


def test_teacher_without_predict_proba_is_one_line(capsys, tmp_path, event_files):
    from sklearn.svm import LinearSVC

    from embedclf.pipelines import make_pipeline

    root, df = event_files
    teacher = make_pipeline("logmel-linear", mel__sr=16000).set_params(clf=LinearSVC())
    teacher.fit(df["path"].tolist(), df["label"].to_numpy())
    path = tmp_path / "svc.skops"
    save_model(teacher, path)
    code, out, err = run(
        capsys, "distill", "--teacher", path, "--data", root, "--out", tmp_path / "mcu", "--quiet"
    )
    assert_one_line_error(code, out, err, 1, "has no predict_proba")
    assert not (tmp_path / "mcu").exists()  # refused before any work


def test_unreadable_model_file_is_one_line(capsys, tmp_path, event_files):
    _, df = event_files
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x04 truncated")
    code, out, err = run(capsys, "predict", path, df["path"][0], "--quiet", "--trust-pickle")
    assert_one_line_error(code, out, err, 1, f"{path}: not a readable pickle/joblib model")


# --- 4. skipped files are summarised, every one kept in the output ---------------------------


def not_audio(seed, size):
    """Bytes no audio decoder accepts: plain text, never random bytes (random
    bytes sometimes hold an MPEG frame sync, and libsndfile then reads them)."""
    line = f"embedclf test file {seed}: this is not audio\n".encode()
    return (line * (size // len(line) + 1))[:size]


def test_many_skipped_files_are_one_line_per_reason(capsys, tmp_path, event_files):
    _, df = event_files
    garbage = []
    for i in range(4):
        garbage.append(tmp_path / f"noise{i}.wav")
        garbage[-1].write_bytes(not_audio(i, 2000))
    missing = [tmp_path / "gone" / f"m{i:03d}.wav" for i in range(300)]
    rows = df[["path", "label"]].copy()
    extra = pd.DataFrame({"path": [str(p) for p in missing + garbage], "label": "beep"})
    csv = tmp_path / "index.csv"
    pd.concat([rows, extra]).to_csv(csv, index=False)
    code, out, err = run(
        capsys,
        "train",
        csv,
        "--set",
        "mel__sr=16000",
        "-o",
        tmp_path / "m.joblib",
        "--on-error",
        "skip",
        "--json",
        "--quiet",
    )
    assert code == 0 and "Traceback" not in err
    assert err.splitlines() == [
        "embedclf: skipped 300 files: file not found (e.g. m000.wav, m001.wav, m002.wav)",
        "embedclf: skipped 4 files: not a readable audio file (Format not recognised.) "
        "(e.g. noise0.wav, noise1.wav, noise2.wav)",
        'embedclf: every skipped file is listed in the --json output ("skipped")',
    ]
    skipped = json.loads(out)["skipped"]
    assert [r["source"] for r in skipped] == [str(p) for p in missing + garbage]


def test_evaluate_summarises_skips_and_keeps_them_in_the_report(capsys, tmp_path, event_files):
    root, df = event_files
    copy = tmp_path / "data"
    for path, label in zip(df["path"], df["label"]):
        (copy / label).mkdir(parents=True, exist_ok=True)
        os.symlink(path, copy / label / os.path.basename(path))
    for i in range(5):
        (copy / "beep" / f"zz-broken{i}.wav").write_bytes(not_audio(i, 1000))
    code, out, err = run(
        capsys,
        "evaluate",
        "--dataset",
        "folder",
        "--root",
        copy,
        "--set",
        "mel__sr=16000",
        "--n-splits",
        3,
        "--on-error",
        "skip",
        "--quiet",
        "--out",
        tmp_path / "rep",
    )
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("embedclf: ")]
    assert lines[0].startswith("embedclf: skipped 5 files: not a readable audio file")
    assert "(e.g. zz-broken" in lines[0] and "report.json" in lines[1] and len(lines) == 2
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert sorted(os.path.basename(r["source"]) for r in report["skipped"]) == [
        f"zz-broken{i}.wav" for i in range(5)
    ]


def test_predict_skips_are_summarised_and_rows_keep_each_error(
    capsys, tmp_path, model_file, event_files
):
    _, df = event_files
    missing = [tmp_path / f"gone{i}.wav" for i in range(5)]
    code, out, err = run(
        capsys,
        "predict",
        model_file,
        df["path"][0],
        *missing,
        "--on-error",
        "skip",
        "--json",
        "--quiet",
    )
    assert code == 0
    assert err.splitlines() == [
        "embedclf: skipped 5 files: file not found (e.g. gone0.wav, gone1.wav, gone2.wav)",
        "embedclf: every skipped file is listed in the output's error column",
    ]
    rows = json.loads(out)
    assert [r["error"] for r in rows] == [None] + ["file not found"] * 5


def test_skip_summary_orders_reasons_by_count_and_caps_their_number():
    reasons = ["r1"] + ["r2"] * 3 + ["r3"] * 2 + ["r4", "r5", "r6"]
    skipped = pd.DataFrame(
        {"source": [f"clip {i}" for i in range(len(reasons))], "reason": reasons}
    )
    assert summarize_skipped(skipped, examples=2, max_reasons=3) == [
        "skipped 3 clips: r2 (e.g. clip 1, clip 2)",
        "skipped 2 clips: r3 (clip 4, clip 5)",
        "skipped 1 clip: r1 (clip 0)",
        "skipped 3 clips for 3 other reasons",
    ]
    assert summarize_skipped(skipped.iloc[:0]) == []


def test_closed_stdout_pipe_stops_quietly():
    """`embedclf ... | head`: the reader leaving is no error to report."""
    script = (
        "import sys, embedclf.cli as cli\n"
        "def many(args):\n"
        "    for _ in range(100000):\n"
        "        print('x' * 100)\n"
        "    return 0\n"
        "cli.cmd_pipelines = many\n"
        "sys.exit(cli.main(['pipelines']))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.readline()
    proc.stdout.close()  # like `head -1` exiting
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == ""


def test_library_messages_name_python_parameters_and_the_command_its_options(
    capsys, tmp_path, monkeypatch
):
    from embedclf.weights import WeightsNotFoundError, fetch_openl3, find_openl3

    # the library says what a Python caller passes ...
    with pytest.raises(ValueError) as info:
        fetch_openl3("mel128", "env", dest=str(tmp_path), progress=False)
    assert "sha256=DIGEST" in str(info.value) and "allow_unverified=True" in str(info.value)
    assert "--" not in str(info.value)
    monkeypatch.setenv("EMBEDCLF_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(WeightsNotFoundError) as info:
        find_openl3("mel128", "env")
    assert "embedclf.weights.fetch_openl3('mel128', 'env', sha256=DIGEST)" in str(info.value)
    # ... and the command line says the same with its own options (before any download)
    code, out, err = run(
        capsys,
        "weights",
        "fetch",
        "openl3",
        "--input-repr",
        "mel128",
        "--content-type",
        "env",
        "--dest",
        tmp_path,
        "--quiet",
    )
    assert code == 1 and "--sha256 DIGEST" in err and "--allow-unverified" in err
    assert "sha256=DIGEST" not in err and "allow_unverified" not in err
    message = cli.in_option_words(str(info.value))
    assert (
        "embedclf weights fetch openl3 --input-repr mel128 --content-type env --sha256 DIGEST"
        in message
    )
