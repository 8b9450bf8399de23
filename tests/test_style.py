"""The code base is ruff-clean (lint and format), with the settings in pyproject.toml.

The test command runs this, so a change that breaks the style fails the suite the
same way the pre-commit hook would have stopped it.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args):
    try:
        import ruff  # noqa: F401
    except ImportError:
        if shutil.which("ruff") is None:
            pytest.skip("ruff is not installed: pip install 'embedclf[test]'")
        cmd = ["ruff"]
    else:
        cmd = [sys.executable, "-m", "ruff"]
    return subprocess.run([*cmd, *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_lint_is_clean():
    res = _ruff("check", "--no-cache", ".")
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_format_is_clean():
    res = _ruff("format", "--no-cache", "--check", ".")
    assert res.returncode == 0, "run `ruff format .`:\n" + res.stdout + res.stderr


def test_pre_commit_hook_pins_the_installed_ruff():
    # the hook and the test command must judge with the same ruff
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    res = _ruff("--version")
    version = res.stdout.split()[-1]
    assert f"rev: v{version}" in config, (version, config)
