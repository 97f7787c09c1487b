"""Sliding-window counters in Table Storage, against SMS pumping.

Keys are keyed hashes (of a number or a client address) or fixed names (the installation's SMS
budget), never the personal data itself.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.adapters.storage import storage_errors

_ATTEMPTS = 20


class RateLimited(Exception):
    def __init__(self, retry_after: int, window: timedelta | None = None) -> None:
        super().__init__(f"rate limited; retry after {retry_after}s")
        self.retry_after = retry_after
        self.window = window  # the longest window that was full


class RateLimiter:
    """A sliding window, kept as per-slot counts in one row per key (one field per window length).

    A fixed window would let a number get 3 codes at 9:59 and 3 more at 10:00. Here a hit counts
    until the whole window has passed since its slot began (slots are 1/60 of the window), so no
    span of `window` ever holds more than `limit` hits; the price is at most one slot of extra wait.
    Several windows of one key (an hourly and a daily cap) live in one row: one read, one write.
    """

    SLOTS = 60

    def __init__(self, table: TableClient, clock: Callable[[], datetime]) -> None:
        self._table = table
        self._clock = clock

    def hit(self, key: str, limit: int, window: timedelta) -> None:
        """Count one event for `key`; raise RateLimited when the last `window` already holds `limit`."""
        self.hit_all(key, [(limit, window)])

    def hit_all(self, key: str, limits: Sequence[tuple[int, timedelta]]) -> None:
        """Count one event against every (limit, window) of `key`, or none when any is full."""
        now = self._clock()
        at = now.timestamp()
        row = "+".join(str(int(window.total_seconds())) for _, window in limits)
        single = len(limits) == 1
        with storage_errors():
            for attempt in range(_ATTEMPTS):  # optimistic concurrency: re-read on a lost race
                try:
                    entity = self._table.get_entity(key, row)
                except ResourceNotFoundError:
                    entity = None
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
                    if total >= limit:
                        refusals.append((_wait(counts, total, limit, at, slot, seconds), window))
                        continue
                    counts[current] = counts.get(current, 0) + 1
                    record[field] = json.dumps({str(k): v for k, v in counts.items()}, separators=(",", ":"))
                    expires = max(expires, (current + 1) * slot + seconds)
                if refusals:
                    raise RateLimited(max(w for w, _ in refusals), max(window for _, window in refusals))
                record["ExpiresAt"] = datetime.fromtimestamp(expires, tz=now.tzinfo)
                try:
                    if entity is None:
                        self._table.create_entity(record)
                    else:
                        self._table.update_entity(
                            record,
                            mode=UpdateMode.REPLACE,
                            etag=entity.metadata["etag"],
                            match_condition=MatchConditions.IfNotModified,
                        )
                    return
                except (ResourceExistsError, ResourceModifiedError):
                    # Several requests from one address (an office behind one NAT) race on one row:
                    # step aside a random moment so they serialise instead of colliding again.
                    time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 - jitter, not security
                    continue
        raise RateLimited(1)  # contention this high is itself a flood


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
