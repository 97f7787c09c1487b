"""Every SMS template, in every language, with long realistic values: how many segments it costs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from shared.adapters.templates import Templates
from shared.core.domain import RecipientType
from shared.core.i18n import LOCALES
from shared.core.organisation import MUNICIPALITIES, load_municipality_file, parse_organisation
from shared.core.sms_segments import segment_info
from shared.services.sms_kinds import TEXTS, DirectRecipient

TEMPLATES = Path(__file__).resolve().parents[2] / "shared" / "templates" / "sms"
LONG_ORG = "Region Jönköpings län"  # longer than most: Aurskog-Høland kommune is 22
LONG_NAME = "Anna-Karin Öberg-Ståhl"  # a long first name + alias is 40 characters at most; this is 22
LONG_THEME = "för anhöriga till någon med beroende"  # a theme phrase: texts never lower-case a label


def member(i: int) -> SimpleNamespace:
    return SimpleNamespace(name=f"Maria-Louise {i}", phone=f"+4670174{i:04d}")


# Realistic worst cases for the tests below. Every text, these and new ones alike, is also rendered with long
# values through its registry entry and held to its segments in tests/unit/test_sms_kinds.py.
CONTEXTS = {
    "verification": {"code": "123456", "organisation": LONG_ORG, "minutes": 10},
    "invitation": {"name": LONG_NAME, "theme": LONG_THEME, "facilitator": "Ann-Charlotte", "organisation": LONG_ORG},
    "roster": {
        "ref": "A1B2C3",
        "theme": LONG_THEME,
        "members": [member(i) for i in range(5)],
        "organisation": LONG_ORG,
        "link": "",
    },
    "member_joined": {
        "ref": "A1B2C3",
        "theme": LONG_THEME,
        "joined": [member(1), member(2)],
        "count": 8,
        "organisation": LONG_ORG,
    },
    "member_left": {"ref": "A1B2C3", "theme": LONG_THEME, "left": LONG_NAME, "count": 7, "organisation": LONG_ORG},
    "coordinator_alert": {"ref": "A1B2C3", "theme": LONG_THEME, "reason": "failed", "error_code": 21211},
    "sms_budget_alert": {"limit": 100000, "daily": True, "minutes": 1440, "texts": True},  # the longer wording
    # Issue 19.5: an active group with no meeting recorded for weeks, to the coordinator.
    "quiet_group": {"ref": "A1B2C3", "theme": LONG_THEME, "weeks": 104, "handover_date": "30 september 2030"},
    # Issue 12: the handover and the closing, with the longest coordinator and date a reader gets.
    "handover": {
        "name": LONG_NAME,
        "theme": LONG_THEME,
        "facilitator": "Ann-Charlotte",
        "coordinator": "Anne Mette Brustuen-Kristiansen",
        "coordinator_phone": "+47 22 40 00 40",
        "leave_date": "30 september 2030",
        "organisation": LONG_ORG,
        "facilitator_stays": True,
    },
    "group_closed": {
        "name": LONG_NAME,
        "theme": LONG_THEME,
        "facilitator": "Ann-Charlotte",
        "coordinator": "Anne Mette Brustuen-Kristiansen",
        "coordinator_phone": "+47 22 40 00 40",
        "leave_date": "30 september 2030",
        "organisation": LONG_ORG,
    },
    # The facilitator's note is at most NOTE_MAX characters (services/facilitator_page.py): 240.
    "facilitator_report": {
        "ref": "A1B2C3",
        "theme": LONG_THEME,
        "facilitator": "Ann-Charlotte",
        "note": "Vi behöver en ny lokal, Folkets hus har stängt. " * 4 + "x" * 48,
        "organisation": LONG_ORG,
    },
    # Issue 19.1: a fresh link to the facilitator's page, asked for by texting LÄNK.
    "facilitator_link": {
        "name": "Ann-Charlotte",
        "link": "https://gs-jkpg-app-7q2x.azurewebsites.net/f/" + "W" * 80,
        "organisation": LONG_ORG,
    },
}


def kinds() -> list[str]:
    return sorted({p.stem for p in (TEMPLATES / "sv").glob("*.txt")})


def test_every_kind_exists_in_every_language():
    for locale in LOCALES:
        assert sorted(p.stem for p in (TEMPLATES / locale).glob("*.txt")) == kinds()


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_each_text_fits_three_segments(kind: str, locale: str):
    text = Templates().sms(kind, locale, **CONTEXTS[kind])
    info = segment_info(text)
    assert info.encoding == "GSM-7", f"{kind}/{locale} would be sent as UCS-2 (costs 2-3x): {text!r}"
    assert info.segments <= 3, f"{kind}/{locale}: {info.segments} segments"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("reason", ["awaiting_facilitator", "undelivered", "failed"])
def test_coordinator_alerts_fit_one_segment(locale: str, reason: str):
    text = Templates().sms("coordinator_alert", locale, **{**CONTEXTS["coordinator_alert"], "reason": reason})
    assert segment_info(text).segments == 1
    assert "+46" not in text


@pytest.mark.parametrize("locale", LOCALES)
def test_a_stuck_group_alert_fits_one_segment(locale: str):
    text = Templates().sms("coordinator_alert", locale, **{**CONTEXTS["coordinator_alert"], "reason": "stuck"})
    assert segment_info(text).segments == 1 and "A1B2C3" in text
    assert "could not be sent" not in text and "kunde inte" not in text and "kunne ikke" not in text


@pytest.mark.parametrize("locale", LOCALES)
def test_the_codes_budget_alert_names_three_busy_buckets_within_three_segments(locale: str):
    # Issue 19.6: the busiest client buckets by keyed id; beside send-rate's wording for the other texts.
    spenders = ["/24 3f9a21c0: 100000", "/48 0b7de955: 99999", "addr 9c41aa02: 99998"]
    context = {"limit": 100000, "daily": True, "minutes": 1440, "spenders": spenders}
    text = Templates().sms("sms_budget_alert", locale, **context)
    assert all(s in text for s in spenders), text
    info = segment_info(text)
    assert info.encoding == "GSM-7" and info.segments <= 3, (info, text)
    assert not any(s in Templates().sms("sms_budget_alert", locale, **context, texts=True) for s in spenders)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", ["handover", "group_closed"])
@pytest.mark.parametrize("coordinator", ["", "Anne Mette Brustuen-Kristiansen"])
def test_handover_and_closing_say_who_to_reach_and_when_the_number_leaves(kind: str, locale: str, coordinator: str):
    context = {**CONTEXTS[kind], "coordinator": coordinator}
    text = Templates().sms(kind, locale, **context)
    info = segment_info(text)
    assert info.encoding == "GSM-7" and info.segments <= 3, (info, text)
    assert context["leave_date"] in text and context["coordinator_phone"] in text and coordinator in text
    if kind == "handover":
        assert "STOP" in text  # every text to a resident says how to leave


@pytest.mark.parametrize("locale", LOCALES)
def test_the_facilitators_report_carries_the_note_and_fits_three_segments(locale: str):
    text = Templates().sms("facilitator_report", locale, **CONTEXTS["facilitator_report"])
    assert CONTEXTS["facilitator_report"]["note"] in text
    assert segment_info(text).segments <= 3


@pytest.mark.parametrize("locale", LOCALES)
def test_a_roster_of_eight_is_four_segments_and_five_with_the_longest_names(locale: str):
    """A full group's roster is the one text allowed past three segments. Issue 20 put a neutral
    opening of about 150 characters before the names (a lock screen shows no theme, name or number):
    one segment more than before."""
    typical = {**CONTEXTS["roster"], "members": [member(i) for i in range(8)]}
    text = Templates().sms("roster", locale, **typical)
    assert all(f"{m.name} {m.phone}" in text for m in typical["members"])
    assert segment_info(text).segments == 4
    longest = [SimpleNamespace(name="Å" * 40, phone=f"+4670174{i:04d}") for i in range(8)]  # names are <= 40
    assert segment_info(Templates().sms("roster", locale, **{**typical, "members": longest})).segments == 5


LINK = "https://gs-jkpg-app-7q2x.azurewebsites.net/f/WyJhMWIyYzNkNGU1ZjYwNzE4IiwwXQ.aw_AHg.jiy6Lu5m9Taov1yMHcSjjIiajx4"


@pytest.mark.parametrize("locale", LOCALES)
def test_a_roster_with_the_facilitators_page_link_costs_one_segment_more(locale: str):
    """Issue 12.3: the roster carries the facilitator's own link (about 110 characters); issue 20 added the
    neutral opening."""
    for n, segments in ((5, 4), (8, 5)):
        text = Templates().sms(
            "roster", locale, **{**CONTEXTS["roster"], "members": [member(i) for i in range(n)], "link": LINK}
        )
        assert LINK in text and segment_info(text).encoding == "GSM-7"
        assert segment_info(text).segments <= segments, (n, text)


def test_values_are_data_not_template_code():
    text = Templates().sms("invitation", "sv", **{**CONTEXTS["invitation"], "name": "{{7*7}}<b>"})
    assert "{{7*7}}<b>" in text and "49" not in text


# --- the theme stays off the lock screen (issue 13) ---------------------------------------------------

ORGANISATIONS = [
    parse_organisation(load_municipality_file(p)["organisation"]) for p in sorted(MUNICIPALITIES.glob("*.json"))
]
PHRASES = sorted(
    {(text.phrase, text.label) for org in ORGANISATIONS for theme in org.themes for text in theme.text.values()}
)
# What residents receive (the registry's texts to members, to a number being registered, to whoever texted
# us); the shortest values put the theme as early as it can ever come.
RESIDENTS = {RecipientType.MEMBER, DirectRecipient.APPLICANT, DirectRecipient.WRITER}
MEMBER_KINDS = sorted(text.template for text in TEXTS if text.recipient in RESIDENTS)
LOCK_SCREEN = 80


def shortest_context(kind: str, phrase: str) -> dict[str, object]:
    return {
        "name": "A",
        "theme": phrase,
        "facilitator": "",
        "organisation": "X",
        "when": "1/1 9.00",
        "place": "X",
        "code": "123456",
        "minutes": 10,
        "crisis": "",
        "privacy_url": "",
        "coordinator": "X",
        "coordinator_phone": "1",
        "leave_date": "1/1",
        "facilitator_stays": False,
    }


def test_every_text_to_a_resident_is_checked() -> None:
    # Ten when this was written: six outbox kinds to members, the code, and the three answers.
    assert len(MEMBER_KINDS) >= 10 and {"invitation", "verification", "help_reply", "handover"} <= set(MEMBER_KINDS)
    assert "roster" not in MEMBER_KINDS and "coordinator_notice" not in MEMBER_KINDS


@pytest.mark.parametrize(("phrase", "label"), PHRASES)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", MEMBER_KINDS)
def test_no_member_text_names_the_theme_in_its_first_80_characters(kind: str, locale: str, phrase: str, label: str):
    for facilitator in ("", "Bo"):
        context = {**shortest_context(kind, phrase), "facilitator": facilitator}
        text = Templates().sms(kind, locale, **context)
        head = text[:LOCK_SCREEN].lower()
        assert phrase.lower() not in head and label.lower() not in head, (kind, locale, text)
        if kind == "invitation":
            assert phrase in text, "the invitation says which group it is, after the lock screen"
            assert label.lower() not in text.replace(phrase, ""), "never a lower-cased label"


@pytest.mark.parametrize("organisation", ORGANISATIONS, ids=lambda o: o.id)
@pytest.mark.parametrize("locale", LOCALES)
def test_the_help_reply_carries_the_crisis_numbers_and_the_privacy_link_within_two_segments(organisation, locale):
    privacy_url = "https://gs-ahk-app-7q2x.azurewebsites.net/privacy"
    text = Templates().sms(
        "help_reply",
        locale,
        organisation=organisation.name,
        crisis=organisation.crisis_summary(locale),
        privacy_url=privacy_url,
    )
    assert all(line.number in text for line in organisation.crisis)
    assert privacy_url in text
    info = segment_info(text)
    assert info.encoding == "GSM-7" and info.segments <= 2, (info, text)
