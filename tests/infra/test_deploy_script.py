"""infra/deploy.sh: the dry run prints the whole deployment without running anything; a real run
(against tests/infra/fake_az.py) is idempotent and never prints a secret; unknown municipalities
are refused. Also the app package and the azd parameters file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import INFRA, MUNICIPALITY_FILES, ROOT, load_infra_module, template_of

DEPLOY = INFRA / "deploy.sh"
TWILIO_TOKEN = "twilio-token-7c1e5b"
ADMIN_TOKEN = "admin-token-93fd2a"


# The repository's municipality files carry placeholder numbers until a municipality fills them in, and a
# deployment refuses those (issue 20.7): the deploy tests deploy copies with real-looking numbers instead.
FILLED_NUMBERS = {
    "region-jonkoping": {"smsSender": "+46766861000", "alertPhone": "+46733960712", "coordinator": "+46733960712"},
    "aurskog-holand": {"smsSender": "+4790871523", "alertPhone": "+4790871524", "coordinator": "+4790871524"},
}
FILLED_DIR = Path(tempfile.mkdtemp(prefix="gruppstart-deploy-tests-")) / "municipalities"


def filled_copy(name: str, document: dict[str, Any] | None = None) -> str:
    """A copy of a municipality file with its placeholder numbers filled in, as a path deploy.sh accepts."""
    document = document or json.loads((INFRA / "municipalities" / f"{name}.json").read_text(encoding="utf-8"))
    numbers = FILLED_NUMBERS[name]
    document["deployment"] |= {"smsSender": numbers["smsSender"], "alertPhone": numbers["alertPhone"]}
    document["organisation"]["coordinator_phone"] = numbers["coordinator"]
    FILLED_DIR.mkdir(parents=True, exist_ok=True)
    path = FILLED_DIR / f"{name}.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def run_deploy(
    *args: str, env: dict[str, str] | None = None, path_dirs: tuple[Path, ...] = (), as_filed: bool = False
) -> subprocess.CompletedProcess[str]:
    if args and args[0] in FILLED_NUMBERS and not as_filed:
        args = (filled_copy(args[0]), *args[1:])
    environment = {k: v for k, v in os.environ.items() if k not in {"TWILIO_AUTH_TOKEN", "ADMIN_TOKEN"}}
    environment |= {"PATH": os.pathsep.join([*map(str, path_dirs), environment.get("PATH", "")])}
    environment |= {"GRUPPSTART_RETRY_WAIT": "0"} | (env or {})
    for name in (
        "AZURE_FUNCTION_APP_NAME",
        "AZURE_FUNCTION_APP_ID",
        "AZURE_KEY_VAULT_NAME",
        "PUBLIC_BASE_URL",
        "AZURE_RESOURCE_GROUP",
        "AZURE_PRINCIPAL_ID",
        "AZURE_PRINCIPAL_TYPE",
    ):
        if name not in (env or {}):
            environment.pop(name, None)
    return subprocess.run(
        ["bash", str(DEPLOY), *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tripwire_az(tmp_path: Path) -> tuple[Path, Path]:
    """An `az` on PATH that records that it was called: a dry run must never call it."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "az-was-called"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(f'#!/bin/sh\necho "$@" >> "{marker}"\nexit 99\n')
    (bin_dir / "az").chmod(0o755)
    return bin_dir, marker


@pytest.fixture
def fake_az(tmp_path: Path) -> dict[str, Any]:
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).with_name("fake_az.py")}" "$@"\n')
    (bin_dir / "az").chmod(0o755)
    state, log = tmp_path / "az-state.json", tmp_path / "az-calls.jsonl"
    return {"bin": bin_dir, "env": {"FAKE_AZ_STATE": str(state), "FAKE_AZ_LOG": str(log)}, "state": state, "log": log}


def calls(fake: dict[str, Any], since: int = 0) -> list[dict[str, Any]]:
    lines = fake["log"].read_text().splitlines() if fake["log"].exists() else []
    return [json.loads(line) for line in lines[since:]]


def secrets_written(entries: list[dict[str, Any]]) -> list[str]:
    return [e["args"][e["args"].index("--name") + 1] for e in entries if e["args"][:3] == ["keyvault", "secret", "set"]]


def line_index(lines: list[str], pattern: str) -> int:
    for number, line in enumerate(lines):
        if re.search(pattern, line):
            return number
    raise AssertionError(f"no line matches {pattern!r}")


@pytest.mark.parametrize("path", MUNICIPALITY_FILES, ids=lambda p: p.stem)
def test_dry_run_prints_validate_deploy_and_upload_in_order_and_runs_nothing(
    path: Path, tripwire_az: tuple[Path, Path]
) -> None:
    bin_dir, marker = tripwire_az
    document = json.loads(Path(filled_copy(path.stem)).read_text(encoding="utf-8"))  # what is deployed
    municipality, location = path.stem, document["deployment"]["location"]
    done = run_deploy(
        municipality,
        "--dry-run",
        env={"TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN},
        path_dirs=(bin_dir,),
    )
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), f"the dry run called az: {marker.read_text()}"
    out = done.stdout
    lines = out.splitlines()
    group = rf"^az group create --name rg-gruppstart-{municipality} --location {location} --tags app=gruppstart "
    template = (
        rf"--resource-group rg-gruppstart-{municipality} --name gruppstart-{municipality} "
        r"--template-file infra/main\.bicep --parameters @\S+parameters\.json "
    )
    order = [
        line_index(lines, r"^az bicep build --file infra/main\.bicep "),
        line_index(lines, rf"^az group exists --name rg-gruppstart-{municipality}$"),
        line_index(lines, r"^# only when the group does not exist"),
        line_index(lines, group),
        line_index(lines, r"^az keyvault list-deleted "),
        line_index(lines, r"^az deployment group what-if " + template),
        line_index(lines, r"^az deployment group create " + template),
        line_index(lines, r"^az keyvault secret set .*--name twilio-auth-token --file '<file>' "),
        line_index(lines, r"^az keyvault secret set .*--name admin-token --file '<file>' "),
        line_index(
            lines,
            r"^az functionapp deployment source config-zip --resource-group "
            rf"rg-gruppstart-{municipality} .*--src \S+\.zip --build-remote true",
        ),
        line_index(lines, r"^# given up after 900 s .* only while Azure refuses it for a role not applied yet"),
        line_index(lines, r"^az rest --method get --url \S+/budgets/gruppstart-monthly"),
        line_index(
            lines,
            rf"^az deployment group create --resource-group rg-gruppstart-{municipality} "
            rf"--name gruppstart-{municipality}-budget --template-file infra/budget\.bicep ",
        ),
        line_index(lines, r"^# when Azure takes it: "),
        line_index(lines, r"^# when Azure refuses it .*422.*the run goes on and warns: .*--step budget"),
        line_index(lines, r"Public form: +\S+/$"),
        line_index(lines, r"A message comes in: +\S+/api/sms/inbound$"),
        line_index(lines, r"Status callback: +\S+/api/sms/status$"),
    ]
    assert order == sorted(order), "validate (build, what-if), deploy, secrets, upload, budget, URLs, in that order"
    deploy_line = lines[order[6]]
    assert "deployerPrincipalId=" in deploy_line and "deployerPrincipalType=User" in deploy_line
    assert "budget" not in deploy_line.lower(), "the budget is a deployment of its own"
    assert re.search(r"budgetStartDate=\d{4}-\d{2}-01 '?actionGroupId=", lines[order[12]])
    assert not re.search(r"^az ad ", out, re.MULTILINE), "no Microsoft Graph call"
    assert "--value" not in out, "secrets travel in files"
    assert TWILIO_TOKEN not in out + done.stderr and ADMIN_TOKEN not in out + done.stderr
    # the parameters the dry run shows are the mapping's, organisation included
    shown = json.loads("\n".join(line[4:] for line in lines if line.startswith("#   ")))
    assert shown["parameters"]["organisation"]["value"] == document["organisation"]
    assert shown["parameters"]["location"]["value"] == location
    assert "monthlyBudget" not in shown["parameters"], "a budget parameter would sink the deployment where refused"


def test_validate_dry_run_prints_the_checks_and_no_change(tripwire_az: tuple[Path, Path]) -> None:
    bin_dir, marker = tripwire_az
    done = run_deploy("aurskog-holand", "--validate", "--dry-run", path_dirs=(bin_dir,))
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    lines = done.stdout.splitlines()
    build = line_index(lines, r"^az bicep build ")
    what_if = line_index(lines, r"^az deployment group what-if --resource-group rg-gruppstart-aurskog-holand ")
    assert build < what_if
    for change in (r"^az group create", r"^az deployment group create", r"^az keyvault secret set", r"config-zip"):
        with pytest.raises(AssertionError):
            line_index(lines, change)


def test_unknown_municipality_is_refused_with_the_known_ones(tripwire_az: tuple[Path, Path]) -> None:
    bin_dir, marker = tripwire_az
    done = run_deploy("atlantis", "--dry-run", path_dirs=(bin_dir,))
    assert done.returncode != 0
    assert "unknown municipality 'atlantis'" in done.stderr
    for path in MUNICIPALITY_FILES:
        assert path.stem in done.stderr
    assert not done.stdout.strip().startswith("az ")
    assert not marker.exists()


def test_missing_municipality_and_bad_options_are_refused() -> None:
    assert run_deploy().returncode == 2
    assert run_deploy("region-jonkoping", "--frobnicate").returncode == 2


def test_real_run_deploys_and_a_second_run_changes_nothing(fake_az: dict[str, Any]) -> None:
    env = fake_az["env"] | {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}
    first = run_deploy("region-jonkoping", env=env, path_dirs=(fake_az["bin"],))
    assert first.returncode == 0, first.stderr
    entries = calls(fake_az)
    commands = [" ".join(e["args"][:3]) for e in entries]
    assert "group create --name" in commands
    deployment = next(e for e in entries if e["args"][:3] == ["deployment", "group", "create"])
    assert deployment["parameters"]["organisation"]["value"]["id"] == "region-jonkoping"
    assert "deployerPrincipalId=11111111-2222-3333-4444-555555555555" in deployment["args"], "from the token's oid"
    assert "deployerPrincipalType=User" in deployment["args"]
    assert not [e for e in entries if e["args"][0] == "ad"], "no Microsoft Graph call"
    assert not [e for e in entries if e["status"] != 0 and e["args"][0] != "rest"], "every az call succeeded"
    budget = next(e for e in entries if "infra/budget.bicep" in e["args"] and e["args"][1] == "group")
    assert budget["parameters"]["monthlyBudget"]["value"] == 300
    assert f"actionGroupId={fake_az_outputs()['AZURE_ACTION_GROUP_ID']}" in budget["args"]
    what_if = commands.index("deployment group what-if")
    assert commands.index("bicep build --file") < what_if < commands.index("deployment group create")
    assert all(e["file_mode"] == "0o600" for e in entries if e["args"][:3] == ["keyvault", "secret", "set"])
    assert sorted(secrets_written(entries)) == [
        "admin-token",
        "facilitator-link-secret",
        "phone-key-secret",
        "twilio-auth-token",
    ]
    assert any(
        e["args"][0] == "rest" and "configreferences/appsettings/refresh" in " ".join(e["args"]) for e in entries
    )
    package = next(e for e in entries if e["args"][:2] == ["functionapp", "deployment"])["package"]
    assert "function_app.py" in package and "host.json" in package and "requirements.txt" in package
    assert not [n for n in package if n.split("/")[0] in {"tests", "infra", "bench", "node_modules", ".git"}]
    assert "https://func-gs-test-abc123.azurewebsites.net/api/sms/inbound" in first.stdout
    admin_token = json.loads(fake_az["state"].read_text())["secrets"]["admin-token"]
    assert len(admin_token) >= 32
    for secret in (TWILIO_TOKEN, admin_token):
        assert secret not in first.stdout + first.stderr
        assert not [e for e in entries if secret in " ".join(e["args"])], "no secret in any command line"
    assert json.loads(fake_az["state"].read_text())["secrets"]["twilio-auth-token"] == TWILIO_TOKEN, "no newline added"

    second = run_deploy("region-jonkoping", env=env, path_dirs=(fake_az["bin"],))
    assert second.returncode == 0, second.stderr
    again = calls(fake_az, since=len(entries))
    assert secrets_written(again) == [], "a second run writes no secret"
    assert not [e for e in again if e["args"][:2] == ["group", "create"]], "an existing group is left alone"
    refreshes = [e for e in again if e["args"][0] == "rest" and "configreferences" in " ".join(e["args"])]
    assert not refreshes, "and refreshes nothing"
    assert json.loads(fake_az["state"].read_text())["secrets"]["admin-token"] == admin_token, "admin token kept"
    assert admin_token not in second.stdout + second.stderr

    rotated = run_deploy(
        "region-jonkoping", env=fake_az["env"] | {"TWILIO_AUTH_TOKEN": "new-twilio-token"}, path_dirs=(fake_az["bin"],)
    )
    assert rotated.returncode == 0, rotated.stderr
    assert secrets_written(calls(fake_az, since=len(entries) + len(again))) == ["twilio-auth-token"]

    # Rotating the facilitators' link key: a new random one, nothing else.
    before = len(calls(fake_az))
    link_key = json.loads(fake_az["state"].read_text())["secrets"]["facilitator-link-secret"]
    rotated = run_deploy(
        "region-jonkoping",
        env=fake_az["env"] | {"TWILIO_AUTH_TOKEN": "new-twilio-token", "ROTATE_FACILITATOR_LINK_SECRET": "1"},
        path_dirs=(fake_az["bin"],),
    )
    assert rotated.returncode == 0, rotated.stderr
    assert secrets_written(calls(fake_az, since=before)) == ["facilitator-link-secret"]
    assert json.loads(fake_az["state"].read_text())["secrets"]["facilitator-link-secret"] != link_key


def test_real_run_stops_when_twilio_is_configured_but_no_token_is_given(
    fake_az: dict[str, Any], tmp_path: Path
) -> None:
    document = json.loads((INFRA / "municipalities" / "region-jonkoping.json").read_text(encoding="utf-8"))
    document["deployment"]["twilioAccountSid"] = "AC" + "0" * 32
    path = filled_copy("region-jonkoping", document)
    done = run_deploy(path, env=fake_az["env"], path_dirs=(fake_az["bin"],))
    assert done.returncode != 0
    assert "TWILIO_AUTH_TOKEN is not set" in done.stderr
    assert not [e for e in calls(fake_az) if e["args"][:2] == ["functionapp", "deployment"]], "nothing published"


def test_azd_postprovision_step_uses_the_outputs_from_the_environment(fake_az: dict[str, Any]) -> None:
    outputs = {
        "AZURE_KEY_VAULT_NAME": "kv-from-azd",
        "AZURE_FUNCTION_APP_ID": "/subscriptions/1/resourceGroups/rg/providers/Microsoft.Web/sites/func-from-azd",
        "PUBLIC_BASE_URL": "https://func-from-azd.azurewebsites.net",
    }
    done = run_deploy("aurskog-holand", "--step", "secrets", env=fake_az["env"] | outputs, path_dirs=(fake_az["bin"],))
    assert done.returncode == 0, done.stderr
    entries = calls(fake_az)
    assert secrets_written(entries) == ["admin-token", "phone-key-secret", "facilitator-link-secret"]
    assert all("kv-from-azd" in e["args"] for e in entries if e["args"][0] == "keyvault")
    assert not [e for e in entries if e["args"][0] in {"group", "deployment", "functionapp"}]


def test_azd_parameters_file(tmp_path: Path, deploy_params: Any) -> None:
    target = tmp_path / "main.parameters.json"
    deploy_params.main(["region-jonkoping", "--azd", str(target), "--quiet"])
    parameters = json.loads(target.read_text(encoding="utf-8"))["parameters"]
    assert parameters["deployerPrincipalId"]["value"] == "${AZURE_PRINCIPAL_ID}"
    assert parameters["deployerPrincipalType"]["value"] == "${AZURE_PRINCIPAL_TYPE}", "a service principal too"
    assert parameters["organisation"]["value"]["id"] == "region-jonkoping"
    assert not {"budgetStartDate", "monthlyBudget", "budgetAlertPercent"} & set(parameters), "the budget is apart"


def test_hook_scripts_and_deploy_script_are_valid_shell() -> None:
    for script in [DEPLOY, *sorted((INFRA / "hooks").glob("*.sh"))]:
        shell = "bash" if script == DEPLOY else "sh"
        done = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"
    azure_yaml = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    for hook in re.findall(r"run: (\S+)", azure_yaml):
        assert (ROOT / hook).is_file(), hook


def test_package_leaves_out_tests_infra_and_tooling() -> None:
    package = load_infra_module("package")
    files = {str(p) for p in package.package_files()}
    assert {"function_app.py", "host.json", "requirements.txt"} <= files
    assert any(f.startswith("shared/") for f in files)
    for excluded in ("tests/", "infra/", "bench/", "node_modules/", ".venv", ".git/", "__pycache__", "azure.yaml"):
        assert not [f for f in files if f.startswith(excluded) or f"/{excluded}" in f], excluded


def fake_az_outputs() -> dict[str, str]:
    return load_infra_module_by_path(Path(__file__).with_name("fake_az.py")).OUTPUTS


def load_infra_module_by_path(path: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("fake_az", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deployment_args(fake: dict[str, Any], template: str = "infra/main.bicep") -> list[str]:
    return next(e for e in calls(fake) if e["args"][:3] == ["deployment", "group", "create"] and template in e["args"])[
        "args"
    ]


def write_state(fake: dict[str, Any], **state: Any) -> None:
    fake["state"].write_text(json.dumps(state))


def test_a_soft_deleted_vault_of_this_instance_is_recovered_before_the_deployment(fake_az: dict[str, Any]) -> None:
    """After `az group delete`, purge protection keeps the vault's name for 90 days and the new
    deployment computes the same name: the run recovers it instead of failing."""
    vaults = "providers/Microsoft.KeyVault/vaults"
    ours = f"/subscriptions/0000/resourceGroups/RG-Gruppstart-Region-Jonkoping/{vaults}/kv-gs-rjl-abc"  # any case
    other = f"/subscriptions/0000/resourceGroups/rg-other/{vaults}/kv-gs-rjl-xyz"
    write_state(
        fake_az,
        deleted_vaults=[
            {"name": "kv-gs-rjl-abc", "properties": {"vaultId": ours}},
            {"name": "kv-gs-rjl-xyz", "properties": {"vaultId": other}},
        ],
    )
    done = run_deploy("region-jonkoping", env=fake_az["env"], path_dirs=(fake_az["bin"],))
    assert done.returncode == 0, done.stderr
    commands = [" ".join(e["args"][:3]) for e in calls(fake_az)]
    recovered = [e["args"] for e in calls(fake_az) if e["args"][:2] == ["keyvault", "recover"]]
    assert recovered == [["keyvault", "recover", "--name", "kv-gs-rjl-abc", "--output", "none"]], "only this group's"
    assert commands.index("keyvault recover --name") < commands.index("deployment group create")


def test_validate_changes_nothing_and_names_the_recovery(fake_az: dict[str, Any]) -> None:
    vault_id = (
        "/subscriptions/0/resourceGroups/rg-gruppstart-aurskog-holand/providers/Microsoft.KeyVault/vaults/kv-gs-ahk-1"
    )
    write_state(
        fake_az,
        groups={"rg-gruppstart-aurskog-holand": "norwayeast"},
        deleted_vaults=[{"name": "kv-gs-ahk-1", "properties": {"vaultId": vault_id}}],
    )
    done = run_deploy("aurskog-holand", "--validate", env=fake_az["env"], path_dirs=(fake_az["bin"],))
    assert done.returncode == 0, done.stderr
    verbs = {" ".join(e["args"][:3]) for e in calls(fake_az)}
    assert "deployment group what-if" in verbs and "bicep build --file" in verbs
    changes = {"group create --name", "deployment group create", "keyvault secret set", "keyvault recover --name"}
    assert not verbs & changes, verbs & changes
    assert not [v for v in verbs if v.startswith("functionapp")]
    assert "az keyvault recover --name kv-gs-ahk-1" in done.stdout


def test_validate_before_the_first_deployment_compiles_only(fake_az: dict[str, Any]) -> None:
    done = run_deploy("aurskog-holand", "--validate", env=fake_az["env"], path_dirs=(fake_az["bin"],))
    assert done.returncode == 0, done.stderr
    verbs = [" ".join(e["args"][:3]) for e in calls(fake_az)]
    assert "bicep build --file" in verbs and "deployment group what-if" not in verbs
    assert "does not exist yet" in done.stdout
    assert "group create --name" not in verbs


def test_the_upload_is_retried_while_the_roles_propagate(fake_az: dict[str, Any]) -> None:
    write_state(fake_az, zip_failures=2)
    done = run_deploy("region-jonkoping", env=fake_az["env"], path_dirs=(fake_az["bin"],))
    assert done.returncode == 0, done.stderr
    uploads = [e for e in calls(fake_az) if e["args"][:2] == ["functionapp", "deployment"]]
    assert [e["status"] for e in uploads] == [1, 1, 0]
    assert "upload refused" in done.stderr


def test_an_upload_that_keeps_failing_stops_the_run(fake_az: dict[str, Any]) -> None:
    write_state(fake_az, zip_failures=99)
    done = run_deploy("region-jonkoping", env=fake_az["env"], path_dirs=(fake_az["bin"],))
    assert done.returncode != 0
    assert len([e for e in calls(fake_az) if e["args"][:2] == ["functionapp", "deployment"]]) == 6
    assert "the upload failed 6 times" in done.stderr


def test_the_budget_keeps_its_start_date(fake_az: dict[str, Any]) -> None:
    """Azure refuses to change a budget's start date: a later run passes the existing one."""
    write_state(fake_az, budget_start="2026-03-01T00:00:00Z")
    assert run_deploy("region-jonkoping", env=fake_az["env"], path_dirs=(fake_az["bin"],)).returncode == 0
    assert "budgetStartDate=2026-03-01" in deployment_args(fake_az, "infra/budget.bicep")


def test_the_first_budget_starts_this_month(fake_az: dict[str, Any]) -> None:
    assert run_deploy("region-jonkoping", env=fake_az["env"], path_dirs=(fake_az["bin"],)).returncode == 0
    budget_args = deployment_args(fake_az, "infra/budget.bicep")
    (start,) = [a.split("=", 1)[1] for a in budget_args if a.startswith("budgetStartDate=")]
    assert re.fullmatch(r"\d{4}-\d{2}-01", start)


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ({"args": ("--principal-type", "ServicePrincipal")}, "ServicePrincipal"),
        ({"env": {"AZURE_PRINCIPAL_TYPE": "ServicePrincipal"}}, "ServicePrincipal"),
        ({"state": {"user_type": "servicePrincipal"}}, "ServicePrincipal"),
        ({}, "User"),
    ],
    ids=["flag", "azd-environment", "az-account-show", "default"],
)
def test_the_deployers_principal_type(fake_az: dict[str, Any], how: dict[str, Any], expected: str) -> None:
    if "state" in how:
        write_state(fake_az, **how["state"])
    done = run_deploy(
        "region-jonkoping", *how.get("args", ()), env=fake_az["env"] | how.get("env", {}), path_dirs=(fake_az["bin"],)
    )
    assert done.returncode == 0, done.stderr
    assert f"deployerPrincipalType={expected}" in deployment_args(fake_az)
    assert not [e for e in calls(fake_az) if e["args"][0] == "ad"]


def test_an_unknown_principal_type_is_refused() -> None:
    done = run_deploy("region-jonkoping", "--dry-run", "--principal-type", "Robot")
    assert done.returncode == 2 and "--principal-type" in done.stderr


def test_the_budget_name_is_the_templates(parsed: dict[str, Any]) -> None:
    script = DEPLOY.read_text(encoding="utf-8")
    (name,) = re.findall(r'^BUDGET_NAME="([^"]+)"', script, re.MULTILINE)
    budget = template_of(parsed, INFRA / "budget.bicep")
    assert budget["parameters"]["budgetName"]["default"] == name


def test_the_azd_hook_step_deploys_the_budget_with_the_outputs_from_the_environment(fake_az: dict[str, Any]) -> None:
    write_state(fake_az, budget_start="2026-03-01T00:00:00Z")
    env = fake_az["env"] | {"AZURE_ACTION_GROUP_ID": "/subscriptions/1/ag-from-azd"}
    done = run_deploy("region-jonkoping", "--step", "budget", env=env, path_dirs=(fake_az["bin"],))
    assert done.returncode == 0, done.stderr
    entries = calls(fake_az)
    args = deployment_args(fake_az, "infra/budget.bicep")
    assert "budgetStartDate=2026-03-01" in args and "actionGroupId=/subscriptions/1/ag-from-azd" in args
    assert [" ".join(e["args"][:3]) for e in entries if e["args"][0] != "rest"] == ["deployment group create"]
    assert run_deploy("region-jonkoping", "--step", "budget", env=fake_az["env"]).returncode != 0, "needs the id"


# --- the budget cannot sink a deployment (issue 18, point 4) -----------------------------------------


def test_a_subscription_that_refuses_budgets_gets_the_app_and_a_warning(fake_az: dict[str, Any]) -> None:
    """A CSP "Azure plan" answers 422 to a budget: the run still writes the secrets and publishes
    the app, ends with 0, and says what to do about the budget."""
    write_state(fake_az, budget_refused=True)
    env = fake_az["env"] | {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}
    done = run_deploy("region-jonkoping", env=env, path_dirs=(fake_az["bin"],))
    assert done.returncode == 0, done.stderr
    entries = calls(fake_az)
    refused = [e for e in entries if "infra/budget.bicep" in e["args"] and e["args"][1] == "group"]
    assert [e["status"] for e in refused] == [1], "the budget was tried once and refused"
    assert [e["status"] for e in entries if e["args"][:2] == ["functionapp", "deployment"]] == [0], "published"
    assert sorted(secrets_written(entries)) == [
        "admin-token",
        "facilitator-link-secret",
        "phone-key-secret",
        "twilio-auth-token",
    ]
    assert "Status Code: 422" in done.stderr, "Azure's own answer is shown"
    assert "warning: the monthly budget was not created" in done.stderr
    assert "CSP partner" in done.stderr and "--step budget" in done.stderr
    assert "/api/sms/inbound" in done.stdout, "and the run carries on to the URLs"


# --- the resource group (issue 18, point 8) ------------------------------------------------------------


def test_an_existing_resource_group_is_never_recreated(fake_az: dict[str, Any]) -> None:
    """A group made by someone else, elsewhere, under a policy that denies changing its tags: the
    run uses it as it is."""
    write_state(
        fake_az,
        groups={"rg-gruppstart-region-jonkoping": "westeurope"},
        group_tags={"rg-gruppstart-region-jonkoping": ["costcentre=4711"]},
        group_policy_denies_tag_changes=True,
    )
    done = run_deploy("region-jonkoping", env=fake_az["env"], path_dirs=(fake_az["bin"],))
    assert done.returncode == 0, done.stderr
    verbs = [" ".join(e["args"][:2]) for e in calls(fake_az)]
    assert "group exists" in verbs and "group create" not in verbs
    state = json.loads(fake_az["state"].read_text())
    assert state["groups"] == {"rg-gruppstart-region-jonkoping": "westeurope"}
    assert state["group_tags"] == {"rg-gruppstart-region-jonkoping": ["costcentre=4711"]}
    assert "exists: left as it is" in done.stdout


def test_a_missing_resource_group_is_created_with_the_files_tags(fake_az: dict[str, Any], tmp_path: Path) -> None:
    document = json.loads((INFRA / "municipalities" / "region-jonkoping.json").read_text(encoding="utf-8"))
    document["deployment"]["tags"] = {"costcentre": "4711", "owner": "Folkhälsa och sjukvård"}
    done = run_deploy(filled_copy("region-jonkoping", document), env=fake_az["env"], path_dirs=(fake_az["bin"],))
    assert done.returncode == 0, done.stderr
    creates = [e for e in calls(fake_az) if e["args"][:2] == ["group", "create"]]
    assert len(creates) == 1
    state = json.loads(fake_az["state"].read_text())
    assert state["groups"] == {"rg-gruppstart-region-jonkoping": "swedencentral"}
    assert sorted(state["group_tags"]["rg-gruppstart-region-jonkoping"]) == [
        "app=gruppstart",
        "costcentre=4711",
        "municipality=region-jonkoping",
        "owner=Folkhälsa och sjukvård",
    ]


# --- publishing: a timeout, and retries only for a role not applied yet (issue 18, point 8) ----------------


def test_an_upload_error_that_is_not_a_role_is_not_retried(fake_az: dict[str, Any]) -> None:
    write_state(fake_az, zip_error="(BadRequest) Deployment failed: the package has no function_app.py")
    done = run_deploy("region-jonkoping", env=fake_az["env"], path_dirs=(fake_az["bin"],))
    assert done.returncode != 0
    assert len([e for e in calls(fake_az) if e["args"][:2] == ["functionapp", "deployment"]]) == 1
    assert "not retried" in done.stderr and "the package has no function_app.py" in done.stderr
    assert "upload refused" not in done.stderr


def test_an_upload_that_hangs_is_given_up_after_the_timeout(fake_az: dict[str, Any]) -> None:
    write_state(fake_az, zip_hang_seconds=60)
    env = fake_az["env"] | {"GRUPPSTART_PUBLISH_TIMEOUT": "2"}
    started = time.monotonic()
    done = run_deploy("region-jonkoping", env=env, path_dirs=(fake_az["bin"],))
    assert done.returncode != 0
    assert time.monotonic() - started < 45, "the run did not wait for the hung upload"
    assert [e["status"] for e in calls(fake_az) if e["args"][:2] == ["functionapp", "deployment"]] == ["hung"]
    assert "did not finish within 2 s" in done.stderr


# --- issue 20.7: no placeholder goes live ----------------------------------------------------------


@pytest.mark.parametrize("path", MUNICIPALITY_FILES, ids=lambda p: p.stem)
def test_a_deployment_refuses_the_placeholder_numbers_and_names_each_field(
    path: Path, tripwire_az: tuple[Path, Path]
) -> None:
    """The repository's files as they are: the dry run stops before any command and says what to fill."""
    bin_dir, marker = tripwire_az
    done = run_deploy(path.stem, "--dry-run", path_dirs=(bin_dir,), as_filed=True)
    assert done.returncode != 0
    assert not marker.exists() and "az " not in done.stdout, "nothing is run or printed to run"
    fields = re.findall(
        r"^  - (deployment\.smsSender|deployment\.alertPhone|organisation\.coordinator_phone) ", done.stderr, re.M
    )
    assert sorted(fields) == ["deployment.alertPhone", "deployment.smsSender", "organisation.coordinator_phone"], (
        done.stderr
    )
    assert "fill in the Twilio number" in done.stderr


def test_a_swedish_number_in_the_fiction_range_is_refused_and_a_real_one_deploys(
    tmp_path: Path, tripwire_az: tuple[Path, Path]
) -> None:
    bin_dir, _marker = tripwire_az
    document = json.loads((INFRA / "municipalities" / "region-jonkoping.json").read_text(encoding="utf-8"))
    fine = json.loads(Path(filled_copy("region-jonkoping", document)).read_text(encoding="utf-8"))
    fine["organisation"]["coordinator_phone"] = "+46701740650"  # PTS: 070-174 06 05 to 070-174 06 99
    path = FILLED_DIR / "region-jonkoping.json"
    path.write_text(json.dumps(fine, ensure_ascii=False), encoding="utf-8")
    done = run_deploy(str(path), "--dry-run", path_dirs=(bin_dir,))
    assert done.returncode != 0
    assert "organisation.coordinator_phone +46701740650 is in the range PTS reserves" in done.stderr
    assert "deployment.smsSender" not in done.stderr and "deployment.alertPhone" not in done.stderr
    fine["organisation"]["coordinator_phone"] = "+46701740700"  # just past the range
    path.write_text(json.dumps(fine, ensure_ascii=False), encoding="utf-8")
    assert (
        run_deploy(str(path), "--dry-run", path_dirs=(bin_dir,), env={"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}).returncode
        == 0
    )


@pytest.mark.parametrize(
    ("number", "refused"),
    [
        ("+46701740605", True),
        ("+46701740699", True),
        ("070-174 06 42", True),
        ("+46701740604", False),
        ("+46701740700", False),
        ("+46701234567", True),  # libphonenumber's Swedish example
        ("+4741234567", True),  # libphonenumber's Norwegian example
        ("+4741234569", True),  # a run of 123456
        ("+4790000000", True),
        ("010-242 41 73", False),  # the region's real coordinator line
        ("+46733960712", False),
        ("+4790871523", False),
    ],
)
def test_what_counts_as_a_placeholder(deploy_params: Any, number: str, refused: bool) -> None:
    assert (deploy_params.placeholder_reason(number) is not None) is refused


def test_make_dev_and_the_parameters_file_keep_accepting_the_repositorys_files(deploy_params: Any) -> None:
    """Only a deployment (--live) refuses: the mapping without it, and `make dev`, take the files as they are."""
    for path in MUNICIPALITY_FILES:
        assert deploy_params.main([str(path), "--quiet", "--no-validate", "--field", "id"]) == 0
        assert deploy_params.main([str(path), "--quiet", "--no-validate", "--field", "id", "--live"]) == 2
