"""What operators change on a group: assign a facilitator, set the first meeting, remove a member,
close it; and send a failed text again. Each change reads the group, decides, and commits one
ETag-conditioned change set in the theme's partition (retried on a lost race), then queues its texts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from shared.adapters.interests import Rows
from shared.adapters.sms.copies import ProviderCopies
from shared.adapters.storage import NOTIFICATIONS
from shared.adapters.unit_of_work import MAX_TRANSACTION_OPERATIONS, GaveUp
from shared.core.domain import (
    FACILITATED,
    JOINABLE,
    OUTBOX_PREFIX,
    Group,
    GroupStatus,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    split_interest_id,
    to_facilitator,
    to_members,
)
from shared.core.facilitators import Facilitator, refusal
from shared.core.phone import phone_key
from shared.services.group_views import GroupViews
from shared.services.membership import erase_person
from shared.services.operations_base import GroupView, OperationError, check_meeting_time, clean_place
from shared.services.outbox import queue_committed


class GroupCommands(GroupViews):
    def _change(
        self, group_id: str, decide: Callable[[Rows, Group, datetime], list[OutboxMessage] | None]
    ) -> GroupView:
        """Read the group, let `decide` queue its change (None: nothing to do), commit, queue the texts."""
        location = self._locate(group_id)
        if location is None:
            raise OperationError("not_found", "group")

        def attempt(rows: Rows) -> list[OutboxMessage]:
            group = rows.group(*location)
            if group is None:
                raise OperationError("not_found", "group")
            return decide(rows, group, self._clock()) or []

        try:
            messages = self._interests.retrying(attempt)
        except GaveUp:
            raise OperationError("conflict") from None
        queue_committed(self._storage, messages)
        view = self.group(group_id)
        if view is None:
            raise OperationError("not_found", "group")
        return view

    def load_of(self, facilitator_id: str, *, excluding: Group | GroupView | None = None) -> int:
        """Groups the facilitator runs now (forming or active), not counting `excluding`."""
        groups = self._interests.unit().groups(statuses=FACILITATED, facilitator_id=facilitator_id)
        return sum(1 for g in groups if excluding is None or (g.theme, g.key) != (excluding.theme, excluding.key))

    def unavailable_reason(self, facilitator: Facilitator, group: Group | GroupView) -> str | None:
        """The eligibility rule (core/facilitators.refusal) with the facilitator's current load: what
        assignment checks, and what the admin pages should ask to list who may take a group."""
        return refusal(
            facilitator,
            theme=group.theme,
            area=group.area,
            locale=group.locale,
            load=self.load_of(facilitator.id, excluding=group),
        )

    def assign_facilitator(self, group_id: str, facilitator_id: str) -> GroupView:
        """First assignment: the group starts forming, members get invitations and the facilitator the
        roster. A change: the new facilitator gets the roster."""
        facilitator = self._facilitators.get(facilitator_id) if isinstance(facilitator_id, str) else None
        if facilitator is None:
            raise OperationError("facilitator_not_found")

        def decide(rows: Rows, group: Group, now: datetime) -> list[OutboxMessage] | None:
            if group.status not in JOINABLE:
                raise OperationError("invalid_state", group.status.value)
            if group.facilitator_id == facilitator.id:
                return None
            reason = self.unavailable_reason(facilitator, group)
            if reason is not None:
                raise OperationError("facilitator_unavailable", reason)
            updated = group.model_copy(update={"facilitator_id": facilitator.id, "facilitator_assigned_at": now})
            messages = []
            if group.status is GroupStatus.AWAITING_FACILITATOR:
                updated = updated.model_copy(update={"status": GroupStatus.FORMING})
            if group.status is GroupStatus.AWAITING_FACILITATOR or not group.facilitator_id:
                messages += to_members(updated, MessageKind.INVITATION, now)  # nobody was invited yet
            messages.append(to_facilitator(updated, MessageKind.ROSTER, now))
            change = rows.change(group.theme)
            change.merge(updated, "facilitator_id", "facilitator_assigned_at", "status")
            for message in messages:
                change.create(message)
            return messages

        return self._change(group_id, decide)

    def set_first_meeting(self, group_id: str, when: datetime, place: str) -> GroupView:
        """The group becomes active; each member gets a meeting_set text with the time and place. Setting
        it again (a changed time or place) sends it again, and the day-before reminder is due again."""
        at = check_meeting_time(when, self._clock())
        where = clean_place(place)

        def decide(rows: Rows, group: Group, now: datetime) -> list[OutboxMessage] | None:
            if group.status not in FACILITATED or not group.facilitator_id:
                raise OperationError("invalid_state", group.status.value)
            updated = group.model_copy(
                update={
                    "status": GroupStatus.ACTIVE,
                    "first_meeting_at": at,
                    "meeting_place": where,
                    "reminder_sent": False,
                }
            )
            messages = to_members(group, MessageKind.MEETING_SET, now)
            change = rows.change(group.theme)
            change.merge(updated, "status", "first_meeting_at", "meeting_place", "reminder_sent")
            for message in messages:
                change.create(message)
            return messages

        return self._change(group_id, decide)

    def remove_member(self, group_id: str, member_id: str) -> GroupView:
        """The member leaves the group and their data is erased (interest, phone marker, texts to them),
        as a STOP would (services/membership.py): the facilitator of a group that is not closed gets a
        member_left text, and their counts stay in the statistics."""
        location = split_interest_id(member_id) if isinstance(member_id, str) else None
        group_location = self._locate(group_id)
        if location is None or group_location is None or location[0] != group_location[0]:
            raise OperationError("not_found", "member")
        theme, key = location

        def decide(rows: Rows, group: Group, now: datetime) -> list[OutboxMessage] | None:
            if key not in group.member_keys:
                raise OperationError("not_found", "member")
            interest = rows.interest(theme, key)
            if interest is None:  # already erased: only the group row still names them
                rows.change(theme).merge(
                    group.model_copy(update={"member_keys": tuple(k for k in group.member_keys if k != key)}),
                    "member_keys",
                )
                return []
            marker = rows.marker(theme, phone_key(interest.phone))
            erased = erase_person(
                rows, interest, marker, group, now, self._stats, ProviderCopies(self._storage, phone_key)
            )
            return [erased.message] if erased.message is not None else []

        return self._change(group_id, decide)

    def close_group(self, group_id: str) -> GroupView:
        """Closed: no more texts to its members (unsent ones are withdrawn); its people are erased
        CLOSED_GROUP_RETENTION_DAYS later by retention. Closing a closed group changes nothing."""

        def decide(rows: Rows, group: Group, now: datetime) -> list[OutboxMessage] | None:
            if group.status is GroupStatus.CLOSED:
                return None
            change = rows.change(group.theme)
            change.merge(
                group.model_copy(update={"status": GroupStatus.CLOSED, "closed_at": now}), "status", "closed_at"
            )
            for key in rows.pending_member_texts(group)[: _room(len(change))]:
                change.delete(key)
            return []

        return self._change(group_id, decide)

    def retry_message(self, theme: str, row: str) -> None:
        """A failed or poisoned text goes back to pending and onto the queue, to be rendered and sent anew."""
        if not isinstance(theme, str) or self._org.theme(theme) is None:
            raise OperationError("not_found", "message")
        if not isinstance(row, str) or not _OUTBOX_ROW.match(row):
            raise OperationError("not_found", "message")

        def attempt(rows: Rows) -> OutboxMessage:
            message = rows.message(theme, row)
            if message is None:
                raise OperationError("not_found", "message")
            if message.status not in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
                raise OperationError("invalid_state", message.status.value)
            retried = message.model_copy(
                update={
                    "status": MessageStatus.PENDING,
                    "error_code": None,
                    "error": "",
                    "claimed_at": None,
                    "sent_at": None,
                    "provider_sid": "",
                    "enqueued_at": self._clock(),
                }
            )
            rows.change(theme).replace(retried)  # drops the old attempt's error, sent time and status details
            return retried

        try:
            retried = self._interests.retrying(attempt)
        except GaveUp:
            raise OperationError("conflict") from None
        self._storage.enqueue(NOTIFICATIONS, retried.queue_text())


def _room(used: int) -> int:
    return MAX_TRANSACTION_OPERATIONS - used


_OUTBOX_ROW = re.compile(rf"^{re.escape(OUTBOX_PREFIX)}[0-9a-z][0-9a-z.]{{0,79}}$")
