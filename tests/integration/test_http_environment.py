"""Proxies and CA bundles from the environment, through the real SDK transports (shared/adapters/http_env.py).

A CA bundle is read once and handed to the clients; only a proxy keeps the per-call reading of the
environment. Storage goes to Azurite, texts to the loopback Twilio server, each behind a loopback
relay: a TLS front with a self-signed certificate, or a forward proxy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import certifi
import pytest
from azure.core.exceptions import ResourceExistsError

from shared.adapters import http_env
from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import StorageAccount, StorageUnavailable, storage_errors
from shared.adapters.transport import PooledTransport
from shared.local.azurite import ACCOUNT, KEY, Azurite
from tests.support.relays import forward_proxy, tls_front
from tests.support.twilio_server import LoopbackTwilio

pytestmark = pytest.mark.azurite

CONFIGURING = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY")
CONFIGURING += ("no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC")
FROM, TO = "+46701740605", "+46701740699"


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in CONFIGURING:
        monkeypatch.delenv(name, raising=False)
    forget_environment()
    yield monkeypatch
    forget_environment()


def configure(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    forget_environment()


def forget_environment() -> None:
    """The next client reads the environment again (http_env reads it once per process)."""
    for function in vars(http_env).values():
        getattr(function, "cache_clear", lambda: None)()


def tables_over_https(port: int) -> StorageAccount:
    return StorageAccount(
        connection_string=f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={KEY};"
        f"TableEndpoint=https://127.0.0.1:{port}/{ACCOUNT};",
        client_options={"retry_total": 0},
    )


def storage_transport(storage: StorageAccount) -> Any:
    table = storage.table("interests")
    wrapper = table._client._client._pipeline._transport  # the tables SDK wraps the transport it was given
    return getattr(wrapper, "_transport", wrapper)


def a_round_trip(storage: StorageAccount) -> dict[str, Any]:
    table = storage.table("interests")
    with suppress(ResourceExistsError):
        table.create_table()
    table.upsert_entity({"PartitionKey": "http-env", "RowKey": "1", "Seen": "yes"})
    return dict(table.get_entity("http-env", "1"))


def test_with_only_a_ca_bundle_storage_verifies_against_it_without_reading_the_environment(
    azurite: Azurite, bare_environment: pytest.MonkeyPatch
) -> None:
    with tls_front(azurite.ports["table"]) as (front, certificate):
        configure(bare_environment, REQUESTS_CA_BUNDLE=str(certificate))
        storage = tables_over_https(front.port)

        assert a_round_trip(storage)["Seen"] == "yes"
        # Through the pooled transport (shared/adapters/transport.py): no requests session reads the environment.
        assert isinstance(storage_transport(storage), PooledTransport)
        assert [method for method, _ in front.relayed] == ["POST", "PATCH", "GET"]


def test_a_ca_bundle_without_the_servers_certificate_refuses_it(
    azurite: Azurite, bare_environment: pytest.MonkeyPatch
) -> None:
    with tls_front(azurite.ports["table"]) as (front, _certificate):
        configure(bare_environment, CURL_CA_BUNDLE=certifi.where())  # public roots only
        storage = tables_over_https(front.port)

        with pytest.raises(StorageUnavailable, match="ServiceRequestError"), storage_errors():
            a_round_trip(storage)
        assert front.relayed == []


def test_a_proxy_in_the_environment_carries_every_storage_call(
    azurite: Azurite, bare_environment: pytest.MonkeyPatch
) -> None:
    with forward_proxy() as proxy:
        configure(bare_environment, HTTP_PROXY=f"http://127.0.0.1:{proxy.port}")
        storage = StorageAccount(connection_string=azurite.connection_string, client_options={"retry_total": 0})

        assert a_round_trip(storage)["Seen"] == "yes"
        assert storage_transport(storage).session.trust_env is True  # requests' transport, reading the proxy
        assert [method for method, _ in proxy.relayed] == ["POST", "PATCH", "GET"]
        assert all(target.startswith(f"http://127.0.0.1:{azurite.ports['table']}/") for _, target in proxy.relayed)


def sender_for(twilio: LoopbackTwilio, base_url: str) -> TwilioSender:
    return TwilioSender(twilio.account_sid, twilio.auth_token, from_=FROM, api_base_url=base_url, timeout=5.0)


def test_with_only_a_ca_bundle_texts_verify_against_it_without_reading_the_environment(
    bare_environment: pytest.MonkeyPatch,
) -> None:
    with LoopbackTwilio() as twilio, tls_front(twilio.port) as (front, certificate):
        configure(bare_environment, REQUESTS_CA_BUNDLE=str(certificate))
        sender = sender_for(twilio, f"https://127.0.0.1:{front.port}")

        sent = sender.send(TO, "Din kod är 482913.")

        assert [m.sid for m in twilio.accepted] == [sent.sid]
        assert len(front.relayed) == 1
        assert sender._load().http_client.session.trust_env is False


def test_a_proxy_in_the_environment_carries_the_texts(bare_environment: pytest.MonkeyPatch) -> None:
    with LoopbackTwilio() as twilio, forward_proxy() as proxy:
        configure(bare_environment, HTTP_PROXY=f"http://127.0.0.1:{proxy.port}")
        sender = sender_for(twilio, twilio.base_url)

        sent = sender.send(TO, "Din kod är 482913.")

        assert [m.sid for m in twilio.accepted] == [sent.sid]
        assert [(method, target.split("/2010-04-01/")[0]) for method, target in proxy.relayed] == [
            ("POST", twilio.base_url)
        ]
