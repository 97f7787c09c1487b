"""The SDK clients stop searching the environment for proxies on every call only where none is configured."""

from __future__ import annotations

import pytest

from shared.adapters import http_env
from shared.adapters.storage import StorageAccount

CONFIGURING = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy")
CONFIGURING += ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC")


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch):
    for name in CONFIGURING:
        monkeypatch.delenv(name, raising=False)
    http_env.configures_http.cache_clear()
    yield monkeypatch
    http_env.configures_http.cache_clear()


def transport_trusts_environment(storage: StorageAccount) -> bool:
    table = storage.table("interests")
    wrapper = table._client._client._pipeline._transport  # the tables SDK wraps the requests transport it built
    transport = getattr(wrapper, "_transport", wrapper)
    with transport:
        return transport.session.trust_env


def test_without_proxy_or_ca_bundle_the_storage_session_does_not_read_the_environment(bare_environment):
    storage = StorageAccount(connection_string="UseDevelopmentStorage=true")
    assert transport_trusts_environment(storage) is False


@pytest.mark.parametrize(
    ("name", "value"), [("HTTPS_PROXY", "http://proxy.example:3128"), ("REQUESTS_CA_BUNDLE", "/etc/ssl/ca.pem")]
)
def test_a_configured_proxy_or_ca_bundle_is_still_read(bare_environment, name, value):
    bare_environment.setenv(name, value)
    storage = StorageAccount(connection_string="UseDevelopmentStorage=true")
    assert transport_trusts_environment(storage) is True
