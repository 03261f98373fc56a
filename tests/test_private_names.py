"""No module reads another's private names (issue #11): what one module needs of another is public API.

An AST scan of the product code (memory/, benchmarks/, tools/, scripts/): every `obj._name` whose `obj`
is not `self`/`cls` must name something the same module defines (its own classes' attributes, functions
or module globals), so a module may use the privates of the classes it defines, and nothing else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("memory", "benchmarks", "tools", "scripts")
STDLIB_PRIVATE_API = {"_replace", "_asdict", "_fields", "_make", "_getframe", "_exit"}  # documented stdlib names


def own_private_names(tree: ast.AST) -> set[str]:
    """Private names a module defines: `self._x`/`cls._x` attributes, class-level names, functions, globals, slots."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")):
            names.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("_"):
            names.add(node.value)  # __slots__ entries, setattr/getattr of its own attributes
    return names


def foreign_private_reads(source: str, name: str) -> list[str]:
    """`name:line: expression` of each private name the module `source` reads from another module."""
    tree = ast.parse(source, name)
    own = own_private_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        if node.attr not in own and node.attr not in STDLIB_PRIVATE_API:
            found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    for node in ast.walk(tree):  # `from x import _private` (an underscored module of our own, e.g. _speedups, is fine)
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            found.extend(f"{name}:{node.lineno}: from {'.' * node.level}{node.module or ''} import {alias.name}"
                         for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__"))
    return found


def product_modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_no_module_reads_another_modules_private_names():
    assert len(product_modules()) > 40  # the scan sees the tree (a moved package would make it vacuous)
    offenders = [line for path in product_modules()
                 for line in foreign_private_reads(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert offenders == []


@pytest.mark.parametrize("source, expected", [
    ("class A:\n    def f(self, other):\n        return other._x + self._x\n", []),  # own class's private
    ("def f(idx):\n    return idx._pending\n", ["2: idx._pending"]),                  # someone else's
    ("import sys\nsys._getframe()\n", []),
    ("from .systems import _Handle, open_system\n", ["1: from .systems import _Handle"]),
    ("from ._speedups import walk as _walk\n", []),
])
def test_the_scan_tells_own_from_foreign_privates(source, expected):
    assert [line.split(":", 1)[1] for line in foreign_private_reads(source, "probe")] == expected
