"""Each municipality file is a valid organisation for the app, and gives the template exactly the
parameters it declares (through infra/deploy_params.py, the mapping deploy.sh and azd use)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.core.organisation import parse_organisation
from tests.infra.conftest import INFRA, MUNICIPALITY_FILES, ROOT, decorators, has_default, template_of

JSON_TYPES = {"string": (str,), "int": (int,), "bool": (bool,), "object": (dict,), "array": (list,)}


def parameter_problems(declared: dict[str, Any], given: dict[str, Any], filled_in: tuple[str, ...]) -> list[str]:
    """What the deployment would reject: unknown or missing parameters, wrong types, values
    outside @allowed / @minLength / @maxLength / @minValue / @maxValue."""
    problems = [f"{name}: not a parameter of main.bicep" for name in sorted(set(given) - set(declared))]
    for name, declaration in declared.items():
        if name not in given:
            if not has_default(declaration) and name not in filled_in:
                problems.append(f"{name}: required by main.bicep, not given")
            continue
        value, kind = given[name], declaration["type"]
        if not isinstance(value, JSON_TYPES[kind]) or (kind == "int" and isinstance(value, bool)):
            problems.append(f"{name}: {kind} expected, got {type(value).__name__}")
            continue
        rules = decorators(declaration)
        if "allowed" in rules and value not in rules["allowed"]:
            problems.append(f"{name}: {value!r} not one of {rules['allowed']}")
        if "min_length" in rules and len(value) < rules["min_length"]:
            problems.append(f"{name}: shorter than {rules['min_length']}")
        if "max_length" in rules and len(value) > rules["max_length"]:
            problems.append(f"{name}: longer than {rules['max_length']}")
        if "min_value" in rules and value < rules["min_value"]:
            problems.append(f"{name}: below {rules['min_value']}")
        if "max_value" in rules and value > rules["max_value"]:
            problems.append(f"{name}: above {rules['max_value']}")
    return problems


def test_there_are_examples_for_sweden_and_norway() -> None:
    countries = {json.loads(p.read_text(encoding="utf-8"))["organisation"]["country"] for p in MUNICIPALITY_FILES}
    assert countries >= {"SE", "NO"}


@pytest.mark.parametrize("path", MUNICIPALITY_FILES, ids=lambda p: p.stem)
def test_organisation_validates_with_the_app_model(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    organisation = parse_organisation(document["organisation"])
    assert organisation.id == path.stem


@pytest.mark.parametrize("path", MUNICIPALITY_FILES, ids=lambda p: p.stem)
def test_deployment_part_passes_the_deploy_checks(path: Path, deploy_params: Any) -> None:
    assert deploy_params.check_deployment(path, deploy_params.load(path)) == []


@pytest.mark.parametrize("path", MUNICIPALITY_FILES, ids=lambda p: p.stem)
def test_gives_exactly_the_template_parameters(path: Path, main_template: dict[str, Any], deploy_params: Any) -> None:
    given = deploy_params.template_parameters(deploy_params.load(path))
    problems = parameter_problems(main_template["parameters"], given, deploy_params.FILLED_IN_BY_DEPLOY)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_parameters_the_deploy_fills_in_have_defaults(
    main_template: dict[str, Any], parsed: dict[str, Any], deploy_params: Any
) -> None:
    budget = template_of(parsed, INFRA / "budget.bicep")["parameters"]
    for name in deploy_params.FILLED_IN_BY_DEPLOY:
        declared = main_template["parameters"].get(name) or budget[name]
        assert has_default(declared), name


@pytest.mark.parametrize("path", MUNICIPALITY_FILES, ids=lambda p: p.stem)
def test_gives_exactly_the_budget_templates_parameters(path: Path, parsed: dict[str, Any], deploy_params: Any) -> None:
    budget = template_of(parsed, INFRA / "budget.bicep")["parameters"]
    given = deploy_params.budget_parameters(deploy_params.load(path))
    assert "monthlyBudget" in given
    problems = parameter_problems(budget, given, deploy_params.FILLED_IN_BY_DEPLOY)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_the_parameter_check_catches_unknown_missing_and_mistyped(
    main_template: dict[str, Any], deploy_params: Any
) -> None:
    document = deploy_params.load(MUNICIPALITY_FILES[0])
    given = deploy_params.template_parameters(document)
    given = {k: v for k, v in given.items() if k != "namePrefix"} | {"smsSenderr": "x", "joinWindowDays": "14"}
    problems = "\n".join(parameter_problems(main_template["parameters"], given, ()))
    assert "smsSenderr: not a parameter" in problems
    assert "namePrefix: required" in problems
    assert "joinWindowDays: int expected" in problems


def test_deploy_checks_catch_a_bad_deployment_part(tmp_path: Path, deploy_params: Any) -> None:
    document = deploy_params.load(MUNICIPALITY_FILES[0])
    document["deployment"] |= {"namePrefix": "GS_bad", "smsSender": "A sender far too long", "deployerPrincipalId": "x"}
    path = tmp_path / "other-name.json"
    problems = "\n".join(deploy_params.check_deployment(path, document))
    for fragment in ("namePrefix", "smsSender", "deployerPrincipalId", "must equal the file name"):
        assert fragment in problems


def test_parameters_file_carries_the_organisation_unchanged(deploy_params: Any) -> None:
    for path in MUNICIPALITY_FILES:
        document = deploy_params.load(path)
        parameters = deploy_params.parameters_file(document)["parameters"]
        assert parameters["organisation"]["value"] == document["organisation"]
        main = {k: v["value"] for k, v in parameters.items() if k != "organisation"}
        budget = {k: v["value"] for k, v in deploy_params.parameters_file(document, budget=True)["parameters"].items()}
        assert main | budget == document["deployment"], "every key goes to one template or both"
        assert set(main) & set(budget) == set(deploy_params.BUDGET_SHARED) & set(document["deployment"])
    # No file names an alert e-mail yet, so the loop compared two empty sets: one that does goes to both.
    document["deployment"] |= {"alertEmail": "drift@example.org"}
    main = deploy_params.parameters_file(document)["parameters"]
    budget = deploy_params.parameters_file(document, budget=True)["parameters"]
    assert set(main) & set(budget) == {"alertEmail"}
    assert budget["alertEmail"] == main["alertEmail"] == {"value": "drift@example.org"}


SCAFFOLD = ["infra/new_municipality.py", "--no-input"]
VAXJO = [
    "--id", "vaxjo", "--name", "Växjö kommun", "--country", "SE", "--minimum-age", "18",
    "--coordinator-phone", "+46701740605", "--consent-version", "2026-11",
    "--controller-email", "kommun@vaxjo.example", "--dpo-email", "dataskydd@vaxjo.example",
    "--themes-from", "region-jonkoping", "--sms-sender", "Vaxjo", "--area", "Centrum", "--area", "ost=Öster",
]  # fmt: skip


def scaffold(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *SCAFFOLD, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_scaffold_writes_a_valid_file_from_flags(
    tmp_path: Path, main_template: dict[str, Any], deploy_params: Any
) -> None:
    done = scaffold("--output-dir", str(tmp_path), *VAXJO)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "vaxjo.json"
    document = deploy_params.load(path)
    assert parse_organisation(document["organisation"]).name == "Växjö kommun"
    assert document["organisation"]["areas"] == [{"id": "centrum", "name": "Centrum"}, {"id": "ost", "name": "Öster"}]
    assert document["deployment"]["location"] == "swedencentral"
    assert deploy_params.check_deployment(path, document) == []
    given = deploy_params.template_parameters(document)
    assert parameter_problems(main_template["parameters"], given, deploy_params.FILLED_IN_BY_DEPLOY) == []
    again = scaffold("--output-dir", str(tmp_path), *VAXJO)
    assert again.returncode == 2 and "exists" in again.stderr, "never overwrites without --force"


def test_scaffold_refuses_missing_and_invalid_answers(tmp_path: Path) -> None:
    missing = scaffold("--output-dir", str(tmp_path), "--id", "vaxjo")
    assert missing.returncode == 2
    assert "--name" in missing.stderr and "--coordinator-phone" in missing.stderr
    bad = [a if a != "+46701740605" else "+4612" for a in VAXJO]
    invalid = scaffold("--output-dir", str(tmp_path), *bad)
    assert invalid.returncode == 2 and "coordinator_phone" in invalid.stderr
    assert not list(tmp_path.glob("*.json"))


def test_scaffold_check_mode_validates_the_examples() -> None:
    done = scaffold("--check", *map(str, MUNICIPALITY_FILES))
    assert done.returncode == 0, done.stdout + done.stderr
