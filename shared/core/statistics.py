"""Aggregate counts that outlive the people they count (pure): registrations, verifications,
groups formed and days waited, by month and area. Statistics rows (adapters/entities) store them.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from shared.core.disclosure import disclosed, publishable_median
from shared.core.domain import Group, Interest, InterestStatus


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


CSV_COLUMNS = ("month", "theme", "area", "registrations", "verified", "groups_formed", "median_days_to_group")


def statistics_csv_text(totals: Mapping[tuple[str, str, str], Counts], threshold: int | None = None) -> str:
    """One line per month, theme and area. Ids and counts only: no person can be read out of it.

    With a `threshold` (the export that leaves the service) every count goes through the small-numbers
    rule (core/disclosure.py), and a median behind fewer people than the threshold is left out."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)

    def count(n: int) -> int | str:
        return n if threshold is None else disclosed(n, threshold).csv

    for (month, theme, area), c in sorted(totals.items()):
        m = c.median_days_to_group
        if threshold is not None:
            m = publishable_median(m, sum(c.days_to_group.values()), threshold)
        shown = "" if m is None else (f"{m:.0f}" if m == int(m) else f"{m:.1f}")
        writer.writerow([month, theme, area, count(c.registrations), count(c.verified), count(c.groups_formed), shown])
    return out.getvalue()
