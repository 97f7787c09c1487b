"""Positive controls for the erasure scan (tests/support/privacy.py): planted in a table and a queue the app
does not know by name, each form of a number — typed with separators, spaced out, E.164, national, keyed,
an unkeyed hash whole or cut — and the name are found; a stranger's number is not."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import pytest

from shared.adapters.storage import QUEUES, TABLES
from shared.composition import Services
from tests.support.keys import hmac_key
from tests.support.privacy import LEAVER, LEAVER_NAME, account_stores, hash_needles, number_needles, traces

NEEDLES = number_needles(LEAVER) | {LEAVER_NAME}
HASHES = hash_needles(LEAVER)
assert LEAVER == "+46735510003"  # the forms below are written out by hand for this number

FORMS = {
    "typed": "ring 073-551 00 03 efter fem",
    "spaced": "0 7 3 5 5 1 0 0 0 3",
    "dotted": "(073) 551.00.03",
    "e164": "+46735510003",
    "international": "0046735510003",
    "national": "735510003",
    "keyed": "phone." + hmac_key("+46735510003"),
    "sha256-cut": hashlib.sha256(b"+46735510003").hexdigest()[:24],
    "sha1": hashlib.sha1(b"46735510003").hexdigest(),  # noqa: S324 - a number's unkeyed hash is what we hunt
    "md5-national": hashlib.md5(b"0735510003").hexdigest(),  # noqa: S324
    "name": "Hälsningar från Ylva Quennerstedt",
}


@pytest.fixture
def planted(services: Services) -> Iterator[tuple[str, str]]:
    """A table and a queue of the account that the app's constants do not name; removed afterwards."""
    suffix = uuid.uuid4().hex[:8]
    table, queue = f"planted{suffix}", f"planted-{suffix}"
    services.storage.table_service().create_table(table)
    services.storage.queue_service().create_queue(queue)
    yield table, queue
    services.storage.table_service().delete_table(table)
    services.storage.queue_service().delete_queue(queue)


def test_the_scan_covers_every_table_and_queue_of_the_account(services: Services, planted: tuple[str, str]) -> None:
    tables, queues = account_stores(services)
    assert planted[0] in tables and planted[1] in queues
    assert set(TABLES) < set(tables)
    assert {*QUEUES, *(f"{q}-poison" for q in QUEUES)} <= set(queues)
    assert traces(services, NEEDLES, hashes=HASHES) == []  # nothing planted yet


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_form_is_found_in_a_table_the_app_does_not_name(
    services: Services, planted: tuple[str, str], form: str
) -> None:
    table = planted[0]
    services.storage.table(table).create_entity({"PartitionKey": "p", "RowKey": "r", "Note": FORMS[form]})
    assert traces(services, NEEDLES, hashes=HASHES) == [f"{table}/Note"]


def test_a_queue_message_is_found(services: Services, planted: tuple[str, str]) -> None:
    services.storage.queue(planted[1]).send_message('{"note": "073-551 00 03"}')
    assert traces(services, NEEDLES, hashes=HASHES) == [f"queue {planted[1]}"]


@pytest.mark.parametrize(
    "text",
    ["ring 073-551 00 04", "+46735510004", hashlib.sha256(b"+46735510004").hexdigest(), "Ylva Q.", "2026-12-04"],
)
def test_a_strangers_number_or_another_name_is_not_found(
    services: Services, planted: tuple[str, str], text: str
) -> None:
    services.storage.table(planted[0]).create_entity({"PartitionKey": "p", "RowKey": "r", "Note": text})
    assert traces(services, NEEDLES, hashes=HASHES) == []
