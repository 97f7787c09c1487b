"""Sliding-window counters in Table Storage, against SMS pumping.

Keys are keyed hashes (of a number, a client address or its network) or fixed names (the
installation's SMS budget), never the personal data itself. A caller with several caps checks them
all (`check_all`) before it counts any (`hit_all`): a request one cap refuses spends no other.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.adapters.storage import storage_errors

_ATTEMPTS = 20
_REMEMBERED = 4096  # counters whose last version this process keeps (the hot ones: budget, busy addresses)
_LOCKS = 64
_UNKNOWN: Any = object()  # not read yet: what the table holds is not known


class RateLimited(Exception):
    def __init__(self, retry_after: int, window: timedelta | None = None, key: str = "") -> None:
        super().__init__(f"rate limited; retry after {retry_after}s")
        self.retry_after = retry_after
        self.window = window  # the longest window that was full
        self.key = key  # the counter that refused (a keyed id or a fixed name), when known


Limits = Sequence[tuple[int, timedelta]]


class Opened(NamedTuple):
    """An event `RateLimiter.open_new` counted by creating its counter: what `take_back` needs to uncount it."""

    key: str
    limits: Limits
    at: datetime


class RateLimiter:
    """A sliding window, kept as per-slot counts in one row per key (one field per window length).

    A fixed window would let a number get 3 codes at 9:59 and 3 more at 10:00. Here a hit counts
    until the whole window has passed since its slot began (slots are 1/60 of the window), so no
    span of `window` ever holds more than `limit` hits; the price is at most one slot of extra wait.
    Several windows of one key (an hourly and a daily cap) live in one row: one read, one write.
    """

    SLOTS = 60

    def __init__(self, table: TableClient | Callable[[], TableClient], clock: Callable[[], datetime]) -> None:
        self._table_of: Callable[[], TableClient] = table if callable(table) else (lambda: table)
        self._clock = clock
        # The version of each counter this limiter last wrote or read: the next hit writes on top of it
        # with its ETag (If-Match) and skips the read; a stale one fails the write and is read again.
        # Hits of one key in this process take turns, so they do not race each other on that ETag.
        self._seen: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._locks = [threading.Lock() for _ in range(_LOCKS)]

    def hit(self, key: str, limit: int, window: timedelta) -> None:
        """Count one event for `key`; raise RateLimited when the last `window` already holds `limit`."""
        self.hit_all(key, [(limit, window)])

    def hit_all(self, key: str, limits: Limits) -> None:
        """Count one event against every (limit, window) of `key`, or none when any is full.

        One storage call when this process wrote the counter last (or it is new), two or three when
        another instance did. A refusal is only ever decided on a fresh read."""
        row = _row(limits)
        with self._locks[hash((key, row)) % _LOCKS], storage_errors():
            self._hit(key, row, limits)

    def check(self, key: str, limits: Limits) -> None:
        """Raise RateLimited (with `key`) when `key` could not take one more event now; count nothing.

        Reads the counter unless this process holds its latest version, and keeps what it read, so a
        `hit_all` right after writes on top of it without reading again (one read, one write in all)."""
        row = _row(limits)
        with self._locks[hash((key, row)) % _LOCKS], storage_errors():
            table = self._table_of()
            at = self._clock().timestamp()
            with self._seen_lock:
                entity = self._seen.get((key, row), _UNKNOWN)
            for fresh in (entity is _UNKNOWN, True):
                if fresh and entity is _UNKNOWN:
                    try:
                        entity = table.get_entity(key, row)
                    except ResourceNotFoundError:
                        entity = None
                    self._keep(key, row, entity)
                refusals = _refusals(entity, limits, at, self.SLOTS)
                if not refusals:
                    return
                if fresh:
                    raise RateLimited(max(w for w, _ in refusals), max(window for _, window in refusals), key)
                entity = _UNKNOWN  # a refusal is decided on a fresh read only

    def check_all(self, hits: Sequence[tuple[str, Limits]]) -> None:
        """Check every key before any is counted: the longest wait of those that refuse is raised."""
        refused: list[RateLimited] = []
        for key, limits in hits:
            try:
                self.check(key, limits)
            except RateLimited as exc:
                refused.append(exc)
        if refused:
            raise max(refused, key=lambda exc: exc.retry_after)

    def busiest(self, prefix: str, window: timedelta, top: int = 3) -> list[tuple[str, int]]:
        """The `top` counters whose key starts with `prefix`, by their events in the `window` ending now:
        (key, count). Read when the SMS budget is spent, to tell the coordinator who is spending it."""
        seconds = int(window.total_seconds())
        slot = seconds / self.SLOTS
        at = self._clock().timestamp()
        oldest = int((at - seconds) // slot)
        # Table Storage has no wildcard: a prefix is the range from it to the prefix with its last character
        # incremented (keys compare as strings; results come sorted by PartitionKey), per "Querying tables
        # and entities": https://learn.microsoft.com/en-us/rest/api/storageservices/querying-tables-and-entities
        # and the prefix-matching note of https://learn.microsoft.com/en-us/previous-versions/dd179461(v=msdn.10)
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        found: list[tuple[str, int]] = []
        with storage_errors():
            entities = self._table_of().query_entities(
                "PartitionKey ge @low and PartitionKey lt @high", parameters={"low": prefix, "high": upper}
            )
            for entity in entities:
                windows = str(entity.get("RowKey", "")).split("+")
                if str(seconds) not in windows:
                    continue
                field = "Slots" if len(windows) == 1 else f"Slots{seconds}"
                count = sum(_live_counts(entity, field, oldest).values())
                if count:
                    found.append((entity["PartitionKey"], count))
        return sorted(found, key=lambda kc: (-kc[1], kc[0]))[:top]

    def _hit(self, key: str, row: str, limits: Limits) -> None:
        table = self._table_of()
        now = self._clock()
        entity = self._recall(key, row)
        fresh = False
        for attempt in range(_ATTEMPTS):  # optimistic concurrency: re-read on a lost race
            if entity is _UNKNOWN:
                try:
                    entity = table.get_entity(key, row)
                except ResourceNotFoundError:
                    entity = None
                fresh = True
            record, refusals = self._counted(key, row, limits, entity, now)
            if refusals:
                if not fresh:  # what this process remembers may be gone (erased, expired): look first
                    entity = _UNKNOWN
                    continue
                raise RateLimited(max(w for w, _ in refusals), max(window for _, window in refusals), key)
            try:
                if entity is None:
                    meta = table.create_entity(record)
                else:
                    meta = table.update_entity(
                        record,
                        mode=UpdateMode.REPLACE,
                        etag=_etag(entity),
                        match_condition=MatchConditions.IfNotModified,
                    )
                self._keep_written(key, row, record, meta)
                return
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                entity = _UNKNOWN
                if fresh:
                    # Several instances (or an office behind one NAT) race on one row: step aside a random
                    # moment so they serialise instead of colliding again.
                    time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 - jitter, not security
                continue
        self._forget(key, row)
        raise RateLimited(1, key=key)  # contention this high is itself a flood

    def _counted(
        self, key: str, row: str, limits: Limits, entity: Any, now: datetime, step: int = 1
    ) -> tuple[dict, list[tuple[int, timedelta]]]:
        """The counter's row with `step` events added at `now` (a negative step takes them back), and the
        (wait, window) of each limit that is full and would refuse the event."""
        at = now.timestamp()
        single = len(limits) == 1
        record: dict = {"PartitionKey": key, "RowKey": row}
        refusals: list[tuple[int, timedelta]] = []
        expires = at
        for limit, window in limits:
            field = "Slots" if single else f"Slots{int(window.total_seconds())}"
            seconds = window.total_seconds()
            slot = seconds / self.SLOTS
            current = int(at // slot)
            # A slot still counts while any part of it lies within the window ending now.
            counts = _live_counts(entity, field, int((at - seconds) // slot))
            total = sum(counts.values())
            if step > 0 and total >= limit:
                refusals.append((_wait(counts, total, limit, at, slot, seconds), window))
                continue
            counts[current] = counts.get(current, 0) + step
            counts = {index: n for index, n in counts.items() if n > 0}
            record[field] = json.dumps({str(k): v for k, v in counts.items()}, separators=(",", ":"))
            expires = max(expires, (current + 1) * slot + seconds)
        record["ExpiresAt"] = datetime.fromtimestamp(expires, tz=now.tzinfo)
        return record, refusals

    def open_new(self, key: str, limits: Limits) -> Opened | None:
        """Count one event on a counter this process has not seen by creating it, with no read first: a new
        counter cannot refuse. None when the counter exists (what it holds is then remembered, so `check`
        and `hit_all` of it need no read) or this process has seen it already: count it with `hit_all`.

        One call for a new counter where a check and a hit made two (a read that finds nothing, a create);
        three for a counter another instance made (the refused create, a read, the hit)."""
        row = _row(limits)
        if any(limit < 1 for limit, _ in limits):
            return None
        with self._seen_lock:
            if (key, row) in self._seen:
                return None
        with self._locks[hash((key, row)) % _LOCKS], storage_errors():
            table = self._table_of()
            now = self._clock()
            record, _ = self._counted(key, row, limits, None, now)
            try:
                meta = table.create_entity(record)
            except ResourceExistsError:
                try:
                    entity = table.get_entity(key, row)
                except ResourceNotFoundError:  # erased or expired since: the next hit creates it again
                    entity = None
                self._keep(key, row, entity)
                return None
            self._keep_written(key, row, record, meta)
            return Opened(key, limits, now)

    def take_back(self, opened: Opened) -> None:
        """Uncount the event `open_new` counted (the request was refused by another cap after all): the
        counter is left as if that request had never come; deleted when nothing else was counted on it."""
        key, limits, at = opened
        row = _row(limits)
        with self._locks[hash((key, row)) % _LOCKS], storage_errors():
            table = self._table_of()
            entity = self._recall(key, row)
            for _ in range(_ATTEMPTS):
                if entity is _UNKNOWN or entity is None:
                    try:
                        entity = table.get_entity(key, row)
                    except ResourceNotFoundError:
                        self._keep(key, row, None)
                        return
                record, _ = self._counted(key, row, limits, entity, at, step=-1)
                if isinstance(entity.get("ExpiresAt"), datetime):  # a later hit's expiry stands
                    record["ExpiresAt"] = max(record["ExpiresAt"], entity["ExpiresAt"])
                empty = all(record[f] == "{}" for f in record if f.startswith("Slots"))
                try:
                    if empty:
                        table.delete_entity(key, row, etag=_etag(entity), match_condition=MatchConditions.IfNotModified)
                        self._keep(key, row, None)
                    else:
                        meta = table.update_entity(
                            record,
                            mode=UpdateMode.REPLACE,
                            etag=_etag(entity),
                            match_condition=MatchConditions.IfNotModified,
                        )
                        self._keep_written(key, row, record, meta)
                    return
                except (ResourceModifiedError, ResourceNotFoundError):
                    entity = _UNKNOWN
            self._forget(key, row)

    def _recall(self, key: str, row: str) -> Any:
        """The version last seen, or None (assume a new counter: create it) when this process never saw it."""
        with self._seen_lock:
            return self._seen.get((key, row))

    def _keep(self, key: str, row: str, entity: dict | None) -> None:
        with self._seen_lock:
            self._seen[(key, row)] = entity
            self._seen.move_to_end((key, row))
            while len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)

    def _keep_written(self, key: str, row: str, record: dict, meta: Any) -> None:
        """Remember what this process just wrote, with the ETag the write returned."""
        self._keep(key, row, {**record, "_etag": (meta or {}).get("etag")})

    def _forget(self, key: str, row: str) -> None:
        with self._seen_lock:
            self._seen.pop((key, row), None)


class OncePerWindow:
    """Rows that say "done for this window" (the coordinator told once that the SMS budget is full)."""

    def __init__(self, table: Callable[[], TableClient]) -> None:
        self._table = table

    def claim(self, partition: str, row: str, expires_at: datetime) -> bool:
        """True for the first caller only; it must `release` if it could not do what it claimed."""
        try:
            with storage_errors():
                self._table().create_entity({"PartitionKey": partition, "RowKey": row, "ExpiresAt": expires_at})
        except ResourceExistsError:
            return False
        return True

    def release(self, partition: str, row: str) -> None:
        with storage_errors():
            try:
                self._table().delete_entity(partition, row)
            except ResourceNotFoundError:
                return


def _row(limits: Limits) -> str:
    return "+".join(str(int(window.total_seconds())) for _, window in limits)


def _refusals(entity: Any, limits: Limits, at: float, slots: int) -> list[tuple[int, timedelta]]:
    """(wait, window) of each limit of `limits` that is full at `at`, as `_hit` decides it."""
    single = len(limits) == 1
    refusals = []
    for limit, window in limits:
        field = "Slots" if single else f"Slots{int(window.total_seconds())}"
        seconds = window.total_seconds()
        slot = seconds / slots
        counts = _live_counts(entity, field, int((at - seconds) // slot))
        total = sum(counts.values())
        if total >= limit:
            refusals.append((_wait(counts, total, limit, at, slot, seconds), window))
    return refusals


def _etag(entity: Any) -> str | None:
    """The ETag of a counter as read (SDK metadata) or as this process wrote it."""
    if "_etag" in entity:
        return entity["_etag"]
    return getattr(entity, "metadata", {}).get("etag")


def _wait(counts: dict[int, int], total: int, limit: int, at: float, slot: float, seconds: float) -> int:
    """Seconds until enough of the oldest slots have left the window for one more hit."""
    surplus = total - limit + 1
    free_at = at + seconds
    for index in sorted(counts):
        surplus -= counts[index]
        if surplus <= 0:
            free_at = (index + 1) * slot + seconds
            break
    return max(1, math.ceil(free_at - at))


def _live_counts(entity: dict | None, field: str, oldest_live: int) -> dict[int, int]:
    if entity is None:
        return {}
    try:
        stored = json.loads(entity.get(field) or "{}")
        counts = {int(index): int(n) for index, n in stored.items()}
    except (ValueError, TypeError, AttributeError):
        return {}
    return {index: n for index, n in counts.items() if index >= oldest_live and n > 0}
