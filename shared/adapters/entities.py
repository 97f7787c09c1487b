"""The one mapping between the domain's records and Table Storage rows (entities).

Column names, JSON-encoded lists, "" for a missing area, and the SDK's metadata (ETag, timestamp)
are known here and nowhere else in the services.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from shared.core.domain import (
    Group,
    GroupStatus,
    Interest,
    InterestStatus,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    RecipientType,
)
from shared.core.facilitators import Facilitator
from shared.core.statistics import Counts

FACILITATOR_PARTITION = "facilitator"
STATS_PREFIX = "stats."


def etag_of(entity: Any) -> str | None:
    """The ETag the SDK put in a read entity's metadata (None for a dict we built ourselves)."""
    return getattr(entity, "metadata", {}).get("etag")


def timestamp_of(entity: Any) -> datetime | None:
    """When the service last wrote the row."""
    return getattr(entity, "metadata", {}).get("timestamp")


def _present(values: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in values.items() if v is not None}


# --- interests --------------------------------------------------------------------------------------


def interest_entity(interest: Interest) -> dict[str, Any]:
    return {
        "PartitionKey": interest.theme,
        "RowKey": interest.key,
        "Kind": "interest",
        "Name": interest.name,
        "Phone": interest.phone,
        "Locale": interest.locale,
        "Area": interest.area or "",
        "Status": interest.status.value,
        "ConsentVersion": interest.consent_version,
        "CreatedAt": interest.created_at,
        "WithdrawTokenHash": interest.withdraw_token_hash,
        "CodeAttempts": interest.code_attempts,
        **_present(
            {
                "VerifiedAt": interest.verified_at,
                "GroupId": interest.group_id,
                "CodeHash": interest.code_hash,
                "CodeSalt": interest.code_salt,
                "CodeExpiresAt": interest.code_expires_at,
            }
        ),
    }


def interest_from(entity: Mapping[str, Any]) -> Interest:
    return Interest(
        theme=entity["PartitionKey"],
        key=entity["RowKey"],
        name=entity["Name"],
        phone=entity["Phone"],
        locale=entity["Locale"],
        area=entity.get("Area") or None,
        status=InterestStatus(entity["Status"]),
        consent_version=entity["ConsentVersion"],
        created_at=entity["CreatedAt"],
        verified_at=entity.get("VerifiedAt"),
        group_id=entity.get("GroupId"),
        withdraw_token_hash=entity["WithdrawTokenHash"],
        code_hash=entity.get("CodeHash"),
        code_salt=entity.get("CodeSalt"),
        code_expires_at=entity.get("CodeExpiresAt"),
        code_attempts=entity.get("CodeAttempts", 0),
    )


def marker_entity(theme: str, marker_key: str, interest_key: str) -> dict[str, Any]:
    """The phone marker: finds a number's interest in a theme by a key derived from the number."""
    return {"PartitionKey": theme, "RowKey": marker_key, "Interest": interest_key}


# --- groups -----------------------------------------------------------------------------------------


def group_entity(group: Group) -> dict[str, Any]:
    return {
        "PartitionKey": group.theme,
        "RowKey": group.key,
        "Kind": "group",
        "Area": group.area or "",
        "Locale": group.locale,
        "Status": group.status.value,
        "FacilitatorId": group.facilitator_id or "",
        "MemberKeys": json.dumps(list(group.member_keys)),
        "MemberCount": len(group.member_keys),
        "FormedAt": group.formed_at,
        **_present(
            {
                "FacilitatorAssignedAt": group.facilitator_assigned_at,
                "FirstMeetingAt": group.first_meeting_at,
                "ClosedAt": group.closed_at,
                "MembersErasedAt": group.members_erased_at,
                "OnItsOwnAt": group.on_its_own_at,
                "MembersLeaveAt": group.members_leave_at,
                "EscalatedAt": group.escalated_at,
                "LastMeetingAt": group.last_meeting_at,
                "QuietEscalatedAt": group.quiet_escalated_at,
                "QuietHandoverAt": group.quiet_handover_at,
            }
        ),
        "MeetingPlace": group.meeting_place,
        "ReminderSent": group.reminder_sent,
        "CheckInSent": group.check_in_sent,
        "MembersErased": group.members_erased,
        "MeetingsHeld": group.meetings_held,
    }


def group_from(entity: Mapping[str, Any]) -> Group:
    return Group(
        theme=entity["PartitionKey"],
        key=entity["RowKey"],
        area=entity.get("Area") or None,
        locale=entity["Locale"],
        status=GroupStatus(entity["Status"]),
        facilitator_id=entity.get("FacilitatorId") or None,
        member_keys=tuple(json.loads(entity.get("MemberKeys") or "[]")),
        formed_at=entity["FormedAt"],
        facilitator_assigned_at=entity.get("FacilitatorAssignedAt"),
        first_meeting_at=entity.get("FirstMeetingAt"),
        meeting_place=entity.get("MeetingPlace") or "",
        closed_at=entity.get("ClosedAt"),
        reminder_sent=bool(entity.get("ReminderSent")),
        check_in_sent=bool(entity.get("CheckInSent")),
        members_erased_at=entity.get("MembersErasedAt"),
        members_erased=entity.get("MembersErased") or 0,
        meetings_held=entity.get("MeetingsHeld") or 0,
        on_its_own_at=entity.get("OnItsOwnAt"),
        members_leave_at=entity.get("MembersLeaveAt"),
        escalated_at=entity.get("EscalatedAt"),
        last_meeting_at=entity.get("LastMeetingAt"),
        quiet_escalated_at=entity.get("QuietEscalatedAt"),
        quiet_handover_at=entity.get("QuietHandoverAt"),
    )


# --- outbox rows ------------------------------------------------------------------------------------


def message_entity(message: OutboxMessage) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": message.theme,
        "RowKey": message.key,
        "Kind": "outbox",
        "MessageKind": message.kind.value,
        "RecipientType": message.recipient_type.value,
        "RecipientId": message.recipient_id,
        "GroupKey": message.group_key,
        "Locale": message.locale,
        "SubjectKeys": json.dumps(list(message.subject_keys)),
        "NamedKeys": json.dumps(list(message.named_keys)),
        "Reason": message.reason,
        "Status": message.status.value,
        "CreatedAt": message.created_at,
        "ProviderSid": message.provider_sid,
        **_present(
            {
                "EnqueuedAt": message.enqueued_at,
                "ClaimedAt": message.claimed_at,
                "SentAt": message.sent_at,
                "ErrorCode": message.error_code,
            }
        ),
    }
    if message.subject_name:
        entity["SubjectName"] = message.subject_name
    if message.forwarded_text:
        entity["ForwardedText"] = message.forwarded_text
    if message.error:
        entity["Error"] = message.error
    return entity


def message_from(entity: Mapping[str, Any]) -> OutboxMessage:
    return OutboxMessage(
        theme=entity["PartitionKey"],
        key=entity["RowKey"],
        kind=MessageKind(entity["MessageKind"]),
        recipient_type=RecipientType(entity["RecipientType"]),
        recipient_id=entity.get("RecipientId", ""),
        group_key=entity.get("GroupKey", ""),
        locale=entity["Locale"],
        subject_keys=tuple(json.loads(entity.get("SubjectKeys") or "[]")),
        named_keys=tuple(json.loads(entity.get("NamedKeys") or "[]")),
        reason=entity.get("Reason", ""),
        status=MessageStatus(entity["Status"]),
        created_at=entity["CreatedAt"],
        enqueued_at=entity.get("EnqueuedAt"),
        claimed_at=entity.get("ClaimedAt"),
        sent_at=entity.get("SentAt"),
        subject_name=entity.get("SubjectName", ""),
        forwarded_text=entity.get("ForwardedText", ""),
        provider_sid=entity.get("ProviderSid", ""),
        error_code=entity.get("ErrorCode"),
        error=entity.get("Error", ""),
    )


# --- facilitators -----------------------------------------------------------------------------------


def facilitator_entity(facilitator: Facilitator) -> dict[str, Any]:
    return {
        "PartitionKey": FACILITATOR_PARTITION,
        "RowKey": facilitator.id,
        "Name": facilitator.name,
        "Phone": facilitator.phone,
        "Themes": json.dumps(facilitator.themes),
        "Areas": json.dumps(facilitator.areas),
        "Locales": json.dumps(facilitator.locales),
        "Capacity": facilitator.capacity,
        "Active": facilitator.active,
        "CreatedAt": facilitator.created_at,
        "LinkVersion": facilitator.link_version,
    }


def facilitator_from(entity: Mapping[str, Any]) -> Facilitator:
    return Facilitator(
        id=entity["RowKey"],
        name=entity["Name"],
        phone=entity["Phone"],
        themes=json.loads(entity["Themes"]),
        areas=json.loads(entity["Areas"]),
        locales=json.loads(entity["Locales"]),
        capacity=entity["Capacity"],
        active=entity["Active"],
        created_at=entity["CreatedAt"],
        link_version=entity.get("LinkVersion") or 0,
    )


# --- statistics rows --------------------------------------------------------------------------------


def stats_key(month: str, area: str) -> str:
    return f"{STATS_PREFIX}{month}.{area or '-'}"


def stats_entity(theme: str, month: str, area: str, counts: Counts) -> dict[str, Any]:
    return {
        "PartitionKey": theme,
        "RowKey": stats_key(month, area),
        "Kind": "stats",
        "Month": month,
        "Area": area,
        "Registrations": counts.registrations,
        "Verified": counts.verified,
        "DaysToGroup": json.dumps({str(k): v for k, v in sorted(counts.days_to_group.items()) if v}),
    }


def stats_from(entity: Mapping[str, Any]) -> tuple[tuple[str, str], Counts]:
    """((month, area), counts) of a statistics row; a damaged histogram counts as empty."""
    try:
        histogram = {int(k): int(v) for k, v in json.loads(entity.get("DaysToGroup") or "{}").items()}
    except (ValueError, TypeError, AttributeError):
        histogram = {}
    counts = Counts(
        registrations=int(entity.get("Registrations") or 0),
        verified=int(entity.get("Verified") or 0),
        days_to_group=Counter(histogram),
    )
    return (entity.get("Month", ""), entity.get("Area", "")), counts


# --- merges -----------------------------------------------------------------------------------------

# Record field → the columns that hold it, for MERGE updates of a few fields.
_COLUMNS: dict[type, dict[str, tuple[str, ...]]] = {
    Group: {
        "status": ("Status",),
        "facilitator_id": ("FacilitatorId",),
        "facilitator_assigned_at": ("FacilitatorAssignedAt",),
        "member_keys": ("MemberKeys", "MemberCount"),
        "first_meeting_at": ("FirstMeetingAt",),
        "meeting_place": ("MeetingPlace",),
        "closed_at": ("ClosedAt",),
        "reminder_sent": ("ReminderSent",),
        "check_in_sent": ("CheckInSent",),
        "members_erased_at": ("MembersErasedAt",),
        "members_erased": ("MembersErased",),
        "meetings_held": ("MeetingsHeld",),
        "on_its_own_at": ("OnItsOwnAt",),
        "members_leave_at": ("MembersLeaveAt",),
        "escalated_at": ("EscalatedAt",),
        "last_meeting_at": ("LastMeetingAt",),
        "quiet_escalated_at": ("QuietEscalatedAt",),
        "quiet_handover_at": ("QuietHandoverAt",),
    },
    OutboxMessage: {
        "status": ("Status",),
        "enqueued_at": ("EnqueuedAt",),
        "claimed_at": ("ClaimedAt",),
        "sent_at": ("SentAt",),
        "provider_sid": ("ProviderSid",),
        "error_code": ("ErrorCode",),
        "error": ("Error",),
        "subject_name": ("SubjectName",),
        "named_keys": ("NamedKeys",),
    },
    Interest: {"status": ("Status",), "group_id": ("GroupId",)},
}


def entity_of(record: Interest | Group | OutboxMessage | Facilitator) -> dict[str, Any]:
    if isinstance(record, Interest):
        return interest_entity(record)
    if isinstance(record, Group):
        return group_entity(record)
    if isinstance(record, OutboxMessage):
        return message_entity(record)
    return facilitator_entity(record)


def merge_entity(record: Interest | Group | OutboxMessage, fields: Iterable[str]) -> dict[str, Any]:
    """The keys and the columns of `fields` only, for a MERGE. A cleared text becomes "" (a MERGE cannot
    remove a column); a cleared time or code is left as it was."""
    full = entity_of(record)
    columns = _COLUMNS[type(record)]
    entity = {"PartitionKey": full["PartitionKey"], "RowKey": full["RowKey"]}
    for field in fields:
        for column in columns[field]:
            if column in full:
                entity[column] = full[column]
            elif isinstance(getattr(record, field), str) or field == "subject_name":
                entity[column] = ""
    return entity
