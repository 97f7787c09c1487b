"""The project's import graph, read from the source with ast: what the import contract and the
package checks walk."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    files = [ROOT / "function_app.py", *sorted((ROOT / "functions").rglob("*.py"))]
    files += sorted((ROOT / "shared").rglob("*.py"))
    return {module_name(p): p for p in files}


MODULES = project_modules()


def absolute(node: ast.ImportFrom, path: Path) -> str:
    """The module a `from … import` names, relative ones (`from ..web import app`) resolved against `path`."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()  # a module's own name is not part of its package
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """The project modules a file imports, resolved to the deepest module that exists."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # `from shared.web import api` imports shared.web.api when that is a module
            module = absolute(node, path)
            names = [f"{module}.{alias.name}" for alias in node.names] + [module]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name:
                yield name, node.lineno


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "shared":
        return parts[0]  # function_app, functions
    if len(parts) == 1:
        return None  # the package itself: path constants only
    return parts[1]


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _ in imports_of(path):
            if target != name:
                graph[name].add(target)
    return graph
