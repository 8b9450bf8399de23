"""The command line, run in-process through ``main`` (and once as a real process)."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from embedclf.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_json(capsys, tmp_path):
    code, out, _ = run(capsys, "demo", "--out", tmp_path, "--n-per-class", 10, "--json", "--quiet")
    assert code == 0
    res = json.loads(out)
    assert res["n_folds"] == 5 and res["n_clips"] == 50 and res["accuracy_mean"] > 0.7
    assert (tmp_path / "model.skops").is_file()  # a safe format: loads without running code
    assert (tmp_path / "report" / "confusion.png").is_file()
    assert len(res["new_clips"]) == 5


def test_train_predict_evaluate(capsys, tmp_path, event_files):
    root, df = event_files
    model = tmp_path / "m.skops"
    code, out, _ = run(
        capsys,
        "train",
        root,
        "--pipeline",
        "logmel-linear",
        "--set",
        "mel__sr=16000",
        "-o",
        model,
        "--quiet",
    )
    assert code == 0 and "trained logmel-linear on 30 clips (5 classes)" in out
    code, out, _ = run(capsys, "predict", model, *df["path"][:3], "--quiet")
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert code == 0 and table["source"].tolist() == df["path"][:3].tolist()
    assert {"label", "prob_beep", "prob_knock"} <= set(table.columns)
    code, out, _ = run(
        capsys, "predict", model, df["path"][0], "--window", 0.5, "--hop", 0.25, "--json", "--quiet"
    )
    rows = json.loads(out)
    assert [r["start"] for r in rows] == [0.0, 0.25, 0.5]
    code, out, _ = run(
        capsys,
        "evaluate",
        "--dataset",
        "folder",
        "--root",
        root,
        "--pipeline",
        "logmel-linear",
        "--set",
        "mel__sr=16000",
        "--n-splits",
        3,
        "--json",
        "--quiet",
        "--out",
        tmp_path / "rep",
    )
    rep = json.loads(out)
    assert code == 0 and rep["n_folds"] == 3 and rep["n_clips"] == 30
    assert (tmp_path / "rep" / "report.json").is_file()


def test_predict_bad_file_policy(capsys, tmp_path, event_files):
    root, df = event_files
    model = tmp_path / "m.skops"
    assert run(capsys, "train", root, "--set", "mel__sr=16000", "-o", model, "--quiet")[0] == 0
    missing = tmp_path / "gone.wav"
    code, _, err = run(capsys, "predict", model, df["path"][0], missing, "--quiet")
    assert code == 1 and err.strip() == f"embedclf: error: {missing}: file not found"
    code, out, _ = run(
        capsys,
        "predict",
        model,
        df["path"][0],
        missing,
        df["path"][1],
        "--on-error",
        "skip",
        "--quiet",
    )
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert code == 0 and table["source"].tolist() == [df["path"][0], str(missing), df["path"][1]]
    assert table["error"].isna().tolist() == [True, False, True]
    assert pd.isna(table["label"][1])


def test_train_skip_reports_files(capsys, tmp_path, event_files):
    root, df = event_files
    csv = tmp_path / "index.csv"
    rows = df[["path", "label"]].copy()
    rows.loc[len(rows)] = [str(tmp_path / "missing.wav"), "beep"]
    rows.to_csv(csv, index=False)
    code, out, err = run(
        capsys,
        "train",
        csv,
        "--set",
        "mel__sr=16000",
        "-o",
        tmp_path / "m.skops",
        "--on-error",
        "skip",
        "--json",
        "--quiet",
    )
    assert code == 0 and "skipped" in err and "missing.wav" in err
    res = json.loads(out)
    assert res["n_clips"] == 30 and res["skipped"][0]["index"] == 30


def test_errors_are_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "train", tmp_path / "nowhere", "-o", tmp_path / "m.skops")
    assert code == 1 and err.count("\n") == 1 and "is not a directory" in err
    code, _, err = run(capsys, "predict", tmp_path / "nomodel.skops", "x.wav")
    assert code == 1 and "model file not found" in err
    code, _, err = run(
        capsys, "evaluate", "--dataset", "fsdd", "--root", tmp_path, "--pipeline", "nope"
    )
    assert code == 1 and "unknown pipeline 'nope'" in err
    with pytest.raises(SystemExit) as info:
        main(["train"])
    assert info.value.code == 2


def test_console_script_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "embedclf.cli", "pipelines", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "logmel-linear" in json.loads(proc.stdout)


def test_limit_per_class_keeps_labels(capsys, tmp_path, event_files):
    root, _ = event_files
    code, out, _ = run(
        capsys,
        "train",
        root,
        "--set",
        "mel__sr=16000",
        "-o",
        tmp_path / "m.skops",
        "--limit-per-class",
        2,
        "--json",
        "--quiet",
    )
    res = json.loads(out)
    assert code == 0 and res["n_clips"] == 10 and len(res["classes"]) == 5


def test_predict_covers_the_tail_and_writes_valid_json(capsys, tmp_path, event_files):
    root, df = event_files
    model = tmp_path / "m.skops"
    assert run(capsys, "train", root, "--set", "mel__sr=16000", "-o", model, "--quiet")[0] == 0
    code, out, _ = run(
        capsys,
        "predict",
        model,
        df["path"][0],
        tmp_path / "gone.wav",
        "--window",
        0.4,
        "--on-error",
        "skip",
        "--json",
        "--quiet",
    )
    rows = json.loads(out)  # strict JSON: NaN would not parse as null
    starts = [r["start"] for r in rows if r.get("start") is not None]
    assert starts == [0.0, 0.4, 0.8] and rows[2]["end"] == 1.0  # 1 s clip: the tail too
    assert rows[3]["label"] is None and "file not found" in rows[3]["error"]
    assert rows[0]["error"] is None


def test_evaluate_uses_the_datasets_folds_and_groups(capsys, tmp_path):
    """An ESC-10 layout: folds from file names, sources as groups (none spans two folds)."""
    import soundfile as sf

    from embedclf.datasets import make_sound_events

    X, y, folds = make_sound_events(n_per_class=4, sr=16000, duration=1.0, random_state=5)
    for k, (clip, label, fold) in enumerate(zip(X, y, folds)):
        folder = tmp_path / "esc" / f"00{sorted(set(y)).index(label) + 1} - {label}"
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"{fold}-{1000 + k}-A.wav", clip, 16000)
    code, out, err = run(
        capsys,
        "evaluate",
        "--dataset",
        "esc10",
        "--root",
        tmp_path / "esc",
        "--set",
        "mel__sr=16000",
        "--json",
        "--quiet",
    )
    rep = json.loads(out)
    assert code == 0, err
    assert [f["fold"] for f in rep["per_fold"]] == ["1", "2", "3", "4"] and rep["n_clips"] == 20


def test_large_datasets_are_not_held_in_memory(capsys, tmp_path, event_files, monkeypatch):
    import embedclf.cli as cli

    root, _ = event_files
    monkeypatch.setattr(cli, "PRELOAD_LIMIT_BYTES", 1000)  # everything counts as large
    code, out, err = run(
        capsys,
        "evaluate",
        "--dataset",
        "folder",
        "--root",
        root,
        "--set",
        "mel__sr=16000",
        "--n-splits",
        3,
        "--json",
        "--quiet",
    )
    assert code == 0 and "reading files as needed" in err
    assert json.loads(out)["n_clips"] == 30


def test_window_hop_longer_than_window_never_predicts_past_the_end(tmp_path, event_files):
    from embedclf.pipelines import make_pipeline
    from embedclf.predict import predict_table

    _, df = event_files
    model = make_pipeline("logmel-linear", mel__sr=16000).fit(
        df["path"].tolist(), df["label"].to_numpy()
    )
    table = predict_table(model, df["path"][:1].tolist(), window=0.2, hop=0.5)
    assert table["start"].tolist() == [0.0, 0.5]  # a 1 s clip: no window starting at 1.0 s


def test_cnn_pipelines_train_predict_evaluate(capsys, tmp_path, event_files):
    pytest.importorskip("keras")
    root, df = event_files
    model = tmp_path / "cnn.skops"
    fast = ["--set", "sr=16000", "--set", "epochs=2", "--set", "architecture=strided_ds"]
    code, out, err = run(capsys, "train", root, "--pipeline", "cnn", *fast, "-o", model)
    assert code == 0 and "trained cnn on 30 clips (5 classes)" in out
    assert "training KerasCNN" in err and "2/2" in err  # progress per epoch
    code, out, _ = run(capsys, "predict", model, *df["path"][:2], "--json", "--quiet")
    rows = json.loads(out)
    assert code == 0 and [r["source"] for r in rows] == df["path"][:2].tolist()
    assert abs(sum(v for k, v in rows[0].items() if k.startswith("prob_")) - 1) < 1e-6
    code, out, err = run(
        capsys,
        "evaluate",
        "--dataset",
        "folder",
        "--root",
        root,
        "--pipeline",
        "cnn-strided",
        "--set",
        "sr=16000",
        "--set",
        "epochs=1",
        "--n-splits",
        2,
        "--json",
        "--quiet",
    )
    assert code == 0 and json.loads(out)["n_folds"] == 2 and "training KerasCNN" not in err
    code, out, _ = run(capsys, "pipelines")
    assert all(name in out for name in ("cnn", "cnn-aug", "cnn-long", "cnn-ds", "cnn-strided"))


def test_distill_writes_the_mcu_files_and_enforces_the_budget(capsys, tmp_path, event_files):
    pytest.importorskip("keras")
    pytest.importorskip("tflite_micro")
    root, _ = event_files
    teacher = tmp_path / "teacher.skops"
    assert run(capsys, "train", root, "--set", "mel__sr=16000", "-o", teacher, "--quiet")[0] == 0
    out = tmp_path / "mcu"
    code, stdout, _ = run(
        capsys,
        "distill",
        "--teacher",
        teacher,
        "--data",
        root,
        "--out",
        out,
        "--epochs",
        2,
        "--augment",
        1,
        "--threshold",
        0.6,
        "--suppression",
        2,
        "--json",
        "--quiet",
    )
    report = json.loads(stdout)  # nothing but the report on stdout (converter chatter captured)
    assert code == 0
    # the device's event settings: those given, the Recognizer's defaults for the others
    events = report["c_library"]["events"]
    assert (events["threshold"], events["suppression"], events["smoothing"]) == (0.6, 2.0, 1.0)
    assert "#define ECL_EV_THRESHOLD 0.6\n" in (out / "c" / "embedclf_events_config.h").read_text()
    for key in (
        "flash_bytes",
        "arena_bytes",
        "macs_per_second",
        "student_accuracy",
        "teacher_accuracy",
        "int8_float_agreement",
    ):
        assert key in report
    assert report["n_test_clips"] == 6  # 20% of 30 clips, stratified
    assert report["teacher_refit_without_held_out"] is True
    training = report["training"]  # the command's defaults: the measured recipe
    assert (training["epochs"], training["lr_schedule"], training["early_stopping"]) == (
        2,
        "cosine",
        False,
    )
    assert {k: training["augment"][k] for k in ("copies", "mixup", "freq_mask", "time_mask")} == {
        "copies": 1,
        "mixup": 0.3,
        "freq_mask": 0.15,
        "time_mask": 0.15,
    }
    for name in ("model.tflite", "model_data.h", "model_data.c", "frontend.h", "report.json"):
        assert (out / name).is_file()
    code, stdout, err = run(
        capsys,
        "distill",
        "--teacher",
        teacher,
        "--data",
        root,
        "--out",
        out,
        "--epochs",
        1,
        "--max-flash-kb",
        4,
        "--teacher-context",
        "2",
        "--clip-pooling",
        "mean",
        "--mix-copies",
        1,
        "--hop",
        1,
        "--fit-hop",
        0.25,
        "--quiet",
    )
    assert code == 1 and "exceeds the budget: flash" in err and "report.over_budget.json" in err
    rejected = json.loads((out / "report.over_budget.json").read_text())
    assert rejected["budget"]["within_budget"] is False
    assert rejected["clip_pooling"] == "mean" and report["clip_pooling"] == "logmean"
    assert rejected["training"]["mix_copies"] == 1 and training["mix_copies"] == 0
    assert (rejected["hop_seconds"], rejected["training"]["fit_hop_seconds"]) == (1.0, 0.25)
    assert (report["hop_seconds"], training["fit_hop_seconds"]) == (0.5, 0.5)
    assert rejected["macs_per_second"] == rejected["macs_per_window"]
    assert json.loads((out / "report.json").read_text()) == report  # the good one is kept
    code, _, err = run(
        capsys,
        "distill",
        "--teacher",
        teacher,
        "--data",
        root,
        "--out",
        out,
        "--test-fold",
        1,
        "--quiet",
    )
    assert code != 0 and "--test-fold needs a dataset with folds" in err
    with pytest.raises(SystemExit) as info:  # bad usage: argparse exits 2
        run(capsys, "distill", "--teacher", teacher, "--data", root, "--teacher-context", "0")
    assert info.value.code == 2
    assert "expected seconds > 0, 'auto', 'window' or 'clip', got '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        run(capsys, "distill", "--teacher", teacher, "--data", root, "--freq-mask", "1.5")
    assert info.value.code == 2
    assert "expected a number from 0 to 1, got '1.5'" in capsys.readouterr().err


def test_distill_command_distiller_and_benchmark_read_one_recipe(monkeypatch):
    # the defaults live in embedclf.distill.RECIPE: the command and the benchmark build their
    # options from it (a changed recipe changes both), the Distiller's training defaults are it
    import dataclasses
    import importlib.util
    from pathlib import Path

    import embedclf.recipe
    from embedclf.cli import build_parser
    from embedclf.cli.distill import recipe_from_args
    from embedclf.distill import RECIPE, Distiller
    from embedclf.models.windows import POOLINGS

    assert RECIPE is embedclf.recipe.RECIPE
    spec = importlib.util.spec_from_file_location(
        "distill_tradeoff", Path(__file__).parent.parent / "benchmarks" / "distill_tradeoff.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    other = RECIPE.replace(
        student="ds_cnn",
        width=0.75,
        window=2.0,
        hop=0.75,
        fit_hop=0.25,
        teacher_context=1.5,
        temperature=3.0,
        alpha=0.25,
        epochs=7,
        lr_schedule="constant",
        weight_decay=0.01,
        early_stopping=True,
        augment_copies=3,
        mix_copies=1,
        mixup=0.2,
        freq_mask=0.1,
        time_mask=0.05,
        clip_pooling="vote",
    )
    assert all(
        getattr(other, f.name) != getattr(RECIPE, f.name) for f in dataclasses.fields(RECIPE)
    )  # every field changed
    for recipe in (RECIPE, other):
        monkeypatch.setattr(embedclf.recipe, "RECIPE", recipe)
        args = build_parser().parse_args(["distill", "--teacher", "t.skops", "--data", "d"])
        assert recipe_from_args(args) == recipe  # the command's defaults are the recipe
        b = bench.build_parser().parse_args([])
        assert (
            b.student,
            float(b.widths),
            b.window,
            b.hop,
            b.fit_hop,
            b.temperature,
            b.alpha,
            b.epochs,
            b.lr_schedule,
            b.weight_decay,
            b.early_stopping,
            b.augment,
            b.mix_copies,
            b.mixup,
            b.freq_mask,
            b.time_mask,
            b.clip_pooling,
        ) == (
            recipe.student,
            recipe.width,
            recipe.window,
            recipe.hop,
            recipe.fit_hop,
            recipe.temperature,
            recipe.alpha,
            recipe.epochs,
            recipe.lr_schedule,
            recipe.weight_decay,
            recipe.early_stopping,
            recipe.augment_copies,
            recipe.mix_copies,
            recipe.mixup,
            recipe.freq_mask,
            recipe.time_mask,
            recipe.clip_pooling,
        )
        assert embedclf.recipe.parse_teacher_context(b.teacher_context) == recipe.teacher_context
    # the Distiller's own training defaults are the recipe's (width and augment aside), and
    # RECIPE.distiller applies the recipe whole
    own = Distiller(None).get_params()
    params = RECIPE.distiller_params()
    for name, value in params.items():
        if name not in ("width", "augment"):
            assert own[name] == value, name
    made = RECIPE.distiller(None).get_params()
    assert made["width"] == RECIPE.width and made["augment"].copies == RECIPE.augment_copies
    pooling = next(
        a
        for a in build_parser()._subparsers._group_actions[0].choices["distill"]._actions
        if a.dest == "clip_pooling"
    )
    assert tuple(pooling.choices) == POOLINGS  # the parser lists them without importing sklearn


def test_train_fits_with_one_blas_thread(capsys, tmp_path, event_files, monkeypatch):
    """`embedclf train` holds BLAS to one thread while fitting (a linear head is small
    matrix products, which BLAS threads slow down), and gives the limit back after."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas():
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    seen, fit = [], LogisticRegression.fit

    def recording_fit(self, X, y, **kw):
        seen.append(blas())
        return fit(self, X, y, **kw)

    monkeypatch.setattr(LogisticRegression, "fit", recording_fit)
    root, _ = event_files
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas()
        argv = ["train", root, "--set", "mel__sr=16000", "-o", tmp_path / "m.skops", "--quiet"]
        code, _, _ = run(capsys, *argv)
        after = blas()
    assert code == 0 and seen == [{1}]
    assert after == before == {2}
