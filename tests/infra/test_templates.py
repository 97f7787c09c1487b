"""The Bicep templates parse, are wired together correctly, follow the Azure Verified Modules
conventions, and keep the security settings issue 5 asks for."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import (
    BICEP_FILES,
    INFRA,
    MAIN,
    MODULES,
    ROOT,
    decorators,
    has_default,
    parse_bicep,
    template_of,
    unquote,
)

BICEP_TYPES = {"string", "int", "bool", "object", "array"}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def resources(template: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    """Resources of one type; the body of a conditional or looped one is unwrapped."""
    found = []
    for resource in template.get("resources", {}).values():
        if resource["type"] == type_:
            config = resource["config"]
            found.append(config["config"] if "loop_type" in config or "condition" in config else config)
    return found


def one(template: dict[str, Any], type_: str) -> dict[str, Any]:
    found = resources(template, type_)
    assert len(found) == 1, f"expected one {type_}, found {len(found)}"
    return found[0]


def test_there_are_templates() -> None:
    assert MAIN.exists()
    assert {p.name for p in MODULES.glob("*.bicep")} >= {
        "storage.bicep",
        "identity.bicep",
        "roles.bicep",
        "monitoring.bicep",
        "keyvault.bicep",
        "functionapp.bicep",
    }


@pytest.mark.parametrize("path", BICEP_FILES, ids=rel)
def test_parses_with_pycep(parsed: dict[str, Any], path: Path) -> None:
    template_of(parsed, path)


def test_the_parser_does_reject_broken_bicep(tmp_path: Path) -> None:
    """The parse check can fail: an unclosed object and a Bicep lambda (which the pycep-parser
    that checkov pins cannot read, so templates must not use one) are both refused."""
    broken = tmp_path / "broken.bicep"
    broken.write_text("param a string\nresource s 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: a\n")
    with_lambda = tmp_path / "lambda.bicep"
    with_lambda.write_text("param xs array\nvar ys = map(xs, x => x.name)\n")
    result = parse_bicep([broken, with_lambda])
    assert not result[str(broken)]["ok"]
    assert not result[str(with_lambda)]["ok"]


@pytest.mark.parametrize("path", BICEP_FILES, ids=rel)
def test_verified_module_style(parsed: dict[str, Any], path: Path) -> None:
    """Metadata name and description on each file; every parameter typed and described, its
    description starting Required. (no default) or Optional. (a default); outputs described."""
    template = template_of(parsed, path)
    metadata = template.get("metadata", {})
    assert {"name", "description"} <= set(metadata), f"{rel(path)}: metadata name and description"
    problems = []
    for name, declaration in template.get("parameters", {}).items():
        description = decorators(declaration).get("description") or ""
        if declaration.get("type") not in BICEP_TYPES:
            problems.append(f"param {name}: type {declaration.get('type')!r}")
        expected = "Optional." if has_default(declaration) else "Required."
        if not description.startswith(expected):
            problems.append(f"param {name}: description must start with {expected!r}")
    for name, declaration in template.get("outputs", {}).items():
        if not decorators(declaration).get("description"):
            problems.append(f"output {name}: no @description")
    assert not problems, f"{rel(path)}:\n" + "\n".join(problems)


def module_calls() -> list[tuple[Path, str]]:
    calls = []
    for path in BICEP_FILES:
        text = path.read_text(encoding="utf-8")
        if "\nmodule " in text:
            calls.append((path, text))
    return calls


@pytest.mark.parametrize("path", [p for p, _ in module_calls()], ids=rel)
def test_module_calls_match_the_modules(parsed: dict[str, Any], path: Path) -> None:
    """What a Bicep compiler would catch: each module exists, gets every required parameter,
    and no parameter it does not declare."""
    template = template_of(parsed, path)
    assert template.get("modules"), f"{rel(path)}: module calls not seen by the parser"
    problems = []
    for name, module in template["modules"].items():
        target = (path.parent / module["detail"]["path"]).resolve()
        if not target.exists():
            problems.append(f"module {name}: {module['detail']['path']} does not exist")
            continue
        declared = template_of(parsed, target).get("parameters", {})
        given = set(module["config"].get("params", {}))
        required = {p for p, d in declared.items() if not has_default(d)}
        if unknown := given - set(declared):
            problems.append(f"module {name}: {sorted(unknown)} not parameters of {target.name}")
        if missing := required - given:
            problems.append(f"module {name}: required {sorted(missing)} of {target.name} not given")
    assert not problems, f"{rel(path)}:\n" + "\n".join(problems)


def test_every_module_is_used(parsed: dict[str, Any]) -> None:
    used = {
        (path.parent / module["detail"]["path"]).resolve()
        for path in BICEP_FILES
        for module in template_of(parsed, path).get("modules", {}).values()
    }
    assert {p.resolve() for p in MODULES.glob("*.bicep")} <= used


def test_storage_is_entra_only_https_tls12_and_private(parsed: dict[str, Any]) -> None:
    account = one(template_of(parsed, MODULES / "storage.bicep"), "Microsoft.Storage/storageAccounts")
    properties = account["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["minimumTlsVersion"] == "TLS1_2"
    template = template_of(parsed, MODULES / "storage.bicep")
    container = one(template, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["properties"]["publicAccess"] == "None"
    assert resources(template, "Microsoft.Storage/storageAccounts/tableServices/tables")
    assert resources(template, "Microsoft.Storage/storageAccounts/queueServices/queues")


def test_storage_holds_every_table_and_queue_the_app_uses(main_template: dict[str, Any]) -> None:
    from shared.adapters import storage

    variables = main_template["variables"]
    tables, queues = set(variables["tableNames"]["value"]), set(variables["queueNames"]["value"])
    # exactly: a table or queue the app never uses is storage nobody looks after
    assert set(storage.TABLES) == tables
    assert {q for name in storage.QUEUES for q in (name, f"{name}-poison")} == queues


def test_key_vault_is_rbac_with_soft_delete_and_purge_protection(parsed: dict[str, Any]) -> None:
    vault = one(template_of(parsed, MODULES / "keyvault.bicep"), "Microsoft.KeyVault/vaults")["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enableSoftDelete"] is True
    assert vault["enablePurgeProtection"] is True


def test_function_app_is_flex_consumption_python_311_with_the_identity(parsed: dict[str, Any]) -> None:
    template = template_of(parsed, MODULES / "functionapp.bicep")
    plan = one(template, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = one(template, "Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "UserAssigned"
    properties = site["properties"]
    assert properties["httpsOnly"] is True
    assert properties["keyVaultReferenceIdentity"] == "identityResourceId"
    config = properties["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "pythonVersion"}
    assert template["parameters"]["pythonVersion"]["default"] == "3.11"
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert properties["siteConfig"]["minTlsVersion"] == "1.2"
    policies = resources(template, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert sorted(p["name"] for p in policies) == ["ftp", "scm"]
    assert all(p["properties"]["allow"] is False for p in policies)


def test_identity_gets_exactly_the_least_roles_each_on_one_resource(parsed: dict[str, Any]) -> None:
    template = template_of(parsed, MODULES / "roles.bicep")
    role_ids = {unquote(k): v for k, v in template["variables"]["roles"]["value"].items()}
    expected = {
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "storage",  # Storage Blob Data Owner
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "storage",  # Storage Queue Data Contributor
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "storage",  # Storage Table Data Contributor
        "4633458b-17de-408a-b874-0445c86b69e6": "vault",  # Key Vault Secrets User
        "3913510d-42f4-4e42-8a64-420c390055eb": "applicationInsights",  # Monitoring Metrics Publisher
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "vault",  # Key Vault Secrets Officer (the deployer only)
    }
    assert set(role_ids.values()) == set(expected)
    assignments = resources(template, "Microsoft.Authorization/roleAssignments")
    seen = {}
    for assignment in assignments:
        definition = assignment["properties"]["roleDefinitionId"]["function"]
        assert definition["type"] == "subscription_resource_id"
        accessor = definition["parameters"]["resource_name_1"]["operator"]["operands"]
        assert accessor["operand_1"] == "roles"
        role_key = accessor["operand_2"]
        assert role_ids[role_key] not in seen, f"{role_key} assigned twice"
        seen[role_ids[role_key]] = assignment["scope"]
        principal = assignment["properties"]["principalId"]
        if role_ids[role_key] == "b86a8fe4-44ce-4948-aee5-eccb2c155cd7":
            assert principal == "deployerPrincipalId"
        else:
            assert principal == "appPrincipalId"
            assert assignment["properties"]["principalType"] == "ServicePrincipal"
    assert seen == expected, "each role assigned once, scoped to its one resource"


def test_application_insights_takes_entra_id_telemetry_only_on_log_analytics(parsed: dict[str, Any]) -> None:
    component = one(template_of(parsed, MODULES / "monitoring.bicep"), "Microsoft.Insights/components")
    assert component["properties"]["DisableLocalAuth"] is True
    assert component["properties"]["WorkspaceResourceId"]


def test_names_derive_from_the_prefix_and_a_unique_token(main_template: dict[str, Any]) -> None:
    names = main_template["variables"]["names"]["value"]
    assert names, "a names variable"
    for kind, expression in names.items():
        text = str(expression)
        assert "namePrefix" in text and "resourceToken" in text, f"{kind}: {text}"
    token = str(main_template["variables"]["resourceToken"]["value"])
    assert "unique_string" in token and "namePrefix" in token


def sign_in_exclusions(main_template: dict[str, Any]) -> set[str]:
    """main.bicep's publicPaths: loadJsonContent of a file beside it (or, once, a literal list)."""
    value = main_template["variables"]["publicPaths"]["value"]
    if isinstance(value, list):
        return set(value)
    function = value["function"]
    assert function["type"] == "load_json_content", f"publicPaths is {function['type']}"
    loaded = json.loads((INFRA / function["parameters"]["file_path"]).read_text(encoding="utf-8"))
    assert isinstance(loaded, list) and all(isinstance(p, str) for p in loaded)
    return set(loaded)


def test_admin_sign_in_leaves_public_routes_and_webhooks_open(main_template: dict[str, Any]) -> None:
    paths = sign_in_exclusions(main_template)
    for public in ("/", "/verify", "/static/*", "/api/themes", "/api/interests", "/api/interests/*"):
        assert public in paths
    assert {"/api/sms/inbound", "/api/sms/status", "/api/openapi.json"} <= paths
    admin = [p for p in paths if p.startswith(("/manage", "/admin", "/api/admin", "/dev")) or p in {"/*", "/api/*"}]
    assert not admin, f"admin routes stay behind sign-in: {admin}"
    module = template_of(parse_bicep([MODULES / "functionapp.bicep"]), MODULES / "functionapp.bicep")
    assert module["variables"]["validationSignedIn"]["value"]["excludedPaths"] == "adminSignInExcludedPaths"
    call = main_template["modules"]["functionApp"]["config"]["params"]
    assert call["adminSignInExcludedPaths"] == "publicPaths"


def test_infra_holds_no_bicepparam_files() -> None:
    """.bicepparam files parse in neither pycep nor checkov; parameters come from JSON."""
    assert not list(INFRA.rglob("*.bicepparam"))


def excluded(path: str, patterns: set[str]) -> bool:
    """App Service Authentication's excludedPaths: an exact path, or a prefix ending in /*."""
    return any(path == p or (p.endswith("/*") and path.startswith(p[:-1])) for p in patterns)


def served(routes: Any, prefix: str = "") -> list[str]:
    """Every concrete path the app answers, parameters filled in: FastAPI keeps an included router
    as a branch (its own path empty, its routes in original_router); a Mount serves what is below."""
    found: list[str] = []
    for route in routes:
        branch = getattr(route, "original_router", None)
        if branch is not None:
            found += served(branch.routes, prefix + (getattr(route.include_context, "prefix", "") or ""))
            continue
        path = prefix + re.sub(r"\{[^}]+\}", "x", getattr(route, "path", ""))
        if route.__class__.__name__ == "Mount":
            found.append(path + "/x")
        elif path:
            found.append(path)
    return found


def test_sign_in_exclusions_match_the_apps_routes(main_template: dict[str, Any]) -> None:
    """Every route a resident, member, facilitator or Twilio reaches is excluded from the Entra ID
    sign-in (else it redirects them to Microsoft's login when sign-in is on); /manage, /api/admin
    and /dev are not. Walks the included routers: the app's top level holds only branches."""
    from shared.web.app import create_app

    app = create_app(lambda: None)  # type: ignore[arg-type, return-value]
    patterns = sign_in_exclusions(main_template)
    paths = served(app.routes)
    private = [p for p in paths if p.startswith(("/manage", "/api/admin", "/dev/"))]
    public = [p for p in paths if p not in private]
    # The walk sees the whole app: these exist today, and far more routes than the four of the top level.
    assert {"/privacy", "/accessibility", "/withdraw/confirm", "/f/x", "/api/sms/inbound", "/static/x"} <= set(public)
    assert {"/manage", "/api/admin/facilitators"} <= set(private)
    assert len(paths) >= 50 and len(set(public)) >= 15, (len(paths), len(set(public)))
    closed = [p for p in public if not excluded(p, patterns)]
    opened = [p for p in private if excluded(p, patterns)]
    assert not closed, f"public routes behind the sign-in (run infra/public_paths.py): {sorted(set(closed))}"
    assert not opened, f"admin or development routes excluded from sign-in: {sorted(set(opened))}"


def test_the_public_paths_file_is_what_the_app_serves() -> None:
    """infra/public-paths.json is regenerated whenever a route changes (else the check fails)."""
    done = subprocess.run(
        [sys.executable, str(INFRA / "public_paths.py"), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
