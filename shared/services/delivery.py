"""Delivery receipts: a provider's word on a text we sent moves its outbox row forward.

A status only ever moves forward (delivered is final), and a receipt never moves a row back to
pending or sending: those are the notifier's claim states, and a row put back there would be sent
again. A text that did not arrive alerts the coordinator once.
"""

from __future__ import annotations

import logging

from shared.adapters.interests import InterestsTable, Rows
from shared.adapters.unit_of_work import GaveUp, LostRace
from shared.core.domain import MessageStatus, OutboxMessage, RecipientType
from shared.services.notify import Notifier

log = logging.getLogger(__name__)

# How far along a text is.
_RANK: dict[MessageStatus, int] = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.DELIVERED: 4,
}
NOT_DELIVERED = (MessageStatus.UNDELIVERED, MessageStatus.FAILED)


def record_status(
    interests: InterestsTable,
    notifier: Notifier,
    theme: str,
    row: str,
    status: MessageStatus,
    error_code: int | None = None,
) -> MessageStatus | None:
    """Move the outbox row forward to `status`; alert the coordinator once if it did not arrive.

    Returns the row's status afterwards, None for an unknown row.
    """

    def forward(rows: Rows) -> OutboxMessage | None:
        message = rows.message(theme, row)
        if message is None:
            return None  # erased with the person it was for, or never ours
        if _RANK[status] <= _RANK[message.status]:
            return message  # not news (or late news: delivered stays delivered)
        changes: dict[str, object] = {"status": status}
        if error_code is not None and status in NOT_DELIVERED:
            changes["error_code"] = error_code
        updated = message.model_copy(update=changes)
        if not rows.try_merge(updated, *changes):
            raise LostRace  # changed (or erased) meanwhile: read again and decide again
        return updated

    try:
        message = interests.retrying(forward)
    except GaveUp:
        log.warning("a delivery status could not be recorded: the row kept changing")
        return None
    if message is None:
        return None
    if status in NOT_DELIVERED and message.status in NOT_DELIVERED:
        # Also on a repeated callback: the alert is keyed by the message, so it is written once.
        if message.recipient_type is not RecipientType.COORDINATOR:
            notifier.alert_coordinator(message, "undelivered", error_code)
        else:
            log.warning("a coordinator alert was not delivered")
    return message.status


__all__ = ["NOT_DELIVERED", "record_status"]
