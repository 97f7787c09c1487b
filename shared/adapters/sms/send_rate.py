"""One send rate for the whole installation, however many instances send at once.

Flex Consumption scales each queue function out to many instances, so a rate held per process is a
rate per instance. Twilio queues what arrives faster than a sender's throughput, in the order it
arrived, per sender or per account, and measures throughput in message segments per second
(https://support.twilio.com/hc/en-us/articles/115002943027-Understanding-Twilio-Rate-Limits-and-Message-Queues):
a verification code sent behind a burst of group texts would wait at Twilio behind all of them, and
what waits longer than the validity period fails (https://www.twilio.com/docs/api/errors/30001).
So the app never hands Twilio more than `SMS_RATE_PER_SECOND` segments a second, counted where every
instance sees the count: window rows in Table Storage, written with ETag conditions.

Windows are whole seconds long (longer when the rate is below a few segments a second, so each holds at
least `MIN_CAPACITY` segments). Group texts, replies and alerts (`Lane.TEXTS`) may fill a window only up to
its capacity less a reserved share (`CODES_SHARE`); verification codes (`Lane.CODES`) may use the whole
window. Group texts therefore never take the room a code needs: a code goes out in the window it was
asked in, while group texts book windows ahead and wait for them (and book the current window only in
its first half, so that what they send reaches the provider within the window they counted in).
Windows never empty, so each process remembers the first window it found full per lane and starts
looking there.

The rows live in the `ratelimits` table (partition `send-rate`) and are reused in a ring of `RING`
keys, each remembering which window it counts: the table never grows.

Every booking is a write conditional on the row's ETag (or a create, for a row not there). A process
meeting a ring row it has not seen reads it and the next `READ_AHEAD - 1` in one range query, so in
the windows that follow a text costs one call, not a read and a write (issue 22: each storage call is
about 2.5 ms of the SDK's CPU). A row another instance wrote since fails the condition and is read
again, as before; after such a lost race the process reads each row before writing it for the next
`READ_AHEAD` windows, since what it read ahead is then likely stale.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.adapters.sms.base import TransientSmsError
from shared.adapters.storage import RATE_LIMITS, StorageAccount, storage_errors

PARTITION: Final = "send-rate"
# A fifth of every window stays free for codes: a registration peak (a few codes a second) fits into it
# at the default 10 segments a second, and group texts keep four fifths.
CODES_SHARE: Final = 0.2
MIN_CAPACITY: Final = 5  # segments per window: below that a reserved share would round to nothing
RING: Final = 512  # row keys reused in turn: more windows than anyone books ahead
READ_AHEAD: Final = 32  # ring rows read in one query where the process has seen none of them
_ATTEMPTS: Final = 50  # conditional writes lost to other instances before giving up on one window


class Lane(StrEnum):
    """Which share of the rate (and of the SMS budget) a text draws on."""

    CODES = "codes"  # verification codes: a resident is waiting on the form
    TEXTS = "texts"  # everything else: group texts, replies, forwards, reports, alerts


class Pace(Protocol):
    """Where the send rate reads the time (seconds since the epoch) and how it waits for its window to begin.
    Production's is the `time` module itself; services wired in tests get time that skips each wait
    (tests/support/pace.py), so a suite sending hundreds of texts does not sleep through their windows."""

    def time(self) -> float: ...

    def sleep(self, seconds: float, /) -> None: ...


class SendRateBusy(TransientSmsError):
    """No window within the longest wait has room: the text was not sent; try again later."""


class SendRate:
    """The installation's send rate in segments per second, shared through Table Storage."""

    def __init__(
        self,
        table: Callable[[], TableClient],
        per_second: float,
        *,
        max_wait: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (math.isfinite(per_second) and per_second > 0):
            raise ValueError("per_second must be a positive number")
        self._table = table
        self.window = max(1, math.ceil(MIN_CAPACITY / per_second))  # seconds
        self.capacity = max(MIN_CAPACITY, math.floor(per_second * self.window + 1e-9))
        self.reserved = max(1, round(self.capacity * CODES_SHARE))
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._seen: dict[str, Any] = {}  # ring key -> the row as this process last read or wrote it
        self._full: dict[Lane, int] = {}  # lane -> every window before this one is full for the lane
        self._ahead: set[str] = set()  # ring keys read ahead and not written since
        self._raced: int | None = None  # the last window a conditional write of this process lost
        self._lock = threading.Lock()  # this process's threads take turns; instances race on ETags

    @classmethod
    def of(cls, storage: StorageAccount, per_second: float, **options: Any) -> SendRate:
        return cls(lambda: storage.table(RATE_LIMITS), per_second, **options)

    def limit(self, lane: Lane) -> int:
        return self.capacity if lane is Lane.CODES else self.capacity - self.reserved

    def acquire(self, lane: Lane, segments: int = 1) -> int:
        """Book `segments` in the first window with room for `lane` and wait for it to begin; returns the
        window's number. Raises SendRateBusy when no window within `max_wait` has room."""
        cost = max(1, segments)
        limit = self.limit(lane)
        with self._lock:
            now = self._clock()
            current = int(now // self.window)
            last = current + max(1, math.ceil(self.max_wait / self.window))
            # Group texts book the current window only in its first half: booked later, they would reach the
            # provider in the next window, on top of that window's own. Codes take any room there is.
            late = now - current * self.window >= self.window / 2
            window = max(current + (lane is Lane.TEXTS and late), self._full.get(lane, 0))
            while window <= last:
                if self._take(window, cost, limit):
                    break
                self._full[lane] = window + 1
                if lane is Lane.CODES:  # full for codes is full for everyone
                    self._full[Lane.TEXTS] = max(self._full.get(Lane.TEXTS, 0), window + 1)
                window += 1
            else:
                raise SendRateBusy(
                    f"no room in the send rate for {self.max_wait:g} s", retry_after=float(self.max_wait)
                )
        delay = window * self.window - self._clock()
        if delay > 0:
            self._sleep(delay)
        return window

    def _take(self, window: int, cost: int, limit: int) -> bool:
        """Add `cost` to the window's count if it fits (a text longer than a whole window goes alone into an
        empty one); False when it does not. Lost races read the row again."""
        key = _ring_key(window)
        table = self._table()
        with storage_errors():
            if key not in self._seen and (self._raced is None or window - self._raced > READ_AHEAD):
                self._read_ahead(table, window)
            entity = self._seen.get(key)
            for attempt in range(_ATTEMPTS):
                if entity is None:
                    try:
                        entity = table.get_entity(PARTITION, key)
                    except ResourceNotFoundError:
                        entity = {}
                used = int(entity.get("Used") or 0) if entity.get("Window") == window else 0
                if used and used + cost > limit:
                    self._seen[key] = entity
                    return False
                record = {
                    "PartitionKey": PARTITION,
                    "RowKey": key,
                    "Window": window,
                    "Used": used + cost,
                    # The retention sweep removes a row nobody wrote for a day; the ring then starts again.
                    "ExpiresAt": datetime.fromtimestamp((window + 1) * self.window + 86_400, tz=UTC),
                }
                etag = _etag(entity)
                try:
                    if etag is None:
                        meta = table.create_entity(record)
                    else:
                        meta = table.update_entity(
                            record, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                        )
                except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                    entity = None  # another instance wrote it: read it again
                    if key in self._ahead:  # another instance writes these windows: forget what was read ahead
                        self._raced = window
                        for stale in self._ahead:
                            self._seen.pop(stale, None)
                        self._ahead.clear()
                    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 - jitter, not security
                    continue
                self._ahead.discard(key)
                self._seen[key] = {**record, "_etag": (meta or {}).get("etag")}
                return True
        self._seen.pop(key, None)
        return False  # contention this high: count the window as full and look further on

    def _read_ahead(self, table: TableClient, window: int) -> None:
        """The rows of this window and the next ones (up to the end of the ring) in one query; a row not
        there is remembered as absent, so booking it is a create (which fails if it appeared meanwhile)."""
        first = window % RING
        keys = [_ring_key(k) for k in range(first, min(first + READ_AHEAD, RING))]
        found = {
            e["RowKey"]: e
            for e in table.query_entities(
                "PartitionKey eq @p and RowKey ge @low and RowKey le @high",
                parameters={"p": PARTITION, "low": keys[0], "high": keys[-1]},
            )
        }
        for key in keys:
            if key not in self._seen:
                self._seen[key] = found.get(key, {})
                self._ahead.add(key)


def _ring_key(window: int) -> str:
    return f"{window % RING:04d}"


def _etag(entity: Any) -> str | None:
    """The ETag of a row as read (SDK metadata) or as this process wrote it; None for no row."""
    if not entity:
        return None
    if "_etag" in entity:
        return entity["_etag"]
    return getattr(entity, "metadata", {}).get("etag")


__all__ = ["CODES_SHARE", "Lane", "Pace", "SendRate", "SendRateBusy"]
