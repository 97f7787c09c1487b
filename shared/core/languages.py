"""The languages Gruppstart speaks: one list, from which everything else derives.

A language's code names its catalogs (`shared/locales/<code>.json`, `locales/admin/`, `locales/facilitator/`)
and its SMS templates (`shared/templates/sms/<code>/`); `tests/unit/test_languages.py` holds those folders to
this list. The pydantic types of organisation files, facilitators and the API, the Babel (CLDR) locale of
dates, month names and plural rules, the browser's aliases and the fallback by calling code all read it.
Adding a language is its catalogs and templates plus one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

from babel.dates import format_date


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1, as stored on rows and given in ?lang=
    babel: str  # the CLDR locale its dates, month names and plural rules come from
    meeting_pattern: str  # a meeting's weekday, day, month name and 24-hour time (CLDR pattern)
    day_pattern: str  # a day with its month name and year
    aliases: tuple[str, ...] = ()  # what browsers say instead (Accept-Language, ?lang=)
    calling_codes: tuple[str, ...] = ()  # numbers whose language we guess when nothing else tells us


LANGUAGES: tuple[Language, ...] = (
    Language("sv", "sv_SE", "EEEE d MMMM 'kl.' HH.mm", "d MMMM y", aliases=("se",), calling_codes=("+46",)),
    # Browsers say "no" or "nn" for Norwegian more often than "nb".
    Language("nb", "nb_NO", "EEEE d. MMMM 'kl.' HH.mm", "d. MMMM y", aliases=("no", "nn"), calling_codes=("+47",)),
    Language("en", "en_GB", "EEEE d MMMM 'at' HH:mm", "d MMMM y"),
)
CODES: tuple[str, ...] = tuple(language.code for language in LANGUAGES)
FALLBACK = "en"  # a text in a language we lack is read in English
_BY_CODE = {language.code: language for language in LANGUAGES}

# One of CODES, checked by pydantic as a Literal (the same error, `literal_error`, and the same JSON-schema
# enum as the hand-written Literal it replaces); mypy cannot read a Literal built from a tuple, so it sees str.
if TYPE_CHECKING:
    LocaleCode = str
else:
    LocaleCode = Literal[CODES]


def language(code: str) -> Language:
    """The language of `code`, English for one we do not speak."""
    return _BY_CODE.get(code) or _BY_CODE[FALLBACK]


def long_date(day: date, code: str) -> str:
    """'14 maj 2030', '14. mai 2030', '14 May 2030': CLDR's month names through Babel."""
    lang = language(code)
    return format_date(day, lang.day_pattern, locale=lang.babel)
