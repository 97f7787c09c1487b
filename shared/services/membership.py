"""Erasing one person from a theme's partition: the one path for a STOP, a withdrawal, an
operator's erasure on request and an operator's removal of a member.

In one change set: the interest and its phone marker go (ETag-conditioned, so a formation run
claiming the same person makes one of the two fail whole), the texts addressed to them go, a
member leaves their group (core `remove_member` decides whether the facilitator is told), and
their counts move into the statistics rows.

The SMS provider's copies of texts to them or naming them (a roster, a joiner's or leaver's update)
are marked in `smscopies` to go at once, once the change is committed (adapters/sms/copies.py); the
caller deletes them at the provider if it can reach it, else the daily run does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from shared.adapters.entities import message_from
from shared.adapters.interests import Marker, Rows
from shared.adapters.sms.copies import ProviderCopies
from shared.adapters.unit_of_work import ChangeSet
from shared.core.domain import Group, Interest, OutboxMessage, RecipientType, remove_member
from shared.services.statistics import Statistics

log = logging.getLogger(__name__)


@dataclass
class Erased:
    change: ChangeSet
    texts: int  # texts to them that go with them
    left_group: Group | None  # the group as it is after they left
    message: OutboxMessage | None  # the facilitator's member_left text
    copies: list[str]  # provider sids of the texts sent to them or naming them


def erase_person(
    rows: Rows,
    interest: Interest,
    marker: Marker | None,
    group: Group | None,
    now: datetime,
    statistics: Statistics | None,
    copies: ProviderCopies | None = None,
) -> Erased:
    """Queue the person's erasure in `rows` (committed by the caller's unit of work); with `copies`, the
    provider's copies of texts to and about them are marked to go once it is committed."""
    change = rows.change(interest.theme)
    change.delete(interest.key)
    if marker is not None and marker.interest_key == interest.key:
        change.delete(marker.key)
    to_them = rows.messages_to(interest.theme, interest.key)
    texts = [m.key for m in to_them]
    change.delete_soon(texts)
    sent = [m.provider_sid for m in (*to_them, *texts_naming(rows, interest)) if m.provider_sid]
    if copies is not None:
        phone = interest.phone

        def mark_copies() -> None:
            try:
                copies.erase_soon(sent)
                copies.erase_recipient(phone)
            except Exception as exc:  # the person is erased; their copies then go after the grace period
                log.warning("provider copies of an erased person's texts not marked (%s)", type(exc).__name__)

        change.on_commit.append(mark_copies)
    left: Group | None = None
    message: OutboxMessage | None = None
    if group is not None and interest.key in group.member_keys:
        removal = remove_member(group, interest, now)
        change.merge(removal.group, "member_keys")
        left, message = removal.group, removal.message
        if message is not None:
            change.create(message)
    if statistics is not None:
        statistics.fold_into(change, [(interest, group, rows.written_at(interest.theme, interest.key))])
    return Erased(change, len(texts), left, message, sent)


def texts_naming(rows: Rows, interest: Interest) -> list[OutboxMessage]:
    """The texts to their group's facilitator that name them (recorded when sent) or are about them."""
    if not interest.group_id:
        return []
    found = rows.query(
        "PartitionKey eq @theme and Kind eq 'outbox' and GroupKey eq @group and RecipientType eq @facilitator",
        {"theme": interest.theme, "group": interest.group_id, "facilitator": RecipientType.FACILITATOR.value},
    )
    messages = (message_from(row) for row in found)
    return [m for m in messages if interest.key in m.named_keys or interest.key in m.subject_keys]
