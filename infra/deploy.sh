#!/usr/bin/env bash
# Deploys Gruppstart for one municipality with the az CLI, from infra/municipalities/<name>.json.
#
#   infra/deploy.sh <municipality> [--dry-run] [--validate] [--principal-type User|ServicePrincipal|Group]
#
# 1. validates                           (az bicep build; az deployment group what-if)
#    - creates the resource group what-if needs only when it does not exist, with the file's tags
#      (an existing group, its tags and its region are left alone), and recovers a soft-deleted
#      Key Vault of this instance's name (a deleted resource group's vault blocks the name for 90 days)
# 2. deploys infra/main.bicep            (az deployment group create)
# 3. writes the Key Vault secrets        (az keyvault secret set --file, never a value in argv):
#    TWILIO_AUTH_TOKEN from the environment; ADMIN_TOKEN from the environment or, the first
#    time only, a random one; phone-key-secret, random, the first time only; facilitator-link-secret,
#    random, the first time only or when ROTATE_FACILITATOR_LINK_SECRET=1 (ends every link and session)
# 4. publishes the app package           (az functionapp deployment source config-zip, remote
#    build; within GRUPPSTART_PUBLISH_TIMEOUT seconds (900), retried only on the refusals a new
#    identity's role assignment gives while it propagates)
# 5. deploys the monthly budget          (infra/budget.bicep, a deployment of its own: where the
#    subscription cannot have a budget, a CSP "Azure plan", it warns and says what to do instead)
# 6. prints the form's URL and the Twilio webhook URLs
#
# Every step is idempotent: a second run with the same file and tokens changes nothing (a secret
# is written only when it is missing or differs, an existing admin token is never rotated, and
# the same package is published again, which only restarts the app).
# --dry-run prints every command instead of running it (secrets as ***); it needs no az CLI.
# --validate runs step 1 only and changes nothing (no resource group, no recovery).
# --principal-type says what signed in (default: from az account show; azd passes
# AZURE_PRINCIPAL_TYPE). The deployer's object ID comes from its own access token: no Graph call.
# --step secrets|urls|budget runs one step with the deployment's outputs from the environment
# (AZURE_KEY_VAULT_NAME, AZURE_FUNCTION_APP_ID, PUBLIC_BASE_URL, AZURE_ACTION_GROUP_ID); the azd
# hooks use it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
cd "$ROOT"

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

DRY_RUN=false
VALIDATE_ONLY=false
STEP=all
MUNICIPALITY=""
PRINCIPAL_TYPE="${AZURE_PRINCIPAL_TYPE:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=true ;;
    --validate) VALIDATE_ONLY=true ;;
    --principal-type)
      [ $# -ge 2 ] || { echo "error: --principal-type needs User, ServicePrincipal or Group" >&2; exit 2; }
      PRINCIPAL_TYPE="$2"; shift ;;
    --step)
      [ $# -ge 2 ] || { echo "error: --step needs secrets, urls or budget" >&2; exit 2; }
      STEP="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
      [ -z "$MUNICIPALITY" ] || { echo "error: one municipality at a time" >&2; exit 2; }
      MUNICIPALITY="$1" ;;
  esac
  shift
done
case "$STEP" in all|secrets|urls|budget) ;; *) echo "error: --step must be secrets, urls or budget" >&2; exit 2 ;; esac
case "$PRINCIPAL_TYPE" in ""|User|ServicePrincipal|Group) ;;
  *) echo "error: --principal-type must be User, ServicePrincipal or Group (got $PRINCIPAL_TYPE)" >&2; exit 2 ;;
esac
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
"$PY" infra/deploy_params.py "$MUNICIPALITY" --field id --live >/dev/null  # --live: no placeholder numbers
ID="" ORG_NAME="" LOCATION="" RESOURCE_GROUP="" TWILIO_ACCOUNT_SID="" NAME_PREFIX=""
while IFS=$'\t' read -r key value; do
  case "$key" in
    id) ID="$value" ;;
    name) ORG_NAME="$value" ;;
    location) LOCATION="$value" ;;
    namePrefix) NAME_PREFIX="$value" ;;
    resourceGroup) RESOURCE_GROUP="${AZURE_RESOURCE_GROUP:-$value}" ;;
    twilioAccountSid) TWILIO_ACCOUNT_SID="$value" ;;
  esac
done < <("$PY" infra/deploy_params.py "$MUNICIPALITY" --fields --no-validate --quiet)
if [ -z "$ID" ] || [ -z "$LOCATION" ]; then die "cannot read the municipality file for $MUNICIPALITY"; fi
DEPLOYMENT_NAME="gruppstart-$ID"
BUDGET_NAME="gruppstart-monthly"  # infra/budget.bicep's budgetName; tests/infra checks they agree
GROUP_TAGS=()
while IFS= read -r tag; do [ -n "$tag" ] && GROUP_TAGS+=("$tag"); done \
  < <("$PY" infra/deploy_params.py "$MUNICIPALITY" --group-tags --no-validate --quiet)

umask 077  # the secret files below are readable by this user only
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

retry() {  # retry TRIES SECONDS WHY command...: for what a fresh role assignment refuses at first
  local tries="$1" wait="$2" why="$3" attempt; shift 3
  for ((attempt = 1; ; attempt++)); do
    if "$@"; then return 0; fi
    [ "$attempt" -lt "$tries" ] || return 1
    echo "  ($why: waiting $wait s, try $attempt of $tries)" >&2
    sleep "$wait"
  done
}
RETRY_WAIT="${GRUPPSTART_RETRY_WAIT:-30}"  # tests shorten it

if ! $DRY_RUN && ! command -v az >/dev/null 2>&1; then
  die "the az CLI is not installed: see infra/README.md (Prerequisites), or try --dry-run"
fi

# ---- who deploys: no Microsoft Graph call -------------------------------------------------------
DEPLOYER_ID="" DEPLOYER_TYPE=""
deployer() {
  local user_type
  if [ -z "$PRINCIPAL_TYPE" ]; then
    user_type="$(capture user az account show --query user.type --output tsv)"
    case "$user_type" in servicePrincipal) PRINCIPAL_TYPE=ServicePrincipal ;; *) PRINCIPAL_TYPE=User ;; esac
  fi
  DEPLOYER_TYPE="$PRINCIPAL_TYPE"
  if [ -n "${AZURE_PRINCIPAL_ID:-}" ]; then DEPLOYER_ID="$AZURE_PRINCIPAL_ID"; return; fi
  # The oid claim of the signed-in principal's own ARM token is its object ID (user or service
  # principal): learn.microsoft.com/entra/identity-platform/access-token-claims-reference.
  # The token goes through a pipe, never into argv.
  show az account get-access-token --query accessToken --output tsv
  note "the object ID is the token's oid claim, read from the pipe"
  if $DRY_RUN; then DEPLOYER_ID="<your-object-id>"; return; fi
  DEPLOYER_ID="$(az account get-access-token --query accessToken --output tsv | "$PY" -c '
import base64, json, sys
payload = sys.stdin.read().strip().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["oid"])')" \
    || die "cannot read your object ID from your access token; give it: AZURE_PRINCIPAL_ID=<object id> infra/deploy.sh ..."
}

# ---- a soft-deleted vault of this instance's name ----------------------------------------------
# Deleting the resource group soft-deletes the vault, and purge protection keeps its name taken
# for 90 days (learn.microsoft.com/azure/key-vault/general/key-vault-recovery); the name is the
# same on a new deployment, so the vault is recovered, with its secrets. Its role assignments
# are gone (soft-delete-overview): the deployment creates them again.
recover_vault() {  # recover_vault report|recover
  local deleted
  show az keyvault list-deleted --resource-type vault --output json
  if $DRY_RUN; then
    note "a deleted vault kv-$NAME_PREFIX-... of resource group $RESOURCE_GROUP is recovered: az keyvault recover --name <vault>"
    return
  fi
  if ! deleted="$(az keyvault list-deleted --resource-type vault --output json | "$PY" -c '
import json, sys
group, prefix = sys.argv[1].lower(), "kv-" + sys.argv[2] + "-"
for vault in json.load(sys.stdin):
    vault_id = (vault.get("properties") or {}).get("vaultId") or ""
    if f"/resourcegroups/{group}/" in vault_id.lower() and vault["name"].startswith(prefix):
        print(vault["name"])' "$RESOURCE_GROUP" "$NAME_PREFIX")"; then
    note "could not list deleted vaults (needs Microsoft.KeyVault/deletedVaults/read on the subscription); if the deployment says the vault name is taken, run: az keyvault list-deleted --resource-type vault, then az keyvault recover --name <vault>"
    return
  fi
  [ -n "$deleted" ] || return 0
  if [ "$1" = report ]; then
    note "Key Vault $deleted of this instance is soft-deleted; a real run recovers it: az keyvault recover --name $deleted"
    return
  fi
  note "Key Vault $deleted of this instance is soft-deleted (purge protection keeps its name): recovering it with its secrets"
  run az keyvault recover --name "$deleted" --output none \
    || die "could not recover $deleted. Run: az keyvault recover --name $deleted (needs Key Vault Contributor or Owner), or wait until its scheduled purge date (az keyvault show-deleted --name $deleted), or give the file a new namePrefix"
}

# ---- the budget's start date: Azure refuses to change it --------------------------------------
budget_start() {
  local start="" url="/subscriptions/{subscriptionId}/resourceGroups/$RESOURCE_GROUP/providers/Microsoft.Consumption/budgets/$BUDGET_NAME?api-version=2023-11-01"
  show az rest --method get --url "$url" --query properties.timePeriod.startDate --output tsv
  if $DRY_RUN; then
    note "the existing budget's start date, or else the first of this month: $(date -u +%Y-%m-01)"
    BUDGET_START="$(date -u +%Y-%m-01)"
    return
  fi
  start="$(az rest --method get --url "$url" --query properties.timePeriod.startDate --output tsv 2>/dev/null)" || start=""
  BUDGET_START="${start:0:10}"
  [[ "$BUDGET_START" =~ ^[0-9]{4}-[0-9]{2}-01$ ]] || BUDGET_START="$(date -u +%Y-%m-01)"
}

# ---- 1-2: validate, resource group, template ---------------------------------------------------
provision() {
  note "Gruppstart for $ORG_NAME ($ID) into resource group $RESOURCE_GROUP in $LOCATION"
  note "signed-in account and subscription (az login; az account set --subscription ...)"
  capture "" az account show --query "{subscription:name, id:id, user:user.name}" --output table >&3

  local parameters="$WORKDIR/parameters.json" template="$WORKDIR/main.json" exists=true
  $DRY_RUN || printf '+ ' >&3
  printf '%s infra/deploy_params.py %s > %s\n' "$PY" "$MUNICIPALITY" "$parameters" >&3
  "$PY" infra/deploy_params.py "$MUNICIPALITY" --no-validate --quiet >"$parameters"
  if $DRY_RUN; then
    note "parameters the template gets from infra/municipalities/$ID.json:"
    sed 's/^/#   /' "$parameters" >&3
  fi

  note "1. validate: compile the templates, then what-if against what exists"
  run az bicep build --file infra/main.bicep --outfile "$template"
  run az bicep build --file infra/budget.bicep --outfile "$WORKDIR/budget.json"
  deployer
  # An existing group is never touched: `az group create` on it would replace its tags (which a
  # required-tag policy denies) and fails when the group was made in another region.
  # (A dry run shows the create when deploying, and the what-if when validating.)
  if [ "$(capture "$VALIDATE_ONLY" az group exists --name "$RESOURCE_GROUP")" != true ]; then
    if $VALIDATE_ONLY; then
      note "resource group $RESOURCE_GROUP does not exist yet: a deployment creates everything; nothing to compare"
      exists=false
    else
      $DRY_RUN && note "only when the group does not exist (else it is left as it is, tags and region included):"
      run az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --tags "${GROUP_TAGS[@]}" --output none
    fi
  else
    note "resource group $RESOURCE_GROUP exists: left as it is (its tags and region are not changed)"
  fi
  if $exists; then
    if $VALIDATE_ONLY; then recover_vault report; else recover_vault recover; fi
  fi
  local deploy_args=(--resource-group "$RESOURCE_GROUP" --name "$DEPLOYMENT_NAME"
    --template-file infra/main.bicep --parameters "@$parameters"
    --parameters "deployerPrincipalId=$DEPLOYER_ID" "deployerPrincipalType=$DEPLOYER_TYPE")
  if $exists; then
    run az deployment group what-if "${deploy_args[@]}"
  fi
  if $VALIDATE_ONLY; then
    note "validated; nothing was changed"
    return
  fi

  note "2. deploy"
  local outputs="$WORKDIR/outputs.json"
  capture '{}' az deployment group create "${deploy_args[@]}" --query properties.outputs --output json >"$outputs"
  if ! $DRY_RUN; then
    output() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["value"])' "$outputs" "$1"; }
    AZURE_FUNCTION_APP_NAME="$(output AZURE_FUNCTION_APP_NAME)"
    AZURE_FUNCTION_APP_ID="$(output AZURE_FUNCTION_APP_ID)"
    AZURE_KEY_VAULT_NAME="$(output AZURE_KEY_VAULT_NAME)"
    PUBLIC_BASE_URL="$(output PUBLIC_BASE_URL)"
    AZURE_ACTION_GROUP_ID="$(output AZURE_ACTION_GROUP_ID)"
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

write_secret() {  # write_secret NAME FILE: the value travels in a file (mode 600), never in argv
  show az keyvault secret set --vault-name "$AZURE_KEY_VAULT_NAME" --name "$1" --file '<file>' --encoding utf-8 --output none
  if ! $DRY_RUN; then
    retry 10 "$RETRY_WAIT" "not allowed yet: the new Key Vault role takes a minute or two" \
      az keyvault secret set --vault-name "$AZURE_KEY_VAULT_NAME" --name "$1" --file "$2" --encoding utf-8 --output none >/dev/null
    SECRETS_WRITTEN=true
  fi
  rm -f "$2"
}

secret_file() {  # secret_file NAME VALUE: a file holding VALUE (printf is a builtin: no argv)
  printf '%s' "$2" >"$WORKDIR/$1"
  printf '%s' "$WORKDIR/$1"
}

random_secret_file() {  # random_secret_file NAME BYTES
  "$PY" -c 'import secrets, sys; sys.stdout.write(secrets.token_urlsafe(int(sys.argv[1])))' "$2" >"$WORKDIR/$1"
  printf '%s' "$WORKDIR/$1"
}

secrets() {
  local names="" current
  show az keyvault secret list --vault-name "$AZURE_KEY_VAULT_NAME" --query "[].name" --output tsv
  if ! $DRY_RUN; then
    names="$(retry 10 "$RETRY_WAIT" "not allowed yet: the new Key Vault role takes a minute or two" secret_names)" \
      || die "cannot list the secrets of $AZURE_KEY_VAULT_NAME"
  fi
  has_secret() { printf '%s\n' "$names" | grep -qx "$1"; }

  # Twilio auth token: from the environment; written only when missing or different.
  if $DRY_RUN; then
    note "when TWILIO_AUTH_TOKEN is set: compare it with the vault's and write it only if it differs"
    show az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name twilio-auth-token --query value --output tsv
    write_secret twilio-auth-token "$WORKDIR/none"
    [ -n "${TWILIO_AUTH_TOKEN:-}" ] || note "TWILIO_AUTH_TOKEN is not set now: a real run keeps the vault's token, and stops if there is none and twilioAccountSid is set"
  elif [ -n "${TWILIO_AUTH_TOKEN:-}" ]; then
    current=""
    if has_secret twilio-auth-token; then show az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name twilio-auth-token --query value --output tsv; current="$(retry 10 "$RETRY_WAIT" "not allowed yet" secret_value twilio-auth-token)"; fi
    if [ "$current" = "$TWILIO_AUTH_TOKEN" ]; then note "twilio-auth-token: unchanged"
    else write_secret twilio-auth-token "$(secret_file twilio-auth-token "$TWILIO_AUTH_TOKEN")"
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
    write_secret admin-token "$WORKDIR/none"
  elif [ -n "${ADMIN_TOKEN:-}" ]; then
    current=""
    if has_secret admin-token; then show az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name admin-token --query value --output tsv; current="$(retry 10 "$RETRY_WAIT" "not allowed yet" secret_value admin-token)"; fi
    if [ "$current" = "$ADMIN_TOKEN" ]; then note "admin-token: unchanged"
    else write_secret admin-token "$(secret_file admin-token "$ADMIN_TOKEN")"
    fi
  elif has_secret admin-token; then
    note "admin-token: kept (read it with: az keyvault secret show --vault-name $AZURE_KEY_VAULT_NAME --name admin-token --query value --output tsv)"
  else
    write_secret admin-token "$(random_secret_file admin-token 32)"
    note "admin-token: generated; read it with: az keyvault secret show --vault-name $AZURE_KEY_VAULT_NAME --name admin-token --query value --output tsv"
  fi

  # Phone-marker key: generated once and never rotated here (markers keyed with it would orphan).
  if $DRY_RUN; then
    note "only when the vault has no phone-key-secret yet: a new random one"
    write_secret phone-key-secret "$WORKDIR/none"
  elif has_secret phone-key-secret; then
    note "phone-key-secret: kept"
  else
    write_secret phone-key-secret "$(random_secret_file phone-key-secret 48)"
  fi

  # Facilitators' page links: a key of their own, generated once; rotating it ends every link and session.
  if $DRY_RUN; then
    note "only when the vault has no facilitator-link-secret yet, or ROTATE_FACILITATOR_LINK_SECRET=1: a new random one"
    write_secret facilitator-link-secret "$WORKDIR/none"
  elif has_secret facilitator-link-secret && [ "${ROTATE_FACILITATOR_LINK_SECRET:-}" != "1" ]; then
    note "facilitator-link-secret: kept"
  else
    write_secret facilitator-link-secret "$(random_secret_file facilitator-link-secret 48)"
  fi

  # Key Vault references are cached for up to a day; a written secret is fetched again now.
  if $DRY_RUN || $SECRETS_WRITTEN; then
    $DRY_RUN && note "only when a secret was written: make the app fetch its Key Vault references again"
    run az rest --method post --url "$AZURE_FUNCTION_APP_ID/config/configreferences/appsettings/refresh?api-version=2022-03-01" --output none
  fi
}

# ---- 4: app package ------------------------------------------------------------------------------
PUBLISH_TIMEOUT="${GRUPPSTART_PUBLISH_TIMEOUT:-900}"  # seconds; a remote build takes a few minutes
PUBLISH_TRIES=6

# What a fresh role assignment answers until it applies (it can take minutes:
# learn.microsoft.com/azure/role-based-access-control/troubleshooting#symptom---role-assignment-changes-are-not-being-detected):
# 403 AuthorizationPermissionMismatch / AuthorizationFailure from storage, or "does not have
# authorization" from ARM. Anything else (a bad package, a build error, a missing app) is not retried.
ROLE_NOT_YET_APPLIED='AuthorizationPermissionMismatch|AuthorizationFailure|AuthorizationFailed|does not have authorization|Status Code: 403|\(403\)|403 Forbidden|Forbidden'

publish_once() {  # publish_once PACKAGE: one upload within the timeout; its errors go to publish.err and stderr
  local status=0 limit=()
  command -v timeout >/dev/null 2>&1 && limit=(timeout --kill-after=30 "$PUBLISH_TIMEOUT")
  ${limit[@]+"${limit[@]}"} az functionapp deployment source config-zip --resource-group "$RESOURCE_GROUP" \
    --name "$AZURE_FUNCTION_APP_NAME" --src "$1" --build-remote true --output none 2>"$WORKDIR/publish.err" || status=$?
  cat "$WORKDIR/publish.err" >&2
  return "$status"
}

publish() {
  local package="$WORKDIR/gruppstart.zip" attempt status
  note "4. upload the app (Azure builds requirements.txt, hash-checked)"
  run "$PY" infra/package.py --output "$package"
  show az functionapp deployment source config-zip --resource-group "$RESOURCE_GROUP" \
    --name "$AZURE_FUNCTION_APP_NAME" --src "$package" --build-remote true --output none
  if $DRY_RUN; then
    note "given up after $PUBLISH_TIMEOUT s (GRUPPSTART_PUBLISH_TIMEOUT); retried up to $PUBLISH_TRIES times, $RETRY_WAIT s apart, only while Azure refuses it for a role not applied yet (403); any other error stops the run"
    return
  fi
  for ((attempt = 1; ; attempt++)); do
    status=0
    publish_once "$package" || status=$?
    [ "$status" -eq 0 ] && return 0
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
      die "the upload did not finish within $PUBLISH_TIMEOUT s. The app may still be building: look at its Deployment Center in the portal, then run infra/deploy.sh $MUNICIPALITY again (or raise GRUPPSTART_PUBLISH_TIMEOUT)"
    fi
    grep -qE "$ROLE_NOT_YET_APPLIED" "$WORKDIR/publish.err" \
      || die "the upload failed (see the error above); it is not the wait for a new role, so it is not retried. Fix what it names and run infra/deploy.sh $MUNICIPALITY again"
    [ "$attempt" -lt "$PUBLISH_TRIES" ] \
      || die "the upload failed $PUBLISH_TRIES times; run infra/deploy.sh $MUNICIPALITY again in a few minutes (nothing else needs undoing)"
    echo "  (upload refused, likely the new identity's role not applied yet: waiting $RETRY_WAIT s, try $attempt of $PUBLISH_TRIES)" >&2
    sleep "$RETRY_WAIT"
  done
}

# ---- 5: the budget, a deployment of its own -----------------------------------------------------
# Cost Management budgets exist only for some subscription offers: a CSP "Azure plan" (how many
# municipalities buy Azure) answers 422, "supports only Enterprise Agreement, Web direct and
# Microsoft Customer Agreement" (learn.microsoft.com/azure/cost-management-billing/costs/understand-cost-mgt-data#supported-microsoft-azure-offers).
# So a refused budget warns and says what to do; everything before it is already in place.
BUDGET_WARNING="the monthly budget was not created (see the error above). If this subscription is bought through a CSP partner (an \"Azure plan\") or another offer without Cost Management budgets, set the budget where your billing is (your partner's portal, or a budget on the billing account) and ignore this warning; otherwise fix what the error names and run: infra/deploy.sh $MUNICIPALITY --step budget. The app itself is deployed."

budget() {
  local parameters="$WORKDIR/budget-parameters.json" status=0
  note "5. the monthly budget (infra/budget.bicep; a failure here warns and stops nothing)"
  budget_start
  "$PY" infra/deploy_params.py "$MUNICIPALITY" --budget --no-validate --quiet >"$parameters"
  local budget_args=(--resource-group "$RESOURCE_GROUP" --name "$DEPLOYMENT_NAME-budget"
    --template-file infra/budget.bicep --parameters "@$parameters"
    --parameters "budgetStartDate=$BUDGET_START" "actionGroupId=$AZURE_ACTION_GROUP_ID" --output none)
  show az deployment group create "${budget_args[@]}"
  if $DRY_RUN; then
    note "when Azure takes it: the budget notices go to the action group and alertEmail"
    note "when Azure refuses it (a CSP \"Azure plan\" answers 422): the run goes on and warns: $BUDGET_WARNING"
    return
  fi
  az deployment group create "${budget_args[@]}" || status=$?
  if [ "$status" -eq 0 ]; then note "budget $BUDGET_NAME: in place"; return; fi
  printf 'warning: %s\n' "$BUDGET_WARNING" >&2
  note "warning: the monthly budget was not created; see the warning on standard error"
}

# ---- 6: what to paste where --------------------------------------------------------------------
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
  unset AZURE_FUNCTION_APP_NAME AZURE_FUNCTION_APP_ID AZURE_KEY_VAULT_NAME PUBLIC_BASE_URL AZURE_ACTION_GROUP_ID
elif ! $DRY_RUN; then
  case "$STEP" in
    budget) needed=(AZURE_ACTION_GROUP_ID) ;;
    *) needed=(AZURE_KEY_VAULT_NAME AZURE_FUNCTION_APP_ID PUBLIC_BASE_URL) ;;
  esac
  for name in "${needed[@]}"; do
    [ -n "${!name:-}" ] || die "--step $STEP needs $name from the deployment's outputs in the environment (azd provides it)"
  done
fi
AZURE_FUNCTION_APP_NAME="${AZURE_FUNCTION_APP_NAME:-<AZURE_FUNCTION_APP_NAME>}"
AZURE_FUNCTION_APP_ID="${AZURE_FUNCTION_APP_ID:-<AZURE_FUNCTION_APP_ID>}"
AZURE_KEY_VAULT_NAME="${AZURE_KEY_VAULT_NAME:-<AZURE_KEY_VAULT_NAME>}"
PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-<PUBLIC_BASE_URL>}"
AZURE_ACTION_GROUP_ID="${AZURE_ACTION_GROUP_ID:-<AZURE_ACTION_GROUP_ID>}"

case "$STEP" in
  all)
    provision
    if ! $VALIDATE_ONLY; then
      note "3. secrets"; secrets
      publish
      budget
      urls
    fi ;;
  secrets) secrets ;;
  urls) urls ;;
  budget) budget ;;
esac
