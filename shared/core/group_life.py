"""A group's life after its facilitator's first meetings, as the schemes describe it (issue 12).

Region Jönköpings län: the igångsättare helps for the first 4-5 meetings and "gruppen fortsätter så
länge deltagarna vill"; Aurskog-Høland: the group then meets "på egenhånd". So nothing here ends a
group by a timer. The group goes on its own when the meetings held reach the facilitator's number,
or when the facilitator (or an operator) hands it over; it is closed only by a person. Either way
the members are told, and told the date their name and number leave the service: that date is
written on the group row, and retention erases on exactly that date (services/retention.py).

Pure rules: records in, records and texts out. The services commit them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from babel.dates import format_date

from shared.core.domain import Group, GroupStatus, MessageKind, OutboxMessage, to_members
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
    counted = group.model_copy(update={"meetings_held": group.meetings_held + 1})
    if counted.meetings_held >= rules.facilitator_meetings:
        step = hand_over(counted, now, rules)
        return Step(step.group, step.messages, ("meetings_held", *step.fields))
    return Step(counted, [], ("meetings_held",))


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


def coordinator_contact(organisation: Organisation) -> tuple[str, str]:
    """Who a member reaches when the facilitator has stepped back: the named coordinator and the number
    residents dial (the organisation file's `coordinator`), else the coordinator's mobile."""
    person = organisation.coordinator
    name = person.name if person else ""
    phone = (person.phone if person and person.phone else None) or organisation.coordinator_phone
    return name, phone


_DAY_PATTERNS = {"sv": "d MMMM y", "nb": "d. MMMM y", "en": "d MMMM y"}
_BABEL_LOCALES = {"sv": "sv_SE", "nb": "nb_NO", "en": "en_GB"}


def format_day(when: datetime, locale: str, tz: tzinfo) -> str:
    """'14 maj 2030', '14. mai 2030', '14 May 2030' in the organisation's wall clock (CLDR via Babel)."""
    lang = locale if locale in _DAY_PATTERNS else "en"
    return format_date(when.astimezone(tz).date(), _DAY_PATTERNS[lang], locale=_BABEL_LOCALES[lang])
