"""Packaging habits: a licence file that pyproject names, and the version written in one place."""

import ast
import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the copy pip vendors
    from pip._vendor import tomli as tomllib

import embedclf

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_license_file_present_and_named_in_pyproject():
    project = _pyproject()["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text


def test_version_single_sourced_from_package():
    project = _pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    attr = _pyproject()["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "embedclf.__version__"
    # setuptools reads the attribute statically when it is a literal assignment: check it is one
    tree = ast.parse((ROOT / "embedclf" / "__init__.py").read_text(encoding="utf-8"))
    literals = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
        and isinstance(node.value, ast.Constant)
    ]
    assert literals == [embedclf.__version__]


def test_version_written_nowhere_else():
    pattern = re.compile(r"""__version__\s*=|^\s*version\s*=\s*["']\d""", re.M)
    hits = [
        p.relative_to(ROOT).as_posix()
        for folder in ("embedclf", "benchmarks", "examples", "docs")
        for p in (ROOT / folder).rglob("*.py")
        if pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert hits == ["embedclf/__init__.py"]
    assert re.search(r"\d+\.\d+", embedclf.__version__)
