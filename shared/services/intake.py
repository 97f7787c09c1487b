"""Resident intake: validate an interest, prove the number by SMS code, withdraw on request."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.entities import StoredInterest as Interest
from shared.adapters.ratelimit import RateLimiter
from shared.adapters.sms import PermanentSmsError, SmsError, SmsSender
from shared.adapters.storage import FORMATION_REQUESTS, INTERESTS, StorageAccount, storage_errors
from shared.adapters.templates import Templates
from shared.core.codes import CODE_LIFETIME
from shared.core.domain import (
    INTEREST_PREFIX,
    PHONE_PREFIX,
    InterestStatus,
    more_needed,
    new_sortable_key,
    split_interest_id,
    utcnow,
)
from shared.core.organisation import Organisation
from shared.core.phone import PhoneError, parse_mobile, phone_key
from shared.services.erasure import erase_interest

if TYPE_CHECKING:
    from shared.services.statistics import Statistics

log = logging.getLogger(__name__)

CODE_TTL = CODE_LIFETIME
MAX_CODE_ATTEMPTS = 5
CODES_PER_NUMBER_PER_HOUR = 3
NAME_MAX = 40
# Letters of any script, digits, and the few marks names and aliases use.
_NAME = re.compile(r"^[^\W_](?:[\w .'\-]*[^\W_.])?$")
_CODE = re.compile(r"^[0-9]{6}$")


def _name_ok(name: str) -> bool:
    """Combining marks (NFD input, Indic vowel signs) belong to the letter before them."""
    if unicodedata.category(name[0]).startswith("M"):
        return False
    return bool(_NAME.match("".join(c for c in name if not unicodedata.category(c).startswith("M"))))


# --- validation (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    code: str  # message key without the "err_" prefix
    params: Mapping[str, object] | None = None


@dataclass(frozen=True)
class ValidInterest:
    theme: str
    name: str
    phone: str  # E.164
    locale: str
    area: str | None


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in {"on", "true", "1", "yes"})


def validate_interest(
    raw: Mapping[str, object], organisation: Organisation, *, locale: str, require_pledge: bool
) -> ValidInterest | dict[str, FieldError]:
    """Check a submission from the form or the API. Returns the clean interest or errors by field."""
    errors: dict[str, FieldError] = {}

    def text(field: str) -> str:
        value = raw.get(field)
        return value.strip() if isinstance(value, str) else ""

    theme = text("theme")
    if not theme:
        errors["theme"] = FieldError("theme_required")
    elif organisation.theme(theme) is None:
        errors["theme"] = FieldError("theme_unknown")

    name = unicodedata.normalize("NFC", " ".join(text("name").split()))
    if not name:
        errors["name"] = FieldError("name_required")
    elif len(name) > NAME_MAX:
        errors["name"] = FieldError("name_too_long")
    elif not _name_ok(name):
        errors["name"] = FieldError("name_invalid")

    phone_raw = text("phone")
    phone = ""
    if not phone_raw:
        errors["phone"] = FieldError("phone_required")
    else:
        try:
            phone = parse_mobile(phone_raw, organisation.country)
        except PhoneError as exc:
            errors["phone"] = FieldError(f"phone_{exc.reason}")

    area: str | None = text("area") or None
    if organisation.areas:
        if area is None:
            errors["area"] = FieldError("area_required")
        elif organisation.area(area) is None:
            errors["area"] = FieldError("area_unknown")
    elif area is not None:
        errors["area"] = FieldError("area_unknown")

    if organisation.minimum_age is not None and not _truthy(raw.get("age_confirmed")):
        errors["age_confirmed"] = FieldError("age_required", {"age": organisation.minimum_age})
    if not _truthy(raw.get("consent")):
        errors["consent"] = FieldError("consent_required")
    if require_pledge and not _truthy(raw.get("pledge")):
        errors["pledge"] = FieldError("pledge_required")

    if errors:
        return errors
    return ValidInterest(theme=theme, name=name, phone=phone, locale=locale, area=area)


# --- outcomes ----------------------------------------------------------------------------


class IntakeError(Exception):
    code = "bad_request"


class Duplicate(IntakeError):
    code = "duplicate"


class Undeliverable(IntakeError):
    """The provider refused the number for good (invalid, not a mobile, unsubscribed)."""

    code = "phone_undeliverable"


class SmsUnavailable(IntakeError):
    code = "sms_unavailable"


class NotFound(IntakeError):
    code = "not_found"


class WrongCode(IntakeError):
    code = "code_wrong"


class CodeExpired(IntakeError):
    code = "code_expired"


class AlreadyVerified(IntakeError):
    code = "already_verified"


@dataclass(frozen=True)
class Registration:
    interest_id: str
    withdraw_token: str
    phone_last_digits: str


@dataclass(frozen=True)
class Verified:
    theme: str
    needed: int


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


# --- the service -------------------------------------------------------------------------


class IntakeService:
    def __init__(
        self,
        *,
        storage: StorageAccount,
        sender: SmsSender,
        templates: Templates,
        organisation: Organisation,
        client_registrations_per_hour: int,
        clock: Callable[[], datetime] = utcnow,
        counts_ttl: float = 5.0,
        statistics: Statistics | None = None,
    ) -> None:
        self._storage = storage
        self._sender = sender
        self._templates = templates
        self._org = organisation
        self._client_limit = client_registrations_per_hour
        self._clock = clock
        self._counts_ttl = counts_ttl
        self._statistics = statistics
        self._counts: tuple[float, dict[str, int]] | None = None
        self._counts_lock = threading.Lock()

    @property
    def _interests(self):
        return self._storage.table(INTERESTS)

    def _limiter(self) -> RateLimiter:
        from shared.adapters.storage import RATE_LIMITS

        return RateLimiter(self._storage.table(RATE_LIMITS), self._clock)

    # register ---------------------------------------------------------------------------

    def register(self, interest: ValidInterest, *, client_address: str | None) -> Registration:
        pkey = phone_key(interest.phone)
        now = self._clock()
        code = f"{secrets.randbelow(1_000_000):06d}"
        salt = secrets.token_hex(16)
        token = secrets.token_urlsafe(32)
        fields: dict[str, Any] = {
            "name": interest.name,
            "locale": interest.locale,
            "area": interest.area,
            "consent_version": self._org.consent_version,
            "withdraw_token_hash": _hash(token),
            "code_hash": _hash(salt, code),
            "code_salt": salt,
            "code_expires_at": now + CODE_TTL,
            "code_attempts": 0,
        }
        with storage_errors():
            existing = self._find_by_phone(interest.theme, pkey)
            if existing is not None and existing.status is not InterestStatus.PENDING_VERIFICATION:
                raise Duplicate()
            limiter = self._limiter()
            limiter.hit(f"phone.{pkey}", CODES_PER_NUMBER_PER_HOUR, timedelta(hours=1))
            if client_address:
                limiter.hit(f"client.{_hash(client_address)[:32]}", self._client_limit, timedelta(hours=1))

            if existing is not None:
                # An unconfirmed earlier try (a lost code, a typo in the name): replace it, same place in line.
                record = existing.model_copy(update=fields)
                written = self._interests.update_entity(
                    record.to_entity(),
                    mode=UpdateMode.REPLACE,
                    etag=existing.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
                record = record.model_copy(update={"etag": (written or {}).get("etag")})
                created = False
            else:
                record = Interest(
                    theme=interest.theme,
                    key=INTEREST_PREFIX + new_sortable_key(),
                    phone=interest.phone,
                    created_at=now,
                    **fields,
                )
                marker = {"PartitionKey": interest.theme, "RowKey": PHONE_PREFIX + pkey, "Interest": record.key}
                try:
                    self._interests.submit_transaction([("create", record.to_entity()), ("create", marker)])
                except TableTransactionError:
                    # Someone registered the same number for this theme a moment ago.
                    raise Duplicate() from None
                created = True

        body = self._templates.sms("verification", interest.locale, code=code, organisation=self._org.name, minutes=10)
        try:
            self._sender.send(interest.phone, body)
        except PermanentSmsError:
            self._undo(record, created, existing)
            raise Undeliverable() from None
        except SmsError:
            self._undo(record, created, existing)
            raise SmsUnavailable() from None
        return Registration(record.id, token, interest.phone[-2:])

    def _find_by_phone(self, theme: str, pkey: str) -> Interest | None:
        try:
            marker = self._interests.get_entity(theme, PHONE_PREFIX + pkey)
        except ResourceNotFoundError:
            return None
        try:
            return Interest.from_entity(self._interests.get_entity(theme, marker["Interest"]))
        except ResourceNotFoundError:
            return None

    def _undo(self, record: Interest, created: bool, previous: Interest | None) -> None:
        """A code that could not be sent leaves nothing behind (a replaced try gets its old row back)."""
        try:
            with storage_errors():
                if created:
                    self._delete_interest(record)
                elif previous is not None and record.etag:
                    # The code that reached the phone last time, and the token given then, work again.
                    self._interests.update_entity(
                        previous.to_entity(),
                        mode=UpdateMode.REPLACE,
                        etag=record.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
        except Exception:  # the retention sweep removes unverified rows that outlive their code
            log.warning("could not remove an unconfirmed interest after a failed send", exc_info=False)

    def _delete_interest(self, record: Interest) -> None:
        ops = [
            ("delete", {"PartitionKey": record.theme, "RowKey": record.key}),
            ("delete", {"PartitionKey": record.theme, "RowKey": PHONE_PREFIX + phone_key(record.phone)}),
        ]
        try:
            self._interests.submit_transaction(ops)
        except TableTransactionError:
            # The marker may already be gone; remove the interest on its own.
            with contextlib.suppress(ResourceNotFoundError):
                self._interests.delete_entity(record.theme, record.key)

    # verify -----------------------------------------------------------------------------

    def get(self, interest_id: str) -> Interest:
        location = split_interest_id(interest_id)
        if location is None or self._org.theme(location[0]) is None:
            raise NotFound()
        with storage_errors():
            try:
                return Interest.from_entity(self._interests.get_entity(*location))
            except ResourceNotFoundError:
                raise NotFound() from None

    def verify(self, interest_id: str, code: str) -> Verified:
        for _ in range(5):  # re-read when a concurrent attempt changed the row
            record = self.get(interest_id)
            if record.status is not InterestStatus.PENDING_VERIFICATION:
                raise AlreadyVerified()
            now = self._clock()
            if (
                record.code_hash is None
                or record.code_salt is None
                or record.code_expires_at is None
                or record.code_expires_at <= now
                or record.code_attempts >= MAX_CODE_ATTEMPTS
            ):
                raise CodeExpired()
            correct = hmac.compare_digest(_hash(record.code_salt, code), record.code_hash)
            if correct:
                update = {
                    "status": InterestStatus.WAITING,
                    "verified_at": now,
                    "code_hash": None,
                    "code_salt": None,
                    "code_expires_at": None,
                    "code_attempts": 0,
                }
            else:
                update = {"code_attempts": record.code_attempts + 1}
            try:
                with storage_errors():
                    self._interests.update_entity(
                        record.model_copy(update=update).to_entity(),
                        mode=UpdateMode.REPLACE,
                        etag=record.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except ResourceModifiedError:
                continue
            if not correct:
                raise WrongCode()
            self._invalidate_counts()
            self.request_formation(record.theme)
            return Verified(record.theme, self.needed(record.theme, record.area, self._theme_counts(record.theme)))
        raise CodeExpired()

    def request_formation(self, theme: str) -> None:
        try:
            self._storage.enqueue(FORMATION_REQUESTS, theme)
        except Exception:  # the timer sweep forms the group a few minutes later instead
            log.warning("could not request formation right away; the sweep will", exc_info=False)

    # withdraw ---------------------------------------------------------------------------

    def withdraw(self, interest_id: str, token: str) -> None:
        """Erase the interest if the token matches; NotFound for a wrong token or a missing interest alike."""
        try:
            record = self.get(interest_id)
        except NotFound:
            hmac.compare_digest(_hash(token), _hash(""))  # same work either way
            raise
        if not hmac.compare_digest(_hash(token), record.withdraw_token_hash):
            raise NotFound()
        # As erasure does it: out of the group (the facilitator is told), texts to them gone, counts kept.
        erase_interest(self._storage, record, clock=self._clock, statistics=self._statistics, sender=self._sender)
        self._invalidate_counts()

    # counts -----------------------------------------------------------------------------

    def waiting_counts(self) -> dict[str, int]:
        """Verified people waiting per bucket ('theme' or 'theme/area' when matching by area)."""
        with self._counts_lock:
            if self._counts and time.monotonic() - self._counts[0] < self._counts_ttl:
                return self._counts[1]
        counts: Counter[str] = Counter()
        with storage_errors():
            rows = self._interests.query_entities(
                "Status eq 'waiting'", select=["PartitionKey", "Area"], results_per_page=1000
            )
            for row in rows:
                counts[self._bucket(row["PartitionKey"], row.get("Area") or None)] += 1
        with self._counts_lock:
            self._counts = (time.monotonic(), dict(counts))
        return dict(counts)

    def _theme_counts(self, theme: str) -> dict[str, int]:
        """Waiting counts of one theme's partition only: what a verification needs to answer, at the cost
        of that theme's queue (a handful of rows while groups form), not every theme's."""
        counts: Counter[str] = Counter()
        with storage_errors():
            rows = self._interests.query_entities(
                "PartitionKey eq @theme and Status eq 'waiting'", parameters={"theme": theme}, select=["Area"]
            )
            for row in rows:
                counts[self._bucket(theme, row.get("Area") or None)] += 1
        return dict(counts)

    def _invalidate_counts(self) -> None:
        with self._counts_lock:
            self._counts = None

    def _bucket(self, theme: str, area: str | None) -> str:
        return f"{theme}/{area}" if self._org.match_by_area and area else theme

    def waiting(self, theme: str, area: str | None = None, counts: Mapping[str, int] | None = None) -> int:
        """People waiting where a newcomer would be matched; with no area given, the closest bucket."""
        counts = self.waiting_counts() if counts is None else counts
        if self._org.match_by_area and area is None:
            return max((n for key, n in counts.items() if key.startswith(f"{theme}/")), default=0)
        return counts.get(self._bucket(theme, area), 0)

    def needed(self, theme: str, area: str | None = None, counts: Mapping[str, int] | None = None) -> int:
        return more_needed(self._org.group_size.min, self.waiting(theme, area, counts))


__all__ = [
    "AlreadyVerified",
    "CodeExpired",
    "Duplicate",
    "FieldError",
    "IntakeService",
    "NotFound",
    "Registration",
    "SmsUnavailable",
    "Undeliverable",
    "ValidInterest",
    "Verified",
    "WrongCode",
    "validate_interest",
]
