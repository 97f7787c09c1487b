"""A stand-in for the az CLI, for running infra/deploy.sh for real in tests: it answers the
commands deploy.sh uses from a JSON state file (resource groups, deployment outputs, Key Vault
secrets) and logs every call, so a test can check what a run changed.

    FAKE_AZ_STATE=state.json FAKE_AZ_LOG=calls.jsonl python fake_az.py <az arguments>
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

OUTPUTS = {
    "AZURE_FUNCTION_APP_NAME": "func-gs-test-abc123",
    "AZURE_FUNCTION_APP_ID": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Web/sites/func-gs-test-abc123",
    "AZURE_KEY_VAULT_NAME": "kv-gs-test-abc123",
    "AZURE_STORAGE_ACCOUNT_NAME": "stgstestabc123",
    "PUBLIC_BASE_URL": "https://func-gs-test-abc123.azurewebsites.net",
    "TWILIO_AUTH_TOKEN_SECRET_NAME": "twilio-auth-token",
    "ADMIN_TOKEN_SECRET_NAME": "admin-token",
}


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def main(args: list[str]) -> int:
    state_path, log_path = Path(os.environ["FAKE_AZ_STATE"]), Path(os.environ["FAKE_AZ_LOG"])
    state = json.loads(state_path.read_text()) if state_path.exists() else {"groups": {}, "secrets": {}}
    entry: dict[str, object] = {"args": args}
    command = " ".join(a for a in args[:4] if not a.startswith("-"))
    query = option(args, "--query")

    if command.startswith("account show"):
        print({"user.type": "user", "user.name": "operator@example.org"}.get(query or "", "Name  Id  User"))
    elif command.startswith("ad signed-in-user show"):
        print("11111111-2222-3333-4444-555555555555")
    elif command.startswith("group create"):
        state["groups"][option(args, "--name")] = option(args, "--location")
    elif command.startswith("deployment group create"):
        assert Path(option(args, "--template-file") or "").is_file(), "the template file exists"
        files = [a[1:] for a in args if a.startswith("@")]
        entry["parameters"] = json.loads(Path(files[0]).read_text(encoding="utf-8"))["parameters"]
        print(json.dumps({name: {"type": "String", "value": value} for name, value in OUTPUTS.items()}))
    elif command.startswith("keyvault secret list"):
        print("\n".join(state["secrets"]))
    elif command.startswith("keyvault secret show"):
        name = option(args, "--name")
        if name not in state["secrets"]:
            print(f"(SecretNotFound) A secret with (name/id) {name} was not found in this key vault.", file=sys.stderr)
            return 3
        print(state["secrets"][name] if query == "value" else f"https://vault/secrets/{name}/v1")
    elif command.startswith("keyvault secret set"):
        state["secrets"][option(args, "--name")] = option(args, "--value")
    elif command.startswith("rest"):
        pass
    elif command.startswith("functionapp deployment source config-zip"):
        with zipfile.ZipFile(option(args, "--src") or "") as archive:
            entry["package"] = archive.namelist()
    else:
        print(f"fake az: unexpected command: {args}", file=sys.stderr)
        return 2
    state_path.write_text(json.dumps(state))
    with log_path.open("a") as log:
        log.write(json.dumps(entry) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
