"""Mobile numbers as residents type them, read in the organisation's region and stored as E.164."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
MAX_INPUT = 40


class PhoneError(ValueError):
    """Why a number was refused: 'invalid', 'not_mobile' or 'country' (message keys, never the number)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_mobile(raw: str, region: str, *, countries: Iterable[str] | None = None) -> str:
    """Return the E.164 form of a mobile number typed in `region` (e.g. '070-123 45 67', '0047 912 34 567').

    With `countries`, a number of any other country is refused ('country'): texts abroad cost more and
    are how SMS pumping earns its money."""
    text = (raw or "").strip()
    if not text or len(text) > MAX_INPUT:
        raise PhoneError("invalid")
    # International prefix "00" is how many Nordic residents write a foreign number.
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        raise PhoneError("invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("invalid")
    if countries is not None and phonenumbers.region_code_for_number(number) not in set(countries):
        raise PhoneError("country")
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise PhoneError("not_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Used only when PHONE_KEY_SECRET is unset in development and tests: never where real numbers live.
DEVELOPMENT_SECRET = b"gruppstart-development-phone-key-not-for-production"


class PhoneKeyer:
    """Keys derived from a number (markers, rate-limit rows): HMAC-SHA256 with a secret.

    An unkeyed hash of a number is no protection: every Swedish mobile number can be hashed in
    about 100 s on one core. With the secret kept in Key Vault, a copy of the tables alone does not
    give the numbers back. Keyed keys are 64 hex digits; the legacy unkeyed ones were 32, so the two
    can be told apart while rows written by earlier versions are migrated (`legacy`)."""

    LEGACY_LENGTH = 32

    def __init__(self, secret: bytes, *, accept_legacy: bool = True) -> None:
        if len(secret) < 16:
            raise ValueError("PHONE_KEY_SECRET must be at least 16 bytes")
        self._secret = secret
        self.accept_legacy = accept_legacy

    def key(self, e164: str) -> str:
        """The key for one number (also used for client addresses, which are personal data too)."""
        return hmac.new(self._secret, e164.encode("utf-8"), hashlib.sha256).hexdigest()

    def legacy(self, e164: str) -> str | None:
        """The unkeyed key earlier versions wrote, while rows with it may still exist; None after."""
        return legacy_phone_key(e164) if self.accept_legacy else None

    def keys(self, e164: str) -> tuple[str, ...]:
        """Every key rows about this number may be stored under: the keyed one first."""
        legacy = self.legacy(e164)
        return (self.key(e164), legacy) if legacy else (self.key(e164),)

    @staticmethod
    def is_legacy(key: str) -> bool:
        return len(key) == PhoneKeyer.LEGACY_LENGTH


def legacy_phone_key(e164: str) -> str:
    """The unkeyed SHA-256 key of versions before the keyed markers; read only to migrate its rows."""
    return hashlib.sha256(e164.encode("ascii")).hexdigest()[:32]


# The name earlier versions used; kept so callers that check for the unkeyed form keep reading clearly.
phone_key = legacy_phone_key
