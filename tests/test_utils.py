"""Shared internal helpers in embedclf._utils: one implementation each."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from embedclf._utils.jsonsafe import json_safe
from embedclf._utils.parallel import run_in_parts
from embedclf._utils.random_state import check_generator


def test_json_safe_output_is_strict_json():
    value = {
        "a": np.float32(0.25),
        "b": (np.int64(2), np.array([1.5, np.nan])),
        "c": pd.NA,
        "d": pd.NaT,
        "e": float("nan"),
        "f": np.bool_(True),
        "g": "x",
    }
    text = json.dumps(json_safe(value), allow_nan=False)
    assert json.loads(text) == {
        "a": 0.25,
        "b": [2, [1.5, None]],
        "c": None,
        "d": None,
        "e": None,
        "f": True,
        "g": "x",
    }


def test_evaluation_report_and_cli_write_missing_values_the_same_way(tmp_path):
    from embedclf.evaluation import FoldReport

    report = FoldReport(
        name="r",
        per_fold=pd.DataFrame({"fold": [1], "accuracy": [1.0], "macro_f1": [1.0]}),
        predictions=pd.DataFrame({"y_true": ["a"], "y_pred": ["a"], "fold": [1]}),
        confusion=pd.DataFrame([[1]], index=["a"], columns=["a"]),
        labels=["a"],
        meta={"missing": float("nan"), "seconds": np.float64(2.0)},
    )
    report.save(tmp_path)
    with open(tmp_path / "report.json") as fh:
        saved = json.loads(fh.read(), parse_constant=lambda c: pytest.fail(f"invalid JSON {c}"))
    assert saved["missing"] is None and saved["seconds"] == 2.0


def test_run_in_parts_keeps_order_and_uses_every_item():
    items = [np.ones(n) for n in (5, 1, 9, 2, 7, 3)]
    seen = []
    out = run_in_parts(lambda part: (seen.append(len(part)), [len(x) for x in part])[1], items, 3)
    assert out == [5, 1, 9, 2, 7, 3] and sum(seen) == len(items) and len(seen) <= 3


def test_check_generator_accepts_the_documented_random_states():
    rs = np.random.RandomState(0)
    first = check_generator(np.random.RandomState(0)).integers(1 << 30)
    assert check_generator(rs).integers(1 << 30) == first
    assert check_generator(3).integers(1 << 30) == np.random.default_rng(3).integers(1 << 30)
    with pytest.raises(ValueError, match="random_state must be"):
        check_generator(1.5)


def test_thread_pool_and_fft_plans_start_afresh_in_a_forked_child():
    code = """
import os, sys, numpy as np
from embedclf._utils import parallel, fft
pool = parallel.executor()
with fft.FFTPlan.acquire(4, 8):
    pass
with parallel.single_threaded_blas():
    pid = os.fork()
    if pid == 0:
        ok = (parallel.executor() is not pool and fft.FFTPlan._pool == {}
              and parallel._BLAS["users"] == 0)
        os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    import embedclf

    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(embedclf.__file__))}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=60).returncode == 0
