"""Clients for Table Storage and Storage Queues, created lazily and shared per process.

Locally (and in tests) the account is reached with a connection string; in Azure with the
app's managed identity and the account name, as the Functions host itself does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.adapters.http_env import azure_client_options, http_environment

# The SDKs log each request's URL at INFO (urllib3 at DEBUG). Row keys in those URLs are derived from
# phone numbers (phone markers, rate-limit keys): keep them out of Application Insights.
for _noisy in ("azure.core.pipeline.policies.http_logging_policy", "urllib3.connectionpool"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient
    from azure.storage.queue import QueueClient, QueueServiceClient

    from shared.settings import Settings

INTERESTS = "interests"  # one partition per theme: interests, groups, outbox rows
FACILITATORS = "facilitators"
RATE_LIMITS = "ratelimits"
AUDIT = "audit"
SMS_COPIES = "smscopies"  # the SMS provider's copies of our texts still to delete (adapters/sms/copies.py)
TABLES = (INTERESTS, FACILITATORS, RATE_LIMITS, AUDIT, SMS_COPIES)

FORMATION_REQUESTS = "formation-requests"
NOTIFICATIONS = "notifications"
STOP_REQUESTS = "stop-requests"  # a STOP to carry out (services/stop_requests.py): queued before the webhook's 200
QUEUES = (FORMATION_REQUESTS, NOTIFICATIONS, STOP_REQUESTS)

# Fail fast: a resident waiting on a form is better served by a clear 503 than a minute of retries.
_CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_factor": 0.2,
    "connection_timeout": 3,
    "read_timeout": 15,
}


class StorageUnavailable(RuntimeError):
    """Storage could not be reached or answered with a server error."""


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn transport failures and 5xx answers into StorageUnavailable; let 4xx through."""
    try:
        yield
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise StorageUnavailable(type(exc).__name__) from exc
    except HttpResponseError as exc:
        if exc.status_code is None or exc.status_code >= 500:
            raise StorageUnavailable(f"storage answered {exc.status_code}") from exc
        raise


class StorageAccount:
    def __init__(
        self,
        *,
        connection_string: str | None = None,
        account_name: str | None = None,
        client_id: str | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        """`client_options` go to every SDK client (benchmarks pass a raw_request_hook to count calls)."""
        if not connection_string and not account_name:
            raise ValueError("a connection string or an account name is required")
        self._connection_string = connection_string
        self._account_name = account_name
        self._client_id = client_id
        # No per-call reading of the environment unless a proxy needs it; a CA bundle goes in once (http_env.py).
        self._options = {**_CLIENT_OPTIONS, **azure_client_options(), **(client_options or {})}
        # The SDKs' calls go through one urllib3 pool (adapters/transport.py), built on the first client;
        # where a proxy is configured, the SDKs' own requests transport reads it as before.
        self._pooled = "transport" not in self._options and not http_environment().per_call
        self._lock = threading.Lock()
        self._tables: dict[str, TableClient] = {}
        self._queues: dict[str, QueueClient] = {}
        self._table_service: TableServiceClient | None = None
        self._queue_service: QueueServiceClient | None = None
        self._queues_deferred = False  # ensure_resources(queues=False): create them on the first queue()

    @classmethod
    def from_settings(cls, settings: Settings) -> StorageAccount:
        return cls(
            connection_string=settings.storage_connection_string,
            account_name=settings.storage_account_name,
            client_id=settings.storage_client_id,
        )

    @property
    def pooled_transport(self) -> bool:
        """Whether the clients go through adapters/transport.py (False where a proxy is configured)."""
        return self._pooled

    def _sdk_options(self) -> dict[str, Any]:
        """The clients' options, with the shared transport (built once, under the caller's lock)."""
        if self._pooled and "transport" not in self._options:
            from shared.adapters.transport import PooledTransport

            self._options["transport"] = PooledTransport(
                connection_timeout=self._options["connection_timeout"],
                read_timeout=self._options["read_timeout"],
                connection_verify=self._options.get("connection_verify", True),
            )
        return self._options

    def _credential(self) -> Any:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(managed_identity_client_id=self._client_id)

    def table_service(self) -> TableServiceClient:
        from azure.data.tables import TableServiceClient

        with self._lock:
            if self._table_service is None:
                if self._connection_string:
                    self._table_service = TableServiceClient.from_connection_string(
                        self._connection_string, **self._sdk_options()
                    )
                else:
                    self._table_service = TableServiceClient(
                        f"https://{self._account_name}.table.core.windows.net",
                        credential=self._credential(),
                        **self._sdk_options(),
                    )
            return self._table_service

    def queue_service(self) -> QueueServiceClient:
        from azure.storage.queue import QueueServiceClient

        with self._lock:
            if self._queue_service is None:
                if self._connection_string:
                    self._queue_service = QueueServiceClient.from_connection_string(
                        self._connection_string, **self._sdk_options()
                    )
                else:
                    self._queue_service = QueueServiceClient(
                        f"https://{self._account_name}.queue.core.windows.net",
                        credential=self._credential(),
                        **self._sdk_options(),
                    )
            return self._queue_service

    def table(self, name: str) -> TableClient:
        client = self._tables.get(name)
        if client is None:
            client = self.table_service().get_table_client(name)
            with self._lock:
                client = self._tables.setdefault(name, client)
        return client

    def queue(self, name: str) -> QueueClient:
        """A queue client speaking base64 text, as the Functions queue trigger expects."""
        client = self._queues.get(name)
        if client is None:
            if self._queues_deferred:
                self._ensure_queues()
            from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy

            client = self.queue_service().get_queue_client(
                name,
                message_encode_policy=TextBase64EncodePolicy(),
                message_decode_policy=TextBase64DecodePolicy(),
            )
            with self._lock:
                client = self._queues.setdefault(name, client)
        return client

    def ensure_resources(self, *, queues: bool = True) -> None:
        """Create the tables and queues if missing (Bicep creates them in Azure; this serves local runs).

        With `queues=False` the queues are created on this process's first `queue()` call instead: the
        web app's first request (the form) then imports no queue SDK (azure-storage-queue pulls in
        aiohttp and cryptography, a fifth of a cold start's CPU) and waits on six fewer calls."""
        with storage_errors():
            service = self.table_service()
            # One listing (Query Tables, learn.microsoft.com/en-us/rest/api/storageservices/operations-on-tables)
            # instead of a create per table (issue 22.1): a deployed account has them all
            # (Bicep), so a new instance's first request waits on one round trip, not five 409s. A table
            # another instance creates between the listing and our create is still a 409, suppressed.
            existing = {table.name for table in service.list_tables()}
            for name in TABLES:
                if name not in existing:
                    with suppress(ResourceExistsError):
                        service.create_table(name)
        if queues:
            self._ensure_queues()
        else:
            self._queues_deferred = True

    def _ensure_queues(self) -> None:
        with storage_errors():
            service = self.queue_service()
            for name in (*QUEUES, *(f"{q}-poison" for q in QUEUES)):
                with suppress(ResourceExistsError):
                    service.create_queue(name)
        self._queues_deferred = False  # only once they exist: a failed attempt is made again on the next use

    def enqueue(self, queue: str, text: str) -> None:
        with storage_errors():
            self.queue(queue).send_message(text)
