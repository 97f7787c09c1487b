"""The pure matching core: examples per rule, then properties over random themes."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.matching import (
    Assignment,
    FacilitatorLoad,
    FormationPlan,
    Join,
    MatchingRules,
    NewGroup,
    OpenGroup,
    WaitingInterest,
    group_sizes,
    plan_formation,
)
from tests.support.matching import (
    NOW,
    THEME,
    Scenario,
    check_area_and_locale_come_from_members,
    check_buckets_served_as_queues,
    check_facilitators_chosen_by_rule_within_capacity,
    check_input_order_does_not_matter,
    check_joins_fill_joinable_groups_up_to_max,
    check_new_groups_in_queue_order,
    check_new_groups_within_size_bounds,
    check_nobody_placed_twice,
    scenarios,
)
from tests.support.properties import examples

RULES = MatchingRules(min_size=5, max_size=8, join_window=timedelta(days=14), match_by_area=False, default_locale="sv")
BY_AREA = MatchingRules(min_size=5, max_size=8, join_window=timedelta(days=14), match_by_area=True, default_locale="sv")


def people(
    count: int, *, prefix: str = "i", area: str | None = None, locale: str = "sv", start: int = 0
) -> list[WaitingInterest]:
    """`count` residents queued one minute apart, the first one oldest."""
    return [
        WaitingInterest(
            id=f"{prefix}{k:03d}",
            area=area,
            locale=locale,
            queued_at=NOW - timedelta(days=1) + timedelta(minutes=start + k),
        )
        for k in range(count)
    ]


def facilitator(
    id: str,
    *,
    themes: Sequence[str] = (),
    areas: Sequence[str] = (),
    locales: Sequence[str] = ("sv", "nb", "en"),
    capacity: int = 3,
    active: bool = True,
    group_count: int = 0,
    last_assigned_at: datetime | None = None,
) -> FacilitatorLoad:
    return FacilitatorLoad(
        id=id,
        themes=frozenset(themes),
        areas=frozenset(areas),
        locales=frozenset(locales),
        capacity=capacity,
        active=active,
        group_count=group_count,
        last_assigned_at=last_assigned_at,
    )


def group(
    id: str,
    *,
    members: int = 5,
    age: timedelta = timedelta(days=1),
    area: str | None = None,
    locale: str = "sv",
    facilitator_id: str | None = "f-existing",
) -> OpenGroup:
    return OpenGroup(
        id=id, area=area, locale=locale, member_count=members, formed_at=NOW - age, facilitator_id=facilitator_id
    )


def plan(
    waiting: Sequence[WaitingInterest],
    open_groups: Sequence[OpenGroup] = (),
    facilitators: Sequence[FacilitatorLoad] = (),
    rules: MatchingRules = RULES,
) -> FormationPlan:
    return plan_formation(THEME, waiting, open_groups, facilitators, rules, NOW)


def ids(interests: Sequence[WaitingInterest]) -> tuple[str, ...]:
    return tuple(i.id for i in interests)


# --- rule 5: group sizes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, []), (4, []), (5, [5]), (8, [8]), (9, [8]), (13, [7, 6]), (16, [8, 8]), (17, [6, 6, 5]), (20, [7, 7, 6])],
)
def test_group_sizes_examples(n: int, expected: list[int]) -> None:
    assert group_sizes(n, 5, 8) == expected


def test_group_sizes_rejects_min_above_max() -> None:
    with pytest.raises(ValueError):
        group_sizes(10, 6, 5)


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(1, 12).flatmap(lambda lo: st.tuples(st.just(lo), st.integers(lo, lo + 10), st.integers(0, 200))))
def test_group_sizes_properties(case: tuple[int, int, int]) -> None:
    min_size, max_size, n = case
    sizes = group_sizes(n, min_size, max_size)
    assert all(min_size <= s <= max_size for s in sizes)
    assert sizes == sorted(sizes, reverse=True)
    assert sum(sizes) <= n
    assert n - sum(sizes) < min_size
    if sizes:
        assert max(sizes) - min(sizes) <= 1 or set(sizes) == {max_size}
    # Fewest groups that place the most people: no smaller count of valid groups places as many.
    best_for = {g: min(n, g * max_size) for g in range(n // min_size + 1) if g * min_size <= n}
    most = max(best_for.values())
    assert sum(sizes) == most
    assert len(sizes) == min(g for g, placed in best_for.items() if placed == most)


# --- rules 2 and 5: new groups from the queue -----------------------------------------------


def test_thirteen_waiting_form_seven_and_six_oldest_first() -> None:
    queue = people(13)
    result = plan(list(reversed(queue)))
    assert [g.interest_ids for g in result.new_groups] == [ids(queue[:7]), ids(queue[7:])]
    assert result.joins == () and result.assignments == ()


def test_nine_waiting_form_one_full_group_and_the_youngest_waits() -> None:
    queue = people(9)
    result = plan(queue)
    assert [g.interest_ids for g in result.new_groups] == [ids(queue[:8])]


def test_four_waiting_form_nothing() -> None:
    result = plan(people(4))
    assert result.is_empty
    assert result == FormationPlan((), (), ())


def test_same_registration_time_is_served_by_id() -> None:
    same_time = [WaitingInterest(f"x{k}", None, "sv", NOW - timedelta(hours=1)) for k in (3, 1, 4, 0, 2, 5)]
    result = plan(same_time, rules=RULES)
    assert result.new_groups[0].interest_ids == ("x0", "x1", "x2", "x3", "x4", "x5")


def test_queue_order_is_registration_time_not_id() -> None:
    older = WaitingInterest("z-oldest", None, "sv", NOW - timedelta(days=3))
    queue = [older, *people(5, prefix="a")]
    result = plan(queue)
    assert result.new_groups[0].interest_ids == ("z-oldest", *ids(queue[1:]))


# --- rule 4: joining open groups ------------------------------------------------------------


def test_seats_in_open_groups_go_to_the_oldest_before_new_groups_form() -> None:
    queue = people(7)
    result = plan(queue, [group("g1", members=6)])
    assert result.joins == (Join("g1", ids(queue[:2])),)
    assert [g.interest_ids for g in result.new_groups] == [ids(queue[2:])]


def test_older_groups_fill_first_one_join_per_group() -> None:
    queue = people(4)
    younger = group("g-young", members=6, age=timedelta(days=1))
    older = group("g-old", members=7, age=timedelta(days=5))
    result = plan(queue, [younger, older])
    assert result.joins == (Join("g-old", ids(queue[:1])), Join("g-young", ids(queue[1:3])))
    assert result.new_groups == ()


def test_full_group_takes_nobody() -> None:
    result = plan(people(3), [group("full", members=8)])
    assert result.is_empty


def test_join_window_is_inclusive() -> None:
    queue = people(1)
    on_the_edge = group("edge", members=5, age=RULES.join_window)
    assert plan(queue, [on_the_edge]).joins == (Join("edge", ids(queue)),)
    too_old = group("late", members=5, age=RULES.join_window + timedelta(seconds=1))
    assert plan(queue, [too_old]).is_empty


def test_group_awaiting_a_facilitator_can_still_be_joined() -> None:
    queue = people(2)
    result = plan(queue, [group("g1", members=5, facilitator_id=None)])
    assert result.joins == (Join("g1", ids(queue)),)
    assert result.assignments == ()


def test_joining_ignores_locale_of_the_group() -> None:
    queue = people(1, locale="en")
    assert plan(queue, [group("g1", locale="nb")]).joins == (Join("g1", ids(queue)),)


# --- rule 1: buckets by area ----------------------------------------------------------------


def test_by_area_people_only_meet_their_own_area() -> None:
    north = people(5, prefix="n", area="norr")
    south = people(4, prefix="s", area="syd")
    nowhere = people(5, prefix="x", area=None)
    result = plan([*south, *north, *nowhere], rules=BY_AREA)
    assert sorted((g.area, g.interest_ids) for g in result.new_groups if g.area) == [("norr", ids(north))]
    assert [g.interest_ids for g in result.new_groups if g.area is None] == [ids(nowhere)]
    assert len(result.new_groups) == 2


def test_by_area_joins_stay_in_the_area() -> None:
    south = people(2, area="syd")
    result = plan(south, [group("north", members=5, area="norr"), group("south", members=7, area="syd")], rules=BY_AREA)
    assert result.joins == (Join("south", ids(south[:1])),)


def test_by_area_none_is_its_own_bucket() -> None:
    result = plan(people(2, area=None), [group("north", members=5, area="norr")], rules=BY_AREA)
    assert result.is_empty


def test_without_area_matching_everyone_shares_one_bucket() -> None:
    queue = [*people(3, prefix="n", area="norr"), *people(2, prefix="s", area="syd", start=10)]
    result = plan(queue, [group("south", members=7, area="syd", age=timedelta(days=2))])
    assert result.joins == (Join("south", ("n000",)),)
    assert result.new_groups == ()


def test_without_area_matching_the_group_takes_the_most_common_area() -> None:
    queue = [*people(2, prefix="n", area="norr"), *people(3, prefix="s", area="syd", start=10)]
    assert plan(queue).new_groups[0].area == "syd"


def test_without_area_matching_an_area_tie_goes_to_the_area_sorting_first() -> None:
    queue = [
        *people(2, prefix="s", area="syd"),
        *people(2, prefix="n", area="norr", start=10),
        *people(1, prefix="x", area=None, start=20),
    ]
    assert plan(queue).new_groups[0].area == "norr"


def test_without_area_matching_members_without_area_do_not_outvote_an_area() -> None:
    queue = [*people(4, prefix="x", area=None), *people(1, prefix="s", area="syd", start=10)]
    assert plan(queue).new_groups[0].area == "syd"
    assert plan(people(5, area=None)).new_groups[0].area is None


# --- rule 6: locale -------------------------------------------------------------------------


def test_locale_is_the_most_common_among_members() -> None:
    queue = [*people(3, prefix="n", locale="nb"), *people(2, prefix="s", locale="sv", start=10)]
    assert plan(queue).new_groups[0].locale == "nb"


def test_locale_tie_goes_to_the_default_locale() -> None:
    queue = [
        *people(2, prefix="e", locale="en"),
        *people(2, prefix="s", locale="sv", start=10),
        *people(1, prefix="n", locale="nb", start=20),
    ]
    assert plan(queue).new_groups[0].locale == "sv"


def test_locale_tie_without_the_default_goes_alphabetically() -> None:
    queue = [*people(3, prefix="n", locale="nb"), *people(3, prefix="e", locale="en", start=10)]
    assert plan(queue, rules=RULES).new_groups[0].locale == "en"


# --- rule 7: choosing a facilitator ---------------------------------------------------------


def test_least_loaded_facilitator_wins() -> None:
    busy = facilitator("a-busy", group_count=2, last_assigned_at=NOW - timedelta(days=300))
    free = facilitator("z-free", group_count=1, last_assigned_at=NOW - timedelta(days=1))
    assert plan(people(5), facilitators=[busy, free]).new_groups[0].facilitator_id == "z-free"


def test_equal_load_goes_to_the_longest_since_last_assignment() -> None:
    recent = facilitator("a-recent", group_count=1, last_assigned_at=NOW - timedelta(days=1))
    older = facilitator("z-older", group_count=1, last_assigned_at=NOW - timedelta(days=9))
    assert plan(people(5), facilitators=[recent, older]).new_groups[0].facilitator_id == "z-older"


def test_never_assigned_counts_as_longest_ago() -> None:
    old = facilitator("a-old", last_assigned_at=datetime(2000, 1, 1, tzinfo=UTC))
    never = facilitator("z-never")
    assert plan(people(5), facilitators=[old, never]).new_groups[0].facilitator_id == "z-never"


def test_full_tie_goes_by_id() -> None:
    result = plan(people(5), facilitators=[facilitator("f-b"), facilitator("f-a")])
    assert result.new_groups[0].facilitator_id == "f-a"


def test_facilitator_at_capacity_is_passed_over() -> None:
    full = facilitator("a-full", capacity=2, group_count=2)
    other = facilitator("z-other", group_count=2, capacity=3)
    assert plan(people(5), facilitators=[full, other]).new_groups[0].facilitator_id == "z-other"


def test_capacity_used_earlier_in_the_plan_counts() -> None:
    result = plan(people(16), facilitators=[facilitator("only", capacity=1)])
    assert [g.facilitator_id for g in result.new_groups] == ["only", None]


def test_assignment_in_the_plan_updates_load_and_last_assignment() -> None:
    # a-old is free now; once given a group it is as loaded as z-later but assigned more recently.
    a = facilitator("a-old", group_count=0, last_assigned_at=NOW - timedelta(days=30))
    z = facilitator("z-later", group_count=1, last_assigned_at=NOW - timedelta(days=10))
    result = plan(people(16), facilitators=[a, z])
    assert [g.facilitator_id for g in result.new_groups] == ["a-old", "z-later"]


def test_the_oldest_waiting_group_gets_the_scarce_facilitator_across_areas() -> None:
    south = people(5, prefix="s", area="syd")
    north = people(5, prefix="n", area="norr", start=-60)
    result = plan([*south, *north], facilitators=[facilitator("only", capacity=1)], rules=BY_AREA)
    assert [(g.area, g.facilitator_id) for g in result.new_groups] == [("norr", "only"), ("syd", None)]


def test_new_groups_choose_facilitators_in_order_of_their_oldest_member() -> None:
    early_north = people(5, prefix="n1-", area="norr", start=0)
    south = people(5, prefix="s-", area="syd", start=10)
    late_north = people(5, prefix="n2-", area="norr", start=20)
    result = plan([*late_north, *south, *early_north], facilitators=[facilitator("only", capacity=2)], rules=BY_AREA)
    assert [(g.interest_ids, g.facilitator_id) for g in result.new_groups] == [
        (ids(early_north), "only"),
        (ids(south), "only"),
        (ids(late_north), None),
    ]


def test_load_given_in_one_area_counts_when_choosing_in_another() -> None:
    # Both cover every area. a takes north-1 (tie by id), b takes south, and for north-2 both
    # carry one new group assigned now: the tie goes back to a by id.
    awaiting = [
        group("north-1", area="norr", facilitator_id=None, age=timedelta(days=3)),
        group("south", area="syd", facilitator_id=None, age=timedelta(days=2)),
        group("north-2", area="norr", facilitator_id=None, age=timedelta(days=1)),
    ]
    result = plan([], awaiting, [facilitator("a"), facilitator("b")], rules=BY_AREA)
    assert result.assignments == (Assignment("north-1", "a"), Assignment("south", "b"), Assignment("north-2", "a"))


@pytest.mark.parametrize(
    "unfit",
    [
        facilitator("inactive", active=False),
        facilitator("other-theme", themes=["skilsmässa"]),
        facilitator("other-area", areas=["syd"]),
        facilitator("other-locale", locales=["nb", "en"]),
        facilitator("no-room", capacity=1, group_count=1),
        facilitator("no-capacity", capacity=0),
    ],
    ids=lambda f: f.id,
)
def test_unfit_facilitator_leaves_the_group_awaiting(unfit: FacilitatorLoad) -> None:
    result = plan(people(5, area="norr", locale="sv"), facilitators=[unfit], rules=BY_AREA)
    assert result.new_groups == (NewGroup("norr", "sv", ids(people(5, area="norr")), None),)


@pytest.mark.parametrize(
    "fit",
    [
        facilitator("trained-for-all"),
        facilitator("trained-for-theme", themes=["skilsmässa", THEME]),
        facilitator("covers-area", areas=["norr", "syd"]),
        facilitator("speaks-sv", locales=["sv"]),
    ],
    ids=lambda f: f.id,
)
def test_fit_facilitator_is_chosen(fit: FacilitatorLoad) -> None:
    result = plan(people(5, area="norr"), facilitators=[fit], rules=BY_AREA)
    assert result.new_groups[0].facilitator_id == fit.id


def test_group_without_area_is_covered_by_an_area_bound_facilitator() -> None:
    result = plan(people(5, area=None), facilitators=[facilitator("norr-only", areas=["norr"])], rules=BY_AREA)
    assert result.new_groups[0].facilitator_id == "norr-only"


def test_facilitator_choice_uses_the_groups_majority_area() -> None:
    queue = [*people(3, prefix="s", area="syd"), *people(2, prefix="n", area="norr", start=10)]
    result = plan(queue, facilitators=[facilitator("north", areas=["norr"]), facilitator("south", areas=["syd"])])
    assert (result.new_groups[0].area, result.new_groups[0].facilitator_id) == ("syd", "south")


# --- rule 3: existing groups awaiting a facilitator -----------------------------------------


def test_awaiting_groups_get_facilitators_oldest_first() -> None:
    young = group("young", facilitator_id=None, age=timedelta(days=1))
    old = group("old", facilitator_id=None, age=timedelta(days=40))
    staffed = group("staffed", facilitator_id="someone", age=timedelta(days=90))
    result = plan([], [young, old, staffed], [facilitator("only", capacity=1)])
    assert result.assignments == (Assignment("old", "only"),)
    assert not result.is_empty


def test_awaiting_groups_are_served_before_new_groups() -> None:
    waiting_group = group("g1", members=8, facilitator_id=None)
    result = plan(people(5), [waiting_group], [facilitator("only", capacity=1)])
    assert result.assignments == (Assignment("g1", "only"),)
    assert result.new_groups[0].facilitator_id is None


def test_awaiting_group_assignment_respects_its_area_and_locale() -> None:
    awaiting = group("g1", members=8, area="syd", locale="nb", facilitator_id=None)
    candidates = [
        facilitator("a-north", areas=["norr"]),
        facilitator("b-swedish", locales=["sv"]),
        facilitator("c-fits", areas=["syd"], locales=["nb"], group_count=2),
    ]
    assert plan([], [awaiting], candidates).assignments == (Assignment("g1", "c-fits"),)


def test_awaiting_group_with_nobody_eligible_gets_no_assignment() -> None:
    awaiting = group("g1", facilitator_id=None, locale="en")
    assert plan([], [awaiting], [facilitator("sv-only", locales=["sv"])]).is_empty


# --- rule 8: validation and determinism -----------------------------------------------------


def test_duplicate_interest_ids_are_rejected() -> None:
    twice = people(5)
    with pytest.raises(ValueError, match="i000"):
        plan([*twice, twice[0]])


def test_min_size_above_max_size_is_rejected() -> None:
    with pytest.raises(ValueError):
        plan(people(5), rules=MatchingRules(9, 8, timedelta(days=14), False, "sv"))


def test_min_size_below_one_is_rejected() -> None:
    with pytest.raises(ValueError):
        plan(people(5), rules=MatchingRules(0, 8, timedelta(days=14), False, "sv"))


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=examples(200), deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_plan_properties(s: Scenario, rnd: random.Random) -> None:
    result = s.plan()
    check_new_groups_within_size_bounds(s, result)
    check_nobody_placed_twice(s, result)
    check_joins_fill_joinable_groups_up_to_max(s, result)
    check_buckets_served_as_queues(s, result)
    check_new_groups_in_queue_order(s, result)
    check_area_and_locale_come_from_members(s, result)
    check_facilitators_chosen_by_rule_within_capacity(s, result)
    check_input_order_does_not_matter(s, result, rnd)
    assert result.is_empty == (not result.joins and not result.new_groups and not result.assignments)
