"""The import contract: the layers of docs/architecture.md, checked on the source (`make lint` runs it too).

Every import counts, also those inside functions: a lazy import still ties two modules together.

    core       imports nothing of the project (the shared package's path constants aside)
    settings   core
    adapters   core, settings
    services   core, settings, adapters
    web        core, settings, adapters, services, composition
    local      anything in shared (make dev only; never deployed)
    composition   core, settings, adapters, services
and nothing in shared/ imports function_app or functions/; no module imports itself round a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# layer -> the layers it may import (besides itself and the bare `shared` package)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "settings": {"core"},
    "adapters": {"core", "settings"},
    "services": {"core", "settings", "adapters"},
    "composition": {"core", "settings", "adapters", "services"},
    "web": {"core", "settings", "adapters", "services", "composition"},
    "local": {"core", "settings", "adapters", "services", "composition", "web"},
}


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


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """The project modules a file imports, resolved to the deepest module that exists."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from shared.web import api` imports shared.web.api when that is a module
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
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


def test_every_module_of_shared_belongs_to_a_known_layer() -> None:
    layers = {layer_of(m) for m in MODULES if m.startswith("shared.")}
    assert layers <= set(ALLOWED), f"sub-packages without a rule here: {sorted(layers - set(ALLOWED))}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("shared")))
def test_layers_import_only_inward(module: str) -> None:
    own = layer_of(module)
    wrong = []
    for target, line in imports_of(MODULES[module]):
        theirs = layer_of(target)
        if theirs is None or theirs == own or own is None:
            if own is None and theirs is not None:
                wrong.append(f"line {line}: {target} (the bare shared package holds path constants only)")
            continue
        if theirs in ("function_app", "functions"):
            wrong.append(f"line {line}: {target} (the entry points import shared, never the other way)")
        elif theirs not in ALLOWED[own]:
            wrong.append(f"line {line}: {target} ({own} may import {sorted(ALLOWED[own]) or 'nothing of ours'})")
    assert not wrong, f"{module} breaks the import contract:\n  " + "\n  ".join(wrong)


def test_no_import_cycles() -> None:
    graph = edges()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            # A package's __init__ importing its own sub-modules is how packages re-export, not a cycle.
            if node.startswith(target + "."):
                continue
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n  " + "\n  ".join(" -> ".join(c) for c in cycles)


def test_the_contract_sees_real_imports() -> None:
    # Guards the checker itself: a known inward import is found, so an empty graph cannot pass silently.
    graph = edges()
    assert "shared.core.organisation" in graph["shared.settings"]
    assert any(t.startswith("shared.services.") for t in graph["shared.composition"])
    assert "functions.http" in graph["function_app"]
