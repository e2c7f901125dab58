"""Dependencies point one way: ui -> agent -> knowledge, and only ui imports Streamlit.

Checked statically with ``ast`` over every module, so an import inside a function (a lazy
import that a run might never reach) counts as much as one at the top of the file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FORBIDDEN = {
    "knowledge": {"agent", "ui", "streamlit"},
    "agent": {"ui", "streamlit"},
}
"""For each package, the top-level packages none of its modules may import."""


def imported(source: str, module: str) -> set[str]:
    """Return the top-level names of every package ``source`` imports, at any depth of the file.

    ``module`` is the dotted name of the file, to resolve relative imports.

    >>> sorted(imported("import a.b\\ndef f():\\n    from c.d import e\\n    from . import g", "pkg.mod"))
    ['a', 'c', 'pkg']
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: within the file's own package
                names.add(module.split(".")[0])
            elif node.module:
                names.add(node.module.split(".")[0])
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def violations(package: str) -> list[str]:
    found = []
    for path in modules(package):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for name in sorted(imported(path.read_text(encoding="utf-8"), dotted) & FORBIDDEN[package]):
            found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_never_imports_a_layer_above_it(package: str) -> None:
    assert modules(package), package  # the check looked at something
    assert violations(package) == []


def test_a_lazy_import_inside_a_function_is_seen() -> None:
    source = "def render():\n    if True:\n        import streamlit as st\n        from ui.app import main\n"
    assert imported(source, "knowledge.example") == {"streamlit", "ui"}


def test_only_ui_imports_streamlit_among_the_code_that_ships() -> None:
    shipped = [p for p in ROOT.glob("*") if p.is_dir() and (p / "__init__.py").exists() and p.name != "tests"]
    users = {p.name for p in shipped for f in modules(p.name) if "streamlit" in imported(f.read_text(), p.name)}
    assert users <= {"ui"}, users
