#!/bin/sh
# azd postdeploy hook: the URLs to open and to paste into Twilio.
set -eu
: "${GRUPPSTART_MUNICIPALITY:?azd env set GRUPPSTART_MUNICIPALITY <name>}"
exec bash infra/deploy.sh "$GRUPPSTART_MUNICIPALITY" --step urls
