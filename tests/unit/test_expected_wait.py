"""The expected wait's rule (issue 23.2): said only past the history threshold, in plain rounded units."""

from __future__ import annotations

from collections import Counter

import pytest

from shared.core import i18n
from shared.core.expected_wait import ExpectedWait, expected_waits, first_month, in_plain_units
from shared.core.statistics import Counts


def grouped(**days: int) -> Counts:
    """Counts of people grouped after the given days: grouped(d20=3) is three people who waited 20 days."""
    return Counts(days_to_group=Counter({int(k[1:]): n for k, n in days.items()}))


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, ExpectedWait("days", 1)),
        (0.4, ExpectedWait("days", 1)),
        (3, ExpectedWait("days", 3)),
        (13.4, ExpectedWait("days", 13)),
        (13.9, ExpectedWait("days", 14)),
        (14, ExpectedWait("weeks", 2)),
        (20, ExpectedWait("weeks", 3)),
        (63, ExpectedWait("weeks", 9)),
        (91, ExpectedWait("weeks", 13)),
        (92, ExpectedWait("months", 3)),
        (200, ExpectedWait("months", 7)),
        (400, ExpectedWait("months", 13)),
    ],
)
def test_rounded_to_days_then_weeks_then_months(days: float, expected: ExpectedWait) -> None:
    assert in_plain_units(days) == expected


def test_the_window_is_the_current_month_and_the_eleven_before() -> None:
    assert first_month("2026-12") == "2026-01"
    assert first_month("2026-03") == "2025-04"
    assert first_month("2026-01") == "2025-02"


def test_said_only_from_the_threshold_of_people_grouped() -> None:
    totals = {
        ("2026-11", "stress", ""): grouped(d20=3),
        ("2026-10", "stress", ""): grouped(d22=2),  # five in all: said
        ("2026-11", "anhorig", ""): grouped(d5=4),  # four: not said
    }
    waits = expected_waits(totals, this_month="2026-12", by_area=False, minimum=5)
    assert waits == {"stress": ExpectedWait("weeks", 3)}


def test_history_older_than_a_year_does_not_count() -> None:
    totals = {
        ("2025-12", "stress", ""): grouped(d200=10),  # thirteen months back
        ("2026-01", "stress", ""): grouped(d10=4),
    }
    assert expected_waits(totals, this_month="2026-12", by_area=False, minimum=5) == {}
    totals[("2026-12", "stress", "")] = grouped(d30=1)
    assert expected_waits(totals, this_month="2026-12", by_area=False, minimum=5) == {
        "stress": ExpectedWait("days", 10)
    }


def test_by_area_each_area_needs_its_own_history() -> None:
    totals = {
        ("2026-11", "stress", "vaggeryd"): grouped(d20=5),
        ("2026-11", "stress", "habo"): grouped(d100=4),
    }
    assert expected_waits(totals, this_month="2026-12", by_area=True, minimum=5) == {
        "stress/vaggeryd": ExpectedWait("weeks", 3)
    }
    # Without matching by area the theme's people are counted together: nine, median 20 days.
    assert expected_waits(totals, this_month="2026-12", by_area=False, minimum=5) == {
        "stress": ExpectedWait("weeks", 3)
    }


def test_registrations_without_a_group_tell_nothing() -> None:
    totals = {("2026-11", "stress", ""): Counts(registrations=40, verified=40, groups_formed=0)}
    assert expected_waits(totals, this_month="2026-12", by_area=False, minimum=5) == {}


@pytest.mark.parametrize("locale", i18n.LOCALES)
@pytest.mark.parametrize("unit", ["days", "weeks", "months"])
def test_every_language_says_every_unit(locale: str, unit: str) -> None:
    one = i18n.plural(locale, f"expected_wait_{unit}", 1)
    many = i18n.plural(locale, f"expected_wait_{unit}", 3)
    assert "3" in many and "3" not in one and one != many
    assert i18n.plural(locale, f"expected_wait_{unit}", 1) != i18n.plural(locale, f"expected_wait_{unit}", 2)
