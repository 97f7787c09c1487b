"""How long a newcomer usually waits for a group, from the organisation's own history (pure: no I/O).

Issue 23 item 2. The figure is the median of the days from verification to a group of the people who
got one in the last twelve months (the current month and the eleven before it), per theme, and per
theme and area when the organisation matches by area. It comes from the statistics' days-to-group
histograms (core/statistics.py), which survive the people they count.

The rule, stated once: a wait is said only when at least `minimum_history(organisation)` people
(the organisation's `small_count_threshold`) got a group in that theme (and area) in those twelve
months. Fewer would be one or two people's stories told as a promise, and would come close to telling
one person's wait (the same small-numbers rule as core/disclosure.py). Below it, nothing is said.

It is rounded to what a person plans by: days under two weeks, weeks under three months, then
months. The sentence depends on the theme (and area) alone, never on who asks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shared.core.organisation import Organisation
from shared.core.statistics import Counts, median

Unit = Literal["days", "weeks", "months"]
HISTORY_MONTHS = 12
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class ExpectedWait:
    unit: Unit
    amount: int

    @property
    def catalog_key(self) -> str:
        """The plural key of the sentence in the residents' catalogs (`expected_wait_weeks_one`, …)."""
        return f"expected_wait_{self.unit}"


def minimum_history(organisation: Organisation) -> int:
    """People who got a group in the window before a wait is said (the small-numbers threshold)."""
    return organisation.small_count_threshold


def in_plain_units(days: float) -> ExpectedWait:
    """Days under 14, whole weeks under about three months, then whole months; never "0"."""
    if days < 14:
        return ExpectedWait("days", max(1, round(days)))
    if days < 3 * DAYS_PER_MONTH:
        return ExpectedWait("weeks", max(2, round(days / 7)))
    return ExpectedWait("months", max(3, round(days / DAYS_PER_MONTH)))


def first_month(this_month: str, months: int = HISTORY_MONTHS) -> str:
    """The first "YYYY-MM" of a window of `months` months that ends with `this_month`."""
    year, month = (int(part) for part in this_month.split("-"))
    index = year * 12 + (month - 1) - (months - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def bucket(theme: str, area: str | None, by_area: bool) -> str:
    """Where a wait is kept: the theme, or "theme/area" when the organisation matches by area."""
    return f"{theme}/{area}" if by_area and area else theme


def expected_waits(
    totals: Mapping[tuple[str, str, str], Counts], *, this_month: str, by_area: bool, minimum: int
) -> dict[str, ExpectedWait]:
    """Bucket → expected wait, for the buckets with at least `minimum` people grouped in the window.

    `totals` is the statistics' (month, theme, area) → counts. With `by_area` a bucket is theme and
    area and counts only that area's people; without it, a theme counts every area's."""
    since = first_month(this_month)
    days: dict[str, Counter[int]] = {}
    for (month, theme, area), counts in totals.items():
        if since <= month <= this_month and counts.days_to_group:
            days.setdefault(bucket(theme, area or None, by_area), Counter()).update(counts.days_to_group)
    waits: dict[str, ExpectedWait] = {}
    for key, histogram in days.items():
        grouped = sum(n for n in histogram.values() if n > 0)
        middle = median(histogram)
        if grouped >= minimum and middle is not None:
            waits[key] = in_plain_units(middle)
    return waits


__all__ = ["ExpectedWait", "bucket", "expected_waits", "first_month", "in_plain_units", "minimum_history"]
