"""Helpers for the privacy tests: people with numbers and names easy to search for, and a scan of
every table and queue for any trace of them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import phonenumbers

from shared.adapters.storage import QUEUES, TABLES
from shared.composition import Services
from shared.core.domain import Group
from shared.core.validation import ValidInterest
from tests.support.keys import DEVELOPMENT_PHONE_KEY_SECRET, hmac_key
from tests.support.tables import THEME, add_facilitator, groups

LEAVER = "+46735510003"
LEAVER_NAME = "Ylva Quennerstedt"


def person(i: int) -> tuple[str, str]:
    return f"Medlem Nummer{i}", f"+4673552{i:04d}"


def outbox_text(services: Services) -> str:
    """The newest text in the local outbox (services built with the default sender)."""
    return services.sender.messages()[-1].body  # type: ignore[attr-defined, no-any-return]


def register_verified(
    services: Services,
    name: str,
    phone: str,
    *,
    theme: str = THEME,
    locale: str = "sv",
    verify: bool = True,
    last_text: Callable[[Services], str] = outbox_text,
) -> str:
    """Register through the intake service and verify with the code from the outbox, as a resident does.
    `last_text` reads the newest text sent (another sender's record, e.g. the loopback Twilio server's)."""
    registration = services.intake.register(
        ValidInterest(theme=theme, name=name, phone=phone, locale=locale, area="habo"), client_address=None
    )
    if verify:
        match = re.search(r"\b(\d{6})\b", last_text(services))
        assert match
        services.intake.verify(registration.interest_id, match.group(1))
    return registration.interest_id


def form_group(
    services: Services,
    *,
    with_facilitator: bool = True,
    leaver_locale: str = "sv",
    theme: str = THEME,
    last_text: Callable[[Services], str] = outbox_text,
) -> Group:
    """Five verified people — the leaver among them — formed into one group."""
    if with_facilitator:
        add_facilitator(services)
    for i in range(4):
        register_verified(services, *person(i), theme=theme, last_text=last_text)
    register_verified(services, LEAVER_NAME, LEAVER, theme=theme, locale=leaver_locale, last_text=last_text)
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
    return number_forms(e164) | {
        legacy_unkeyed(e164),
        hmac_key(e164),  # the tests' secret (conftest)
        hmac_key(e164, DEVELOPMENT_PHONE_KEY_SECRET),  # services started by DEV_MODE alone (make dev, children)
    }


def legacy_unkeyed(e164: str) -> str:
    """The unkeyed marker of earlier versions: SHA-256 of the E.164 number, first 32 hex digits."""
    return hashlib.sha256(e164.encode("ascii")).hexdigest()[:32]


def hash_needles(e164: str) -> set[str]:
    """Unkeyed hashes anyone can recompute from a number: MD5, SHA-1 and SHA-256 hex of each of its forms
    (E.164, without +, national digits, national with a leading 0)."""
    national = str(phonenumbers.parse(e164).national_number)
    forms = number_forms(e164) | {"0" + national}
    return {
        hashlib.new(algorithm, form.encode("ascii")).hexdigest()
        for form in forms
        for algorithm in ("md5", "sha1", "sha256")
    }


# A run of hex digits long enough to be (part of) a hash; shorter runs match by chance.
_HEX_RUN = re.compile(r"[0-9a-f]{16,}")
# Separators between two digits, as a number is typed ("073-551 00 03", "0 7 3 5 5 1 …", "(073) 551.00.03").
_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s\-./()]+(?=\d)")


def holds(text: str, wanted: list[str], hashes: Iterable[str] = ()) -> bool:
    """Whether `text` holds a needle (case-insensitive; digits typed with separators count as joined), or a hex
    run of 16 digits or more that is part of one of `hashes` (a truncated hash is still the number's)."""
    folded = text.casefold()
    joined = _BETWEEN_DIGITS.sub("", folded)
    if any(n in folded or n in joined for n in wanted):
        return True
    return any(run in digest for run in _HEX_RUN.findall(folded) for digest in hashes)


def account_stores(services: Services) -> tuple[list[str], list[str]]:
    """Every table and every queue the storage account holds (not only the ones the app knows by name)."""
    tables = sorted(t.name for t in services.storage.table_service().list_tables())
    queues = sorted(q.name for q in services.storage.queue_service().list_queues())
    missing = set(TABLES) - set(tables), set(QUEUES) - set(queues)
    assert not any(missing), f"the account lacks the app's own tables or queues: {missing}"
    return tables, queues


def traces(services: Services, needles: Iterable[str], *, hashes: Iterable[str] = ()) -> list[str]:
    """Where any needle, or any part of one of `hashes`, occurs ("table/property", "queue name"): every
    property (keys included) of every table of the account, every message of every queue, poison queues too."""
    wanted = [n.casefold() for n in needles]
    digests = [h.casefold() for h in hashes]
    found = []
    tables, queues = account_stores(services)
    for table in tables:
        for entity in services.storage.table(table).list_entities():
            for prop, value in entity.items():
                if holds(str(value), wanted, digests):
                    found.append(f"{table}/{prop}")
    for name in queues:
        for message in services.storage.queue(name).peek_messages(max_messages=32):
            if holds(str(message.content), wanted, digests):
                found.append(f"queue {name}")
    return found


def provider_traces(
    stored: Iterable[dict[str, Any]], needles: Iterable[str], *, hashes: Iterable[str] = ()
) -> list[str]:
    """The sids of the provider's stored messages (the loopback Twilio server's `stored`) that hold a needle."""
    wanted = [n.casefold() for n in needles]
    digests = [h.casefold() for h in hashes]
    return [str(m.get("sid")) for m in stored if holds(json.dumps(m, ensure_ascii=False), wanted, digests)]


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))
