"""What the environment configures for outbound HTTP, read once per process.

A requests session that trusts the environment looks for proxies in every environment variable on
every call (twice per storage call): on a Function App, where every app setting is an environment
variable, that was about a third of a storage call's CPU (bench/RESULTS.md, "CPU per resident").
Only a proxy or a netrc file needs that per-call reading (requests matches a proxy against each URL
and `NO_PROXY`); a CA bundle is one path, read here once and handed to the clients (azure-core's
`connection_verify`, a requests session's `verify`), so a machine that sets only a CA bundle (as
many build and corporate machines do) no longer pays the per-call scan either.
"""

from __future__ import annotations

import functools
import os
import urllib.request
from typing import NamedTuple

# requests' own order: REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE (requests.sessions.merge_environment_settings).
_CA_BUNDLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class HttpEnvironment(NamedTuple):
    per_call: bool  # a proxy or NETRC is set: sessions keep reading the environment on each call
    ca_bundle: str | None  # the CA bundle (file or directory) to verify TLS against; None: the default store


@functools.cache
def http_environment() -> HttpEnvironment:
    per_call = bool(urllib.request.getproxies()) or bool(os.environ.get("NETRC"))
    bundle = next((os.environ[name] for name in _CA_BUNDLES if os.environ.get(name)), None)
    return HttpEnvironment(per_call, bundle)


def azure_client_options() -> dict[str, object]:
    """Options for an azure-core client: no per-call environment reading unless a proxy needs it."""
    environment = http_environment()
    if environment.per_call:
        return {}  # as the SDKs' default: the session reads proxies, netrc and the CA bundle per call
    options: dict[str, object] = {"use_env_settings": False}
    if environment.ca_bundle:
        options["connection_verify"] = environment.ca_bundle
    return options


def configure_session(session: object) -> None:
    """The same for a requests session the code builds itself (the Twilio SDK's)."""
    environment = http_environment()
    session.trust_env = environment.per_call  # type: ignore[attr-defined]
    if not environment.per_call and environment.ca_bundle:
        session.verify = environment.ca_bundle  # type: ignore[attr-defined]
