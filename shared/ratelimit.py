"""Fixed-window counters in Table Storage, against SMS pumping.

Keys are hashes (of a number or a client address), never the personal data itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.storage import storage_errors


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after}s")
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self, table: TableClient, clock: Callable[[], datetime]) -> None:
        self._table = table
        self._clock = clock

    def hit(self, key: str, limit: int, window: timedelta) -> None:
        """Count one event for `key`; raise RateLimited when the window already holds `limit`."""
        now = self._clock()
        seconds = int(window.total_seconds())
        index = int(now.timestamp()) // seconds
        window_end = datetime.fromtimestamp((index + 1) * seconds, tz=now.tzinfo)
        row = f"{seconds}-{index}"
        with storage_errors():
            for _ in range(8):  # optimistic concurrency: re-read on a lost race
                try:
                    entity = self._table.get_entity(key, row)
                except ResourceNotFoundError:
                    try:
                        self._table.create_entity(
                            {"PartitionKey": key, "RowKey": row, "Count": 1, "ExpiresAt": window_end}
                        )
                        return
                    except ResourceExistsError:
                        continue
                if entity["Count"] >= limit:
                    raise RateLimited(max(1, math.ceil((window_end - now).total_seconds())))
                entity["Count"] += 1
                try:
                    self._table.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                    return
                except ResourceModifiedError:
                    continue
        raise RateLimited(1)  # contention this high is itself a flood
