"""The small tables beside the interests: facilitators, rate-limit counters seen by erasure and
retention. Each is a plain repository over one table (the audit log is adapters/audit.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.entities import FACILITATOR_PARTITION, etag_of, facilitator_entity, facilitator_from
from shared.adapters.storage import RATE_LIMITS, StorageAccount, storage_errors
from shared.core.domain import PHONE_PREFIX
from shared.core.facilitators import Facilitator


class FacilitatorTable:
    def __init__(self, table: Callable[[], Any]) -> None:
        self._table = table

    def list(self) -> list[Facilitator]:
        with storage_errors():
            rows = self._table().query_entities("PartitionKey eq @p", parameters={"p": FACILITATOR_PARTITION})
            return [facilitator_from(r) for r in rows]

    def get(self, facilitator_id: str) -> Facilitator | None:
        with storage_errors():
            try:
                return facilitator_from(self._table().get_entity(FACILITATOR_PARTITION, facilitator_id))
            except ResourceNotFoundError:
                return None

    def create(self, facilitator: Facilitator) -> None:
        with storage_errors():
            self._table().create_entity(facilitator_entity(facilitator))

    def get_versioned(self, facilitator_id: str) -> tuple[Facilitator, str] | None:
        """The record with its ETag, for a write that must not undo a change made meanwhile."""
        with storage_errors():
            try:
                entity = self._table().get_entity(FACILITATOR_PARTITION, facilitator_id)
            except ResourceNotFoundError:
                return None
            return facilitator_from(entity), etag_of(entity) or ""

    def replace_if_unchanged(self, facilitator: Facilitator, etag: str) -> bool:
        """Replace the record only if it is still the version read (If-Match); False when it changed
        or was removed meanwhile. A revoked link must never come back through a stale write."""
        with storage_errors():
            try:
                self._table().update_entity(
                    facilitator_entity(facilitator),
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                return False
        return True

    def replace(self, facilitator: Facilitator) -> None:
        with storage_errors():
            self._table().update_entity(facilitator_entity(facilitator), mode=UpdateMode.REPLACE)

    def delete(self, facilitator_id: str) -> None:
        with storage_errors():
            self._table().delete_entity(FACILITATOR_PARTITION, facilitator_id)


class RateLimitRows:
    """The counters of the rate limiter (adapters/ratelimit.py), as erasure, export and retention see them.

    The limiter itself stays hand-written on Table Storage: the limits must hold across every instance
    of a Flex Consumption app, which in-process limiters (slowapi, limits' memory storage) cannot, and
    no maintained library offers a Table Storage backend; one table row per key and window, ETag-
    conditioned, needs no extra service (Redis) that would hold phone-derived keys elsewhere."""

    def __init__(self, storage: StorageAccount) -> None:
        self._storage = storage

    def _table(self) -> Any:
        return self._storage.table(RATE_LIMITS)

    def of_number(self, phone_key: str) -> list[tuple[str, datetime | None]]:
        """(counter name, expiry) of one number's counters."""
        with storage_errors():
            rows = self._table().query_entities("PartitionKey eq @p", parameters={"p": PHONE_PREFIX + phone_key})
            return [(row["RowKey"], row.get("ExpiresAt")) for row in rows]

    def erase_number(self, phone_key: str) -> int:
        table, partition = self._table(), PHONE_PREFIX + phone_key
        count = 0
        with storage_errors():
            rows = list(table.query_entities("PartitionKey eq @p", parameters={"p": partition}, select=["RowKey"]))
            for row in rows:
                try:
                    table.delete_entity(partition, row["RowKey"])
                    count += 1
                except ResourceNotFoundError:
                    continue
        return count

    def erase_expired(self, now: datetime) -> int:
        table = self._table()
        count = 0
        with storage_errors():
            rows = list(
                table.query_entities("ExpiresAt lt @now", parameters={"now": now}, select=["PartitionKey", "RowKey"])
            )
        for row in rows:
            try:
                with storage_errors():
                    table.delete_entity(
                        row["PartitionKey"],
                        row["RowKey"],
                        etag=etag_of(row),
                        match_condition=MatchConditions.IfNotModified,
                    )
                count += 1
            except (ResourceNotFoundError, ResourceModifiedError):  # renewed (a new hit) or gone meanwhile
                continue
        return count
