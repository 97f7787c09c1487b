"""A unit of work over the interests table: reads remember each row's ETag, changes are committed
in entity-group transactions, and a lost ETag race is retried — the one home for both limits.

Table Storage commits atomically only inside one partition and at most 100 operations per
transaction (https://learn.microsoft.com/en-us/rest/api/storageservices/performing-entity-group-transactions).
A `ChangeSet` is what must stay whole (one group's formation, one person's erasure); consecutive
change sets of a theme share a transaction while they fit. Updates and deletes of rows read in
this unit carry their ETag (If-Match), so a row someone changed meanwhile fails the transaction
whole; `retrying` then reads and decides again, at most MAX_ATTEMPTS times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.entities import (
    entity_of,
    etag_of,
    marker_entity,
    merge_entity,
    stats_entity,
    stats_key,
    timestamp_of,
)
from shared.adapters.storage import storage_errors
from shared.core.domain import Group, Interest, OutboxMessage
from shared.core.statistics import Counts, StatKey

log = logging.getLogger(__name__)

MAX_TRANSACTION_OPERATIONS = 100  # Table Storage's limit for one entity-group transaction
# Lost races in a row before giving up (a later run, or the queue's retry, tries again).
MAX_ATTEMPTS = 20

T = TypeVar("T")
U = TypeVar("U", bound="Unit")
Record = Interest | Group | OutboxMessage
RowId = tuple[str, str]  # (theme, key)


class LostRace(Exception):
    """A transaction failed because a row changed (or appeared, or vanished) since it was read."""


class GaveUp(RuntimeError):
    """Lost the race MAX_ATTEMPTS times in a row; safe to run again."""


class ChangeSet:
    """Rows of one theme that change together or not at all."""

    def __init__(self, unit: Unit, theme: str) -> None:
        self._unit = unit
        self.theme = theme
        self.operations: list[tuple] = []
        self.messages: list[OutboxMessage] = []  # outbox rows created: queued after the commit
        self.spill: list[str] = []  # unconditional deletes that may follow the commit if the set is full
        self.on_commit: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self.operations)

    def _if_unchanged(self, key: str) -> dict[str, Any]:
        etag = self._unit.etag(self.theme, key)
        return {"etag": etag, "match_condition": MatchConditions.IfNotModified} if etag else {}

    def create(self, record: Record) -> None:
        self.operations.append(("create", entity_of(record)))
        if isinstance(record, OutboxMessage):
            self.messages.append(record)

    def replace(self, record: Record) -> None:
        """The whole row, only if unchanged since read."""
        condition = self._if_unchanged(record.key)
        self.operations.append(("update", entity_of(record), {"mode": UpdateMode.REPLACE, **condition}))

    def merge(self, record: Record, *fields: str) -> None:
        """Only the columns of `fields`, only if the row is unchanged since read."""
        condition = self._if_unchanged(record.key)
        self.operations.append(("update", merge_entity(record, fields), {"mode": UpdateMode.MERGE, **condition}))

    def delete(self, key: str) -> None:
        """Delete a row; if it was read in this unit, only if unchanged since."""
        self.operations.append(("delete", {"PartitionKey": self.theme, "RowKey": key}, self._if_unchanged(key)))

    def delete_soon(self, keys: list[str]) -> None:
        """Rows to delete with the set while it fits, or right after its commit (texts to an erased person)."""
        self.spill += keys

    def add_marker(self, marker_key: str, interest_key: str) -> None:
        self.operations.append(("create", marker_entity(self.theme, marker_key, interest_key)))

    def put_marker(self, marker_key: str, interest_key: str) -> None:
        """Point a marker at an interest: only if unchanged since read when it was read in this unit,
        else over whatever is there."""
        entity = marker_entity(self.theme, marker_key, interest_key)
        condition = self._if_unchanged(marker_key)
        if condition:
            self.operations.append(("update", entity, {"mode": UpdateMode.REPLACE, **condition}))
        else:
            self.operations.append(("upsert", entity, {"mode": UpdateMode.REPLACE}))

    def add_to_stats(self, contributions: dict[StatKey, Counts]) -> None:
        """Add counts to the theme's statistics rows (each conditioned on the version read)."""
        current = self._unit.stats(self.theme)
        for (month, area), extra in sorted(contributions.items()):
            key = stats_key(month, area)
            total = Counts()
            if key in current:
                total.add(current[key])
            total.add(extra)
            entity = stats_entity(self.theme, month, area, total)
            if key in current:
                self.operations.append(("update", entity, {"mode": UpdateMode.MERGE, **self._if_unchanged(key)}))
            else:
                self.operations.append(("create", entity))
            self.on_commit.append(_set(current, key, total))


def _set(stats: dict[str, Counts], key: str, total: Counts) -> Callable[[], None]:
    def now_committed() -> None:
        stats[key] = total

    return now_committed


class Unit:
    """One read-decide-commit pass. Not shared between threads; make a new one per attempt."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._etags: dict[RowId, str | None] = {}
        self._stamps: dict[RowId, Any] = {}
        self._stats: dict[str, dict[str, Counts]] = {}
        self._pending: list[ChangeSet] = []
        self.transactions = 0
        self.entities_written = 0

    # versions ---------------------------------------------------------------------------------

    def remember(self, entity: Any) -> Any:
        row = (entity["PartitionKey"], entity["RowKey"])
        self._etags[row] = etag_of(entity)
        self._stamps[row] = timestamp_of(entity)
        return entity

    def etag(self, theme: str, key: str) -> str | None:
        return self._etags.get((theme, key))

    def written_at(self, theme: str, key: str) -> Any:
        """When the row was last written, as read (statistics date a late joiner's place by it)."""
        return self._stamps.get((theme, key))

    def get(self, theme: str, key: str) -> Any | None:
        with storage_errors():
            try:
                return self.remember(self.table.get_entity(theme, key))
            except ResourceNotFoundError:
                return None

    def query(self, query: str, parameters: dict[str, Any] | None = None, **kw: Any) -> Iterator[Any]:
        with storage_errors():
            for entity in self.table.query_entities(query, parameters=parameters or {}, **kw):
                yield self.remember(entity) if "RowKey" in entity and "PartitionKey" in entity else entity

    def stats(self, theme: str) -> dict[str, Counts]:
        """The theme's statistics rows, read once per unit and kept current as this unit commits."""
        if theme not in self._stats:
            from shared.adapters.entities import stats_from

            rows = self.query("PartitionKey eq @theme and Kind eq 'stats'", {"theme": theme})
            self._stats[theme] = {row["RowKey"]: stats_from(row)[1] for row in rows}
        return self._stats[theme]

    # changing ---------------------------------------------------------------------------------

    def change(self, theme: str) -> ChangeSet:
        change = ChangeSet(self, theme)
        self._pending.append(change)
        return change

    def discard(self, change: ChangeSet) -> None:
        self._pending.remove(change)

    def commit(self, after_pack: Callable[[list[ChangeSet]], None] | None = None) -> None:
        """Submit the pending change sets, packed; LostRace when one transaction fails (the packs before it
        stay committed, and their callbacks have run)."""
        pending, self._pending = self._pending, []
        for pack in _packed(pending):
            operations = [op for change in pack for op in change.operations]
            try:
                with storage_errors():
                    results = self.table.submit_transaction(operations)
            except TableTransactionError:
                raise LostRace() from None
            self.transactions += 1
            self.entities_written += len(operations)
            for op, result in zip(operations, results or [], strict=False):
                row = (op[1]["PartitionKey"], op[1]["RowKey"])
                if op[0] == "delete":
                    self._etags.pop(row, None)
                else:
                    self._etags[row] = (result or {}).get("etag")
            for change in pack:
                for key in change.spill:
                    self.delete_quietly(change.theme, key)
                for callback in change.on_commit:
                    callback()
            if after_pack is not None:
                after_pack(pack)

    # single rows, outside a transaction -------------------------------------------------------

    def try_create(self, record: Record) -> bool:
        """False if the row exists already."""
        try:
            with storage_errors():
                self.remember_written(record, self.table.create_entity(entity_of(record)))
        except ResourceExistsError:
            return False
        return True

    def try_merge(self, record: Record, *fields: str, force: bool = False) -> bool:
        """Merge `fields` if the row is as read (or regardless, with force); False on a lost race or a gone row."""
        kwargs: dict[str, Any] = {"mode": UpdateMode.MERGE}
        etag = self.etag(record.theme, record.key)
        if not force and etag:
            kwargs.update(etag=etag, match_condition=MatchConditions.IfNotModified)
        try:
            with storage_errors():
                self.remember_written(record, self.table.update_entity(merge_entity(record, fields), **kwargs))
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    def try_replace(self, record: Record) -> bool:
        kwargs: dict[str, Any] = {"mode": UpdateMode.REPLACE}
        etag = self.etag(record.theme, record.key)
        if etag:
            kwargs.update(etag=etag, match_condition=MatchConditions.IfNotModified)
        try:
            with storage_errors():
                self.remember_written(record, self.table.update_entity(entity_of(record), **kwargs))
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    def try_delete(self, theme: str, key: str) -> bool:
        """Delete the row if it is as read; False if it changed or is gone."""
        etag = self.etag(theme, key)
        kwargs: dict[str, Any] = {"etag": etag, "match_condition": MatchConditions.IfNotModified} if etag else {}
        try:
            with storage_errors():
                self.table.delete_entity(theme, key, **kwargs)
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        self._etags.pop((theme, key), None)
        return True

    def delete_quietly(self, theme: str, key: str) -> bool:
        """Unconditionally; False if it was gone already."""
        with storage_errors():
            try:
                self.table.delete_entity(theme, key)
            except ResourceNotFoundError:
                return False
        return True

    def delete_all(self, theme: str, keys: list[str]) -> int:
        """Unconditional deletes, 100 per transaction; a chunk with a row already gone goes one by one."""
        deleted = 0
        for start in range(0, len(keys), MAX_TRANSACTION_OPERATIONS):
            chunk = keys[start : start + MAX_TRANSACTION_OPERATIONS]
            try:
                with storage_errors():
                    self.table.submit_transaction([("delete", {"PartitionKey": theme, "RowKey": k}) for k in chunk])
                deleted += len(chunk)
            except TableTransactionError:
                deleted += sum(self.delete_quietly(theme, k) for k in chunk)
        return deleted

    def remember_written(self, record: Record, meta: Any) -> None:
        self._etags[(record.theme, record.key)] = (meta or {}).get("etag")


def _packed(changes: list[ChangeSet]) -> Iterator[list[ChangeSet]]:
    """Consecutive change sets of one theme share a transaction while they fit; each stays whole in one.
    Spilled deletes fill what room is left and the rest follow the commit."""
    pack: list[ChangeSet] = []
    size = 0
    for change in changes:
        room = MAX_TRANSACTION_OPERATIONS - len(change)
        if room < 0:
            raise ValueError(f"a change set of {len(change)} operations cannot commit atomically")
        if change.spill:
            fit, change.spill = change.spill[:room], change.spill[room:]
            change.operations += [("delete", {"PartitionKey": change.theme, "RowKey": k}) for k in fit]
        if pack and (size + len(change) > MAX_TRANSACTION_OPERATIONS or pack[0].theme != change.theme):
            yield pack
            pack, size = [], 0
        pack.append(change)
        size += len(change)
    if pack:
        yield pack


def retrying(
    open_unit: Callable[[], U],
    work: Callable[[U], T],
    *,
    on_lost_race: Callable[[], None] | None = None,
    attempts: int = MAX_ATTEMPTS,
) -> T:
    """Run `work` on a fresh unit and commit what it left pending; on a lost race, again from the reads."""
    for _ in range(attempts):
        unit = open_unit()
        try:
            result = work(unit)
            unit.commit()
        except LostRace:
            if on_lost_race is not None:
                on_lost_race()
            continue
        return result
    raise GaveUp(f"lost the race {attempts} times in a row")
