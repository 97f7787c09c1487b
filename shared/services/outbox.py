"""The notifications queue's contract, both ends: a queue message names the outbox rows of one change.
This module is its one home: every message is written by `OutboxRows.queue_text` and read by
`parse_queue_message`.

Written: `{"theme": "<theme>", "rows": ["outbox.…", …]}` — the texts of one group change (a group
formed, a member joined, a reminder…), at most MAX_ROWS_PER_MESSAGE of them, all in the theme's
partition. A change with one text is written in the one-row form `{"theme": …, "row": "outbox.…"}`,
which is also what every message queued before this contract looks like; both are read.

One message per change, not per text: queueing is one round trip per group instead of one per text
(issue 15), while a message still names few rows, so a retry or a poisoned message concerns one
group's texts and an invocation stays far inside the function timeout at the sending rate.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from shared.adapters.queues import Queues
from shared.adapters.storage import NOTIFICATIONS
from shared.core.domain import OUTBOX_PREFIX, OutboxMessage

log = logging.getLogger(__name__)

# A group of the largest size (8 members) has nine texts: invitations and the roster.
MAX_ROWS_PER_MESSAGE = 10
# What a reader accepts: no change set holds more rows than one transaction (100 operations).
MAX_ROWS_READ = 100
_MAX_KEY_LENGTH = 100

# One queue call per change, a few at a time: a commit's texts reach the queue in one round trip's time.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="enqueue")


class NotificationMessageError(ValueError):
    """A queue message that names no outbox row: dropped, since retrying cannot fix it."""


@dataclass(frozen=True)
class OutboxRows:
    """What one queue message names: outbox rows of one theme's partition, in the order to send them."""

    theme: str
    rows: tuple[str, ...]

    def queue_text(self) -> str:
        if len(self.rows) == 1:
            return json.dumps({"theme": self.theme, "row": self.rows[0]}, separators=(",", ":"))
        return json.dumps({"theme": self.theme, "rows": list(self.rows)}, separators=(",", ":"))


def notification_for(message: OutboxMessage) -> str:
    """The queue message that names one outbox row alone (an operator's retry, a test's redelivery)."""
    return OutboxRows(message.theme, (message.key,)).queue_text()


def _is_row_key(value: object) -> bool:
    return isinstance(value, str) and value.startswith(OUTBOX_PREFIX) and len(value) <= _MAX_KEY_LENGTH


def parse_queue_message(text: str) -> OutboxRows:
    """Either form of the contract; NotificationMessageError for anything else."""
    try:
        data = json.loads(text)
        theme = data["theme"]
        named = data["rows"] if "rows" in data else [data["row"]]
    except (ValueError, KeyError, TypeError):
        raise NotificationMessageError("not an outbox reference") from None
    if (
        not isinstance(theme, str)
        or not isinstance(named, list)
        or not 0 < len(named) <= MAX_ROWS_READ
        or not all(_is_row_key(row) for row in named)
    ):
        raise NotificationMessageError("not an outbox reference")
    return OutboxRows(theme, tuple(dict.fromkeys(named)))  # a row named twice is sent once anyway


def per_change(messages: Iterable[OutboxMessage]) -> list[OutboxRows]:
    """The rows grouped by the change they tell about (theme and group), in order, chunked to fit a message."""
    changes: dict[tuple[str, str], list[str]] = {}
    for message in messages:
        changes.setdefault((message.theme, message.group_key), []).append(message.key)
    return [
        OutboxRows(theme, tuple(keys[start : start + MAX_ROWS_PER_MESSAGE]))
        for (theme, _group), keys in changes.items()
        for start in range(0, len(keys), MAX_ROWS_PER_MESSAGE)
    ]


class Queueing:
    """Puts on their way to the queue; `result` waits for them and says how many rows were queued."""

    def __init__(self, batches: list[OutboxRows], futures: list[Future[bool]]) -> None:
        self._batches = batches
        self._futures = futures

    def result(self) -> int:
        queued = sum(len(b.rows) for b, f in zip(self._batches, self._futures, strict=True) if f.result())
        total = sum(len(b.rows) for b in self._batches)
        if queued < total:
            log.warning("%s of %s texts not queued after commit; the sweep will queue them", total - queued, total)
        return queued


def start_queueing(queues: Queues, messages: Iterable[OutboxMessage]) -> Queueing:
    """Start queueing rows already committed, one queue message per change, and return at once: formation
    goes on with the next transaction meanwhile. A failed put is only logged when `result` is asked for:
    the formation sweep re-queues every row still pending a few minutes later, so a text is delayed,
    never lost."""

    def put(batch: OutboxRows) -> bool:
        try:
            queues.enqueue(NOTIFICATIONS, batch.queue_text())
            return True
        except Exception:
            return False

    batches = per_change(messages)
    return Queueing(batches, [_POOL.submit(put, batch) for batch in batches])


def queue_committed(queues: Queues, messages: Iterable[OutboxMessage]) -> int:
    """Queue rows already committed, one queue message per change; returns how many rows were queued."""
    return start_queueing(queues, messages).result()
