"""Mobile numbers as residents type them, read in the organisation's region and stored as E.164."""

from __future__ import annotations

import hashlib

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
MAX_INPUT = 40


class PhoneError(ValueError):
    """Why a number was refused: 'invalid' or 'not_mobile' (message keys, never the number)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_mobile(raw: str, region: str) -> str:
    """Return the E.164 form of a mobile number typed in `region` (e.g. '070-123 45 67', '0047 912 34 567')."""
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
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise PhoneError("not_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_key(e164: str) -> str:
    """A stable key for one number, so indexes and counters never hold the number itself."""
    return hashlib.sha256(e164.encode("ascii")).hexdigest()[:32]
