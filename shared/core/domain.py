"""The domain's records — interests, groups, texts to send — and the small rules about them.

Records know nothing of storage: `shared/adapters/entities.py` maps them to table rows and the
unit of work (`shared/adapters/unit_of_work.py`) remembers the ETags it read.
A record's `key` is its identity inside its theme ("interest.…", "group.…", "outbox.…"): the
prefixes tell the kinds apart in the theme's partition (docs/architecture.md, "Tables and partitions").
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


def utcnow() -> datetime:
    return datetime.now(UTC)


class InterestStatus(StrEnum):
    PENDING_VERIFICATION = "pending_verification"
    WAITING = "waiting"  # verified: counts toward a group
    GROUPED = "grouped"


INTEREST_PREFIX = "interest."
PHONE_PREFIX = "phone."
GROUP_PREFIX = "group."
OUTBOX_PREFIX = "outbox."

# The one shape of a public id (interests and groups alike): "<theme>.<24 hex digits>".
PUBLIC_ID = re.compile(r"^([a-z0-9][a-z0-9-]{0,39})\.([0-9a-f]{24})$")


def new_sortable_key() -> str:
    """12 hex digits of milliseconds then 12 random: sorts by creation time, never collides in practice."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


def split_public_id(public: object, prefix: str) -> tuple[str, str] | None:
    """'stress.0193…' → ('stress', prefix + '0193…'); None for anything not shaped like an id."""
    match = PUBLIC_ID.match(public) if isinstance(public, str) else None
    if not match:
        return None
    return match.group(1), prefix + match.group(2)


def split_interest_id(interest_id: str) -> tuple[str, str] | None:
    """'stress.0193…' → ('stress', 'interest.0193…')."""
    return split_public_id(interest_id, INTEREST_PREFIX)


def public_id(theme: str, key: str) -> str:
    """'stress', 'group.0193…' → 'stress.0193…' (ids of groups and interests share this shape)."""
    return f"{theme}.{key.split('.', 1)[1]}"


def more_needed(group_min: int, waiting: int) -> int:
    """How many more verified people a group needs before it can start."""
    return max(0, group_min - waiting)


class Interest(BaseModel):
    """One resident's interest in one theme. Name and phone are the personal data to guard."""

    # The records' validators are built on their first validation, not at import (issue 22.1): a new
    # instance's first page validates none of them
    # (https://docs.pydantic.dev/latest/api/config/#pydantic.config.ConfigDict.defer_build).
    model_config = ConfigDict(frozen=True, defer_build=True)

    theme: str
    key: str  # "interest.…"
    name: str
    phone: str  # E.164
    locale: str
    area: str | None = None
    status: InterestStatus = InterestStatus.PENDING_VERIFICATION
    consent_version: str
    created_at: datetime
    verified_at: datetime | None = None
    group_id: str | None = None  # the group's key
    withdraw_token_hash: str
    # The verification code is kept only as a salted hash, beside the interest it proves.
    code_hash: str | None = None
    code_salt: str | None = None
    code_expires_at: datetime | None = None
    code_attempts: int = 0

    @property
    def id(self) -> str:
        return f"{self.theme}.{self.key.removeprefix(INTEREST_PREFIX)}"


class GroupStatus(StrEnum):
    AWAITING_FACILITATOR = "awaiting_facilitator"  # formed, nobody invited until a facilitator is assigned
    FORMING = "forming"  # facilitator assigned, members invited
    ACTIVE = "active"  # first meeting set
    ON_ITS_OWN = "on_its_own"  # the facilitator's meetings are over
    CLOSED = "closed"


# Groups that still take new members (within the join window) and count toward a facilitator's load.
JOINABLE = (GroupStatus.AWAITING_FACILITATOR, GroupStatus.FORMING, GroupStatus.ACTIVE)
FACILITATED = (GroupStatus.FORMING, GroupStatus.ACTIVE)
RUNNING = (GroupStatus.ACTIVE, GroupStatus.ON_ITS_OWN)  # what the daily lifecycle run looks at


class Group(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)  # built on first validation, as Interest

    theme: str
    key: str  # "group.…"
    area: str | None = None
    locale: str
    status: GroupStatus
    facilitator_id: str | None = None
    member_keys: tuple[str, ...] = ()  # keys of the members' interests
    formed_at: datetime
    facilitator_assigned_at: datetime | None = None
    # Lifecycle (services/lifecycle.py) and retention (services/retention.py).
    first_meeting_at: datetime | None = None
    meeting_place: str = ""  # an address or a video link; cleared when the members are erased
    closed_at: datetime | None = None
    reminder_sent: bool = False
    check_in_sent: bool = False
    members_erased_at: datetime | None = None  # the closed group's people were erased then...
    members_erased: int = 0  # ...this many: the row keeps counts, not people
    # Issue 12: meetings the facilitator recorded (they drive the handover), when the group went on
    # its own, and the date its members' names and numbers leave the service, as their text said.
    meetings_held: int = 0
    on_its_own_at: datetime | None = None
    members_leave_at: datetime | None = None
    escalated_at: datetime | None = None  # stuck before active: the coordinator was told then (once)
    # Issue 19.5: the newest meeting the facilitator recorded; an active group silent for QUIET_GROUP_WEEKS
    # is reported to the coordinator (then) and handed over on `quiet_handover_at` unless a meeting is
    # recorded first: no group is kept forever because nobody records anything.
    last_meeting_at: datetime | None = None
    quiet_escalated_at: datetime | None = None
    quiet_handover_at: datetime | None = None

    @property
    def id(self) -> str:
        return public_id(self.theme, self.key)


class MessageKind(StrEnum):
    INVITATION = "invitation"  # to a member: your group starts
    ROSTER = "roster"  # to the facilitator: the members' names and numbers
    MEMBER_JOINED = "member_joined"  # to the facilitator
    MEMBER_LEFT = "member_left"  # to the facilitator
    COORDINATOR_ALERT = "coordinator_alert"
    MEETING_SET = "meeting_set"  # to a member: the first meeting's time and place
    MEETING_REMINDER = "meeting_reminder"  # to a member, the day before the first meeting
    FACILITATOR_CHECK_IN = "facilitator_check_in"  # to the facilitator, some weeks after the start
    # Replies to our number (services/replies.py): every reply reaches a person.
    FACILITATOR_REPLY = "facilitator_reply"  # to the coordinator: a facilitator's own words, forwarded
    MEMBER_REPLY = "member_reply"  # to a member who texted us: their facilitator and the coordinator's contact
    HANDOVER = "handover"  # to a member: the facilitator steps back, the group goes on by itself
    GROUP_CLOSED = "group_closed"  # to a member: the group was closed by the facilitator or an operator
    FACILITATOR_REPORT = "facilitator_report"  # to the coordinator: a facilitator's short note from their page
    QUIET_GROUP = "quiet_group"  # to the coordinator: an active group recorded no meeting for weeks
    FACILITATOR_LINK = "facilitator_link"  # to a facilitator who texted LÄNK: a fresh link to their page


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

    model_config = ConfigDict(frozen=True, defer_build=True)  # built on first validation, as Interest

    theme: str
    key: str  # "outbox.…"
    kind: MessageKind
    recipient_type: RecipientType
    recipient_id: str = ""  # interest key or facilitator id; empty for the coordinator
    group_key: str = ""
    locale: str
    subject_keys: tuple[str, ...] = ()  # members who joined or left
    # Everyone the sent text names (a roster: every member in it), by interest key, never by name:
    # recorded when it is sent, so erasing one of them finds the provider's copy of the text.
    named_keys: tuple[str, ...] = ()
    reason: str = ""  # for coordinator alerts
    # Who left, for the facilitator's update: the member's own row is already erased. Cleared once sent.
    subject_name: str = ""
    # A facilitator's own words forwarded to the coordinator (facilitator_reply), already cut to fit.
    forwarded_text: str = ""
    status: MessageStatus = MessageStatus.PENDING
    created_at: datetime
    enqueued_at: datetime | None = None
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    provider_sid: str = ""
    error_code: int | None = None
    error: str = ""  # why it failed, when not the provider's code ("poisoned", "recipient_gone")


# --- building texts: the one place an OutboxMessage is made ---------------------------------------


def new_message(
    theme: str,
    kind: MessageKind,
    recipient_type: RecipientType,
    *,
    now: datetime,
    locale: str,
    recipient_id: str = "",
    group_key: str = "",
    subject_keys: Iterable[str] = (),
    subject_name: str = "",
    reason: str = "",
    error_code: int | None = None,
    key: str | None = None,
) -> OutboxMessage:
    return OutboxMessage(
        theme=theme,
        key=key or OUTBOX_PREFIX + new_sortable_key(),
        kind=kind,
        recipient_type=recipient_type,
        recipient_id=recipient_id,
        group_key=group_key,
        locale=locale,
        subject_keys=tuple(subject_keys),
        subject_name=subject_name,
        reason=reason,
        error_code=error_code,
        created_at=now,
    )


def to_members(
    group: Group, kind: MessageKind, now: datetime, keys: Iterable[str] | None = None
) -> list[OutboxMessage]:
    """One text per member (all current members, or `keys`), rendered in each one's language when sent."""
    return [
        new_message(
            group.theme, kind, RecipientType.MEMBER, recipient_id=key, group_key=group.key, locale=group.locale, now=now
        )
        for key in (group.member_keys if keys is None else keys)
    ]


def to_facilitator(
    group: Group,
    kind: MessageKind,
    now: datetime,
    *,
    facilitator_id: str | None = None,
    subject_keys: Iterable[str] = (),
    subject_name: str = "",
) -> OutboxMessage:
    """In the group's language; the notifier falls back to one the facilitator reads."""
    return new_message(
        group.theme,
        kind,
        RecipientType.FACILITATOR,
        recipient_id=facilitator_id or group.facilitator_id or "",
        group_key=group.key,
        locale=group.locale,
        subject_keys=subject_keys,
        subject_name=subject_name,
        now=now,
    )


def to_coordinator(
    theme: str,
    group_key: str,
    reason: str,
    now: datetime,
    locale: str,
    *,
    error_code: int | None = None,
    key: str | None = None,
) -> OutboxMessage:
    return new_message(
        theme,
        MessageKind.COORDINATOR_ALERT,
        RecipientType.COORDINATOR,
        group_key=group_key,
        locale=locale,
        reason=reason,
        error_code=error_code,
        now=now,
        key=key,
    )


# --- removing a member: decided once, for a STOP, a withdrawal, an erasure and an operator --------


@dataclass(frozen=True)
class Removal:
    group: Group  # the group without the member
    message: OutboxMessage | None  # the facilitator's member_left text, when someone is to be told


def remove_member(group: Group, member: Interest, now: datetime) -> Removal:
    """The member leaves the group. Its facilitator (if it has one) is told unless the group is closed:
    the same whether the person replied STOP, withdrew, was erased on request, or an operator removed them."""
    remaining = tuple(k for k in group.member_keys if k != member.key)
    updated = group.model_copy(update={"member_keys": remaining})
    message = None
    if group.facilitator_id and group.status is not GroupStatus.CLOSED:
        message = to_facilitator(
            updated, MessageKind.MEMBER_LEFT, now, subject_keys=(member.key,), subject_name=member.name
        )
    return Removal(updated, message)
