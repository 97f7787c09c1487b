"""A group's life after its facilitator's first meetings, as the schemes describe it (issue 12).

Region Jönköpings län: the igångsättare helps for the first 4-5 meetings and "gruppen fortsätter så
länge deltagarna vill"; Aurskog-Høland: the group then meets "på egenhånd". So nothing here ends a
group by a timer. The group goes on its own when the meetings held reach the facilitator's number,
or when the facilitator (or an operator) hands it over; it is closed only by a person. Either way
the members are told, and told the date their name and number leave the service: that date is
written on the group row, and retention erases on exactly that date (services/retention.py).

No group is kept forever by silence either (issue 19.5): an active group whose facilitator records no
meeting for QUIET_GROUP_WEEKS is reported to the coordinator once, and QUIET_GROUP_HANDOVER_WEEKS later,
unless a meeting is recorded meanwhile, it is handed over as above (the members get the handover text
with its date), so the erasure clock of a group on its own runs for it too.

Pure rules: records in, records and texts out. The services commit them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from shared.core.domain import (
    Group,
    GroupStatus,
    MessageKind,
    OutboxMessage,
    RecipientType,
    new_message,
    to_members,
)
from shared.core.languages import long_date
from shared.core.organisation import Organisation

# A group stuck before its first meeting is set (no facilitator, or one who never set it).
STUCK = (GroupStatus.AWAITING_FACILITATOR, GroupStatus.FORMING)


@dataclass(frozen=True)
class GroupLifeRules:
    facilitator_meetings: int = 5  # FACILITATOR_MEETINGS
    on_its_own_retention: timedelta = timedelta(days=90)  # ON_ITS_OWN_RETENTION_DAYS
    closed_group_retention: timedelta = timedelta(days=30)  # CLOSED_GROUP_RETENTION_DAYS


class NotNow(ValueError):
    """The group's state does not allow the step; `state` is the group's status (a message key)."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


@dataclass(frozen=True)
class Step:
    group: Group  # the group after the step
    messages: list[OutboxMessage]  # the texts it sends, written in the same transaction
    fields: tuple[str, ...]  # the group's fields the step changed, for a MERGE


_HANDOVER_FIELDS = ("status", "on_its_own_at", "members_leave_at")


def hand_over(group: Group, now: datetime, rules: GroupLifeRules) -> Step:
    """The facilitator steps back: the group is on its own and every member gets the handover text."""
    if group.status is not GroupStatus.ACTIVE:
        raise NotNow(group.status.value)
    updated = group.model_copy(
        update={
            "status": GroupStatus.ON_ITS_OWN,
            "on_its_own_at": now,
            "members_leave_at": now + rules.on_its_own_retention,
        }
    )
    return Step(updated, to_members(updated, MessageKind.HANDOVER, now), _HANDOVER_FIELDS)


def record_meeting(group: Group, now: datetime, rules: GroupLifeRules) -> Step:
    """One more meeting held; the one that reaches FACILITATOR_MEETINGS hands the group over."""
    if group.status is not GroupStatus.ACTIVE or group.first_meeting_at is None or now < group.first_meeting_at:
        raise NotNow(group.status.value if group.status is not GroupStatus.ACTIVE else "not_started")
    counted = group.model_copy(update={"meetings_held": group.meetings_held + 1, "last_meeting_at": now})
    if counted.meetings_held >= rules.facilitator_meetings:
        step = hand_over(counted, now, rules)
        return Step(step.group, step.messages, ("meetings_held", "last_meeting_at", *step.fields))
    return Step(counted, [], ("meetings_held", "last_meeting_at"))


def close(group: Group, now: datetime, rules: GroupLifeRules, told: Iterable[str] | None = None) -> Step:
    """Closed by a person: members still on the row who know of the group (`told`: those a text about it
    reached; None: all) are told, and leave the service after the closed groups' period (or earlier, if
    the group's handover promised an earlier date). Nobody hears of a group only to hear it closed."""
    if group.status is GroupStatus.CLOSED:
        raise NotNow(group.status.value)
    leave = now + rules.closed_group_retention
    if group.members_leave_at is not None:
        leave = min(leave, group.members_leave_at)
    updated = group.model_copy(update={"status": GroupStatus.CLOSED, "closed_at": now, "members_leave_at": leave})
    known = set(group.member_keys if told is None else told)
    keys = [k for k in group.member_keys if k in known]
    messages = [] if group.members_erased_at is not None else to_members(updated, MessageKind.GROUP_CLOSED, now, keys)
    return Step(updated, messages, ("status", "closed_at", "members_leave_at"))


def stuck(group: Group, now: datetime, after: timedelta) -> bool:
    """Still waiting for a facilitator or a first meeting `after` its formation, and nobody told yet."""
    return group.status in STUCK and group.escalated_at is None and now >= group.formed_at + after


@dataclass(frozen=True)
class QuietRules:
    after: timedelta = timedelta(weeks=8)  # QUIET_GROUP_WEEKS: silence before the coordinator is told
    handover_after: timedelta = timedelta(weeks=4)  # QUIET_GROUP_HANDOVER_WEEKS: then the group goes on its own


def last_sign_of_life(group: Group) -> datetime:
    """The newest thing recorded for the group: a meeting held, the first meeting as set (a time in the
    future counts from then), else its formation. Rows from before meetings were dated fall back to the
    first meeting: such a group may be reported early, never kept."""
    return max(d for d in (group.last_meeting_at, group.first_meeting_at, group.formed_at) if d is not None)


def quiet(group: Group, now: datetime, rules: QuietRules) -> bool:
    """Active with nothing recorded for `rules.after`, and the coordinator not yet told of this silence
    (a meeting recorded after a report starts a new one)."""
    if group.status is not GroupStatus.ACTIVE:
        return False
    since = last_sign_of_life(group)
    told = group.quiet_escalated_at
    return now >= since + rules.after and (told is None or told < since)


def quiet_handover_due(group: Group, now: datetime) -> bool:
    """Reported as quiet, nothing recorded since, and the date the coordinator was given has come."""
    told, due_at = group.quiet_escalated_at, group.quiet_handover_at
    if group.status is not GroupStatus.ACTIVE or told is None or due_at is None:
        return False
    return told >= last_sign_of_life(group) and now >= due_at


_QUIET_FIELDS = ("quiet_escalated_at", "quiet_handover_at")


def report_quiet(group: Group, now: datetime, rules: QuietRules, locale: str) -> Step:
    """The coordinator is told once, with the date the group will be handed over unless a meeting is
    recorded first; that date is kept on the row so the text and the handover agree."""
    updated = group.model_copy(update={"quiet_escalated_at": now, "quiet_handover_at": now + rules.handover_after})
    alert = new_message(
        group.theme, MessageKind.QUIET_GROUP, RecipientType.COORDINATOR, group_key=group.key, locale=locale, now=now
    )
    return Step(updated, [alert], _QUIET_FIELDS)


def coordinator_name_and_phone(organisation: Organisation) -> tuple[str, str]:
    """Who a member reaches when the facilitator has stepped back: the named coordinator and the number
    residents dial (the organisation file's `coordinator`), else the coordinator's mobile."""
    person = organisation.coordinator
    name = person.name if person else ""
    phone = (person.phone if person and person.phone else None) or organisation.coordinator_phone
    return name, phone


def format_day(when: datetime, locale: str, tz: tzinfo) -> str:
    """'14 maj 2030', '14. mai 2030', '14 May 2030' in the organisation's wall clock (CLDR via Babel)."""
    return long_date(when.astimezone(tz).date(), locale)
