"""After each way a person is erased — their own withdrawal, a STOP reply (their texts to us and our answers
at the provider included), an operator's erasure on request, retention after their group closed, and
retention after a group whose facilitator stopped recording meetings was handed over — nothing holds
their number in any form (raw, national, E.164,
or an unkeyed MD5/SHA-1/SHA-256 of one of those, whole or truncated) nor their name: no row of any table,
no message of any queue (poison queues included), and no message the SMS provider still stores.

The SMS provider is the loopback Twilio server, reached through the real twilio SDK; it refuses to
delete a message before its final status, as Twilio does, so the tests settle the messages first
(the carrier's delivery receipts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from shared.adapters.sms.twilio import TwilioSender
from shared.composition import Services
from shared.core.domain import Group, MessageKind, utcnow
from shared.core.local_time import organisation_tz
from shared.core.validation import ValidInterest
from shared.services.intake import Registration
from shared.services.lifecycle import LifecycleRules
from shared.services.retention import RetentionRules
from shared.web.app import create_app
from tests.support.privacy import (
    LEAVER,
    LEAVER_NAME,
    hash_needles,
    number_needles,
    person,
    provider_traces,
    register_verified,
    traces,
)
from tests.support.stops import carry_out_stops
from tests.support.tables import THEME, Clock, add_facilitator, drain, groups, messages_of
from tests.support.twilio_server import LoopbackTwilio
from tests.support.wiring import rewired

FROM = "+46766861000"
BASE = "https://gruppstart.example"
NEEDLES = number_needles(LEAVER) | {LEAVER_NAME}
HASHES = hash_needles(LEAVER)


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackTwilio]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with LoopbackTwilio() as server:
        yield server


@pytest.fixture
def wired(make_services: Callable[..., Services], twilio: LoopbackTwilio) -> Services:
    sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_=FROM, api_base_url=twilio.base_url, timeout=5)
    return make_services(
        sender=sender,
        TWILIO_ACCOUNT_SID=twilio.account_sid,
        TWILIO_AUTH_TOKEN=twilio.auth_token,
        TWILIO_FROM=FROM,
        PUBLIC_BASE_URL=BASE,
        SMS_RATE_PER_SECOND="1000",
    )


def send_queued(services: Services) -> int:
    sent = 0
    for text in drain(services):
        sent += services.notifier.handle(text).texts_sent  # a message names a group change's texts
    return sent


def a_group_with_the_leaver(services: Services, twilio: LoopbackTwilio) -> tuple[Group, Registration]:
    """Five people (the leaver among them) registered and verified by SMS code, a group formed, every
    invitation and the facilitator's roster sent, every message delivered."""

    def last_text(_: Services) -> str:
        return twilio.accepted[-1].body or ""

    add_facilitator(services)
    for i in range(4):
        register_verified(services, *person(i), last_text=last_text)
    registration = services.intake.register(
        ValidInterest(theme=THEME, name=LEAVER_NAME, phone=LEAVER, locale="sv", area="habo"), client_address=None
    )
    code = next(word for word in last_text(services).split() if word.isdigit() and len(word) == 6)
    services.intake.verify(registration.interest_id, code)
    assert services.formation.form_theme(THEME).groups_formed == 1
    assert send_queued(services) == 6  # five invitations and the roster
    # They write to our number; Twilio keeps their text, and our answer (naming their facilitator).
    words = "Jag kan inte komma, det är tungt igen"
    services.replies.receive(LEAVER, words, twilio.receive_inbound(LEAVER, words, to=FROM))
    assert send_queued(services) == 1
    twilio.settle()
    # The scan sees what it looks for: the code and the invitation to them, the roster naming them, their
    # text to us and our answer.
    assert len(provider_traces(twilio.stored, NEEDLES, hashes=HASHES)) == 5
    [group] = groups(services)
    return group, registration


def daily_run(services: Services, clock: Clock) -> None:
    rewired(services, clock=clock).retention.run()


def assert_nothing_left(services: Services, twilio: LoopbackTwilio) -> None:
    assert provider_traces(twilio.stored, NEEDLES, hashes=HASHES) == []
    assert traces(services, NEEDLES, hashes=HASHES) == []


def the_facilitator_is_told_and_the_text_deleted(services: Services, twilio: LoopbackTwilio, clock: Clock) -> None:
    """The member_left text carries the leaver's name to the facilitator; once delivered, the daily run
    deletes its copy without waiting for the grace period."""
    [left] = [m for m in messages_of(services) if m.kind is MessageKind.MEMBER_LEFT]
    assert send_queued(services) == 1
    assert LEAVER_NAME in (twilio.accepted[-1].body or "")
    twilio.settle()
    daily_run(services, clock)
    assert left.key not in {m.key for m in messages_of(services) if m.subject_name}


def test_withdrawal(wired: Services, twilio: LoopbackTwilio) -> None:
    _group, registration = a_group_with_the_leaver(wired, twilio)

    wired.intake.withdraw(registration.interest_id, registration.withdraw_token)

    # The provider's copies of the code, the invitation and the roster went with the withdrawal.
    assert provider_traces(twilio.stored, NEEDLES, hashes=HASHES) == []
    clock = Clock()
    the_facilitator_is_told_and_the_text_deleted(wired, twilio, clock)
    # Only the number's code counter is kept (keyed, never the number), so that withdrawing cannot reset
    # the limit on codes sent to one number; it ends with its daily window (and a 24-minute slot).
    assert set(traces(wired, NEEDLES, hashes=HASHES)) <= {"ratelimits/PartitionKey"}
    clock.advance(days=1, minutes=25)
    daily_run(wired, clock)
    assert_nothing_left(wired, twilio)


def text_our_number(services: Services, twilio: LoopbackTwilio, http: TestClient, body: str) -> str:
    """The leaver texts our number: Twilio stores the message (their number, their words), then posts it."""
    sid = twilio.receive_inbound(LEAVER, body, to=FROM)
    form = {"From": LEAVER, "To": FROM, "Body": body, "MessageSid": sid}
    signature = RequestValidator(twilio.auth_token).compute_signature(f"{BASE}/api/sms/inbound", form)
    response = http.post("/api/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    return sid


def test_stop_reply(wired: Services, twilio: LoopbackTwilio) -> None:
    a_group_with_the_leaver(wired, twilio)

    with TestClient(create_app(lambda: wired)) as http:
        # Before leaving they wrote HELP too, through the webhook (answered by a text of its own).
        help_sid = text_our_number(wired, twilio, http, "HJÄLP")
        twilio.settle()
        answers = [m.sid for m in twilio.accepted if m.to == LEAVER][-2:]  # our answer to their words, to HELP
        held = {m["sid"] for m in twilio.stored}
        assert {help_sid, *answers} <= held
        stop_sid = text_our_number(wired, twilio, http, "STOPP")
    assert stop_sid in {m["sid"] for m in twilio.stored}, "the scan sees the STOP text at the provider"

    [report] = carry_out_stops(wired)

    assert report.erasure.interests_erased == 1 and report.confirmed
    left = {m["sid"] for m in twilio.stored}
    assert not {help_sid, stop_sid, *answers} & left, "their texts and our answers are gone"
    confirmation = [m.sid for m in twilio.accepted if m.to == LEAVER][-1]
    assert provider_traces(twilio.stored, NEEDLES, hashes=HASHES) == [confirmation], "not final yet"
    twilio.settle()
    the_facilitator_is_told_and_the_text_deleted(wired, twilio, Clock())
    assert_nothing_left(wired, twilio)


def test_operator_erasure(wired: Services, twilio: LoopbackTwilio) -> None:
    a_group_with_the_leaver(wired, twilio)

    assert wired.operations.erase_person("073-551 00 03") > 0  # typed as an operator would

    assert provider_traces(twilio.stored, NEEDLES, hashes=HASHES) == []
    the_facilitator_is_told_and_the_text_deleted(wired, twilio, Clock())
    assert_nothing_left(wired, twilio)


def test_retention_after_the_group_closed(wired: Services, twilio: LoopbackTwilio) -> None:
    group, _registration = a_group_with_the_leaver(wired, twilio)
    wired.operations.close_group(group.id)
    clock = Clock()
    clock.advance(days=RetentionRules().closed_group_retention.days + 1)

    daily_run(wired, clock)

    assert_nothing_left(wired, twilio)
    assert twilio.stored == []  # every copy was past its grace period: the others' too


def test_a_copy_not_final_yet_stays_until_a_later_run(wired: Services, twilio: LoopbackTwilio) -> None:
    _group, registration = a_group_with_the_leaver(wired, twilio)
    roster = next(m for m in messages_of(wired) if m.kind is MessageKind.ROSTER)
    twilio.settle("sent", [roster.provider_sid])  # no delivery receipt yet: Twilio refuses the delete

    wired.intake.withdraw(registration.interest_id, registration.withdraw_token)

    assert provider_traces(twilio.stored, NEEDLES, hashes=HASHES) == [roster.provider_sid]
    clock = Clock()
    daily_run(wired, clock)
    assert roster.provider_sid in {m["sid"] for m in twilio.stored}  # still not final: kept, tried again later
    twilio.settle()
    clock.advance(hours=2)
    send_queued(wired)
    twilio.settle()
    daily_run(wired, clock)
    assert provider_traces(twilio.stored, NEEDLES, hashes=HASHES) == []
    assert roster.provider_sid in twilio.deleted
    assert timedelta(hours=2) < RetentionRules().provider_copy  # the roster went as erased, not as old
    # The number's code counter (keyed) lives out its daily window, then nothing is left.
    assert set(traces(wired, NEEDLES, hashes=HASHES)) <= {"ratelimits/PartitionKey"}
    clock.advance(days=1)
    daily_run(wired, clock)
    assert_nothing_left(wired, twilio)


def test_retention_after_a_quiet_group_was_handed_over(wired: Services, twilio: LoopbackTwilio) -> None:
    """Issue 19.5: an active group whose facilitator records nothing is not kept forever."""
    group, _registration = a_group_with_the_leaver(wired, twilio)
    wired.operations.set_first_meeting(group.id, utcnow() + timedelta(days=1), "Folkets hus")
    assert send_queued(wired) == 5
    twilio.settle()
    clock = Clock()
    rules = LifecycleRules(tz=organisation_tz(wired.organisation))  # the settings' defaults, for the period
    lifecycle = rewired(wired, clock=clock).lifecycle
    period = rules.quiet.after + rules.quiet.handover_after + rules.on_its_own_retention
    clock.advance(days=1, hours=1)  # the first meeting, and nothing recorded after it
    steps = []
    for _ in range(period.days // 7 + 1):  # weekly runs until the members' leave date has passed
        clock.advance(weeks=1)
        report = lifecycle.run()
        steps += [("reported", report.quiet_reported), ("handed over", report.quiet_handed_over)]
        send_queued(wired)
        twilio.settle()
    assert [step for step in steps if step[1]] == [("reported", 1), ("handed over", 1)]
    assert any(LEAVER_NAME in (m.body or "") and "på egen hand" in (m.body or "") for m in twilio.accepted)
    lifecycle.run()  # the texts of the last week are final now: their copies go too

    assert_nothing_left(wired, twilio)
