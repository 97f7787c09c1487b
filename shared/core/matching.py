"""Group matching: who joins which group, which new groups form, who facilitates them.

Pure and deterministic: no I/O, no clock reads (the caller passes `now`), and the same
input in any order gives the same plan. The formation function turns a plan into table
transactions; this module only decides.

One theme at a time. The steps, in order:
1. awaiting groups (no facilitator yet) get one where someone eligible has room;
2. open groups with free seats, still inside the join window, take the oldest waiting people;
3. the rest of the queue forms new groups, as few and as even as the size rules allow;
   each new group gets the least loaded eligible facilitator, or waits for one.
With areas and an `area_wait`, whoever is left over in an area and has waited that long may
then go to a neighbouring area, or failing that anywhere (shared/core/widening.py).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.core.facilitators import serves, trained_for
from shared.core.widening import widen


@dataclass(frozen=True, slots=True)
class WaitingInterest:
    """A verified resident waiting for a group in this theme."""

    id: str  # interest id, unique
    area: str | None  # area id, or None when the resident gave none
    locale: str  # 'sv' | 'nb' | 'en'
    queued_at: datetime  # registration time; oldest is served first, ties broken by id
    verified_at: datetime | None = None  # when the wait for a group began; None = queued_at

    @property
    def waiting_since(self) -> datetime:
        return self.verified_at or self.queued_at


@dataclass(frozen=True, slots=True)
class OpenGroup:
    """A group of this theme that is not closed."""

    id: str
    area: str | None
    locale: str
    member_count: int
    formed_at: datetime
    facilitator_id: str | None  # None while awaiting a facilitator


@dataclass(frozen=True, slots=True)
class FacilitatorLoad:
    """A facilitator and how many groups they run right now."""

    id: str
    themes: frozenset[str]  # empty = trained for all themes
    areas: frozenset[str]  # empty = covers all areas
    locales: frozenset[str]  # languages they run groups in (non-empty)
    capacity: int  # max concurrent groups
    active: bool
    group_count: int  # groups currently assigned (not closed)
    last_assigned_at: datetime | None  # None = never assigned (counts as longest ago)


@dataclass(frozen=True, slots=True)
class MatchingRules:
    min_size: int  # e.g. 5
    max_size: int  # e.g. 8
    join_window: timedelta  # e.g. 14 days: later joiners would miss too much of the group
    match_by_area: bool
    default_locale: str
    # With match_by_area: after this long since verification a person may be matched in a
    # neighbouring area, failing that anywhere. None = only ever in their own area.
    area_wait: timedelta | None = None
    neighbours: Mapping[str, frozenset[str]] = field(default_factory=dict, hash=False)  # symmetric


@dataclass(frozen=True, slots=True)
class Join:
    """An existing open group gets new members."""

    group_id: str
    interest_ids: tuple[str, ...]  # in queue order


@dataclass(frozen=True, slots=True)
class NewGroup:
    area: str | None
    locale: str
    interest_ids: tuple[str, ...]  # in queue order
    facilitator_id: str | None  # None → status awaiting_facilitator


@dataclass(frozen=True, slots=True)
class Assignment:
    """An existing group awaiting a facilitator gets one."""

    group_id: str
    facilitator_id: str


@dataclass(frozen=True, slots=True)
class FormationPlan:
    """What to write for one theme.

    Order is part of the contract: assignments in the order they were decided (oldest
    group first), then joins (oldest group first), then new groups ordered by their
    oldest member, which is also the order their facilitators were chosen in.
    """

    joins: tuple[Join, ...]
    new_groups: tuple[NewGroup, ...]
    assignments: tuple[Assignment, ...]

    @property
    def is_empty(self) -> bool:
        return not (self.joins or self.new_groups or self.assignments)


def takes_joiners(member_count: int, formed_at: datetime, rules: MatchingRules, now: datetime) -> bool:
    """Whether an open group still takes new members: a free seat, and formed within the join window.
    (Formation places joiners by it; intake tells a late joiner by it that they have a place.)"""
    return member_count < rules.max_size and now - formed_at <= rules.join_window


def group_sizes(n: int, min_size: int, max_size: int) -> list[int]:
    """Sizes of the new groups `n` waiting people form; the sum may be less than `n`.

    Fewest groups first (facilitators are scarce), then as even as possible, larger
    groups first. If the fewest groups that hold everyone would fall below `min_size`,
    as many full groups as `n` allows form and the youngest in line keep waiting.
    Whoever is left over is always fewer than `min_size`.
    """
    if min_size < 1 or min_size > max_size:
        raise ValueError(f"group sizes need 1 <= min_size <= max_size, got {min_size}..{max_size}")
    if n < min_size:
        return []
    groups = -(-n // max_size)  # ceil
    if groups * min_size <= n:
        base, larger = divmod(n, groups)
        return [base + 1] * larger + [base] * (groups - larger)
    # Here n // min_size < groups, and that many groups of max_size hold fewer than n people.
    return [max_size] * (n // min_size)


def plan_formation(
    theme: str,
    waiting: Sequence[WaitingInterest],
    open_groups: Sequence[OpenGroup],
    facilitators: Sequence[FacilitatorLoad],
    rules: MatchingRules,
    now: datetime,
) -> FormationPlan:
    """Decide joins, new groups and facilitator assignments for one theme."""
    _validate(waiting, open_groups, facilitators, rules)
    pool = _FacilitatorPool(theme, facilitators, now)

    # 1. Groups already formed waited longest for a facilitator: they come first.
    assignments: list[Assignment] = []
    for group in sorted(open_groups, key=_group_order):
        if group.facilitator_id is None:
            chosen = pool.take(group.area, group.locale)
            if chosen is not None:
                assignments.append(Assignment(group.id, chosen))

    # Buckets: per area when matching by area (None is a bucket of its own), else one bucket.
    queues: dict[str | None, list[WaitingInterest]] = {}
    for interest in sorted(waiting, key=_queue_order):
        queues.setdefault(_bucket(interest.area, rules), []).append(interest)
    joinable: dict[str | None, list[OpenGroup]] = {}
    for group in sorted(open_groups, key=_group_order):
        if takes_joiners(group.member_count, group.formed_at, rules, now):
            joinable.setdefault(_bucket(group.area, rules), []).append(group)

    joins: dict[str, list[WaitingInterest]] = {}
    forming: list[tuple[str | None, list[WaitingInterest]]] = []
    leftovers: list[WaitingInterest] = []
    for bucket, queue in queues.items():
        # 2. Seats in groups that already run go to the oldest in line.
        served = 0
        for group in joinable.get(bucket, ()):
            if served == len(queue):
                break
            taken = queue[served : served + rules.max_size - group.member_count]
            served += len(taken)
            joins[group.id] = taken
        # 3. The rest form new groups; the oldest go into the first one.
        for size in group_sizes(len(queue) - served, rules.min_size, rules.max_size):
            members = queue[served : served + size]
            forming.append((members[0].area if rules.match_by_area else _most_common_area(members), members))
            served += size
        leftovers += queue[served:]

    # 4. Near first, then wider: those left over who waited `area_wait` may leave their area.
    if rules.match_by_area and rules.area_wait is not None and leftovers:
        seats = [
            (g, rules.max_size - g.member_count - len(joins.get(g.id, ())))
            for g in sorted((g for groups in joinable.values() for g in groups), key=_group_order)
        ]
        wider = widen(
            leftovers,
            seats,
            min_size=rules.min_size,
            max_size=rules.max_size,
            area_wait=rules.area_wait,
            neighbours=rules.neighbours,
            now=now,
            group_sizes=group_sizes,
        )
        for group_id, people in wider.joins.items():
            joins[group_id] = sorted([*joins.get(group_id, ()), *people], key=_queue_order)
        forming += wider.forming

    # Facilitators are scarce: the new group whose oldest member waited longest chooses first.
    forming.sort(key=lambda pair: _queue_order(pair[1][0]))
    new_groups: list[NewGroup] = []
    for area, members in forming:
        locale = _most_common_locale(members, rules.default_locale)
        new_groups.append(NewGroup(area, locale, tuple(m.id for m in members), pool.take(area, locale)))

    by_id = {g.id: g for g in open_groups}
    return FormationPlan(
        joins=tuple(
            Join(group_id, tuple(i.id for i in people))
            for group_id, people in sorted(joins.items(), key=lambda pair: _group_order(by_id[pair[0]]))
        ),
        new_groups=tuple(new_groups),
        assignments=tuple(assignments),
    )


def _validate(
    waiting: Sequence[WaitingInterest],
    open_groups: Sequence[OpenGroup],
    facilitators: Sequence[FacilitatorLoad],
    rules: MatchingRules,
) -> None:
    if rules.min_size < 1 or rules.min_size > rules.max_size:
        raise ValueError(f"group sizes need 1 <= min_size <= max_size, got {rules.min_size}..{rules.max_size}")
    # Duplicates would place one person twice and make the order depend on the input order.
    for kind, ids in (
        ("interest", (i.id for i in waiting)),
        ("group", (g.id for g in open_groups)),
        ("facilitator", (f.id for f in facilitators)),
    ):
        duplicate = _first_duplicate(ids)
        if duplicate is not None:
            raise ValueError(f"duplicate {kind} id {duplicate!r}")


def _first_duplicate(ids: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            return item
        seen.add(item)
    return None


def _queue_order(interest: WaitingInterest) -> tuple[datetime, str]:
    return interest.queued_at, interest.id


def _group_order(group: OpenGroup) -> tuple[datetime, str]:
    return group.formed_at, group.id


def _bucket(area: str | None, rules: MatchingRules) -> str | None:
    return area if rules.match_by_area else None


def _most_common_area(members: Sequence[WaitingInterest]) -> str | None:
    counts = Counter(m.area for m in members if m.area is not None)
    if not counts:
        return None
    return min(counts, key=lambda area: (-counts[area], area))


def _most_common_locale(members: Sequence[WaitingInterest], default_locale: str) -> str:
    counts = Counter(m.locale for m in members)
    top = max(counts.values())
    tied = sorted(locale for locale, count in counts.items() if count == top)
    return default_locale if default_locale in tied else tied[0]


# Lower ranks first: current load, then never assigned, then oldest assignment, then id.
# The placeholder datetime for "never" is only compared against another "never".
_Rank = tuple[int, bool, datetime, str]


class _FacilitatorPool:
    """Chooses facilitators and tracks the load this plan adds.

    One heap per (area, locale) a group asks for, built on first use. A facilitator's rank
    only grows (every assignment raises the load), so an entry can be stale only by being
    too low: when a stale entry reaches the top it is pushed back with its current rank.
    That keeps each choice O(log F) amortised instead of a scan over all facilitators.
    """

    def __init__(self, theme: str, facilitators: Sequence[FacilitatorLoad], now: datetime) -> None:
        self._now = now
        self._candidates = sorted(
            (f for f in facilitators if trained_for(f, theme)),
            key=lambda f: f.id,
        )
        self._capacity = {f.id: f.capacity for f in self._candidates}
        self._load = {f.id: f.group_count for f in self._candidates}
        self._last: dict[str, datetime | None] = {f.id: f.last_assigned_at for f in self._candidates}
        self._heaps: dict[tuple[str | None, str], list[_Rank]] = {}

    def take(self, area: str | None, locale: str) -> str | None:
        """The facilitator for a group in `area` and `locale`, now one group busier; None if nobody fits."""
        heap = self._heaps.get((area, locale))
        if heap is None:
            heap = [self._rank(f.id) for f in self._candidates if serves(f, area, locale)]
            heapq.heapify(heap)
            self._heaps[(area, locale)] = heap
        while heap:
            facilitator = heap[0][-1]
            if self._load[facilitator] >= self._capacity[facilitator]:  # refusal's 'capacity'
                heapq.heappop(heap)  # loads never fall within a plan: gone for good
                continue
            current = self._rank(facilitator)
            if current != heap[0]:
                heapq.heapreplace(heap, current)
                continue
            self._load[facilitator] += 1
            self._last[facilitator] = self._now
            heapq.heapreplace(heap, self._rank(facilitator))
            return facilitator
        return None

    def _rank(self, facilitator: str) -> _Rank:
        last = self._last[facilitator]
        if last is None:
            return (self._load[facilitator], False, self._now, facilitator)
        return (self._load[facilitator], True, last, facilitator)
