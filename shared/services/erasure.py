"""Erasing one phone number everywhere: what a STOP reply does, and what an operator runs on request.

A number reaches our tables in few places, all found through keys derived from it, never by
querying for the number itself (a query puts its filter in a URL, and URLs end up in logs):

- in each theme's partition of `interests` (the organisation's themes: a point read of the marker
  each, rather than a scan of a table that grows with every text sent; erase a number before a
  theme is removed from the organisation document): the interest row (name, number, code hash) and its
  phone marker `phone.<phone_key>`; a grouped person is also named, by interest RowKey, in the
  group row's MemberKeys and in the outbox rows addressed to them;
- in `ratelimits`: the counters of partition `phone.<phone_key>`.
- pending attempts (issue 11: each its own row) have markers `phone.<phone_key>.<attempt>`, read
  as one RowKey range per theme.

`phone_key` is the keyed HMAC of the number (PhoneKeyer); rows written under the unkeyed key of
earlier versions are erased too (PhoneKeyer.keys) until the one-off migration has run.

Per partition, one transaction deletes the interest and its marker (ETag-conditioned, so a
formation run claiming the same person makes one of the two fail whole), deletes the outbox rows
addressed to the person (a queued text for them then finds nothing to send), and for a member of
a group removes them from the group row (ETag-conditioned) and writes a `member_left` outbox row
for the facilitator. A lost race re-reads and tries again. The facilitator's update carries the
leaver's name until it is sent (the notifier clears it): their own row is gone by then.

Nothing here logs a name or a number; the report holds only counts and a language.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.storage import INTERESTS, RATE_LIMITS, StorageAccount, storage_errors
from shared.core.domain import (
    OUTBOX_PREFIX,
    PHONE_PREFIX,
    Group,
    GroupStatus,
    Interest,
    MessageKind,
    OutboxMessage,
    RecipientType,
    new_sortable_key,
    utcnow,
)
from shared.core.organisation import Organisation
from shared.core.phone import PhoneKeyer
from shared.services.outbox import queue_committed

if TYPE_CHECKING:
    from shared.services.retention import Statistics

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
# A table transaction holds at most 100 operations; the rest of a (very unusual) backlog of
# outbox rows addressed to the person is deleted right after the commit.
_OUTBOX_IN_TRANSACTION = 85  # with the interest, marker, group, update and statistics rows: under 100


class ErasureGaveUp(RuntimeError):
    """Lost the race for one partition's rows too many times in a row; safe to run again."""


@dataclass
class ErasureReport:
    interests_erased: int = 0
    groups_left: int = 0
    facilitators_notified: int = 0
    outbox_rows_erased: int = 0
    rate_limit_rows_erased: int = 0
    # The language of the newest erased interest, for a reply to the person; None when none was found.
    locale: str | None = None

    @property
    def found(self) -> bool:
        return self.interests_erased > 0


@dataclass(frozen=True)
class _Found:
    theme: str
    marker: dict[str, Any]
    interest: Interest | None
    timestamp: datetime | None = None  # when the interest row last changed (for time-to-group statistics)


def _read(storage: StorageAccount, theme: str, pkey: str) -> _Found | None:
    table = storage.table(INTERESTS)
    with storage_errors():
        try:
            marker = table.get_entity(theme, PHONE_PREFIX + pkey)
        except ResourceNotFoundError:
            return None
        interest: Interest | None = None
        timestamp = None
        if marker.get("Interest"):
            try:
                entity = table.get_entity(theme, marker["Interest"])
                interest = Interest.from_entity(entity)
                timestamp = _timestamp(entity)
            except ResourceNotFoundError:
                interest = None
    return _Found(theme, marker, interest, timestamp)


def interests_of_number(
    storage: StorageAccount, organisation: Organisation, phone_e164: str, *, keyer: PhoneKeyer
) -> list[Interest]:
    """Every interest registered with this number, newest first (read-only)."""
    found = [_read(storage, theme.id, pkey) for theme in organisation.themes for pkey in keyer.keys(phone_e164)]
    interests = [f.interest for f in found if f is not None and f.interest is not None]
    return sorted(interests, key=lambda i: i.created_at, reverse=True)


def erase_number(
    storage: StorageAccount,
    organisation: Organisation,
    phone_e164: str,
    *,
    keyer: PhoneKeyer,
    clock: Callable[[], datetime] = utcnow,
    statistics: Statistics | None = None,
) -> ErasureReport:
    """Remove every trace of `phone_e164`: interests, markers, group memberships, texts to them, counters.

    With `statistics`, each erased interest's counts are folded into the statistics rows in the same
    transaction that deletes it, so aggregate figures survive the person."""
    report = ErasureReport()
    newest: Interest | None = None
    for theme in organisation.themes:
        report.interests_erased += _erase_attempts(storage, theme.id, keyer.key(phone_e164))
        for pkey in keyer.keys(phone_e164):
            erased = _erase_in_partition(storage, theme.id, pkey, clock, report, statistics)
            if erased is not None and (newest is None or erased.created_at > newest.created_at):
                newest = erased
    report.locale = newest.locale if newest is not None else None
    report.rate_limit_rows_erased = sum(_erase_rate_limits(storage, pkey) for pkey in keyer.keys(phone_e164))
    return report


def erase_interest(
    storage: StorageAccount,
    interest: Interest,
    *,
    keyer: PhoneKeyer,
    clock: Callable[[], datetime] = utcnow,
    statistics: Statistics | None = None,
) -> ErasureReport:
    """A resident's own withdrawal of one interest: as erasure does it, within that theme only."""
    report = ErasureReport()
    report.interests_erased += _erase_attempts(storage, interest.theme, keyer.key(interest.phone))
    for pkey in keyer.keys(interest.phone):
        _erase_in_partition(storage, interest.theme, pkey, clock, report, statistics)
    return report


def _erase_attempts(storage: StorageAccount, theme: str, pkey: str) -> int:
    """Pending attempts of the number in one theme (markers `phone.<key>.<attempt>`), each with its row."""
    table = storage.table(INTERESTS)
    erased = 0
    with storage_errors():
        markers = list(
            table.query_entities(
                "PartitionKey eq @theme and RowKey gt @low and RowKey lt @high",
                parameters={"theme": theme, "low": f"{PHONE_PREFIX}{pkey}.", "high": f"{PHONE_PREFIX}{pkey}/"},
                select=["RowKey", "Interest"],
            )
        )
        for marker in markers:
            keys = [marker["RowKey"], *([marker["Interest"]] if marker.get("Interest") else [])]
            try:
                table.submit_transaction([("delete", {"PartitionKey": theme, "RowKey": key}) for key in keys])
            except TableTransactionError:  # one was gone already (a send that failed, a verification)
                _delete_quietly(storage, theme, marker["RowKey"])
                continue
            erased += 1
    return erased


def _erase_in_partition(
    storage: StorageAccount,
    theme: str,
    pkey: str,
    clock: Callable[[], datetime],
    report: ErasureReport,
    statistics: Statistics | None = None,
) -> Interest | None:
    """Erase the number's interest in one theme; returns the erased interest (None if there was none)."""
    table = storage.table(INTERESTS)
    for _ in range(MAX_ATTEMPTS):
        found = _read(storage, theme, pkey)
        if found is None:
            return None
        interest = found.interest
        if interest is None:
            # A marker left behind by an interest already gone: remove it alone.
            try:
                with storage_errors():
                    table.delete_entity(
                        theme,
                        PHONE_PREFIX + pkey,
                        etag=_etag(found.marker),
                        match_condition=MatchConditions.IfNotModified,
                    )
            except ResourceNotFoundError:
                return None
            except ResourceModifiedError:
                continue
            return None

        operations: list[tuple] = [
            (
                "delete",
                {"PartitionKey": theme, "RowKey": interest.key},
                {"etag": interest.etag, "match_condition": MatchConditions.IfNotModified},
            ),
            ("delete", {"PartitionKey": theme, "RowKey": PHONE_PREFIX + pkey}),
        ]
        own_rows = _outbox_rows_for(storage, theme, interest.key)
        operations += [("delete", {"PartitionKey": theme, "RowKey": key}) for key in own_rows[:_OUTBOX_IN_TRANSACTION]]

        left_group = False
        message: OutboxMessage | None = None
        group = _group_of(storage, interest)
        if group is not None and interest.key in group.member_keys:
            remaining = [key for key in group.member_keys if key != interest.key]
            operations.append(
                (
                    "update",
                    {
                        "PartitionKey": theme,
                        "RowKey": group.key,
                        "MemberKeys": json.dumps(remaining),
                        "MemberCount": len(remaining),
                    },
                    {"mode": UpdateMode.MERGE, "etag": group.etag, "match_condition": MatchConditions.IfNotModified},
                )
            )
            left_group = True
            if group.facilitator_id and group.status is not GroupStatus.CLOSED:
                message = OutboxMessage(
                    theme=theme,
                    key=OUTBOX_PREFIX + new_sortable_key(),
                    kind=MessageKind.MEMBER_LEFT,
                    recipient_type=RecipientType.FACILITATOR,
                    recipient_id=group.facilitator_id,
                    group_key=group.key,
                    locale=group.locale,
                    subject_keys=(interest.key,),
                    subject_name=interest.name,
                    created_at=clock(),
                )
                operations.append(("create", message.to_entity()))

        if statistics is not None:
            operations += statistics.fold_ops(theme, [(interest, group, found.timestamp)])
        try:
            with storage_errors():
                table.submit_transaction(operations)
        except TableTransactionError:
            continue  # someone changed these rows meanwhile (a formation run, a withdrawal): read again

        report.interests_erased += 1
        report.outbox_rows_erased += min(len(own_rows), _OUTBOX_IN_TRANSACTION)
        for key in own_rows[_OUTBOX_IN_TRANSACTION:]:
            if _delete_quietly(storage, theme, key):
                report.outbox_rows_erased += 1
        if left_group:
            report.groups_left += 1
        if message is not None:
            report.facilitators_notified += 1
            queue_committed(storage, [message])
        return interest
    raise ErasureGaveUp(f"erasure lost the race in one partition {MAX_ATTEMPTS} times")


def _timestamp(entity: Any) -> datetime | None:
    return getattr(entity, "metadata", {}).get("timestamp")


def _etag(entity: Any) -> str | None:
    return getattr(entity, "metadata", {}).get("etag")


def _group_of(storage: StorageAccount, interest: Interest) -> Group | None:
    if not interest.group_id:
        return None
    with storage_errors():
        try:
            return Group.from_entity(storage.table(INTERESTS).get_entity(interest.theme, interest.group_id))
        except ResourceNotFoundError:
            return None


def _outbox_rows_for(storage: StorageAccount, theme: str, interest_key: str) -> list[str]:
    """RowKeys of the texts addressed to this person (invitations): erased with them, sent or not."""
    with storage_errors():
        rows = storage.table(INTERESTS).query_entities(
            "PartitionKey eq @theme and Kind eq 'outbox' and RecipientType eq @member and RecipientId eq @key",
            parameters={"theme": theme, "member": RecipientType.MEMBER.value, "key": interest_key},
            select=["RowKey"],
        )
        return [row["RowKey"] for row in rows]


def _delete_quietly(storage: StorageAccount, theme: str, key: str) -> bool:
    with storage_errors():
        try:
            storage.table(INTERESTS).delete_entity(theme, key)
        except ResourceNotFoundError:
            return False
    return True


def _erase_rate_limits(storage: StorageAccount, pkey: str) -> int:
    table = storage.table(RATE_LIMITS)
    count = 0
    with storage_errors():
        rows = list(
            table.query_entities("PartitionKey eq @p", parameters={"p": PHONE_PREFIX + pkey}, select=["RowKey"])
        )
        for row in rows:
            try:
                table.delete_entity(PHONE_PREFIX + pkey, row["RowKey"])
                count += 1
            except ResourceNotFoundError:
                continue
    return count


__all__ = ["ErasureGaveUp", "ErasureReport", "erase_number", "interests_of_number"]
