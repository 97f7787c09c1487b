"""A stand-in for the az CLI, for running infra/deploy.sh for real in tests: it answers the
commands deploy.sh uses from a JSON state file (resource groups and their tags, deleted vaults, a
budget or a subscription that refuses budgets, deployment outputs, Key Vault secrets, upload
failures and hangs to come) and logs every call, so a test can check what a run changed.
Anything else (a Microsoft Graph call such as `az ad ...`) fails.

    FAKE_AZ_STATE=state.json FAKE_AZ_LOG=calls.jsonl python fake_az.py <az arguments>
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import zipfile
from pathlib import Path

DEPLOYER_OBJECT_ID = "11111111-2222-3333-4444-555555555555"
OUTPUTS = {
    "AZURE_FUNCTION_APP_NAME": "func-gs-test-abc123",
    "AZURE_FUNCTION_APP_ID": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Web/sites/func-gs-test-abc123",
    "AZURE_KEY_VAULT_NAME": "kv-gs-test-abc123",
    "AZURE_STORAGE_ACCOUNT_NAME": "stgstestabc123",
    "PUBLIC_BASE_URL": "https://func-gs-test-abc123.azurewebsites.net",
    "TWILIO_AUTH_TOKEN_SECRET_NAME": "twilio-auth-token",
    "ADMIN_TOKEN_SECRET_NAME": "admin-token",
    "AZURE_ACTION_GROUP_ID": "/subscriptions/0000/resourceGroups/rg/providers/microsoft.insights/actionGroups/ag-1",
}


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def token(claims: dict[str, str]) -> str:
    def part(value: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.signature"


def main(args: list[str]) -> int:
    state_path, log_path = Path(os.environ["FAKE_AZ_STATE"]), Path(os.environ["FAKE_AZ_LOG"])
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    for key, empty in (("groups", {}), ("secrets", {}), ("deleted_vaults", []), ("vaults", [])):
        state.setdefault(key, empty)
    entry: dict[str, object] = {"args": args}
    command = " ".join(a for a in args[:4] if not a.startswith("-"))
    query = option(args, "--query")
    status = 0

    if command.startswith("account show"):
        user_type = state.get("user_type", "user")
        print({"user.type": user_type, "user.name": "operator@example.org"}.get(query or "", "Name  Id  User"))
    elif command.startswith("account get-access-token"):
        print(token({"oid": DEPLOYER_OBJECT_ID, "tid": "tenant"}))
    elif command.startswith("bicep build"):
        Path(option(args, "--outfile") or "").write_text("{}")
    elif command.startswith("group exists"):
        print("true" if option(args, "--name") in state["groups"] else "false")
    elif command.startswith("group create"):
        name = option(args, "--name") or ""
        if name in state["groups"] and state.get("group_policy_denies_tag_changes"):
            print("ERROR: (RequestDisallowedByPolicy) tags would change on an existing group", file=sys.stderr)
            status = 1
        else:
            state["groups"][name] = option(args, "--location")
            start = args.index("--tags") + 1 if "--tags" in args else len(args)
            tags = []
            for arg in args[start:]:
                if arg.startswith("--"):
                    break
                tags.append(arg)
            state.setdefault("group_tags", {})[name] = tags
    elif command.startswith("keyvault list-deleted"):
        print(json.dumps(state["deleted_vaults"]))
    elif command.startswith("keyvault recover"):
        name = option(args, "--name")
        state["vaults"].append(name)
        state["deleted_vaults"] = [v for v in state["deleted_vaults"] if v["name"] != name]
    elif (
        command.startswith("rest")
        and option(args, "--method") == "get"
        and "/budgets/" in (option(args, "--url") or "")
    ):
        if "budget_start" not in state:
            print("ERROR: (NotFound) Budget not found.", file=sys.stderr)
            status = 3
        else:
            print(state["budget_start"])
    elif command.startswith(("deployment group create", "deployment group what-if")):
        assert Path(option(args, "--template-file") or "").is_file(), "the template file exists"
        files = [a[1:] for a in args if a.startswith("@")]
        entry["parameters"] = json.loads(Path(files[0]).read_text(encoding="utf-8"))["parameters"]
        budget = (option(args, "--template-file") or "").endswith("budget.bicep")
        if budget and "create" in command and state.get("budget_refused"):
            print(
                "ERROR: (BadRequest) Cost Management supports only Enterprise Agreement, Web direct and "
                "Microsoft Customer Agreement offer types. Status Code: 422",
                file=sys.stderr,
            )
            status = 1
        elif budget and "create" in command:
            state["budget_start"] = next(a for a in args if a.startswith("budgetStartDate=")).split("=", 1)[1]
        elif "create" in command:
            print(json.dumps({name: {"type": "String", "value": value} for name, value in OUTPUTS.items()}))
    elif command.startswith("keyvault secret list"):
        print("\n".join(state["secrets"]))
    elif command.startswith("keyvault secret show"):
        name = option(args, "--name")
        if name not in state["secrets"]:
            print(f"(SecretNotFound) A secret with (name/id) {name} was not found in this key vault.", file=sys.stderr)
            status = 3
        else:
            print(state["secrets"][name] if query == "value" else f"https://vault/secrets/{name}/v1")
    elif command.startswith("keyvault secret set"):
        if "--value" in args:
            print("fake az: a secret value on the command line", file=sys.stderr)
            status = 2
        else:
            path = Path(option(args, "--file") or "")
            entry["file_mode"] = oct(path.stat().st_mode & 0o777)
            state["secrets"][option(args, "--name")] = path.read_text(encoding="utf-8")
    elif command.startswith("rest"):
        pass
    elif command.startswith("functionapp deployment source config-zip"):
        if state.get("zip_hang_seconds"):  # logged first: a timeout kills this process mid-sleep
            with log_path.open("a") as log:
                log.write(json.dumps({"args": args, "status": "hung"}) + "\n")
            time.sleep(state["zip_hang_seconds"])
        if state.get("zip_error"):
            print(f"ERROR: {state['zip_error']}", file=sys.stderr)
            status = 1
        elif state.get("zip_failures", 0) > 0:
            state["zip_failures"] -= 1
            print("ERROR: Status Code: 403, Details: AuthorizationPermissionMismatch", file=sys.stderr)
            status = 1
        else:
            with zipfile.ZipFile(option(args, "--src") or "") as archive:
                entry["package"] = archive.namelist()
    else:
        print(f"fake az: unexpected command: {args}", file=sys.stderr)
        status = 2
    entry["status"] = status
    state_path.write_text(json.dumps(state))
    with log_path.open("a") as log:
        log.write(json.dumps(entry) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
