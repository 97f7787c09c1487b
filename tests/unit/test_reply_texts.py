"""The texts replies cause (issue 12, item 2) and the pure rules behind them: what a forward to the
coordinator and a member's answer cost in every language, how a facilitator's words are cut to fit,
cleaned, and which of their groups a reply is taken to be about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from shared.adapters.templates import Templates
from shared.core.domain import Group, GroupStatus, MessageKind
from shared.core.i18n import LOCALES
from shared.core.organisation import MUNICIPALITIES, load_municipality_file, parse_organisation
from shared.core.replies import (
    ELLIPSIS,
    MAX_FORWARD_SEGMENTS,
    MAX_MEMBER_REPLY_SEGMENTS,
    MAX_TEXT,
    clean_text,
    concerned_group,
    coordinator_contact,
    fit_words,
)
from shared.core.sms_segments import segment_info
from shared.services.sms_kinds import KINDS, forward_context

LONG_ORG = "Västra Götalandsregionen, Folkhälsokommittén i Östra Skaraborg"
LONG_NAME = "Maria-Louise Andersson-Öhrström"  # the facilitator's full name, as the coordinator sees it
LONG_MEMBER = "Å" * 40  # a first name or alias is at most 40 characters
LONG_CONTACT = "Anne-Charlotte Wennerström-Björk, anne-charlotte.wennerstrom-bjork@skaraborg.se"
ORGANISATIONS = [
    parse_organisation(load_municipality_file(p)["organisation"]) for p in sorted(MUNICIPALITIES.glob("*.json"))
]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def forward(locale: str, words: str, *, name: str = LONG_NAME, group_key: str = "group.0193abcdef", org=LONG_ORG):
    ref = group_key[-6:].upper() if group_key else "-"
    context = forward_context(name, words, group_key)
    return Templates().sms("facilitator_reply", locale, organisation=org, ref=ref, **context)


# --- what the texts cost --------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("facilitator", ["Ann-Charlotte", ""])
@pytest.mark.parametrize("contact", [LONG_CONTACT, *sorted({coordinator_contact(o) for o in ORGANISATIONS})])
def test_a_members_answer_fits_in_gsm7_even_with_the_longest_values(locale: str, facilitator: str, contact: str):
    text = Templates().sms(
        "member_reply", locale, name=LONG_MEMBER, facilitator=facilitator, coordinator=contact, organisation=LONG_ORG
    )
    assert contact in text and (facilitator in text if facilitator else True)
    assert "STOP" in text
    info = segment_info(text)
    assert info.encoding == "GSM-7", text
    assert info.segments <= MAX_MEMBER_REPLY_SEGMENTS, (info, text)


@pytest.mark.parametrize("organisation", ORGANISATIONS, ids=lambda o: o.id)
@pytest.mark.parametrize("locale", LOCALES)
def test_a_members_answer_is_two_segments_for_the_real_organisations(organisation, locale: str):
    text = Templates().sms(
        "member_reply",
        locale,
        name="Anna-Karin Öberg-Ståhl",  # 22 characters: a long first name and alias
        facilitator="Ann-Charlotte",
        coordinator=coordinator_contact(organisation),
        organisation=organisation.name,
    )
    info = segment_info(text)
    assert info.encoding == "GSM-7" and info.segments <= 2, (info, text)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    "words",
    [
        "",
        "Det gick bra!",
        "Lorem ipsum dolor sit amet " * 80,  # 2,160 characters, spaces between words
        "x" * MAX_TEXT,  # no space to cut at
        "Kan du ringa mig? 🙂 " * 60,  # an emoji makes the whole text UCS-2: 67 characters a segment
    ],
    ids=["empty", "short", "long", "unbroken", "ucs2"],
)
@pytest.mark.parametrize("group_key", ["group.0193abcdef", ""])
def test_a_forward_fits_three_segments_whatever_the_facilitator_wrote(locale: str, words: str, group_key: str):
    words = clean_text(words)
    fitted = fit_words(lambda w: forward(locale, w, group_key=group_key), words)
    text = forward(locale, fitted, group_key=group_key)

    assert segment_info(text).segments <= MAX_FORWARD_SEGMENTS, text
    assert LONG_NAME in text
    assert ("ABCDEF" in text) == bool(group_key)
    if words and fitted == words:
        assert f'"{words}"' in text
    elif words:
        assert fitted.endswith(ELLIPSIS) and words.startswith(fitted.removesuffix(ELLIPSIS))
        assert segment_info(forward(locale, words, group_key=group_key)).segments > MAX_FORWARD_SEGMENTS
        # Nothing longer would have fitted but for the word boundary (within 15 characters).
        assert len(fitted) >= 40
    if segment_info(words).encoding == "GSM-7":
        assert segment_info(text).encoding == "GSM-7", "the cut adds nothing outside GSM-7"


@pytest.mark.parametrize("locale", LOCALES)
def test_a_short_forward_is_one_segment_and_quotes_the_words(locale: str):
    text = forward(locale, "Det gick bra!", name="Eva Lind", org="Region Jönköpings län")
    assert segment_info(text).segments == 1
    assert text.startswith("Gruppstart: Eva Lind (") and '"Det gick bra!"' in text


def test_an_empty_text_is_forwarded_as_such():
    assert '"(tomt sms)"' in forward("sv", "")
    assert '"(empty text)"' in forward("en", "")


def test_words_cut_at_a_space_when_one_is_near():
    words = "Hej! " + "Vi träffades i går och det gick riktigt bra för alla i gruppen. " * 10
    fitted = fit_words(lambda w: forward("sv", w), words)
    assert fitted.endswith(ELLIPSIS)
    assert words[len(fitted) - len(ELLIPSIS)] == " ", "ends on a whole word"


def test_nothing_fits_when_the_frame_alone_is_too_long():
    assert fit_words(lambda w: "x" * 500 + w, "hej", max_segments=1) == ""


# --- cleaning the words -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "cleaned"),
    [
        ("  Hej!\r\n\r\nKan du ringa?\t ", "Hej! Kan du ringa?"),
        ("a\x00b\x1bc\u200bd\u202ee", "a b c d e"),  # control, zero-width and direction marks
        ("ha\u0308lsa", "hälsa"),  # NFC: one character, as GSM-7 has it
        (None, ""),
        ("x" * 5000, "x" * MAX_TEXT),
    ],
)
def test_clean_text(body, cleaned):
    assert clean_text(body) == cleaned


# --- the coordinator's contact ------------------------------------------------------------------------


def test_the_named_coordinators_public_contact_comes_first():
    by_id = {o.id: o for o in ORGANISATIONS}
    assert coordinator_contact(by_id["region-jonkoping"]) == "Birgitta Ekeberg, 010-242 41 73"
    # Aurskog-Høland names its coordinator without a public number: the coordinator's phone it is.
    assert coordinator_contact(by_id["aurskog-holand"]) == by_id["aurskog-holand"].coordinator_phone
    jonkoping = by_id["region-jonkoping"]
    assert jonkoping.coordinator is not None
    email_only = jonkoping.model_copy(update={"coordinator": jonkoping.coordinator.model_copy(update={"phone": None})})
    assert coordinator_contact(email_only) == "Birgitta Ekeberg, birgitta.ekeberg@rjl.se"


# --- which group a facilitator's reply is about ---------------------------------------------------------


def group(key: str, status: GroupStatus = GroupStatus.ACTIVE, *, assigned: int = 0, closed: int | None = None):
    return Group(
        theme="stress",
        key=f"group.{key}",
        locale="sv",
        status=status,
        facilitator_id="f1",
        formed_at=T0,
        facilitator_assigned_at=T0 + timedelta(days=assigned),
        closed_at=T0 + timedelta(days=closed) if closed is not None else None,
    )


def test_the_group_last_texted_about_is_the_one_a_reply_concerns():
    old, new = group("old", assigned=0), group("new", assigned=10)
    assert concerned_group([old, new], {}) == new  # no texts known: the newest assignment
    assert concerned_group([old, new], {old.key: T0 + timedelta(days=50), new.key: T0 + timedelta(days=11)}) == old


def test_open_groups_come_before_closed_ones_and_no_group_is_none():
    closed = group("closed", GroupStatus.CLOSED, assigned=20, closed=40)
    on_its_own = group("own", GroupStatus.ON_ITS_OWN, assigned=0)
    assert concerned_group([closed, on_its_own], {closed.key: T0 + timedelta(days=39)}) == on_its_own
    older = group("older", GroupStatus.CLOSED, closed=5)
    assert concerned_group([older, closed], {}) == closed
    assert concerned_group([], {}) is None


# --- the registry's renderers ------------------------------------------------------------------------


def draft(**kw):
    base = {"facilitator": None, "group": None, "member": None, "coordinator_phone": "+46701740605"}
    return SimpleNamespace(**{**base, **kw})


def test_the_member_answer_names_the_facilitator_only_while_the_group_runs():
    render = KINDS[MessageKind.MEMBER_REPLY].context
    eva = SimpleNamespace(first_name="Eva")
    member = SimpleNamespace(name="Ylva")
    running = draft(member=member, group=group("a"), facilitator=eva, coordinator_contact="Birgitta, 010")
    closed = draft(member=member, group=group("a", GroupStatus.CLOSED), facilitator=eva, coordinator_contact="")
    assert render(running) == {"name": "Ylva", "facilitator": "Eva", "coordinator": "Birgitta, 010"}  # type: ignore[arg-type]
    assert render(closed) == {"name": "Ylva", "facilitator": "", "coordinator": "+46701740605"}  # type: ignore[arg-type]


def test_the_forward_takes_name_and_words_from_its_row():
    render = KINDS[MessageKind.FACILITATOR_REPLY].context
    message = SimpleNamespace(subject_name="Eva Lind", forwarded_text="Hej", group_key="group.x")
    assert render(draft(message=message)) == {"facilitator": "Eva Lind", "text": "Hej", "group": True}  # type: ignore[arg-type]
