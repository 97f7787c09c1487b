"""Near first, then wider: who may leave their own area after waiting `area_wait`.

Pure, like the rest of matching: `plan_formation` first serves every area on its own; this
module then takes whoever is left over (fewer than a group in each area) and lets the people
who have waited at least `area_wait` since verification go further, in two stages:

1. neighbourhood: a seat in a group of a neighbouring area, or a new group in their own or a
   neighbouring area, together with that area's own people and other overdue neighbours;
2. region: failing that, a seat or a new group anywhere.

A group keeps one area. Everyone in it from another area has waited past `area_wait`, so
nobody is sent away from home before the wait; and after the wait nobody is left waiting while
any group could take them. Each stage repeats until nothing more changes: the leftovers are
small (fewer than `min_size` per area), so the repetition is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

Area = str | None


# What this module reads of matching's P and Group (GroupLike; matching imports us, not back).
class Person(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def area(self) -> str | None: ...
    @property
    def queued_at(self) -> datetime: ...
    @property
    def waiting_since(self) -> datetime: ...


class GroupLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def area(self) -> str | None: ...


P = TypeVar("P", bound=Person)


@dataclass
class Widening(Generic[P]):
    """What the wider stages add: people joining groups with free seats, and new groups by area."""

    joins: dict[str, list[P]] = field(default_factory=dict)
    forming: list[tuple[Area, list[P]]] = field(default_factory=list)


def symmetric(neighbours: Mapping[str, Sequence[str] | frozenset[str]]) -> dict[str, frozenset[str]]:
    """Neighbour relations both ways: if a names b, b neighbours a too. An area is never its own neighbour."""
    both: dict[str, set[str]] = {}
    for area, others in neighbours.items():
        for other in others:
            if other != area:
                both.setdefault(area, set()).add(other)
                both.setdefault(other, set()).add(area)
    return {area: frozenset(others) for area, others in both.items()}


def widen(
    leftovers: Sequence[P],
    seats: Sequence[tuple[GroupLike, int]],
    *,
    min_size: int,
    max_size: int,
    area_wait: timedelta,
    neighbours: Mapping[str, frozenset[str]],
    now: datetime,
    group_sizes: Callable[[int, int, int], list[int]],
) -> Widening:
    """Place overdue leftovers wider. `seats` are joinable groups (oldest first) with their free seats."""
    result: Widening[P] = Widening()
    unplaced = sorted(leftovers, key=_queue_order)
    free = {group.id: count for group, count in seats if count > 0}
    group_area = {group.id: group.area for group, _ in seats}
    group_order = [group.id for group, _ in seats]

    def overdue(person: P) -> bool:
        return now - person.waiting_since >= area_wait

    def near(area: Area) -> frozenset[str]:
        return neighbours.get(area, frozenset()) if area is not None else frozenset()

    def may_join(person: P, target: Area, regional: bool) -> bool:
        """May `person` be in a group of area `target` at this stage?"""
        if person.area == target:
            return True
        if not overdue(person):
            return False
        return regional or (target is not None and target in near(person.area))

    def place(person: P, regional: bool) -> bool:
        # A free seat in a running group comes first, as it does at home.
        for group_id in group_order:
            if free.get(group_id, 0) > 0 and may_join(person, group_area[group_id], regional):
                result.joins.setdefault(group_id, []).append(person)
                free[group_id] -= 1
                unplaced.remove(person)
                return True
        # Then a new group: in the person's own area, a neighbouring one, or (regional) any area
        # someone still waits in. The target that gathers the most people wins; ties go home first.
        targets: list[Area] = [person.area, *sorted(near(person.area))]
        if regional:
            targets += sorted({p.area for p in unplaced if p.area not in targets}, key=_area_key)
        best: list[P] = []
        best_area: Area = None
        for target in targets:
            candidates = [p for p in unplaced if may_join(p, target, regional)]
            if len(candidates) > len(best):
                best, best_area = candidates, target
        sizes = group_sizes(len(best), min_size, max_size)
        if not sizes:
            return False
        start = 0
        for size in sizes:
            members = best[start : start + size]
            result.forming.append((best_area, members))
            for member in members:
                unplaced.remove(member)
            start += size
        return True

    for regional in (False, True):
        changed = True
        while changed:
            changed = False
            for person in [p for p in unplaced if overdue(p)]:
                if person in unplaced and place(person, regional):
                    changed = True
    return result


def _queue_order(interest: Person) -> tuple[datetime, str]:
    return interest.queued_at, interest.id


def _area_key(area: Area) -> tuple[bool, str]:
    return area is not None, area or ""
