"""The registry of every text (services/sms_kinds.TEXTS), walked: each entry, queued or direct, has its template
in every language; every template file belongs to an entry; every variable a template uses is fed by its
entry's context; and each renders through the real renderer (the one notify and the services send with) in
every language, as GSM-7 within its segments. A new text needs its entry and its templates, nothing here."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo

import pytest
from jinja2 import Environment, FileSystemLoader, meta

from shared import PACKAGE_DIR
from shared.adapters.templates import Templates
from shared.core.domain import Group, GroupStatus, Interest, InterestStatus, MessageKind, RecipientType, new_message
from shared.core.facilitators import Facilitator
from shared.core.i18n import LOCALES
from shared.core.organisation import MUNICIPALITIES, Organisation, load_municipality_file, parse_organisation
from shared.core.replies import coordinator_contact
from shared.core.sms_segments import segment_info
from shared.services.sms_kinds import (
    COORDINATOR_NOTICE,
    DIRECT,
    HELP_REPLY,
    KINDS,
    SMS_BUDGET_ALERT,
    TEXTS,
    VERIFICATION,
    Answer,
    BudgetSpent,
    Code,
    DirectRecipient,
    Draft,
    Notice,
    SmsText,
    compose,
    render_text,
)

SMS = PACKAGE_DIR / "templates" / "sms"
# How many texts the walks must see, counted apart from the registry: one per template file on disk (a
# file no entry uses fails below), the outbox kinds one per MessageKind; 21 when this was written.
TEMPLATE_FILES = len(list((SMS / "sv").glob("*.txt")))
QUEUED = len(MessageKind)
DIRECTLY = TEMPLATE_FILES - QUEUED
NOW = datetime(2030, 5, 12, 9, 0, tzinfo=UTC)
ORGANISATIONS = [
    parse_organisation(load_municipality_file(p)["organisation"]) for p in sorted(MUNICIPALITIES.glob("*.json"))
]
# Segments a text may cost with long values; the roster names up to eight members (test_sms_templates.py).
SEGMENTS = {"roster": 5}
LONG_NAME = "Anna-Karin Öberg-Ståhl"
NOTE = "Vi behöver en ny lokal, Folkets hus har stängt. " * 4 + "x" * 48  # NOTE_MAX: 240


def test_the_registry_holds_every_text_once() -> None:
    assert TEMPLATE_FILES >= 21 and QUEUED >= 15 and DIRECTLY >= 6
    assert len(KINDS) == QUEUED and set(KINDS) == set(MessageKind)
    assert len(DIRECT) == DIRECTLY
    assert len(TEXTS) == QUEUED + DIRECTLY
    assert len({t.name for t in TEXTS}) == len(TEXTS), "two entries with one name"
    assert all(KINDS[k].name == k.value and KINDS[k].queued for k in MessageKind)
    assert not any(t.queued for t in DIRECT.values())
    # Each queued kind has its own text: no two kinds share a template (the invitation is nobody's fallback).
    assert len({t.template for t in KINDS.values()}) == QUEUED


@pytest.mark.parametrize("locale", LOCALES)
def test_the_template_files_are_exactly_the_registrys(locale: str) -> None:
    files = {p.stem for p in (SMS / locale).glob("*.txt")}
    registered = {t.template for t in TEXTS}
    assert registered - files == set(), f"{locale}: registered texts without a template"
    assert files - registered == set(), f"{locale}: template files no entry in services/sms_kinds.py uses"
    assert all((SMS / locale / f"{t}.txt").read_text(encoding="utf-8").strip() for t in registered)


# --- what each entry is rendered from -----------------------------------------------------------------


def person(theme: str, i: int, locale: str) -> Interest:
    return Interest(
        theme=theme,
        key=f"interest.{i:024x}",
        name=f"{LONG_NAME} {i}",
        phone=f"+4670174{i:04d}",
        locale=locale,
        status=InterestStatus.GROUPED,
        consent_version="2026-11",
        created_at=NOW - timedelta(days=60),
        verified_at=NOW - timedelta(days=60),
        group_id="group.000000000000000000000abc",
        withdraw_token_hash="x",
    )


def full_draft(org: Organisation, kind: MessageKind, locale: str) -> Draft:
    """A draft with everything any queued kind reads: a group with its meeting, leave and handover dates, the
    recipient, the facilitator, the members and the row's own facts."""
    theme = org.themes[0].id
    members = [person(theme, i, locale) for i in range(5)]
    facilitator = Facilitator(
        id="f1",
        name="Ann-Charlotte Lindqvist",
        phone="+46705559999",
        themes=[],
        areas=[],
        locales=list(LOCALES),
        capacity=2,
        active=True,
        created_at=NOW - timedelta(days=90),
    )
    group = Group(
        theme=theme,
        key="group.000000000000000000000abc",
        locale=locale,
        status=GroupStatus.ACTIVE,
        facilitator_id=facilitator.id,
        member_keys=tuple(m.key for m in members),
        formed_at=NOW - timedelta(days=60),
        first_meeting_at=NOW + timedelta(days=1),
        meeting_place="Folkets hus, Storgatan 1, lilla salen",
        members_leave_at=NOW + timedelta(days=90),
        quiet_escalated_at=NOW,
        quiet_handover_at=NOW + timedelta(weeks=4),
    )
    recipient = KINDS[kind].recipient
    assert isinstance(recipient, RecipientType)
    message = new_message(
        theme,
        kind,
        recipient,
        now=NOW,
        locale=locale,
        recipient_id=members[0].key if recipient is RecipientType.MEMBER else facilitator.id,
        group_key=group.key,
        subject_keys=(members[1].key,),
        subject_name=facilitator.name if kind is MessageKind.FACILITATOR_REPORT else members[1].name,
        reason="failed" if kind is MessageKind.COORDINATOR_ALERT else NOTE,
        error_code=21211,
    ).model_copy(update={"forwarded_text": "Vi ses på tisdag, jag tar med kaffe."})
    return Draft(
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
        facilitator_link="https://gs-jkpg-app-7q2x.azurewebsites.net/f/" + "W" * 80,
    )


def choices(annotation: Any, name: str) -> list[Any]:
    """Values a direct text's fact can take: each of a Literal, both of a bool, a long one otherwise."""
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    if annotation is bool:
        return [True, False]
    if annotation is int:
        return [99999]
    if annotation is str:
        return [
            "Maria-Louise Andersson" if name != "privacy_url" else "https://gs-ahk-app-7q2x.azurewebsites.net/privacy"
        ]
    if get_origin(annotation) is Sequence and get_args(annotation) == (str,):
        return [["/24 3f9a21c0: 100000", "/48 0b7de955: 99999"], []]
    raise AssertionError(f"{name}: no sample values for {annotation}; teach choices() this type")


def givens(text: SmsText[Any], org: Organisation, locale: str) -> list[Any]:
    if text.queued:
        return [full_draft(org, MessageKind(text.name), locale)]
    hints = get_type_hints(text.given)
    names = [f.name for f in fields(text.given)]
    combinations = itertools.product(*(choices(hints[n], n) for n in names))
    return [text.given(**dict(zip(names, values, strict=True))) for values in combinations]


def common(text: SmsText[Any]) -> set[str]:
    """What render_text gives every template besides the entry's context."""
    return {"organisation", "ref"} if text.queued else {"organisation"}


_ENV = Environment(loader=FileSystemLoader(SMS), autoescape=False)  # noqa: S701 - parsed, not rendered


def variables(template: str, locale: str) -> set[str]:
    source = (SMS / locale / f"{template}.txt").read_text(encoding="utf-8")
    return meta.find_undeclared_variables(_ENV.parse(source))


@pytest.mark.parametrize("locale", LOCALES)
def test_every_template_variable_is_fed_by_its_entrys_context(locale: str) -> None:
    org = ORGANISATIONS[0]
    unfed: dict[str, set[str]] = {}
    seen = 0
    for text in TEXTS:
        fed = set(common(text))
        for given in givens(text, org, locale):
            context = text.context(given)
            assert context is not None, f"{text.name}: the sample rendered nothing"
            fed |= set(context)
        missing = variables(text.template, locale) - fed
        if missing:
            unfed[text.name] = missing
        seen += 1
    assert seen == QUEUED + DIRECTLY
    assert unfed == {}, f"{locale}: template variables no context feeds"


@pytest.mark.parametrize("org", ORGANISATIONS, ids=lambda o: o.id)
@pytest.mark.parametrize("locale", LOCALES)
def test_every_text_renders_through_its_renderer_in_every_language(org: Organisation, locale: str) -> None:
    seen, renders = set(), 0
    for text in TEXTS:
        for given in givens(text, org, locale):
            rendered = render_text(Templates(), text, given, locale, org, "A1B2C3")
            assert rendered is not None, f"{text.name}/{locale}: rendered nothing"
            body, _ = rendered
            info = segment_info(body)
            assert body.strip(), f"{text.name}/{locale}: empty"
            assert info.encoding == "GSM-7", f"{text.name}/{locale} would be sent as UCS-2: {body!r}"
            assert info.segments <= SEGMENTS.get(text.name, 3), f"{text.name}/{locale}: {info.segments} segments"
            renders += 1
        seen.add(text.name)
    assert len(seen) == QUEUED + DIRECTLY
    assert renders >= len(seen) + 4 + 3  # the notice's five reasons and the budget alert's four variants counted


def test_recipients_are_people_we_can_reach() -> None:
    residents = {RecipientType.MEMBER, DirectRecipient.APPLICANT, DirectRecipient.WRITER}
    assert {t.recipient for t in KINDS.values()} <= set(RecipientType)
    assert {t.name for t in TEXTS if t.recipient in residents} >= {"verification", "help_reply", "invitation"}
    assert DIRECT["verification"].recipient is DirectRecipient.APPLICANT
    assert DIRECT["sms_budget_alert"].recipient is RecipientType.COORDINATOR


@pytest.mark.parametrize("locale", LOCALES)
def test_direct_texts_read_as_the_services_rendered_them_before(locale: str) -> None:
    """Byte for byte the texts the services composed with their own template calls before the registry
    (their wording was reviewed word by word before this change)."""
    t, org = Templates(), ORGANISATIONS[1]
    before_after = [
        (
            t.sms("verification", locale, code="123456", organisation=org.name, minutes=10),
            compose(t, VERIFICATION, Code(code="123456", minutes=10), locale, org),
        ),
        (
            t.sms("sms_budget_alert", locale, limit=40, daily=False, minutes=12, texts=False, spenders=["/24 ab: 9"]),
            compose(t, SMS_BUDGET_ALERT, BudgetSpent(40, False, 12, False, ["/24 ab: 9"]), locale, org),
        ),
        (
            t.sms("help_reply", locale, organisation=org.name, crisis=org.crisis_summary(locale), privacy_url="u"),
            compose(t, HELP_REPLY, Answer(crisis=org.crisis_summary(locale), privacy_url="u"), locale, org),
        ),
        (
            t.sms("coordinator_notice", locale, reason="facilitator_stopped", facilitator="Bo"),
            compose(t, COORDINATOR_NOTICE, Notice("facilitator_stopped", facilitator="Bo"), locale, org),
        ),
        (
            t.sms("coordinator_notice", locale, reason="key_conflicts", count=3),
            compose(t, COORDINATOR_NOTICE, Notice("key_conflicts", count=3), locale, org),
        ),
        (
            t.sms("coordinator_notice", locale, reason="link"),
            compose(t, COORDINATOR_NOTICE, Notice("link"), locale, org),
        ),
    ]
    assert len(before_after) == 6
    for before, after in before_after:
        assert after == before
