"""Keeping personal data no longer than needed, and the counts that outlive it.

Retention (run daily by the lifecycle timer) erases, partition by partition of `interests`:
- interests never grouped `RETENTION_DAYS` after registration, with their phone markers;
- unverified interests whose code expired more than a day ago, with their markers;
- the people of a group closed `CLOSED_GROUP_RETENTION_DAYS` ago, or on its own
  `ON_ITS_OWN_RETENTION_DAYS` after the handover (on the date the group row's `MembersLeaveAt`
  holds: the date the members' own text gave them): their interests and markers go, the group row
  keeps its dates, status and how many members it had (`MembersErased`), not who; its meeting
  place and every outbox row of the group go too. A group on its own stays on its own: it goes on
  without us;
- the people of a group stuck before active (awaiting a facilitator, or forming with no first
  meeting) `RETENTION_DAYS` after it formed — the period never-grouped interests are kept — and
  the group is closed (issue 11.6: nothing lives forever by accident);
- outbox rows older than `RETENTION_DAYS`, whatever their status;
- phone markers whose interest is gone (older than a day, so a registration being written is safe);
and in `ratelimits`, counter rows past their `ExpiresAt`; in `facilitators`, the replies listed for
operators (adapters/replies.py) older than `RETENTION_DAYS`.

Then the SMS provider's copies (services/provider_copies.py): the copies of texts to or about the
people erased here are marked to go at once, and every copy sent `SMS_PROVIDER_COPY_HOURS` ago or
marked by an earlier erasure is deleted; what the provider refuses or cannot be asked waits for the
next run.

Each erasure of a person goes through services/membership.py, which folds their counts into the
statistics rows in the same transaction (services/statistics.py).

Nothing here logs a name, a number or a code: only counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.adapters.audit import AuditLog
from shared.adapters.interests import InterestsTable, PartitionRows, Rows
from shared.adapters.records import RateLimitRows
from shared.adapters.replies import ReplyLog
from shared.adapters.sms.base import SmsSender
from shared.adapters.sms.copies import ProviderCopies
from shared.adapters.unit_of_work import MAX_TRANSACTION_OPERATIONS, GaveUp, retrying
from shared.core.codes import CODE_LIFETIME
from shared.core.domain import Group, GroupStatus, Interest, InterestStatus
from shared.core.group_life import STUCK
from shared.core.organisation import Organisation
from shared.services.provider_copies import CopiesReport, delete_due_copies
from shared.services.rekey import Rekey
from shared.services.statistics import Statistics

log = logging.getLogger(__name__)

# How long an unverified interest outlives its code (a resident may still be typing it in).
CODE_GRACE = timedelta(days=1)
# A marker without its interest is removed only when older than this: a registration writes both at once.
ORPHAN_MARKER_AGE = timedelta(days=1)
# People erased per transaction: each takes a few rows (interest, marker, statistics), all under the limit.
PEOPLE_PER_TRANSACTION = MAX_TRANSACTION_OPERATIONS // 4


# --- retention rules (pure) ----------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionRules:
    retention: timedelta = timedelta(days=180)
    closed_group_retention: timedelta = timedelta(days=30)
    on_its_own_retention: timedelta = timedelta(days=90)
    provider_copy: timedelta = timedelta(hours=24)  # how long the SMS provider keeps a text's copy


def interest_erasure_reason(
    interest: Interest, group: Group | None, now: datetime, rules: RetentionRules
) -> str | None:
    """Why this interest is erased now ('unverified', 'never_grouped', 'group_erased'), or None.

    Members of a live group are not erased here: their group's closing decides (group_erasure_due).
    """
    if interest.status is InterestStatus.PENDING_VERIFICATION:
        expires = interest.code_expires_at or interest.created_at + CODE_LIFETIME
        return "unverified" if now >= expires + CODE_GRACE else None
    in_group = group is not None and interest.key in group.member_keys
    if in_group:
        return None
    if group is not None and group.members_erased_at is not None:
        return "group_erased"
    return "never_grouped" if now >= interest.created_at + rules.retention else None


def members_leave_at(group: Group, rules: RetentionRules) -> datetime | None:
    """When the group's people are erased: the date their handover or closing text gave (on the row),
    else (rows written before that date was kept) counted from the closing or the handover."""
    if group.members_leave_at is not None:
        return group.members_leave_at
    if group.status is GroupStatus.CLOSED:
        return (group.closed_at or group.formed_at) + rules.closed_group_retention
    if group.status is GroupStatus.ON_ITS_OWN:
        return (group.on_its_own_at or group.first_meeting_at or group.formed_at) + rules.on_its_own_retention
    return None


def group_erasure_due(group: Group, now: datetime, rules: RetentionRules) -> bool:
    if group.status not in (GroupStatus.CLOSED, GroupStatus.ON_ITS_OWN) or group.members_erased_at is not None:
        return False
    leave = members_leave_at(group, rules)
    return leave is not None and now >= leave


def stuck_group_erasure_due(group: Group, now: datetime, rules: RetentionRules) -> bool:
    """A group that never got going keeps its people no longer than a queue would have (issue 11.6)."""
    return group.status in STUCK and group.members_erased_at is None and now >= group.formed_at + rules.retention


def outbox_expired(created_at: datetime, now: datetime, rules: RetentionRules) -> bool:
    return now >= created_at + rules.retention


@dataclass
class RetentionReport:
    unverified_erased: int = 0
    never_grouped_erased: int = 0
    groups_erased: int = 0  # closed or on-its-own groups whose people were erased
    stuck_groups_erased: int = 0  # groups that never started, closed and their people erased
    members_erased: int = 0
    markers_erased: int = 0
    outbox_rows_erased: int = 0
    rate_limit_rows_erased: int = 0
    replies_erased: int = 0
    retries: int = 0
    provider_copies: CopiesReport = field(default_factory=CopiesReport)

    @property
    def rows_erased(self) -> int:
        return (
            self.unverified_erased
            + self.never_grouped_erased
            + self.members_erased
            + self.markers_erased
            + self.outbox_rows_erased
            + self.rate_limit_rows_erased
            + self.replies_erased
        )


class Retention:
    def __init__(
        self,
        *,
        interests: InterestsTable,
        copies: ProviderCopies,
        counters: RateLimitRows,
        reply_log: ReplyLog,
        audit: AuditLog,
        rekey: Rekey,
        organisation: Organisation,
        rules: RetentionRules,
        statistics: Statistics,
        clock: Callable[[], datetime],
        sender: SmsSender,
    ) -> None:
        self._rekey = rekey  # rows under the unkeyed phone key of earlier versions are rewritten first
        self._sender = sender
        self._copies = copies
        self._counters = counters
        self._reply_log = reply_log
        self._audit_log = audit
        self._interests = interests
        self._org = organisation
        self._rules = rules
        self._stats = statistics
        self._clock = clock

    def run(self) -> RetentionReport:
        report = RetentionReport()
        if not self._rekey.migrated():
            self._rekey.migrate_phone_keys()
        themes = {t.id for t in self._org.themes} | self._interests.unit().themes_with_rows()
        for theme in sorted(themes):  # also partitions of themes since removed from the organisation

            def erase(rows: Rows, theme: str = theme) -> None:
                self._erase_partition(rows, rows.partition(theme), self._clock(), report)

            def lost() -> None:
                report.retries += 1

            try:
                retrying(self._interests.unit, erase, on_lost_race=lost)
            except GaveUp:
                log.warning("retention: a partition kept changing; the next run finishes it")
        report.rate_limit_rows_erased += self._counters.erase_expired(self._clock())
        report.replies_erased += self._reply_log.erase_received_before(self._clock() - self._rules.retention)
        try:
            report.provider_copies = delete_due_copies(
                self._sender, self._copies, self._clock(), self._rules.provider_copy
            )
        except Exception as exc:  # storage down: the next run deletes them
            log.warning("retention: provider copies not deleted (%s)", type(exc).__name__)
        self._audit(report)
        log.info(
            "retention: %s unverified, %s never grouped, %s members of %s closed groups, %s markers, "
            "%s outbox rows, %s rate-limit rows, %s replies erased",
            report.unverified_erased,
            report.never_grouped_erased,
            report.members_erased,
            report.groups_erased,
            report.markers_erased,
            report.outbox_rows_erased,
            report.rate_limit_rows_erased,
            report.replies_erased,
        )
        return report

    def _erase_partition(self, rows: Rows, partition: PartitionRows, now: datetime, report: RetentionReport) -> None:
        self._erase_closed_groups(rows, partition, now, report)
        self._erase_people(rows, partition, now, report)
        self._erase_orphan_markers(rows, partition, now, report)
        self._erase_outbox(rows, partition, now, report)

    def _erase_closed_groups(
        self, rows: Rows, partition: PartitionRows, now: datetime, report: RetentionReport
    ) -> None:
        for group in list(partition.groups.values()):
            was_stuck = stuck_group_erasure_due(group, now, self._rules)
            if not was_stuck and not group_erasure_due(group, now, self._rules):
                continue
            members = [partition.interests[k] for k in group.member_keys if k in partition.interests]
            change = rows.change(partition.theme)
            markers = 0
            for interest in members:
                change.delete(interest.key)
                marker = partition.marker_of(interest.key)
                if marker is not None:
                    change.delete(marker.key)
                    markers += 1
            erased = group.model_copy(
                update={
                    "member_keys": (),
                    "members_erased_at": now,
                    "members_erased": len(group.member_keys),
                    "meeting_place": "",
                }
            )
            fields = ["member_keys", "members_erased", "members_erased_at", "meeting_place"]
            if was_stuck:
                erased = erased.model_copy(update={"status": GroupStatus.CLOSED, "closed_at": now})
                fields += ["status", "closed_at"]
            change.merge(erased, *fields)
            self._stats.fold_into(change, [(i, group, rows.written_at(i.theme, i.key)) for i in members])
            rows.commit()
            sent = [m.provider_sid for m in partition.outbox if m.group_key == group.key and m.provider_sid]
            self._mark_copies(members, sent)
            for interest in members:
                self._forget(partition, interest)
            partition.groups[group.key] = erased
            report.groups_erased += 1
            report.stuck_groups_erased += was_stuck
            report.members_erased += len(members)
            report.markers_erased += markers

    def _mark_copies(self, people: list[Interest], sids: list[str]) -> None:
        """The provider's copies of texts to these people, and of `sids`, go at once (this run deletes them)."""
        try:
            self._copies.erase_soon(sids)
            for interest in people:
                self._copies.erase_recipient(interest.phone)
        except Exception as exc:  # erased here; their copies go after the grace period
            log.warning("retention: provider copies not marked (%s)", type(exc).__name__)

    def _forget(self, partition: PartitionRows, interest: Interest) -> None:
        partition.interests.pop(interest.key, None)
        marker = partition.marker_of(interest.key)
        if marker is not None:
            partition.markers.pop(marker.key, None)

    def _erase_people(self, rows: Rows, partition: PartitionRows, now: datetime, report: RetentionReport) -> None:
        due: list[tuple[Interest, Group | None, str]] = []
        for interest in partition.interests.values():
            group = partition.groups.get(interest.group_id or "")
            reason = interest_erasure_reason(interest, group, now, self._rules)
            if reason in ("never_grouped", "group_erased") and interest.status is InterestStatus.GROUPED:
                # A claim commits the interest and its group together: read the group again after the
                # interest, so a join that landed during our scan is seen.
                group = rows.group(partition.theme, interest.group_id or "") if interest.group_id else None
                reason = interest_erasure_reason(interest, group, now, self._rules)
            if reason is not None:
                due.append((interest, group, reason))
        for start in range(0, len(due), PEOPLE_PER_TRANSACTION):
            batch = due[start : start + PEOPLE_PER_TRANSACTION]
            change = rows.change(partition.theme)
            markers = 0
            for interest, _group, _reason in batch:
                change.delete(interest.key)
                marker = partition.marker_of(interest.key)
                if marker is not None:
                    change.delete(marker.key)
                    markers += 1
            self._stats.fold_into(change, [(i, g, rows.written_at(i.theme, i.key)) for i, g, _ in batch])
            rows.commit()
            self._mark_copies([interest for interest, _group, _reason in batch], [])
            for interest, _group, reason in batch:
                self._forget(partition, interest)
                if reason == "unverified":
                    report.unverified_erased += 1
                else:
                    report.never_grouped_erased += 1
            report.markers_erased += markers

    def _erase_orphan_markers(
        self, rows: Rows, partition: PartitionRows, now: datetime, report: RetentionReport
    ) -> None:
        for key, marker in list(partition.markers.items()):
            if marker.interest_key in partition.interests:
                continue
            if marker.written_at is not None and marker.written_at > now - ORPHAN_MARKER_AGE:
                continue
            if rows.try_delete(partition.theme, key):
                report.markers_erased += 1
            partition.markers.pop(key, None)

    def _erase_outbox(self, rows: Rows, partition: PartitionRows, now: datetime, report: RetentionReport) -> None:
        erased_groups = {k for k, g in partition.groups.items() if g.members_erased_at is not None}
        doomed = [
            m.key
            for m in partition.outbox
            if m.group_key in erased_groups or outbox_expired(m.created_at, now, self._rules)
        ]
        report.outbox_rows_erased += rows.delete_all(partition.theme, doomed)
        gone = set(doomed)
        partition.outbox = [m for m in partition.outbox if m.key not in gone]

    def _audit(self, report: RetentionReport) -> None:
        """One audit row per run, in the admin log's shape: counts only."""
        # AuditLog logs a failed write and never raises: the audit must not undo the erasure.
        self._audit_log.record("retention", actor="timer", count=report.rows_erased)


__all__ = [
    "Retention",
    "RetentionReport",
    "RetentionRules",
    "group_erasure_due",
    "interest_erasure_reason",
    "members_leave_at",
    "outbox_expired",
    "stuck_group_erasure_due",
]
