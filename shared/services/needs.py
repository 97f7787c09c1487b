"""Reads the needs map and the waits month by month (read-only; the deciding is in core/needs.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.adapters.interests import InterestsTable
from shared.core.domain import FACILITATED, GroupStatus
from shared.core.matching import takes_joiners
from shared.core.needs import AreaWaits, AwaitingGroup, Candidate, Need, last_months, needs_map, waits_by_month
from shared.core.organisation import Organisation
from shared.core.statistics import month_of
from shared.services.facilitators import FacilitatorStore
from shared.services.running_groups import matching_rules
from shared.services.statistics import Statistics

MONTHS_SHOWN = 12


@dataclass(frozen=True)
class Waits:
    everyone: AreaWaits
    areas: list[AreaWaits]
    months: list[str]


class NeedsReader:
    def __init__(
        self,
        *,
        interests: InterestsTable,
        organisation: Organisation,
        facilitators: FacilitatorStore,
        statistics: Statistics,
        join_window: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._interests = interests
        self._rules = matching_rules(organisation, join_window)
        self._org = organisation
        self._facilitators = facilitators
        self._statistics = statistics
        self._clock = clock

    def needs(self) -> list[Need]:
        rows = self._interests.unit()
        waiting = rows.waiting_people()
        now = self._clock()
        loads: dict[str, int] = {}
        awaiting = []
        joinable = []
        # Loads count as formation counts them: groups a facilitator runs now (forming or active).
        for group in rows.groups(statuses=(*FACILITATED, GroupStatus.AWAITING_FACILITATOR)):
            if group.status is GroupStatus.AWAITING_FACILITATOR:
                awaiting.append(
                    AwaitingGroup(group.theme, group.area, group.locale, len(group.member_keys), group.formed_at)
                )
            elif group.facilitator_id:
                loads[group.facilitator_id] = loads.get(group.facilitator_id, 0) + 1
            if takes_joiners(len(group.member_keys), group.formed_at, self._rules, now):
                joinable.append((group.theme, group.area))
        candidates = [Candidate(f.id, f.name, f, loads.get(f.id, 0)) for f in self._facilitators.list()]
        known = {t.id for t in self._org.themes}
        return needs_map(
            [p for p in waiting if p.theme in known],
            [g for g in awaiting if g.theme in known],
            candidates,
            joinable=joinable,
            match_by_area=self._org.match_by_area,
            group_min=self._org.group_size.min,
            default_locale=self._org.default_locale,
            now=now,
        )

    def waits(self) -> Waits:
        tz = self._statistics.tz
        months = last_months(month_of(self._clock(), tz), MONTHS_SHOWN)
        added = [(month_of(f.created_at, tz), frozenset(f.areas)) for f in self._facilitators.list()]
        everyone, areas = waits_by_month(
            self._statistics.totals(), added, areas=[a.id for a in self._org.areas], months=months
        )
        return Waits(everyone, areas, months)
