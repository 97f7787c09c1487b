"""The organisation's wall clock and how dates read in sv, nb and en.

Time zones come from the IANA database through `zoneinfo`; the `tzdata` package supplies it
where the system has none (https://docs.python.org/3/library/zoneinfo.html#data-sources), so no
hand-written DST rule is needed. Date words and patterns come from CLDR through Babel.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from shared.core.organisation import Organisation

ZONES = {"SE": "Europe/Stockholm", "NO": "Europe/Oslo"}
# CLDR skeleton-free patterns, one per language: weekday, day, month name, 24-hour time.
_PATTERNS = {
    "sv": "EEEE d MMMM 'kl.' HH.mm",
    "nb": "EEEE d. MMMM 'kl.' HH.mm",
    "en": "EEEE d MMMM 'at' HH:mm",
}
_BABEL_LOCALES = {"sv": "sv_SE", "nb": "nb_NO", "en": "en_GB"}


def organisation_tz(organisation: Organisation) -> tzinfo:
    """Meeting times in texts, 'the day before', statistics months: Sweden and Norway by their zones."""
    return ZoneInfo(ZONES.get(organisation.country, "Europe/Stockholm"))


def format_meeting_time(when: datetime, locale: str, tz: tzinfo) -> str:
    """'tisdag 14 maj kl. 18.00', 'tirsdag 14. mai kl. 18.00', 'Tuesday 14 May at 18:00' (local time)."""
    lang = locale if locale in _PATTERNS else "en"
    return format_datetime(when.astimezone(tz), _PATTERNS[lang], locale=_BABEL_LOCALES[lang])
