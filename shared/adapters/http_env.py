"""Whether the environment configures outbound HTTP (a proxy, a CA bundle, a netrc file), read once.

A requests session that trusts the environment looks for proxies in every environment variable on
every call (twice per storage call): on a Function App, where every app setting is an environment
variable, that was about a third of a registration's CPU (bench/RESULTS.md, "CPU per resident").
Where nothing is configured, the SDK clients' sessions are told not to look; where something is,
they keep reading it as before.
"""

from __future__ import annotations

import functools
import os
import urllib.request

_READ_BY_REQUESTS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC")


@functools.cache
def configures_http() -> bool:
    return bool(urllib.request.getproxies()) or any(os.environ.get(name) for name in _READ_BY_REQUESTS)
