#!/usr/bin/env bash
# Deploys Gruppstart for one municipality with the az CLI, from infra/municipalities/<name>.json.
#
#   infra/deploy.sh <municipality> [--dry-run]
#
# 1. creates the resource group          (az group create)
# 2. deploys infra/main.bicep            (az deployment group create)
# 3. writes the two Key Vault secrets    (az keyvault secret set): TWILIO_AUTH_TOKEN from the
#    environment; ADMIN_TOKEN from the environment or, the first time only, a random one
# 4. publishes the app package           (az functionapp deployment source config-zip, remote build)
# 5. prints the form's URL and the Twilio webhook URLs
#
# Every step is idempotent: a second run with the same file and tokens changes nothing (a secret
# is written only when it is missing or differs, an existing admin token is never rotated, and
# the same package is published again, which only restarts the app).
# --dry-run prints every command instead of running it (secrets as ***); it needs no az CLI.
# --step secrets|urls runs one step with the deployment's outputs from the environment
# (AZURE_KEY_VAULT_NAME, AZURE_FUNCTION_APP_ID, PUBLIC_BASE_URL); the azd hooks use it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
cd "$ROOT"

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

DRY_RUN=false
STEP=all
MUNICIPALITY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=true ;;
    --step)
      [ $# -ge 2 ] || { echo "error: --step needs secrets or urls" >&2; exit 2; }
      STEP="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
      [ -z "$MUNICIPALITY" ] || { echo "error: one municipality at a time" >&2; exit 2; }
      MUNICIPALITY="$1" ;;
  esac
  shift
done
case "$STEP" in all|secrets|urls) ;; *) echo "error: --step must be secrets or urls" >&2; exit 2 ;; esac
if [ -z "$MUNICIPALITY" ]; then
  usage >&2
  known=""
  for file in "$HERE"/municipalities/*.json; do [ -e "$file" ] && known+=" $(basename "$file" .json)"; done
  echo "error: name a municipality; known:${known:- none}" >&2
  exit 2
fi

# The project's environment validates the organisation with the app's own model; any python3 maps it.
if [ -x .venv/bin/python ]; then PY=.venv/bin/python
elif command -v python3 >/dev/null 2>&1; then PY=python3
else echo "error: python3 is needed (it turns the municipality file into template parameters)" >&2; exit 2
fi

# Validates the file (an unknown municipality: lists the known ones and exits non-zero).
"$PY" infra/deploy_params.py "$MUNICIPALITY" --field id >/dev/null
ID="" ORG_NAME="" LOCATION="" RESOURCE_GROUP="" TWILIO_ACCOUNT_SID=""
while IFS=$'\t' read -r key value; do
  case "$key" in
    id) ID="$value" ;;
    name) ORG_NAME="$value" ;;
    location) LOCATION="$value" ;;
    resourceGroup) RESOURCE_GROUP="${AZURE_RESOURCE_GROUP:-$value}" ;;
    twilioAccountSid) TWILIO_ACCOUNT_SID="$value" ;;
  esac
done < <("$PY" infra/deploy_params.py "$MUNICIPALITY" --fields --no-validate --quiet)
if [ -z "$ID" ] || [ -z "$LOCATION" ]; then die "cannot read the municipality file for $MUNICIPALITY"; fi
DEPLOYMENT_NAME="gruppstart-$ID"

WORKDIR="$(mktemp -d)"
trap 'rm -rf "$WORKDIR"' EXIT

# ---- printing and running ----------------------------------------------------------------------
exec 3>&1  # commands are shown on the original standard output, also inside $( )

show() {  # prints a command as one copyable shell line
  local out="" arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_@%+=:,./~-]+$ ]]; then out+=" $arg"
    else out+=" '${arg//\'/\'\\\'\'}'"
    fi
  done
  if $DRY_RUN; then printf '%s\n' "${out# }" >&3; else printf '+ %s\n' "${out# }" >&3; fi
}
note() { printf '# %s\n' "$*" >&3; }

run() {  # run a command, or only show it in a dry run
  show "$@"
  $DRY_RUN || "$@"
}

capture() {  # capture PLACEHOLDER command...: its standard output, or the placeholder in a dry run
  local placeholder="$1"; shift
  show "$@"
  if $DRY_RUN; then printf '%s' "$placeholder"; else "$@"; fi
}

retry() {  # data-plane calls right after a role assignment may be refused for a few minutes
  local attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if "$@"; then return 0; fi
    [ "$attempt" -lt 10 ] || return 1
    echo "  (not allowed yet: waiting 30 s for the new Key Vault role to take effect, try $attempt of 10)" >&2
    sleep 30
  done
}

if ! $DRY_RUN && ! command -v az >/dev/null 2>&1; then
  die "the az CLI is not installed: see infra/README.md (Prerequisites), or try --dry-run"
fi

# ---- 1-2: resource group and template ------------------------------------------------------------
provision() {
  note "Gruppstart for $ORG_NAME ($ID) into resource group $RESOURCE_GROUP in $LOCATION"
  note "signed-in account and subscription (az login; az account set --subscription ...)"
  capture "" az account show --query "{subscription:name, id:id, user:user.name}" --output table >&3

  local user_type deployer deployer_type
  user_type="$(capture user az account show --query user.type --output tsv)"
  if [ "$user_type" = "servicePrincipal" ]; then
    deployer="$(capture "" az ad sp show --id "$(az account show --query user.name --output tsv)" --query id --output tsv)"
    deployer_type=ServicePrincipal
  else
    deployer="$(capture "<signed-in-user-object-id>" az ad signed-in-user show --query id --output tsv)"
    deployer_type=User
  fi

  run az group create --name "$RESOURCE_GROUP" --location "$LOCATION" \
    --tags app=gruppstart "municipality=$ID" --output none

  local parameters="$WORKDIR/parameters.json"
  $DRY_RUN || printf '+ ' >&3
  printf '%s infra/deploy_params.py %s > %s\n' "$PY" "$MUNICIPALITY" "$parameters" >&3
  "$PY" infra/deploy_params.py "$MUNICIPALITY" --no-validate --quiet >"$parameters"
  if $DRY_RUN; then
    note "parameters the template gets from infra/municipalities/$ID.json:"
    sed 's/^/#   /' "$parameters" >&3
  fi

  local outputs="$WORKDIR/outputs.json"
  capture '{}' az deployment group create --resource-group "$RESOURCE_GROUP" --name "$DEPLOYMENT_NAME" \
    --template-file infra/main.bicep --parameters "@$parameters" \
    --parameters "deployerPrincipalId=$deployer" "deployerPrincipalType=$deployer_type" \
    --query properties.outputs --output json >"$outputs"
  if ! $DRY_RUN; then
    output() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["value"])' "$outputs" "$1"; }
    AZURE_FUNCTION_APP_NAME="$(output AZURE_FUNCTION_APP_NAME)"
    AZURE_FUNCTION_APP_ID="$(output AZURE_FUNCTION_APP_ID)"
    AZURE_KEY_VAULT_NAME="$(output AZURE_KEY_VAULT_NAME)"
    PUBLIC_BASE_URL="$(output PUBLIC_BASE_URL)"
  fi
}

# ---- 3: secrets ------------------------------------------------------------------------------------
SECRETS_WRITTEN=false

secret_names() {  # the names of the vault's secrets, one a line (no values)
  az keyvault secret list --vault-name "$AZURE_KEY_VAULT_NAME" --query "[].name" --output tsv
}

secret_value() {
  az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name "$1" --query value --output tsv
}

write_secret() {  # write_secret NAME VALUE: shown with the value as ***
  show az keyvault secret set --vault-name "$AZURE_KEY_VAULT_NAME" --name "$1" --value '***' --output none
  if ! $DRY_RUN; then
    retry az keyvault secret set --vault-name "$AZURE_KEY_VAULT_NAME" --name "$1" --value "$2" --output none >/dev/null
    SECRETS_WRITTEN=true
  fi
}

secrets() {
  local names="" current
  show az keyvault secret list --vault-name "$AZURE_KEY_VAULT_NAME" --query "[].name" --output tsv
  if ! $DRY_RUN; then names="$(retry secret_names)" || die "cannot list the secrets of $AZURE_KEY_VAULT_NAME"; fi
  has_secret() { printf '%s\n' "$names" | grep -qx "$1"; }

  # Twilio auth token: from the environment; written only when missing or different.
  if $DRY_RUN; then
    note "when TWILIO_AUTH_TOKEN is set: compare it with the vault's and write it only if it differs"
    show az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name twilio-auth-token --query value --output tsv
    write_secret twilio-auth-token '***'
    [ -n "${TWILIO_AUTH_TOKEN:-}" ] || note "TWILIO_AUTH_TOKEN is not set now: a real run keeps the vault's token, and stops if there is none and twilioAccountSid is set"
  elif [ -n "${TWILIO_AUTH_TOKEN:-}" ]; then
    current=""
    if has_secret twilio-auth-token; then show az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name twilio-auth-token --query value --output tsv; current="$(retry secret_value twilio-auth-token)"; fi
    if [ "$current" = "$TWILIO_AUTH_TOKEN" ]; then note "twilio-auth-token: unchanged"
    else write_secret twilio-auth-token "$TWILIO_AUTH_TOKEN"
    fi
  elif has_secret twilio-auth-token; then
    note "twilio-auth-token: kept (TWILIO_AUTH_TOKEN is not set)"
  elif [ -n "$TWILIO_ACCOUNT_SID" ]; then
    die "TWILIO_AUTH_TOKEN is not set and $AZURE_KEY_VAULT_NAME has no twilio-auth-token: export TWILIO_AUTH_TOKEN=... (Twilio console, Account info) and run again"
  else
    note "twilio-auth-token: none (no twilioAccountSid in the municipality file: the app sends no SMS through Twilio)"
  fi

  # Admin token: from the environment, or generated once; an existing one is never rotated.
  if $DRY_RUN; then
    note "only when the vault has no admin-token yet (ADMIN_TOKEN from the environment, else a new random one), or ADMIN_TOKEN is set and differs"
    write_secret admin-token '***'
  elif [ -n "${ADMIN_TOKEN:-}" ]; then
    current=""
    if has_secret admin-token; then show az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name admin-token --query value --output tsv; current="$(retry secret_value admin-token)"; fi
    if [ "$current" = "$ADMIN_TOKEN" ]; then note "admin-token: unchanged"
    else write_secret admin-token "$ADMIN_TOKEN"
    fi
  elif has_secret admin-token; then
    note "admin-token: kept (read it with: az keyvault secret show --vault-name $AZURE_KEY_VAULT_NAME --name admin-token --query value --output tsv)"
  else
    write_secret admin-token "$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')"
    note "admin-token: generated; read it with: az keyvault secret show --vault-name $AZURE_KEY_VAULT_NAME --name admin-token --query value --output tsv"
  fi

  # Phone-marker key: generated once and never rotated here (markers keyed with it would orphan).
  if $DRY_RUN; then
    note "only when the vault has no phone-key-secret yet: a new random one"
    write_secret phone-key-secret '***'
  elif has_secret phone-key-secret; then
    note "phone-key-secret: kept"
  else
    write_secret phone-key-secret "$("$PY" -c 'import secrets; print(secrets.token_urlsafe(48))')"
  fi

  # Key Vault references are cached for up to a day; a written secret is fetched again now.
  if $DRY_RUN || $SECRETS_WRITTEN; then
    $DRY_RUN && note "only when a secret was written: make the app fetch its Key Vault references again"
    run az rest --method post --url "$AZURE_FUNCTION_APP_ID/config/configreferences/appsettings/refresh?api-version=2022-03-01" --output none
  fi
}

# ---- 4: app package ------------------------------------------------------------------------------
publish() {
  local package="$WORKDIR/gruppstart.zip"
  run "$PY" infra/package.py --output "$package"
  run az functionapp deployment source config-zip --resource-group "$RESOURCE_GROUP" \
    --name "$AZURE_FUNCTION_APP_NAME" --src "$package" --build-remote true --output none
}

# ---- 5: what to paste where --------------------------------------------------------------------
urls() {
  local base="${PUBLIC_BASE_URL%/}"
  cat >&3 <<EOF

Gruppstart for $ORG_NAME ($ID)
  Public form:      $base/
  Operators' pages: $base/manage
  Twilio, on the sender number or Messaging Service (HTTP POST):
    A message comes in:  $base/api/sms/inbound
    Status callback:     $base/api/sms/status
EOF
  if [ -z "$TWILIO_ACCOUNT_SID" ]; then
    echo "  Note: no twilioAccountSid in infra/municipalities/$ID.json: no SMS goes out through Twilio yet." >&3
  fi
}

# Outputs: from the deployment (all steps), from azd's environment (--step), else placeholders.
if [ "$STEP" = all ]; then
  unset AZURE_FUNCTION_APP_NAME AZURE_FUNCTION_APP_ID AZURE_KEY_VAULT_NAME PUBLIC_BASE_URL
elif ! $DRY_RUN; then
  for name in AZURE_KEY_VAULT_NAME AZURE_FUNCTION_APP_ID PUBLIC_BASE_URL; do
    [ -n "${!name:-}" ] || die "--step $STEP needs $name from the deployment's outputs in the environment (azd provides it)"
  done
fi
AZURE_FUNCTION_APP_NAME="${AZURE_FUNCTION_APP_NAME:-<AZURE_FUNCTION_APP_NAME>}"
AZURE_FUNCTION_APP_ID="${AZURE_FUNCTION_APP_ID:-<AZURE_FUNCTION_APP_ID>}"
AZURE_KEY_VAULT_NAME="${AZURE_KEY_VAULT_NAME:-<AZURE_KEY_VAULT_NAME>}"
PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-<PUBLIC_BASE_URL>}"

case "$STEP" in
  all) provision; secrets; publish; urls ;;
  secrets) secrets ;;
  urls) urls ;;
esac
