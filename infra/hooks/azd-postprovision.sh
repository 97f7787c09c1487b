#!/bin/sh
# azd postprovision hook: the Key Vault secrets, then the monthly budget (infra/budget.bicep: where
# the subscription cannot have one, it only warns), with the deployment's outputs from azd's environment.
set -eu
: "${GRUPPSTART_MUNICIPALITY:?azd env set GRUPPSTART_MUNICIPALITY <name>}"
bash infra/deploy.sh "$GRUPPSTART_MUNICIPALITY" --step secrets
exec bash infra/deploy.sh "$GRUPPSTART_MUNICIPALITY" --step budget
