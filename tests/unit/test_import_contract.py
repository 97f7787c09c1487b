"""The import contract: the layers of docs/architecture.md, checked on the source (`make lint` runs it too).

The contracts live in pyproject.toml (`[tool.importlinter]`) and import-linter checks them: every
import counts, relative and lazy ones included, and third-party imports too (core imports no SDK,
web framework or template engine; services reach Azure and Twilio only through adapters).

    core       imports nothing of the project (the shared package's path constants aside)
    settings   core
    adapters   core, settings
    services   core, settings, adapters
    composition   core, settings, adapters, services
    web        core, settings, adapters, services, composition
    local      anything in shared (make dev only; never deployed)
and nothing in shared/ imports function_app or functions/; no sibling modules import each other round
a cycle (shared/ and bench/). What import-linter cannot say stays hand-written below: that every
sub-package of shared/ has a layer, and that no test module imports another.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.imports import MODULES, ROOT, edges, layer_of

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
LAYERS = {"core", "settings", "adapters", "services", "composition", "web", "local"}


def lint_imports(where: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    chosen = [arg for c in contracts for arg in ("--contract", c)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *chosen],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_module_of_shared_belongs_to_a_known_layer() -> None:
    # import-linter checks the layers it is told of; a new sub-package would belong to none.
    layers = {layer_of(m) for m in MODULES if m.startswith("shared.")}
    assert layers == LAYERS, f"sub-packages without a rule: {sorted(layers - LAYERS)}"
    layered = next(c for c in CONTRACTS if c["id"] == "layers")["layers"]
    assert {name.removeprefix("shared.") for name in layered} == LAYERS


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    # Eight contracts in pyproject.toml, each named as kept: none silently dropped from the run.
    assert len(CONTRACTS) == 8
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout
    analysed = re.search(r"Analyzed (\d+) files", result.stdout)
    assert analysed and int(analysed.group(1)) >= 100, result.stdout


# Each contract, shown to fail: a copy of the tree with one forbidden import planted (file, line, contract).
PLANTED = [
    ("shared/core/codes.py", "from ..web import app  # noqa", "layers"),  # relative: the old checker skipped these
    ("shared/adapters/storage.py", "from shared.services import intake  # noqa", "layers"),
    ("shared/services/retention.py", "import function_app  # noqa", "entry-points-outside"),
    ("shared/web/app.py", "import bench.report  # noqa", "not-deployed"),
    ("shared/core/phone.py", "import jinja2  # noqa", "core-pure"),
    ("shared/services/intake.py", "from azure.data.tables import TableClient  # noqa", "services-no-sdk"),
    ("shared/services/notify.py", "import twilio.rest  # noqa", "services-no-sdk"),
    ("shared/adapters/templates.py", "import fastapi  # noqa", "adapters-no-web"),
    ("functions/http.py", "from functions import formation  # noqa", "triggers-independent"),
    ("shared/services/retention.py", "from shared.services import lifecycle  # noqa", "no-cycles"),
    ("bench/rows.py", "from bench import scaling  # noqa", "no-cycles"),
]


def test_every_contract_has_a_planted_breach() -> None:
    assert {contract for _, _, contract in PLANTED} == {c["id"] for c in CONTRACTS}


# Eleven runs of lint-imports over copies of the tree, ~10 s of CPU: `make test` only. The fast tier keeps
# the run over the tree itself (above) and `make lint` runs it too.
@pytest.mark.full
@pytest.mark.parametrize(("path", "line", "contract"), PLANTED, ids=[f"{c}:{p}" for p, _, c in PLANTED])
def test_a_planted_breach_breaks_its_contract(tmp_path: Path, path: str, line: str, contract: str) -> None:
    for part in ("shared", "functions", "bench"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__", "out"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / path).open("a", encoding="utf-8") as f:
        f.write(f"\n{line}\n")
    result = lint_imports(tmp_path, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout, result.stdout


def test_relative_imports_are_resolved_for_the_package_checks() -> None:
    # tests/infra/test_package_contents.py walks this graph: a relative import must count like any other.
    graph = edges()
    assert "shared.core.organisation" in graph["shared.settings"]
    assert any(t.startswith("shared.services.") for t in graph["shared.composition"])
    assert "functions.http" in graph["function_app"]
    source = ROOT / "shared" / "core" / "codes.py"
    tree = ast.parse("from ..web import app\nfrom . import phone\nfrom .. import settings\n")
    from tests.support.imports import absolute

    found = [absolute(node, source) for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert found == ["shared.web", "shared.core", "shared"]


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
