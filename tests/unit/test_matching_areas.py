"""Near first, then wider: matching by area with `area_wait` and neighbours.

Examples per rule, then properties over random scenarios: nobody waits past the wait while
a wider group could form; no group mixes areas before the wait; and the properties of plain
matching (tests/unit/test_matching.py) still hold.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.matching import (
    FacilitatorLoad,
    FormationPlan,
    Join,
    MatchingRules,
    OpenGroup,
    WaitingInterest,
    plan_formation,
)
from shared.core.widening import symmetric
from tests.support import matching as plain
from tests.support.properties import examples

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
THEME = plain.THEME
WAIT = timedelta(days=30)
# A line of areas a - b - c, and d on its own.
LINE = symmetric({"a": ["b"], "b": ["c"]})
RULES = MatchingRules(
    min_size=5,
    max_size=8,
    join_window=timedelta(days=14),
    match_by_area=True,
    default_locale="sv",
    area_wait=WAIT,
    neighbours=LINE,
)


def people(count: int, area: str | None, *, waited: timedelta, prefix: str | None = None) -> list[WaitingInterest]:
    """`count` residents of `area`, the youngest verified `waited` ago, the others a minute apart before."""
    prefix = prefix or f"{area}-{waited.days}d-"
    return [
        WaitingInterest(f"{prefix}{k}", area, "sv", NOW - waited - timedelta(minutes=count - k)) for k in range(count)
    ]


def plan(waiting: list[WaitingInterest], open_groups: list[OpenGroup] = (), rules: MatchingRules = RULES):  # type: ignore[assignment]
    return plan_formation(THEME, waiting, list(open_groups), [], rules, NOW)


def ids(interests: list[WaitingInterest]) -> tuple[str, ...]:
    return tuple(i.id for i in interests)


# --- examples -------------------------------------------------------------------------------


def test_before_the_wait_nobody_leaves_their_area() -> None:
    home = people(4, "a", waited=WAIT - timedelta(hours=1))
    near = people(4, "b", waited=WAIT - timedelta(hours=1))
    assert plan([*home, *near]).is_empty


def test_after_the_wait_an_overdue_neighbour_completes_a_group_in_their_neighbours_area() -> None:
    local = people(4, "b", waited=timedelta(days=1))
    overdue = people(1, "a", waited=WAIT)
    [group] = plan([*local, *overdue]).new_groups
    assert group.area == "b"
    assert set(group.interest_ids) == set(ids(local + overdue))


def test_the_wait_counts_from_verification_not_registration() -> None:
    registered_long_ago = WaitingInterest(
        "late-verifier", "a", "sv", NOW - 2 * WAIT, verified_at=NOW - timedelta(days=1)
    )
    local = people(4, "b", waited=timedelta(days=1))
    assert plan([*local, registered_long_ago]).is_empty


def test_a_neighbouring_area_comes_before_the_rest_of_the_region() -> None:
    overdue = people(1, "b", waited=WAIT)
    far = people(4, "d", waited=timedelta(days=1), prefix="d-")
    near = people(4, "a", waited=timedelta(days=1), prefix="a-")
    [group] = plan([*overdue, *far, *near]).new_groups
    assert group.area == "a"
    assert set(group.interest_ids) == set(ids(overdue + near))


def test_failing_a_neighbour_the_region_takes_them() -> None:
    overdue = people(1, "a", waited=WAIT)
    far = people(4, "d", waited=timedelta(days=1))
    [group] = plan([*overdue, *far]).new_groups
    assert group.area == "d"


def test_overdue_people_of_scattered_areas_form_a_group_of_their_own() -> None:
    scattered = [*people(2, "a", waited=WAIT), *people(2, "c", waited=WAIT), *people(1, "d", waited=WAIT)]
    [group] = plan(scattered).new_groups
    assert sorted(group.interest_ids) == sorted(ids(scattered))


def test_a_free_seat_in_a_neighbouring_group_comes_before_a_new_group_far_away() -> None:
    overdue = people(1, "a", waited=WAIT)
    far = people(4, "d", waited=timedelta(days=1))
    seat = OpenGroup("g-b", "b", "sv", 7, NOW - timedelta(days=2), "f")
    result = plan([*overdue, *far], [seat])
    assert result.joins == (Join("g-b", ids(overdue)),)
    assert result.new_groups == ()


def test_without_area_wait_areas_stay_apart_forever() -> None:
    strict = MatchingRules(5, 8, timedelta(days=14), True, "sv")
    assert plan([*people(4, "a", waited=10 * WAIT), *people(4, "b", waited=10 * WAIT)], rules=strict).is_empty


def test_symmetric_completes_one_sided_relations_and_drops_self_loops() -> None:
    assert symmetric({"a": ["b", "a"], "c": ["b"]}) == {
        "a": frozenset({"b"}),
        "b": frozenset({"a", "c"}),
        "c": frozenset({"b"}),
    }


# --- properties -----------------------------------------------------------------------------

AREAS = ["norr", "mitt", "syd", "vast", None]
NEIGHBOURS = symmetric({"norr": ["mitt"], "mitt": ["syd"]})  # vast has no neighbour


@dataclass
class Scenario(plain.Scenario):
    def overdue(self, w: WaitingInterest) -> bool:
        assert self.rules.area_wait is not None
        return NOW - w.waiting_since >= self.rules.area_wait


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    min_size = draw(st.integers(1, 6))
    max_size = draw(st.integers(min_size, min_size + 4))
    wait = timedelta(days=draw(st.integers(1, 40)))
    rules = MatchingRules(min_size, max_size, timedelta(days=14), True, "sv", wait, NEIGHBOURS)
    same_times = draw(st.booleans())
    fields = st.tuples(
        st.sampled_from(AREAS),
        st.sampled_from(plain.LOCALES),
        st.integers(0, 60),
        st.integers(0, 0 if same_times else 30),
    )
    waiting = [
        # Verified `late` days after registering; few distinct days, so ties are common.
        WaitingInterest(
            f"i{k}",
            area,
            locale,
            NOW - timedelta(days=days),
            NOW - timedelta(days=days) + timedelta(days=late),
        )
        for k, (area, locale, days, late) in enumerate(draw(st.lists(fields, max_size=40)))
        if late <= days
    ]
    open_groups = [
        OpenGroup(f"g{k}", area, locale, min(members, max_size + 1), NOW - timedelta(days=d), None if awaiting else "x")
        for k, (area, locale, members, d, awaiting) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(AREAS),
                        st.sampled_from(plain.LOCALES),
                        st.integers(0, 10),
                        st.integers(0, 20),
                        st.booleans(),
                    ),
                    max_size=5,
                )
            )
        )
    ]
    facilitators = [
        FacilitatorLoad(f"f{k}", frozenset(), frozenset(areas), frozenset(locales), cap, True, 0, None)
        for k, (areas, locales, cap) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        st.sets(st.sampled_from(["norr", "mitt", "syd", "vast"])),
                        st.sets(st.sampled_from(plain.LOCALES), min_size=1),
                        st.integers(0, 3),
                    ),
                    max_size=4,
                )
            )
        )
    ]
    return Scenario(waiting, open_groups, facilitators, rules)


def placements(s: Scenario, result: FormationPlan) -> list[tuple[str | None, list[WaitingInterest]]]:
    """Every group that gets people in this plan, with its area and the people it gets."""
    by_id = {w.id: w for w in s.waiting}
    areas = {g.id: g.area for g in s.open_groups}
    placed = [(areas[j.group_id], [by_id[i] for i in j.interest_ids]) for j in result.joins]
    return placed + [(g.area, [by_id[i] for i in g.interest_ids]) for g in result.new_groups]


def check_no_group_mixes_areas_before_the_wait(s: Scenario, result: FormationPlan) -> None:
    for area, members in placements(s, result):
        for m in members:
            assert m.area == area or s.overdue(m), f"{m.id} left {m.area} for {area} before the wait"


def check_nobody_waits_past_the_wait_while_a_wider_group_could_form(s: Scenario, result: FormationPlan) -> None:
    placed = {m.id for _, members in placements(s, result) for m in members}
    unplaced = [w for w in s.waiting if w.id not in placed]
    overdue = [w for w in unplaced if s.overdue(w)]
    if not overdue:
        return
    # No seat is left anywhere: an overdue person may take any.
    joined = Counter({j.group_id: len(j.interest_ids) for j in result.joins})
    for g in s.open_groups:
        if s.joinable(g):
            assert g.member_count + joined[g.id] == s.rules.max_size, "an overdue person waits beside a free seat"
    # No new group could form in any area from its own people plus every overdue person.
    assert len(overdue) < s.rules.min_size
    for area in {w.area for w in unplaced}:
        here = [w for w in unplaced if w.area == area or s.overdue(w)]
        assert len(here) < s.rules.min_size, f"a group could still form in {area}"


def check_served_oldest_first_within_area_and_wait(s: Scenario, result: FormationPlan) -> None:
    """Of two people of one area on the same side of the wait, the older is never passed over."""
    placed = {m.id for _, members in placements(s, result) for m in members}
    for key in {(w.area, s.overdue(w)) for w in s.waiting}:
        queue = sorted((w for w in s.waiting if (w.area, s.overdue(w)) == key), key=lambda w: (w.queued_at, w.id))
        served = [w.id for w in queue if w.id in placed]
        assert served == [w.id for w in queue[: len(served)]], f"someone younger in {key} went first"


def check_new_groups_keep_an_area_and_the_common_locale(s: Scenario, result: FormationPlan) -> None:
    by_id = {w.id: w for w in s.waiting}
    for g in result.new_groups:
        members = [by_id[i] for i in g.interest_ids]
        assert any(m.area == g.area for m in members) or all(s.overdue(m) for m in members)
        locales = Counter(m.locale for m in members)
        assert locales[g.locale] == max(locales.values())


@settings(max_examples=examples(300), deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_area_matching_properties(s: Scenario, rnd: random.Random) -> None:
    result = s.plan()
    check_no_group_mixes_areas_before_the_wait(s, result)
    check_nobody_waits_past_the_wait_while_a_wider_group_could_form(s, result)
    check_served_oldest_first_within_area_and_wait(s, result)
    check_new_groups_keep_an_area_and_the_common_locale(s, result)
    # The properties of plain matching still hold.
    plain.check_new_groups_within_size_bounds(s, result)
    plain.check_nobody_placed_twice(s, result)
    plain.check_joins_fill_joinable_groups_up_to_max(s, result)
    plain.check_new_groups_in_queue_order(s, result)
    plain.check_facilitators_chosen_by_rule_within_capacity(s, result)
    plain.check_input_order_does_not_matter(s, result, rnd)


@settings(max_examples=examples(100), deadline=None)
@given(scenarios())
def test_before_anyone_is_overdue_plans_are_exactly_those_of_strict_area_matching(s: Scenario) -> None:
    assert s.rules.area_wait is not None
    fresh = [w for w in s.waiting if not s.overdue(w)]
    strict = MatchingRules(s.rules.min_size, s.rules.max_size, s.rules.join_window, True, "sv")
    assert plan_formation(THEME, fresh, s.open_groups, s.facilitators, s.rules, NOW) == plan_formation(
        THEME, fresh, s.open_groups, s.facilitators, strict, NOW
    )


def test_a_neighbour_takes_only_the_seats_left_after_the_groups_own_area_joined() -> None:
    # Found by `make mutate`: counting the home joiners as free seats overfilled the group. A group in
    # `a` with 5 members gets 2 joiners of its own; 3 of `b` waited past the wait, and only 1 seat is left.
    group = OpenGroup("g-a", "a", "sv", 5, NOW - timedelta(days=1), "f1")
    home = people(2, "a", waited=timedelta(days=1))
    near = people(3, "b", waited=WAIT + timedelta(days=1))
    result = plan([*home, *near], [group])
    joined = [i for j in result.joins if j.group_id == "g-a" for i in j.interest_ids]
    assert sorted(joined) == sorted([*ids(home), near[0].id])  # the longest-waiting neighbour, and no more
    assert group.member_count + len(joined) == RULES.max_size
