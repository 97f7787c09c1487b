"""The notifications queue's contract, both ends: a queue message names outbox rows of one theme.
This module is its one home: every message is written by `OutboxRows.queue_text` and read by
`parse_queue_message`.

Written: `{"theme": "<theme>", "rows": ["outbox.…", …]}` — the texts of the group changes one table
transaction committed (groups formed, members joined, a reminder…), change after change, at most
MAX_ROWS_PER_MESSAGE rows, all in the theme's partition. A message with one row is written in the
one-row form `{"theme": …, "row": "outbox.…"}`, what every message queued before issue 15 looks like;
both are read, and a message naming one change's rows (issue 15's form) is the same `rows` form, so
messages in flight across a deploy, either way, are read by both versions.

One message per commit, not per change (issue 22) nor per text (issue 15): a formation sweep's puts cost
Python CPU in the same process as its transactions (about 2–5 ms each), and a transaction of up to 100
operations commits several groups. Exactly once still holds per text: the notifier claims each row
with its ETag and skips a row already sent, so a retried or redelivered message sends nothing twice;
a row failing transiently leaves the others of the message sent (handle tries every row before it
raises); a poisoned message fails only the rows still unsent, and alerts the coordinator once per
group change among them, as one poisoned message per change did.
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

# A transaction (at most 100 operations) holds about half outbox rows when it forms groups (a claim per
# member, the group, a text per member and the roster): one message names a commit's texts. A cap keeps a
# message's sending inside the notifier's time budget (SEND_BUDGET) at the installation's send rate.
MAX_ROWS_PER_MESSAGE = 50
# What a reader accepts: no change set holds more rows than one transaction (100 operations).
MAX_ROWS_READ = 100
_MAX_KEY_LENGTH = 100

# Queue calls a few at a time: a sweep's commits reach the queue while the next transactions are built.
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


def per_message(messages: Iterable[OutboxMessage]) -> list[OutboxRows]:
    """The rows in as few messages as fit: per theme, each change's rows (theme and group) kept together and
    in order, changes packed while a message holds at most MAX_ROWS_PER_MESSAGE rows (a change with more is
    chunked, which no change today has)."""
    changes: dict[tuple[str, str], list[str]] = {}
    for message in messages:
        changes.setdefault((message.theme, message.group_key), []).append(message.key)
    packed: dict[str, list[list[str]]] = {}
    for (theme, _group), keys in changes.items():
        batches = packed.setdefault(theme, [])
        for start in range(0, len(keys), MAX_ROWS_PER_MESSAGE):
            chunk = keys[start : start + MAX_ROWS_PER_MESSAGE]
            if batches and len(batches[-1]) + len(chunk) <= MAX_ROWS_PER_MESSAGE:
                batches[-1].extend(chunk)
            else:
                batches.append(list(chunk))
    return [OutboxRows(theme, tuple(batch)) for theme, batches in packed.items() for batch in batches]


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
    """Start queueing rows already committed, as few queue messages as fit, and return at once: formation
    goes on with the next transaction meanwhile. A failed put is only logged when `result` is asked for:
    the formation sweep re-queues every row still pending a few minutes later, so a text is delayed,
    never lost."""

    def put(batch: OutboxRows) -> bool:
        try:
            queues.enqueue(NOTIFICATIONS, batch.queue_text())
            return True
        except Exception:
            return False

    batches = per_message(messages)
    return Queueing(batches, [_POOL.submit(put, batch) for batch in batches])


def queue_committed(queues: Queues, messages: Iterable[OutboxMessage]) -> int:
    """Queue rows already committed, as few queue messages as fit; returns how many rows were queued."""
    return start_queueing(queues, messages).result()
