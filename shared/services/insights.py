"""What the statistics page charts: per month, per theme, and groups now on their own.

Read-only. Built on `Statistics.totals()` (live rows plus the counts folded in at erasure), so
the charts say what the CSV says; the one new query counts groups by status.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from shared.adapters.interests import InterestsTable
from shared.core.domain import GroupStatus
from shared.core.organisation import Organisation
from shared.core.statistics import median
from shared.services.statistics import Statistics


@dataclass(frozen=True)
class MonthCount:
    month: str  # "YYYY-MM" in the organisation's time zone
    interests: int  # verified that month
    groups: int  # formed that month


@dataclass(frozen=True)
class ThemeFigure:
    theme: str
    median_days_to_group: float | None  # None: nobody grouped yet
    on_their_own: int  # groups whose facilitator period is over and that go on


@dataclass(frozen=True)
class Insights:
    months: tuple[MonthCount, ...]  # oldest first, no gaps between the first and the last
    themes: tuple[ThemeFigure, ...]  # in the organisation's order


def insights(statistics: Statistics, table: InterestsTable, organisation: Organisation) -> Insights:
    totals = statistics.totals()
    interests: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    days: dict[str, Counter[int]] = {}
    for (month, theme, _area), counts in totals.items():
        interests[month] += counts.verified
        groups[month] += counts.groups_formed
        days.setdefault(theme, Counter()).update(counts.days_to_group)
    months = _every_month(sorted(set(interests) | set(groups)))
    on_own = on_their_own(table)
    return Insights(
        months=tuple(MonthCount(m, interests[m], groups[m]) for m in months),
        themes=tuple(
            ThemeFigure(t.id, median(days.get(t.id, Counter())), on_own.get(t.id, 0)) for t in organisation.themes
        ),
    )


def on_their_own(interests: InterestsTable) -> dict[str, int]:
    """Groups now on their own, per theme."""
    groups = interests.unit().groups(statuses=[GroupStatus.ON_ITS_OWN])
    return dict(Counter(g.theme for g in groups))


def _every_month(months: list[str]) -> list[str]:
    """The months from the first to the last, quiet ones included (a chart with gaps would mislead)."""
    if not months:
        return []
    year, month = (int(p) for p in months[0].split("-"))
    last = months[-1]
    out: list[str] = []
    while True:
        current = f"{year:04d}-{month:02d}"
        out.append(current)
        if current >= last:
            return out
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
