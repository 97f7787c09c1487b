"""Shared parts of the operators' service (services/operations.py): checked inputs, errors, views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.adapters.interests import InterestsTable
from shared.adapters.queues import Queues
from shared.adapters.records import RateLimitRows
from shared.adapters.replies import ReplyLog
from shared.adapters.sms.copies import ProviderCopies
from shared.core.domain import GROUP_PREFIX, split_public_id
from shared.core.group_life import GroupLifeRules
from shared.core.organisation import Organisation
from shared.core.phone import PhoneKeyer
from shared.core.validation import TextProblem, one_line
from shared.services.erasure import Erasure
from shared.services.facilitators import FacilitatorStore
from shared.services.rekey import Rekey
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


@dataclass(frozen=True)
class PersonalRecords:
    """Where a number leaves traces beside the interests table, as the export and an erasure reach them:
    the SMS provider's copies, the rate-limit counters, and the replies a facilitator sent us."""

    copies: ProviderCopies
    counters: RateLimitRows
    replies: ReplyLog


class OperationsBase:
    """What every part of the operators' service shares: storage, the organisation, the clock."""

    def __init__(
        self,
        *,
        interests: InterestsTable,
        queues: Queues,
        records: PersonalRecords,
        erasure: Erasure,
        rekey: Rekey,
        organisation: Organisation,
        facilitators: FacilitatorStore,
        keyer: PhoneKeyer,
        statistics: Statistics,
        group_life: GroupLifeRules,
        clock: Callable[[], datetime],
    ) -> None:
        self._keyer = keyer
        self._interests = interests
        self._queues = queues
        self._records = records
        self._erasure = erasure
        self._rekey = rekey
        self._org = organisation
        self._facilitators = facilitators
        self._stats = statistics
        self._group_life = group_life
        self._clock = clock

    def _locate(self, group_id: object) -> tuple[str, str] | None:
        location = split_public_id(group_id, GROUP_PREFIX)
        if location is None or self._org.theme(location[0]) is None:
            return None
        return location
