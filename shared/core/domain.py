"""The domain's records: interests, and how they are keyed in the theme's partition."""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


def utcnow() -> datetime:
    return datetime.now(UTC)


class InterestStatus(StrEnum):
    PENDING_VERIFICATION = "pending_verification"
    WAITING = "waiting"  # verified: counts toward a group
    GROUPED = "grouped"


# RowKey prefixes inside a theme's partition (ARCHITECTURE.md: one partition per theme).
INTEREST_PREFIX = "interest."
PHONE_PREFIX = "phone."
GROUP_PREFIX = "group."
OUTBOX_PREFIX = "outbox."

_INTEREST_ID = re.compile(r"^([a-z0-9][a-z0-9-]{0,39})\.([0-9a-f]{24})$")


def new_sortable_key() -> str:
    """12 hex digits of milliseconds then 12 random: sorts by creation time, never collides in practice."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


def split_interest_id(interest_id: str) -> tuple[str, str] | None:
    """'stress.0193…' → ('stress', 'interest.0193…'); None for anything not shaped like an id."""
    match = _INTEREST_ID.match(interest_id or "")
    if not match:
        return None
    return match.group(1), INTEREST_PREFIX + match.group(2)


class Interest(BaseModel):
    """One resident's interest in one theme. Name and phone are the personal data to guard."""

    model_config = ConfigDict(frozen=True)

    theme: str
    key: str  # RowKey
    name: str
    phone: str  # E.164
    locale: str
    area: str | None = None
    status: InterestStatus = InterestStatus.PENDING_VERIFICATION
    consent_version: str
    created_at: datetime
    verified_at: datetime | None = None
    group_id: str | None = None
    withdraw_token_hash: str
    # The verification code is kept only as a salted hash, beside the interest it proves.
    code_hash: str | None = None
    code_salt: str | None = None
    code_expires_at: datetime | None = None
    code_attempts: int = 0
    etag: str | None = None

    @property
    def id(self) -> str:
        return f"{self.theme}.{self.key.removeprefix(INTEREST_PREFIX)}"

    def to_entity(self) -> dict:
        entity = {
            "PartitionKey": self.theme,
            "RowKey": self.key,
            "Kind": "interest",
            "Name": self.name,
            "Phone": self.phone,
            "Locale": self.locale,
            "Area": self.area or "",
            "Status": self.status.value,
            "ConsentVersion": self.consent_version,
            "CreatedAt": self.created_at,
            "WithdrawTokenHash": self.withdraw_token_hash,
            "CodeAttempts": self.code_attempts,
        }
        optional = {
            "VerifiedAt": self.verified_at,
            "GroupId": self.group_id,
            "CodeHash": self.code_hash,
            "CodeSalt": self.code_salt,
            "CodeExpiresAt": self.code_expires_at,
        }
        entity.update({k: v for k, v in optional.items() if v is not None})
        return entity

    @classmethod
    def from_entity(cls, entity: dict) -> Interest:
        etag = _etag(entity)
        return cls(
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
            etag=etag,
        )


class GroupStatus(StrEnum):
    AWAITING_FACILITATOR = "awaiting_facilitator"  # formed, nobody invited until a facilitator is assigned
    FORMING = "forming"  # facilitator assigned, members invited
    ACTIVE = "active"  # first meeting set
    ON_ITS_OWN = "on_its_own"  # the facilitator's meetings are over
    CLOSED = "closed"


# Groups that still take new members (within the join window) and count toward a facilitator's load.
JOINABLE = (GroupStatus.AWAITING_FACILITATOR, GroupStatus.FORMING, GroupStatus.ACTIVE)
FACILITATED = (GroupStatus.FORMING, GroupStatus.ACTIVE)


def public_id(theme: str, key: str) -> str:
    """'stress', 'group.0193…' → 'stress.0193…' (ids of groups and interests share this shape)."""
    return f"{theme}.{key.split('.', 1)[1]}"


def _etag(entity: dict) -> str | None:
    return getattr(entity, "metadata", {}).get("etag")


class Group(BaseModel):
    model_config = ConfigDict(frozen=True)

    theme: str
    key: str  # RowKey "group.…"
    area: str | None = None
    locale: str
    status: GroupStatus
    facilitator_id: str | None = None
    member_keys: tuple[str, ...] = ()  # RowKeys of the members' interests
    formed_at: datetime
    facilitator_assigned_at: datetime | None = None
    # Lifecycle (shared/lifecycle.py) and retention (shared/retention.py).
    first_meeting_at: datetime | None = None
    meeting_place: str = ""  # an address or a video link; cleared when the members are erased
    closed_at: datetime | None = None
    reminder_sent: bool = False
    check_in_sent: bool = False
    members_erased_at: datetime | None = None  # the closed group's people were erased then...
    members_erased: int = 0  # ...this many: the row keeps counts, not people
    etag: str | None = None

    @property
    def id(self) -> str:
        return public_id(self.theme, self.key)

    def to_entity(self) -> dict:

        entity: dict[str, object] = {
            "PartitionKey": self.theme,
            "RowKey": self.key,
            "Kind": "group",
            "Area": self.area or "",
            "Locale": self.locale,
            "Status": self.status.value,
            "FacilitatorId": self.facilitator_id or "",
            "MemberKeys": json.dumps(list(self.member_keys)),
            "MemberCount": len(self.member_keys),
            "FormedAt": self.formed_at,
        }
        if self.facilitator_assigned_at is not None:
            entity["FacilitatorAssignedAt"] = self.facilitator_assigned_at
        lifecycle = {
            "FirstMeetingAt": self.first_meeting_at,
            "ClosedAt": self.closed_at,
            "MembersErasedAt": self.members_erased_at,
        }
        entity.update({k: v for k, v in lifecycle.items() if v is not None})
        entity.update(
            MeetingPlace=self.meeting_place,
            ReminderSent=self.reminder_sent,
            CheckInSent=self.check_in_sent,
            MembersErased=self.members_erased,
        )
        return entity

    @classmethod
    def from_entity(cls, entity: dict) -> Group:

        return cls(
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
            etag=_etag(entity),
        )


class MessageKind(StrEnum):
    INVITATION = "invitation"  # to a member: your group starts
    ROSTER = "roster"  # to the facilitator: the members' names and numbers
    MEMBER_JOINED = "member_joined"  # to the facilitator
    MEMBER_LEFT = "member_left"  # to the facilitator
    COORDINATOR_ALERT = "coordinator_alert"
    MEETING_SET = "meeting_set"  # to a member: the first meeting's time and place
    MEETING_REMINDER = "meeting_reminder"  # to a member, the day before the first meeting
    FACILITATOR_CHECK_IN = "facilitator_check_in"  # to the facilitator, some weeks after the start


class RecipientType(StrEnum):
    MEMBER = "member"
    FACILITATOR = "facilitator"
    COORDINATOR = "coordinator"


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"  # accepted by the provider
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


class OutboxMessage(BaseModel):
    """A text to send, written in the same transaction as the change it tells about.

    It names who and what, never the text itself: the body is rendered when it is sent, so a
    withdrawn member's name never reaches a roster sent after they left.
    """

    model_config = ConfigDict(frozen=True)

    theme: str
    key: str  # RowKey "outbox.…"
    kind: MessageKind
    recipient_type: RecipientType
    recipient_id: str = ""  # interest RowKey or facilitator id; empty for the coordinator
    group_key: str = ""
    locale: str
    subject_keys: tuple[str, ...] = ()  # members who joined or left
    reason: str = ""  # for coordinator alerts
    # Who left, for the facilitator's update: the member's own row is already erased. Cleared once sent.
    subject_name: str = ""
    status: MessageStatus = MessageStatus.PENDING
    created_at: datetime
    enqueued_at: datetime | None = None
    claimed_at: datetime | None = None
    provider_sid: str = ""
    error_code: int | None = None
    etag: str | None = None

    def to_entity(self) -> dict:
        entity: dict[str, object] = {
            "PartitionKey": self.theme,
            "RowKey": self.key,
            "Kind": "outbox",
            "MessageKind": self.kind.value,
            "RecipientType": self.recipient_type.value,
            "RecipientId": self.recipient_id,
            "GroupKey": self.group_key,
            "Locale": self.locale,
            "SubjectKeys": json.dumps(list(self.subject_keys)),
            "Reason": self.reason,
            "Status": self.status.value,
            "CreatedAt": self.created_at,
            "ProviderSid": self.provider_sid,
        }
        if self.subject_name:
            entity["SubjectName"] = self.subject_name
        if self.enqueued_at is not None:
            entity["EnqueuedAt"] = self.enqueued_at
        if self.claimed_at is not None:
            entity["ClaimedAt"] = self.claimed_at
        if self.error_code is not None:
            entity["ErrorCode"] = self.error_code
        return entity

    @classmethod
    def from_entity(cls, entity: dict) -> OutboxMessage:

        return cls(
            theme=entity["PartitionKey"],
            key=entity["RowKey"],
            kind=MessageKind(entity["MessageKind"]),
            recipient_type=RecipientType(entity["RecipientType"]),
            recipient_id=entity.get("RecipientId", ""),
            group_key=entity.get("GroupKey", ""),
            locale=entity["Locale"],
            subject_keys=tuple(json.loads(entity.get("SubjectKeys") or "[]")),
            reason=entity.get("Reason", ""),
            status=MessageStatus(entity["Status"]),
            created_at=entity["CreatedAt"],
            enqueued_at=entity.get("EnqueuedAt"),
            claimed_at=entity.get("ClaimedAt"),
            subject_name=entity.get("SubjectName", ""),
            provider_sid=entity.get("ProviderSid", ""),
            error_code=entity.get("ErrorCode"),
            etag=_etag(entity),
        )

    def queue_text(self) -> str:

        return json.dumps({"theme": self.theme, "row": self.key}, separators=(",", ":"))
