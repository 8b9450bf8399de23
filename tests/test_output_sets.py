"""Outputs written as consistent sets: a folder swapped in whole, a report marked complete last."""

import os

import pytest

from embedclf.files import check_replaceable, recover_folder, replace_folder


def write_set(tag):
    def write(folder):
        for name in ("model.bin", "header.h"):
            with open(os.path.join(folder, name), "w") as fh:
                fh.write(f"{tag} {name}")

    return write


def contents(folder):
    return {p.name: p.read_text() for p in folder.iterdir() if p.is_file()}


def test_failed_write_leaves_the_old_set_and_no_temporary_folder(tmp_path):
    out = tmp_path / "out"
    replace_folder(out, write_set("old"))

    def half(folder):
        write_set("new")(folder)
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        replace_folder(out, half)
    assert contents(out) == {"model.bin": "old model.bin", "header.h": "old header.h"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_user_files_are_carried_over_and_dropped_names_are_not(tmp_path):
    out = tmp_path / "out"
    replace_folder(out, write_set("old"))
    (out / "notes.md").write_text("mine")
    (out / "sub").mkdir()
    (out / "sub" / "x.txt").write_text("deep")
    (out / "stale.json").write_text("{}")
    replace_folder(out, write_set("new"), drop=["stale.json"])
    assert contents(out) == {
        "model.bin": "new model.bin",
        "header.h": "new header.h",
        "notes.md": "mine",
    }
    assert (out / "sub" / "x.txt").read_text() == "deep"


def test_crash_between_the_two_renames_is_repaired_by_the_next_call(tmp_path, monkeypatch):
    out = tmp_path / "out"
    replace_folder(out, write_set("old"))
    real_rename, calls = os.rename, []

    def dies_on_second(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies between the renames
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        replace_folder(out, write_set("new"))
    monkeypatch.setattr(os, "rename", real_rename)
    assert not out.exists()  # the old set is aside, the new one not yet in place
    assert recover_folder(out) is True
    assert contents(out) == {"model.bin": "old model.bin", "header.h": "old header.h"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert recover_folder(out) is False


def test_crash_after_the_swap_leaves_the_new_set_and_cleans_the_old(tmp_path):
    out = tmp_path / "out"
    replace_folder(out, write_set("new"))
    (tmp_path / ".out.old").mkdir()  # the old folder, not yet deleted
    replace_folder(out, write_set("newer"))
    assert contents(out)["model.bin"] == "newer model.bin"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_symlinked_folder_is_replaced_where_it_points(tmp_path):
    real = tmp_path / "real"
    replace_folder(real, write_set("old"))
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    replace_folder(link, write_set("new"))
    assert link.is_symlink() and contents(real)["model.bin"] == "new model.bin"


def test_the_working_directory_and_files_cannot_be_replaced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="current working directory"):
        replace_folder(tmp_path, write_set("x"))
    with pytest.raises(ValueError, match="current working directory"):
        check_replaceable(tmp_path.parent)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        replace_folder(tmp_path / "file", write_set("x"))


@pytest.fixture
def fold_report():
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from embedclf.evaluation import cross_validate_folds

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(3, 1, (20, 2))]
    y = np.r_[["low"] * 20, ["high"] * 20]
    return cross_validate_folds(LogisticRegression(), X, y, n_splits=2, name="toy", progress=False)


def test_report_json_is_written_last(fold_report, tmp_path, monkeypatch):
    from embedclf import evaluation

    order = []
    real_write, real_data = evaluation.atomic_write, evaluation.atomic_write_data
    monkeypatch.setattr(
        evaluation,
        "atomic_write",
        lambda p, w: (order.append(os.path.basename(p)), real_write(p, w)),
    )
    monkeypatch.setattr(
        evaluation,
        "atomic_write_data",
        lambda p, d: (order.append(os.path.basename(p)), real_data(p, d)),
    )
    fold_report.save(tmp_path / "rep")
    assert order[-1] == "report.json" and len(order) == 5


def test_a_failing_plot_or_csv_leaves_no_report_json(fold_report, tmp_path, monkeypatch):
    import matplotlib.figure
    import pandas as pd

    out = tmp_path / "rep"
    fold_report.save(out)
    assert (out / "report.json").exists()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(matplotlib.figure.Figure, "savefig", broken)
        with pytest.raises(OSError, match="disk full"):
            fold_report.save(out)
    assert not (out / "report.json").exists()  # the old marker is gone with the old set
    fold_report.save(out)
    with monkeypatch.context() as m:
        m.setattr(pd.DataFrame, "to_csv", broken)
        with pytest.raises(OSError, match="disk full"):
            fold_report.save(out)
    assert not (out / "report.json").exists()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files
    fold_report.save(out)
    assert (out / "report.json").exists()


def test_distill_refuses_the_working_directory_as_out_before_any_work(
    tmp_path, monkeypatch, capsys
):
    from embedclf.cli import main

    monkeypatch.chdir(tmp_path)
    # the teacher file does not even exist: the folder is checked first
    assert main(["distill", "--teacher", "missing.joblib", "--data", ".", "--out", "."]) == 1
    err = capsys.readouterr().err
    assert "current working directory" in err and "missing.joblib" not in err
