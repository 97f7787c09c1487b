"""A group's life after formation, run once a day by a timer.

forming → active (the first meeting is set) → on its own (after the meetings the facilitator
recorded, or when they hand over) → closed, only ever by a person (issue 12: "gruppen fortsätter
så länge deltagarna vill"). Each day, for every group:

- the members get a reminder the day before the first meeting (once: the group row's
  `ReminderSent` flips in the same transaction that writes the outbox rows);
- a group whose recorded meetings reached `FACILITATOR_MEETINGS` and is still active (the setting
  was lowered, or a command's handover was lost) goes on its own, with the members' handover text;
- `CHECK_IN_WEEKS` after the first meeting the facilitator gets a check-in text (once);
- a group stuck before active (no facilitator, or no first meeting) `STUCK_GROUP_DAYS` after it
  formed is escalated to the coordinator (once); retention erases its people later (issue 11.6);
- an active group with no meeting recorded for `QUIET_GROUP_WEEKS` is reported to the coordinator
  (once per silence), and `QUIET_GROUP_HANDOVER_WEEKS` later, still silent, handed over: the members
  get the handover text with the date their data leaves, and retention erases them then (issue 19.5);

then retention runs (services/retention.py). What is due when is decided by the plain functions
below, from the group row and a clock; the service only reads, decides, and commits one
ETag-conditioned transaction per group (group row + outbox rows), then queues the texts. A run
that dies half-way is simply run again: every step is recorded on the row it depends on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from shared.adapters.interests import InterestsTable, Rows
from shared.adapters.queues import Queues
from shared.adapters.unit_of_work import GaveUp, retrying
from shared.core.domain import (
    RUNNING,
    Group,
    GroupStatus,
    MessageKind,
    OutboxMessage,
    to_coordinator,
    to_facilitator,
    to_members,
)
from shared.core.group_life import (
    STUCK,
    GroupLifeRules,
    QuietRules,
    hand_over,
    quiet,
    quiet_handover_due,
    report_quiet,
    stuck,
)
from shared.core.organisation import Organisation
from shared.services.outbox import queue_committed

if TYPE_CHECKING:
    from shared.services.retention import Retention, RetentionReport

log = logging.getLogger(__name__)

# --- what is due when (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class LifecycleRules:
    facilitator_meetings: int = 5
    check_in_weeks: int = 7
    # A group still awaiting a facilitator or its first meeting this long after forming is escalated.
    escalate_stuck_after: timedelta = timedelta(days=21)
    on_its_own_retention: timedelta = timedelta(days=90)
    tz: tzinfo = UTC
    quiet: QuietRules = field(default_factory=QuietRules)  # QUIET_GROUP_WEEKS, QUIET_GROUP_HANDOVER_WEEKS

    @property
    def group_life(self) -> GroupLifeRules:
        return GroupLifeRules(
            facilitator_meetings=self.facilitator_meetings, on_its_own_retention=self.on_its_own_retention
        )


@dataclass(frozen=True)
class Due:
    reminder: bool = False
    on_its_own: bool = False
    check_in: bool = False
    escalate: bool = False
    quiet: bool = False  # active, nothing recorded for weeks: the coordinator is told
    quiet_handover: bool = False  # still nothing on the date the coordinator was given: handed over

    @property
    def anything(self) -> bool:
        return self.reminder or self.on_its_own or self.check_in or self.escalate or self.quiet or self.quiet_handover


def reminder_due(group: Group, now: datetime, tz: tzinfo) -> bool:
    """From the calendar day before the first meeting (local time) until it starts, once."""
    first = group.first_meeting_at
    if group.status is not GroupStatus.ACTIVE or first is None or group.reminder_sent or now >= first:
        return False
    return now.astimezone(tz).date() >= first.astimezone(tz).date() - timedelta(days=1)


def on_its_own_due(group: Group, facilitator_meetings: int) -> bool:
    """When the meetings actually held (recorded by the facilitator) reach their number: not weeks."""
    return group.status is GroupStatus.ACTIVE and group.meetings_held >= max(1, facilitator_meetings)


def check_in_due(group: Group, now: datetime, check_in_weeks: int) -> bool:
    first = group.first_meeting_at
    if group.status not in (GroupStatus.ACTIVE, GroupStatus.ON_ITS_OWN) or first is None:
        return False
    return bool(group.facilitator_id) and not group.check_in_sent and now >= first + timedelta(weeks=check_in_weeks)


def due(group: Group, now: datetime, rules: LifecycleRules) -> Due:
    """Everything due for one group at `now`; steps that follow each other may fall due together."""
    reminder = reminder_due(group, now, rules.tz)
    on_its_own = on_its_own_due(group, rules.facilitator_meetings)
    silent_too_long = not on_its_own and quiet_handover_due(group, now)
    handed_over = on_its_own or silent_too_long
    after = group.model_copy(update={"status": GroupStatus.ON_ITS_OWN}) if handed_over else group
    check_in = check_in_due(after, now, rules.check_in_weeks)
    escalate = stuck(group, now, rules.escalate_stuck_after)
    report = not handed_over and quiet(group, now, rules.quiet)
    return Due(
        reminder=reminder,
        on_its_own=on_its_own,
        check_in=check_in,
        escalate=escalate,
        quiet=report,
        quiet_handover=silent_too_long,
    )


# --- the service ---------------------------------------------------------------------------------


@dataclass
class LifecycleReport:
    reminders: int = 0  # groups whose members were reminded
    on_its_own: int = 0
    check_ins: int = 0
    escalated: int = 0  # groups stuck before active, reported to the coordinator
    quiet_reported: int = 0  # active groups with no meeting recorded for weeks, reported to the coordinator
    quiet_handed_over: int = 0  # ... and handed over when still silent on the date the coordinator was given
    messages_queued: int = 0
    gave_up: int = 0  # groups skipped after too many lost races (tried again on the next run)
    retention: RetentionReport | None = field(default=None)


class Lifecycle:
    def __init__(
        self,
        *,
        interests: InterestsTable,
        queues: Queues,
        organisation: Organisation,
        retention: Retention,
        rules: LifecycleRules,
        clock: Callable[[], datetime],
    ) -> None:
        self._interests = interests
        self._queues = queues
        self._org = organisation
        self._retention = retention
        self._rules = rules
        self._clock = clock

    def run(self) -> LifecycleReport:
        """What the timer runs: advance every group, then erase what is due."""
        report = self.advance()
        report.retention = self._retention.run()
        return report

    def advance(self) -> LifecycleReport:
        report = LifecycleReport()
        listing = self._interests.unit()
        for group in listing.groups(statuses=(*RUNNING, *STUCK)):
            self._advance(listing, group, report)
        return report

    def _advance(self, listing: Rows, listed: Group, report: LifecycleReport) -> None:
        """Decide on the row as listed; after a lost race (an operator, a withdrawal), on the row read again."""
        fresh = iter([listing])

        def open_unit() -> Rows:
            return next(fresh, None) or self._interests.unit()

        def decide(rows: Rows) -> tuple[Due, list[OutboxMessage]] | None:
            group = listed if rows is listing else rows.group(listed.theme, listed.key)
            if group is None:
                return None
            now = self._clock()
            todo = due(group, now, self._rules)
            if not todo.anything:
                return None
            updated, messages = group, []
            if todo.reminder:
                updated = updated.model_copy(update={"reminder_sent": True})
                messages += to_members(group, MessageKind.MEETING_REMINDER, now)
            fields = ["reminder_sent", "check_in_sent", "escalated_at"]
            if todo.on_its_own or todo.quiet_handover:
                step = hand_over(updated, now, self._rules.group_life)
                updated, fields = step.group, [*fields, *step.fields]
                messages += step.messages
            if todo.check_in:
                updated = updated.model_copy(update={"check_in_sent": True})
                messages.append(to_facilitator(group, MessageKind.FACILITATOR_CHECK_IN, now))
            if todo.escalate:
                updated = updated.model_copy(update={"escalated_at": now})
                messages.append(to_coordinator(group.theme, group.key, "stuck", now, self._org.default_locale))
            if todo.quiet:
                step = report_quiet(updated, now, self._rules.quiet, self._org.default_locale)
                updated, fields = step.group, [*fields, *step.fields]
                messages += step.messages
            change = rows.change(group.theme)
            change.merge(updated, *fields)
            for message in messages:
                change.create(message)
            return todo, messages

        try:
            outcome = retrying(open_unit, decide)
        except GaveUp:
            report.gave_up += 1
            log.warning("lifecycle: a group kept changing under us; next run tries again")
            return
        if outcome is None:
            return
        todo, messages = outcome
        report.reminders += todo.reminder
        report.on_its_own += todo.on_its_own
        report.check_ins += todo.check_in
        report.escalated += todo.escalate
        report.quiet_reported += todo.quiet
        report.quiet_handed_over += todo.quiet_handover
        report.messages_queued += queue_committed(self._queues, messages)


__all__ = [
    "Due",
    "Lifecycle",
    "LifecycleReport",
    "LifecycleRules",
    "check_in_due",
    "due",
    "on_its_own_due",
    "reminder_due",
]
