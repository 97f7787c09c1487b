"""A group's life after formation, run once a day by a timer.

forming → active (the operator sets the first meeting) → on its own (after the facilitator's
weekly meetings) → closed. Each day, for every active or on-its-own group:

- the members get a reminder the day before the first meeting (once: the group row's
  `ReminderSent` flips in the same transaction that writes the outbox rows);
- after `FACILITATOR_MEETINGS` weekly meetings counted from the first, the group is on its own;
- `CHECK_IN_WEEKS` after the first meeting the facilitator gets a check-in text (once);
- a group on its own is closed `RETENTION_DAYS` after its first meeting, so that its people are
  erased in time even when nobody closes it by hand (privacy by default);

then retention runs (shared/retention.py). What is due when is decided by the plain functions
below, from the group row and a clock; the service only reads, decides, and commits one
ETag-conditioned transaction per group (group row + outbox rows), then queues the texts. A run
that dies half-way is simply run again: every step is recorded on the row it depends on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.storage import INTERESTS, StorageAccount, storage_errors
from shared.core.domain import (
    OUTBOX_PREFIX,
    Group,
    GroupStatus,
    MessageKind,
    OutboxMessage,
    RecipientType,
    new_sortable_key,
    utcnow,
)
from shared.core.organisation import Organisation
from shared.services.outbox import queue_committed

if TYPE_CHECKING:
    from shared.services.retention import Retention, RetentionReport

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
# A meeting is over this long after it starts: the day's run after the last one moves the group on.
MEETING_LENGTH = timedelta(hours=3)


# --- local time ----------------------------------------------------------------------------------


def _last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1) if month < 12 else date(year, 12, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


class CentralEuropeanTime(tzinfo):
    """CET/CEST by the EU rule (since 1996): summer time from 01:00 UTC on the last Sunday of March
    to 01:00 UTC on the last Sunday of October. Used only where the system has no tz database."""

    def _summer(self, utc: datetime) -> bool:
        start = datetime.combine(_last_sunday(utc.year, 3), datetime.min.time()) + timedelta(hours=1)
        end = datetime.combine(_last_sunday(utc.year, 10), datetime.min.time()) + timedelta(hours=1)
        naive = utc.replace(tzinfo=None)
        return start <= naive < end

    def fromutc(self, dt: datetime) -> datetime:
        summer = self._summer(dt)
        local = (dt + timedelta(hours=2 if summer else 1)).replace(tzinfo=self)
        # The hour after summer time ends is lived twice: the second time is fold=1.
        return local.replace(fold=1) if not summer and self._summer(dt - timedelta(hours=1)) else local

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if dt is None:
            return timedelta(hours=1)
        wall = dt.replace(tzinfo=None)
        as_summer = self._summer(wall - timedelta(hours=2))
        as_winter = not self._summer(wall - timedelta(hours=1))
        if as_summer and as_winter:  # the repeated hour in October
            return timedelta(hours=1 if dt.fold else 2)
        return timedelta(hours=2 if as_summer else 1)  # the skipped hour in March reads as winter time

    def dst(self, dt: datetime | None) -> timedelta:
        return self.utcoffset(dt) - timedelta(hours=1)

    def tzname(self, dt: datetime | None) -> str:
        return "CEST" if self.dst(dt) else "CET"


_ZONES = {"SE": "Europe/Stockholm", "NO": "Europe/Oslo"}


def organisation_tz(organisation: Organisation) -> tzinfo:
    """The organisation's wall clock: meeting times in texts, 'the day before', statistics months."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(_ZONES.get(organisation.country, "Europe/Stockholm"))
    except Exception:  # no tz database on this machine: Sweden and Norway both keep CET/CEST
        return CentralEuropeanTime()


_WEEKDAYS = {
    "sv": ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"),
    "nb": ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "sv": ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
           "november", "december"),
    "nb": ("januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober",
           "november", "desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}  # fmt: skip


def format_meeting_time(when: datetime, locale: str, tz: tzinfo) -> str:
    """'tisdag 14 maj kl. 18.00', 'tirsdag 14. mai kl. 18.00', 'Tuesday 14 May at 18:00' (local time)."""
    local = when.astimezone(tz)
    lang = locale if locale in _WEEKDAYS else "en"
    weekday, month = _WEEKDAYS[lang][local.weekday()], _MONTHS[lang][local.month - 1]
    if lang == "sv":
        return f"{weekday} {local.day} {month} kl. {local:%H.%M}"
    if lang == "nb":
        return f"{weekday} {local.day}. {month} kl. {local:%H.%M}"
    return f"{weekday} {local.day} {month} at {local:%H:%M}"


# --- what is due when (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class LifecycleRules:
    facilitator_meetings: int = 5
    check_in_weeks: int = 7
    # A group on its own is closed this long after its first meeting; None never closes it.
    close_on_its_own_after: timedelta | None = timedelta(days=180)
    tz: tzinfo = UTC


@dataclass(frozen=True)
class Due:
    reminder: bool = False
    on_its_own: bool = False
    check_in: bool = False
    close: bool = False

    @property
    def anything(self) -> bool:
        return self.reminder or self.on_its_own or self.check_in or self.close


def reminder_due(group: Group, now: datetime, tz: tzinfo) -> bool:
    """From the calendar day before the first meeting (local time) until it starts, once."""
    first = group.first_meeting_at
    if group.status is not GroupStatus.ACTIVE or first is None or group.reminder_sent or now >= first:
        return False
    return now.astimezone(tz).date() >= first.astimezone(tz).date() - timedelta(days=1)


def last_facilitated_meeting(first_meeting_at: datetime, facilitator_meetings: int) -> datetime:
    return first_meeting_at + timedelta(weeks=max(1, facilitator_meetings) - 1)


def on_its_own_due(group: Group, now: datetime, facilitator_meetings: int) -> bool:
    """After the facilitator's last weekly meeting is over."""
    first = group.first_meeting_at
    if group.status is not GroupStatus.ACTIVE or first is None:
        return False
    return now >= last_facilitated_meeting(first, facilitator_meetings) + MEETING_LENGTH


def check_in_due(group: Group, now: datetime, check_in_weeks: int) -> bool:
    first = group.first_meeting_at
    if group.status not in (GroupStatus.ACTIVE, GroupStatus.ON_ITS_OWN) or first is None:
        return False
    return bool(group.facilitator_id) and not group.check_in_sent and now >= first + timedelta(weeks=check_in_weeks)


def close_due(group: Group, now: datetime, after: timedelta | None) -> bool:
    first = group.first_meeting_at
    if after is None or group.status is not GroupStatus.ON_ITS_OWN or first is None:
        return False
    return now >= first + after


def due(group: Group, now: datetime, rules: LifecycleRules) -> Due:
    """Everything due for one group at `now`; steps that follow each other may fall due together."""
    reminder = reminder_due(group, now, rules.tz)
    on_its_own = on_its_own_due(group, now, rules.facilitator_meetings)
    after = group.model_copy(update={"status": GroupStatus.ON_ITS_OWN}) if on_its_own else group
    close = close_due(after, now, rules.close_on_its_own_after)
    check_in = not close and check_in_due(after, now, rules.check_in_weeks)
    return Due(reminder=reminder, on_its_own=on_its_own, check_in=check_in, close=close)


# --- outbox rows ---------------------------------------------------------------------------------


def new_message(
    group: Group,
    kind: MessageKind,
    recipient_type: RecipientType,
    *,
    recipient_id: str,
    now: datetime,
    locale: str | None = None,
    subject_keys: Iterable[str] = (),
    subject_name: str = "",
) -> OutboxMessage:
    return OutboxMessage(
        theme=group.theme,
        key=OUTBOX_PREFIX + new_sortable_key(),
        kind=kind,
        recipient_type=recipient_type,
        recipient_id=recipient_id,
        group_key=group.key,
        locale=locale or group.locale,
        subject_keys=tuple(subject_keys),
        subject_name=subject_name,
        created_at=now,
    )


def to_members(group: Group, kind: MessageKind, now: datetime) -> list[OutboxMessage]:
    """One text per current member (rendered in each member's own language when sent)."""
    return [new_message(group, kind, RecipientType.MEMBER, recipient_id=key, now=now) for key in group.member_keys]


def group_update(group: Group, changes: dict[str, Any]) -> tuple:
    """A MERGE of `changes` into the group row, only if it is still as we read it."""
    entity = {"PartitionKey": group.theme, "RowKey": group.key, **changes}
    return (
        "update",
        entity,
        {"mode": UpdateMode.MERGE, "etag": group.etag, "match_condition": MatchConditions.IfNotModified},
    )


# --- the service ---------------------------------------------------------------------------------


@dataclass
class LifecycleReport:
    reminders: int = 0  # groups whose members were reminded
    on_its_own: int = 0
    check_ins: int = 0
    closed: int = 0
    messages_queued: int = 0
    gave_up: int = 0  # groups skipped after too many lost races (tried again on the next run)
    retention: RetentionReport | None = field(default=None)


class Lifecycle:
    def __init__(
        self,
        *,
        storage: StorageAccount,
        organisation: Organisation,
        retention: Retention,
        rules: LifecycleRules,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._storage = storage
        self._org = organisation
        self._retention = retention
        self._rules = rules
        self._clock = clock

    def _table(self) -> Any:
        return self._storage.table(INTERESTS)

    def run(self) -> LifecycleReport:
        """What the timer runs: advance every group, then erase what is due."""
        report = self.advance()
        report.retention = self._retention.run()
        return report

    def advance(self) -> LifecycleReport:
        report = LifecycleReport()
        running = " or ".join(f"Status eq '{s.value}'" for s in (GroupStatus.ACTIVE, GroupStatus.ON_ITS_OWN))
        query = f"Kind eq 'group' and ({running})"
        with storage_errors():
            groups = [Group.from_entity(row) for row in self._table().query_entities(query)]
        for group in groups:
            self._advance(group, report)
        return report

    def _advance(self, group: Group, report: LifecycleReport) -> None:
        for _ in range(MAX_ATTEMPTS):
            now = self._clock()
            todo = due(group, now, self._rules)
            if not todo.anything:
                return
            changes: dict[str, Any] = {}
            messages: list[OutboxMessage] = []
            if todo.reminder:
                changes["ReminderSent"] = True
                messages += to_members(group, MessageKind.MEETING_REMINDER, now)
            if todo.on_its_own:
                changes["Status"] = GroupStatus.ON_ITS_OWN.value
            if todo.check_in:
                changes["CheckInSent"] = True
                messages.append(
                    new_message(
                        group,
                        MessageKind.FACILITATOR_CHECK_IN,
                        RecipientType.FACILITATOR,
                        recipient_id=group.facilitator_id or "",
                        now=now,
                    )
                )
            if todo.close:
                changes.update(Status=GroupStatus.CLOSED.value, ClosedAt=now)
            operations = [group_update(group, changes), *(("create", m.to_entity()) for m in messages)]
            try:
                with storage_errors():
                    self._table().submit_transaction(operations)
            except TableTransactionError:
                # Changed meanwhile (an operator, a withdrawal): read it again and decide again.
                try:
                    with storage_errors():
                        group = Group.from_entity(self._table().get_entity(group.theme, group.key))
                except ResourceNotFoundError:
                    return
                continue
            report.reminders += todo.reminder
            report.on_its_own += todo.on_its_own
            report.check_ins += todo.check_in
            report.closed += todo.close
            report.messages_queued += queue_committed(self._storage, messages)
            return
        report.gave_up += 1
        log.warning("lifecycle: a group changed under us %s times; next run tries again", MAX_ATTEMPTS)


__all__ = [
    "CentralEuropeanTime",
    "Due",
    "Lifecycle",
    "LifecycleReport",
    "LifecycleRules",
    "check_in_due",
    "close_due",
    "due",
    "format_meeting_time",
    "last_facilitated_meeting",
    "on_its_own_due",
    "organisation_tz",
    "reminder_due",
]
