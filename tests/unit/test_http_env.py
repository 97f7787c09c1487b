"""SDK clients read the environment on every call only where a proxy or netrc needs it; a CA bundle goes in once."""

from __future__ import annotations

import certifi
import pytest

from shared.adapters import http_env
from shared.adapters.storage import StorageAccount
from shared.adapters.transport import PooledTransport

CONFIGURING = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy")
CONFIGURING += ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC")


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch):
    for name in CONFIGURING:
        monkeypatch.delenv(name, raising=False)
    http_env.http_environment.cache_clear()
    yield monkeypatch
    http_env.http_environment.cache_clear()


def transport_of(storage: StorageAccount):
    table = storage.table("interests")
    wrapper = table._client._client._pipeline._transport  # the tables SDK wraps the requests transport it built
    return getattr(wrapper, "_transport", wrapper)


def transport_trusts_environment(storage: StorageAccount) -> bool:
    transport = transport_of(storage)
    with transport:
        return transport.session.trust_env


def test_without_proxy_or_ca_bundle_storage_goes_through_the_pooled_transport(bare_environment):
    storage = StorageAccount(connection_string="UseDevelopmentStorage=true")
    transport = transport_of(storage)
    assert isinstance(transport, PooledTransport)  # no requests session: nothing reads the environment per call
    assert transport._pool.connection_pool_kw["ca_certs"] == certifi.where()  # requests' default trust


@pytest.mark.parametrize(
    ("name", "value"), [("HTTPS_PROXY", "http://proxy.example:3128"), ("all_proxy", "http://proxy.example:3128")]
)
def test_a_configured_proxy_is_still_read_on_every_call(bare_environment, name, value):
    bare_environment.setenv(name, value)
    storage = StorageAccount(connection_string="UseDevelopmentStorage=true")
    assert transport_trusts_environment(storage) is True


@pytest.mark.parametrize("name", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_alone_is_read_once_and_handed_to_the_client(bare_environment, name):
    bare_environment.setenv(name, "/etc/ssl/ca.pem")
    storage = StorageAccount(connection_string="UseDevelopmentStorage=true")
    transport = transport_of(storage)
    assert isinstance(transport, PooledTransport)
    assert transport._pool.connection_pool_kw["ca_certs"] == "/etc/ssl/ca.pem"


def test_requests_order_of_ca_bundles_is_kept(bare_environment):
    bare_environment.setenv("CURL_CA_BUNDLE", "/etc/ssl/curl.pem")
    bare_environment.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/requests.pem")
    assert http_env.http_environment().ca_bundle == "/etc/ssl/requests.pem"
