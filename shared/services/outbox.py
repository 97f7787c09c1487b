"""Putting committed outbox rows on the notifications queue."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from shared.adapters.storage import NOTIFICATIONS, StorageAccount
from shared.core.domain import OutboxMessage

log = logging.getLogger(__name__)
# One queue call per text, a few at a time: a group's texts reach the queue in one round trip's time.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="enqueue")


def queue_committed(storage: StorageAccount, messages: Iterable[OutboxMessage]) -> int:
    """Queue rows already committed; returns how many were queued.

    A failure is only logged: the formation sweep re-queues every row still pending a few minutes
    later, so a text is delayed, never lost."""

    def one(message: OutboxMessage) -> bool:
        try:
            storage.enqueue(NOTIFICATIONS, message.queue_text())
            return True
        except Exception:
            return False

    results = list(_POOL.map(one, messages))
    if not all(results):
        log.warning(
            "%s of %s texts not queued after commit; the sweep will queue them", results.count(False), len(results)
        )
    return sum(results)
