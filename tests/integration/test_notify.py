"""The notification pipeline end to end: outbox rows → queue → the registered notify function → the real
twilio SDK → a Twilio-compatible server on loopback. Run by the in-process host with host.json's rules."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import NOTIFICATIONS
from shared.composition import Services, use_services
from shared.core.domain import MessageKind, MessageStatus
from shared.local.runner import LocalHost, QueueRules
from shared.services.outbox import notification_for
from tests.support.tables import THEME, add_facilitator, outbox, seed_waiting
from tests.support.twilio_server import LoopbackTwilio, Reject, ServerError, Throttle

BASE = "https://gruppstart.example"
FAST = QueueRules(max_dequeue_count=5, visibility_timeout=1, batch_size=8, max_polling_interval=0.1)


@pytest.fixture
def twilio() -> Iterator[LoopbackTwilio]:
    with LoopbackTwilio() as server:
        yield server


@pytest.fixture
def wired(make_services, twilio: LoopbackTwilio) -> Iterator[tuple[Services, LocalHost]]:
    """Services sending through the real SDK to the loopback server, installed for the registered functions."""
    import function_app

    sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_="+46700000001", api_base_url=twilio.base_url)
    services = make_services(sender=sender, PUBLIC_BASE_URL=BASE, SMS_RATE_PER_SECOND="1000")
    use_services(services)
    host = LocalHost(function_app.app, services.storage, settings=services.settings, rules=FAST)
    yield services, host
    use_services(None)


def host_app():
    import function_app

    return function_app.app


def member_rows(services: Services) -> dict[str, dict]:
    table = services.storage.table("interests")
    return {
        r["Phone"]: r
        for r in table.query_entities("PartitionKey eq @t and Kind eq 'interest'", parameters={"t": THEME})
    }


def form_group(services: Services, n: int = 5) -> None:
    add_facilitator(services, name="Eva Lind")
    seed_waiting(services, n)
    services.formation.form_theme(THEME)


def test_a_group_of_five_gets_five_invitations_and_one_roster_once_each(wired, twilio):
    services, host = wired
    form_group(services)

    host.run_until_idle()

    accepted = twilio.accepted
    assert len(accepted) == 6
    members = member_rows(services)
    invitations = [m for m in accepted if m.to in members]
    assert sorted(m.to for m in invitations) == sorted(members)
    for message in invitations:
        name = members[message.to]["Name"]
        assert message.body.startswith(f"Hej {name}!")  # the members chose Swedish
        assert "Eva" in message.body and "STOPP" in message.body
        assert "+46" not in message.body  # a member never sees anyone's number
    [roster] = [m for m in accepted if m.to == "+46701740610"]
    for phone, row in members.items():
        assert f"{row['Name']} {phone}" in roster.body
    # Each send asks for delivery receipts at the public URL, naming its outbox row.
    assert all(m.status_callback and m.status_callback.startswith(f"{BASE}/api/sms/status?theme=") for m in accepted)
    rows = outbox(services)
    assert {r.status for r in rows} == {MessageStatus.SENT}
    assert {r.provider_sid for r in rows} == {m.sid for m in accepted}


def test_the_same_queue_message_delivered_twice_sends_once(wired, twilio):
    services, host = wired
    form_group(services)
    queue = services.storage.queue(NOTIFICATIONS)
    first = next(iter(outbox(services)))
    queue.send_message(notification_for(first))  # a duplicate, as a redelivery or a sweep would cause

    host.run_until_idle()

    assert len(twilio.accepted) == 6
    assert Counter(m.to for m in twilio.accepted).most_common(1)[0][1] == 1


def test_a_429_then_201_sends_once(wired, twilio):
    services, host = wired
    add_facilitator(services)
    seed_waiting(services, 5)
    twilio.plan(Throttle(retry_after=1))

    services.formation.form_theme(THEME)
    host.run_until_idle()

    assert len(twilio.received) == 7  # one throttled attempt, then six accepted
    assert len(twilio.accepted) == 6
    assert len({m.to for m in twilio.accepted}) == 6


def test_an_invalid_number_is_not_retried_and_the_coordinator_is_told_once(wired, twilio):
    services, host = wired
    form_group_numbers = "+46701000002"  # the third seeded person
    twilio.reject_numbers({form_group_numbers: 21211})
    form_group(services)

    host.run_until_idle()

    to_bad = [m for m in twilio.received if m.to == form_group_numbers]
    assert len(to_bad) == 1  # never retried
    [failed] = [r for r in outbox(services) if r.status is MessageStatus.FAILED]
    assert failed.error_code == 21211
    alerts = [m for m in twilio.accepted if m.to == services.organisation.coordinator_phone]
    assert len(alerts) == 1
    assert "21211" in alerts[0].body and form_group_numbers not in alerts[0].body
    # Delivering the failed row's message again changes nothing.
    services.storage.queue(NOTIFICATIONS).send_message(notification_for(failed))
    host.run_until_idle()
    assert len([m for m in twilio.received if m.to == form_group_numbers]) == 1
    assert len([m for m in twilio.accepted if m.to == services.organisation.coordinator_phone]) == 1


def test_a_message_failing_every_time_ends_in_the_poison_queue_and_is_visible(wired, twilio):
    services, host = wired
    add_facilitator(services)
    seed_waiting(services, 5)
    services.formation.form_theme(THEME)
    queue = services.storage.queue(NOTIFICATIONS)
    # Keep one message aside, send the rest, then make the provider fail for ours.
    target = next(r for r in outbox(services) if r.kind is MessageKind.ROSTER)
    for message in queue.receive_messages(messages_per_page=32):
        queue.delete_message(message)
    twilio.plan(*[ServerError(status=503)] * FAST.max_dequeue_count)
    queue.send_message(notification_for(target))

    only_send = LocalHost(
        host_app(),
        services.storage,
        settings=services.settings,
        rules=FAST,
        only={"send_notification"},
    )
    only_send.run_until_idle()

    poison = [m.content for m in services.storage.queue(f"{NOTIFICATIONS}-poison").peek_messages(max_messages=32)]
    assert poison == [notification_for(target)]
    attempts = [m for m in twilio.received if m.to == "+46701740610"]
    assert len(attempts) == FAST.max_dequeue_count and not [m for m in attempts if m.status_code == 201]

    # The poison queue's own function records the row as failed and tells the coordinator.
    host.run_until_idle()
    row = next(r for r in outbox(services) if r.key == target.key)
    assert row.status is MessageStatus.FAILED
    assert [m.to for m in twilio.accepted] == [services.organisation.coordinator_phone]


def test_no_number_or_name_reaches_the_logs(wired, twilio, caplog):
    services, host = wired
    caplog.set_level(logging.DEBUG)
    twilio.plan(Throttle(retry_after=1), Reject(code=21211, status=400))
    form_group(services)
    host.run_until_idle()

    text = caplog.text
    for phone, row in member_rows(services).items():
        assert phone not in text and phone[3:] not in text
        assert row["Name"] not in text
    assert "+46701740610" not in text and "Eva Lind" not in text


def test_host_json_retry_rules_are_what_the_runner_uses(tmp_path):
    rules = QueueRules.from_host_json()
    host_json = json.loads(Path("host.json").read_text())
    assert rules.max_dequeue_count == host_json["extensions"]["queues"]["maxDequeueCount"]
    # Every field is read, timespans as seconds: values written here, not computed by the code under test.
    queues = {"maxDequeueCount": 3, "visibilityTimeout": "00:01:30", "batchSize": 4, "maxPollingInterval": "00:00:02.5"}
    sample = tmp_path / "host.json"
    sample.write_text(json.dumps({"version": "2.0", "extensions": {"queues": queues}}))
    assert QueueRules.from_host_json(sample) == QueueRules(
        max_dequeue_count=3, visibility_timeout=90.0, batch_size=4, max_polling_interval=2.5
    )


@pytest.mark.parametrize("provider_has_it", [True, False])
def test_a_sender_that_died_mid_send_is_reconciled_with_the_provider(wired, twilio, provider_has_it):
    """A stale claim means an invocation died after claiming; the provider is asked before sending again."""
    from datetime import timedelta

    from shared.core.domain import utcnow

    services, _host = wired
    add_facilitator(services)
    seed_waiting(services, 5)
    services.formation.form_theme(THEME)
    target = next(r for r in outbox(services) if r.kind is MessageKind.INVITATION)
    table = services.storage.table("interests")
    claimed_at = utcnow() - timedelta(minutes=5)
    table.update_entity(
        {"PartitionKey": target.theme, "RowKey": target.key, "Status": "sending", "ClaimedAt": claimed_at},
        mode="merge",
    )
    # exactly what the dead invocation would have sent
    phone, body, _named = services.notifier._render(services.interests.unit(), target)
    if provider_has_it:
        earlier = services.sender.send(phone, body)

    outcome = services.notifier.handle(notification_for(target))

    row = next(r for r in outbox(services) if r.key == target.key)
    assert row.status is MessageStatus.SENT
    assert [m.to for m in twilio.accepted].count(phone) == 1  # never twice, never lost
    if provider_has_it:
        assert outcome.reason == "already_done" and row.provider_sid == earlier.sid
    else:
        assert outcome.sent


def test_a_delivery_receipt_that_arrives_before_the_send_is_recorded_keeps_its_status(wired, twilio):
    services, _host = wired
    form_group(services)
    target = next(r for r in outbox(services) if r.kind is MessageKind.INVITATION)
    rows = services.interests.unit()
    target = rows.message(target.theme, target.key)
    claimed = services.notifier._update(rows, target, {"status": MessageStatus.SENDING})
    services.storage.table("interests").update_entity(  # the status webhook, faster than our own write
        {"PartitionKey": target.theme, "RowKey": target.key, "Status": MessageStatus.DELIVERED.value}, mode="merge"
    )

    services.notifier._record_sent(rows, claimed, "SM" + "0" * 32)

    row = next(r for r in outbox(services) if r.key == target.key)
    assert row.status is MessageStatus.DELIVERED and row.provider_sid == "SM" + "0" * 32


def test_a_text_the_provider_accepted_after_our_timeout_is_not_sent_again(make_services, twilio):
    """A read timeout leaves it open whether the provider took the text: the retry asks before resending."""
    import function_app
    from tests.support.twilio_server import Stall

    sender = TwilioSender(
        twilio.account_sid, twilio.auth_token, from_="+46700000001", api_base_url=twilio.base_url, timeout=0.5
    )
    services = make_services(sender=sender, SMS_RATE_PER_SECOND="1000")
    use_services(services)
    try:
        host = LocalHost(function_app.app, services.storage, settings=services.settings, rules=FAST)
        add_facilitator(services)
        seed_waiting(services, 5)
        twilio.plan(Stall(1.5))  # the first text is accepted, but only after the sender gave up waiting
        services.formation.form_theme(THEME)

        host.run_until_idle()

        assert len(twilio.accepted) == 6
        assert len({m.to for m in twilio.accepted}) == 6  # nobody got a text twice
        assert {r.status for r in outbox(services)} == {MessageStatus.SENT}
    finally:
        use_services(None)
