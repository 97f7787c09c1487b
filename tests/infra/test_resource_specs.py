"""The type check a Bicep compiler would do, without one: every resource in infra/*.bicep against
the REST API specification of its type and API version (excerpts in tests/infra/specs, copied
from Azure/azure-rest-api-specs; see tests/infra/spec_check.py for what is checked and how).

A property renamed by one letter, an enum value the API version does not know, a value of the
wrong type, a read-only or missing required property, or a resource type/API version with no
excerpt fails here; the mutation tests below prove each on copies of the parsed templates.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.infra.conftest import BICEP_FILES, ROOT, template_of
from tests.infra.spec_check import SPECS, Report, check_templates, declaration_body, load_excerpts

RESOURCE_DECLARATION = re.compile(r"^resource\s+\w+\s+'[^']+'", re.MULTILINE)
# The templates held 30 resources when this check was written, and the walk looked up 236
# property names in their schemas; far fewer would mean it stopped reaching the bodies.
RESOURCES_WHEN_WRITTEN = 30
PROPERTY_LOOKUPS_AT_LEAST = 200


@pytest.fixture(scope="module")
def templates(parsed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(path.relative_to(ROOT)): template_of(parsed, path) for path in BICEP_FILES}


def check(templates: dict[str, dict[str, Any]]) -> Report:
    return check_templates(templates, load_excerpts())


def test_every_resource_matches_the_rest_specification_of_its_api_version(
    templates: dict[str, dict[str, Any]],
) -> None:
    report = check(templates)
    assert report.findings == [], "\n".join(map(str, report.findings))
    # Counted from the Bicep text, not from the parse the checker walks.
    declared = sum(len(RESOURCE_DECLARATION.findall(path.read_text(encoding="utf-8"))) for path in BICEP_FILES)
    assert declared >= RESOURCES_WHEN_WRITTEN
    assert len(report.checked) == declared, report.checked
    assert report.properties >= PROPERTY_LOOKUPS_AT_LEAST


def test_every_excerpt_says_where_it_came_from() -> None:
    excerpts = sorted(SPECS.glob("*.json"))
    assert len(excerpts) >= 11
    for path in excerpts:
        excerpt = json.loads(path.read_text(encoding="utf-8"))
        source = excerpt["source"]
        assert source["repository"] == "Azure/azure-rest-api-specs", path.name
        for name, file in source["files"].items():
            assert file["path"].startswith("specification/"), (path.name, name)
            assert re.fullmatch(r"[0-9a-f]{40}", file["commit"]), (path.name, name)
        for definition, schema in excerpt["definitions"].items():
            stored = schema["x-file"].split(" (")[0]
            assert any(stored == name.split(" (")[0] for name in source["files"]) or "not stored" in schema["x-file"], (
                path.name,
                definition,
            )
        for type_version in excerpt["resources"]:
            version = type_version.split("@")[1]
            assert any(f"/{version}/" in file["path"] for file in source["files"].values()), (path.name, type_version)


# ---------------------------------------------------------------------------------------------
# Each mutation below is one mistake a compiler would catch; the checker must name it.
# ---------------------------------------------------------------------------------------------

Templates = dict[str, dict[str, Any]]

# Resources are found by type, not by file, so the mutations follow a resource that moves.
SITE = "Microsoft.Web/sites"
SIGN_IN = "Microsoft.Web/sites/config"
STORAGE = "Microsoft.Storage/storageAccounts"
ALERT_RULES = "Microsoft.Insights/scheduledQueryRules"
ACTION_GROUP = "Microsoft.Insights/actionGroups"
BUDGET = "Microsoft.Consumption/budgets"
VAULT = "Microsoft.KeyVault/vaults"
IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities"


def declaration(templates: Templates, type_: str, name: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the template, the declaration) of the one resource of this type (and literal name)."""
    found = [
        (candidate, resource)
        for candidate in templates.values()
        for resource in candidate.get("resources", {}).values()
        if resource["type"] == type_ and not resource["existing"]
        if name is None or declaration_body(resource)[0].get("name") == name
    ]
    assert len(found) == 1, f"{len(found)} resources of type {type_} named {name}"
    return found[0]


def body(templates: Templates, type_: str, name: str | None = None) -> dict[str, Any]:
    return declaration_body(declaration(templates, type_, name)[1])[0]


def template(templates: Templates, type_: str) -> dict[str, Any]:
    return declaration(templates, type_)[0]


def rename(mapping: dict[str, Any], old: str, new: str) -> None:
    """Rename a key in place, keeping its position."""
    items = [(new if key == old else key, value) for key, value in mapping.items()]
    assert any(key == new for key, _ in items), f"{old} not found"
    mapping.clear()
    mapping.update(items)


def httpsonly_misspelt(t: Templates) -> None:
    rename(body(t, SITE)["properties"], "httpsOnly", "httpOnly")


def nested_property_misspelt(t: Templates) -> None:
    scale = body(t, SITE)["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    rename(scale, "maximumInstanceCount", "maximumInstanceCont")


def runtime_enum_misspelt(t: Templates) -> None:
    body(t, SITE)["properties"]["functionAppConfig"]["runtime"]["name"] = "pyton"


def tls_version_this_api_version_lacks(t: Templates) -> None:
    body(t, STORAGE)["properties"]["minimumTlsVersion"] = "TLS1_3"


def enum_in_a_variable_misspelt(t: Templates) -> None:
    template(t, SITE)["variables"]["validationSignedIn"]["value"]["unauthenticatedClientAction"] = "RedirectToLoginPag"


def enum_in_a_looped_resource_misspelt(t: Templates) -> None:
    body(t, ALERT_RULES)["properties"]["criteria"]["allOf"][0]["operator"] = "GreaterThen"


def severity_from_the_loop_variable_out_of_range(t: Templates) -> None:
    template(t, ALERT_RULES)["variables"]["rules"]["value"][0]["severity"] = 5


def budget_time_grain_misspelt(t: Templates) -> None:
    body(t, BUDGET)["properties"]["timeGrain"] = "Montly"


def vault_sku_misspelt(t: Templates) -> None:
    body(t, VAULT)["properties"]["sku"]["name"] = "standart"


def allowed_parameter_value_unknown_to_the_api(t: Templates) -> None:
    declaration = template(t, STORAGE)["parameters"]["skuName"]
    (allowed,) = [d for d in declaration["decorators"] if d["type"] == "allowed"]
    allowed["argument"].append("Standard_GZRS2")


def parameter_of_the_wrong_type(t: Templates) -> None:
    template(t, SITE)["parameters"]["maximumInstanceCount"]["type"] = "string"


def read_only_property_set(t: Templates) -> None:
    body(t, SITE)["properties"]["defaultHostName"] = "example.azurewebsites.net"


def read_only_definition_set(t: Templates) -> None:
    body(t, STORAGE)["sku"]["tier"] = "Standard"  # common.json's Tier is read-only as a whole


def required_property_left_out(t: Templates) -> None:
    del body(t, BUDGET)["properties"]["category"]


def property_in_a_conditional_branch_misspelt(t: Templates) -> None:
    receivers = body(t, ACTION_GROUP)["properties"]["emailReceivers"]["operator"]["operands"]
    rename(receivers["false_value"][0], "useCommonAlertSchema", "useCommonAlertSchem")


def api_version_without_an_excerpt(t: Templates) -> None:
    declaration(t, IDENTITY)[1]["api_version"] = "2099-01-01"


MUTATIONS: list[tuple[Callable[[Templates], None], str, str, str]] = [
    # (mutation, resource type, path in the body, words the finding must contain)
    (httpsonly_misspelt, SITE, "properties.httpOnly", "unknown property 'httpOnly' (did you mean 'httpsOnly'?)"),
    (
        nested_property_misspelt,
        SITE,
        "properties.functionAppConfig.scaleAndConcurrency.maximumInstanceCont",
        "unknown property 'maximumInstanceCont'",
    ),
    (runtime_enum_misspelt, SITE, "properties.functionAppConfig.runtime.name", "'pyton' is not a value"),
    (tls_version_this_api_version_lacks, STORAGE, "properties.minimumTlsVersion", "'TLS1_3' is not a value"),
    (
        enum_in_a_variable_misspelt,
        SIGN_IN,
        "properties.globalValidation.unauthenticatedClientAction",
        "'RedirectToLoginPag' is not a value",
    ),
    (enum_in_a_looped_resource_misspelt, ALERT_RULES, "properties.criteria.allOf[0].operator", "'GreaterThen'"),
    (severity_from_the_loop_variable_out_of_range, ALERT_RULES, "properties.severity", "5 is not a value"),
    (budget_time_grain_misspelt, BUDGET, "properties.timeGrain", "'Montly' is not a value"),
    (vault_sku_misspelt, VAULT, "properties.sku.name", "'standart' is not a value"),
    (
        allowed_parameter_value_unknown_to_the_api,
        STORAGE,
        "sku.name (parameter skuName allows 'Standard_GZRS2')",
        "'Standard_GZRS2' is not a value",
    ),
    (
        parameter_of_the_wrong_type,
        SITE,
        "properties.functionAppConfig.scaleAndConcurrency.maximumInstanceCount",
        "parameter maximumInstanceCount is a str, the API wants number",
    ),
    (read_only_property_set, SITE, "properties.defaultHostName", "read-only"),
    (read_only_definition_set, STORAGE, "sku.tier", "read-only"),
    (required_property_left_out, BUDGET, "properties.category", "required by the API but not set"),
    (
        property_in_a_conditional_branch_misspelt,
        ACTION_GROUP,
        "properties.emailReceivers[0].useCommonAlertSchem",
        "unknown property 'useCommonAlertSchem'",
    ),
    (api_version_without_an_excerpt, IDENTITY, "", "no excerpt of the REST specification"),
]


@pytest.mark.parametrize(("mutate", "type_", "path", "words"), MUTATIONS, ids=[m[0].__name__ for m in MUTATIONS])
def test_the_check_names_each_mistake(
    templates: Templates, mutate: Callable[[Templates], None], type_: str, path: str, words: str
) -> None:
    mutated = copy.deepcopy(templates)
    mutate(mutated)
    findings = check(mutated).findings
    assert len(findings) == 1, "\n".join(map(str, findings))
    (finding,) = findings
    assert f" ({type_}@" in finding.resource
    assert finding.path == path
    assert words in finding.problem


def test_the_check_reads_through_pyceps_precedence_slip(templates: Templates) -> None:
    """`!empty(alertPhone) && alertPhoneBy == 'sms' ? [phoneReceiver] : []` reaches pycep as a
    conditional buried under `!`, `&&` and `==`; the receiver variable is still checked, in both
    the SMS and the voice list."""
    mutated = copy.deepcopy(templates)
    rename(template(mutated, ACTION_GROUP)["variables"]["phoneReceiver"]["value"], "countryCode", "countyCode")
    findings = check(mutated).findings
    by_path = {finding.path: finding.problem for finding in findings}
    assert len(findings) == 4, "\n".join(map(str, findings))
    for receivers in ("smsReceivers", "voiceReceivers"):
        where = f"properties.{receivers}[0]"
        assert by_path[f"{where}.countyCode"] == "unknown property 'countyCode' (did you mean 'countryCode'?)"
        assert by_path[f"{where}.countryCode"] == "required by the API but not set"
