"""The SMS provider's copies of our texts, against Azurite: each is noted when sent (no number, no body),
deleted by the daily run once `SMS_PROVIDER_COPY_HOURS` have passed, at once for an erased person, tried
again when the provider refuses or fails; and the texts record whom they name."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from shared.adapters.sms.copies import PARTITION, CopyKeepingSender
from shared.adapters.sms.local import LocalOutboxSender
from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import SMS_COPIES
from shared.composition import Services
from shared.core.domain import MessageKind, MessageStatus
from shared.services.retention import Retention
from tests.support.privacy import LEAVER, LEAVER_NAME, form_group, number_forms
from tests.support.tables import Clock, drain, groups, interests, messages_of
from tests.support.twilio_server import LoopbackTwilio, ServerError
from tests.support.wiring import rewired

FACILITATOR_PHONE = "+46701740610"  # tests/support/tables.add_facilitator's


def copy_rows(services: Services) -> dict[str, dict]:
    return {row["RowKey"]: dict(row) for row in services.storage.table(SMS_COPIES).list_entities()}


def daily_run(services: Services, clock: Clock, hours: int = 24) -> Retention:
    retention = rewired(services, clock=clock, sms_provider_copy_hours=hours).retention
    retention.run()
    return retention


def send_all(services: Services) -> None:
    for text in drain(services):
        services.notifier.handle(text)


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackTwilio]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with LoopbackTwilio() as server:
        yield server


@pytest.fixture
def wired(make_services: Callable[..., Services], twilio: LoopbackTwilio) -> Services:
    sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_="+46766861000", api_base_url=twilio.base_url)
    return make_services(sender=sender, SMS_RATE_PER_SECOND="1000")


def from_twilio(twilio: LoopbackTwilio) -> Callable[[Services], str]:
    return lambda _services: twilio.accepted[-1].body or ""


def test_every_text_sent_is_noted_without_its_number_or_body(services: Services, outbox: LocalOutboxSender) -> None:
    assert isinstance(services.sender, CopyKeepingSender)
    form_group(services)
    send_all(services)

    rows = copy_rows(services)
    assert set(rows) == {m.sid for m in outbox.messages()}  # five codes, five invitations, the roster
    assert len(rows) == 11
    for row in rows.values():
        assert row["PartitionKey"] == PARTITION and "SentAt" in row
        assert not any(form in str(value) for value in row.values() for form in number_forms(LEAVER))
    assert sum(row["Recipient"] == services.keyer.key(LEAVER) for row in rows.values()) == 2  # code, invitation
    bodies = [m.body for m in outbox.messages()]
    assert [sid for sid, row in rows.items() if holds_a_body(row, bodies)] == []
    # Positive controls: the check finds a body planted in a row: a column of its own, or a line of it in a value.
    planted = next(iter(rows.values()))
    assert holds_a_body({**planted, "Body": "x"}, bodies)
    assert holds_a_body({**planted, "Recipient": bodies[-1].splitlines()[-1]}, bodies)


def holds_a_body(row: dict, bodies: list[str]) -> bool:
    """A column other than the four the table's docstring names, or any line of a text's body in a value."""
    if set(row) - {"PartitionKey", "RowKey", "SentAt", "Recipient"}:
        return True
    values = " ".join(str(v) for v in row.values())
    return any(line.strip() in values for body in bodies for line in body.splitlines() if len(line.strip()) >= 6)


def test_the_daily_run_deletes_copies_once_their_hours_are_over(services: Services, outbox: LocalOutboxSender) -> None:
    form_group(services)
    send_all(services)
    clock = Clock()

    daily_run(services, clock)
    assert len(outbox.messages()) == 11 and len(copy_rows(services)) == 11  # younger than 24 hours

    clock.advance(hours=25)
    daily_run(services, clock)

    assert outbox.messages() == [] and copy_rows(services) == {}


def test_a_copy_twilio_will_not_delete_yet_is_tried_again_next_run(wired: Services, twilio: LoopbackTwilio) -> None:
    form_group(wired, last_text=from_twilio(twilio))
    send_all(wired)
    twilio.settle()
    roster = next(m for m in messages_of(wired) if m.kind is MessageKind.ROSTER)
    twilio.settle("sent", [roster.provider_sid])  # no delivery receipt yet
    clock = Clock()
    clock.advance(hours=25)

    daily_run(wired, clock)

    assert [m["sid"] for m in twilio.stored] == [roster.provider_sid]
    assert list(copy_rows(wired)) == [roster.provider_sid]
    twilio.settle()
    daily_run(wired, clock)
    assert twilio.stored == [] and copy_rows(wired) == {}


def test_a_provider_failing_mid_run_loses_no_copy(wired: Services, twilio: LoopbackTwilio) -> None:
    form_group(wired, last_text=from_twilio(twilio))
    twilio.settle()
    twilio.plan(ServerError(500), ServerError(503))
    clock = Clock()
    clock.advance(hours=25)

    daily_run(wired, clock)

    assert len(twilio.stored) == 2 and len(copy_rows(wired)) == 2  # five codes; the two refused are kept
    daily_run(wired, clock)
    assert twilio.stored == [] and copy_rows(wired) == {}


def test_texts_record_whom_they_name(services: Services) -> None:
    group = form_group(services)
    send_all(services)

    sent = {m.kind: m for m in messages_of(services)}
    assert set(sent[MessageKind.ROSTER].named_keys) == set(group.member_keys)
    assert all(m.named_keys == () for m in messages_of(services) if m.kind is MessageKind.INVITATION)


def test_an_operators_removal_marks_the_copies_for_the_next_run(services: Services, outbox: LocalOutboxSender) -> None:
    group = form_group(services)
    send_all(services)
    leaver = next(i for i in interests(services) if i.phone == LEAVER)

    services.operations.remove_member(group.id, leaver.id)

    marked = {sid for sid, row in copy_rows(services).items() if row.get("EraseNow")}
    roster = next(m for m in messages_of(services) if m.kind is MessageKind.ROSTER)
    assert roster.provider_sid in marked and len(marked) == 3  # their code, their invitation, the roster
    assert all(row["Recipient"] != services.keyer.key(LEAVER) for row in copy_rows(services).values())
    daily_run(services, Clock())  # within the 24 hours: only the marked ones go
    assert not {m.sid for m in outbox.messages()} & marked
    assert len(outbox.messages()) == 11 - 3


@pytest.mark.parametrize("how", ["permanent", "poisoned"])
def test_a_leavers_name_is_dropped_when_the_facilitators_text_fails_for_good(
    wired: Services, twilio: LoopbackTwilio, how: str
) -> None:
    form_group(wired, last_text=from_twilio(twilio))
    drain(wired)
    wired.operations.erase_person(LEAVER)
    [queue_text] = drain(wired)
    [left] = [m for m in messages_of(wired) if m.kind is MessageKind.MEMBER_LEFT]
    assert left.subject_name == LEAVER_NAME

    if how == "permanent":
        twilio.reject_numbers({FACILITATOR_PHONE: 21211})
        assert wired.notifier.handle(queue_text).reason == "failed"
    else:
        wired.notifier.record_poisoned(queue_text)

    [after] = [m for m in messages_of(wired) if m.key == left.key]
    assert after.status is MessageStatus.FAILED and after.subject_name == ""
    assert not any(LEAVER_NAME in str(value) for row in copy_rows(wired).values() for value in row.values())
    assert groups(wired)  # the group itself stays
