"""How many SMS segments a text costs, the way a handset and the network count them.

A message is sent in the GSM 7-bit default alphabet (3GPP TS 23.038, formerly GSM 03.38) when every
character is in its basic table or its extension table; otherwise the whole message goes as UCS-2
(UTF-16 code units). A single message holds 160 septets or 70 UCS-2 units; a concatenated message
spends a 6-byte user data header in each part, leaving 153 septets or 67 units per segment.
A segment never ends in the middle of a character: an extension character (escape + code, two
septets) or a UTF-16 surrogate pair (an emoji) moves whole to the next segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Encoding = Literal["GSM-7", "UCS-2"]

# The basic table of the GSM 7-bit default alphabet, code points 0x00-0x7F in order.
# 0x1B is the escape to the extension table and stands for no character of its own (None).
_GSM7_BASIC_TABLE: Final[tuple[str | None, ...]] = (
    # 0x00-0x0F
    "@", "£", "$", "¥", "è", "é", "ù", "ì", "ò", "Ç", "\n", "Ø", "ø", "\r", "Å", "å",
    # 0x10-0x1F
    "Δ", "_", "Φ", "Γ", "Λ", "Ω", "Π", "Ψ", "Σ", "Θ", "Ξ", None, "Æ", "æ", "ß", "É",
    # 0x20-0x2F (0x24 is the currency sign ¤, not the dollar)
    " ", "!", '"', "#", "¤", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/",
    # 0x30-0x3F
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ":", ";", "<", "=", ">", "?",
    # 0x40-0x4F
    "¡", "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O",
    # 0x50-0x5F
    "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z", "Ä", "Ö", "Ñ", "Ü", "§",
    # 0x60-0x6F
    "¿", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o",
    # 0x70-0x7F
    "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "ä", "ö", "ñ", "ü", "à",
)  # fmt: skip

# The extension table (reached through 0x1B): each of these costs two septets.
# 0x0A form feed, 0x14 ^, 0x28 {, 0x29 }, 0x2F \, 0x3C [, 0x3D ~, 0x3E ], 0x40 |, 0x65 €.
_GSM7_EXTENSION_TABLE: Final[dict[int, str]] = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}  # fmt: skip

GSM7_BASIC: Final[frozenset[str]] = frozenset(c for c in _GSM7_BASIC_TABLE if c is not None)
GSM7_EXTENSION: Final[frozenset[str]] = frozenset(_GSM7_EXTENSION_TABLE.values())

GSM7_SINGLE: Final = 160
GSM7_PER_SEGMENT: Final = 153
UCS2_SINGLE: Final = 70
UCS2_PER_SEGMENT: Final = 67


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int  # 0 for the empty text


def _gsm7_costs(text: str) -> list[int] | None:
    """Septets per character, or None when some character has no GSM-7 form."""
    costs: list[int] = []
    for ch in text:
        if ch in GSM7_BASIC:
            costs.append(1)
        elif ch in GSM7_EXTENSION:
            costs.append(2)
        else:
            return None
    return costs


def _ucs2_costs(text: str) -> list[int]:
    """UTF-16 code units per character: two for anything outside the Basic Multilingual Plane."""
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _count_segments(costs: list[int], single: int, per_segment: int) -> int:
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per_segment:  # an escape pair or surrogate pair is never split
            segments += 1
            used = 0
        used += cost
    return segments


def segment_info(text: str) -> SegmentInfo:
    """Encoding, length in encoding units and number of SMS segments of `text`."""
    gsm = _gsm7_costs(text)
    if gsm is not None:
        return SegmentInfo("GSM-7", sum(gsm), _count_segments(gsm, GSM7_SINGLE, GSM7_PER_SEGMENT))
    ucs = _ucs2_costs(text)
    return SegmentInfo("UCS-2", sum(ucs), _count_segments(ucs, UCS2_SINGLE, UCS2_PER_SEGMENT))


def fits(text: str, max_segments: int) -> bool:
    """True when `text` is sent in at most `max_segments` segments."""
    if max_segments < 0:
        raise ValueError("max_segments must not be negative")
    return segment_info(text).segments <= max_segments
