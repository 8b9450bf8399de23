"""MkDocs hook: one API reference page per public module, generated at build time.

Every module of the ``embedclf`` package whose dotted name has no part starting with an
underscore gets a page. A module's page renders the names in its ``__all__`` with
mkdocstrings; a package's page renders its docstring and the names it defines itself, and
links each name it re-exports to the module that defines it. New modules and new ``__all__``
entries therefore appear in the site without editing the docs. Everything is read statically
(no package import), so building the docs never imports TensorFlow.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "embedclf"
API_SECTION = "API reference"


def public_modules(root: Path = ROOT) -> list[tuple[str, Path, bool]]:
    """``(dotted name, source file, is_package)`` of every public module, sorted by name."""
    found = []
    for path in (root / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        found.append((".".join(parts), path, is_package))
    return sorted(found)


def exported_names(path: Path) -> list[str]:
    """The module's ``__all__``, read from its source (a list literal or ``sorted(<dict>)``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assigned = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                assigned[target.id] = node.value
    value = assigned.get("__all__")
    if value is None:
        return []
    if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "sorted":
        value = value.args[0]
        if isinstance(value, ast.Name):
            value = assigned[value.id]
    names = ast.literal_eval(value)
    return sorted(names) if isinstance(names, dict) else list(names)


def reexport_sources(module: str, path: Path) -> dict[str, str]:
    """Where a package's re-exported names are defined: ``{name: dotted module}``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    sources = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module.split(".")[: len(module.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sources[alias.asname or alias.name] = target
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and getattr(node.targets[0], "id", None) == "_LAZY"
        ):
            sources.update(ast.literal_eval(node.value))  # embedclf's lazy {name: module}
    return sources


def page_path(module: str) -> str:
    return f"api/{module}.md"


def page_markdown(module: str, path: Path, is_package: bool) -> str:
    if not is_package:
        return f"::: {module}\n"
    sources = reexport_sources(module, path)
    names = exported_names(path)
    own = [name for name in names if name not in sources]  # defined in the package itself
    rows = [
        f"| [`{name}`][{sources[name]}.{name}] | [`{sources[name]}`][{sources[name]}] |"
        for name in names
        if name in sources
    ]
    table = ["| name | defined in |", "|---|---|", *rows] if rows else []
    members = f"[{', '.join(own)}]" if own else "false"
    return "\n".join([f"::: {module}", "    options:", f"      members: {members}", "", *table, ""])


def on_config(config):
    pages = [{module: page_path(module)} for module, _, _ in public_modules()]
    for entry in config["nav"]:
        if isinstance(entry, dict) and API_SECTION in entry:
            entry[API_SECTION] = pages
            break
    else:
        config["nav"].append({API_SECTION: pages})
    return config


def on_files(files, config):
    from mkdocs.structure.files import File

    for module, path, is_package in public_modules():
        files.append(
            File.generated(
                config, page_path(module), content=page_markdown(module, path, is_package)
            )
        )
    return files
