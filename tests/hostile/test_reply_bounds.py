"""Issue 19, items 2, 3 and 8: what a stranger, an auto-responder or a forger can make our number do.

Through the signed webhook against Azurite, every text through the real twilio SDK to the loopback Twilio
server. An answer counts wherever it would reach the phone: as TwiML in the webhook's response (how the
old code answered) or as a text the provider accepted."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import RATE_LIMITS, STOP_REQUESTS
from shared.composition import Services, build_services, use_services
from shared.core.domain import MessageKind
from shared.local.runner import indexed_functions
from shared.services.replies import FORWARDS_PER_DAY, SIGNATURE_FAILURES_PER_HOUR, SIGNATURE_KEY
from shared.web.app import create_app
from tests.conftest import municipality
from tests.support.stops import carry_out_stops, queued_stops
from tests.support.tables import THEME, Clock, add_facilitator, drain, interests, messages_of
from tests.support.twilio_server import LoopbackTwilio
from tests.support.wiring import rewired

BASE = "https://gruppstart.example"
TOKEN = "f" * 32
OUR_NUMBER = "+46766861000"
FACILITATOR = "+46701740610"  # add_facilitator's number
STRANGER = "+46701740699"
NIGERIA = "+2348031234567"


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackTwilio]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with LoopbackTwilio() as server:
        yield server


def wire(
    make_services: Any, twilio: LoopbackTwilio, organisation: dict | None = None, clock: Clock | None = None
) -> Services:
    sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_=OUR_NUMBER, api_base_url=twilio.base_url)
    return make_services(
        organisation,
        sender=sender,
        clock=clock,
        TWILIO_ACCOUNT_SID=twilio.account_sid,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_FROM=OUR_NUMBER,
        PUBLIC_BASE_URL=BASE,
        ADMIN_TOKEN="a" * 32,
        SMS_RATE_PER_SECOND="1000",
    )


@pytest.fixture
def wired(make_services: Any, twilio: LoopbackTwilio) -> Services:
    return wire(make_services, twilio)


@pytest.fixture
def http(wired: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: wired)) as client:
        yield client


def inbound(client: TestClient, phone: str, body: str, sid: str = "", signature: str | None = None) -> Any:
    params = {"From": phone, "To": OUR_NUMBER, "Body": body, **({"MessageSid": sid} if sid else {})}
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(f"{BASE}/api/sms/inbound", params)
    return client.post("/api/sms/inbound", data=params, headers={"X-Twilio-Signature": signature})


def twiml_messages(response: Any) -> list[str]:
    assert response.status_code == 200
    return [m.text or "" for m in ET.fromstring(response.content)]  # noqa: S314 - our own reply


def answers_to(twilio: LoopbackTwilio, phone: str, responses: list[Any]) -> list[str]:
    """Every answer that would reach `phone`: TwiML messages in our responses, and texts sent to it."""
    inline = [text for response in responses for text in twiml_messages(response)]
    return inline + [m.body or "" for m in twilio.accepted if m.to == phone]


# --- item 2: replies bounded ------------------------------------------------------------------------


def test_an_auto_responder_gets_one_not_read_answer_a_day(wired, http, twilio):
    responses = [inbound(http, STRANGER, f"Autosvar: jag är ledig till måndag ({i})") for i in range(4)]

    answers = answers_to(twilio, STRANGER, responses)

    assert len(answers) == 1 and "Ingen läser" in answers[0]


def test_help_is_answered_once_a_day_too(wired, http, twilio):
    responses = [inbound(http, STRANGER, "HJÄLP") for _ in range(3)]
    assert len(answers_to(twilio, STRANGER, responses)) == 1


def test_a_number_abroad_gets_no_answer_at_all(wired, http, twilio):
    responses = [inbound(http, NIGERIA, body) for body in ("hello", "HELP", "STOP")]
    carry_out_stops(wired)

    assert answers_to(twilio, NIGERIA, responses) == []


def test_the_next_day_brings_one_more_answer(make_services, twilio):
    clock = Clock()
    services = wire(make_services, twilio, clock=clock)  # the day the counter row is named after
    with TestClient(create_app(lambda: services)) as client:
        first = [inbound(client, STRANGER, "hej") for _ in range(2)]
        clock.advance(days=1)
        second = [inbound(client, STRANGER, "hej") for _ in range(2)]
    assert len(answers_to(twilio, STRANGER, first + second)) == 2


def test_a_facilitators_forwards_are_capped_per_day_and_the_rest_listed(wired, http, twilio):
    add_facilitator(wired)
    for i in range(FORWARDS_PER_DAY + 3):
        assert twiml_messages(inbound(http, FACILITATOR, f"Fråga nummer {i}", f"SM{i:032x}")) == []
    for text in drain(wired):
        wired.notifier.handle(text)

    forwards = [m for m in twilio.accepted if m.to == wired.organisation.coordinator_phone]
    assert len(forwards) == FORWARDS_PER_DAY
    assert len(wired.reply_log.newest(50)) == FORWARDS_PER_DAY + 3, "operators see every one"


def test_a_link_in_a_facilitators_text_reaches_the_coordinator_flagged_and_untappable(wired, http, twilio):
    add_facilitator(wired)
    inbound(http, FACILITATOR, "Kolla https://evil.example/login och www.bit.ly/x innan mötet")
    inbound(http, FACILITATOR, "Vi ses kl. 18.30, t.ex. i stora salen")
    for text in drain(wired):
        wired.notifier.handle(text)

    flagged, plain = [m.body or "" for m in twilio.accepted if m.to == wired.organisation.coordinator_phone]
    assert "[Innehåller en länk" in flagged
    assert "hxxps://evil[.]example/login" in flagged and "www[.]bit[.]ly/x" in flagged
    assert "https://" not in flagged and "evil.example" not in flagged
    assert "Innehåller en länk" not in plain and "18.30, t.ex." in plain


# --- item 3: the provider's inbound side --------------------------------------------------------------


def test_inbound_texts_and_answers_at_the_provider_go_after_their_hours(wired, http, twilio):
    sid = twilio.receive_inbound(STRANGER, "Jag mår inte bra, kan någon ringa?", to=OUR_NUMBER)
    assert twiml_messages(inbound(http, STRANGER, "Jag mår inte bra, kan någon ringa?", sid)) == []
    [answer] = [m for m in twilio.accepted if m.to == STRANGER]
    twilio.settle()
    assert {m["sid"] for m in twilio.stored} == {sid, answer.sid}

    later = Clock()
    later.advance(hours=wired.settings.sms_provider_copy_hours + 1)
    rewired(wired, clock=later).retention.run()

    assert twilio.stored == []


# --- item 8: STOP durable, complete, and from a facilitator ------------------------------------------


def test_stop_is_queued_before_the_answer_and_carried_out_by_the_queue_function(wired, http, twilio):
    from tests.support.privacy import LEAVER, LEAVER_NAME, register_verified

    register_verified(wired, LEAVER_NAME, LEAVER, last_text=lambda _: twilio.accepted[-1].body or "")
    sid = twilio.receive_inbound(LEAVER, "STOPP", to=OUR_NUMBER)

    assert twiml_messages(inbound(http, LEAVER, "STOPP", sid)) == []
    assert len(queued_stops(wired)) == 1, "queued before the 200"
    assert [i.phone for i in interests(wired)] == [LEAVER], "nothing erased before the function runs"

    import function_app

    [erase_on_stop] = [
        f.get_user_function() for f in indexed_functions(function_app.app) if f.get_function_name() == "erase_on_stop"
    ]
    message = wired.storage.queue(STOP_REQUESTS).receive_message()
    use_services(wired)
    try:
        erase_on_stop(func.QueueMessage(id=message.id, body=message.content.encode()))
    finally:
        use_services(None)

    assert interests(wired) == []
    assert sid not in {m["sid"] for m in twilio.stored}, "their STOP is deleted at the provider at once"
    assert "raderat" in ([m.body or "" for m in twilio.accepted if m.to == LEAVER][-1])


def test_stop_when_storage_is_down_answers_503_not_a_silent_200(make_services, twilio):
    from shared.adapters.storage import StorageAccount
    from shared.local.azurite import free_port

    dead = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;" + ";".join(
        f"{kind}Endpoint=http://127.0.0.1:{free_port()}/devstoreaccount1" for kind in ("Blob", "Queue", "Table")
    )
    services = wire(make_services, twilio)
    # The app's STOP handling wired over a storage account nobody answers at: the queue cannot be written.
    services.stop_requests = build_services(
        services.settings, sender=services.sender, storage=StorageAccount(connection_string=dead)
    ).stop_requests
    with TestClient(create_app(lambda: services), raise_server_exceptions=False) as client:
        response = inbound(client, STRANGER, "STOP")
    assert response.status_code == 503  # Twilio keeps it only when told to retry (infra/README.md)


def test_stop_reaches_a_theme_no_longer_offered(make_services, twilio):
    from tests.support.privacy import LEAVER, LEAVER_NAME, register_verified

    document = municipality("region-jonkoping")["organisation"]
    document["themes"] = [t for t in document["themes"] if t["id"] != THEME]
    after = wire(make_services, twilio, document)  # the same Azurite tables, the theme no longer offered
    before = wire(make_services, twilio)
    register_verified(before, LEAVER_NAME, LEAVER, last_text=lambda _: twilio.accepted[-1].body or "")
    assert after.organisation.theme(THEME) is None and [i.phone for i in interests(after)] == [LEAVER]

    with TestClient(create_app(lambda: after)) as client:
        inbound(client, LEAVER, "STOP")
    carry_out_stops(after)

    assert interests(after) == []


def test_stop_from_a_facilitator_deactivates_them_revokes_their_links_and_tells_the_coordinator(wired, http, twilio):
    facilitator = add_facilitator(wired)
    page = wired.facilitator_page
    assert page is not None
    token = page.links.token(facilitator) if hasattr(page.links, "token") else None

    inbound(http, FACILITATOR, "STOPP")
    [report] = carry_out_stops(wired)

    after = wired.facilitators.get(facilitator.id)
    assert after is not None and not after.active
    assert after.link_version == facilitator.link_version + 1
    assert report.facilitators_stopped == 1
    [told] = [m.body or "" for m in twilio.accepted if m.to == wired.organisation.coordinator_phone]
    assert "Eva Lind" in told and "STOPP" in told
    if token is not None:
        assert page.facilitator(token) is None, "an old link opens nothing"
    inbound(http, FACILITATOR, "STOPP")  # Twilio posts it again, or they send it twice
    carry_out_stops(wired)
    assert len([m for m in twilio.accepted if m.to == wired.organisation.coordinator_phone]) == 1


def test_repeated_forged_signatures_tell_the_coordinator_once_an_hour(wired, http, twilio):
    for i in range(SIGNATURE_FAILURES_PER_HOUR * 2):
        assert inbound(http, STRANGER, "STOP", signature=f"forged{i}").status_code == 403

    told = [m.body or "" for m in twilio.accepted if m.to == wired.organisation.coordinator_phone]
    assert len(told) == 1 and "signatur" in told[0]
    counted = [dict(r) for r in wired.storage.table(RATE_LIMITS).list_entities() if r["PartitionKey"] == SIGNATURE_KEY]
    assert len(counted) == 2 and "701740699" not in str(counted), "a count and the alert mark, no request data"
    assert queued_stops(wired) == [] and messages_of(wired) == []
    assert not [m for m in messages_of(wired) if m.kind is MessageKind.COORDINATOR_ALERT]


def test_a_stop_that_failed_every_try_is_queued_again_never_dropped(wired, http, twilio):
    inbound(http, STRANGER, "STOP")
    text = wired.storage.queue(STOP_REQUESTS).receive_message().content
    wired.storage.queue(STOP_REQUESTS).clear_messages()  # the host moved it to the poison queue

    import function_app

    [retry] = [
        f.get_user_function()
        for f in indexed_functions(function_app.app)
        if f.get_function_name() == "retry_poisoned_stop"
    ]
    use_services(wired)
    try:
        retry(func.QueueMessage(id="1", body=text.encode()))
        retry(func.QueueMessage(id="2", body=text.encode()))  # a second round failed too
        retry(func.QueueMessage(id="3", body=b"not a stop"))
    finally:
        use_services(None)

    queue = wired.storage.queue(STOP_REQUESTS)
    assert queue.get_queue_properties().approximate_message_count == 2, "both back on the queue"
    assert queue.peek_messages() == [], "hidden for an hour: storage gets time to recover"
    told = [m.body or "" for m in twilio.accepted if m.to == wired.organisation.coordinator_phone]
    assert len(told) == 1 and "STOPP" in told[0] and STRANGER not in told[0]
