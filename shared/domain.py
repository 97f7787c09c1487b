"""The domain's records: interests, and how they are keyed in the theme's partition."""

from __future__ import annotations

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
        etag = getattr(entity, "metadata", {}).get("etag")
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
