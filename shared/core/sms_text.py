"""Text a person types that goes out in SMS (a meeting place, a note to the coordinator), limited by
what it costs in segments rather than by characters (issue 19.4).

One character outside the GSM 7-bit alphabet turns the whole message into UCS-2: 70 instead of 160
characters a segment, so one emoji in a meeting place made every member's text cost up to six
segments. Typographic punctuation that phones and word processors put in (curly quotes, dashes,
ellipses, special spaces) has a plain GSM-7 equivalent, which we use, as Twilio's Smart Encoding does
(https://www.twilio.com/docs/messaging/services/smart-encoding-char-list). What has none (emoji,
letters such as á, Ł or Č) is refused with the characters named, so the writer knows what to change.
"""

from __future__ import annotations

from shared.core.sms_segments import GSM7_BASIC, GSM7_EXTENSION, segment_info
from shared.core.validation import TextProblem, one_line

# Characters with a plain GSM-7 spelling; each maps to what a reader would expect to see instead.
GSM7_EQUIVALENTS: dict[str, str] = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "\u0060": "'",
    "\u2039": "'", "\u203a": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "-", "\u00b7": "-",
    "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2004": " ", "\u2005": " ", "\u2006": " ", "\u2007": " ",
    "\u2008": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ", "\u205f": " ", "\u3000": " ",
    "\u200b": "", "\u00ad": "", "\u2060": "", "\ufeff": "",
    "\u00d7": "x", "\u02c6": "^", "\u02dc": "~",
}  # fmt: skip


class NotGsm7(TextProblem):
    """The text holds characters with no GSM-7 form; `characters` are those, once each, in order."""

    def __init__(self, characters: str) -> None:
        super().__init__("not_gsm")
        self.characters = characters


def to_gsm7(text: str) -> str:
    """`text` with typographic punctuation and spaces spelled in GSM-7; other characters unchanged."""
    return "".join(GSM7_EQUIVALENTS.get(c, c) for c in text)


def sms_line(raw: object, max_septets: int) -> str:
    """A one-line text for an SMS (core/validation.one_line), normalised to GSM-7 and at most
    `max_septets` septets (€, [, ] and a few more count two). Raises TextProblem ('required',
    'invalid', 'too_long') or NotGsm7 naming what cannot be sent as GSM-7."""
    # The character limit first only bounds the work: the septet limit below is the one that counts.
    text = " ".join(to_gsm7(one_line(raw, max_septets * 4)).split())
    if not text:
        raise TextProblem("required")
    outside = "".join(dict.fromkeys(c for c in text if c not in GSM7_BASIC and c not in GSM7_EXTENSION))
    if outside:
        raise NotGsm7(outside)
    if segment_info(text).units > max_septets:
        raise TextProblem("too_long")
    return text
