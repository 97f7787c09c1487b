"""The repository of the interests table: one partition per theme holding its interests, phone
markers, groups, outbox rows and statistics rows, told apart by RowKey prefix (and a `Kind` column).

Services read records through a `Rows` unit (which remembers what it read, for conditional
writes) and never see a query string or an SDK call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from shared.adapters.entities import group_from, interest_from, message_from, stats_from
from shared.adapters.storage import INTERESTS, StorageAccount, storage_errors
from shared.adapters.unit_of_work import Unit, retrying
from shared.core.domain import (
    GROUP_PREFIX,
    INTEREST_PREFIX,
    JOINABLE,
    OUTBOX_PREFIX,
    PHONE_PREFIX,
    Group,
    GroupStatus,
    Interest,
    InterestStatus,
    MessageStatus,
    OutboxMessage,
    RecipientType,
)
from shared.core.needs import WaitingPerson
from shared.core.statistics import Counts, StatKey

T = TypeVar("T")


def _any_status(statuses: Iterable[str]) -> str:
    return " or ".join(f"Status eq '{s}'" for s in statuses)


@dataclass
class Marker:
    key: str  # "phone.<phone key>"
    interest_key: str
    written_at: datetime | None


@dataclass
class PartitionRows:
    """Everything in one theme's partition, as read."""

    theme: str
    interests: dict[str, Interest] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    markers: dict[str, Marker] = field(default_factory=dict)
    outbox: list[OutboxMessage] = field(default_factory=list)

    def marker_of(self, interest_key: str) -> Marker | None:
        return next((m for m in self.markers.values() if m.interest_key == interest_key), None)


class Rows(Unit):
    """A unit of work with the domain's reads of the interests table."""

    def interest(self, theme: str, key: str) -> Interest | None:
        entity = self.get(theme, key) if key.startswith(INTEREST_PREFIX) else None
        return interest_from(entity) if entity is not None else None

    def interests(self, theme: str, keys: Iterable[str]) -> dict[str, Interest]:
        """The interests of `keys` still in the theme (a group's members), by key, in one query: not a
        point read each (a roster named 5–8 people with 5–8 calls; each is about 2.5 ms of the SDK's CPU)."""
        wanted = sorted({key for key in keys if key.startswith(INTEREST_PREFIX)})
        if not wanted:
            return {}
        # Within one partition, RowKey equalities: the service reads only the theme's partition.
        names = {f"k{i}": key for i, key in enumerate(wanted)}
        either = " or ".join(f"RowKey eq @{name}" for name in names)
        # Spaces around each @name: the SDK finds parameters by splitting the filter on spaces.
        rows = self.query(f"PartitionKey eq @theme and ( {either} )", {"theme": theme, **names})
        return {row["RowKey"]: interest_from(row) for row in rows}

    def group_and_member(self, theme: str, group_key: str, member_key: str) -> tuple[Group | None, Interest | None]:
        """A group and one of its members in one query, not two point reads (a member's text needs both)."""
        if not (group_key.startswith(GROUP_PREFIX) and member_key.startswith(INTEREST_PREFIX)):
            return self.group(theme, group_key), self.interest(theme, member_key)
        group: Group | None = None
        member: Interest | None = None
        query = "PartitionKey eq @theme and ( RowKey eq @group or RowKey eq @member )"
        for row in self.query(query, {"theme": theme, "group": group_key, "member": member_key}):
            if row["RowKey"] == group_key:
                group = group_from(row)
            else:
                member = interest_from(row)
        return group, member

    def group(self, theme: str, key: str) -> Group | None:
        entity = self.get(theme, key) if key.startswith(GROUP_PREFIX) else None
        return group_from(entity) if entity is not None else None

    def message(self, theme: str, key: str) -> OutboxMessage | None:
        entity = self.get(theme, key) if key.startswith(OUTBOX_PREFIX) else None
        return message_from(entity) if entity is not None else None

    def marker(self, theme: str, phone_key: str) -> Marker | None:
        """The number's marker in a theme: a point read (a query by number would put it in a URL)."""
        entity = self.get(theme, PHONE_PREFIX + phone_key)
        if entity is None:
            return None
        return Marker(entity["RowKey"], entity.get("Interest") or "", self.written_at(theme, entity["RowKey"]))

    def waiting_line(self, theme: str) -> tuple[dict[str, Interest], dict[str, Group]]:
        """Who waits in the theme (oldest first) and its groups that still take members."""
        query = (
            "PartitionKey eq @theme and ((Kind eq 'interest' and Status eq 'waiting')"
            f" or (Kind eq 'group' and ({_any_status(JOINABLE)})))"
        )
        waiting: dict[str, Interest] = {}
        groups: dict[str, Group] = {}
        for row in self.query(query, {"theme": theme}):
            if row["Kind"] == "interest":
                waiting[row["RowKey"]] = interest_from(row)
            else:
                groups[row["RowKey"]] = group_from(row)
        return waiting, groups

    def interest_and_waiting_line(
        self, theme: str, key: str
    ) -> tuple[Interest | None, tuple[dict[str, Interest], dict[str, Group]]]:
        """One interest and the theme's waiting line (as `waiting_line` reads it) in one query, not a point
        read and a query: a verification needs both (issue 22: each storage call is about 2.5 ms of the SDK's CPU)."""
        if not key.startswith(INTEREST_PREFIX):
            return None, ({}, {})
        query = (
            "PartitionKey eq @theme and (RowKey eq @key or (Kind eq 'interest' and Status eq 'waiting')"
            f" or (Kind eq 'group' and ({_any_status(JOINABLE)})))"
        )
        found: Interest | None = None
        waiting: dict[str, Interest] = {}
        groups: dict[str, Group] = {}
        for row in self.query(query, {"theme": theme, "key": key}):
            if row["Kind"] == "group":
                groups[row["RowKey"]] = group_from(row)
                continue
            interest = interest_from(row)
            if row["RowKey"] == key:
                found = interest
            if row.get("Status") == "waiting":
                waiting[row["RowKey"]] = interest
        return found, (waiting, groups)

    def grouped(self, theme: str) -> dict[str, Interest]:
        rows = self.query(
            "PartitionKey eq @theme and Kind eq 'interest' and Status eq @grouped",
            {"theme": theme, "grouped": InterestStatus.GROUPED.value},
        )
        return {row["RowKey"]: interest_from(row) for row in rows}

    def texts_to(self, theme: str, member_key: str) -> list[str]:
        """Keys of the texts addressed to a member, sent or not."""
        rows = self.query(
            "PartitionKey eq @theme and Kind eq 'outbox' and RecipientType eq @member and RecipientId eq @key",
            {"theme": theme, "member": RecipientType.MEMBER.value, "key": member_key},
            select=["PartitionKey", "RowKey"],
        )
        return [row["RowKey"] for row in rows]

    def messages_to(self, theme: str, recipient_id: str) -> list[OutboxMessage]:
        rows = self.query(
            "PartitionKey eq @theme and Kind eq 'outbox' and RecipientId eq @key", {"theme": theme, "key": recipient_id}
        )
        return [message_from(row) for row in rows]

    def pending_member_texts(self, group: Group) -> list[str]:
        rows = self.query(
            "PartitionKey eq @theme and Kind eq 'outbox' and GroupKey eq @group"
            " and RecipientType eq @member and Status eq 'pending'",
            {"theme": group.theme, "group": group.key, "member": RecipientType.MEMBER.value},
            select=["PartitionKey", "RowKey"],
        )
        return [row["RowKey"] for row in rows]

    def groups(
        self, *, theme: str | None = None, statuses: Iterable[GroupStatus] = (), facilitator_id: str | None = None
    ) -> list[Group]:
        query, parameters = "Kind eq 'group'", {}
        if theme is not None:
            query += " and PartitionKey eq @theme"
            parameters["theme"] = theme
        if facilitator_id is not None:
            query += " and FacilitatorId eq @facilitator"
            parameters["facilitator"] = facilitator_id
        wanted = [s.value for s in statuses]
        if wanted:
            query += f" and ({_any_status(wanted)})"
        return [group_from(row) for row in self.query(query, parameters)]

    def messages(
        self, statuses: Iterable[MessageStatus], *, created_before: datetime | None = None
    ) -> list[OutboxMessage]:
        """Outbox rows of every theme in these states (written no later than `created_before`, if given)."""
        query = f"Kind eq 'outbox' and ({_any_status(s.value for s in statuses)})"
        parameters: dict[str, datetime] = {}
        if created_before is not None:
            query += " and CreatedAt le @created_before"
            parameters["created_before"] = created_before
        return [message_from(row) for row in self.query(query, parameters)]

    def waiting_and_groups(self) -> Iterable[tuple[str, str, str | None]]:
        """(theme, 'waiting' or the group's status, area) of every waiting interest and every group."""
        rows = self.query(
            "(Kind eq 'interest' and Status eq 'waiting') or Kind eq 'group'",
            select=["PartitionKey", "Kind", "Status", "Area"],
        )
        for row in rows:
            label = "waiting" if row.get("Kind") == "interest" else row.get("Status", "")
            yield row["PartitionKey"], label, row.get("Area") or None

    def waiting_people(self) -> list[WaitingPerson]:
        """Every verified interest still waiting, in every theme: theme, area, language and since when,
        and nothing more is read (the needs map needs no name or number)."""
        rows = self.query(
            "Kind eq 'interest' and Status eq 'waiting'",
            select=["PartitionKey", "Area", "Locale", "CreatedAt", "VerifiedAt"],
        )
        return [
            WaitingPerson(r["PartitionKey"], r.get("Area") or None, r["Locale"], r.get("VerifiedAt") or r["CreatedAt"])
            for r in rows
        ]

    def attempts(self, theme: str, phone_key: str) -> list[Marker]:
        """A number's unverified attempts in one theme: markers `phone.<key>.<attempt>`, one RowKey range."""
        rows = self.query(
            "PartitionKey eq @theme and RowKey gt @low and RowKey lt @high",
            {"theme": theme, "low": f"{PHONE_PREFIX}{phone_key}.", "high": f"{PHONE_PREFIX}{phone_key}/"},
        )
        return [Marker(r["RowKey"], r.get("Interest") or "", self.written_at(theme, r["RowKey"])) for r in rows]

    def markers_everywhere(self) -> Iterable[tuple[str, Marker]]:
        """(theme, marker) of every phone marker in every theme (the one-off rekey pass)."""
        rows = self.query(
            "RowKey ge @low and RowKey lt @high",
            {"low": PHONE_PREFIX, "high": "phone/"},
            select=["PartitionKey", "RowKey", "Interest"],
        )
        for r in rows:
            yield r["PartitionKey"], Marker(r["RowKey"], r.get("Interest") or "", None)

    def partition(self, theme: str) -> PartitionRows:
        found = PartitionRows(theme)
        for row in self.query("PartitionKey eq @theme", {"theme": theme}):
            key: str = row["RowKey"]
            if key.startswith(INTEREST_PREFIX):
                found.interests[key] = interest_from(row)
            elif key.startswith(GROUP_PREFIX):
                found.groups[key] = group_from(row)
            elif key.startswith(PHONE_PREFIX):
                found.markers[key] = Marker(key, row.get("Interest") or "", self.written_at(theme, key))
            elif key.startswith(OUTBOX_PREFIX):
                found.outbox.append(message_from(row))
        return found

    def themes_with_rows(self) -> set[str]:
        with storage_errors():
            return {row["PartitionKey"] for row in self.table.list_entities(select=["PartitionKey"])}

    def counted(self) -> tuple[list[Interest], list[Group], list[tuple[str, StatKey, Counts]]]:
        """Every interest and group, and every statistics row as (theme, (month, area), counts)."""
        interests, groups, stats = [], [], []
        for row in self.query("Kind eq 'interest' or Kind eq 'group' or Kind eq 'stats'"):
            kind = row.get("Kind")
            if kind == "stats":
                stats.append((row["PartitionKey"], *stats_from(row)))
            elif kind == "group":
                groups.append(group_from(row))
            else:
                interests.append(interest_from(row))
        return interests, groups, stats


class InterestsTable:
    """Opens units of work on the interests table; shared by every thread of the process."""

    def __init__(self, storage: StorageAccount) -> None:
        self._storage = storage

    def unit(self) -> Rows:
        return Rows(self._storage.table(INTERESTS))

    def retrying(self, work: Callable[[Rows], T], *, on_lost_race: Callable[[], None] | None = None) -> T:
        return retrying(self.unit, work, on_lost_race=on_lost_race)
