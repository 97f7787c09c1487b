"""The organisation's wall clock and how dates read in each language (core/languages.py).

Time zones come from the IANA database through `zoneinfo`; the `tzdata` package supplies it
where the system has none (https://docs.python.org/3/library/zoneinfo.html#data-sources), so no
hand-written DST rule is needed. Date words and patterns come from CLDR through Babel.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from shared.core.languages import language
from shared.core.organisation import Organisation

ZONES = {"SE": "Europe/Stockholm", "NO": "Europe/Oslo"}


def organisation_tz(organisation: Organisation) -> tzinfo:
    """Meeting times in texts, 'the day before', statistics months: Sweden and Norway by their zones."""
    return ZoneInfo(ZONES.get(organisation.country, "Europe/Stockholm"))


def format_meeting_time(when: datetime, locale: str, tz: tzinfo) -> str:
    """'tisdag 14 maj kl. 18.00', 'tirsdag 14. mai kl. 18.00', 'Tuesday 14 May at 18:00' (local time)."""
    lang = language(locale)  # its CLDR pattern: weekday, day, month name, 24-hour time
    return format_datetime(when.astimezone(tz), lang.meeting_pattern, locale=lang.babel)
