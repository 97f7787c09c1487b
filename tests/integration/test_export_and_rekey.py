"""Issue 19, item 8: the data-subject export shows everything we hold or know the provider holds about a
number, and the legacy (unkeyed) lookups switch off once the rekey pass is done; conflicts alert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.adapters.entities import entity_of
from shared.adapters.storage import INTERESTS
from shared.composition import Services
from shared.core.domain import INTEREST_PREFIX, PHONE_PREFIX, Interest, InterestStatus, new_sortable_key, utcnow
from shared.core.phone import legacy_phone_key
from shared.core.validation import ValidInterest
from tests.support.privacy import register_verified
from tests.support.tables import THEME, add_facilitator

PHONE = "+46701740610"  # add_facilitator's number: Eva registers herself too


@pytest.fixture
def fresh_process(services: Services) -> Iterator[Services]:
    """Each test's keyer starts as a new process's: legacy lookups on."""
    services.keyer.accept_legacy = True
    yield services
    services.keyer.accept_legacy = True


def test_the_export_holds_pending_attempts_provider_copies_and_a_facilitators_replies(fresh_process):
    services = fresh_process
    add_facilitator(services)
    register_verified(services, "Eva Lind", PHONE)  # a code text: a provider copy
    services.intake.register(
        ValidInterest(theme="anhorig", name="Eva L", phone=PHONE, locale="sv", area="habo"), client_address=None
    )  # never verified: a pending attempt
    inbound_sid = "SM" + "7" * 32
    services.replies.receive(PHONE, "Kan jag ta en grupp till?", inbound_sid)  # forwarded, listed

    exported = services.operations.export_person("070-174 06 10")

    assert [(a["theme"], a["verification_code_pending"]) for a in exported["pending_attempts"]] == [("anhorig", True)]
    held = {c["provider_id"] for c in exported["provider_copies"]}
    assert inbound_sid in held and len(held) == 3, "two code texts and their text to us"
    assert [r["text"] for r in exported["facilitator_replies"]] == ["Kan jag ta en grupp till?"]
    assert [i["theme"] for i in exported["interests"]] == [THEME]


def test_the_export_and_erasure_reach_a_theme_no_longer_offered(make_services):
    from tests.conftest import municipality

    document = municipality("region-jonkoping")["organisation"]
    document["themes"] = [t for t in document["themes"] if t["id"] != THEME]
    after = make_services(document)
    before = make_services()  # the same tables (emptied once more, before anyone registers)
    register_verified(before, "Eva Lind", PHONE)

    assert [i["theme"] for i in after.operations.export_person(PHONE)["interests"]] == [THEME]
    assert after.operations.erase_person(PHONE) > 0
    assert before.operations.export_person(PHONE)["interests"] == []


def _legacy_marker(services: Services, theme: str, phone: str) -> Interest:
    now = utcnow()
    interest = Interest(
        theme=theme,
        key=INTEREST_PREFIX + new_sortable_key(),
        name="Gammal",
        phone=phone,
        locale="sv",
        area="habo",
        status=InterestStatus.WAITING,
        consent_version="1",
        created_at=now,
        verified_at=now,
        withdraw_token_hash="0" * 64,
    )
    table = services.storage.table(INTERESTS)
    table.create_entity(entity_of(interest))
    table.create_entity(
        {"PartitionKey": theme, "RowKey": PHONE_PREFIX + legacy_phone_key(phone), "Interest": interest.key}
    )
    return interest


def test_legacy_lookups_switch_off_once_the_pass_is_done(fresh_process):
    services = fresh_process
    _legacy_marker(services, THEME, PHONE)
    assert services.rekey.retire_legacy_keys(), "not done: still on"
    assert services.keyer.keys(PHONE)[1] == legacy_phone_key(PHONE)

    report = services.rekey.migrate_phone_keys()

    assert report.markers_rewritten == 1 and report.markers_in_conflict == 0
    assert services.keyer.accept_legacy is False and services.keyer.keys(PHONE) == (services.keyer.key(PHONE),)


def test_another_process_switches_off_when_it_next_asks(fresh_process, make_services):
    services = fresh_process
    services.rekey.migrate_phone_keys()  # nothing to rewrite: done at once
    services.keyer.accept_legacy = True  # another process, started before the pass

    assert services.rekey.retire_legacy_keys() is False
    assert services.keyer.accept_legacy is False


def test_conflicts_keep_legacy_lookups_on_and_tell_the_coordinator_once_a_day(fresh_process):
    services = fresh_process
    register_verified(services, "Ny Anmälan", PHONE)  # the keyed marker names this one
    _legacy_marker(services, THEME, PHONE)  # an old one names another: which stands is an operator's call
    before = len(services.sender.messages())  # type: ignore[attr-defined]
    retention = services.retention

    retention.run()
    retention.run()

    told = [m.body for m in services.sender.messages()[before:]]  # type: ignore[attr-defined]
    assert len(told) == 1 and "registrerade två gånger" in told[0]
    assert all(m.to == services.organisation.coordinator_phone for m in services.sender.messages()[before:])  # type: ignore[attr-defined]
    assert services.keyer.accept_legacy is True
    assert services.reply_log.newest(5) == []
