"""Erasing one person from a theme's partition: the one path for a STOP, a withdrawal, an
operator's erasure on request and an operator's removal of a member.

In one change set: the interest and its phone marker go (ETag-conditioned, so a formation run
claiming the same person makes one of the two fail whole), the texts addressed to them go, a
member leaves their group (core `remove_member` decides whether the facilitator is told), and
their counts move into the statistics rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.adapters.interests import Marker, Rows
from shared.adapters.unit_of_work import ChangeSet
from shared.core.domain import Group, Interest, OutboxMessage, remove_member
from shared.services.statistics import Statistics


@dataclass
class Erased:
    change: ChangeSet
    texts: int  # texts to them that go with them
    left_group: Group | None  # the group as it is after they left
    message: OutboxMessage | None  # the facilitator's member_left text


def erase_person(
    rows: Rows,
    interest: Interest,
    marker: Marker | None,
    group: Group | None,
    now: datetime,
    statistics: Statistics | None,
) -> Erased:
    """Queue the person's erasure in `rows` (committed by the caller's unit of work)."""
    change = rows.change(interest.theme)
    change.delete(interest.key)
    if marker is not None and marker.interest_key == interest.key:
        change.delete(marker.key)
    texts = rows.texts_to(interest.theme, interest.key)
    change.delete_soon(texts)
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
    return Erased(change, len(texts), left, message)
