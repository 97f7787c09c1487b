"""Shared parts of the operators' service (services/operations.py): checked inputs, errors, views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.adapters.interests import InterestsTable
from shared.adapters.sms.base import SmsSender
from shared.adapters.storage import StorageAccount
from shared.core.domain import GROUP_PREFIX, split_public_id, utcnow
from shared.core.organisation import Organisation
from shared.core.phone import PhoneKeyer
from shared.core.validation import TextProblem, one_line
from shared.services.facilitators import FacilitatorStore
from shared.services.statistics import Statistics

PLACE_MAX = 200
MEETING_HORIZON = timedelta(days=365)
# Bidirectional overrides and isolates: they make a text read differently from what it contains.


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
    try:
        return one_line(raw, PLACE_MAX)
    except TextProblem as problem:
        raise OperationError("invalid_meeting", f"place_{problem.reason}") from None


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


class OperationsBase:
    """What every part of the operators' service shares: storage, the organisation, the clock."""

    def __init__(
        self,
        *,
        storage: StorageAccount,
        organisation: Organisation,
        facilitators: FacilitatorStore,
        keyer: PhoneKeyer,
        statistics: Statistics | None = None,
        clock: Callable[[], datetime] = utcnow,
        sender: SmsSender | None = None,
    ) -> None:
        self._storage = storage
        self._keyer = keyer
        self._sender = sender  # an erasure deletes the SMS provider's copies at once with it
        self._interests = InterestsTable(storage)
        self._org = organisation
        self._facilitators = facilitators
        self._stats = statistics or Statistics(storage, organisation)
        self._clock = clock

    def _locate(self, group_id: object) -> tuple[str, str] | None:
        location = split_public_id(group_id, GROUP_PREFIX)
        if location is None or self._org.theme(location[0]) is None:
            return None
        return location
