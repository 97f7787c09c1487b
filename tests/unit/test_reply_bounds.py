"""The pure rules behind bounded replies (issue 19): links found and defanged, countries, days, and the
coordinator's notices measured at their longest."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.adapters.templates import Templates
from shared.core.i18n import LOCALES
from shared.core.replies import defang, fallback_locale, has_link, in_countries, reply_day
from shared.core.sms_segments import segment_info


@pytest.mark.parametrize(
    "text",
    [
        "Se https://evil.example/login",
        "HTTP://EXAMPLE.ORG",
        "gå in på www.något.nu",
        "bit.ly/3xYz",
        "kolla kommun.se/grupper",
        "ftp://files.example/x",
        "mejla anna@jonkoping.se",
    ],
)
def test_links_are_found_and_made_untappable(text: str) -> None:
    assert has_link(text)
    safe = defang(text)
    assert not has_link(safe.replace("[.]", "")) or "[.]" in safe
    assert "://" not in safe or "hxxp" in safe.lower() or "ftp" in safe
    assert ".se" not in safe and ".ly" not in safe and ".org" not in safe.lower() and ".example" not in safe


@pytest.mark.parametrize(
    "text", ["Vi ses kl. 18.30", "t.ex. i stora salen", "Ring 070-123 45 67", "Hej!", "", "3.5 timmar", "Obs.Nej"]
)
def test_ordinary_words_are_no_links(text: str) -> None:
    assert not has_link(text)
    assert defang(text) == text


@pytest.mark.parametrize(
    ("phone", "countries", "answered"),
    [
        ("+46701740699", ["SE"], True),
        ("+4791234567", ["SE"], False),
        ("+4791234567", ["SE", "NO"], True),
        ("+2348031234567", ["SE", "NO"], False),
        ("+447700900123", ["SE"], False),
        ("not a number", ["SE"], False),
    ],
)
def test_answers_only_within_the_organisations_countries(phone: str, countries: list[str], answered: bool) -> None:
    assert in_countries(phone, countries) is answered


def test_the_day_is_the_organisations_calendar_day() -> None:
    late = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)  # already 5 December in Stockholm
    assert reply_day(late, ZoneInfo("Europe/Stockholm")) == "20261205"
    assert reply_day(late, UTC) == "20261204"


def test_a_number_with_no_interest_is_answered_by_its_country_code() -> None:
    assert [fallback_locale(p) for p in ("+46701740699", "+4791234567", "+447700900123")] == ["sv", "nb", "en"]


LONGEST = {"facilitator": "Ann-Charlotte Brustuen-Kristiansen", "count": 100000}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    ("reason", "segments"),
    [("link", 1), ("facilitator_stopped", 2), ("signature_failures", 2), ("key_conflicts", 2), ("stop_failing", 2)],
)
def test_the_coordinators_notices_are_gsm7_and_short(locale: str, reason: str, segments: int) -> None:
    text = Templates().sms("coordinator_notice", locale, reason=reason, **LONGEST)
    info = segment_info(text)
    assert text and info.encoding == "GSM-7", text
    assert info.segments <= segments, (info, text)
    assert "+46" not in text and "+47" not in text
