"""The matching properties and the random scenarios they run on, shared by the plain matching tests
and the area-widening tests."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from shared.core.matching import (
    FacilitatorLoad,
    FormationPlan,
    MatchingRules,
    OpenGroup,
    WaitingInterest,
    plan_formation,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
THEME = "stress"

AREAS = ["norr", "syd", None]
LOCALES = ["sv", "nb", "en"]


@dataclass
class Scenario:
    waiting: list[WaitingInterest]
    open_groups: list[OpenGroup]
    facilitators: list[FacilitatorLoad]
    rules: MatchingRules

    def plan(self) -> FormationPlan:
        return plan_formation(THEME, self.waiting, self.open_groups, self.facilitators, self.rules, NOW)

    def bucket(self, area: str | None) -> str | None:
        return area if self.rules.match_by_area else None

    def joinable(self, g: OpenGroup) -> bool:
        return g.member_count < self.rules.max_size and NOW - g.formed_at <= self.rules.join_window


# Drawn as flat tuples: far cheaper for hypothesis than one draw per field.
interest_fields = st.tuples(st.sampled_from(AREAS), st.sampled_from(LOCALES), st.integers(0, 30))
group_fields = st.tuples(
    st.sampled_from(AREAS), st.sampled_from(LOCALES), st.integers(0, 10), st.integers(0, 20), st.booleans()
)
facilitator_fields = st.tuples(
    st.sets(st.sampled_from([THEME, "annat"])),
    st.sets(st.sampled_from(["norr", "syd"])),
    st.sets(st.sampled_from(LOCALES), min_size=1),
    st.integers(0, 3),
    st.booleans(),
    st.integers(0, 3),
    st.none() | st.integers(1, 5),
)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    min_size = draw(st.integers(1, 6))
    max_size = draw(st.integers(min_size, min_size + 4))
    rules = MatchingRules(min_size, max_size, timedelta(days=14), draw(st.booleans()), draw(st.sampled_from(LOCALES)))
    waiting = [
        # Few distinct registration times, so ties broken by id are common.
        WaitingInterest(f"i{k}", area, locale, NOW - timedelta(minutes=minutes))
        for k, (area, locale, minutes) in enumerate(draw(st.lists(interest_fields, max_size=40)))
    ]
    open_groups = [
        OpenGroup(
            f"g{k}",
            area,
            locale,
            min(members, max_size + 1),
            NOW - timedelta(days=days),
            None if awaiting else "someone",
        )
        for k, (area, locale, members, days, awaiting) in enumerate(draw(st.lists(group_fields, max_size=5)))
    ]
    facilitators = [
        FacilitatorLoad(
            f"f{k}",
            frozenset(themes),
            frozenset(areas),
            frozenset(locales),
            capacity,
            active,
            count,
            None if days is None else NOW - timedelta(days=days),
        )
        for k, (themes, areas, locales, capacity, active, count, days) in enumerate(
            draw(st.lists(facilitator_fields, max_size=6))
        )
    ]
    return Scenario(waiting, open_groups, facilitators, rules)


# Each check below is one property. They share one generated scenario per example, since
# generating scenarios is most of the cost: this keeps the file at a few seconds.


def check_new_groups_within_size_bounds(s: Scenario, result: FormationPlan) -> None:
    for g in result.new_groups:
        assert s.rules.min_size <= len(g.interest_ids) <= s.rules.max_size


def check_nobody_placed_twice(s: Scenario, result: FormationPlan) -> None:
    placed = [i for j in result.joins for i in j.interest_ids] + [i for g in result.new_groups for i in g.interest_ids]
    assert len(placed) == len(set(placed))
    assert set(placed) <= {w.id for w in s.waiting}


def check_joins_fill_joinable_groups_up_to_max(s: Scenario, result: FormationPlan) -> None:
    groups = {g.id: g for g in s.open_groups}
    joined = [j.group_id for j in result.joins]
    assert len(joined) == len(set(joined))
    for j in result.joins:
        g = groups[j.group_id]
        assert j.interest_ids
        assert s.joinable(g)
        assert g.member_count + len(j.interest_ids) <= s.rules.max_size


def check_buckets_served_as_queues(s: Scenario, result: FormationPlan) -> None:
    placed = {i for j in result.joins for i in j.interest_ids} | {i for g in result.new_groups for i in g.interest_ids}
    seats_left = Counter[str | None]()
    for g in s.open_groups:
        if s.joinable(g):
            seats_left[s.bucket(g.area)] += s.rules.max_size - g.member_count
    areas = {g.id: g.area for g in s.open_groups}
    for j in result.joins:
        seats_left[s.bucket(areas[j.group_id])] -= len(j.interest_ids)

    for bucket in {s.bucket(w.area) for w in s.waiting}:
        queue = sorted((w for w in s.waiting if s.bucket(w.area) == bucket), key=lambda w: (w.queued_at, w.id))
        served = [w.id for w in queue if w.id in placed]
        assert served == [w.id for w in queue[: len(served)]], "someone younger was served before someone older"
        unserved = len(queue) - len(served)
        assert unserved < s.rules.min_size
        if unserved:
            assert seats_left[bucket] == 0, "people wait while seats are free"


def check_new_groups_in_queue_order(s: Scenario, result: FormationPlan) -> None:
    position = {w.id: (w.queued_at, w.id) for w in s.waiting}
    for members in [j.interest_ids for j in result.joins] + [g.interest_ids for g in result.new_groups]:
        assert list(members) == sorted(members, key=position.__getitem__)
    firsts = [position[g.interest_ids[0]] for g in result.new_groups]
    assert firsts == sorted(firsts), "new groups are listed (and staffed) oldest member first"


def check_area_and_locale_come_from_members(s: Scenario, result: FormationPlan) -> None:
    by_id = {w.id: w for w in s.waiting}
    for g in result.new_groups:
        members = [by_id[i] for i in g.interest_ids]
        if s.rules.match_by_area:
            assert {m.area for m in members} == {g.area}
        else:
            areas = Counter(m.area for m in members if m.area is not None)
            assert g.area == (min(areas, key=lambda a: (-areas[a], a)) if areas else None)
        locales = Counter(m.locale for m in members)
        assert locales[g.locale] == max(locales.values())
        if locales[s.rules.default_locale] == max(locales.values()):
            assert g.locale == s.rules.default_locale


def check_facilitators_chosen_by_rule_within_capacity(s: Scenario, result: FormationPlan) -> None:
    """Replay the plan's choices in decision order against a plain linear scan of the rule."""
    load = {f.id: f.group_count for f in s.facilitators}
    last: dict[str, datetime | None] = {f.id: f.last_assigned_at for f in s.facilitators}

    def eligible(f: FacilitatorLoad, area: str | None, locale: str) -> bool:
        return (
            f.active
            and (not f.themes or THEME in f.themes)
            and (area is None or not f.areas or area in f.areas)
            and locale in f.locales
            and load[f.id] < f.capacity
        )

    def rank(f: FacilitatorLoad) -> tuple[int, int, datetime, str]:
        seen = last[f.id]
        return (load[f.id], 0, NOW, f.id) if seen is None else (load[f.id], 1, seen, f.id)

    assigned = {a.group_id: a.facilitator_id for a in result.assignments}
    assert len(assigned) == len(result.assignments)
    awaiting = sorted((g for g in s.open_groups if g.facilitator_id is None), key=lambda g: (g.formed_at, g.id))
    assert set(assigned) <= {g.id for g in awaiting}
    decisions = [(g.area, g.locale, assigned.get(g.id)) for g in awaiting]
    decisions += [(g.area, g.locale, g.facilitator_id) for g in result.new_groups]

    for area, locale, chosen in decisions:
        candidates = [f for f in s.facilitators if eligible(f, area, locale)]
        if chosen is None:
            assert candidates == [], "a group was left awaiting while someone eligible had room"
            continue
        assert chosen == min(candidates, key=rank).id
        load[chosen] += 1
        last[chosen] = NOW

    for f in s.facilitators:
        assert load[f.id] <= max(f.capacity, f.group_count)


def check_input_order_does_not_matter(s: Scenario, result: FormationPlan, rnd: random.Random) -> None:
    shuffled = Scenario(
        rnd.sample(s.waiting, len(s.waiting)),
        rnd.sample(s.open_groups, len(s.open_groups)),
        rnd.sample(s.facilitators, len(s.facilitators)),
        s.rules,
    )
    assert shuffled.plan() == result
