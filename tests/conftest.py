"""Shared fixtures: Azurite started once per run on free loopback ports, services wired to it, a live server."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.sms.base import SmsSender
from shared.adapters.sms.local import LocalOutboxSender
from shared.composition import Services, build_services
from shared.core.organisation import MUNICIPALITIES
from shared.local.azurite import Azurite, free_port
from shared.settings import Settings
from tests.support.keys import TEST_PHONE_KEY_SECRET

ROOT = Path(__file__).resolve().parent.parent


def municipality(stem: str) -> dict[str, Any]:
    return json.loads((MUNICIPALITIES / f"{stem}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    emulator = Azurite()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def make_settings(azurite: Azurite) -> Callable[..., Settings]:
    def make(organisation: dict[str, Any] | None = None, **env: str) -> Settings:
        values = {
            "AzureWebJobsStorage": azurite.connection_string,
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
def make_services(make_settings: Callable[..., Settings], outbox: LocalOutboxSender) -> Callable[..., Services]:
    def make(organisation: dict[str, Any] | None = None, sender: SmsSender | None = None, **env: str) -> Services:
        services = build_services(make_settings(organisation, **env), sender=sender or outbox)
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
