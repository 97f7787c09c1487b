"""Issue 20.4: what a lock screen shows (about 150 characters) tells a passer-by nothing sensitive.

Every outbox kind is rendered through the renderer notify sends with (services/sms_kinds.render: the
kind's own context builder over real records, then its template), for both organisations, in sv, nb and
en, with a recognisable theme, member names and numbers:

- a text to a member starts with the organisation and a neutral sentence; neither the group word
  ("självhjälpsgrupp", "selvhjelpsgruppe", "self-help group") nor the theme comes in its first 150
  characters;
- the facilitator's roster names no theme, member or number in its first 150 characters.

Failed before issue 20: every member text said "självhjälpsgrupp" within 25 characters, and the roster
opened with the theme, the names and the numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.adapters.templates import Templates
from shared.core.domain import (
    Group,
    GroupStatus,
    Interest,
    InterestStatus,
    MessageKind,
    RecipientType,
    new_message,
)
from shared.core.facilitators import Facilitator
from shared.core.i18n import LOCALES
from shared.core.organisation import MUNICIPALITIES, Organisation, load_municipality_file, parse_organisation
from shared.core.replies import coordinator_contact
from shared.services.sms_kinds import KINDS, Draft, render

LOCK_SCREEN = 150
GROUP_WORDS = ("självhjälpsgrupp", "selvhjelpsgrupp", "self-help group")
NOW = datetime(2030, 5, 12, 9, 0, tzinfo=UTC)
ORGANISATIONS = [
    parse_organisation(load_municipality_file(p)["organisation"]) for p in sorted(MUNICIPALITIES.glob("*.json"))
]
MEMBER_NAMES = ["Maja", "Oskar", "Leila", "Tor", "Britt"]  # recognisable, and no word of any template


def member(theme: str, i: int, locale: str) -> Interest:
    return Interest(
        theme=theme,
        key=f"interest.{i:024x}",
        name=MEMBER_NAMES[i],
        phone=f"+4670555{i:04d}",
        locale=locale,
        status=InterestStatus.GROUPED,
        consent_version="2026-11",
        created_at=NOW - timedelta(days=30),
        verified_at=NOW - timedelta(days=30),
        group_id="group.000000000000000000000abc",
        withdraw_token_hash="x",
    )


def draft(org: Organisation, kind: MessageKind, locale: str) -> tuple[Draft, list[Interest]]:
    theme = org.themes[0].id
    members = [member(theme, i, locale) for i in range(5)]
    facilitator = Facilitator(
        id="f1",
        name="Ingrid Holm",
        phone="+46705559999",
        themes=[],
        areas=[],
        locales=["sv", "nb", "en"],
        capacity=2,
        active=True,
        created_at=NOW - timedelta(days=90),
    )
    group = Group(
        theme=theme,
        key="group.000000000000000000000abc",
        locale=locale,
        status=GroupStatus.ON_ITS_OWN,
        facilitator_id=facilitator.id,
        member_keys=tuple(m.key for m in members),
        formed_at=NOW - timedelta(days=60),
        first_meeting_at=NOW + timedelta(days=1),
        meeting_place="Folkets hus, Storgatan 1",
        members_leave_at=NOW + timedelta(days=90),
        # For the quiet-group report (issue 19.5): the coordinator was told today, the handover is due later.
        quiet_escalated_at=NOW,
        quiet_handover_at=NOW + timedelta(weeks=2),
    )
    recipient = KINDS[kind].recipient
    message = new_message(
        theme,
        kind,
        recipient,
        now=NOW,
        locale=locale,
        recipient_id=members[0].key if recipient is RecipientType.MEMBER else facilitator.id,
        group_key=group.key,
        subject_keys=(members[1].key,),
        subject_name=members[1].name,
        reason="awaiting_facilitator" if kind is MessageKind.COORDINATOR_ALERT else "Vi behöver en ny lokal.",
    )
    built = Draft(
        message=message,
        locale=locale,
        group=group,
        member=members[0] if recipient is RecipientType.MEMBER else None,
        facilitator=facilitator,
        members=members if recipient is RecipientType.FACILITATOR else [],
        theme_phrase=org.theme_text(theme, locale).phrase,
        now=NOW,
        tz=ZoneInfo("Europe/Stockholm"),
        coordinator_phone=org.coordinator_phone,
        coordinator_contact=coordinator_contact(org),
        organisation=org,
        facilitator_link="https://gruppstart.example/f/abc.def",
    )
    return built, members


def rendered(org: Organisation, kind: MessageKind, locale: str) -> tuple[str, list[Interest]]:
    built, members = draft(org, kind, locale)
    result = render(Templates(), kind, built, org, "A1B2C3")
    assert result is not None, f"{kind.value} rendered nothing"
    return result[0], members


def sensitive_words(org: Organisation, locale: str) -> list[str]:
    """The theme as any text could name it: its phrase and label in every language the file has."""
    theme = org.themes[0]
    words = [t.phrase for t in theme.text.values()] + [t.label for t in theme.text.values()]
    return [w.lower() for w in words if w]


MEMBER_KINDS = [k for k, entry in KINDS.items() if entry.recipient is RecipientType.MEMBER]


def test_the_member_kinds_are_all_here() -> None:
    assert sorted(k.value for k in MEMBER_KINDS) == sorted(
        ["invitation", "meeting_set", "meeting_reminder", "member_reply", "handover", "group_closed"]
    ), "a new kind of text to members: it is checked here; say so in this list"


@pytest.mark.parametrize("org", ORGANISATIONS, ids=lambda o: o.id)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", MEMBER_KINDS, ids=lambda k: k.value)
def test_a_member_text_opens_with_the_organisation_and_keeps_group_and_theme_off_the_lock_screen(
    org: Organisation, locale: str, kind: MessageKind
) -> None:
    text, _members = rendered(org, kind, locale)
    head = text[:LOCK_SCREEN].lower()
    assert org.name in text[:60], f"{kind.value}/{locale} does not open with the organisation: {text!r}"
    for word in GROUP_WORDS:
        assert word not in head, f"{kind.value}/{locale}: {word!r} on the lock screen: {text!r}"
    for word in sensitive_words(org, locale):
        assert word not in head, f"{kind.value}/{locale}: the theme {word!r} on the lock screen: {text!r}"


@pytest.mark.parametrize("org", ORGANISATIONS, ids=lambda o: o.id)
@pytest.mark.parametrize("locale", LOCALES)
def test_the_invitation_names_its_group_after_the_lock_screen(org: Organisation, locale: str) -> None:
    text, _members = rendered(org, MessageKind.INVITATION, locale)
    phrase = org.theme_text(org.themes[0].id, locale).phrase
    assert text.rstrip(".").endswith(phrase), text  # the group word and the theme come last
    assert any(word in text.lower() for word in GROUP_WORDS)


@pytest.mark.parametrize("org", ORGANISATIONS, ids=lambda o: o.id)
@pytest.mark.parametrize("locale", LOCALES)
def test_the_roster_names_no_theme_member_or_number_on_the_lock_screen(org: Organisation, locale: str) -> None:
    text, members = rendered(org, MessageKind.ROSTER, locale)
    head = text[:LOCK_SCREEN]
    assert all(f"{m.name} {m.phone}" in text for m in members), "the roster still lists every member"
    for m in members:
        assert m.name not in head and m.phone not in head, (m.name, text)
    assert not any(ch.isdigit() for ch in head.replace(org.name, "")), f"a number on the lock screen: {head!r}"
    for word in sensitive_words(org, locale) + list(GROUP_WORDS):
        assert word not in head.lower(), (word, text)


@pytest.mark.parametrize("org", ORGANISATIONS, ids=lambda o: o.id)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", sorted(KINDS, key=str), ids=lambda k: k.value)
def test_every_kind_renders_through_the_real_renderer(org: Organisation, locale: str, kind: MessageKind) -> None:
    text, _members = rendered(org, kind, locale)
    assert text.strip() and "{{" not in text and "{%" not in text


# --- issue 20.3 and 20.5: the handover follows the scheme; STOP says what it does --------------------

STOP_SAYS = {
    "sv": "raderar vi alla dina anmälningar",
    "nb": "sletter vi alle påmeldingene dine",
    "en": "we then delete all your registrations",
}


@pytest.mark.parametrize("org", ORGANISATIONS, ids=lambda o: o.id)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", MEMBER_KINDS, ids=lambda k: k.value)
def test_wherever_stop_is_offered_it_says_it_deletes_every_registration(
    org: Organisation, locale: str, kind: MessageKind
) -> None:
    text, _members = rendered(org, kind, locale)
    if "STOP" in text:
        assert STOP_SAYS[locale] in text, f"{kind.value}/{locale}: {text!r}"


def test_the_swedish_handover_keeps_the_facilitator_as_the_groups_contact() -> None:
    """Region Jönköpings län: the igångsättare "har sedan fortsatt kontakt med gruppen och ger stöd vid behov"."""
    [jonkoping] = [o for o in ORGANISATIONS if o.id == "region-jonkoping"]
    text, _members = rendered(jonkoping, MessageKind.HANDOVER, "sv")
    assert "Ingrid finns kvar som kontakt om gruppen behöver stöd." in text, text
    assert "Birgitta Ekeberg, 010-242 41 73" in text  # the coordinator, for other questions


def test_aurskog_holands_handover_promises_no_continued_contact_its_scheme_does_not_state() -> None:
    [aurskog] = [o for o in ORGANISATIONS if o.id == "aurskog-holand"]
    text, _members = rendered(aurskog, MessageKind.HANDOVER, "nb")
    assert "Ingrid" not in text and "fortsatt kontakt" not in text, text
    assert "Trenger gruppen støtte, kontakt Anne Mette Brustuen" in text, text
