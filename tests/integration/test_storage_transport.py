"""The storage clients' transport over urllib3 (shared/adapters/transport.py), against Azurite and loopback servers.

The storage contract (tests/contract) runs through it already; here what a transport itself owes the
SDKs: azure-core's errors for a refused or silent server (so RetryPolicy retries them), the timeouts
it is given, TLS verified, and tables, batches and queues with text beyond ASCII.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import (
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient

from shared.adapters.storage import StorageAccount
from shared.adapters.transport import PooledTransport
from shared.local.azurite import ACCOUNT, KEY, Azurite, free_port
from tests.support.relays import tls_front

pytestmark = pytest.mark.azurite


def table_at(endpoint: str, transport: PooledTransport, name: str | None = None, **options: Any) -> TableClient:
    connection = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};TableEndpoint={endpoint};"
    name = name or f"t{uuid.uuid4().hex[:12]}"
    return TableClient.from_connection_string(connection, name, transport=transport, **options)


class Attempts:
    """Counts the requests the pipeline hands on (azure-core's raw_request_hook runs once per try)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, request: Any) -> None:
        self.count += 1


def test_a_refused_connection_is_a_service_request_error_and_is_retried() -> None:
    attempts = Attempts()
    table = table_at(
        f"http://127.0.0.1:{free_port()}/{ACCOUNT}",  # nothing listens there
        PooledTransport(connection_timeout=2, read_timeout=2),
        retry_total=2,
        retry_backoff_factor=0.01,
        raw_request_hook=attempts,
    )
    with pytest.raises(ServiceRequestError):
        table.get_entity("p", "r")
    assert attempts.count == 3  # the first try and two retries


@contextmanager
def silent_server(*, answer_after: int | None = None) -> Iterator[tuple[int, list[socket.socket]]]:
    """Accepts connections and never answers (or, with `answer_after`, closes the first that many unanswered)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], held
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        listener.close()


def test_the_read_timeout_given_is_kept_and_raised_as_a_service_response_timeout() -> None:
    with silent_server() as (port, held):
        table = table_at(
            f"http://127.0.0.1:{port}/{ACCOUNT}", PooledTransport(connection_timeout=2, read_timeout=0.5), retry_total=0
        )
        started = time.monotonic()
        with pytest.raises(ServiceResponseTimeoutError):
            table.get_entity("p", "r")
        waited = time.monotonic() - started
    assert 0.4 <= waited < 5, waited
    assert len(held) == 1


def test_a_read_timeout_per_call_overrides_the_transports() -> None:
    with silent_server() as (port, _held):
        table = table_at(
            f"http://127.0.0.1:{port}/{ACCOUNT}", PooledTransport(connection_timeout=2, read_timeout=60), retry_total=0
        )
        started = time.monotonic()
        with pytest.raises(ServiceResponseTimeoutError):
            table.get_entity("p", "r", read_timeout=0.5)
    assert time.monotonic() - started < 5


def pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        target.close()


@contextmanager
def dropping_the_first_connection(backend_port: int) -> Iterator[int]:
    """A loopback port whose first connection is closed unanswered; later ones are piped to the backend."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        first, _ = listener.accept()
        first.recv(65536)
        first.close()
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            backend = socket.create_connection(("127.0.0.1", backend_port))
            threading.Thread(target=pipe, args=(client, backend), daemon=True).start()
            threading.Thread(target=pipe, args=(backend, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_a_connection_closed_without_an_answer_is_a_service_response_error(azurite: Azurite) -> None:
    with dropping_the_first_connection(azurite.ports["table"]) as port:
        table = table_at(f"http://127.0.0.1:{port}/{ACCOUNT}", PooledTransport(), retry_total=0)
        with pytest.raises(ServiceResponseError):
            table.get_entity("p", "r")


def test_a_read_whose_connection_broke_is_retried_and_answered(azurite: Azurite) -> None:
    attempts = Attempts()
    with dropping_the_first_connection(azurite.ports["table"]) as port:
        table = table_at(
            f"http://127.0.0.1:{port}/{ACCOUNT}",
            PooledTransport(),
            retry_total=2,
            retry_backoff_factor=0.01,
            raw_request_hook=attempts,
        )
        with pytest.raises(ResourceNotFoundError):  # Azurite's answer, on the second try: no such table
            table.get_entity("p", "r")
    assert attempts.count == 2


def ssl_subject_hash(certificate: Path) -> str:
    """The name OpenSSL looks a certificate up by in a CA directory."""
    return subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(certificate)], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_tls_is_verified_against_the_bundle_given_and_refused_otherwise(azurite: Azurite) -> None:
    with tls_front(azurite.ports["table"]) as (front, certificate):
        endpoint = f"https://127.0.0.1:{front.port}/{ACCOUNT}"
        trusting = table_at(endpoint, PooledTransport(connection_verify=str(certificate)), retry_total=0)
        trusting.create_table()
        trusting.upsert_entity({"PartitionKey": "p", "RowKey": "r"})
        assert trusting.get_entity("p", "r")["RowKey"] == "r"
        relayed = len(front.relayed)

        with tempfile.TemporaryDirectory() as directory:  # a directory of certificates, as c_rehash leaves it
            shutil.copy(certificate, Path(directory) / f"{ssl_subject_hash(certificate)}.0")
            from_directory = table_at(
                endpoint, PooledTransport(connection_verify=directory), trusting.table_name, retry_total=0
            )
            assert from_directory.get_entity("p", "r")["RowKey"] == "r"
        relayed = len(front.relayed)

        default = table_at(endpoint, PooledTransport(), retry_total=0)  # certifi's public roots only
        with pytest.raises(ServiceRequestError):
            default.get_entity("p", "r")
        assert len(front.relayed) == relayed  # the handshake failed: nothing was sent


def test_tables_batches_and_queues_carry_text_beyond_ascii(azurite: Azurite) -> None:
    storage = StorageAccount(connection_string=azurite.connection_string)
    storage.ensure_resources()
    name = f"t{uuid.uuid4().hex[:12]}"
    storage.table_service().create_table(name)
    table = storage.table(name)
    table.submit_transaction(
        [
            ("upsert", {"PartitionKey": "p", "RowKey": "1", "Name": "Hjördis Åström"}),
            ("upsert", {"PartitionKey": "p", "RowKey": "2", "Name": "Ærlig Øystein"}),
        ]
    )
    assert [e["Name"] for e in table.query_entities("PartitionKey eq @p", parameters={"p": "p"})] == [
        "Hjördis Åström",
        "Ærlig Øystein",
    ]
    queue: QueueClient = storage.queue("notifications")
    queue.clear_messages()
    storage.enqueue("notifications", "gruppen på Åsgatan")
    [message] = list(queue.receive_messages())
    assert message.content == "gruppen på Åsgatan"
    queue.delete_message(message)


def test_the_accounts_clients_go_through_one_pooled_transport(azurite: Azurite) -> None:
    storage = StorageAccount(connection_string=azurite.connection_string)
    storage.ensure_resources()
    tables = storage.table_service()._client._client._pipeline._transport
    queues = storage.queue_service()._pipeline._transport
    assert isinstance(tables, PooledTransport) and queues is tables
