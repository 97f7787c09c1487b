"""Reads the groups that are running, for the public page, its feed and the coordinator's CSV."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from shared.adapters.interests import InterestsTable
from shared.core.local_time import organisation_tz
from shared.core.matching import MatchingRules
from shared.core.organisation import Organisation
from shared.core.running import PUBLISHED, RunningGroup, WaitingCount, feed, running_groups, waiting_by_theme


def matching_rules(organisation: Organisation, join_window: timedelta) -> MatchingRules:
    """The sizes and join window formation places joiners by, so "takes joiners" means what it does there."""
    return MatchingRules(
        min_size=organisation.group_size.min,
        max_size=organisation.group_size.max,
        join_window=join_window,
        match_by_area=organisation.match_by_area,
        default_locale=organisation.default_locale,
    )


class RunningGroups:
    def __init__(
        self,
        *,
        interests: InterestsTable,
        organisation: Organisation,
        join_window: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._interests = interests
        self._org = organisation
        self._clock = clock
        self._rules = matching_rules(organisation, join_window)

    @property
    def threshold(self) -> int:
        return self._org.small_count_threshold

    def groups(self) -> list[RunningGroup]:
        return running_groups(
            self._interests.unit().groups(statuses=PUBLISHED),
            self._rules,
            now=self._clock(),
            tz=organisation_tz(self._org),
            theme_order=[t.id for t in self._org.themes],
        )

    def waiting(self) -> list[WaitingCount]:
        themes = (p.theme for p in self._interests.unit().waiting_people())
        return waiting_by_theme(themes, [t.id for t in self._org.themes], self.threshold)

    def feed(self) -> dict[str, Any]:
        org = self._org
        return feed(
            self.groups(),
            self.waiting(),
            organisation_id=org.id,
            organisation_name=org.name,
            themes={t.id: {code: text.label for code, text in t.text.items()} for t in org.themes},
            areas={a.id: a.name for a in org.areas},
            threshold=self.threshold,
            generated_at=self._clock(),
        )
