"""The storage contract's fixtures: each test runs once against Azurite and once against the in-memory
twin (shared/local/memory.py), on a table and a queue of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.adapters.storage import StorageAccount


@pytest.fixture(params=[pytest.param("azurite", marks=pytest.mark.azurite), "memory"])
def account(request: pytest.FixtureRequest) -> StorageAccount:
    """A storage account: Azurite's (the session's emulator) or the twin. The fast tier runs only the twin."""
    if request.param == "azurite":
        return StorageAccount(connection_string=request.getfixturevalue("azurite").connection_string)
    from shared.local.memory import MemoryAccount

    return MemoryAccount()


@pytest.fixture
def table(account: StorageAccount) -> Iterator[Any]:
    name = f"contract{uuid.uuid4().hex[:12]}"
    account.table_service().create_table(name)
    yield account.table(name)
    account.table_service().delete_table(name)


@pytest.fixture
def queue(account: StorageAccount) -> Iterator[Any]:
    name = f"contract-{uuid.uuid4().hex[:12]}"
    account.queue_service().create_queue(name)
    yield account.queue(name)
    account.queue_service().delete_queue(name)
