"""Group formation: turn the matching plan into one table transaction per group change.

Everything a change touches lives in the theme's partition of the interests table — the
members' interests (claimed with ETag conditions), the group row, and one outbox row per
text to send — so a change commits whole or not at all. A lost race fails the transaction;
we re-read the partition and plan again. After a commit the outbox rows are put on the
notifications queue; the sweep puts back any row still pending, so a crash between commit
and enqueue loses nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.storage import INTERESTS, NOTIFICATIONS, StorageAccount, storage_errors
from shared.core.domain import (
    FACILITATED,
    GROUP_PREFIX,
    JOINABLE,
    OUTBOX_PREFIX,
    Group,
    GroupStatus,
    Interest,
    InterestStatus,
    MessageKind,
    OutboxMessage,
    RecipientType,
    new_sortable_key,
    utcnow,
)
from shared.core.matching import (
    Assignment,
    FacilitatorLoad,
    Join,
    MatchingRules,
    NewGroup,
    OpenGroup,
    WaitingInterest,
    plan_formation,
)
from shared.core.organisation import Organisation
from shared.services.facilitators import Facilitator, FacilitatorStore
from shared.services.outbox import queue_committed

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
# A pending outbox row older than this was probably never enqueued (a crash after commit).
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


@dataclass
class _Partition:
    waiting: dict[str, Interest]
    groups: dict[str, Group]


@dataclass
class _Loads:
    """Each facilitator's running groups across all themes, kept current as we commit."""

    count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last: dict[str, datetime] = field(default_factory=dict)

    def add(self, facilitator_id: str, at: datetime) -> None:
        self.count[facilitator_id] += 1
        if facilitator_id not in self.last or self.last[facilitator_id] < at:
            self.last[facilitator_id] = at


Change = tuple[list, list[OutboxMessage], Callable[[], None]]
MAX_TRANSACTION_OPERATIONS = 100  # Table Storage's limit for one entity-group transaction


def _packed(changes: list[Change]) -> Iterator[list[Change]]:
    """Consecutive group changes sharing one transaction while they fit: every change stays whole in one
    transaction (atomic per group), and a theme with many groups needs a few round trips, not one each."""
    pack: list[Change] = []
    size = 0
    for change in changes:
        ops = len(change[0])
        if pack and size + ops > MAX_TRANSACTION_OPERATIONS:
            yield pack
            pack, size = [], 0
        pack.append(change)
        size += ops
    if pack:
        yield pack


class FormationService:
    def __init__(
        self,
        *,
        storage: StorageAccount,
        organisation: Organisation,
        facilitators: FacilitatorStore,
        join_window: timedelta,
        clock: Callable[[], datetime] = utcnow,
        after_commit: Callable[[list[OutboxMessage]], None] | None = None,
    ) -> None:
        self._storage = storage
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

    def _table(self) -> Any:
        return self._storage.table(INTERESTS)

    # entry points ------------------------------------------------------------------------

    def form_theme(self, theme: str) -> FormationReport:
        if self._org.theme(theme) is None:
            raise ValueError("unknown theme")
        report = FormationReport()
        facilitators = self._facilitators.list()
        loads = self._loads()
        self._form(theme, facilitators, loads, report)
        return report

    def sweep(self) -> FormationReport:
        """Every theme, then any message left pending: what the timer runs."""
        report = FormationReport()
        facilitators = self._facilitators.list()
        loads = self._loads()
        for theme in self._org.themes:
            self._form(theme.id, facilitators, loads, report)
        report.messages_queued += self.redispatch_pending()
        return report

    # reading -----------------------------------------------------------------------------

    def _loads(self) -> _Loads:
        loads = _Loads()
        flt = " or ".join(f"Status eq '{s.value}'" for s in FACILITATED)
        with storage_errors():
            rows = self._table().query_entities(
                f"Kind eq 'group' and ({flt})", select=["FacilitatorId", "FacilitatorAssignedAt", "FormedAt"]
            )
            for row in rows:
                if row.get("FacilitatorId"):
                    loads.add(row["FacilitatorId"], row.get("FacilitatorAssignedAt") or row["FormedAt"])
        return loads

    def _read(self, theme: str) -> _Partition:
        joinable = " or ".join(f"Status eq '{s.value}'" for s in JOINABLE)
        query = (
            "PartitionKey eq @theme and ((Kind eq 'interest' and Status eq 'waiting')"
            f" or (Kind eq 'group' and ({joinable})))"
        )
        waiting: dict[str, Interest] = {}
        groups: dict[str, Group] = {}
        with storage_errors():
            for row in self._table().query_entities(query, parameters={"theme": theme}):
                if row["Kind"] == "interest":
                    interest = Interest.from_entity(row)
                    waiting[interest.key] = interest
                else:
                    group = Group.from_entity(row)
                    groups[group.key] = group
        return _Partition(waiting, groups)

    # planning and committing ------------------------------------------------------------

    def _form(self, theme: str, facilitators: list[Facilitator], loads: _Loads, report: FormationReport) -> None:
        for _ in range(MAX_ATTEMPTS):
            partition = self._read(theme)
            now = self._clock()
            plan = plan_formation(
                theme,
                [
                    WaitingInterest(i.key, i.area, i.locale, i.created_at, i.verified_at)
                    for i in partition.waiting.values()
                ],
                [
                    OpenGroup(g.key, g.area, g.locale, len(g.member_keys), g.formed_at, g.facilitator_id)
                    for g in partition.groups.values()
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
            if plan.is_empty:
                return
            changes: list[Change] = []
            for assignment in plan.assignments:
                changes.append(self._assign(partition, assignment, now, report, loads))
            for join in plan.joins:
                changes.append(self._join(partition, join, now, report))
            for new_group in plan.new_groups:
                changes.append(self._new_group(theme, partition, new_group, now, report, loads))
            lost_race = False
            for pack in _packed(changes):
                try:
                    with storage_errors():
                        self._table().submit_transaction([op for operations, _, _ in pack for op in operations])
                except TableTransactionError:
                    lost_race = True  # someone else changed these rows: re-read and plan again
                    break
                report.transactions += 1
                report.entities_written += sum(len(operations) for operations, _, _ in pack)
                for _, _, on_commit in pack:
                    on_commit()
                self._dispatch([m for _, messages, _ in pack for m in messages], report)
            if not lost_race:
                return
            report.retries += 1
            fresh = self._loads()  # facilitator loads may have moved in other themes too
            loads.count, loads.last = fresh.count, fresh.last
        raise RuntimeError(f"formation gave up after {MAX_ATTEMPTS} lost races")

    def _claim(self, interest: Interest, group_key: str) -> tuple:
        entity = {
            "PartitionKey": interest.theme,
            "RowKey": interest.key,
            "Status": InterestStatus.GROUPED.value,
            "GroupId": group_key,
        }
        return (
            "update",
            entity,
            {"mode": UpdateMode.MERGE, "etag": interest.etag, "match_condition": MatchConditions.IfNotModified},
        )

    def _message(
        self,
        theme: str,
        kind: MessageKind,
        recipient_type: RecipientType,
        *,
        recipient_id: str = "",
        group_key: str,
        locale: str,
        subject_keys: Iterable[str] = (),
        reason: str = "",
        now: datetime,
    ) -> OutboxMessage:
        return OutboxMessage(
            theme=theme,
            key=OUTBOX_PREFIX + new_sortable_key(),
            kind=kind,
            recipient_type=recipient_type,
            recipient_id=recipient_id,
            group_key=group_key,
            locale=locale,
            subject_keys=tuple(subject_keys),
            reason=reason,
            created_at=now,
        )

    def _invitations(self, group: Group, members: Iterable[Interest], now: datetime) -> list[OutboxMessage]:
        return [
            self._message(
                group.theme,
                MessageKind.INVITATION,
                RecipientType.MEMBER,
                recipient_id=m.key,
                group_key=group.key,
                locale=m.locale,
                now=now,
            )
            for m in members
        ]

    def _to_facilitator(
        self, group: Group, kind: MessageKind, now: datetime, subjects: Iterable[str] = ()
    ) -> OutboxMessage:
        # The group's language; the sender falls back to one the facilitator reads.
        return self._message(
            group.theme,
            kind,
            RecipientType.FACILITATOR,
            recipient_id=group.facilitator_id or "",
            group_key=group.key,
            locale=group.locale,
            subject_keys=subjects,
            now=now,
        )

    def _alert(self, group: Group, reason: str, now: datetime) -> OutboxMessage:
        return self._message(
            group.theme,
            MessageKind.COORDINATOR_ALERT,
            RecipientType.COORDINATOR,
            group_key=group.key,
            locale=self._org.default_locale,
            reason=reason,
            now=now,
        )

    def _outbox_ops(self, messages: list[OutboxMessage]) -> list[tuple]:
        return [("create", m.to_entity()) for m in messages]

    def _assign(
        self, partition: _Partition, assignment: Assignment, now: datetime, report: FormationReport, loads: _Loads
    ) -> tuple[list, list[OutboxMessage], Callable[[], None]]:
        group = partition.groups[assignment.group_id]
        updated = group.model_copy(
            update={
                "facilitator_id": assignment.facilitator_id,
                "status": GroupStatus.FORMING,
                "facilitator_assigned_at": now,
            }
        )
        members = self._members(group)
        messages = [*self._invitations(updated, members, now), self._to_facilitator(updated, MessageKind.ROSTER, now)]
        operations = [
            (
                "update",
                updated.to_entity(),
                {"mode": UpdateMode.REPLACE, "etag": group.etag, "match_condition": MatchConditions.IfNotModified},
            ),
            *self._outbox_ops(messages),
        ]

        def committed() -> None:
            report.facilitators_assigned += 1
            loads.add(assignment.facilitator_id, now)

        return operations, messages, committed

    def _members(self, group: Group) -> list[Interest]:
        with storage_errors():
            table = self._table()
            found = []
            for key in group.member_keys:
                try:
                    found.append(Interest.from_entity(table.get_entity(group.theme, key)))
                except ResourceNotFoundError:  # withdrew meanwhile: simply not invited
                    continue
            return found

    def _join(
        self, partition: _Partition, join: Join, now: datetime, report: FormationReport
    ) -> tuple[list, list[OutboxMessage], Callable[[], None]]:
        group = partition.groups[join.group_id]
        joiners = [partition.waiting[key] for key in join.interest_ids]
        updated = group.model_copy(update={"member_keys": (*group.member_keys, *join.interest_ids)})
        messages: list[OutboxMessage] = []
        if group.facilitator_id:  # awaiting groups invite everyone once a facilitator is assigned
            messages = [
                *self._invitations(updated, joiners, now),
                self._to_facilitator(updated, MessageKind.MEMBER_JOINED, now, join.interest_ids),
            ]
        operations = [
            *(self._claim(i, group.key) for i in joiners),
            (
                "update",
                updated.to_entity(),
                {"mode": UpdateMode.REPLACE, "etag": group.etag, "match_condition": MatchConditions.IfNotModified},
            ),
            *self._outbox_ops(messages),
        ]

        def committed() -> None:
            report.members_joined += len(joiners)

        return operations, messages, committed

    def _new_group(
        self,
        theme: str,
        partition: _Partition,
        new_group: NewGroup,
        now: datetime,
        report: FormationReport,
        loads: _Loads,
    ) -> tuple[list, list[OutboxMessage], Callable[[], None]]:
        members = [partition.waiting[key] for key in new_group.interest_ids]
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
            messages = [*self._invitations(group, members, now), self._to_facilitator(group, MessageKind.ROSTER, now)]
        else:
            messages = [self._alert(group, "awaiting_facilitator", now)]
        operations = [
            *(self._claim(i, group.key) for i in members),
            ("create", group.to_entity()),
            *self._outbox_ops(messages),
        ]

        def committed() -> None:
            report.groups_formed += 1
            if new_group.facilitator_id:
                loads.add(new_group.facilitator_id, now)

        return operations, messages, committed

    # dispatch ----------------------------------------------------------------------------

    def _dispatch(self, messages: list[OutboxMessage], report: FormationReport) -> None:
        if not messages:
            return
        if self._after_commit is not None:
            self._after_commit(messages)
        report.messages_queued += queue_committed(self._storage, messages)

    def redispatch_pending(self) -> int:
        """Put back on the queue every outbox row still pending a while after it was written or last queued."""
        now = self._clock()
        cutoff = now - REDISPATCH_AFTER
        count = 0
        with storage_errors():
            rows = self._table().query_entities("Kind eq 'outbox' and Status eq 'pending'")
            for row in rows:
                message = OutboxMessage.from_entity(row)
                last = message.enqueued_at or message.created_at
                if last > cutoff:
                    continue
                try:
                    # Mark first: if two sweeps race, only the one whose mark lands enqueues.
                    self._table().update_entity(
                        {"PartitionKey": message.theme, "RowKey": message.key, "EnqueuedAt": now},
                        mode=UpdateMode.MERGE,
                        etag=message.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
                except Exception:  # noqa: S112 - changed meanwhile (sent, or marked by another sweep)
                    continue
                self._storage.enqueue(NOTIFICATIONS, message.queue_text())
                count += 1
        return count
