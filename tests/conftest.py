"""Shared fixtures: Azurite started once per run on free loopback ports, services wired to it, a live server.

The fast tier (`make test-fast`, GRUPPSTART_STORAGE=memory) wires the same services to the in-memory
twin of the storage account (shared/local/memory.py) instead and starts no Azurite: a test that asks
for Azurite, or is marked `azurite`, is left to `make test` (docs/architecture.md, "Test tiers").
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from shared.adapters.sms.base import SmsSender
from shared.adapters.sms.local import LocalOutboxSender
from shared.composition import Services, build_services
from shared.core.domain import utcnow
from shared.core.organisation import MUNICIPALITIES
from shared.local.azurite import Azurite, free_port
from shared.settings import Settings
from tests.support.keys import TEST_PHONE_KEY_SECRET
from tests.support.pace import SkippingTime
from tests.support.properties import FAST_EXAMPLES

ROOT = Path(__file__).resolve().parent.parent

# The fast tier: services on the in-memory twin, no Azurite process.
MEMORY = os.environ.get("GRUPPSTART_STORAGE") == "memory"
# The inner loop tries a fifth of each property test's examples (tests/support/properties.py); `make test`
# all of them.
hypothesis_settings.register_profile("fast", max_examples=FAST_EXAMPLES)
if MEMORY:
    hypothesis_settings.load_profile("fast")
# What the settings name as storage in the fast tier: a loopback port nothing listens on, so that code
# building its own SDK client from the settings (instead of the wired account) fails at once, visibly.
NOWHERE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=bm93aGVyZQ==;"
    "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the fast tier, leave out what needs Azurite itself: tests asking for the `azurite` fixture
    (directly or through another fixture) and tests marked `azurite`; and tests marked `full`."""
    if not MEMORY:
        return
    kept: list[pytest.Item] = []
    left: list[pytest.Item] = []
    for item in items:
        needs_azurite = "azurite" in getattr(item, "fixturenames", ()) or item.get_closest_marker("azurite")
        (left if needs_azurite or item.get_closest_marker("full") else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def municipality(stem: str) -> dict[str, Any]:
    return json.loads((MUNICIPALITIES / f"{stem}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    if MEMORY:  # the fast tier promises no Azurite process: a test that gets here is in the wrong tier
        pytest.fail("the fast tier (GRUPPSTART_STORAGE=memory) starts no Azurite; mark the test `azurite`")
    emulator = Azurite()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def storage_connection_string(request: pytest.FixtureRequest) -> str:
    """Azurite's, or in the fast tier nowhere's (the services get the in-memory account instead)."""
    return NOWHERE if MEMORY else request.getfixturevalue("azurite").connection_string


@pytest.fixture
def memory_storage() -> Any:
    """One in-memory account per test, shared by every set of services the test wires (as Azurite is)."""
    from shared.local.memory import MemoryAccount

    return MemoryAccount()


@pytest.fixture
def make_settings(storage_connection_string: str) -> Callable[..., Settings]:
    def make(organisation: dict[str, Any] | None = None, **env: str) -> Settings:
        values = {
            "AzureWebJobsStorage": storage_connection_string,
            "ORGANISATION_CONFIG": json.dumps(organisation or municipality("region-jonkoping")["organisation"]),
            "DEV_MODE": "true",
            "PHONE_KEY_SECRET": TEST_PHONE_KEY_SECRET,  # keyed as in Azure, not with development's public key
            **env,
        }
        return Settings(**values)  # type: ignore[arg-type]

    return make


def fresh_tables(services: Services) -> None:
    """Empty every table and queue this app uses, so each test starts from nothing."""
    from shared.adapters.storage import QUEUES, TABLES

    tables = services.storage.table_service()
    for name in TABLES:
        tables.delete_table(name)  # quicker than deleting rows one by one; Azurite frees the name at once
    services.storage.ensure_resources()
    for name in (*QUEUES, *(f"{q}-poison" for q in QUEUES)):
        services.storage.queue(name).clear_messages()


@pytest.fixture
def outbox() -> LocalOutboxSender:
    return LocalOutboxSender(echo=None)


@pytest.fixture
def send_time() -> SkippingTime:
    """The send rate's time for the test's services: each wait for a window skipped, not slept."""
    return SkippingTime()


@pytest.fixture
def make_services(
    make_settings: Callable[..., Settings],
    outbox: LocalOutboxSender,
    send_time: SkippingTime,
    request: pytest.FixtureRequest,
) -> Callable[..., Services]:
    storage = request.getfixturevalue("memory_storage") if MEMORY else None

    def make(
        organisation: dict[str, Any] | None = None,
        sender: SmsSender | None = None,
        clock: Callable[[], datetime] | None = None,
        **env: str,
    ) -> Services:
        """Services wired as in production (shared/composition.py), on fresh tables; `clock`: the one every
        service and adapter reads (a test's fixed or moving clock), else the real time."""
        settings = make_settings(organisation, **env)
        services = build_services(
            settings, clock=clock or utcnow, sender=sender or outbox, storage=storage, pace=send_time
        )
        fresh_tables(services)
        return services

    return make


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()


@pytest.fixture
def client(services: Services) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from shared.web.app import create_app

    with TestClient(create_app(lambda: services)) as test_client:
        yield test_client


class LiveServer:
    def __init__(self, services: Services) -> None:
        import uvicorn

        from shared.web.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(lambda: services), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{uuid.uuid4().hex[:6]}", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(services: Services) -> Iterator[LiveServer]:
    with LiveServer(services) as server:
        yield server
