"""Fixtures for the infrastructure checks: the Bicep templates parsed once with pycep-parser and
scanned once with checkov, both from .venv-infra (their own virtual environment, see Makefile).

No Bicep compiler or az CLI exists on these machines, so these tests are what stands between a
template and a failed deployment: parse, wiring of modules and parameters, app settings against
the Settings class, checkov, and the deploy script's commands.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
MODULES = INFRA / "modules"
INFRA_VENV = ROOT / ".venv-infra"
INFRA_PYTHON = INFRA_VENV / "bin" / "python"
CHECKOV = INFRA_VENV / "bin" / "checkov"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
MUNICIPALITY_FILES = sorted((INFRA / "municipalities").glob("*.json"))


def require_infra_venv() -> None:
    """Fail, never skip: a missing checkov would otherwise pass every infrastructure check."""
    missing = [os.path.relpath(p, ROOT) for p in (INFRA_PYTHON, CHECKOV) if not p.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: checkov and pycep-parser live in .venv-infra. "
            "Create it with `make .venv-infra/.installed` (make test does this first).",
            pytrace=False,
        )


def run_infra_python(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    require_infra_venv()
    return subprocess.run(
        [str(INFRA_PYTHON), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def parse_bicep(paths: list[Path]) -> dict[str, Any]:
    """{str(path): {"ok": True, "template": {...}} | {"ok": False, "error": "..."}} via pycep."""
    done = run_infra_python(str(Path(__file__).with_name("bicep_dump.py")), *map(str, paths))
    assert done.returncode == 0, f"bicep_dump.py failed:\n{done.stderr}"
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def parsed() -> dict[str, Any]:
    return parse_bicep(BICEP_FILES)


def template_of(parsed: dict[str, Any], path: Path) -> dict[str, Any]:
    result = parsed[str(path)]
    if not result["ok"]:
        pytest.fail(f"{path.relative_to(ROOT)} does not parse with pycep-parser: {result['error']}", pytrace=False)
    return result["template"]


@pytest.fixture(scope="session")
def main_template(parsed: dict[str, Any]) -> dict[str, Any]:
    return template_of(parsed, MAIN)


def unquote(key: str) -> str:
    """pycep keeps the quotes of quoted object keys: 'a-b' -> a-b."""
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def dotted(expression: Any) -> str | None:
    """`a.b.c` for a pycep property-access chain, else None."""
    if isinstance(expression, str):
        return expression
    operator = expression.get("operator", {}) if isinstance(expression, dict) else {}
    if operator.get("type") != "property_accessor":
        return None
    first, rest = dotted(operator["operands"]["operand_1"]), dotted(operator["operands"]["operand_2"])
    return f"{first}.{rest}" if first and rest else None


def decorators(declaration: dict[str, Any]) -> dict[str, Any]:
    return {d["type"]: d.get("argument") for d in declaration.get("decorators", [])}


def has_default(declaration: dict[str, Any]) -> bool:
    return declaration.get("default") is not None


def load_infra_module(name: str) -> ModuleType:
    """infra/<name>.py imported by path (infra is not a package)."""
    spec = importlib.util.spec_from_file_location(f"infra_{name}", INFRA / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def deploy_params() -> ModuleType:
    return load_infra_module("deploy_params")


@pytest.fixture(scope="session")
def app_settings(parsed: dict[str, Any]) -> dict[str, Any]:
    """The app settings the template sets: main.bicep's appSettings variable, handed to the
    function app module, plus what that module's appsettings config adds to it."""
    main = template_of(parsed, MAIN)
    settings = {unquote(k): v for k, v in main["variables"]["appSettings"]["value"].items()}
    call = main["modules"]["functionApp"]["config"]["params"]
    assert call["appSettings"] == "appSettings", "main.bicep must pass its appSettings variable to the module"
    module = template_of(parsed, MODULES / "functionapp.bicep")
    configs = [
        r["config"]
        for r in module["resources"].values()
        if r["type"] == "Microsoft.Web/sites/config" and r["config"].get("name") == "appsettings"
    ]
    assert len(configs) == 1, "one appsettings config resource"
    union = configs[0]["properties"]["function"]
    assert union["type"] == "union", "the appsettings config is union(appSettings, {...})"
    arguments = list(union["parameters"].values())
    assert "appSettings" in arguments
    for argument in arguments:
        if isinstance(argument, dict):
            settings |= {unquote(k): v for k, v in argument.items()}
    return settings
