"""Aggregate counts by month, theme and area: live rows plus what erasure folded into stats rows.

Registrations, verifications and days-to-group are counted from the interest rows themselves
while they live; the moment a row is erased its contribution is added to a statistics row *in the
same entity-group transaction* that deletes it (`stats.<YYYY-MM>.<area>` in the theme's partition,
ETag-conditioned, so two erasures racing cannot lose or double an increment). Groups are counted
from group rows, which are never deleted. So the export is always `live rows + stats rows`, and
erasure moves counts from one to the other without changing the sum. Every path that deletes an
interest goes through `services/membership.py`, which folds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo

from shared.adapters.interests import InterestsTable
from shared.adapters.unit_of_work import ChangeSet
from shared.core.domain import Group, Interest
from shared.core.local_time import organisation_tz
from shared.core.organisation import Organisation
from shared.core.statistics import (
    Counts,
    StatKey,
    group_counts,
    interest_counts,
    merge_counts,
    statistics_csv_text,
)

Person = tuple[Interest, Group | None, datetime | None]  # who, their group, when their row was last written


class Statistics:
    def __init__(self, interests: InterestsTable, organisation: Organisation) -> None:
        self._interests = interests
        self._tz = organisation_tz(organisation)

    @property
    def tz(self) -> tzinfo:
        return self._tz

    def contributions(self, people: Iterable[Person]) -> dict[StatKey, Counts]:
        total: dict[StatKey, Counts] = {}
        for interest, group, timestamp in people:
            merge_counts(total, interest_counts(interest, group, timestamp, self._tz))
        return total

    def fold_into(self, change: ChangeSet, people: Iterable[Person]) -> None:
        """Add `people`'s counts to the change that deletes them, so their counts survive them."""
        contributions = self.contributions(people)
        if contributions:
            change.add_to_stats(contributions)

    def totals(self) -> dict[tuple[str, str, str], Counts]:
        """(month, theme, area) → counts, over the whole table (read-only)."""
        rows = self._interests.unit()
        interests, groups, stats = rows.counted()
        totals: dict[tuple[str, str, str], Counts] = {}

        def add(theme: str, counts: Mapping[StatKey, Counts]) -> None:
            for (month, area), c in counts.items():
                totals.setdefault((month, theme, area), Counts()).add(c)

        for theme, key, counts in stats:
            add(theme, {key: counts})
        by_key = {(g.theme, g.key): g for g in groups}
        for group in groups:
            add(group.theme, group_counts(group, self._tz))
        for interest in interests:
            placed_in = by_key.get((interest.theme, interest.group_id or ""))
            stamp = rows.written_at(interest.theme, interest.key)
            add(interest.theme, interest_counts(interest, placed_in, stamp, self._tz))
        return totals

    def csv(self) -> str:
        return statistics_csv_text(self.totals())


__all__ = ["Person", "Statistics"]
