"""HTTP concurrency per instance is set, not left to the platform's Python default of one request
per instance.

Source: https://learn.microsoft.com/azure/azure-functions/functions-concurrency — "For Python
apps, the default HTTP trigger concurrency for all instances sizes is 1"; on Flex Consumption the
setting is functionAppConfig.scaleAndConcurrency.triggers.http.perInstanceConcurrency
(https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#concurrency), which
replaces the FUNCTIONS_MAX_HTTP_CONCURRENCY app setting (functions-app-settings, Flex deprecations).
With 1, every concurrent resident is a new instance and, at 512 MB, a cold start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import MAIN, MODULES, MUNICIPALITY_FILES, decorators, template_of

FUNCTION_APP = MODULES / "functionapp.bicep"


def site(template: dict[str, Any]) -> dict[str, Any]:
    (found,) = [r["config"] for r in template["resources"].values() if r["type"] == "Microsoft.Web/sites"]
    return found


def test_the_site_sets_http_concurrency_per_instance_from_a_parameter(parsed: dict[str, Any]) -> None:
    module = template_of(parsed, FUNCTION_APP)
    scale = site(module)["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["triggers"]["http"]["perInstanceConcurrency"] == "httpPerInstanceConcurrency"
    declared = module["parameters"]["httpPerInstanceConcurrency"]
    assert declared["type"] == "int"
    bounds = decorators(declared)
    assert (bounds["min_value"], bounds["max_value"]) == (1, 1000)
    assert declared["default"] > 1, "not the platform's Python default of one request per instance"


def test_main_passes_its_parameter_on_with_a_default_above_one(parsed: dict[str, Any]) -> None:
    main = template_of(parsed, MAIN)
    assert main["modules"]["functionApp"]["config"]["params"]["httpPerInstanceConcurrency"] == (
        "httpPerInstanceConcurrency"
    )
    assert main["parameters"]["httpPerInstanceConcurrency"]["default"] == 16


@pytest.mark.parametrize("path", MUNICIPALITY_FILES, ids=lambda p: p.stem)
def test_each_municipality_serves_several_requests_per_instance(
    path: Path, deploy_params: Any, main_template: dict[str, Any]
) -> None:
    document = deploy_params.load(path)
    default = main_template["parameters"]["httpPerInstanceConcurrency"]["default"]
    value = deploy_params.template_parameters(document).get("httpPerInstanceConcurrency", default)
    assert value > 1
    if document["deployment"].get("instanceMemoryMB") == 512:
        assert value <= 8, "a quarter core: its CPU, not its I/O, runs out first"


@pytest.mark.parametrize("bad", [0, 1001, "16", 2.5, True])
def test_the_municipality_file_value_is_checked(deploy_params: Any, bad: object) -> None:
    base = {"location": "swedencentral", "namePrefix": "gs-x", "smsSender": "Gruppstart"}
    document = {"deployment": base | {"httpPerInstanceConcurrency": bad}, "organisation": {"id": "x"}}
    problems = deploy_params.check_deployment(Path("x.json"), document)
    assert [p for p in problems if "httpPerInstanceConcurrency" in p], problems
    document["deployment"]["httpPerInstanceConcurrency"] = 8
    assert not [p for p in deploy_params.check_deployment(Path("x.json"), document) if "Concurrency" in p]
