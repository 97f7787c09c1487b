"""Groups that are running, as they may be published: no member, no name, no place, no exact small count.

Pure. The service (`shared/services/running_groups.py`) reads the groups and the waiting people;
this module decides what a group may tell the public — its theme, area, language, the month it
started, whether it meets with a facilitator or on its own, and whether it still takes joiners
(matching's `takes_joiners`, the rule formation places joiners by) — and builds the feed, whose
shape is documented as a JSON Schema in docs/running-groups.schema.json.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from shared.core.disclosure import disclosed
from shared.core.domain import Group, GroupStatus
from shared.core.matching import MatchingRules, takes_joiners
from shared.core.statistics import month_of

# Published: a facilitator is assigned (forming, active) or the group goes on by itself. A group
# still awaiting a facilitator has not started; a closed one no longer runs.
PUBLISHED = (GroupStatus.FORMING, GroupStatus.ACTIVE, GroupStatus.ON_ITS_OWN)
SCHEMA_ID = "https://gruppstart.example/schemas/running-groups.schema.json"
FEED_VERSION = 1

Meets = Literal["with_facilitator", "on_its_own"]
Stage = Literal["starting", "running"]


@dataclass(frozen=True)
class RunningGroup:
    theme: str
    area: str | None
    language: str
    started: str  # "YYYY-MM": the first meeting's month, or the month it formed before one is set
    meets: Meets
    stage: Stage  # starting: facilitator assigned, first meeting not yet held
    takes_joiners: bool


def running_groups(
    groups: Iterable[Group],
    rules: MatchingRules,
    *,
    now: datetime,
    tz: tzinfo,
    theme_order: Sequence[str],
) -> list[RunningGroup]:
    """The groups to publish, by the organisation's theme order, then area, newest first."""
    order = {theme: i for i, theme in enumerate(theme_order)}
    out = []
    for g in groups:
        if g.status not in PUBLISHED or g.theme not in order:
            continue
        began = g.first_meeting_at if g.first_meeting_at and g.first_meeting_at <= now else None
        out.append(
            RunningGroup(
                theme=g.theme,
                area=g.area,
                language=g.locale,
                started=month_of(began or g.formed_at, tz),
                meets="on_its_own" if g.status is GroupStatus.ON_ITS_OWN else "with_facilitator",
                stage="running" if g.status is GroupStatus.ON_ITS_OWN or began else "starting",
                # On its own: the facilitator's meetings are over and nobody new is placed in it.
                takes_joiners=g.status is not GroupStatus.ON_ITS_OWN
                and takes_joiners(len(g.member_keys), g.formed_at, rules, now),
            )
        )
    out.sort(key=lambda r: r.started, reverse=True)  # newest first within a theme and area (a stable sort)
    out.sort(key=lambda r: (order[r.theme], r.area or ""))
    return out


@dataclass(frozen=True)
class WaitingCount:
    theme: str
    waiting: int | None  # None: fewer than the threshold (suppressed)


def waiting_by_theme(waiting_themes: Iterable[str], theme_order: Sequence[str], threshold: int) -> list[WaitingCount]:
    """People waiting to start a new group, per theme, through the small-numbers rule."""
    counts = Counter(waiting_themes)
    return [WaitingCount(t, disclosed(counts.get(t, 0), threshold).value) for t in theme_order]


def feed(
    groups: Sequence[RunningGroup],
    waiting: Sequence[WaitingCount],
    *,
    organisation_id: str,
    organisation_name: str,
    themes: Mapping[str, Mapping[str, str]],
    areas: Mapping[str, str],
    threshold: int,
    generated_at: datetime,
) -> dict[str, Any]:
    """The machine-readable list (docs/running-groups.schema.json): ids with their names, no people."""
    return {
        "$schema": SCHEMA_ID,
        "version": FEED_VERSION,
        "organisation": {"id": organisation_id, "name": organisation_name},
        "generated_at": generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "small_count_threshold": threshold,
        "themes": [{"id": t, "label": dict(labels)} for t, labels in themes.items()],
        "areas": [{"id": a, "name": name} for a, name in areas.items()],
        "groups": [
            {
                "theme": g.theme,
                "area": g.area,
                "language": g.language,
                "started": g.started,
                "meets": g.meets,
                "stage": g.stage,
                "takes_joiners": g.takes_joiners,
            }
            for g in groups
        ],
        "waiting": [
            {"theme": w.theme, "people": w.waiting, "fewer_than": threshold if w.waiting is None else None}
            for w in waiting
        ],
    }


RUNNING_CSV_COLUMNS = ("theme", "area", "language", "started", "meets", "stage", "takes_joiners")


def running_csv_text(groups: Sequence[RunningGroup]) -> str:
    """One line per running group for the coordinator to hand on: ids and facts, no counts, no people."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(RUNNING_CSV_COLUMNS)
    for g in groups:
        writer.writerow(
            [g.theme, g.area or "", g.language, g.started, g.meets, g.stage, "yes" if g.takes_joiners else "no"]
        )
    return out.getvalue()
