"""Microsoft's documented Flex Consumption rules, checked against every template and every
municipality's parameters. No Bicep compiler or ARM validation runs here, and ARM refuses some
of these only at deployment time (`ftpsState` fails with a 400 on Flex sites), so each rule
below is the documentation turned into a check, with the page it comes from.

Sources (read 2026):
- APP_SETTINGS_DOC: https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
  "In the Flex Consumption plan, these site properties and application settings are deprecated
  and shouldn't be used when creating function app resources".
- FLEX_DOC: https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan
  (#instance-sizes, #supported-language-stack-versions, #considerations).
- SAMPLES: https://learn.microsoft.com/azure/azure-functions/functions-infrastructure-as-code?pivots=flex-consumption-plan
  and https://github.com/Azure-Samples/azure-functions-flex-consumption-samples (IaC/bicep).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import (
    BICEP_FILES,
    MAIN,
    MODULES,
    MUNICIPALITY_FILES,
    ROOT,
    decorators,
    parse_bicep,
    template_of,
    unquote,
)

APP_SETTINGS_DOC = "learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations"
FLEX_DOC = "learn.microsoft.com/azure/azure-functions/flex-consumption-plan"
SAMPLES = "learn.microsoft.com/azure/azure-functions/functions-infrastructure-as-code?pivots=flex-consumption-plan"

# APP_SETTINGS_DOC, the table's app settings, with the reason it gives.
DEPRECATED_APP_SETTINGS = {
    "ENABLE_ORYX_BUILD": "replaced by the remoteBuild parameter when deploying",
    "FUNCTIONS_EXTENSION_VERSION": "set by the backend",
    "FUNCTIONS_WORKER_RUNTIME": "replaced by name in properties.functionAppConfig.runtime",
    "FUNCTIONS_WORKER_RUNTIME_VERSION": "replaced by version in properties.functionAppConfig.runtime",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY": "replaced by scale and concurrency's trigger section",
    "FUNCTIONS_WORKER_PROCESS_COUNT": "not valid",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED": "not valid",
    "SCM_DO_BUILD_DURING_DEPLOYMENT": "replaced by the remoteBuild parameter when deploying",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "replaced by functionAppConfig's deployment section",
    "WEBSITE_CONTENTOVERVNET": "not used for networking in Flex Consumption",
    "WEBSITE_CONTENTSHARE": "replaced by functionAppConfig's deployment section",
    "WEBSITE_DNS_SERVER": "DNS is inherited from the integrated virtual network",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT": "replaced by maximumInstanceCount",
    "WEBSITE_NODE_DEFAULT_VERSION": "replaced by version in properties.functionAppConfig.runtime",
    "WEBSITE_RUN_FROM_PACKAGE": "not used for deployments in Flex Consumption",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION": "content share isn't used in Flex Consumption",
    "WEBSITE_VNET_ROUTE_ALL": "not used for networking in Flex Consumption",
}
# FLEX_DOC#considerations: "WEBSITE_TIME_ZONE and TZ app settings aren't currently supported";
# "Loading certificates with the WEBSITE_LOAD_CERTIFICATES app setting ... not supported".
UNSUPPORTED_APP_SETTINGS = {
    "WEBSITE_TIME_ZONE": "time zones are not supported on Flex Consumption",
    "TZ": "time zones are not supported on Flex Consumption",
    "WEBSITE_LOAD_CERTIFICATES": "certificate loading is not supported on Flex Consumption",
}
# APP_SETTINGS_DOC, the table's site properties (ARM rejects ftpsState with a 400 on Flex sites),
# and FLEX_DOC#considerations for endToEndEncryptionEnabled. Compared without case: the doc
# itself writes LinuxFxVersion and IsXenon.
DEPRECATED_SITE_PROPERTIES = {
    "alwaysOn": "not valid",
    "containerSize": "renamed as instanceMemoryMB",
    "dnsConfiguration": "custom DNS servers of the virtual network are used",
    "ftpsState": "FTPS not supported",
    "isReserved": "not valid",
    "isXenon": "not valid",
    "javaVersion": "replaced by version in properties.functionAppConfig.runtime",
    "linuxFxVersion": "replaced by properties.functionAppConfig.runtime",
    "netFrameworkVersion": "replaced by version in properties.functionAppConfig.runtime",
    "powerShellVersion": "replaced by version in properties.functionAppConfig.runtime",
    "functionAppScaleLimit": "renamed as maximumInstanceCount",
    "preWarmedInstanceCount": "renamed as alwaysReadyInstances",
    "use32BitWorkerProcess": "32-bit not supported",
    "vnetBackupRestoreEnabled": "not used for networking in Flex Consumption",
    "vnetContentShareEnabled": "not used for networking in Flex Consumption",
    "vnetImagePullEnabled": "not used for networking in Flex Consumption",
    "vnetRouteAllEnabled": "not used for networking in Flex Consumption",
    "windowsFxVersion": "not valid",
    "endToEndEncryptionEnabled": "platform certificate features are not supported (FLEX_DOC#considerations)",
}
# SAMPLES: Microsoft's own Flex templates set nothing in siteConfig but these. http20Enabled and
# scmMinTlsVersion are not rejected in the docs, but no Flex template of Microsoft's sets them, so
# nothing tells what ARM does with them on a Flex site: they stay out.
SITE_CONFIG_IN_MICROSOFTS_FLEX_TEMPLATES = {"appSettings", "minTlsVersion"}
# FLEX_DOC#instance-sizes.
INSTANCE_MEMORY_MB = {512, 2048, 4096}
# FLEX_DOC#supported-language-stack-versions (Python row).
PYTHON_VERSIONS = {"3.10", "3.11", "3.12"}
# FLEX_DOC#considerations: "The lowest maximum scale is currently 1. The highest ... is 1000."
MAXIMUM_INSTANCE_COUNT = range(1, 1001)


def resources_of(template: dict[str, Any], type_: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, resource in template.get("resources", {}).items():
        if resource["type"].lower() == type_.lower():
            config = resource["config"]
            found.append((name, config["config"] if "loop_type" in config or "condition" in config else config))
    return found


def site_property_problems(template: dict[str, Any]) -> list[str]:
    """Deprecated site properties on a site, in its siteConfig, or in a sites/config 'web'."""
    deprecated = {name.lower(): (name, reason) for name, reason in DEPRECATED_SITE_PROPERTIES.items()}
    problems = []

    def check(where: str, properties: Any) -> None:
        if not isinstance(properties, dict):
            return
        for key in properties:
            if unquote(key).lower() in deprecated:
                _, reason = deprecated[unquote(key).lower()]
                problems.append(f"{where}.{unquote(key)}: {reason} ({APP_SETTINGS_DOC})")

    for name, site in resources_of(template, "Microsoft.Web/sites"):
        properties = site.get("properties", {})
        check(f"site {name}: properties", properties)
        site_config = properties.get("siteConfig", {})
        check(f"site {name}: properties.siteConfig", site_config)
        extra = sorted(set(map(unquote, site_config)) - SITE_CONFIG_IN_MICROSOFTS_FLEX_TEMPLATES)
        if extra:
            problems.append(
                f"site {name}: siteConfig sets {extra}, which no Flex template of Microsoft's sets ({SAMPLES})"
            )
    for name, config in resources_of(template, "Microsoft.Web/sites/config"):
        if config.get("name") == "web":
            check(f"config {name} (web): properties", config.get("properties", {}))
    return problems


def app_setting_problems(names: set[str]) -> list[str]:
    problems = [
        f"app setting {name}: deprecated on Flex Consumption, {DEPRECATED_APP_SETTINGS[name]} ({APP_SETTINGS_DOC})"
        for name in sorted(names & set(DEPRECATED_APP_SETTINGS))
    ]
    problems += [
        f"app setting {name}: {UNSUPPORTED_APP_SETTINGS[name]} ({FLEX_DOC}#considerations)"
        for name in sorted(names & set(UNSUPPORTED_APP_SETTINGS))
    ]
    return problems


def literal_app_settings(template: dict[str, Any]) -> set[str]:
    """App-setting names written literally in a template: siteConfig.appSettings entries and the
    keys of an appsettings config (the union's object arguments too)."""
    names: set[str] = set()
    for _, site in resources_of(template, "Microsoft.Web/sites"):
        for entry in site.get("properties", {}).get("siteConfig", {}).get("appSettings", []) or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                names.add(entry["name"])
    for _, config in resources_of(template, "Microsoft.Web/sites/config"):
        if config.get("name") != "appsettings":
            continue
        properties = config.get("properties", {})
        if isinstance(properties, dict) and "function" in properties:
            for argument in properties["function"].get("parameters", {}).values():
                if isinstance(argument, dict):
                    names |= set(map(unquote, argument))
        elif isinstance(properties, dict):
            names |= set(map(unquote, properties))
    return names


def test_the_rules_catch_what_flex_refuses(tmp_path: Path) -> None:
    """The checks can fail: a site with ftpsState and a deprecated app setting is reported."""
    bad = tmp_path / "bad.bicep"
    bad.write_text(
        "resource site 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'x'\n  location: 'swedencentral'\n"
        "  kind: 'functionapp,linux'\n  properties: {\n    siteConfig: {\n      ftpsState: 'Disabled'\n"
        "      http20Enabled: true\n      appSettings: [\n        {\n          name: 'FUNCTIONS_WORKER_RUNTIME'\n"
        "          value: 'python'\n        }\n      ]\n    }\n  }\n}\n",
        encoding="utf-8",
    )
    template = template_of(parse_bicep([bad]), bad)
    problems = site_property_problems(template)
    assert any("ftpsState" in p for p in problems)
    assert any("http20Enabled" in p for p in problems)
    assert app_setting_problems(literal_app_settings(template)) != []
    assert app_setting_problems({"WEBSITE_TIME_ZONE", "TZ"}) != []


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_site_property_flex_deprecates(parsed: dict[str, Any], path: Path) -> None:
    problems = site_property_problems(template_of(parsed, path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_app_setting_flex_deprecates_in_any_template(parsed: dict[str, Any], path: Path) -> None:
    problems = app_setting_problems(literal_app_settings(template_of(parsed, path)))
    assert not problems, "\n".join(problems)


def test_no_app_setting_flex_deprecates_in_what_the_app_gets(app_settings: dict[str, Any]) -> None:
    problems = app_setting_problems(set(app_settings))
    assert not problems, "\n".join(problems)


def test_one_app_per_plan_no_slots_and_a_linux_fc1_plan(parsed: dict[str, Any]) -> None:
    """FLEX_DOC#considerations: only one app per Flex Consumption plan; no deployment slots;
    Flex Consumption is Linux only (reserved: true)."""
    templates = [template_of(parsed, path) for path in BICEP_FILES]
    plans = [plan for t in templates for _, plan in resources_of(t, "Microsoft.Web/serverfarms")]
    sites = [site for t in templates for _, site in resources_of(t, "Microsoft.Web/sites")]
    assert len(plans) == 1 and len(sites) == 1, "one Flex plan, one app"
    assert plans[0]["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plans[0]["properties"]["reserved"] is True
    assert sites[0]["kind"] == "functionapp,linux"
    assert not [s for t in templates for s in resources_of(t, "Microsoft.Web/sites/slots")]


def module_value(main: dict[str, Any], module: dict[str, Any], name: str, given: dict[str, Any]) -> Any:
    """The value a functionapp.bicep parameter gets for one municipality: what main.bicep passes
    (a main parameter: the file's value or main's default), else the module's default."""
    passed = main["modules"]["functionApp"]["config"]["params"].get(name)
    if isinstance(passed, str) and passed in main["parameters"]:
        if passed in given:
            return given[passed]
        return main["parameters"][passed].get("default")
    if passed is not None:
        return passed
    return module["parameters"][name].get("default")


def site_config_parameter(module: dict[str, Any], key: str) -> str:
    site = resources_of(module, "Microsoft.Web/sites")[0][1]
    function_app_config = site["properties"]["functionAppConfig"]
    value = (
        function_app_config["runtime"]["version"]
        if key == "runtime"
        else function_app_config["scaleAndConcurrency"][key]
    )
    assert isinstance(value, str) and value in module["parameters"], f"{key} comes from a parameter"
    return value


def test_the_template_accepts_only_values_flex_allows(parsed: dict[str, Any]) -> None:
    """Whatever a municipality file sets, the template's own @allowed/@minValue/@maxValue keep it
    inside what FLEX_DOC documents: instance memory, Python version, maximum instance count."""
    module = template_of(parsed, MODULES / "functionapp.bicep")
    main = template_of(parsed, MAIN)
    memory = decorators(module["parameters"][site_config_parameter(module, "instanceMemoryMB")])
    assert set(memory["allowed"]) <= INSTANCE_MEMORY_MB, f"{FLEX_DOC}#instance-sizes"
    python = decorators(module["parameters"][site_config_parameter(module, "runtime")])
    assert set(python["allowed"]) <= PYTHON_VERSIONS, f"{FLEX_DOC}#supported-language-stack-versions"
    for template in (module, main):
        count = decorators(template["parameters"]["maximumInstanceCount"])
        assert count["min_value"] >= MAXIMUM_INSTANCE_COUNT.start, f"{FLEX_DOC}#considerations"
        assert count["max_value"] < MAXIMUM_INSTANCE_COUNT.stop, f"{FLEX_DOC}#considerations"
    if "instanceMemoryMB" in main["parameters"]:
        assert set(decorators(main["parameters"]["instanceMemoryMB"])["allowed"]) <= INSTANCE_MEMORY_MB


@pytest.mark.parametrize("path", MUNICIPALITY_FILES, ids=lambda p: p.stem)
def test_each_municipality_deploys_values_flex_allows(parsed: dict[str, Any], path: Path, deploy_params: Any) -> None:
    main = template_of(parsed, MAIN)
    module = template_of(parsed, MODULES / "functionapp.bicep")
    given = deploy_params.template_parameters(deploy_params.load(path))
    memory = module_value(main, module, site_config_parameter(module, "instanceMemoryMB"), given)
    assert memory in INSTANCE_MEMORY_MB, f"instanceMemoryMB {memory}: {FLEX_DOC}#instance-sizes"
    python = module_value(main, module, site_config_parameter(module, "runtime"), given)
    assert python in PYTHON_VERSIONS, f"Python {python}: {FLEX_DOC}#supported-language-stack-versions"
    count = module_value(main, module, site_config_parameter(module, "maximumInstanceCount"), given)
    assert count in MAXIMUM_INSTANCE_COUNT, f"maximumInstanceCount {count}: {FLEX_DOC}#considerations"
    for name in set(given) & (set(DEPRECATED_APP_SETTINGS) | set(UNSUPPORTED_APP_SETTINGS)):
        pytest.fail(f"{path.name} sets {name}")


def test_extension_bundle_is_one_flex_supports() -> None:
    """FLEX_DOC#considerations: non-C# apps must use extension bundle [4.0.0, 5.0.0) or later."""
    bundle = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["extensionBundle"]
    assert bundle["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    lower = bundle["version"].lstrip("[(").split(",")[0].strip()
    assert int(lower.split(".")[0]) >= 4, f"extension bundle {bundle['version']}: {FLEX_DOC}#considerations"
