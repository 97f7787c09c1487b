"""What operators do, as a service the admin pages (and the JSON API) call.

Every change to a group follows formation's pattern: read the group row, decide, and commit one
entity-group transaction in the theme's partition — the group row ETag-conditioned, outbox rows
created beside it (and, for a removed member, their rows deleted with the statistics they leave
behind) — then queue the texts. A lost race re-reads and decides again.

Inputs are checked here, not only in the pages: bad input raises `OperationError` whose `code` is a
message key ("not_found", "invalid_state", "facilitator_not_found", "facilitator_unavailable",
"invalid_meeting", "invalid_phone", "invalid_filter", "conflict"), with an optional `detail` that
says which rule ("capacity", "past", "place_too_long", …). Neither ever holds personal data, and
nothing here logs a name, a number or a code.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.storage import INTERESTS, NOTIFICATIONS, RATE_LIMITS, StorageAccount, storage_errors
from shared.core.domain import (
    FACILITATED,
    GROUP_PREFIX,
    INTEREST_PREFIX,
    PHONE_PREFIX,
    Group,
    GroupStatus,
    Interest,
    InterestStatus,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    RecipientType,
    split_interest_id,
    utcnow,
)
from shared.core.organisation import Organisation
from shared.core.phone import PhoneError, PhoneKeyer, parse_mobile
from shared.services.erasure import erase_number
from shared.services.facilitators import Facilitator, FacilitatorStore
from shared.services.lifecycle import group_update, new_message, to_members
from shared.services.notify import short_ref
from shared.services.outbox import queue_committed
from shared.services.retention import Statistics, entity_etag, entity_timestamp

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
PLACE_MAX = 200
MEETING_HORIZON = timedelta(days=365)
# Outbox rows deleted inside a member's removal transaction; any beyond (very unusual) follow it.
_OUTBOX_IN_TRANSACTION = 80

_GROUP_ID = re.compile(r"^([a-z0-9][a-z0-9-]{0,39})\.([0-9a-f]{24})$")
_OUTBOX_ROW = re.compile(r"^outbox\.[0-9a-z][0-9a-z.]{0,79}$")
# Bidirectional overrides and isolates: they make a text read differently from what it contains.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


class OperationError(ValueError):
    """Bad input or a state that does not allow the action. `code` and `detail` are message keys."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ThemeCount:
    theme: str
    area: str | None
    waiting: int
    needed: int
    forming: int
    active: int
    awaiting_facilitator: int


@dataclass(frozen=True)
class FailedMessage:
    """A text that failed or was poisoned: ids and codes only, no personal data."""

    theme: str
    row: str
    kind: str
    status: str
    error: str
    created_at: datetime
    group_ref: str


@dataclass(frozen=True)
class MemberView:
    id: str  # the interest id ("<theme>.<hex>"), what remove_member takes
    key: str  # the interest RowKey
    name: str
    phone: str  # pages show it only where the role needs it


@dataclass(frozen=True)
class GroupView:
    id: str
    theme: str
    key: str
    area: str | None
    status: str
    locale: str
    facilitator_id: str | None
    facilitator_name: str | None
    members: list[MemberView]
    formed_at: datetime
    first_meeting_at: datetime | None
    meeting_place: str
    closed_at: datetime | None


def clean_place(raw: object) -> str:
    """A meeting place or video link: one line, at most PLACE_MAX characters, no control characters."""
    if not isinstance(raw, str):
        raise OperationError("invalid_meeting", "place_required")
    # Line breaks and tabs (a textarea) become spaces; any other control character is refused.
    text = " ".join(unicodedata.normalize("NFC", raw).split())
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") or c in _BIDI for c in text):
        raise OperationError("invalid_meeting", "place_invalid")
    if not text:
        raise OperationError("invalid_meeting", "place_required")
    if len(text) > PLACE_MAX:
        raise OperationError("invalid_meeting", "place_too_long")
    return text


def check_meeting_time(when: object, now: datetime) -> datetime:
    """A timezone-aware time after now and within a year; returned in UTC."""
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise OperationError("invalid_meeting", "time_required")
    at = when.astimezone(UTC)
    if at <= now:
        raise OperationError("invalid_meeting", "past")
    if at > now + MEETING_HORIZON:
        raise OperationError("invalid_meeting", "too_far")
    return at


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class _Change:
    """What one group action commits: a merge into the group row, texts, other rows, counts."""

    changes: dict[str, Any]
    messages: list[OutboxMessage]
    operations: list[tuple]
    after_commit: Callable[[], None] | None = None


class Operations:
    def __init__(
        self,
        *,
        storage: StorageAccount,
        organisation: Organisation,
        facilitators: FacilitatorStore,
        keyer: PhoneKeyer,
        statistics: Statistics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._keyer = keyer
        self._storage = storage
        self._org = organisation
        self._facilitators = facilitators
        self._stats = statistics or Statistics(storage, organisation)
        self._clock = clock

    def _table(self) -> Any:
        return self._storage.table(INTERESTS)

    # overview -----------------------------------------------------------------------------------

    def overview(self) -> tuple[list[ThemeCount], list[FailedMessage]]:
        """Per theme (and area, when the organisation matches by area): who waits, how many more are
        needed for a group, groups by status; and every text that failed or was poisoned."""
        by_area = self._org.match_by_area
        order: list[tuple[str, str | None]] = []
        for theme in self._org.themes:
            order += [(theme.id, a.id) for a in self._org.areas] if by_area else [(theme.id, None)]
        counts: dict[tuple[str, str | None], Counter[str]] = {key: Counter() for key in order}
        with storage_errors():
            rows = self._table().query_entities(
                "(Kind eq 'interest' and Status eq 'waiting') or Kind eq 'group'",
                select=["PartitionKey", "Kind", "Status", "Area"],
            )
            for row in rows:
                key = (row["PartitionKey"], (row.get("Area") or None) if by_area else None)
                label = "waiting" if row.get("Kind") == "interest" else row.get("Status", "")
                if key not in counts:
                    counts[key] = Counter()
                    order.append(key)
                counts[key][label] += 1
        minimum = self._org.group_size.min
        themes = [
            ThemeCount(
                theme=theme,
                area=area,
                waiting=c["waiting"],
                needed=max(0, minimum - c["waiting"]),
                forming=c[GroupStatus.FORMING.value],
                active=c[GroupStatus.ACTIVE.value],
                awaiting_facilitator=c[GroupStatus.AWAITING_FACILITATOR.value],
            )
            for theme, area in order
            for c in [counts[(theme, area)]]
        ]
        return themes, self.failed_messages()

    def failed_messages(self) -> list[FailedMessage]:
        failed: list[FailedMessage] = []
        with storage_errors():
            rows = self._table().query_entities(
                f"Kind eq 'outbox' and (Status eq '{MessageStatus.FAILED.value}'"
                f" or Status eq '{MessageStatus.UNDELIVERED.value}')"
            )
            for row in rows:
                error = row.get("Error") or ""
                if not error and row.get("ErrorCode"):
                    error = f"provider_{int(row['ErrorCode'])}"
                failed.append(
                    FailedMessage(
                        theme=row["PartitionKey"],
                        row=row["RowKey"],
                        kind=row.get("MessageKind", ""),
                        status=row.get("Status", ""),
                        error=error or row.get("Status", ""),
                        created_at=row["CreatedAt"],
                        group_ref=short_ref(row.get("GroupKey", "")),
                    )
                )
        return sorted(failed, key=lambda f: f.created_at, reverse=True)

    # reading groups -----------------------------------------------------------------------------

    def groups(self, theme: str | None = None, status: str | None = None) -> list[GroupView]:
        query = "Kind eq 'group'"
        params: dict[str, str] = {}
        if theme is not None:
            if not isinstance(theme, str) or self._org.theme(theme) is None:
                raise OperationError("invalid_filter", "theme")
            query += " and PartitionKey eq @theme"
            params["theme"] = theme
        if status is not None:
            try:
                params["status"] = GroupStatus(status).value
            except ValueError:
                raise OperationError("invalid_filter", "status") from None
            query += " and Status eq @status"
        with storage_errors():
            found = [Group.from_entity(r) for r in self._table().query_entities(query, parameters=params)]
        facilitators = {f.id: f for f in self._facilitators.list()}
        members: dict[str, dict[str, Interest]] = {}
        for t in sorted({g.theme for g in found}):
            members[t] = self._grouped_interests(t)
        found.sort(key=lambda g: (g.formed_at, g.key), reverse=True)
        return [self._view(g, members[g.theme], facilitators) for g in found]

    def group(self, group_id: str) -> GroupView | None:
        location = self._locate(group_id)
        if location is None:
            return None
        group = self._read_group(*location)
        if group is None:
            return None
        members = {}
        for key in group.member_keys:
            interest = self._interest(group.theme, key)
            if interest is not None:
                members[key] = interest
        facilitator = self._facilitators.get(group.facilitator_id) if group.facilitator_id else None
        return self._view(group, members, {facilitator.id: facilitator} if facilitator else {})

    def _locate(self, group_id: object) -> tuple[str, str] | None:
        match = _GROUP_ID.match(group_id) if isinstance(group_id, str) else None
        if not match or self._org.theme(match.group(1)) is None:
            return None
        return match.group(1), GROUP_PREFIX + match.group(2)

    def _read_group(self, theme: str, key: str) -> Group | None:
        with storage_errors():
            try:
                return Group.from_entity(self._table().get_entity(theme, key))
            except ResourceNotFoundError:
                return None

    def _interest(self, theme: str, key: str) -> Interest | None:
        with storage_errors():
            try:
                return Interest.from_entity(self._table().get_entity(theme, key))
            except ResourceNotFoundError:
                return None

    def _grouped_interests(self, theme: str) -> dict[str, Interest]:
        with storage_errors():
            rows = self._table().query_entities(
                "PartitionKey eq @theme and Kind eq 'interest' and Status eq @grouped",
                parameters={"theme": theme, "grouped": InterestStatus.GROUPED.value},
            )
            return {row["RowKey"]: Interest.from_entity(row) for row in rows}

    def _view(self, group: Group, interests: dict[str, Interest], facilitators: dict[str, Facilitator]) -> GroupView:
        facilitator = facilitators.get(group.facilitator_id or "")
        members = [
            MemberView(id=i.id, key=i.key, name=i.name, phone=i.phone)
            for i in (interests.get(k) for k in group.member_keys)
            if i is not None
        ]
        return GroupView(
            id=group.id,
            theme=group.theme,
            key=group.key,
            area=group.area,
            status=group.status.value,
            locale=group.locale,
            facilitator_id=group.facilitator_id,
            facilitator_name=facilitator.name if facilitator else None,
            members=members,
            formed_at=group.formed_at,
            first_meeting_at=group.first_meeting_at,
            meeting_place=group.meeting_place,
            closed_at=group.closed_at,
        )

    # changing groups ----------------------------------------------------------------------------

    def _change(self, group_id: str, decide: Callable[[Group, datetime], _Change | None]) -> GroupView:
        location = self._locate(group_id)
        if location is None:
            raise OperationError("not_found", "group")
        for _ in range(MAX_ATTEMPTS):
            group = self._read_group(*location)
            if group is None:
                raise OperationError("not_found", "group")
            now = self._clock()
            change = decide(group, now)
            if change is None:  # nothing to do: already so
                break
            operations = [
                group_update(group, change.changes),
                *change.operations,
                *(("create", m.to_entity()) for m in change.messages),
            ]
            try:
                with storage_errors():
                    self._table().submit_transaction(operations)
            except TableTransactionError:
                continue  # the group or a row beside it changed meanwhile: read again
            if change.after_commit is not None:
                change.after_commit()
            queue_committed(self._storage, change.messages)
            break
        else:
            raise OperationError("conflict")
        view = self.group(group_id)
        if view is None:
            raise OperationError("not_found", "group")
        return view

    def _load(self, facilitator_id: str, *, excluding: str = "") -> int:
        flt = " or ".join(f"Status eq '{s.value}'" for s in FACILITATED)
        with storage_errors():
            rows = self._table().query_entities(
                f"Kind eq 'group' and FacilitatorId eq @id and ({flt})",
                parameters={"id": facilitator_id},
                select=["PartitionKey", "RowKey"],
            )
            return sum(1 for r in rows if f"{r['PartitionKey']}/{r['RowKey']}" != excluding)

    def assign_facilitator(self, group_id: str, facilitator_id: str) -> GroupView:
        """First assignment: the group starts forming, members get invitations and the facilitator the
        roster. A change: the new facilitator gets the roster."""
        facilitator = self._facilitators.get(facilitator_id) if isinstance(facilitator_id, str) else None
        if facilitator is None:
            raise OperationError("facilitator_not_found")

        def decide(group: Group, now: datetime) -> _Change | None:
            if group.status not in (GroupStatus.AWAITING_FACILITATOR, GroupStatus.FORMING, GroupStatus.ACTIVE):
                raise OperationError("invalid_state", group.status.value)
            if group.facilitator_id == facilitator.id:
                return None
            self._check_available(facilitator, group)
            changes: dict[str, Any] = {"FacilitatorId": facilitator.id, "FacilitatorAssignedAt": now}
            updated = group.model_copy(update={"facilitator_id": facilitator.id})
            messages = []
            if group.status is GroupStatus.AWAITING_FACILITATOR:
                changes["Status"] = GroupStatus.FORMING.value
            if group.status is GroupStatus.AWAITING_FACILITATOR or not group.facilitator_id:
                messages += to_members(updated, MessageKind.INVITATION, now)  # nobody was invited yet
            messages.append(
                new_message(
                    updated, MessageKind.ROSTER, RecipientType.FACILITATOR, recipient_id=facilitator.id, now=now
                )
            )
            return _Change(changes, messages, [])

        return self._change(group_id, decide)

    def _check_available(self, facilitator: Facilitator, group: Group) -> None:
        if not facilitator.active:
            raise OperationError("facilitator_unavailable", "inactive")
        if facilitator.themes and group.theme not in facilitator.themes:
            raise OperationError("facilitator_unavailable", "theme")
        if group.area and facilitator.areas and group.area not in facilitator.areas:
            raise OperationError("facilitator_unavailable", "area")
        if group.locale not in facilitator.locales:
            raise OperationError("facilitator_unavailable", "locale")
        if self._load(facilitator.id, excluding=f"{group.theme}/{group.key}") >= facilitator.capacity:
            raise OperationError("facilitator_unavailable", "capacity")

    def set_first_meeting(self, group_id: str, when: datetime, place: str) -> GroupView:
        """The group becomes active; each member gets a meeting_set text with the time and place. Setting
        it again (a changed time or place) sends it again, and the day-before reminder is due again."""
        at = check_meeting_time(when, self._clock())
        where = clean_place(place)

        def decide(group: Group, now: datetime) -> _Change | None:
            if group.status not in (GroupStatus.FORMING, GroupStatus.ACTIVE) or not group.facilitator_id:
                raise OperationError("invalid_state", group.status.value)
            changes = {
                "Status": GroupStatus.ACTIVE.value,
                "FirstMeetingAt": at,
                "MeetingPlace": where,
                "ReminderSent": False,
            }
            return _Change(changes, to_members(group, MessageKind.MEETING_SET, now), [])

        return self._change(group_id, decide)

    def remove_member(self, group_id: str, member_id: str) -> GroupView:
        """The member leaves the group and their data is erased (interest, phone marker, texts to them);
        the facilitator of a running group gets a member_left text. Their counts stay in the statistics."""
        location = split_interest_id(member_id) if isinstance(member_id, str) else None
        group_location = self._locate(group_id)
        if location is None or group_location is None or location[0] != group_location[0]:
            raise OperationError("not_found", "member")
        theme, key = location
        leftover: list[str] = []

        def decide(group: Group, now: datetime) -> _Change | None:
            if key not in group.member_keys:
                raise OperationError("not_found", "member")
            remaining = [k for k in group.member_keys if k != key]
            changes: dict[str, Any] = {"MemberKeys": json.dumps(remaining), "MemberCount": len(remaining)}
            operations: list[tuple] = []
            messages: list[OutboxMessage] = []
            with storage_errors():
                try:
                    entity = self._table().get_entity(theme, key)
                except ResourceNotFoundError:
                    entity = None
            if entity is not None:
                interest = Interest.from_entity(entity)
                operations.append(
                    (
                        "delete",
                        {"PartitionKey": theme, "RowKey": key},
                        {"etag": entity_etag(entity), "match_condition": MatchConditions.IfNotModified},
                    )
                )
                operations += self._marker_delete(theme, interest)
                rows = self._outbox_for(theme, key)
                operations += [("delete", {"PartitionKey": theme, "RowKey": r}) for r in rows[:_OUTBOX_IN_TRANSACTION]]
                leftover[:] = rows[_OUTBOX_IN_TRANSACTION:]
                operations += self._stats.fold_ops(theme, [(interest, group, entity_timestamp(entity))])
                if group.facilitator_id and group.status in FACILITATED:
                    messages.append(
                        new_message(
                            group,
                            MessageKind.MEMBER_LEFT,
                            RecipientType.FACILITATOR,
                            recipient_id=group.facilitator_id,
                            now=now,
                            subject_keys=(key,),
                            subject_name=interest.name,
                        )
                    )

            def after() -> None:
                for row in leftover:
                    with storage_errors():
                        try:
                            self._table().delete_entity(theme, row)
                        except ResourceNotFoundError:
                            continue

            return _Change(changes, messages, operations, after)

        return self._change(group_id, decide)

    def _marker_delete(self, theme: str, interest: Interest) -> list[tuple]:
        marker = None
        with storage_errors():
            for pkey in self._keyer.keys(interest.phone):
                try:
                    marker = self._table().get_entity(theme, PHONE_PREFIX + pkey)
                    break
                except ResourceNotFoundError:
                    continue
        if marker is None or marker.get("Interest") != interest.key:
            return []
        return [
            (
                "delete",
                {"PartitionKey": theme, "RowKey": marker["RowKey"]},
                {"etag": entity_etag(marker), "match_condition": MatchConditions.IfNotModified},
            )
        ]

    def _outbox_for(self, theme: str, interest_key: str, *, pending_only: bool = False) -> list[str]:
        query = "PartitionKey eq @theme and Kind eq 'outbox' and RecipientType eq @member and RecipientId eq @key"
        if pending_only:
            query += " and Status eq 'pending'"
        with storage_errors():
            rows = self._table().query_entities(
                query,
                parameters={"theme": theme, "member": RecipientType.MEMBER.value, "key": interest_key},
                select=["RowKey"],
            )
            return [row["RowKey"] for row in rows]

    def close_group(self, group_id: str) -> GroupView:
        """Closed: no more texts to its members (unsent ones are withdrawn); its people are erased
        CLOSED_GROUP_RETENTION_DAYS later by retention. Closing a closed group changes nothing."""

        def decide(group: Group, now: datetime) -> _Change | None:
            if group.status is GroupStatus.CLOSED:
                return None
            with storage_errors():
                pending = list(
                    self._table().query_entities(
                        "PartitionKey eq @theme and Kind eq 'outbox' and GroupKey eq @group"
                        " and RecipientType eq @member and Status eq 'pending'",
                        parameters={"theme": group.theme, "group": group.key, "member": RecipientType.MEMBER.value},
                        select=["RowKey"],
                    )
                )
            operations = [
                (
                    "delete",
                    {"PartitionKey": group.theme, "RowKey": row["RowKey"]},
                    {"etag": entity_etag(row), "match_condition": MatchConditions.IfNotModified},
                )
                for row in pending[:_OUTBOX_IN_TRANSACTION]
            ]
            return _Change({"Status": GroupStatus.CLOSED.value, "ClosedAt": now}, [], operations)

        return self._change(group_id, decide)

    # messages -----------------------------------------------------------------------------------

    def retry_message(self, theme: str, row: str) -> None:
        """A failed or poisoned text goes back to pending and onto the queue, to be rendered and sent anew."""
        if not isinstance(theme, str) or self._org.theme(theme) is None:
            raise OperationError("not_found", "message")
        if not isinstance(row, str) or not _OUTBOX_ROW.match(row):
            raise OperationError("not_found", "message")
        for _ in range(MAX_ATTEMPTS):
            with storage_errors():
                try:
                    message = OutboxMessage.from_entity(self._table().get_entity(theme, row))
                except ResourceNotFoundError:
                    raise OperationError("not_found", "message") from None
            if message.status not in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
                raise OperationError("invalid_state", message.status.value)
            retried = message.model_copy(
                update={
                    "status": MessageStatus.PENDING,
                    "error_code": None,
                    "claimed_at": None,
                    "provider_sid": "",
                    "enqueued_at": self._clock(),
                }
            )
            try:
                with storage_errors():
                    self._table().update_entity(
                        retried.to_entity(),
                        mode=UpdateMode.REPLACE,  # drops the old attempt's Error, SentAt and status details
                        etag=message.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
            self._storage.enqueue(NOTIFICATIONS, retried.queue_text())
            return
        raise OperationError("conflict")

    # facilitators and statistics ----------------------------------------------------------------

    def facilitator_loads(self) -> dict[str, int]:
        """Facilitator id → groups they run now (forming or active); every known facilitator is listed."""
        loads: dict[str, int] = {f.id: 0 for f in self._facilitators.list()}
        flt = " or ".join(f"Status eq '{s.value}'" for s in FACILITATED)
        with storage_errors():
            for row in self._table().query_entities(f"Kind eq 'group' and ({flt})", select=["FacilitatorId"]):
                if row.get("FacilitatorId"):
                    loads[row["FacilitatorId"]] = loads.get(row["FacilitatorId"], 0) + 1
        return loads

    def statistics_csv(self) -> str:
        """month, theme, area, registrations, verified, groups_formed, median_days_to_group: no personal data."""
        return self._stats.csv()

    # data-subject requests ----------------------------------------------------------------------

    def _phone(self, phone: object) -> str:
        if not isinstance(phone, str):
            raise OperationError("invalid_phone")
        try:
            return parse_mobile(phone, self._org.country)
        except PhoneError:
            raise OperationError("invalid_phone") from None

    def _records_of(self, e164: str) -> list[tuple[Interest, Any]]:
        """The number's interests with their stored rows, found through the phone markers (point reads:
        a query by number would put it in a URL)."""
        found: list[tuple[Interest, Any]] = []
        with storage_errors():
            for theme, pkey in ((t, k) for t in self._org.themes for k in self._keyer.keys(e164)):
                try:
                    marker = self._table().get_entity(theme.id, PHONE_PREFIX + pkey)
                    entity = self._table().get_entity(theme.id, marker.get("Interest") or INTEREST_PREFIX)
                except ResourceNotFoundError:
                    continue
                interest = Interest.from_entity(entity)
                if interest.phone == e164:
                    found.append((interest, entity))
        return found

    def export_person(self, phone: str) -> dict:
        """Everything stored about one number, for a data-subject access request (JSON-ready)."""
        e164 = self._phone(phone)
        interests, groups, messages = [], [], []
        facilitators = {f.id: f for f in self._facilitators.list()}
        for interest, _entity in self._records_of(e164):
            group = self._read_group(interest.theme, interest.group_id) if interest.group_id else None
            interests.append(
                {
                    "id": interest.id,
                    "theme": interest.theme,
                    "name": interest.name,
                    "phone": interest.phone,
                    "locale": interest.locale,
                    "area": interest.area,
                    "status": interest.status.value,
                    "consent_version": interest.consent_version,
                    "registered_at": _iso(interest.created_at),
                    "verified_at": _iso(interest.verified_at),
                    "verification_code_pending": interest.code_hash is not None,
                    "group": group.id if group else None,
                }
            )
            if group is not None:
                facilitator = facilitators.get(group.facilitator_id or "")
                groups.append(
                    {
                        "id": group.id,
                        "theme": group.theme,
                        "status": group.status.value,
                        "formed_at": _iso(group.formed_at),
                        "first_meeting_at": _iso(group.first_meeting_at),
                        "meeting_place": group.meeting_place,
                        "facilitator": facilitator.name if facilitator else None,
                        "members": len(group.member_keys),
                    }
                )
            with storage_errors():
                rows = self._table().query_entities(
                    "PartitionKey eq @theme and Kind eq 'outbox' and RecipientId eq @key",
                    parameters={"theme": interest.theme, "key": interest.key},
                )
                messages += [
                    {
                        "theme": interest.theme,
                        "kind": row.get("MessageKind"),
                        "status": row.get("Status"),
                        "created_at": _iso(row.get("CreatedAt")),
                    }
                    for row in rows
                ]
        with storage_errors():
            limits = [
                {"counter": f"{row['RowKey']}s", "expires_at": _iso(row.get("ExpiresAt"))}
                for pkey in self._keyer.keys(e164)
                for row in self._storage.table(RATE_LIMITS).query_entities(
                    "PartitionKey eq @p", parameters={"p": PHONE_PREFIX + pkey}
                )
            ]
        as_facilitator = [
            {
                "id": f.id,
                "name": f.name,
                "phone": f.phone,
                "themes": f.themes,
                "areas": f.areas,
                "locales": list(f.locales),
                "capacity": f.capacity,
                "active": f.active,
                "created_at": _iso(f.created_at),
            }
            for f in facilitators.values()
            if f.phone == e164
        ]
        return {
            "phone": e164,
            "exported_at": _iso(self._clock()),
            "organisation": self._org.name,
            "interests": interests,
            "groups": groups,
            "messages": messages,
            "rate_limits": limits,
            "facilitator": as_facilitator,
        }

    def erase_person(self, phone: str) -> int:
        """Erase the number everywhere (shared.services.erasure.erase_number, as STOP does); each erased interest's
        counts go to the statistics in the transaction that deletes it. Returns how many rows were erased."""
        e164 = self._phone(phone)
        report = erase_number(
            self._storage, self._org, e164, keyer=self._keyer, clock=self._clock, statistics=self._stats
        )
        log.info("operator erasure: %s interests erased", report.interests_erased)
        return 2 * report.interests_erased + report.outbox_rows_erased + report.rate_limit_rows_erased


__all__ = [
    "FailedMessage",
    "GroupView",
    "MemberView",
    "OperationError",
    "Operations",
    "ThemeCount",
    "check_meeting_time",
    "clean_place",
]
