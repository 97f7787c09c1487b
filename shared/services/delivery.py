"""Delivery receipts: a provider's word on a text we sent moves its outbox row forward.

A status only ever moves forward (delivered is final), and a receipt never moves a row back to
pending or sending: those are the notifier's claim states, and a row put back there would be sent
again. A text that did not arrive alerts the coordinator once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.storage import INTERESTS, StorageAccount, storage_errors
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
_ATTEMPTS = 8


def record_status(
    storage: StorageAccount,
    notifier: Notifier,
    theme: str,
    row: str,
    status: MessageStatus,
    error_code: int | None = None,
) -> MessageStatus | None:
    """Move the outbox row forward to `status`; alert the coordinator once if it did not arrive.

    Returns the row's status afterwards, None for an unknown row.
    """
    table = storage.table(INTERESTS)
    for _ in range(_ATTEMPTS):  # re-read when the notifier or another callback changed the row meanwhile
        with storage_errors():
            try:
                entity = table.get_entity(theme, row)
            except ResourceNotFoundError:
                return None  # erased with the person it was for, or never ours
        if entity.get("Kind") != "outbox":
            return None
        message = OutboxMessage.from_entity(entity)
        if _RANK[status] <= _RANK[message.status]:
            break  # not news (or late news: delivered stays delivered)
        changes: dict[str, Any] = {
            "PartitionKey": theme,
            "RowKey": row,
            "Status": status.value,
            "StatusAt": datetime.now(UTC),
        }
        if error_code is not None and status in NOT_DELIVERED:
            changes["ErrorCode"] = error_code
        try:
            with storage_errors():
                table.update_entity(
                    changes, mode=UpdateMode.MERGE, etag=message.etag, match_condition=MatchConditions.IfNotModified
                )
        except ResourceNotFoundError:
            return None
        except ResourceModifiedError:
            continue
        message = message.model_copy(update={"status": status})
        break
    else:
        log.warning("a delivery status could not be recorded: the row kept changing")
        return None
    if status in NOT_DELIVERED and message.status in NOT_DELIVERED:
        # Also on a repeated callback: the alert is keyed by the message, so it is written once.
        if message.recipient_type is not RecipientType.COORDINATOR:
            notifier.alert_coordinator(message, "undelivered", error_code)
        else:
            log.warning("a coordinator alert was not delivered")
    return message.status


__all__ = ["NOT_DELIVERED", "record_status"]
