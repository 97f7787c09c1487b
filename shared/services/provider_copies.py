"""Deleting the SMS provider's copies of our texts.

Twilio keeps every message — the recipient's number and the body — until it is deleted through the
API ("Delete a Message resource", https://www.twilio.com/docs/messaging/api/message-resource#delete-a-message-resource).
It refuses while the message has no final status (error 20009, https://www.twilio.com/docs/api/errors/20009:
"wait several minutes and try again"; rarely it takes up to 14 days), and a "sent" message stays
unfinal until the carrier's delivery receipt arrives. So a copy is deleted

- `SMS_PROVIDER_COPY_HOURS` after it was sent, by the daily run (`delete_due_copies`): long enough
  for the delivery receipt and a look at a failed text, short enough that the provider holds about a
  day of texts;
- at once when the person it is to or about is erased (services/membership.py marks it; the erasure
  calls `delete_copies` when it has a sender, else the daily run does).

A copy the provider will not delete yet, or a provider that cannot be reached, keeps its row in
`smscopies`: the next run tries again. Counts only in the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from shared.adapters.sms.base import CopyNotFinal, SmsSender, TransientSmsError
from shared.adapters.sms.copies import ProviderCopies

log = logging.getLogger(__name__)

# Consecutive failures (not refusals) after which a run stops asking: the provider is down or the
# settings are wrong, and the rest waits for the next run.
GIVE_UP_AFTER: Final = 5


@dataclass
class CopiesReport:
    deleted: int = 0  # deleted now, or found deleted already
    not_final: int = 0  # the provider keeps them until their status is final: next run
    failed: int = 0  # the provider could not be asked: next run

    def add(self, other: CopiesReport) -> None:
        self.deleted += other.deleted
        self.not_final += other.not_final
        self.failed += other.failed


def delete_copies(sender: SmsSender, copies: ProviderCopies, sids: Iterable[str]) -> CopiesReport:
    """Ask the provider to delete each copy; forget the ones it deleted (or had no more)."""
    report = CopiesReport()
    failures_in_a_row = 0
    for sid in dict.fromkeys(sids):
        try:
            sender.delete(sid)
        except CopyNotFinal:
            report.not_final += 1
            continue
        except TransientSmsError:
            report.failed += 1
            failures_in_a_row += 1
            if failures_in_a_row >= GIVE_UP_AFTER:
                break
            continue
        failures_in_a_row = 0
        copies.forget(sid)
        report.deleted += 1
    return report


def delete_due_copies(sender: SmsSender, copies: ProviderCopies, now: datetime, grace: timedelta) -> CopiesReport:
    """The daily pass: every copy sent `grace` ago or more, and every copy an erasure marked."""
    report = delete_copies(sender, copies, copies.due(now - grace))
    if report.deleted or report.not_final or report.failed:
        log.info(
            "provider copies: %s deleted, %s not final yet, %s not reached",
            report.deleted,
            report.not_final,
            report.failed,
        )
    return report


__all__ = ["CopiesReport", "delete_copies", "delete_due_copies"]
