"""Every name is imported from the module that defines it (issue 21.6): no `__all__` lists a name the
module only imported, and no package `__init__` imports names for others to take from it. A shim makes
two homes for one name, and an import from the wrong one hides which layer a name belongs to."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.imports import ROOT

PARTS = ("shared", "functions", "bench")


def _sources() -> list[Path]:
    return sorted(p for part in PARTS for p in (ROOT / part).rglob("*.py"))


def _defined(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _listed(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            assert isinstance(node.value, (ast.List, ast.Tuple))
            return [e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return None


def _ours(node: ast.ImportFrom) -> bool:
    return node.level > 0 or (node.module or "").split(".")[0] in PARTS


def test_no_all_lists_a_name_defined_elsewhere() -> None:
    with_all = 0
    borrowed: dict[str, list[str]] = {}
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        listed = _listed(tree)
        if listed is None:
            continue
        with_all += 1
        defined = _defined(tree)
        if missing := [name for name in listed if name not in defined]:
            borrowed[str(path.relative_to(ROOT))] = missing
    assert with_all >= 15  # the modules that declare their names were all read
    assert borrowed == {}


def test_no_package_init_imports_our_names_for_others() -> None:
    inits = [p for p in _sources() if p.name == "__init__.py"]
    assert len(inits) >= 10
    importing = [
        str(p.relative_to(ROOT))
        for p in inits
        if any(isinstance(n, ast.ImportFrom) and _ours(n) for n in ast.parse(p.read_text(encoding="utf-8")).body)
    ]
    assert importing == []
