"""Modules talk through public seams, and data flows one way through the layers.

Every import of every module is read with :mod:`ast` (module-level and the
lazy ones inside functions alike). Layers, lowest first; a module may import
its own layer and the ones below, never one above:

=====  ==========  ===============================================================
layer  name        modules
=====  ==========  ===============================================================
0      base        ``embedclf`` (the package: lazy names only), ``audio``, ``files``,
                   ``threads``, ``modelfile``, ``weights``, ``sample_rate``,
                   ``_litert``, ``_utils``, ``exceptions``, ``labels``, ``distributed``: decoding,
                   safe files, a Dask cluster when one is active,
                   thread counts, model files, weight files, errors, small utilities
                   every layer may use
1      features    ``features.*``: log-mel, windows, pretrained embeddings
2      models      ``models.*``: KerasCNN, architectures, augmentation, CNN windows
3      distill     ``distill.*`` and ``recipe`` (the distillation recipe)
4      apps        ``pipelines``, ``evaluation``, ``predict``, ``stream``, ``datasets``
5      cli         ``cli.*`` (one module per command), ``studio.*`` (the web app) and
                   ``__main__``
=====  ==========  ===============================================================

A new module must be placed in :data:`LAYERS` (the test says so). A second
test refuses imports of another module's private names (``from x import _y``,
``x._y`` on an imported embedclf module) in the package and in
``benchmarks/``; :data:`KNOWN_PRIVATE` would list a justified exception
(it is empty).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "embedclf"

#: module (or package prefix) -> layer; the longest matching prefix decides
LAYERS = {
    "embedclf": 0,
    "embedclf.audio": 0,
    "embedclf.files": 0,
    "embedclf.threads": 0,
    "embedclf.modelfile": 0,
    "embedclf.weights": 0,
    "embedclf.sample_rate": 0,
    "embedclf._litert": 0,
    "embedclf._utils": 0,
    "embedclf.exceptions": 0,
    "embedclf.labels": 0,
    "embedclf.distributed": 0,
    "embedclf.features": 1,
    "embedclf.models": 2,
    "embedclf.distill": 3,
    "embedclf.recipe": 3,
    "embedclf.pipelines": 4,
    "embedclf.evaluation": 4,
    "embedclf.predict": 4,
    "embedclf.stream": 4,
    "embedclf.datasets": 4,
    "embedclf.cli": 5,
    "embedclf.studio": 5,
    "embedclf.__main__": 5,
}
NAMES = {0: "base", 1: "features", 2: "models", 3: "distill", 4: "apps", 5: "cli"}

#: (importing module, imported module, private name): private helpers used across modules
#: that another branch is giving a public home
KNOWN_PRIVATE = {}


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def is_module(name):
    """Whether ``name`` (dotted, from the repository root) is a module or package of ours."""
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def resolved(path, node):
    """The absolute module an ``ImportFrom`` node imports from."""
    if not node.level:
        return node.module or ""
    name = module_name(path)
    package = (name if path.name == "__init__.py" else name.rpartition(".")[0]).split(".")
    return ".".join(
        package[: len(package) - node.level + 1] + ([node.module] if node.module else [])
    )


def parse(path, source=None):
    return ast.parse(path.read_text() if source is None else source, str(path))


def imports(path, source=None):
    """``(module imported, names taken from it, line)`` for every import in the file.

    Relative imports are resolved; ``from package import submodule`` counts as an
    import of the submodule.
    """
    out = []
    for node in ast.walk(parse(path, source)):
        if isinstance(node, ast.Import):
            out += [(a.name, (), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = resolved(path, node)
            names = tuple(a.name for a in node.names)
            submodules = [n for n in names if is_module(f"{module}.{n}")]
            out += [(f"{module}.{n}", (), node.lineno) for n in submodules]
            out.append((module, tuple(n for n in names if n not in submodules), node.lineno))
    return out


def layer_of(module):
    """The layer of a module: its entry in LAYERS, or its package's (None: not placed)."""
    matches = [
        prefix
        for prefix in LAYERS
        if module == prefix or (prefix != "embedclf" and module.startswith(prefix + "."))
    ]
    return LAYERS[max(matches, key=len)] if matches else None


def package_files():
    return sorted(PACKAGE.rglob("*.py"))


def private(name):
    return name.startswith("_") and not name.startswith("__")


def dotted_module(node, bound):
    """The embedclf module an expression such as ``audio`` or ``embedclf.models.cnn`` names."""
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        parent = dotted_module(node.value, bound)
        if parent and is_module(f"{parent}.{node.attr}"):
            return f"{parent}.{node.attr}"
    return None


def private_uses(path, source=None):
    """``(module, private name, line)`` of another embedclf module's private names in a file.

    ``from x import _y`` and ``x._y`` where ``x`` names an imported embedclf module.
    """
    importer = module_name(path)
    tree = parse(path, source)
    bound, found = {}, []  # bound: local name -> the embedclf module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("embedclf"):
                    bound[a.asname or "embedclf"] = a.name if a.asname else "embedclf"
        elif isinstance(node, ast.ImportFrom):
            module = resolved(path, node)
            if not module.startswith("embedclf") or module == importer:
                continue
            for a in node.names:
                if is_module(f"{module}.{a.name}"):
                    bound[a.asname or a.name] = f"{module}.{a.name}"
                elif private(a.name):
                    found.append((module, a.name, node.lineno))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            module = dotted_module(node.value, bound)
            if module and module != importer:
                found.append((module, node.attr, node.lineno))
    return sorted(found, key=lambda f: f[2])


def test_every_module_has_a_layer():
    unplaced = [module_name(p) for p in package_files() if layer_of(module_name(p)) is None]
    assert not unplaced, f"place these modules in LAYERS (tests/test_layers.py): {unplaced}"


def test_lower_layers_never_import_higher_ones():
    broken = []
    for path in package_files():
        importer = module_name(path)
        own = layer_of(importer)
        for module, _, line in imports(path):
            if not module.startswith("embedclf"):
                continue
            theirs = layer_of(module)
            if theirs is not None and theirs > own:
                broken.append(
                    f"{path.relative_to(ROOT)}:{line}: {importer} ({NAMES[own]}) "
                    f"imports {module} ({NAMES[theirs]})"
                )
    assert not broken, "\n".join(broken)


def checked_files():
    return package_files() + sorted((ROOT / "benchmarks").glob("*.py"))


def test_no_module_uses_another_modules_private_names():
    offenders, known = [], set()
    for path in checked_files():
        importer = module_name(path)
        for module, name, line in private_uses(path):
            if (importer, module, name) in KNOWN_PRIVATE:
                known.add((importer, module, name))
                continue
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {module}.{name}")
    assert not offenders, (
        "make these public (or move them to a shared module with public "
        "names):\n" + "\n".join(offenders)
    )
    stale = set(KNOWN_PRIVATE) - known
    assert not stale, f"no longer used, remove from KNOWN_PRIVATE: {sorted(stale)}"


@pytest.mark.parametrize(
    "code, expected",
    [
        ("from embedclf.audio import _check_X\n", [("embedclf.audio", "_check_X")]),
        ("from ..audio import load_clips, _is_path\n", [("embedclf.audio", "_is_path")]),
        ("import embedclf.audio\nembedclf.audio._check_X([])\n", [("embedclf.audio", "_check_X")]),
        ("from embedclf import audio as a\na._is_path('x')\n", [("embedclf.audio", "_is_path")]),
        (
            "def f():\n    from embedclf.models import cnn\n    return cnn._seeded\n",
            [("embedclf.models.cnn", "_seeded")],
        ),
        ("from embedclf import __version__\nfrom embedclf.audio import load_clips\n", []),
        ("import numpy as np\nnp._pytesttester\n", []),
    ],
)
def test_private_name_check_sees_every_form(code, expected):
    # the checker itself: each way of reaching another module's private name is caught
    # (the code read as if it were embedclf/models/probe.py)
    probe = PACKAGE / "models" / "probe.py"
    assert [(m, n) for m, n, _ in private_uses(probe, code)] == expected


def test_layer_check_sees_lazy_imports():
    # a function-level import of a higher layer counts like a module-level one
    probe = PACKAGE / "features" / "probe.py"
    code = "def f():\n    from ..distill import Distiller\n    return Distiller\n"
    [(module, names, line)] = imports(probe, code)
    assert (module, names, line) == ("embedclf.distill", ("Distiller",), 2)
    assert layer_of(module) > layer_of(module_name(probe))
