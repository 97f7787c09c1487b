"""Where people wait and why: the coordinator's needs map, and whether training shortened the waits.

Pure: the service (`shared/services/needs.py`) reads the waiting people, the groups awaiting a
facilitator, the facilitators with their loads and the statistics; this module decides.

A row is one theme in one area (the whole organisation when it does not match by area) in the
language its group would run in: the language most of its waiting people speak (matching gives a
new group that language), or the language of a group already formed and awaiting a facilitator.
Who "could serve" a row is asked of the one eligibility rule (`core.facilitators.refusal`), so the
map cannot disagree with matching or with the operators' assignment.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.core.disclosure import disclosed
from shared.core.domain import more_needed
from shared.core.facilitators import Trained, refusal
from shared.core.statistics import Counts, median

# What a facilitator lacks for a row that no training of theirs can fix without the coordinator.
_NOT_QUALIFIED = frozenset({"inactive", "theme", "area", "locale"})


@dataclass(frozen=True)
class WaitingPerson:
    """A verified resident waiting for a group: no name, no number (the map needs none)."""

    theme: str
    area: str | None
    locale: str
    since: datetime  # when their wait began (verification)


@dataclass(frozen=True)
class AwaitingGroup:
    """A group formed that waits for a facilitator."""

    theme: str
    area: str | None
    locale: str
    members: int
    formed_at: datetime


@dataclass(frozen=True)
class Candidate:
    """A facilitator as the map reads them, with the groups they run now."""

    id: str
    name: str
    trained: Trained
    load: int


class Verdict(StrEnum):
    TRAIN = "train"  # nobody trained for the theme serves this area in this language
    FULL = "full"  # some do, but every one of them runs as many groups as they can
    RECRUIT = "recruit"  # a facilitator has a free seat; too few people wait for a group yet
    STARTING = "starting"  # people and a free seat: the next formation run starts (or staffs) a group


# Most in need first: people nobody can serve, then people whom full facilitators cannot take.
_RANK = {Verdict.TRAIN: 0, Verdict.FULL: 1, Verdict.RECRUIT: 2, Verdict.STARTING: 3}


@dataclass(frozen=True)
class Need:
    theme: str
    area: str | None  # None: the organisation does not match by area (or the people gave none)
    locale: str
    waiting: int  # verified, in no group
    in_awaiting_groups: int  # members of groups formed and awaiting a facilitator
    groups_awaiting: int
    oldest_days: int  # the longest anyone in the row has waited, in whole days
    facilitators: tuple[str, ...]  # names of those who could serve it (trained, covering, speaking)
    free_seats: int  # groups those facilitators could still take
    more_needed: int  # people still needed before a new group can form
    verdict: Verdict

    @property
    def people(self) -> int:
        return self.waiting + self.in_awaiting_groups


def majority_locale(locales: Iterable[str], default_locale: str) -> str:
    """The language most speak; a tie goes to the organisation's default, else the first by code."""
    counts = Counter(locales)
    if not counts:
        return default_locale
    top = max(counts.values())
    tied = sorted(code for code, n in counts.items() if n == top)
    return default_locale if default_locale in tied else tied[0]


def needs_map(
    waiting: Sequence[WaitingPerson],
    awaiting: Sequence[AwaitingGroup],
    candidates: Sequence[Candidate],
    *,
    joinable: Collection[tuple[str, str | None]] = (),
    match_by_area: bool,
    group_min: int,
    default_locale: str,
    now: datetime,
) -> list[Need]:
    """One row per theme × area (× language) where anyone waits, most in need first.

    `joinable` holds (theme, area) of groups that still take joiners (matching's `takes_joiners`):
    people waiting there get a seat at the next formation run, however few they are."""
    seats = {(theme, area if match_by_area else None) for theme, area in joinable}
    people: dict[tuple[str, str | None], list[WaitingPerson]] = {}
    for person in waiting:
        people.setdefault((person.theme, person.area if match_by_area else None), []).append(person)
    groups: dict[tuple[str, str | None, str], list[AwaitingGroup]] = {}
    for group in awaiting:
        groups.setdefault((group.theme, group.area if match_by_area else None, group.locale), []).append(group)

    cells: dict[tuple[str, str | None, str], tuple[list[WaitingPerson], list[AwaitingGroup]]] = {}
    for (theme, area), persons in people.items():
        locale = majority_locale((p.locale for p in persons), default_locale)
        cells[(theme, area, locale)] = (persons, [])
    for key, formed in groups.items():
        cells.setdefault(key, ([], []))[1].extend(formed)

    rows = []
    for (theme, area, locale), (persons, formed) in cells.items():
        serving = [
            c
            for c in candidates
            if refusal(c.trained, theme=theme, area=area, locale=locale, load=0) not in _NOT_QUALIFIED
        ]
        free = sum(
            max(0, c.trained.capacity - c.load)
            for c in serving
            if refusal(c.trained, theme=theme, area=area, locale=locale, load=c.load) is None
        )
        since = [p.since for p in persons] + [g.formed_at for g in formed]
        oldest = max(0, int((now - min(since)).total_seconds() // 86400)) if since else 0
        needed = more_needed(group_min, len(persons)) if persons else 0
        if not serving:
            verdict = Verdict.TRAIN
        elif free == 0:
            verdict = Verdict.FULL
        elif formed or needed == 0 or (persons and (theme, area) in seats):
            verdict = Verdict.STARTING
        else:
            verdict = Verdict.RECRUIT
        rows.append(
            Need(
                theme=theme,
                area=area,
                locale=locale,
                waiting=len(persons),
                in_awaiting_groups=sum(g.members for g in formed),
                groups_awaiting=len(formed),
                oldest_days=oldest,
                facilitators=tuple(sorted(c.name for c in serving)),
                free_seats=free,
                more_needed=needed,
                verdict=verdict,
            )
        )
    rows.sort(key=lambda n: (_RANK[n.verdict], -n.people, -n.oldest_days, n.theme, n.area or "", n.locale))
    return rows


NEEDS_CSV_COLUMNS = (
    "theme",
    "area",
    "language",
    "people_waiting",
    "groups_awaiting_facilitator",
    "oldest_wait_days",
    "facilitators_who_serve",
    "free_seats",
    "conclusion",
)


def needs_csv_text(rows: Sequence[Need], threshold: int) -> str:
    """The needs map as an export: ids and counts, no names. Counts of people and groups go through
    the small-numbers rule, and a withheld count withholds its oldest wait (it would tell one
    person's wait). Facilitators are counted, not named: the export may travel."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(NEEDS_CSV_COLUMNS)
    for n in rows:
        people = disclosed(n.people, threshold)
        writer.writerow(
            [
                n.theme,
                n.area or "",
                n.locale,
                people.csv,
                disclosed(n.groups_awaiting, threshold).csv,
                "" if people.suppressed else n.oldest_days,
                len(n.facilitators),
                n.free_seats,
                n.verdict.value,
            ]
        )
    return out.getvalue()


# --- month by month: did training where it was needed shorten the waits? ---------------------------


@dataclass(frozen=True)
class MonthWait:
    month: str  # "YYYY-MM"
    median_days: float | None  # None: nobody got a place that month
    placed: int  # people who got a place that month (behind the median)
    facilitators_added: int  # facilitators serving the area who were added that month


@dataclass(frozen=True)
class AreaWaits:
    area: str | None  # None: everyone (or people who gave no area)
    months: tuple[MonthWait, ...]


def last_months(until: str, count: int) -> list[str]:
    """`count` months ending with `until` ("YYYY-MM"), oldest first."""
    year, month = (int(p) for p in until.split("-"))
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def waits_by_month(
    totals: Mapping[tuple[str, str, str], Counts],
    facilitators_added: Sequence[tuple[str, frozenset[str]]],
    *,
    areas: Sequence[str],
    months: Sequence[str],
) -> tuple[AreaWaits, list[AreaWaits]]:
    """The median days from verification to a group, per month, for the whole organisation and per area.

    `totals` are the statistics (month, theme, area) → counts, which outlive the people they count;
    `facilitators_added` is (month added, areas served — empty for all) per facilitator, so a month
    in which someone was trained for an area can be read against the waits after it."""
    wanted = set(months)
    everyone: dict[str, Counter[int]] = {m: Counter() for m in months}
    by_area: dict[str, dict[str, Counter[int]]] = {a: {m: Counter() for m in months} for a in areas}
    for (month, _theme, area), counts in totals.items():
        if month not in wanted:
            continue
        everyone[month].update(counts.days_to_group)
        if area in by_area:
            by_area[area][month].update(counts.days_to_group)

    def added(month: str, area: str | None) -> int:
        return sum(
            1 for m, served in facilitators_added if m == month and (area is None or not served or area in served)
        )

    def row(area: str | None, histograms: Mapping[str, Counter[int]]) -> AreaWaits:
        return AreaWaits(
            area,
            tuple(MonthWait(m, median(histograms[m]), sum(histograms[m].values()), added(m, area)) for m in months),
        )

    per_area = [row(a, by_area[a]) for a in areas]
    # Areas with neither a placement nor a new facilitator in the period say nothing: left out.
    per_area = [w for w in per_area if any(m.placed or m.facilitators_added for m in w.months)]
    return row(None, everyone), per_area
