"""Keeping personal data no longer than needed, and the counts that outlive it.

Retention (run daily by the lifecycle timer) erases, partition by partition of `interests`:
- interests never grouped `RETENTION_DAYS` after registration, with their phone markers;
- unverified interests whose code expired more than a day ago, with their markers;
- the people of a group closed `CLOSED_GROUP_RETENTION_DAYS` ago: their interests and markers go,
  the group row keeps its dates, status and how many members it had (`MembersErased`), not who;
  its meeting place and every outbox row of the group go too;
- outbox rows older than `RETENTION_DAYS`, whatever their status;
- phone markers whose interest is gone (older than a day, so a registration being written is safe);
and in `ratelimits`, counter rows past their `ExpiresAt`.

Statistics. Registrations, verifications and days-to-group are counted from the interest rows
themselves while they live; the moment a row is erased its contribution is added to a statistics
row *in the same entity-group transaction* that deletes it (`stats.<YYYY-MM>.<area>` in the theme's
partition of `interests`; ETag-conditioned, so two erasures racing cannot lose or double an
increment). Groups are counted from group rows, which are never deleted. So the export is always
`live rows + stats rows`, and erasure moves counts from one to the other without changing the sum.
Intake and formation write nothing extra; only the code that deletes interests folds them —
here, in `Operations.remove_member` (same transaction) and `Operations.erase_person` (right after
`erase_number`). A resident's own withdrawal or STOP erases a registration without counting it,
unless that code calls `Statistics.fold_ops` too.

Nothing here logs a name, a number or a code: only counts.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.storage import AUDIT, INTERESTS, RATE_LIMITS, StorageAccount, storage_errors
from shared.core.domain import (
    GROUP_PREFIX,
    INTEREST_PREFIX,
    OUTBOX_PREFIX,
    PHONE_PREFIX,
    Group,
    GroupStatus,
    Interest,
    InterestStatus,
    new_sortable_key,
    utcnow,
)
from shared.core.organisation import Organisation
from shared.services.lifecycle import organisation_tz

log = logging.getLogger(__name__)

STATS_PREFIX = "stats."
MAX_OPERATIONS = 100  # per entity-group transaction
MAX_ATTEMPTS = 8
# How long an unverified interest outlives its code (a resident may still be typing it in).
CODE_GRACE = timedelta(days=1)
# The code's validity when an old row has no expiry recorded (intake.CODE_TTL).
CODE_TTL = timedelta(minutes=10)
# A marker without its interest is removed only when older than this: a registration writes both at once.
ORPHAN_MARKER_AGE = timedelta(days=1)


def entity_etag(entity: Any) -> str | None:
    return getattr(entity, "metadata", {}).get("etag")


def entity_timestamp(entity: Any) -> datetime | None:
    return getattr(entity, "metadata", {}).get("timestamp")


# --- statistics (pure) ---------------------------------------------------------------------------


@dataclass
class Counts:
    registrations: int = 0
    verified: int = 0
    groups_formed: int = 0
    days_to_group: Counter[int] = field(default_factory=Counter)

    def add(self, other: Counts) -> None:
        self.registrations += other.registrations
        self.verified += other.verified
        self.groups_formed += other.groups_formed
        self.days_to_group.update(other.days_to_group)

    @property
    def median_days_to_group(self) -> float | None:
        return median(self.days_to_group)


StatKey = tuple[str, str]  # (month "YYYY-MM", area id or "")


def median(histogram: Mapping[int, int]) -> float | None:
    """The median of values given as {value: how many}; None for none."""
    total = sum(n for n in histogram.values() if n > 0)
    if total == 0:
        return None
    values = sorted((v, n) for v, n in histogram.items() if n > 0)

    def nth(index: int) -> int:
        seen = 0
        for value, n in values:
            seen += n
            if index < seen:
                return value
        raise IndexError(index)

    if total % 2:
        return float(nth(total // 2))
    return (nth(total // 2 - 1) + nth(total // 2)) / 2


def month_of(when: datetime, tz: tzinfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m")


def grouped_at(interest: Interest, group: Group | None, timestamp: datetime | None) -> datetime:
    """When a grouped person got their place: the group's formation for its founders; for someone who
    joined later, the row's last write (the claim: nothing writes a grouped interest after it)."""
    start = interest.verified_at or interest.created_at
    if group is not None and group.formed_at >= start:
        return group.formed_at
    if timestamp is not None and timestamp >= start:
        return timestamp
    return start


def interest_counts(
    interest: Interest, group: Group | None, timestamp: datetime | None, tz: tzinfo
) -> dict[StatKey, Counts]:
    """What one interest adds to the statistics: a registration in the month it was made, a
    verification in the month it was verified, and days waited in the month it was grouped."""
    area = interest.area or ""
    counts: dict[StatKey, Counts] = {}

    def at(when: datetime) -> Counts:
        return counts.setdefault((month_of(when, tz), area), Counts())

    at(interest.created_at).registrations += 1
    if interest.status is not InterestStatus.PENDING_VERIFICATION and interest.verified_at is not None:
        at(interest.verified_at).verified += 1
    if interest.status is InterestStatus.GROUPED:
        placed = grouped_at(interest, group, timestamp)
        start = interest.verified_at or interest.created_at
        days = max(0, int((placed - start).total_seconds() // 86400))
        at(placed).days_to_group[days] += 1
    return counts


def group_counts(group: Group, tz: tzinfo) -> dict[StatKey, Counts]:
    return {(month_of(group.formed_at, tz), group.area or ""): Counts(groups_formed=1)}


def merge_counts(into: dict[StatKey, Counts], more: Mapping[StatKey, Counts]) -> None:
    for key, counts in more.items():
        into.setdefault(key, Counts()).add(counts)


def stats_row_key(month: str, area: str) -> str:
    return f"{STATS_PREFIX}{month}.{area or '-'}"


def counts_from_stats_row(entity: Mapping[str, Any]) -> Counts:
    try:
        histogram = {int(k): int(v) for k, v in json.loads(entity.get("DaysToGroup") or "{}").items()}
    except (ValueError, TypeError, AttributeError):
        histogram = {}
    return Counts(
        registrations=int(entity.get("Registrations") or 0),
        verified=int(entity.get("Verified") or 0),
        days_to_group=Counter(histogram),
    )


def stats_row(theme: str, month: str, area: str, counts: Counts) -> dict[str, Any]:
    return {
        "PartitionKey": theme,
        "RowKey": stats_row_key(month, area),
        "Kind": "stats",
        "Month": month,
        "Area": area,
        "Registrations": counts.registrations,
        "Verified": counts.verified,
        "DaysToGroup": json.dumps({str(k): v for k, v in sorted(counts.days_to_group.items()) if v}),
    }


def fold_operations(theme: str, contributions: Mapping[StatKey, Counts], current: Mapping[str, Any]) -> list[tuple]:
    """Table operations adding `contributions` to the partition's statistics rows (`current`: RowKey →
    entity as read). Each row is updated only if still as read, or created if it was not there."""
    operations: list[tuple] = []
    for (month, area), extra in sorted(contributions.items()):
        key = stats_row_key(month, area)
        existing = current.get(key)
        total = counts_from_stats_row(existing) if existing is not None else Counts()
        total.add(extra)
        entity = stats_row(theme, month, area, total)
        if existing is None:
            operations.append(("create", entity))
        else:
            operations.append(
                (
                    "update",
                    entity,
                    {
                        "mode": UpdateMode.MERGE,
                        "etag": entity_etag(existing),
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            )
    return operations


CSV_COLUMNS = ("month", "theme", "area", "registrations", "verified", "groups_formed", "median_days_to_group")


def statistics_csv_text(totals: Mapping[tuple[str, str, str], Counts]) -> str:
    """One line per month, theme and area. Ids and counts only: no person can be read out of it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for (month, theme, area), c in sorted(totals.items()):
        m = c.median_days_to_group
        shown = "" if m is None else (f"{m:.0f}" if m == int(m) else f"{m:.1f}")
        writer.writerow([month, theme, area, c.registrations, c.verified, c.groups_formed, shown])
    return out.getvalue()


# --- retention rules (pure) ----------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionRules:
    retention: timedelta = timedelta(days=180)
    closed_group_retention: timedelta = timedelta(days=30)


def interest_erasure_reason(
    interest: Interest, group: Group | None, now: datetime, rules: RetentionRules
) -> str | None:
    """Why this interest is erased now ('unverified', 'never_grouped', 'group_erased'), or None.

    Members of a live group are not erased here: their group's closing decides (group_erasure_due).
    """
    if interest.status is InterestStatus.PENDING_VERIFICATION:
        expires = interest.code_expires_at or interest.created_at + CODE_TTL
        return "unverified" if now >= expires + CODE_GRACE else None
    in_group = group is not None and interest.key in group.member_keys
    if in_group:
        return None
    if group is not None and group.members_erased_at is not None:
        return "group_erased"
    return "never_grouped" if now >= interest.created_at + rules.retention else None


def group_erasure_due(group: Group, now: datetime, rules: RetentionRules) -> bool:
    if group.status is not GroupStatus.CLOSED or group.members_erased_at is not None:
        return False
    closed = group.closed_at or group.formed_at
    return now >= closed + rules.closed_group_retention


def outbox_expired(created_at: datetime, now: datetime, rules: RetentionRules) -> bool:
    return now >= created_at + rules.retention


# --- statistics over storage ---------------------------------------------------------------------


class Statistics:
    """Aggregate counts by month, theme and area: live rows plus what erasure folded into stats rows."""

    def __init__(self, storage: StorageAccount, organisation: Organisation) -> None:
        self._storage = storage
        self._tz = organisation_tz(organisation)

    @property
    def tz(self) -> tzinfo:
        return self._tz

    def _table(self) -> Any:
        return self._storage.table(INTERESTS)

    def stats_rows(self, theme: str) -> dict[str, Any]:
        with storage_errors():
            rows = self._table().query_entities(
                "PartitionKey eq @theme and Kind eq 'stats'", parameters={"theme": theme}
            )
            return {row["RowKey"]: row for row in rows}

    def contributions(self, people: Iterable[tuple[Interest, Group | None, datetime | None]]) -> dict[StatKey, Counts]:
        total: dict[StatKey, Counts] = {}
        for interest, group, timestamp in people:
            merge_counts(total, interest_counts(interest, group, timestamp, self._tz))
        return total

    def fold_ops(
        self,
        theme: str,
        people: Iterable[tuple[Interest, Group | None, datetime | None]],
        current: Mapping[str, Any] | None = None,
    ) -> list[tuple]:
        """Operations to put in the transaction that deletes `people`, so their counts survive them."""
        return fold_operations(
            theme, self.contributions(people), self.stats_rows(theme) if current is None else current
        )

    def fold(self, theme: str, people: list[tuple[Interest, Group | None, datetime | None]]) -> None:
        """Add `people` (already erased elsewhere) to the statistics on their own, retrying lost races."""
        contributions = self.contributions(people)
        if not contributions:
            return
        for _ in range(MAX_ATTEMPTS):
            operations = fold_operations(theme, contributions, self.stats_rows(theme))
            try:
                with storage_errors():
                    self._table().submit_transaction(operations)
                return
            except TableTransactionError:
                continue
        log.warning("statistics: could not record an erasure after %s attempts", MAX_ATTEMPTS)

    def totals(self) -> dict[tuple[str, str, str], Counts]:
        """(month, theme, area) → counts, over the whole table (read-only)."""
        people: list[tuple[Interest, str, datetime | None]] = []
        groups: dict[tuple[str, str], Group] = {}
        totals: dict[tuple[str, str, str], Counts] = {}

        def add(theme: str, counts: Mapping[StatKey, Counts]) -> None:
            for (month, area), c in counts.items():
                totals.setdefault((month, theme, area), Counts()).add(c)

        with storage_errors():
            rows = self._table().query_entities("Kind eq 'interest' or Kind eq 'group' or Kind eq 'stats'")
            for row in rows:
                kind, theme = row.get("Kind"), row["PartitionKey"]
                if kind == "stats":
                    add(theme, {(row.get("Month", ""), row.get("Area", "")): counts_from_stats_row(row)})
                elif kind == "group":
                    group = Group.from_entity(row)
                    groups[(theme, group.key)] = group
                    add(theme, group_counts(group, self._tz))
                else:
                    interest = Interest.from_entity(row)
                    people.append((interest, interest.group_id or "", entity_timestamp(row)))
        for interest, group_key, timestamp in people:
            add(interest.theme, interest_counts(interest, groups.get((interest.theme, group_key)), timestamp, self._tz))
        return totals

    def csv(self) -> str:
        return statistics_csv_text(self.totals())


# --- the retention service -----------------------------------------------------------------------


@dataclass
class RetentionReport:
    unverified_erased: int = 0
    never_grouped_erased: int = 0
    groups_erased: int = 0  # closed groups whose people were erased
    members_erased: int = 0
    markers_erased: int = 0
    outbox_rows_erased: int = 0
    rate_limit_rows_erased: int = 0
    retries: int = 0

    @property
    def rows_erased(self) -> int:
        return (
            self.unverified_erased
            + self.never_grouped_erased
            + self.members_erased
            + self.markers_erased
            + self.outbox_rows_erased
            + self.rate_limit_rows_erased
        )


@dataclass
class _Partition:
    theme: str
    interests: dict[str, tuple[Interest, Any]] = field(default_factory=dict)  # RowKey → (model, entity)
    groups: dict[str, Group] = field(default_factory=dict)
    markers: dict[str, Any] = field(default_factory=dict)  # RowKey → entity
    outbox: list[Any] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    _marker_of: dict[str, str] = field(default_factory=dict)  # interest RowKey → marker RowKey

    def add_marker(self, entity: Any) -> None:
        self.markers[entity["RowKey"]] = entity
        if entity.get("Interest"):
            self._marker_of[entity["Interest"]] = entity["RowKey"]

    def marker_of(self, interest_key: str) -> Any | None:
        key = self._marker_of.get(interest_key)
        return self.markers.get(key) if key else None

    def forget(self, interest_key: str) -> None:
        self.interests.pop(interest_key, None)
        key = self._marker_of.pop(interest_key, None)
        if key:
            self.markers.pop(key, None)


class _Conflict(Exception):
    """A transaction lost a race: read the partition again."""


class Retention:
    def __init__(
        self,
        *,
        storage: StorageAccount,
        organisation: Organisation,
        rules: RetentionRules,
        statistics: Statistics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._storage = storage
        self._org = organisation
        self._rules = rules
        self._stats = statistics or Statistics(storage, organisation)
        self._clock = clock

    def _table(self) -> Any:
        return self._storage.table(INTERESTS)

    def run(self) -> RetentionReport:
        report = RetentionReport()
        for theme in self._partitions():
            for _ in range(MAX_ATTEMPTS):
                try:
                    self._erase_partition(self._read(theme), self._clock(), report)
                    break
                except _Conflict:
                    report.retries += 1
            else:
                log.warning("retention: a partition kept changing; the next run finishes it")
        report.rate_limit_rows_erased += self._erase_rate_limits(self._clock())
        self._audit(report)
        log.info(
            "retention: %s unverified, %s never grouped, %s members of %s closed groups, %s markers, "
            "%s outbox rows, %s rate-limit rows erased",
            report.unverified_erased,
            report.never_grouped_erased,
            report.members_erased,
            report.groups_erased,
            report.markers_erased,
            report.outbox_rows_erased,
            report.rate_limit_rows_erased,
        )
        return report

    # reading ------------------------------------------------------------------------------------

    def _partitions(self) -> list[str]:
        """Every partition that holds rows, also of themes since removed from the organisation."""
        themes = {t.id for t in self._org.themes}
        with storage_errors():
            for row in self._table().list_entities(select=["PartitionKey"]):
                themes.add(row["PartitionKey"])
        return sorted(themes)

    def _read(self, theme: str) -> _Partition:
        partition = _Partition(theme)
        with storage_errors():
            for row in self._table().query_entities("PartitionKey eq @theme", parameters={"theme": theme}):
                key: str = row["RowKey"]
                if key.startswith(INTEREST_PREFIX):
                    partition.interests[key] = (Interest.from_entity(row), row)
                elif key.startswith(GROUP_PREFIX):
                    partition.groups[key] = Group.from_entity(row)
                elif key.startswith(PHONE_PREFIX):
                    partition.add_marker(row)
                elif key.startswith(OUTBOX_PREFIX):
                    partition.outbox.append(row)
                elif key.startswith(STATS_PREFIX):
                    partition.stats[key] = row
        return partition

    def _reread_stats(self, partition: _Partition, keys: Iterable[str]) -> None:
        with storage_errors():
            for key in keys:
                try:
                    partition.stats[key] = self._table().get_entity(partition.theme, key)
                except ResourceNotFoundError:
                    partition.stats.pop(key, None)

    # erasing ------------------------------------------------------------------------------------

    def _person_ops(self, partition: _Partition, interest: Interest, entity: Any) -> list[tuple]:
        ops: list[tuple] = [
            (
                "delete",
                {"PartitionKey": partition.theme, "RowKey": interest.key},
                {"etag": entity_etag(entity), "match_condition": MatchConditions.IfNotModified},
            )
        ]
        marker = partition.marker_of(interest.key)
        if marker is not None:
            ops.append(
                (
                    "delete",
                    {"PartitionKey": partition.theme, "RowKey": marker["RowKey"]},
                    {"etag": entity_etag(marker), "match_condition": MatchConditions.IfNotModified},
                )
            )
        return ops

    def _commit(self, partition: _Partition, operations: list[tuple], people: list[tuple]) -> None:
        """Submit people's deletions (and whatever else) with their statistics in one transaction."""
        contributions = self._stats.contributions(people)
        folded = fold_operations(partition.theme, contributions, partition.stats)
        try:
            with storage_errors():
                self._table().submit_transaction([*operations, *folded])
        except TableTransactionError:
            raise _Conflict() from None
        self._reread_stats(partition, (op[1]["RowKey"] for op in folded))
        for interest, _group, _ts in people:
            partition.forget(interest.key)

    def _erase_partition(self, partition: _Partition, now: datetime, report: RetentionReport) -> None:
        self._erase_closed_groups(partition, now, report)
        self._erase_people(partition, now, report)
        self._erase_orphan_markers(partition, now, report)
        self._erase_outbox(partition, now, report)

    def _erase_closed_groups(self, partition: _Partition, now: datetime, report: RetentionReport) -> None:
        for group in list(partition.groups.values()):
            if not group_erasure_due(group, now, self._rules):
                continue
            members = [partition.interests[k] for k in group.member_keys if k in partition.interests]
            operations: list[tuple] = []
            for interest, entity in members:
                operations += self._person_ops(partition, interest, entity)
            operations.append(
                (
                    "update",
                    {
                        "PartitionKey": partition.theme,
                        "RowKey": group.key,
                        "MemberKeys": "[]",
                        "MemberCount": 0,
                        "MembersErased": len(group.member_keys),
                        "MembersErasedAt": now,
                        "MeetingPlace": "",
                    },
                    {"mode": UpdateMode.MERGE, "etag": group.etag, "match_condition": MatchConditions.IfNotModified},
                )
            )
            people = [(i, group, entity_timestamp(e)) for i, e in members]
            self._commit(partition, operations, people)
            partition.groups[group.key] = group.model_copy(
                update={"member_keys": (), "members_erased_at": now, "members_erased": len(group.member_keys)}
            )
            report.groups_erased += 1
            report.members_erased += len(members)
            report.markers_erased += sum(1 for op in operations if op[1]["RowKey"].startswith(PHONE_PREFIX))

    def _erase_people(self, partition: _Partition, now: datetime, report: RetentionReport) -> None:
        due: list[tuple[Interest, Any, Group | None, str]] = []
        for interest, entity in partition.interests.values():
            group = partition.groups.get(interest.group_id or "")
            reason = interest_erasure_reason(interest, group, now, self._rules)
            if reason in ("never_grouped", "group_erased") and interest.status is InterestStatus.GROUPED:
                # A claim commits the interest and its group together: read the group again after the
                # interest, so a join that landed during our scan is seen.
                group = self._fresh_group(partition.theme, interest.group_id or "")
                reason = interest_erasure_reason(interest, group, now, self._rules)
            if reason is not None:
                due.append((interest, entity, group, reason))

        batch: list[tuple[Interest, Any, Group | None, str]] = []
        batch_ops: list[tuple] = []
        stat_keys: set[str] = set()

        def flush() -> None:
            if not batch:
                return
            self._commit(partition, batch_ops, [(i, g, entity_timestamp(e)) for i, e, g, _ in batch])
            for _interest, _entity, _group, reason in batch:
                if reason == "unverified":
                    report.unverified_erased += 1
                else:
                    report.never_grouped_erased += 1
            report.markers_erased += sum(1 for op in batch_ops if op[1]["RowKey"].startswith(PHONE_PREFIX))
            batch.clear()
            batch_ops.clear()
            stat_keys.clear()

        for interest, entity, group, reason in due:
            ops = self._person_ops(partition, interest, entity)
            counts = interest_counts(interest, group, entity_timestamp(entity), self._stats.tz)
            keys = {stats_row_key(month, area) for month, area in counts}
            if len(batch_ops) + len(ops) + len(stat_keys | keys) > MAX_OPERATIONS:
                flush()
            batch.append((interest, entity, group, reason))
            batch_ops.extend(ops)
            stat_keys.update(keys)
        flush()

    def _fresh_group(self, theme: str, key: str) -> Group | None:
        if not key:
            return None
        with storage_errors():
            try:
                return Group.from_entity(self._table().get_entity(theme, key))
            except ResourceNotFoundError:
                return None

    def _erase_orphan_markers(self, partition: _Partition, now: datetime, report: RetentionReport) -> None:
        for key, marker in list(partition.markers.items()):
            if marker.get("Interest") in partition.interests:
                continue
            written = entity_timestamp(marker)
            if written is not None and written > now - ORPHAN_MARKER_AGE:
                continue
            try:
                with storage_errors():
                    self._table().delete_entity(
                        partition.theme, key, etag=entity_etag(marker), match_condition=MatchConditions.IfNotModified
                    )
                report.markers_erased += 1
            except (ResourceNotFoundError, ResourceModifiedError):
                pass
            partition.markers.pop(key, None)

    def _erase_outbox(self, partition: _Partition, now: datetime, report: RetentionReport) -> None:
        erased_groups = {k for k, g in partition.groups.items() if g.members_erased_at is not None}
        doomed = [
            row["RowKey"]
            for row in partition.outbox
            if row.get("GroupKey") in erased_groups or outbox_expired(row["CreatedAt"], now, self._rules)
        ]
        for start in range(0, len(doomed), MAX_OPERATIONS):
            chunk = doomed[start : start + MAX_OPERATIONS]
            try:
                with storage_errors():
                    self._table().submit_transaction(
                        [("delete", {"PartitionKey": partition.theme, "RowKey": key}) for key in chunk]
                    )
                report.outbox_rows_erased += len(chunk)
            except TableTransactionError:  # one was deleted meanwhile (an erasure): go one by one
                for key in chunk:
                    try:
                        with storage_errors():
                            self._table().delete_entity(partition.theme, key)
                        report.outbox_rows_erased += 1
                    except ResourceNotFoundError:
                        continue
        gone = set(doomed)
        partition.outbox = [row for row in partition.outbox if row["RowKey"] not in gone]

    def _erase_rate_limits(self, now: datetime) -> int:
        table = self._storage.table(RATE_LIMITS)
        count = 0
        with storage_errors():
            rows = list(
                table.query_entities("ExpiresAt lt @now", parameters={"now": now}, select=["PartitionKey", "RowKey"])
            )
        for row in rows:
            try:
                with storage_errors():
                    table.delete_entity(
                        row["PartitionKey"],
                        row["RowKey"],
                        etag=entity_etag(row),
                        match_condition=MatchConditions.IfNotModified,
                    )
                count += 1
            except (ResourceNotFoundError, ResourceModifiedError):  # renewed (a new hit) or gone meanwhile
                continue
        return count

    def _audit(self, report: RetentionReport) -> None:
        """One audit row per run, in the admin log's shape: counts only."""
        now = self._clock()
        entity = {
            "PartitionKey": now.strftime("%Y-%m"),
            "RowKey": new_sortable_key(),
            "Action": "retention",
            "Outcome": "ok",
            "Actor": "timer",
            "Targets": json.dumps([]),
            "At": now,
            "Count": report.rows_erased,
        }
        try:
            with storage_errors():
                self._storage.table(AUDIT).create_entity(entity)
        except Exception as exc:  # the audit must not undo the erasure
            log.error("retention audit row could not be written: %s", type(exc).__name__)


__all__ = [
    "CSV_COLUMNS",
    "Counts",
    "Retention",
    "RetentionReport",
    "RetentionRules",
    "Statistics",
    "fold_operations",
    "group_counts",
    "group_erasure_due",
    "interest_counts",
    "interest_erasure_reason",
    "median",
    "outbox_expired",
    "statistics_csv_text",
]
