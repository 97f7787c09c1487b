"""Facilitators' forwarded replies, listed for operators: partition `reply` of the facilitators table.

They sit beside the facilitators who wrote them (the partition `facilitator` holds those) and never in
the interests table, whose partitions are the themes. Retention erases them after RETENTION_DAYS
(services/retention.py asks `erase_received_before`): the query filters on a time, never on a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared.adapters.storage import FACILITATORS, RATE_LIMITS, StorageAccount, storage_errors
from shared.core.domain import PHONE_PREFIX
from shared.core.replies import FacilitatorReply

REPLY_PARTITION = "reply"


def reply_entity(reply: FacilitatorReply) -> dict[str, Any]:
    return {
        "PartitionKey": REPLY_PARTITION,
        "RowKey": reply.key,
        "FacilitatorId": reply.facilitator_id,
        "Theme": reply.theme,
        "GroupKey": reply.group_key,
        "Text": reply.text,
        "ReceivedAt": reply.received_at,
    }


def reply_from(entity: Mapping[str, Any]) -> FacilitatorReply:
    return FacilitatorReply(
        key=entity["RowKey"],
        facilitator_id=entity.get("FacilitatorId", ""),
        theme=entity.get("Theme", ""),
        group_key=entity.get("GroupKey", ""),
        text=entity.get("Text", ""),
        received_at=entity["ReceivedAt"],
    )


class ReplyLog:
    def __init__(self, storage: StorageAccount) -> None:
        self._storage = storage

    def _table(self) -> Any:
        return self._storage.table(FACILITATORS)

    def record(self, reply: FacilitatorReply) -> None:
        with storage_errors():
            self._table().create_entity(reply_entity(reply))

    def newest(self, limit: int) -> list[FacilitatorReply]:
        with storage_errors():
            rows = self._table().query_entities("PartitionKey eq @p", parameters={"p": REPLY_PARTITION})
            replies = [reply_from(r) for r in rows]
        return sorted(replies, key=lambda r: r.key, reverse=True)[:limit]

    def erase_received_before(self, cutoff: datetime) -> int:
        table = self._table()
        count = 0
        with storage_errors():
            rows = list(
                table.query_entities(
                    "PartitionKey eq @p and ReceivedAt lt @cutoff",
                    parameters={"p": REPLY_PARTITION, "cutoff": cutoff},
                    select=["PartitionKey", "RowKey"],
                )
            )
            for row in rows:
                try:
                    table.delete_entity(REPLY_PARTITION, row["RowKey"])
                    count += 1
                except ResourceNotFoundError:
                    continue
        return count


class ReplyCounters:
    """Which numbers our number already answered today: one row per number and day in `ratelimits`,
    partition `phone.<keyed marker>` beside the number's other counters (so an erasure, the data-subject
    export and retention's sweep of expired counters find it), RowKey `reply.<YYYYMMDD>`. Never the number."""

    PREFIX = "reply."

    def __init__(self, storage: StorageAccount) -> None:
        self._storage = storage

    def claim(self, phone_key: str, day: str, expires_at: datetime) -> bool:
        """True for the first answer of `day` to this number; False when it was answered already."""
        entity = {"PartitionKey": PHONE_PREFIX + phone_key, "RowKey": self.PREFIX + day, "ExpiresAt": expires_at}
        try:
            with storage_errors():
                self._storage.table(RATE_LIMITS).create_entity(entity)
        except ResourceExistsError:
            return False
        return True
