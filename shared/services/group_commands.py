"""What operators (and a group's facilitator, from their own page) change on a group: assign a
facilitator, set the first meeting, record a meeting held, hand the group over, remove a member,
close it; and send a failed text again. Each change reads the group, decides, and commits one
ETag-conditioned change set in the theme's partition (retried on a lost race), then queues its texts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from shared.adapters.interests import Rows
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
    RecipientType,
    split_interest_id,
    to_facilitator,
    to_members,
)
from shared.core.facilitators import Facilitator, refusal
from shared.core.group_life import NotNow, Step, close, hand_over, record_meeting
from shared.services.group_views import GroupViews
from shared.services.membership import erase_person
from shared.services.operations_base import GroupView, OperationError, check_meeting_time, clean_place
from shared.services.outbox import notification_for, queue_committed


class GroupCommands(GroupViews):
    def _step(self, group_id: str, take: Callable[[Group, datetime], Step]) -> GroupView:
        """A step of core/group_life: its group fields and its texts in one change set."""

        def decide(rows: Rows, group: Group, now: datetime) -> list[OutboxMessage] | None:
            try:
                step = take(group, now)
            except NotNow as exc:
                raise OperationError("invalid_state", exc.state) from None
            change = rows.change(group.theme)
            change.merge(step.group, *step.fields)
            for message in step.messages:
                change.create(message)
            return step.messages

        return self._change(group_id, decide)

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
        queue_committed(self._queues, messages)
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
        it again with a changed time or place sends it again, and the day-before reminder is due again;
        the same time and place again (a double tap, a re-posted form) changes nothing and texts nobody
        (issue 19.4)."""
        at = check_meeting_time(when, self._clock())
        where = clean_place(place)

        def decide(rows: Rows, group: Group, now: datetime) -> list[OutboxMessage] | None:
            if group.status not in FACILITATED or not group.facilitator_id:
                raise OperationError("invalid_state", group.status.value)
            if group.status is GroupStatus.ACTIVE and group.first_meeting_at == at and group.meeting_place == where:
                return None
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
            marker = next(
                (m for m in (rows.marker(theme, k) for k in self._keyer.keys(interest.phone)) if m is not None), None
            )
            erased = erase_person(rows, interest, marker, group, now, self._stats, self._records.copies)
            return [erased.message] if erased.message is not None else []

        return self._change(group_id, decide)

    def record_meeting(self, group_id: str) -> GroupView:
        """One more meeting held (the facilitator says so); the one that reaches FACILITATOR_MEETINGS
        hands the group over, and its members get the handover text."""
        return self._step(group_id, lambda group, now: record_meeting(group, now, self._group_life))

    def hand_over(self, group_id: str) -> GroupView:
        """The facilitator steps back before their meetings are done: the group goes on its own."""
        return self._step(group_id, lambda group, now: hand_over(group, now, self._group_life))

    def close_group(self, group_id: str) -> GroupView:
        """Closed by the facilitator or an operator: unsent texts to its members are withdrawn and each
        member gets a group_closed text with the date their data leaves the service; retention erases
        them then. Closing a closed group changes nothing."""

        def decide(rows: Rows, group: Group, now: datetime) -> list[OutboxMessage] | None:
            if group.status is GroupStatus.CLOSED:
                return None
            step = close(group, now, self._group_life, told=_told_members(rows, group))
            change = rows.change(group.theme)
            change.merge(step.group, *step.fields)
            for key in rows.pending_member_texts(group)[: _room(len(change) + len(step.messages))]:
                change.delete(key)
            for message in step.messages:
                change.create(message)
            return step.messages

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
        self._queues.enqueue(NOTIFICATIONS, notification_for(retried))


def _told_members(rows: Rows, group: Group) -> set[str]:
    """Members a text about the group has reached or is reaching (not the pending ones withdrawn now)."""
    found = rows.query(
        "PartitionKey eq @theme and Kind eq 'outbox' and GroupKey eq @group"
        " and RecipientType eq @member and Status ne 'pending'",
        {"theme": group.theme, "group": group.key, "member": RecipientType.MEMBER.value},
        select=["RecipientId"],
    )
    return {row["RecipientId"] for row in found}


def _room(used: int) -> int:
    return MAX_TRANSACTION_OPERATIONS - used


_OUTBOX_ROW = re.compile(rf"^{re.escape(OUTBOX_PREFIX)}[0-9a-z][0-9a-z.]{{0,79}}$")
