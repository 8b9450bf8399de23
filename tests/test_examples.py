"""Every script in examples/ runs with --quick on small data and says something that makes sense."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.base import is_classifier

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

pytestmark = pytest.mark.slow  # each script runs in a fresh interpreter: 10-30 s


def run_example(name, out):
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def test_every_example_is_run_by_this_file():
    tested = {
        "folder_to_pipeline.py",
        "grid_search_cached_embeddings.py",
        "urbansound8k_folds.py",
        "kerascnn_augmentation.py",
        "distill_and_export.py",
        "live_recognition.py",
        "device_c_library.py",
        "scale_out_dask.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")} == tested


def test_folder_to_pipeline_labels_held_out_files(tmp_path):
    from embedclf.modelfile import load_model

    stdout = run_example("folder_to_pipeline.py", tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["classes"] == ["beep", "buzz", "chirp", "hum", "knock"]
    assert (summary["n_train"], summary["n_test"]) == (30, 10)
    assert summary["held_out_accuracy"] >= 0.8  # chance is 0.2
    assert f"held-out accuracy: {summary['held_out_accuracy']:.3f}" in stdout
    assert is_classifier(load_model(tmp_path / "model.skops"))
    rows = (tmp_path / "predictions.csv").read_text().splitlines()
    assert len(rows) == 1 + summary["n_test"]


def test_grid_search_reuses_cached_embeddings(tmp_path):
    stdout = run_example("grid_search_cached_embeddings.py", tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    # one entry per clip, none computed again by the 13 fits of the search
    assert summary["cache_entries"] == summary["n_clips"] == 20
    assert summary["entries_rewritten_by_search"] == 0
    assert summary["best_cv_accuracy"] > 0.6
    assert "0 cache entries computed again" in stdout


def test_urbansound8k_folds_reports_each_fold(tmp_path):
    stdout = run_example("urbansound8k_folds.py", tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["folds"] == [1, 2, 3] and summary["n_clips"] == 30
    per_fold = summary["per_fold_accuracy"]
    assert len(per_fold) == 3
    assert summary["accuracy_mean"] == pytest.approx(sum(per_fold) / 3, abs=1e-3)
    assert summary["accuracy_mean"] > 0.5
    assert (tmp_path / "report" / "report.json").is_file()
    assert (tmp_path / "report" / "confusion.png").is_file()
    assert "over 3 fold(s)" in stdout


def test_kerascnn_augmentation_trains_and_predicts(tmp_path):
    stdout = run_example("kerascnn_augmentation.py", tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["epochs_run"] == 20 and summary["n_train"] == 40
    assert summary["held_out_accuracy"] >= 0.5  # chance is 0.2
    # a 1.5 s clip in 0.5 s windows every 0.25 s: five windows, each labelled with a class
    assert len(summary["first_clip_window_labels"]) == 5
    assert set(summary["first_clip_window_labels"]) <= set(summary["classes"])
    assert "held-out accuracy" in stdout


def test_distill_and_export_writes_a_device_model_within_budget(tmp_path):
    stdout = run_example("distill_and_export.py", tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    # c/: the C library, written when every operator compiles (the strided_ds student)
    assert files == {
        "model.tflite",
        "model_data.h",
        "model_data.c",
        "frontend.h",
        "report.json",
        "c",
    }
    report = json.loads((tmp_path / "report.json").read_text())
    assert (tmp_path / "model.tflite").stat().st_size < report["flash_bytes"] <= 64 * 1024
    assert 0 < report["arena_bytes"] <= 32 * 1024
    assert report["student_accuracy"] > 0.4 and report["teacher_accuracy"] > 0.8
    assert json.loads(stdout.strip().splitlines()[-1])["flash_bytes"] == report["flash_bytes"]


def test_live_recognition_finds_the_held_out_clips_in_a_stream(tmp_path):
    stdout = run_example("live_recognition.py", tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    truth, events = summary["truth"], summary["events"]
    assert len(truth) == 10 and "_background_" in summary["classes"]
    # the CNN finds most held-out clips by label and time, and reports little else
    assert summary["found"] >= 6 and summary["false_events"] <= 2
    assert all(e["label"] != "_background_" for e in events)  # never reported
    onsets = [e["onset"] for e in events]
    assert onsets == sorted(onsets) and all(e["onset"] < e["offset"] for e in events)
    assert 0 <= onsets[0] and events[-1]["offset"] <= truth[-1]["offset"] + 2.0
    assert len((tmp_path / "events.csv").read_text().splitlines()) == 1 + len(events)
    assert f"found {summary['found']} of 10 clips" in stdout


def test_device_c_library_equals_python_on_every_check(tmp_path):
    from embedclf.distill.verify import missing_tools

    if missing_tools("host"):
        pytest.skip(f"{', '.join(missing_tools('host'))} not installed (tools/system-deps.sh)")
    stdout = run_example("device_c_library.py", tmp_path)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["all_ok"] and s["n_clips"] == 10 and s["n_windows"] >= 10
    assert s["feature_values_differing"] == 0 and s["outputs_equal_tflm"] == s["n_windows"]
    assert s["clip_agreement_python"] == s["n_clips"]
    if s["m4"]:
        assert s["m4_equal_host"] == s["n_clips"]
        assert s["device"]["image_ram_bytes"] <= 32 * 1024
    assert "BAD" not in stdout and (tmp_path / "export" / "c" / "embedclf.c").is_file()


def test_scale_out_dask_gives_the_single_process_results(tmp_path):
    pytest.importorskip("distributed")
    stdout = run_example("scale_out_dask.py", tmp_path)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["n_clips"] == 50 and s["same_features"] and s["same_fold_scores"]
    assert s["accuracy_cluster"] == s["accuracy_here"] > 0.6
    assert "equal bit for bit: True" in stdout
