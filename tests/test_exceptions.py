"""One exceptions module: every embedclf error and warning is defined in
``embedclf.exceptions`` and still importable from the module that raises it."""

import ast
import importlib
import pickle
from pathlib import Path

import pytest

import embedclf
from embedclf import exceptions

OLD_HOMES = {
    "AudioError": "embedclf.audio",
    "SkippedClipsWarning": "embedclf.audio",
    "DatasetError": "embedclf.datasets",
    "ModelFileError": "embedclf.modelfile",
    "UntrustedModelError": "embedclf.modelfile",
    "WeightsNotFoundError": "embedclf.weights",
    "BudgetError": "embedclf.distill",
    "UnsupportedOpError": "embedclf.distill.export",
    "TeacherClassesWarning": "embedclf.distill.flow",
    "TeacherTargetsWarning": "embedclf.distill.distiller",
    "ResamplingWarning": "embedclf.stream",
    "ToolMissingError": "embedclf.distill.verify",
    "UnsupportedNetworkError": "embedclf.distill.clib",
    "ClusterUnavailableError": "embedclf.distributed",
    "ProjectError": "embedclf.studio.project",
}


@pytest.mark.parametrize("name", sorted(OLD_HOMES))
def test_old_import_paths_give_the_same_class(name):
    assert getattr(importlib.import_module(OLD_HOMES[name]), name) is getattr(exceptions, name)
    assert getattr(exceptions, name).__module__ == "embedclf.exceptions"


def test_every_exception_class_in_the_package_is_defined_in_exceptions():
    # The CLI's own CLIError never leaves the command line, so it stays there.
    root = Path(embedclf.__file__).parent
    elsewhere = []
    for path in root.rglob("*.py"):
        if path.name == "exceptions.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ClassDef)
                and node.name != "CLIError"
                and node.name.endswith(("Error", "Warning", "Exception"))
            ):
                elsewhere.append(f"{path.relative_to(root)}:{node.name}")
    assert elsewhere == []
    assert sorted(exceptions.__all__) == sorted(OLD_HOMES)


def test_errors_with_fields_pickle_with_them():
    err = pickle.loads(pickle.dumps(exceptions.AudioError("a.wav", "file not found")))
    assert (err.source, err.reason, str(err)) == (
        "a.wav",
        "file not found",
        "a.wav: file not found",
    )
    err = exceptions.UntrustedModelError("refused", ("x.Y",))
    assert err.types == ["x.Y"] and isinstance(err, exceptions.ModelFileError)
