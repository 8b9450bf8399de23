"""The docs site builds with warnings as errors, and documents every public name."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("intro", "results", "guarantees", "security")


def _hook():
    path = ROOT / "docs" / "hooks" / "api_pages.py"
    spec = importlib.util.spec_from_file_location("api_pages", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARNING" not in run.stderr, run.stderr
    return out


def test_docs_build_strict_and_api_documents_every_exported_name(site):
    hook = _hook()
    modules = hook.public_modules()
    assert {"embedclf", "embedclf.audio", "embedclf.distill.export"} <= {m for m, _, _ in modules}
    missing = []
    for module, path, is_package in modules:
        html = (site / "api" / module / "index.html").read_text(encoding="utf-8")
        names = hook.exported_names(path)
        if not is_package:
            assert names, f"{module} has no __all__"
        for name in names:
            if is_package and name in hook.reexport_sources(module, path):
                # a link to the name's entry in the module that defines it
                found = re.search(rf'href="[^"]*#embedclf\.[\w.]*\.{name}"', html) is not None
            else:
                found = f'id="{module}.{name}"' in html
            if not found:
                missing.append(f"{module}.{name}")
    assert missing == []


def test_readme_sections_written_once_between_snippet_markers(site):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in MARKERS:
        start = readme.find(f"<!-- --8<-- [start:{name}] -->")
        end = readme.find(f"<!-- --8<-- [end:{name}] -->")
        assert 0 <= start < end, name
    assert len(readme.splitlines()) < 200
    # text from inside each of the README's sections arrives in the site
    pages = {
        name: (site / page / "index.html").read_text(encoding="utf-8")
        for name, page in [("home", "."), ("results", "results"), ("guarantees", "guarantees")]
    }
    assert "Point it at a pile" in pages["home"]
    assert "95.6% of its teacher" in pages["results"]
    assert "Features do not depend on their batch" in pages["guarantees"]
    assert re.search(r"skops\.io\.get_untrusted_types", pages["guarantees"])


def test_the_evaluation_guide_lists_every_named_pipeline():
    from embedclf.pipelines import available_pipelines

    text = (ROOT / "docs" / "guide" / "evaluation.md").read_text()
    section = text.split("## Named pipelines", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([a-z0-9-]+)`", section))
    assert set(available_pipelines()) <= listed, set(available_pipelines()) - listed
