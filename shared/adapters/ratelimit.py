"""Sliding-window counters in Table Storage, against SMS pumping.

Keys are hashes (of a number or a client address), never the personal data itself.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.adapters.storage import storage_errors

_ATTEMPTS = 20


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after}s")
        self.retry_after = retry_after


class RateLimiter:
    """A sliding window, kept as per-slot counts in one row per key and window length.

    A fixed window would let a number get 3 codes at 9:59 and 3 more at 10:00. Here a hit counts
    until the whole window has passed since its slot began (slots are 1/60 of the window), so no
    span of `window` ever holds more than `limit` hits; the price is at most one slot of extra wait.
    """

    SLOTS = 60

    def __init__(self, table: TableClient, clock: Callable[[], datetime]) -> None:
        self._table = table
        self._clock = clock

    def hit(self, key: str, limit: int, window: timedelta) -> None:
        """Count one event for `key`; raise RateLimited when the last `window` already holds `limit`."""
        now = self._clock()
        seconds = window.total_seconds()
        slot = seconds / self.SLOTS
        at = now.timestamp()
        current = int(at // slot)
        # A slot still counts while any part of it lies within the window ending now.
        oldest_live = int((at - seconds) // slot)
        row = f"{int(seconds)}"
        with storage_errors():
            for attempt in range(_ATTEMPTS):  # optimistic concurrency: re-read on a lost race
                try:
                    entity = self._table.get_entity(key, row)
                except ResourceNotFoundError:
                    entity = None
                counts = _live_counts(entity, oldest_live)
                total = sum(counts.values())
                if total >= limit:
                    # Wait until enough of the oldest slots have left the window.
                    surplus = total - limit + 1
                    free_at = at + seconds
                    for index in sorted(counts):
                        surplus -= counts[index]
                        if surplus <= 0:
                            free_at = (index + 1) * slot + seconds
                            break
                    raise RateLimited(max(1, math.ceil(free_at - at)))
                counts[current] = counts.get(current, 0) + 1
                record = {
                    "PartitionKey": key,
                    "RowKey": row,
                    "Slots": json.dumps({str(k): v for k, v in counts.items()}, separators=(",", ":")),
                    "ExpiresAt": datetime.fromtimestamp((current + 1) * slot + seconds, tz=now.tzinfo),
                }
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


def _live_counts(entity: dict | None, oldest_live: int) -> dict[int, int]:
    if entity is None:
        return {}
    try:
        stored = json.loads(entity.get("Slots") or "{}")
        counts = {int(index): int(n) for index, n in stored.items()}
    except (ValueError, TypeError, AttributeError):
        return {}
    return {index: n for index, n in counts.items() if index >= oldest_live and n > 0}
