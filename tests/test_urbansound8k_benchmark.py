"""benchmarks/urbansound8k.py on tiny UrbanSound8K-layout sets the tests write.

The official protocol (each present fold tested once, the others train), the missing folds named,
the single-fold fallback grouped by fsID, resuming without redoing rows, and the same numbers as
``embedclf evaluate --dataset urbansound8k``. logmel-linear only: a few seconds per run.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import recall_score

from embedclf.cli import main as cli_main
from embedclf.datasets import load_urbansound8k, write_urbansound8k

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "urbansound8k_bench", ROOT / "benchmarks" / "urbansound8k.py"
    )
    module = importlib.util.module_from_spec(spec)
    # as when run as a script: its folder first on the path, for the helpers beside it
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


@pytest.fixture
def calls(bench, monkeypatch):
    """Every (fold, train, test) the benchmark fits, in order."""
    seen = []
    real = bench.fold_scores

    def recording(estimator, X, y, fold_name, train, test, *, labels):
        seen.append((fold_name, np.asarray(train), np.asarray(test)))
        return real(estimator, X, y, fold_name, train, test, labels=labels)

    monkeypatch.setattr(bench, "fold_scores", recording)
    return seen


def run_bench(bench, root, out, *extra):
    argv = ["--root", str(root), "--out", str(out), "--pipelines", "logmel-linear", *extra]
    assert bench.main(argv) == 0
    rows = pd.read_csv(out / "urbansound8k.csv", dtype={"fold": str})
    return rows, (out / "urbansound8k.md").read_text()


def test_every_present_fold_is_tested_once_and_missing_folds_are_named(
    bench, calls, tmp_path, capsys
):
    root = tmp_path / "us8k"
    df = write_urbansound8k(root, folds=(1, 2, 4), n_per_class=6, duration=1.0)
    # a clip listed in the metadata but not on disk is left out and counted
    Path(df["path"][0]).unlink()
    rows, md = run_bench(bench, root, tmp_path / "out")
    assert rows["fold"].tolist() == ["1", "2", "4"]
    folds = df["fold"].to_numpy()[1:]
    for fold, train, test in calls:  # test: exactly that fold; train: every other present fold
        assert set(folds[test]) == {int(fold)} and int(fold) not in set(folds[train])
        assert len(train) + len(test) == len(folds)
    assert sorted(np.concatenate([t for _, _, t in calls]).tolist()) == list(range(len(folds)))
    assert "missing of 1-10: 3, 5, 6, 7, 8, 9, 10" in md
    assert "1 listed in the metadata but not on disk" in md
    assert "the dataset's folds 1, 2, 4, each held out once" in md
    assert "Not the official protocol" not in md


def test_single_fold_falls_back_to_cv_grouped_by_fsid(bench, calls, tmp_path):
    root = tmp_path / "us8k"
    df = write_urbansound8k(root, folds=(3,), n_per_class=10, duration=1.0)
    rows, md = run_bench(bench, root, tmp_path / "out", "--n-splits", "4")
    assert len(rows) == len(calls) == 4
    groups = df["group"].to_numpy()
    for _, train, test in calls:  # no source recording on both sides
        assert not set(groups[train]) & set(groups[test])
    assert sorted(np.concatenate([t for _, _, t in calls]).tolist()) == list(range(len(df)))
    assert set(rows["protocol"]) == {
        "only fold 3 present: 4-fold cross-validation within it, grouped by source"
    }
    assert "missing of 1-10: 1, 2, 4, 5, 6, 7, 8, 9, 10" in md
    assert "Not the official protocol" in md and "grouped CV within the one fold" in md
    # --table-only rewrites the table from the rows, fitting nothing
    (tmp_path / "out" / "urbansound8k.md").unlink()
    _, again = run_bench(bench, root, tmp_path / "out", "--n-splits", "4", "--table-only")
    assert len(calls) == 4 and again == md


def test_rerun_skips_done_rows_and_redoes_only_missing_ones(bench, calls, tmp_path):
    root, out = tmp_path / "us8k", tmp_path / "out"
    write_urbansound8k(root, folds=(1, 2, 3), n_per_class=6, duration=1.0)
    first, _ = run_bench(bench, root, out)
    assert len(calls) == 3
    again, _ = run_bench(bench, root, out)
    assert len(calls) == 3  # nothing fitted again
    pd.testing.assert_frame_equal(first, again)
    # the same data set moved elsewhere (another checkout, a relative --root): still done
    moved = tmp_path / "elsewhere" / "us8k"
    moved.parent.mkdir()
    root.rename(moved)
    run_bench(bench, moved, out)
    assert len(calls) == 3
    moved.rename(root)
    # a run cut short after two folds: only the third runs again
    first.iloc[[0, 2]].to_csv(out / "urbansound8k.csv", index=False)
    resumed, _ = run_bench(bench, root, out)
    assert [c[0] for c in calls[3:]] == ["2"]
    assert sorted(resumed["fold"]) == ["1", "2", "3"]
    # a different set of clips is a different row, even for the same fold name
    write_urbansound8k(root, folds=(1, 2, 3), n_per_class=9, duration=1.0)
    grown, md = run_bench(bench, root, out)
    assert len(calls) == 3 + 1 + 3 and len(grown) == 6
    assert "| 3 of 3 |" in md  # the table counts this set's rows only


def test_table_agrees_with_embedclf_evaluate(bench, tmp_path, capsys):
    """Same folds, scores and pooled confusion as the CLI; per-class accuracy = sklearn recall."""
    root, out = tmp_path / "us8k", tmp_path / "out"
    write_urbansound8k(root, folds=(3,), n_per_class=10, duration=1.0)
    rows, md = run_bench(bench, root, out)
    capsys.readouterr()
    code = cli_main(
        [
            "evaluate",
            "--dataset",
            "urbansound8k",
            "--root",
            str(root),
            "--pipeline",
            "logmel-linear",
            "--out",
            str(tmp_path / "cli"),
            "--json",
            "--quiet",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["protocol"] == rows["protocol"].iloc[0]
    cli_folds = pd.DataFrame(report["per_fold"])
    assert cli_folds["fold"].tolist() == rows["fold"].tolist()
    assert cli_folds["n_test"].tolist() == rows["n_test"].tolist()
    np.testing.assert_allclose(cli_folds["accuracy"], rows["accuracy"])
    pooled = sum(np.asarray(json.loads(c)) for c in rows["confusion"])
    np.testing.assert_array_equal(pooled, np.asarray(report["confusion"]))
    acc = rows["accuracy"].to_numpy()
    assert f"| `logmel-linear` | {100 * acc.mean():.1f}% ± {100 * acc.std():.1f} |" in md
    preds = pd.read_csv(tmp_path / "cli" / "predictions.csv")
    labels = report["labels"]
    recall = recall_score(preds["y_true"], preds["y_pred"], labels=labels, average=None)
    sources = load_urbansound8k(root).groupby("label")["group"].nunique()
    for label, r in zip(labels, recall):
        n = int((preds["y_true"] == label).sum())
        assert f"| {label} | {n} | {sources[label]} | {100 * r:.1f}% |" in md
    assert "| SB-CNN with augmentation (Salamon & Bello 2017) (published) | 79% |" in md
    assert "| microcontroller CNNs (Nordby 2019) (published) | 71% |" in md
    assert (out / "urbansound8k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    features = pd.read_csv(out / "urbansound8k_features.csv")
    assert features["pipeline"].tolist() == ["logmel-linear"]
    assert (features["cpu_ms_per_audio_s"] > 0).all()


def test_loader_reads_back_what_write_urbansound8k_wrote(tmp_path):
    df = write_urbansound8k(tmp_path, folds=(2, 5), n_per_class=8, duration=0.5)
    again = load_urbansound8k(tmp_path)
    pd.testing.assert_frame_equal(df, again)
    assert sorted(df["fold"].unique()) == [2, 5]
    # no source recording spans two folds; each fold holds several sources per class
    assert (df.groupby("group")["fold"].nunique() == 1).all()
    assert (df.groupby(["fold", "label"])["group"].nunique() == 2).all()


def test_evaluate_says_when_it_falls_back_within_a_single_fold(tmp_path, capsys):
    root = tmp_path / "us8k"
    write_urbansound8k(root, folds=(3,), n_per_class=8, duration=0.5)
    argv = ["evaluate", "--dataset", "urbansound8k", "--root", str(root), "--n-splits", "2"]
    assert cli_main(argv) == 0
    out, err = capsys.readouterr()
    assert "only fold 3 present: 2-fold cross-validation within it, grouped by source" in err
    assert "over 2 fold(s)" in out


@pytest.mark.slow
def test_distilled_student_runs_fold_by_fold_with_its_teacher(bench, calls, tmp_path):
    """distilled:TEACHER trains the teacher on each fold's training clips, then the student."""
    root, out = tmp_path / "us8k", tmp_path / "out"
    write_urbansound8k(root, folds=(1, 2), n_per_class=4, duration=1.0)
    argv = ["--root", str(root), "--out", str(out), "--pipelines", "distilled:logmel-linear"]
    assert bench.main([*argv, "--student-epochs", "1"]) == 0
    rows = pd.read_csv(out / "urbansound8k.csv", dtype={"fold": str})
    assert rows["pipeline"].tolist() == ["distilled:logmel-linear (student epochs 1)"] * 2
    assert rows["fold"].tolist() == ["1", "2"] and len(calls) == 2
    md = (out / "urbansound8k.md").read_text()
    assert "| `distilled:logmel-linear (student epochs 1)` |" in md
    assert not (out / "urbansound8k_features.csv").exists()  # the student's own frontend: n/a
