#!/bin/sh
# azd postprovision hook: the Key Vault secrets, with the deployment's outputs from azd's environment.
set -eu
: "${GRUPPSTART_MUNICIPALITY:?azd env set GRUPPSTART_MUNICIPALITY <name>}"
exec bash infra/deploy.sh "$GRUPPSTART_MUNICIPALITY" --step secrets
