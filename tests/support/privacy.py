"""Helpers for the privacy tests: people with numbers and names easy to search for, and a scan of
every table and queue for any trace of them."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

import phonenumbers

from shared.adapters.storage import QUEUES, TABLES
from shared.composition import Services
from shared.core.domain import Group
from shared.core.phone import DEVELOPMENT_SECRET, PhoneKeyer, phone_key
from shared.core.validation import ValidInterest
from tests.support.tables import THEME, add_facilitator, groups

LEAVER = "+46735510003"
LEAVER_NAME = "Ylva Quennerstedt"


def person(i: int) -> tuple[str, str]:
    return f"Medlem Nummer{i}", f"+4673552{i:04d}"


def register_verified(
    services: Services, name: str, phone: str, *, theme: str = THEME, locale: str = "sv", verify: bool = True
) -> str:
    """Register through the intake service and verify with the code from the outbox, as a resident does."""
    registration = services.intake.register(
        ValidInterest(theme=theme, name=name, phone=phone, locale=locale, area="habo"), client_address=None
    )
    if verify:
        match = re.search(r"\b(\d{6})\b", services.sender.messages()[-1].body)  # type: ignore[attr-defined]
        assert match
        services.intake.verify(registration.interest_id, match.group(1))
    return registration.interest_id


def form_group(
    services: Services, *, with_facilitator: bool = True, leaver_locale: str = "sv", theme: str = THEME
) -> Group:
    """Five verified people — the leaver among them — formed into one group."""
    if with_facilitator:
        add_facilitator(services)
    for i in range(4):
        register_verified(services, *person(i), theme=theme)
    register_verified(services, LEAVER_NAME, LEAVER, theme=theme, locale=leaver_locale)
    report = services.formation.form_theme(theme)
    assert report.groups_formed == 1
    [group] = groups(services, theme)
    return group


def number_forms(e164: str) -> set[str]:
    """The forms a number could be written in: E.164, without +, national digits (in 0701… too)."""
    national = str(phonenumbers.parse(e164).national_number)
    return {e164, e164.lstrip("+"), national}


def number_needles(e164: str) -> set[str]:
    """What a stored row could hold of a number: its forms and the keys derived from it (keyed and legacy)."""
    return number_forms(e164) | {phone_key(e164), PhoneKeyer(DEVELOPMENT_SECRET).key(e164)}


def traces(services: Services, needles: Iterable[str]) -> list[str]:
    """Where any needle occurs ("table/property", "queue name"): every property (keys included) of every
    table, every message of every queue."""
    wanted = [n.casefold() for n in needles]
    found = []
    for table in TABLES:
        for entity in services.storage.table(table).list_entities():
            for prop, value in entity.items():
                if any(n in str(value).casefold() for n in wanted):
                    found.append(f"{table}/{prop}")
    for name in (*QUEUES, *(f"{q}-poison" for q in QUEUES)):
        for message in services.storage.queue(name).peek_messages(max_messages=32):
            if any(n in str(message.content).casefold() for n in wanted):
                found.append(f"queue {name}")
    return found


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))
