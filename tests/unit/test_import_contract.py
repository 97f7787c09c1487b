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

import pytest

from tests.support.imports import MODULES, ROOT, edges, imports_of, layer_of

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


def test_no_test_module_imports_another() -> None:
    # Shared fixtures live in conftest.py, shared helpers in tests/support/: a test module imported by
    # others runs its tests twice and ties unrelated suites together.
    offenders = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.rpartition(".")[2].startswith("test_") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"test modules importing test modules: {offenders}"
