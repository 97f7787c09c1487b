"""One installation budget for every outbound text, with a share kept for codes (issue 19, item 2).

Against Azurite and the real twilio SDK talking to the loopback Twilio server, through the services
the composition root builds: every text counts because the one sender every service uses counts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import NOTIFICATIONS
from shared.composition import Services, build_services, use_services
from shared.core.domain import MessageKind, MessageStatus, utcnow
from shared.local.runner import LocalHost, QueueRules
from shared.services.sms_budget import BudgetExhausted
from shared.web.app import create_app
from tests.support.tables import THEME, add_facilitator, groups, outbox, seed_waiting
from tests.support.twilio_server import LoopbackTwilio

FAST = QueueRules(max_dequeue_count=5, visibility_timeout=1, batch_size=8, max_polling_interval=0.1)
# Eight texts an hour, two of them kept for codes: a group's six texts spend the rest.
BUDGET = {
    "SMS_TEXTS_PER_HOUR": "8",
    "SMS_TEXTS_PER_DAY": "100",
    "SMS_CODES_PER_HOUR": "2",
    "SMS_CODES_PER_DAY": "10",
    "SMS_RATE_PER_SECOND": "1000",
    "CLIENT_REGISTRATIONS_PER_HOUR": "100",
}
RESIDENT = "070-174 06 77"
RESIDENT_E164 = "+46701740677"


@pytest.fixture
def twilio() -> Iterator[LoopbackTwilio]:
    with LoopbackTwilio() as server:
        yield server


def loopback_sender(twilio: LoopbackTwilio) -> TwilioSender:
    return TwilioSender(twilio.account_sid, twilio.auth_token, from_="+46700000001", api_base_url=twilio.base_url)


@pytest.fixture
def wired(make_services, twilio: LoopbackTwilio) -> Iterator[tuple[Services, LocalHost]]:
    import function_app

    services = make_services(sender=loopback_sender(twilio), **BUDGET)
    use_services(services)
    yield services, LocalHost(function_app.app, services.storage, settings=services.settings, rules=FAST)
    use_services(None)


def deliver(host: LocalHost) -> int:
    """Run the queue functions until nothing visible is left (a deferred message stays hidden)."""
    total = 0
    for _ in range(50):
        done = sum(host.process_queue_once(q) for q in host.queues)
        if not done:
            return total
        total += done
    raise AssertionError("the queues never went quiet")


def meeting_rows(services: Services) -> list:
    return [m for m in outbox(services) if m.kind is MessageKind.MEETING_SET]


@pytest.mark.azurite  # a second app wired from the settings alone shares the budget
def test_a_meeting_text_waits_once_the_shared_budget_is_spent_while_a_code_still_goes_out(
    wired, twilio: LoopbackTwilio, make_settings
) -> None:
    import function_app

    services, host = wired
    coordinator = services.organisation.coordinator_phone
    add_facilitator(services)
    seed_waiting(services, 5)
    services.formation.form_theme(THEME)
    deliver(host)
    assert len(twilio.accepted) == 6  # five invitations and the roster: the texts' share is spent
    [group] = groups(services)

    when = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
    services.operations.set_first_meeting(group.id, when, "Folkets hus")
    deliver(host)

    # A fourth kind of text: refused by the budget, so nothing reached the provider but the alert ...
    deferred = meeting_rows(services)
    assert len(deferred) == 5
    assert [m.to for m in twilio.accepted[6:]] == [coordinator]
    assert "gränsen på 6 sms utöver koder per timme" in twilio.accepted[6].body  # the texts' share: 8 - 2
    # ... and nothing lost: every meeting text is pending, marked queued again for after the window, and
    # its message is back on the queue (hidden until then), not in the poison queue.
    assert {m.status for m in deferred} == {MessageStatus.PENDING}
    assert all(m.enqueued_at is not None and m.enqueued_at > utcnow() + timedelta(minutes=1) for m in deferred)
    notifications = services.storage.queue(NOTIFICATIONS).get_queue_properties().approximate_message_count
    assert notifications == 1
    assert list(services.storage.queue(f"{NOTIFICATIONS}-poison").peek_messages()) == []
    # The sweep leaves them alone until then.
    assert services.formation.redispatch_pending() == 0

    # A code still goes out: its share is its own.
    with TestClient(create_app(lambda: services)) as client:
        registered = client.post(
            "/api/interests",
            json={
                "theme": THEME,
                "name": "Ingrid",
                "phone": RESIDENT,
                "area": "jonkoping",
                "age_confirmed": True,
                "consent": True,
            },
        )
    assert registered.status_code == 201, registered.text
    assert [m.to for m in twilio.accepted[7:]] == [RESIDENT_E164]

    # Any other text through the sender (a reply to an inbound text, say) is simply not sent.
    with pytest.raises(BudgetExhausted):
        services.sender.send("+46701740678", "Detta nummer läses inte.")
    assert len(twilio.received) == 8
    # One alert per full window, however many texts were refused.
    assert [m.to for m in twilio.accepted].count(coordinator) == 1

    # An hour later (here: a larger budget on the same counters), the sweep puts the texts back on the
    # queue and each goes out once; the deferred message, when it reappears, finds them sent.
    later = build_services(make_settings(**{**BUDGET, "SMS_TEXTS_PER_HOUR": "20"}), sender=loopback_sender(twilio))
    use_services(later)
    sweep = build_services(
        later.settings, clock=lambda: utcnow() + timedelta(hours=2), sender=loopback_sender(twilio)
    ).formation
    assert sweep.redispatch_pending() == 5
    deliver(LocalHost(function_app.app, later.storage, settings=later.settings, rules=FAST))
    meeting_texts = [m for m in twilio.accepted if "Folkets hus" in (m.body or "")]
    assert len(meeting_texts) == 5 and len({m.to for m in meeting_texts}) == 5
    assert {m.status for m in meeting_rows(later)} == {MessageStatus.SENT}
    again = later.notifier.handle(json.dumps({"theme": THEME, "rows": [m.key for m in deferred]}))
    assert again.texts_sent == 0 and again.reason == "5 already_done"
    assert len([m for m in twilio.accepted if "Folkets hus" in (m.body or "")]) == 5


def test_codes_spend_their_own_share_and_leave_the_rest_to_other_texts(wired, twilio: LoopbackTwilio) -> None:
    services, _host = wired
    with TestClient(create_app(lambda: services)) as client:
        answers = [
            client.post(
                "/api/interests",
                json={
                    "theme": THEME,
                    "name": "Ingrid",
                    "phone": f"070-174 06 6{n}",
                    "area": "jonkoping",
                    "age_confirmed": True,
                    "consent": True,
                },
            )
            for n in range(3)
        ]
    assert [a.status_code for a in answers] == [201, 201, 503]
    assert answers[2].json()["error"] == "sms_budget"
    # Nothing of the refused attempt is kept.
    assert (
        len([r for r in services.storage.table("interests").list_entities() if r["RowKey"].startswith("interest.")])
        == 2
    )
    # The other texts' six are untouched by the codes: six more texts go out.
    for n in range(6):
        services.sender.send(f"+4670174067{n}", "Hej!")
    with pytest.raises(BudgetExhausted):
        services.sender.send("+46701740679", "Hej!")
    codes = [m for m in twilio.accepted if m.to.startswith("+4670174066")]
    assert len(codes) == 2


@pytest.mark.parametrize(
    "budget",
    [
        {"SMS_TEXTS_PER_HOUR": "60", "SMS_CODES_PER_HOUR": "60"},
        {"SMS_TEXTS_PER_DAY": "200", "SMS_CODES_PER_DAY": "300"},
    ],
)
def test_a_budget_no_larger_than_the_codes_share_is_refused_at_start(make_settings, budget) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="codes' reserved share"):
        make_settings(**budget)
