"""The needs map's rules (pure): who could serve a row, the verdicts, the order; the small-numbers rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.core.disclosure import disclosed, needed_publicly, publishable_median
from shared.core.facilitators import Facilitator
from shared.core.needs import AwaitingGroup, Candidate, Verdict, WaitingPerson, majority_locale, needs_map

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def facilitator(name: str, *, areas: list[str], locales: list[str], capacity: int = 2, load: int = 0) -> Candidate:
    f = Facilitator(
        id=name.lower(),
        name=name,
        phone="+46701740610",
        themes=[],
        areas=areas,
        locales=locales,  # type: ignore[arg-type]
        capacity=capacity,
        active=True,
        created_at=NOW,
    )
    return Candidate(f.id, f.name, f, load)


def waiting(area: str, n: int, *, days: int = 0, locale: str = "sv") -> list[WaitingPerson]:
    return [WaitingPerson("stress", area, locale, NOW - timedelta(days=days + i)) for i in range(n)]


def plan(people: list[WaitingPerson], candidates: list[Candidate], awaiting: list[AwaitingGroup] = ()):  # type: ignore[assignment, no-untyped-def]
    return needs_map(people, list(awaiting), candidates, match_by_area=True, group_min=5, default_locale="sv", now=NOW)


def test_nobody_serving_an_area_comes_before_people_short_of_a_group_and_says_how_long() -> None:
    rows = plan(
        waiting("jonkoping", 4) + waiting("vaggeryd", 3, days=40),
        [facilitator("Eva", areas=["jonkoping"], locales=["sv"])],
    )
    assert [(r.area, r.verdict, r.people, r.oldest_days, r.facilitators) for r in rows] == [
        ("vaggeryd", Verdict.TRAIN, 3, 42, ()),
        ("jonkoping", Verdict.RECRUIT, 4, 3, ("Eva",)),
    ]
    assert rows[1].more_needed == 1 and rows[1].free_seats == 2


def test_a_full_facilitator_serves_but_has_no_seat() -> None:
    [row] = plan(waiting("habo", 5), [facilitator("Eva", areas=[], locales=["sv"], capacity=2, load=2)])
    assert (row.verdict, row.free_seats, row.facilitators) == (Verdict.FULL, 0, ("Eva",))


def test_language_matters_for_a_group_awaiting_a_facilitator_in_english() -> None:
    """An English group waits: a Swedish-only facilitator in its area cannot take it."""
    english = AwaitingGroup("stress", "habo", "en", 5, NOW - timedelta(days=10))
    rows = plan(waiting("habo", 2), [facilitator("Eva", areas=["habo"], locales=["sv"])], [english])
    assert [(r.locale, r.verdict, r.groups_awaiting, r.people) for r in rows] == [
        ("en", Verdict.TRAIN, 1, 5),
        ("sv", Verdict.RECRUIT, 0, 2),
    ]


def test_the_group_language_is_what_most_speak_and_a_tie_goes_to_the_default() -> None:
    assert majority_locale(["en", "en", "sv"], "sv") == "en"
    assert majority_locale(["en", "sv"], "sv") == "sv"
    assert majority_locale(["nb", "en"], "sv") == "en"


@pytest.mark.parametrize(("count", "shown"), [(0, "0"), (1, "<5"), (4, "<5"), (5, "5"), (12, "12")])
def test_small_counts_are_withheld_below_the_threshold(count: int, shown: str) -> None:
    assert disclosed(count, 5).csv == shown


@pytest.mark.parametrize(
    ("needed", "group_min", "threshold", "told"),
    [
        (5, 5, 5, 5),  # nobody waits
        (4, 5, 5, None),  # 1 waits
        (1, 5, 5, None),  # 4 wait
        (0, 5, 5, 0),  # a group can start
        (3, 5, 2, 3),  # 2 wait, at a threshold of 2
        (4, 5, 2, None),  # 1 waits
        (3, 8, 5, 3),  # 5 wait, at the threshold
        (4, 8, 5, None),  # 4 wait
        (8, 8, 5, 8),  # nobody waits
    ],
)
def test_how_many_more_are_needed_is_withheld_when_it_tells_a_small_count(
    needed: int, group_min: int, threshold: int, told: int | None
) -> None:
    assert needed_publicly(needed, group_min, threshold) == told


def test_a_median_behind_few_people_is_withheld() -> None:
    assert publishable_median(12.0, 4, 5) is None
    assert publishable_median(12.0, 5, 5) == 12.0


def test_the_threshold_comes_from_the_organisation_file_with_a_default() -> None:
    import json

    from shared.core.organisation import MUNICIPALITIES, OrganisationConfigError, parse_organisation

    document = json.loads((MUNICIPALITIES / "region-jonkoping.json").read_text(encoding="utf-8"))["organisation"]
    assert "small_count_threshold" not in document
    assert parse_organisation(document).small_count_threshold == 5
    assert parse_organisation({**document, "small_count_threshold": 10}).small_count_threshold == 10
    with pytest.raises(OrganisationConfigError, match="small_count_threshold"):
        parse_organisation({**document, "small_count_threshold": 1})  # 1 would withhold nothing
