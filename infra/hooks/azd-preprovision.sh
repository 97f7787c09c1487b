#!/bin/sh
# azd preprovision hook: the template's parameters from the municipality file (see azure.yaml).
set -eu
: "${GRUPPSTART_MUNICIPALITY:?name the municipality first: azd env set GRUPPSTART_MUNICIPALITY <name of a file in infra/municipalities>}"
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
# (The monthly budget is not part of main.bicep: the postprovision hook deploys it.)
"$PY" infra/deploy_params.py "$GRUPPSTART_MUNICIPALITY" --live --azd infra/main.parameters.json
location="$("$PY" infra/deploy_params.py "$GRUPPSTART_MUNICIPALITY" --quiet --field location)"
if [ "${AZURE_LOCATION:-}" != "$location" ]; then
  echo "error: AZURE_LOCATION is '${AZURE_LOCATION:-}' but infra/municipalities/$GRUPPSTART_MUNICIPALITY.json says '$location': azd env set AZURE_LOCATION $location" >&2
  exit 1
fi
echo "infra/main.parameters.json written from infra/municipalities/$GRUPPSTART_MUNICIPALITY.json"
