"""The SMS sender interface, its errors, and number masking for logs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol, runtime_checkable

# How far the provider's clock and ours may disagree when matching a message to a claim.
CLOCK_SKEW: Final = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class SentMessage:
    sid: str
    status: str  # the provider's status, e.g. "queued" (or "accepted" through a messaging service)


class SmsError(Exception):
    """Sending failed. The message text never contains the number or the body."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code  # the provider's error code, e.g. 21211
        self.status = status  # the HTTP status, when there was an answer
        self.retry_after = retry_after  # seconds, when the provider said so (Retry-After)


class PermanentSmsError(SmsError):
    """This message can never be sent as it is: record it, do not retry."""


class TransientSmsError(SmsError):
    """Sending may succeed later: let the queue retry."""


class CopyNotFinal(TransientSmsError):
    """The provider keeps its copy of a message until the message has a final status (Twilio error 20009:
    "wait several minutes and try again", rarely up to 14 days): try deleting it again later."""


@runtime_checkable
class SmsSender(Protocol):
    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SentMessage: ...

    def find_sent(self, to: str, body: str, since: datetime) -> SentMessage | None:
        """The message with this body the provider accepted for `to` at or after `since`, if any.

        Lets a sender that died between the provider's answer and recording it find out, instead of
        sending the same text twice."""
        ...

    def delete(self, sid: str) -> bool:
        """Delete the provider's copy of a message (its body and numbers): True when deleted, False when the
        provider holds no such message (already deleted). Raises CopyNotFinal while the message is not
        final yet, TransientSmsError when the provider could not be asked: try again later."""
        ...


# --- masking -------------------------------------------------------------------------------------

# ITU-T E.164 country codes are prefix-free: 1 and 7 are the only one-digit codes, these are the
# two-digit ones, and every other code has three digits.
_TWO_DIGIT_COUNTRY_CODES: Final = frozenset({
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49",
    "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66",
    "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
})  # fmt: skip
_ASCII_DIGITS: Final = frozenset("0123456789")


def masked(phone: str) -> str:
    """A phone number fit for logs: the country code and the last two digits, e.g. "+46*******67".

    Anything that is not an E.164 number keeps only its last two digits ("********67"); very short
    inputs are masked whole. Never raises.
    """
    digits = "".join(ch for ch in str(phone) if ch in _ASCII_DIGITS)
    if not digits:
        return "*"
    if str(phone).lstrip().startswith("+") and len(digits) >= 8:
        if digits[0] in "17":
            cc_len = 1
        elif digits[:2] in _TWO_DIGIT_COUNTRY_CODES:
            cc_len = 2
        else:
            cc_len = 3
        national = digits[cc_len:]
        return "+" + digits[:cc_len] + "*" * (len(national) - 2) + national[-2:]
    if len(digits) >= 6:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)
