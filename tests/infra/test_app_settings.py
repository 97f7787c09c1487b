"""Every setting the app reads is set by the template, and every app setting the template sets is
read by the app, with named exceptions. The lists come from shared.settings.Settings at test time,
so a new field without an app setting in infra/main.bicep fails here."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, SecretStr

from shared.settings import Settings
from tests.infra.conftest import (
    INFRA,
    MAIN,
    MODULES,
    MUNICIPALITY_FILES,
    dotted,
    has_default,
    template_of,
)

# Read by the app, never set in Azure.
DEV_ONLY = {
    "DEV_MODE": "local development only: enables /dev/outbox and trusts no proxy headers",
    "TWILIO_API_BASE_URL": "points the Twilio client at the loopback test server or a compatible gateway",
    "AzureWebJobsStorage": "the connection-string form, used locally against Azurite; Azure uses the identity",
}
# Set for the Functions host (or its Application Insights integration), not read through Settings.
HOST_LEVEL = {
    "AzureWebJobsStorage__credential": "tells the host to use a managed identity for its storage",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "where the host sends telemetry",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "makes the host send telemetry with the identity (local auth is off)",
}


def accepted_names(field_name: str, field: Any) -> set[str]:
    """The environment names pydantic-settings reads a field from."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return {alias}
    if isinstance(alias, AliasChoices):
        return {choice for choice in alias.choices if isinstance(choice, str)}
    if field.alias:
        return {field.alias}
    return {f"{Settings.model_config.get('env_prefix', '')}{field_name}"}


def settings_fields() -> dict[str, set[str]]:
    return {name: accepted_names(name, field) for name, field in Settings.model_fields.items()}


def is_secret(field: Any) -> bool:
    return field.annotation is SecretStr or SecretStr in typing.get_args(field.annotation)


def test_allow_lists_name_real_settings() -> None:
    names = set().union(*settings_fields().values())
    assert set(DEV_ONLY) <= names, f"stale DEV_ONLY entries: {sorted(set(DEV_ONLY) - names)}"


def test_every_setting_the_app_reads_is_set_by_the_template(app_settings: dict[str, Any]) -> None:
    missing = [
        f"{field} ({' or '.join(sorted(names))})"
        for field, names in settings_fields().items()
        if not names & set(DEV_ONLY) and not names & set(app_settings)
    ]
    assert not missing, (
        "Settings fields with no app setting in infra/main.bicep (add them to the appSettings "
        "variable, with a parameter if a municipality may change them, or to DEV_ONLY here with a "
        f"reason): {missing}"
    )


def test_every_app_setting_the_template_sets_is_read_by_the_app(app_settings: dict[str, Any]) -> None:
    read = set().union(*settings_fields().values())
    unread = sorted(set(app_settings) - read - set(HOST_LEVEL))
    assert not unread, (
        f"app settings no Settings field reads (remove them, or add to HOST_LEVEL with a reason): {unread}"
    )


def test_azure_sets_no_development_setting(app_settings: dict[str, Any]) -> None:
    assert not set(DEV_ONLY) & set(app_settings)


def test_storage_uses_the_managed_identity(app_settings: dict[str, Any]) -> None:
    assert app_settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage" not in app_settings
    assert dotted(app_settings["AzureWebJobsStorage__clientId"]) == "identity.outputs.clientId"
    assert dotted(app_settings["AzureWebJobsStorage__accountName"]) == "storage.outputs.name"


def test_secrets_are_key_vault_references_to_what_deploy_sh_writes(
    parsed: dict[str, Any], app_settings: dict[str, Any]
) -> None:
    main = template_of(parsed, MAIN)
    deploy_script = (INFRA / "deploy.sh").read_text(encoding="utf-8")
    secret_fields = [f for f in Settings.model_fields.values() if is_secret(f)]
    assert secret_fields, "Settings has SecretStr fields (TWILIO_AUTH_TOKEN, ADMIN_TOKEN)"
    for field in secret_fields:
        (name,) = accepted_names("", field) & set(app_settings) or {None}
        assert name, f"{field.validation_alias}: a secret the template does not set"
        value = app_settings[name]
        assert isinstance(value, str) and value.startswith("@Microsoft.KeyVault(SecretUri="), name
        variable = re.search(r"secrets/\$\{(\w+)\}", value)
        assert variable, f"{name}: the secret's name comes from a variable"
        secret_name = main["variables"][variable.group(1)]["value"]
        assert f"--name {secret_name}" in deploy_script or f"secret {secret_name}" in deploy_script, (
            f"deploy.sh never writes the Key Vault secret {secret_name!r} that {name} refers to"
        )


def evaluate(expression: Any, parameters: dict[str, Any]) -> str:
    """The app-setting value Azure would present, for the expressions the template uses; runtime
    values (resource names, endpoints, resolved Key Vault references) become stand-ins."""
    if isinstance(expression, str):
        if expression in parameters:
            value = parameters[expression]
            return value if isinstance(value, str) else json.dumps(value)
        if expression.startswith("@Microsoft.KeyVault("):
            return "resolved-secret"
        return re.sub(r"\$\{[^}]*\}", "x", expression)
    operator = expression.get("operator", {}) if isinstance(expression, dict) else {}
    if operator.get("type") == "conditional":
        operands = operator["operands"]
        branch = "true_value" if truth(operands["condition"], parameters) else "false_value"
        return evaluate(operands[branch], parameters)
    if isinstance(expression, dict) and "function" in expression:
        function = expression["function"]
        if function["type"] == "string":
            (argument,) = function["parameters"].values()
            value = parameters.get(argument) if isinstance(argument, str) else None
            if isinstance(value, dict | list):
                return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            if isinstance(value, bool):
                return str(value).lower()
            return str(value)
    return "runtime-value"


def truth(condition: Any, parameters: dict[str, Any]) -> bool:
    """Conditions the app settings use: empty(parameter) and its negation."""
    if isinstance(condition, dict) and condition.get("function", {}).get("type") == "empty":
        (argument,) = condition["function"]["parameters"].values()
        return not parameters.get(argument)
    operator = condition.get("operator", {}) if isinstance(condition, dict) else {}
    if operator.get("type") == "not":
        (inner,) = operator["operands"].values()
        return not truth(inner, parameters)
    raise AssertionError(f"teach truth() this condition: {condition}")


def azure_settings(main: dict[str, Any], app_settings: dict[str, Any], given: dict[str, Any]) -> Settings:
    parameters = {n: d["default"] for n, d in main["parameters"].items() if d.get("default") is not None}
    parameters |= given
    environment = {name: evaluate(value, parameters) for name, value in app_settings.items()}
    environment["PUBLIC_BASE_URL"] = "https://func-example.azurewebsites.net"
    return Settings(**environment)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", MUNICIPALITY_FILES, ids=lambda p: p.stem)
def test_the_app_accepts_the_settings_azure_gives_it(
    path: Path, parsed: dict[str, Any], app_settings: dict[str, Any], deploy_params: Any
) -> None:
    """Settings built from the template's app settings, with each municipality's parameters and
    the template's defaults, validates; the organisation arrives intact."""
    document = deploy_params.load(path)
    settings = azure_settings(template_of(parsed, MAIN), app_settings, deploy_params.template_parameters(document))
    assert settings.organisation.id == document["organisation"]["id"]
    assert json.loads(settings.organisation_config) == document["organisation"]


def test_template_defaults_are_the_app_defaults(parsed: dict[str, Any], app_settings: dict[str, Any]) -> None:
    """A template parameter with a default that feeds one setting defaults to the app's own default."""
    main = template_of(parsed, MAIN)
    required = {n: "x" for n, d in main["parameters"].items() if not has_default(d)}
    defaults = azure_settings(main, app_settings, required | {"organisation": {}} | {"namePrefix": "gs-x"})
    drift, compared = [], 0
    for name, field in Settings.model_fields.items():
        (setting,) = accepted_names(name, field) & set(app_settings) or {None}
        expression = app_settings.get(setting) if setting else None
        if isinstance(expression, dict) and expression.get("function", {}).get("type") == "string":
            (expression,) = expression["function"]["parameters"].values()
        parameter = main["parameters"].get(expression) if isinstance(expression, str) else None
        if parameter is None or not has_default(parameter) or field.is_required():
            continue
        compared += 1
        value = getattr(defaults, name)
        if field.default is None and value == "":
            continue  # an app setting cannot be absent-or-None in Bicep; empty text means "not set"
        if value != field.default:
            drift.append(f"{setting}: template default {value!r}, app default {field.default!r}")
    assert compared >= 5, "the comparison found the parameters"
    assert not drift, "\n".join(drift)


def test_app_service_auth_is_true_exactly_when_sign_in_is_configured(
    parsed: dict[str, Any], app_settings: dict[str, Any], deploy_params: Any
) -> None:
    main = template_of(parsed, MAIN)
    given = deploy_params.template_parameters(deploy_params.load(MUNICIPALITY_FILES[0]))
    assert azure_settings(main, app_settings, given).app_service_auth is False
    signed_in = given | {"adminSignInClientId": "00000000-0000-0000-0000-000000000001"}
    assert azure_settings(main, app_settings, signed_in).app_service_auth is True
    module = template_of(parsed, MODULES / "functionapp.bicep")
    assert module["variables"]["signInEnabled"]["value"] == {
        "operator": {
            "type": "not",
            "operands": {
                "bool_value": {"function": {"type": "empty", "parameters": {"item_to_test": "adminSignInClientId"}}}
            },
        }
    }, "the module turns sign-in on from the same parameter"
