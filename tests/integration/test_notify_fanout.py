"""A queue message fanned out over its outbox rows (issue 15; one message per change then, per commit
since issue 22, see test_notify_per_commit.py): a transient failure of one row, a redelivery, a poisoned
message and a message of the old one-row form. Real parts throughout: Azurite, the registered functions
run by the in-process host, the twilio SDK against the loopback server."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared.adapters.sms.base import TransientSmsError
from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import NOTIFICATIONS
from shared.composition import Services, use_services
from shared.core.domain import MessageKind, MessageStatus, OutboxMessage
from shared.local.runner import LocalHost, QueueRules
from shared.services.formation import FormationService
from shared.services.notify import UnfinishedMessage
from shared.services.outbox import OutboxRows, parse_queue_message
from tests.support.tables import THEME, Clock, add_facilitator, drain, outbox, queued, seed_waiting
from tests.support.twilio_server import Accept, LoopbackTwilio, ServerError

FAST = QueueRules(max_dequeue_count=5, visibility_timeout=1, batch_size=8, max_polling_interval=0.1)
FACILITATOR_PHONE = "+46701740610"


@pytest.fixture
def twilio() -> Iterator[LoopbackTwilio]:
    with LoopbackTwilio() as server:
        yield server


@pytest.fixture
def wired(make_services, twilio: LoopbackTwilio) -> Iterator[Services]:
    sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_="+46700000001", api_base_url=twilio.base_url)
    services = make_services(sender=sender, SMS_RATE_PER_SECOND="1000")
    use_services(services)
    yield services
    use_services(None)


def host(services: Services, only: set[str] | None = None) -> LocalHost:
    import function_app

    return LocalHost(function_app.app, services.storage, settings=services.settings, rules=FAST, only=only)


def formed(services: Services) -> str:
    """A group of five with its facilitator; the one queue message its six texts were queued in."""
    add_facilitator(services)
    seed_waiting(services, 5)
    services.formation.form_theme(THEME)
    [text] = queued(services)
    return text


def by_key(services: Services) -> dict[str, OutboxMessage]:
    return {m.key: m for m in outbox(services)}


def assert_each_once(twilio: LoopbackTwilio, services: Services) -> None:
    rows = outbox(services)
    assert {r.status for r in rows} == {MessageStatus.SENT}
    assert len(twilio.accepted) == len(rows)
    assert max(Counter((m.to, m.body) for m in twilio.accepted).values()) == 1
    assert {r.provider_sid for r in rows} == {m.sid for m in twilio.accepted}


def test_a_formed_group_is_one_queue_message_naming_its_six_rows(wired, twilio):
    text = formed(wired)

    named = parse_queue_message(text)
    assert named == OutboxRows(THEME, named.rows) and len(named.rows) == 6
    assert set(named.rows) == set(by_key(wired))
    host(wired).run_until_idle()
    assert_each_once(twilio, wired)


def test_one_row_failing_transiently_is_retried_alone_and_nothing_is_sent_twice(wired, twilio):
    text = formed(wired)
    order = parse_queue_message(text).rows
    twilio.plan(Accept(), Accept(), ServerError(status=503))  # the third row's send fails

    with pytest.raises(TransientSmsError):
        wired.notifier.handle(text)  # the first attempt: the other five still go, then the queue retries

    after_first = by_key(wired)
    assert [after_first[k].status for k in order] == [MessageStatus.SENT] * 2 + [MessageStatus.PENDING] + [
        MessageStatus.SENT
    ] * 3
    assert len(twilio.received) == 6 and len(twilio.accepted) == 5

    handled = wired.notifier.handle(text)  # the retry

    assert handled.reason == "5 already_done, 1 sent"
    assert len(twilio.received) == 7  # only the failed row was tried again
    assert_each_once(twilio, wired)


def test_the_same_transient_failure_through_the_host_retries_only_the_unsent_row(wired, twilio):
    formed(wired)
    twilio.plan(ServerError(status=500))

    host(wired).run_until_idle()

    assert len(twilio.received) == 7
    assert_each_once(twilio, wired)
    assert list(wired.storage.queue(f"{NOTIFICATIONS}-poison").peek_messages()) == []


def test_a_redelivered_multi_row_message_sends_nothing_twice(wired, twilio):
    text = formed(wired)
    queue = wired.storage.queue(NOTIFICATIONS)
    for _ in range(3):  # redeliveries, a sweep's re-dispatch: the same rows named again
        queue.send_message(text)

    host(wired).run_until_idle()

    assert_each_once(twilio, wired)
    assert wired.notifier.handle(text).reason == "6 already_done"


def test_a_poisoned_multi_row_message_fails_every_unsent_row_visibly_and_alerts_the_coordinator_once(wired, twilio):
    text = formed(wired)
    order = parse_queue_message(text).rows
    # The first row goes through; every later try of every other row fails, on every attempt.
    twilio.plan(Accept(), *[ServerError(status=503)] * (5 + 5 * (FAST.max_dequeue_count - 1)))

    host(wired, only={"send_notification"}).run_until_idle()

    poison = [m.content for m in wired.storage.queue(f"{NOTIFICATIONS}-poison").peek_messages(max_messages=32)]
    assert poison == [text]  # the poisoned message still names its rows
    assert len(twilio.accepted) == 1

    host(wired).run_until_idle()  # the poison queue's function

    rows = by_key(wired)
    assert rows[order[0]].status is MessageStatus.SENT
    for key in order[1:]:
        assert rows[key].status is MessageStatus.FAILED and rows[key].error == "poisoned"
    coordinator = wired.organisation.coordinator_phone
    assert [m.to for m in twilio.accepted[1:]] == [coordinator]  # one alert for the message, not one per row
    # The poison message handled again (a redelivery) changes nothing and alerts nobody again.
    wired.notifier.record_poisoned(text)
    host(wired).run_until_idle()
    assert [m.to for m in twilio.accepted].count(coordinator) == 1


def test_old_single_row_messages_queued_before_the_deploy_are_still_sent_once(wired, twilio):
    text = formed(wired)
    drain(wired)
    queue = wired.storage.queue(NOTIFICATIONS)

    def old_form(message: OutboxMessage) -> str:  # written by hand: what earlier versions queued
        return json.dumps({"theme": message.theme, "row": message.key})

    for message in outbox(wired):
        queue.send_message(old_form(message))  # one text per message
    queue.send_message(old_form(next(iter(outbox(wired)))))  # and one of them twice

    host(wired).run_until_idle()

    assert_each_once(twilio, wired)
    assert parse_queue_message(old_form(outbox(wired)[0])).rows == (outbox(wired)[0].key,)
    assert len(parse_queue_message(text).rows) == 6


def test_a_message_longer_than_the_time_budget_hands_the_rest_back_to_the_queue(make_services, twilio):
    from shared.services.notify import Notifier, Pacing, RateGate

    sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_="+46700000001", api_base_url=twilio.base_url)
    services = make_services(sender=sender, SMS_RATE_PER_SECOND="1000")
    text = formed(services)
    ticks = iter(range(1000))
    notifier = Notifier(  # production's notifier on production's ports, with a short time budget
        interests=services.interests,
        queues=services.queues,
        copies=services.copies,
        sender=services.sender,
        templates=services.templates,
        organisation=services.organisation,
        facilitators=services.facilitators,
        public_base_url=services.settings.public_base_url,
        facilitator_link=None,
        clock=services.clock,
        pacing=Pacing(
            gate=RateGate(1000),
            monotonic=lambda: float(next(ticks)),  # every look at the clock: one more second
            send_budget=3.5,
        ),
    )

    with pytest.raises(UnfinishedMessage):
        notifier.handle(text)
    assert len(twilio.accepted) == 3  # rows started within the budget; the rest are untouched
    assert Counter(m.status for m in outbox(services)) == {MessageStatus.SENT: 3, MessageStatus.PENDING: 3}

    services.notifier.handle(text)
    assert_each_once(twilio, services)


def test_the_sweep_requeues_pending_rows_each_groups_together_and_claims_left_by_a_dead_sender(wired, twilio):
    add_facilitator(wired, capacity=5)
    seed_waiting(wired, 16)
    clock = Clock()

    def crash(_messages: list[OutboxMessage]) -> None:
        raise RuntimeError("host died after commit")

    def formation(after_commit=None) -> FormationService:  # type: ignore[no-untyped-def]
        return FormationService(  # production's formation with the fault-injection seam
            interests=wired.interests,
            queues=wired.queues,
            organisation=wired.organisation,
            facilitators=wired.facilitators,
            join_window=timedelta(days=wired.settings.join_window_days),
            clock=clock,
            after_commit=after_commit,
        )

    with pytest.raises(RuntimeError):
        formation(crash).form_theme(THEME)
    rows = outbox(wired)
    assert len(rows) >= 6 and queued(wired) == []
    # One invitation was claimed by a sender that died before it could record anything.
    dead = next(r for r in rows if r.kind is MessageKind.INVITATION)
    wired.storage.table("interests").update_entity(
        {"PartitionKey": THEME, "RowKey": dead.key, "Status": "sending", "ClaimedAt": clock.now - timedelta(minutes=5)},
        mode="merge",
    )

    clock.advance(minutes=4)
    assert formation().sweep().messages_queued == len(rows)

    named = [parse_queue_message(text) for text in queued(wired)]
    groups = {r.group_key for r in rows}
    assert len(groups) >= 2 and len(named) == 1  # the theme's pending rows fit one message (issue 22)
    order = [by_key(wired)[k].group_key for k in named[0].rows]
    assert [g for i, g in enumerate(order) if i == 0 or order[i - 1] != g] == list(dict.fromkeys(order))  # together
    assert sorted(k for m in named for k in m.rows) == sorted(r.key for r in rows)
    host(wired).run_until_idle()
    assert_each_once(twilio, wired)
