"""Texts sent to our number that are not keywords: the rules of who hears about them (pure).

docs/architecture.md, "Every reply reaches a person". A facilitator's text is forwarded to the
coordinator; a member's text is answered with their facilitator's first name and the coordinator's
contact. The service that acts on these rules is services/replies.py.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

import phonenumbers

from shared.core.domain import Group, GroupStatus
from shared.core.languages import FALLBACK, LANGUAGES
from shared.core.organisation import Organisation
from shared.core.sms_segments import fits

# A forward costs at most this many segments; the facilitator's words are cut to fit.
MAX_FORWARD_SEGMENTS = 3
# The member's answer, with the longest names, organisation and contact we allow (two with real ones).
MAX_MEMBER_REPLY_SEGMENTS = 3
# Twilio accepts bodies of up to 1,600 characters; nothing longer is worth keeping.
MAX_TEXT = 1600
ELLIPSIS = "..."  # three dots are GSM-7; "…" would make the whole forward UCS-2


@dataclass(frozen=True)
class FacilitatorReply:
    """A facilitator's text to our number, as operators see it: their words and which group, nothing else."""

    key: str  # sorts by arrival
    facilitator_id: str
    theme: str  # the group's theme ("" when the facilitator has no group)
    group_key: str
    text: str
    received_at: datetime


def clean_text(body: str) -> str:
    """One paragraph of printable text: control and formatting characters and runs of space become one space."""
    text = unicodedata.normalize("NFC", body or "")[: MAX_TEXT * 2]
    printable = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    return " ".join(printable.split())[:MAX_TEXT]


def fit_words(render: Callable[[str], str], words: str, max_segments: int = MAX_FORWARD_SEGMENTS) -> str:
    """The longest start of `words` (cut at a space when one is near, marked with "...") whose
    rendered text costs at most `max_segments`; "" when not even the text around them fits."""
    if fits(render(words), max_segments):
        return words

    def cut(n: int) -> str:
        return words[:n].rstrip() + ELLIPSIS

    low, high = 0, len(words) - 1  # cut(low) is the shortest candidate; find the longest that fits
    if not fits(render(cut(low)), max_segments):
        return ""
    while low < high:
        middle = (low + high + 1) // 2
        if fits(render(cut(middle)), max_segments):
            low = middle
        else:
            high = middle - 1
    space = words.rfind(" ", 0, low)
    if space > low - 15 and space > 0:  # end on a whole word when that loses little
        low = space
    return cut(low)


def coordinator_contact(organisation: Organisation) -> str:
    """How a resident reaches the coordinator: the named coordinator's public phone or e-mail from the
    organisation file, else the coordinator's number."""
    named = organisation.coordinator
    if named is not None and (named.phone or named.email):
        return f"{named.name}, {named.phone or named.email}"
    return organisation.coordinator_phone


def concerned_group(groups: Iterable[Group], last_text_to: dict[str, datetime]) -> Group | None:
    """Which of a facilitator's groups a reply is about: the open group they last had a text about,
    else the open group assigned most recently, else (all closed) the one closed last.

    `last_text_to` maps group keys to the time of the newest text sent to the facilitator about them."""
    candidates = list(groups)
    open_groups = [g for g in candidates if g.status is not GroupStatus.CLOSED]
    if not open_groups:
        return max(candidates, key=lambda g: g.closed_at or g.formed_at, default=None)

    def recency(group: Group) -> tuple[datetime, datetime]:
        assigned = group.facilitator_assigned_at or group.formed_at
        return (last_text_to.get(group.key, assigned), assigned)

    return max(open_groups, key=recency)


# --- bounds on what our number answers (issue 19, item 2) --------------------------------------------

# A link in a facilitator's text is shown to the coordinator defanged and flagged: a lost or borrowed
# phone, or a forwarded phishing text, should not put a tappable link on the coordinator's screen.
# Schemes, "www." and host names under common top-level domains count; "t.ex." or "kl. 18.30" do not.
_LINK = re.compile(
    r"(?i)\b(?:[a-z][a-z0-9+.-]{1,15}://\S+"
    r"|www\.\S+"
    r"|(?:[a-z0-9-]{2,}\.)+(?:com|net|org|info|biz|io|ly|me|co|app|link|xyz|site|online|top|tk|gl|gd|cc|to"
    r"|se|nu|no|dk|fi|eu|de|uk|ru|cn)\b(?:/\S*)?)"
)


def has_link(text: str) -> bool:
    return _LINK.search(text or "") is not None


def defang(text: str) -> str:
    """Each link made untappable ("hxxps://evil[.]example/x"); the rest of the text as it was."""

    def safe(match: re.Match[str]) -> str:
        link = match.group(0)
        link = re.sub(r"(?i)^http", "hxxp", link)
        return link.replace(".", "[.]")

    return _LINK.sub(safe, text or "")


def reply_day(now: datetime, tz: tzinfo) -> str:
    """The organisation's calendar day, YYYYMMDD: "once a day" means once per local day."""
    return now.astimezone(tz).strftime("%Y%m%d")


def fallback_locale(phone: str) -> str:
    """The language of a number with no interest left to tell us: by country code."""
    for language in LANGUAGES:
        if phone.startswith(language.calling_codes):
            return language.code
    return FALLBACK


def in_countries(phone: str, countries: Iterable[str]) -> bool:
    """Whether an E.164 number belongs to one of `countries` (ISO 3166 codes): only those get an automatic
    answer. Texts abroad cost more, and a foreign auto-responder is how a reply loop or a pumping bill starts."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.region_code_for_number(number) in set(countries)
