"""The Storage Queues as services see them: put a text on a named queue, now or hidden for a while.

Services never hold the storage account; they get this port (built once in `shared/composition.py`),
which knows only the account's `enqueue` and `queue(name)` (the in-memory twin has both too).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from shared.adapters.storage import storage_errors

if TYPE_CHECKING:
    from shared.adapters.storage import StorageAccount


class Queues:
    def __init__(self, storage: StorageAccount) -> None:
        self._storage = storage

    def enqueue(self, queue: str, text: str, *, delay: timedelta | None = None) -> None:
        """Put `text` on `queue`; with `delay`, hidden from consumers until then (the message's visibility
        timeout). Raises StorageUnavailable when storage cannot be reached."""
        if delay is None:
            self._storage.enqueue(queue, text)
            return
        with storage_errors():
            self._storage.queue(queue).send_message(text, visibility_timeout=int(delay.total_seconds()))
