"""One queue message per committed transaction, naming every group change it committed (issue 22 item 3):
the message's shape, a redelivery, a crash between the transaction and the put, a transient failure and a
poisoned message that concern one group of the message and not the other, and messages of the earlier
shapes (one row; one change's rows) still read during a deploy. Real parts throughout: Azurite, the
registered functions run by the in-process host, the twilio SDK against the loopback server."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import NOTIFICATIONS
from shared.composition import Services, use_services
from shared.core.domain import MessageStatus, OutboxMessage
from shared.local.runner import LocalHost, QueueRules
from shared.services.formation import FormationService
from shared.services.outbox import parse_queue_message
from tests.support.tables import THEME, Clock, add_facilitator, drain, groups, outbox, queued, seed_waiting
from tests.support.twilio_server import Accept, LoopbackTwilio, ServerError

FAST = QueueRules(max_dequeue_count=5, visibility_timeout=1, batch_size=8, max_polling_interval=0.1)


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


def two_groups(services: Services) -> None:
    """Sixteen waiting and a facilitator with room: two groups of eight, formed in one transaction."""
    add_facilitator(services, capacity=5)
    seed_waiting(services, 16)


def by_key(services: Services) -> dict[str, OutboxMessage]:
    return {m.key: m for m in outbox(services)}


def runs_per_group(services: Services, rows: tuple[str, ...]) -> list[tuple[str, int]]:
    """The message's rows as consecutive runs of one group: [(group key, how many rows)]."""
    keyed = by_key(services)
    runs: list[tuple[str, int]] = []
    for row in rows:
        group = keyed[row].group_key
        if runs and runs[-1][0] == group:
            runs[-1] = (group, runs[-1][1] + 1)
        else:
            runs.append((group, 1))
    return runs


def assert_each_once(twilio: LoopbackTwilio, services: Services) -> None:
    rows = outbox(services)
    assert {r.status for r in rows} == {MessageStatus.SENT}
    assert len(twilio.accepted) == len(rows)
    assert max(Counter((m.to, m.body) for m in twilio.accepted).values()) == 1
    assert {r.provider_sid for r in rows} == {m.sid for m in twilio.accepted}


def test_one_transaction_forming_two_groups_is_one_message_naming_each_groups_rows_in_turn(wired, twilio):
    two_groups(wired)
    report = wired.formation.form_theme(THEME)

    assert (report.groups_formed, report.transactions) == (2, 1)
    [text] = queued(wired)  # one put for the commit, where there was one per group
    named = parse_queue_message(text)
    assert json.loads(text) == {"theme": THEME, "rows": list(named.rows)}  # the `rows` form every version reads
    formed = {g.key: len(g.member_keys) for g in groups(wired)}
    assert len(formed) == 2
    # Each group's texts together (its invitations and the roster), one group after the other.
    assert sorted(runs_per_group(wired, named.rows)) == sorted((key, size + 1) for key, size in formed.items())
    assert sorted(named.rows) == sorted(by_key(wired))

    host(wired).run_until_idle()
    assert_each_once(twilio, wired)


def test_a_redelivered_two_group_message_sends_nothing_twice(wired, twilio):
    two_groups(wired)
    wired.formation.form_theme(THEME)
    [text] = queued(wired)
    queue = wired.storage.queue(NOTIFICATIONS)
    for _ in range(3):  # redeliveries, a sweep's re-dispatch: the same rows named again
        queue.send_message(text)

    host(wired).run_until_idle()

    assert_each_once(twilio, wired)
    rows = len(parse_queue_message(text).rows)
    assert wired.notifier.handle(text).reason == f"{rows} already_done"


def test_a_crash_between_the_transaction_and_its_put_is_repaired_by_the_sweep_in_one_message(wired, twilio):
    two_groups(wired)
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
    assert len(rows) == 18 and queued(wired) == []  # committed, nothing queued

    assert formation().sweep().messages_queued == 0  # too fresh: the original put may still be coming
    clock.advance(minutes=4)
    assert formation().sweep().messages_queued == 18
    [text] = queued(wired)  # both groups' pending rows, in one message
    assert sorted(parse_queue_message(text).rows) == sorted(r.key for r in rows)
    assert len(runs_per_group(wired, parse_queue_message(text).rows)) == 2  # each group's rows together

    host(wired).run_until_idle()
    assert_each_once(twilio, wired)
    clock.advance(minutes=4)
    assert formation().sweep().messages_queued == 0  # all sent: nothing queued again


def test_one_group_failing_every_retry_leaves_the_other_groups_texts_sent_and_poisons_only_its_own(wired, twilio):
    two_groups(wired)
    wired.formation.form_theme(THEME)
    [text] = queued(wired)
    (first, first_rows), (second, second_rows) = runs_per_group(wired, parse_queue_message(text).rows)
    # The first group's texts fail on every attempt; the second group's go through on the first.
    twilio.plan(
        *[ServerError(status=503)] * first_rows,
        *[Accept()] * second_rows,
        *[ServerError(status=503)] * (first_rows * (FAST.max_dequeue_count - 1)),
    )

    host(wired, only={"send_notification"}).run_until_idle()
    poison = [m.content for m in wired.storage.queue(f"{NOTIFICATIONS}-poison").peek_messages(max_messages=32)]
    assert poison == [text]
    host(wired).run_until_idle()  # the poison queue's function, then the alert it queued

    named = set(parse_queue_message(text).rows)
    statuses = Counter((m.group_key, m.status, m.error) for m in outbox(wired) if m.key in named)
    coordinator = wired.organisation.coordinator_phone
    alerts = [m for m in twilio.accepted if m.to == coordinator]
    assert statuses == {
        (second, MessageStatus.SENT, ""): second_rows,
        (first, MessageStatus.FAILED, "poisoned"): first_rows,
    }
    assert len(alerts) == 1  # about the group whose texts failed
    assert len(twilio.accepted) == second_rows + 1


def test_a_poisoned_message_alerts_the_coordinator_once_per_group_change_it_names(wired, twilio):
    two_groups(wired)
    wired.formation.form_theme(THEME)
    [text] = queued(wired)
    (first, first_rows), (second, second_rows) = runs_per_group(wired, parse_queue_message(text).rows)
    unsent = first_rows + second_rows - 2
    # Each group's first text goes through; every other try of every other row fails, on every attempt.
    twilio.plan(
        Accept(),
        *[ServerError(status=503)] * (first_rows - 1),
        Accept(),
        *[ServerError(status=503)] * (second_rows - 1),
        *[ServerError(status=503)] * (unsent * (FAST.max_dequeue_count - 1)),
    )

    host(wired, only={"send_notification"}).run_until_idle()
    host(wired).run_until_idle()

    named = set(parse_queue_message(text).rows)
    statuses = Counter((m.group_key, m.status) for m in outbox(wired) if m.key in named)
    assert statuses == {
        (first, MessageStatus.SENT): 1,
        (first, MessageStatus.FAILED): first_rows - 1,
        (second, MessageStatus.SENT): 1,
        (second, MessageStatus.FAILED): second_rows - 1,
    }
    assert {m.error for m in outbox(wired) if m.status is MessageStatus.FAILED} == {"poisoned"}
    coordinator = wired.organisation.coordinator_phone
    alerts = [m for m in twilio.accepted if m.to == coordinator]
    assert len(alerts) == 2  # one per group change, as when each change had a message of its own
    wired.notifier.record_poisoned(text)  # handled again: nobody alerted again
    host(wired).run_until_idle()
    assert len([m for m in twilio.accepted if m.to == coordinator]) == 2


def test_one_change_messages_of_the_previous_version_are_still_sent_once(wired, twilio):
    two_groups(wired)
    wired.formation.form_theme(THEME)
    drain(wired)
    queue = wired.storage.queue(NOTIFICATIONS)
    per_group: dict[str, list[str]] = {}
    for message in outbox(wired):
        per_group.setdefault(message.group_key, []).append(message.key)
    for keys in per_group.values():  # written by hand: what the previous version queued, one per change
        queue.send_message(json.dumps({"theme": THEME, "rows": keys}))
    first_key = next(iter(per_group.values()))[0]
    queue.send_message(json.dumps({"theme": THEME, "row": first_key}))  # and the oldest form, one row again

    host(wired).run_until_idle()

    assert len(per_group) == 2
    assert_each_once(twilio, wired)
