"""One name, one thing (issue 21.6): below the web layer, no two modules define a public class or
function of the same name. Two `Handled` classes and two `coordinator_contact` functions with different
return types were one import away from a silent mix-up. The web layer is left out: route handlers
(`verify`, `withdraw`) are named for their path in each router on purpose."""

from __future__ import annotations

import ast
from collections import defaultdict

from tests.support.imports import ROOT

LAYERS = ("core", "adapters", "services")


def test_no_public_name_is_defined_twice_below_the_web_layer() -> None:
    homes: dict[str, list[str]] = defaultdict(list)
    modules = sorted(p for layer in LAYERS for p in (ROOT / "shared" / layer).rglob("*.py"))
    for path in modules:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and not node.name.startswith("_"):
                homes[node.name].append(str(path.relative_to(ROOT)))
    assert len(modules) >= 60
    assert len(homes) >= 300  # every public name of the three layers was seen
    assert {name: where for name, where in homes.items() if len(where) > 1} == {}
