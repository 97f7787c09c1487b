"""The STOP queue in tests: carry out what the webhook queued, as the `erase_on_stop` function does."""

from __future__ import annotations

from shared.adapters.storage import STOP_REQUESTS
from shared.composition import Services
from shared.services.stop_requests import StopReport


def queued_stops(services: Services) -> list[str]:
    return [m.content for m in services.storage.queue(STOP_REQUESTS).peek_messages(max_messages=32)]


def carry_out_stops(services: Services) -> list[StopReport]:
    """Every queued STOP, carried out and taken off the queue; the reports in queue order."""
    queue = services.storage.queue(STOP_REQUESTS)
    reports: list[StopReport] = []
    while True:
        batch = list(queue.receive_messages(messages_per_page=32, max_messages=32))
        if not batch:
            return reports
        for message in batch:
            reports.append(services.stop_requests.carry_out(message.content))
            queue.delete_message(message)
