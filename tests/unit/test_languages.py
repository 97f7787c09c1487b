"""Languages come from one list (core/languages.py): the catalogs and templates on disk match it exactly,
and what used to be written out per language (types, Babel locales, month names, aliases) derives from it."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from shared import PACKAGE_DIR
from shared.core.facilitators import Facilitator
from shared.core.i18n import LOCALES, choose_locale, parse_accept_language
from shared.core.languages import CODES, LANGUAGES, long_date
from shared.core.local_time import format_meeting_time
from shared.core.replies import fallback_locale
from shared.services.facilitators import FacilitatorIn
from shared.web.api import InterestIn

# Written out by hand: the languages spoken when this was written. A new one is added to the list, not here.
EXPECTED = ["sv", "nb", "en"]
CATALOG_FOLDERS = [PACKAGE_DIR / "locales", PACKAGE_DIR / "locales" / "admin", PACKAGE_DIR / "locales" / "facilitator"]
SMS_TEMPLATES = PACKAGE_DIR / "templates" / "sms"


def test_the_list_is_the_one_every_module_reads() -> None:
    assert list(CODES[:3]) == EXPECTED and len(set(CODES)) == len(CODES)
    assert LOCALES == CODES


@pytest.mark.parametrize("folder", CATALOG_FOLDERS, ids=lambda p: p.name)
def test_each_catalog_folder_holds_exactly_the_listed_languages(folder) -> None:
    found = sorted(p.stem for p in folder.glob("*.json"))
    assert found == sorted(CODES), f"{folder}: catalogs {found}, languages {sorted(CODES)}"


def test_the_sms_templates_hold_exactly_the_listed_languages() -> None:
    found = sorted(p.name for p in SMS_TEMPLATES.iterdir() if p.is_dir())
    assert found == sorted(CODES)
    # Every language has the same templates (their names are checked against the registry in test_sms_kinds.py).
    names = {code: sorted(p.name for p in (SMS_TEMPLATES / code).glob("*.txt")) for code in CODES}
    assert len({tuple(v) for v in names.values()}) == 1, names
    assert len(names["sv"]) >= 21


def test_aliases_and_calling_codes_are_unambiguous() -> None:
    aliases = [a for lang in LANGUAGES for a in lang.aliases]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & set(CODES)
    prefixes = [p for lang in LANGUAGES for p in lang.calling_codes]
    assert len(prefixes) == len(set(prefixes))


def test_browsers_words_and_numbers_map_to_the_listed_languages() -> None:
    assert parse_accept_language("nn-NO, no;q=0.9, se;q=0.8, en-GB;q=0.5, tlh;q=0.4") == ["nb", "nb", "sv", "en"]
    assert [fallback_locale(p) for p in ("+46701740000", "+4791234567", "+33612345678")] == ["sv", "nb", "en"]


def test_dates_read_as_before_in_each_language() -> None:
    # The hand-written month names web/notices.py had, and the patterns of local_time and group_life.
    assert [long_date(date(2030, 5, 14), code) for code in EXPECTED] == ["14 maj 2030", "14. mai 2030", "14 May 2030"]
    assert [long_date(date(2030, 12, 1), code) for code in EXPECTED] == [
        "1 december 2030",
        "1. desember 2030",
        "1 December 2030",
    ]
    assert long_date(date(2030, 8, 3), "de") == "3 August 2030"  # a language we lack reads English
    when = datetime(2030, 5, 14, 16, 0, tzinfo=ZoneInfo("UTC"))
    tz = ZoneInfo("Europe/Stockholm")
    assert [format_meeting_time(when, code, tz) for code in EXPECTED] == [
        "tisdag 14 maj kl. 18.00",
        "tirsdag 14. mai kl. 18.00",
        "Tuesday 14 May at 18:00",
    ]


def test_types_accept_the_listed_languages_and_refuse_others() -> None:
    for code in EXPECTED:
        assert InterestIn(theme="t", name="n", phone="1", locale=code, age_confirmed=True, consent=True).locale == code
    with pytest.raises(ValidationError) as refused:
        FacilitatorIn(name="Bo", phone="+46701740000", locales=["tlh"])
    assert refused.value.errors()[0]["type"] == "literal_error"  # as the hand-written Literal answered
    assert InterestIn.model_json_schema()["properties"]["locale"]["anyOf"][0]["enum"] == list(CODES)
    assert "enum" in str(Facilitator.model_json_schema()["properties"]["locales"])


def test_choose_locale_takes_any_listed_language_from_the_query() -> None:
    from shared.core.organisation import MUNICIPALITIES, load_municipality_file, parse_organisation

    organisation = parse_organisation(load_municipality_file(sorted(MUNICIPALITIES.glob("*.json"))[0])["organisation"])
    assert [choose_locale(code, None, organisation) for code in EXPECTED] == EXPECTED
    assert choose_locale("no", None, organisation) == "nb"
