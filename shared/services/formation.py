"""Group formation: turn the matching plan into one table transaction per group change.

Everything a change touches lives in the theme's partition of the interests table — the
members' interests (claimed with ETag conditions), the group row, and one outbox row per
text to send — so a change commits whole or not at all. A lost race fails the transaction;
we re-read the partition and plan again. After each commit its outbox rows are put on the
notifications queue, one message for the changes that transaction committed (shared/services/outbox.py);
the sweep puts back any row still pending, so a crash between commit and enqueue loses nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.adapters.interests import InterestsTable, Rows
from shared.adapters.queues import Queues
from shared.adapters.unit_of_work import ChangeSet, GaveUp
from shared.core.domain import (
    FACILITATED,
    GROUP_PREFIX,
    Group,
    GroupStatus,
    Interest,
    InterestStatus,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    new_sortable_key,
    to_coordinator,
    to_facilitator,
    to_members,
)
from shared.core.facilitators import Facilitator
from shared.core.matching import (
    Assignment,
    FacilitatorLoad,
    MatchingRules,
    NewGroup,
    OpenGroup,
    WaitingInterest,
    plan_formation,
)
from shared.core.organisation import Organisation
from shared.services.facilitators import FacilitatorStore
from shared.services.outbox import Queueing, queue_committed, start_queueing

log = logging.getLogger(__name__)

# A pending outbox row older than this was probably never enqueued (a crash after commit); a claim older
# than this belongs to an invocation that died (longer than the notifier's STALE_CLAIM).
REDISPATCH_AFTER = timedelta(minutes=3)


@dataclass
class FormationReport:
    groups_formed: int = 0
    members_joined: int = 0
    facilitators_assigned: int = 0
    messages_queued: int = 0
    retries: int = 0
    transactions: int = 0
    entities_written: int = 0
    # Queue puts still on their way while the run goes on with the next transaction; settled before it returns.
    in_flight: list[Queueing] = field(default_factory=list, repr=False, compare=False)

    def settle(self) -> None:
        """Wait for the puts on their way and count the rows they queued."""
        while self.in_flight:
            self.messages_queued += self.in_flight.pop().result()


@dataclass
class _Loads:
    """Each facilitator's running groups across all themes, kept current as we commit."""

    count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last: dict[str, datetime] = field(default_factory=dict)

    def add(self, facilitator_id: str, at: datetime) -> None:
        self.count[facilitator_id] += 1
        if facilitator_id not in self.last or self.last[facilitator_id] < at:
            self.last[facilitator_id] = at


class FormationService:
    def __init__(
        self,
        *,
        interests: InterestsTable,
        queues: Queues,
        organisation: Organisation,
        facilitators: FacilitatorStore,
        join_window: timedelta,
        clock: Callable[[], datetime],
        after_commit: Callable[[list[OutboxMessage]], None] | None = None,
    ) -> None:
        self._interests = interests
        self._queues = queues
        self._org = organisation
        self._facilitators = facilitators
        self._clock = clock
        self._rules = MatchingRules(
            min_size=organisation.group_size.min,
            max_size=organisation.group_size.max,
            join_window=join_window,
            match_by_area=organisation.match_by_area,
            default_locale=organisation.default_locale,
            area_wait=None if organisation.area_wait_days is None else timedelta(days=organisation.area_wait_days),
            neighbours=organisation.neighbours(),
        )
        # A seam for fault-injection tests: runs between a commit and its enqueue.
        self._after_commit = after_commit

    # entry points ------------------------------------------------------------------------

    def form_theme(self, theme: str) -> FormationReport:
        if self._org.theme(theme) is None:
            raise ValueError("unknown theme")
        report = FormationReport()
        facilitators = self._facilitators.list()
        loads = self._loads()
        try:
            self._form(theme, facilitators, loads, report)
        finally:
            report.settle()
        return report

    def sweep(self) -> FormationReport:
        """Every theme, then any message left pending: what the timer runs."""
        report = FormationReport()
        facilitators = self._facilitators.list()
        loads = self._loads()
        try:
            for theme in self._org.themes:
                self._form(theme.id, facilitators, loads, report)
        finally:
            report.settle()
        report.messages_queued += self.redispatch_pending()
        return report

    # reading -----------------------------------------------------------------------------

    def _loads(self) -> _Loads:
        loads = _Loads()
        for group in self._interests.unit().groups(statuses=FACILITATED):
            if group.facilitator_id:
                loads.add(group.facilitator_id, group.facilitator_assigned_at or group.formed_at)
        return loads

    # planning and committing ------------------------------------------------------------

    def _form(self, theme: str, facilitators: list[Facilitator], loads: _Loads, report: FormationReport) -> None:
        def plan_and_commit(rows: Rows) -> None:
            waiting, groups = rows.waiting_line(theme)
            now = self._clock()
            plan = plan_formation(
                theme,
                [WaitingInterest(i.key, i.area, i.locale, i.created_at, i.verified_at) for i in waiting.values()],
                [
                    OpenGroup(g.key, g.area, g.locale, len(g.member_keys), g.formed_at, g.facilitator_id)
                    for g in groups.values()
                ],
                [
                    FacilitatorLoad(
                        f.id,
                        frozenset(f.themes),
                        frozenset(f.areas),
                        frozenset(f.locales),
                        f.capacity,
                        f.active,
                        loads.count.get(f.id, 0),
                        loads.last.get(f.id),
                    )
                    for f in facilitators
                ],
                self._rules,
                now,
            )
            for assignment in plan.assignments:
                self._assign(rows, groups[assignment.group_id], assignment, now, report, loads)
            for join in plan.joins:
                self._join(rows, groups[join.group_id], [waiting[k] for k in join.interest_ids], now, report)
            for new_group in plan.new_groups:
                self._new_group(
                    rows, theme, [waiting[k] for k in new_group.interest_ids], new_group, now, report, loads
                )
            rows.commit(after_pack=lambda pack: self._committed(rows, pack, report))

        def lost_race() -> None:
            report.retries += 1
            fresh = self._loads()  # facilitator loads may have moved in other themes too
            loads.count, loads.last = fresh.count, fresh.last

        try:
            self._interests.retrying(plan_and_commit, on_lost_race=lost_race)
        except GaveUp:
            raise RuntimeError("formation gave up after too many lost races") from None

    def _committed(self, rows: Rows, pack: list[ChangeSet], report: FormationReport) -> None:
        report.transactions += 1
        report.entities_written += sum(len(change) for change in pack)
        self._dispatch([m for change in pack for m in change.messages], report)

    def _claim(self, change: ChangeSet, interest: Interest, group_key: str) -> None:
        change.merge(
            interest.model_copy(update={"status": InterestStatus.GROUPED, "group_id": group_key}), "status", "group_id"
        )

    def _assign(
        self, rows: Rows, group: Group, assignment: Assignment, now: datetime, report: FormationReport, loads: _Loads
    ) -> None:
        updated = group.model_copy(
            update={
                "facilitator_id": assignment.facilitator_id,
                "status": GroupStatus.FORMING,
                "facilitator_assigned_at": now,
            }
        )
        found = rows.interests(group.theme, group.member_keys)
        present = [key for key in group.member_keys if key in found]
        change = rows.change(group.theme)
        change.replace(updated)
        # Only members still there are invited: one who withdrew meanwhile is simply not.
        for message in [
            *to_members(updated, MessageKind.INVITATION, now, present),
            to_facilitator(updated, MessageKind.ROSTER, now),
        ]:
            change.create(message)

        def committed() -> None:
            report.facilitators_assigned += 1
            loads.add(assignment.facilitator_id, now)

        change.on_commit.append(committed)

    def _join(self, rows: Rows, group: Group, joiners: list[Interest], now: datetime, report: FormationReport) -> None:
        keys = tuple(i.key for i in joiners)
        updated = group.model_copy(update={"member_keys": (*group.member_keys, *keys)})
        change = rows.change(group.theme)
        for interest in joiners:
            self._claim(change, interest, group.key)
        change.replace(updated)
        if group.facilitator_id:  # awaiting groups invite everyone once a facilitator is assigned
            for message in [
                *to_members(updated, MessageKind.INVITATION, now, keys),
                to_facilitator(updated, MessageKind.MEMBER_JOINED, now, subject_keys=keys),
            ]:
                change.create(message)
        change.on_commit.append(lambda: setattr(report, "members_joined", report.members_joined + len(joiners)))

    def _new_group(
        self,
        rows: Rows,
        theme: str,
        members: list[Interest],
        new_group: NewGroup,
        now: datetime,
        report: FormationReport,
        loads: _Loads,
    ) -> None:
        group = Group(
            theme=theme,
            key=GROUP_PREFIX + new_sortable_key(),
            area=new_group.area,
            locale=new_group.locale,
            status=GroupStatus.FORMING if new_group.facilitator_id else GroupStatus.AWAITING_FACILITATOR,
            facilitator_id=new_group.facilitator_id,
            member_keys=new_group.interest_ids,
            formed_at=now,
            facilitator_assigned_at=now if new_group.facilitator_id else None,
        )
        if new_group.facilitator_id:
            messages = [*to_members(group, MessageKind.INVITATION, now), to_facilitator(group, MessageKind.ROSTER, now)]
        else:
            messages = [to_coordinator(theme, group.key, "awaiting_facilitator", now, self._org.default_locale)]
        change = rows.change(theme)
        for interest in members:
            self._claim(change, interest, group.key)
        change.create(group)
        for message in messages:
            change.create(message)

        def committed() -> None:
            report.groups_formed += 1
            if new_group.facilitator_id:
                loads.add(new_group.facilitator_id, now)

        change.on_commit.append(committed)

    # dispatch ----------------------------------------------------------------------------

    def _dispatch(self, messages: list[OutboxMessage], report: FormationReport) -> None:
        if not messages:
            return
        if self._after_commit is not None:
            self._after_commit(messages)
        report.in_flight.append(start_queueing(self._queues, messages))

    def redispatch_pending(self) -> int:
        """Put back on the queue every outbox row still unsent a while after it was written or last queued — as
        few queue messages as fit, each group's rows together — and every claim left by an invocation that
        died mid-send (the notifier asks the provider before sending such a row again). Returns how many rows."""
        now = self._clock()
        cutoff = now - REDISPATCH_AFTER
        rows = self._interests.unit()
        marked: list[OutboxMessage] = []
        # Rows written since the cutoff are left out by the query: a sweep right after a big formation
        # does not read back every text it has just queued.
        for message in rows.messages([MessageStatus.PENDING, MessageStatus.SENDING], created_before=cutoff):
            last = message.enqueued_at or message.created_at
            if message.status is MessageStatus.SENDING and message.claimed_at is not None:
                last = max(last, message.claimed_at)  # a send still on its way is nobody's to repeat
            if last > cutoff:
                continue
            # Mark first: if two sweeps race, only the one whose mark lands enqueues.
            if not rows.try_merge(message.model_copy(update={"enqueued_at": now}), "enqueued_at"):
                continue  # changed meanwhile (sent, or marked by another sweep)
            marked.append(message)
        return queue_committed(self._queues, marked)
