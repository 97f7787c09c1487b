"""LÄNK by SMS (issue 19.1), end to end: a signed inbound webhook from the facilitator's registered number,
the fresh link sent through the real twilio SDK to the loopback Twilio server, and that link opening
the page's button. The coordinator gets nothing, the webhook answers with no TwiML message, and the
same word from any other number is not a keyword."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from shared.adapters.sms.twilio import TwilioSender
from shared.composition import Services
from shared.core.domain import MessageKind
from shared.core.sms_segments import segment_info
from shared.web.app import create_app
from tests.support.facilitator_page import LINK_SECRET, csrf
from tests.support.tables import THEME, add_facilitator, drain, outbox, seed_waiting
from tests.support.twilio_server import LoopbackTwilio

BASE = "https://gruppstart.example"
TOKEN = "f" * 32
OUR_NUMBER = "+46766861000"
EVA = "+46701740610"


@pytest.fixture
def twilio() -> Iterator[LoopbackTwilio]:
    with LoopbackTwilio() as server:
        yield server


@pytest.fixture
def wired(make_services, twilio: LoopbackTwilio) -> Services:
    sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_=OUR_NUMBER, api_base_url=twilio.base_url)
    return make_services(
        sender=sender,
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_FROM=OUR_NUMBER,
        PUBLIC_BASE_URL=BASE,
        ADMIN_TOKEN="a" * 32,
        FACILITATOR_LINK_SECRET=LINK_SECRET,
        SMS_RATE_PER_SECOND="1000",
    )


@pytest.fixture
def http(wired: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: wired), base_url="https://testserver", follow_redirects=False) as client:
        yield client


def started(services: Services) -> None:
    """Eva's group formed, its texts (invitations, roster) sent through the loopback server."""
    add_facilitator(services)
    seed_waiting(services, 5)
    services.formation.form_theme(THEME)
    send(services)


def send(services: Services) -> None:
    for queued in drain(services):
        services.notifier.handle(queued)


def inbound(client: TestClient, phone: str, body: str, n: int) -> list[str]:
    params = {"From": phone, "To": OUR_NUMBER, "Body": body, "MessageSid": f"SM{n:032x}"}
    signature = RequestValidator(TOKEN).compute_signature(f"{BASE}/api/sms/inbound", params)
    answer = client.post("/api/sms/inbound", data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200
    return [m.text or "" for m in ET.fromstring(answer.content)]  # noqa: S314 - our own reply


def test_lank_from_the_registered_number_brings_a_fresh_link_through_twilio(wired, http, twilio):
    started(wired)
    before = {m.to for m in twilio.accepted}
    assert inbound(http, EVA, "Länk", 1) == []  # no TwiML answer: the link goes as its own text
    send(wired)
    [sent] = [m for m in twilio.accepted if m.to == EVA and "/f/" in (m.body or "") and "Person" not in m.body]
    assert segment_info(sent.body).encoding == "GSM-7" and segment_info(sent.body).segments <= 2
    path = re.search(rf"{re.escape(BASE)}(/f/[A-Za-z0-9_.-]+)", sent.body).group(1)  # type: ignore[union-attr]
    assert http.post(path, data={"csrf": csrf(http.get(path).text)}).status_code == 303
    assert "Person 0" in http.get("/f/groups").text
    assert [m.kind for m in outbox(wired) if m.kind is MessageKind.FACILITATOR_REPLY] == []  # not forwarded
    assert {m.to for m in twilio.accepted} - before == set()  # nobody new was texted: Eva only


def test_the_word_from_another_number_is_no_keyword(wired, http, twilio):
    started(wired)
    stranger = "+46701740677"
    assert inbound(http, stranger, "LINK", 2) == []  # answers are texts of their own, never TwiML
    assert [m for m in outbox(wired) if m.kind is MessageKind.FACILITATOR_LINK] == []
    # The usual answer to an unknown number, and no link in it.
    [answer] = [m.body or "" for m in twilio.accepted if m.to == stranger]
    assert "/f/" not in answer and "Ingen läser" in answer
