"""Every reply reaches a person (issue 12, item 2): texts to our number that are not keywords, through the
signed webhook against Azurite, and the texts they cause through the real twilio SDK to the loopback
Twilio server: a facilitator's words arrive at the coordinator's phone, a member gets an answer naming
their facilitator and the coordinator, and nobody else's answer changes."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import AUDIT, TABLES
from shared.composition import Services
from shared.core.domain import Group, MessageKind, MessageStatus, RecipientType, utcnow
from shared.core.replies import MAX_FORWARD_SEGMENTS, coordinator_contact
from shared.core.sms_segments import segment_info
from shared.core.validation import ValidInterest
from shared.services.notify import short_ref
from shared.services.outbox import notification_for
from shared.web.app import create_app
from tests.support.privacy import number_forms, traces
from tests.support.stops import carry_out_stops
from tests.support.tables import THEME, add_facilitator, drain, groups, messages_of, queued
from tests.support.twilio_server import LoopbackTwilio, ReceivedMessage
from tests.support.wiring import rewired

BASE = "https://gruppstart.example"
TOKEN = "f" * 32
ADMIN = "a" * 32
OUR_NUMBER = "+46766861000"
FACILITATOR = "+46701740610"  # add_facilitator's number: Eva Lind
MEMBER = "+46735510003"
MEMBER_NAME = "Ylva Quennerstedt"


def sid(n: int) -> str:
    return f"SM{n:032x}"


@pytest.fixture
def twilio() -> Iterator[LoopbackTwilio]:
    with LoopbackTwilio() as server:
        yield server


@pytest.fixture
def wired(make_services, twilio: LoopbackTwilio) -> Services:
    """Every text — codes, invitations, forwards, answers — goes through the SDK to the loopback server."""
    sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_=OUR_NUMBER, api_base_url=twilio.base_url)
    return make_services(
        sender=sender,
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN=TOKEN,  # signs the webhooks in these tests
        TWILIO_FROM=OUR_NUMBER,
        PUBLIC_BASE_URL=BASE,
        ADMIN_TOKEN=ADMIN,
        SMS_RATE_PER_SECOND="1000",
    )


@pytest.fixture
def http(wired: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: wired)) as client:
        yield client


def join(services: Services, twilio: LoopbackTwilio, name: str, phone: str, locale: str = "sv") -> None:
    """Register and verify as a resident does: the code arrives at the loopback server."""
    registration = services.intake.register(
        ValidInterest(theme=THEME, name=name, phone=phone, locale=locale, area="habo"), client_address=None
    )
    [code] = re.findall(r"\b\d{6}\b", next(m.body or "" for m in reversed(twilio.accepted) if m.to == phone))
    services.intake.verify(registration.interest_id, code)


def started_group(services: Services, twilio: LoopbackTwilio, *, member_phone: str = MEMBER) -> Group:
    """Five people and Eva Lind: formed, invited, the roster sent."""
    add_facilitator(services)
    for i in range(4):
        join(services, twilio, f"Medlem Nummer{i}", f"+4673552{i:04d}")
    join(services, twilio, MEMBER_NAME, member_phone)
    assert services.formation.form_theme(THEME).groups_formed == 1
    send_queued(services)
    [group] = groups(services)
    return group


def send_queued(services: Services) -> None:
    for text in drain(services):
        services.notifier.handle(text)


def inbound(client: TestClient, phone: str, body: str, message_sid: str = "") -> Any:
    params = {"From": phone, "To": OUR_NUMBER, "Body": body, "MessageSid": message_sid or sid(len(body))}
    signature = RequestValidator(TOKEN).compute_signature(f"{BASE}/api/sms/inbound", params)
    return client.post("/api/sms/inbound", data=params, headers={"X-Twilio-Signature": signature})


def twiml_messages(response: Any) -> list[str]:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)  # noqa: S314 - our own reply
    assert root.tag == "Response"
    return [m.text or "" for m in root]


def texts_to(twilio: LoopbackTwilio, phone: str) -> list[ReceivedMessage]:
    return [m for m in twilio.accepted if m.to == phone]


def replies_listed(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/api/admin/replies", headers={"authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def every_row(services: Services) -> dict[str, list[dict[str, Any]]]:
    return {name: list(services.storage.table(name).list_entities()) for name in TABLES}


# --- a facilitator's text -----------------------------------------------------------------------


def test_a_facilitators_reply_arrives_at_the_coordinators_phone_naming_them_and_the_group(wired, http, twilio):
    group = started_group(wired, twilio)
    coordinator = wired.organisation.coordinator_phone
    words = "Det gick bra i kväll!\nEn deltagare verkar må dåligt, kan du ringa mig?"

    response = inbound(http, FACILITATOR, words, sid(1))

    assert twiml_messages(response) == [], "the facilitator gets no automatic answer"
    [forward] = [m for m in messages_of(wired) if m.kind is MessageKind.FACILITATOR_REPLY]
    assert forward.recipient_type is RecipientType.COORDINATOR and forward.group_key == group.key
    assert queued(wired) == [notification_for(forward)]
    send_queued(wired)
    [text] = texts_to(twilio, coordinator)
    body = text.body or ""
    assert "Eva Lind" in body and short_ref(group.key) in body
    assert "Det gick bra i kväll! En deltagare verkar må dåligt, kan du ringa mig?" in body
    info = segment_info(body)
    assert info.encoding == "GSM-7" and info.segments <= MAX_FORWARD_SEGMENTS
    assert not [n for n in ("Medlem", MEMBER_NAME, MEMBER) if n in body], "no member data in the forward"

    [listed] = replies_listed(http)
    assert listed["facilitator"]["name"] == "Eva Lind"
    assert listed["group"] == {"id": group.id, "ref": short_ref(group.key)}
    assert listed["text"] == "Det gick bra i kväll! En deltagare verkar må dåligt, kan du ringa mig?"
    assert set(listed) == {"received_at", "facilitator", "group", "text"}


def test_the_same_message_posted_twice_is_forwarded_and_listed_once(wired, http, twilio):
    started_group(wired, twilio)

    first = inbound(http, FACILITATOR, "Hur gör jag med lokalen?", sid(7))
    again = inbound(http, FACILITATOR, "Hur gör jag med lokalen?", sid(7))  # Twilio retried the webhook

    assert twiml_messages(first) == twiml_messages(again) == []
    send_queued(wired)
    assert len(texts_to(twilio, wired.organisation.coordinator_phone)) == 1
    assert len(replies_listed(http)) == 1


def test_a_long_reply_is_cut_to_fit_and_listed_whole(wired, http, twilio):
    started_group(wired, twilio)
    words = " ".join(f"ord{i}" for i in range(300))  # 1,789 characters: cut to Twilio's 1,600, then to fit

    assert twiml_messages(inbound(http, FACILITATOR, words)) == []

    send_queued(wired)
    [text] = texts_to(twilio, wired.organisation.coordinator_phone)
    body = text.body or ""
    assert segment_info(body).segments == MAX_FORWARD_SEGMENTS
    assert body.endswith('..."') and "ord0 ord1 ord2" in body
    assert re.search(r"ord\d+\.\.\.", body), "cut after a whole word"
    [listed] = replies_listed(http)
    assert listed["text"] == words[:1600]


def test_a_facilitator_without_a_group_is_forwarded_without_a_code(wired, http, twilio):
    add_facilitator(wired)

    assert twiml_messages(inbound(http, FACILITATOR, "Jag kan ta en grupp till i höst.")) == []

    send_queued(wired)
    [text] = texts_to(twilio, wired.organisation.coordinator_phone)
    assert "Eva Lind (igångsättare) svarade" in (text.body or "")
    [listed] = replies_listed(http)
    assert listed["group"] is None


def test_a_facilitator_who_is_also_a_member_is_forwarded_not_answered(wired, http, twilio):
    group = started_group(wired, twilio, member_phone=FACILITATOR)  # Eva registered herself too

    assert twiml_messages(inbound(http, FACILITATOR, "Kan vi flytta träffen?")) == []

    kinds = [m.kind for m in messages_of(wired) if m.status is MessageStatus.PENDING]
    assert kinds == [MessageKind.FACILITATOR_REPLY]
    send_queued(wired)
    [text] = texts_to(twilio, wired.organisation.coordinator_phone)
    assert short_ref(group.key) in (text.body or "")


# --- a member's text ----------------------------------------------------------------------------


def test_a_member_is_answered_with_their_facilitator_and_the_coordinator_and_nothing_is_stored(wired, http, twilio):
    started_group(wired, twilio)
    words = "Ja, jag kommer! Hälsningar från Kvarnbäcksgatan 17"
    needles = {"Kvarnbäcksgatan", "jag kommer"}
    before = every_row(wired)

    response = inbound(http, MEMBER, words, sid(40))

    assert twiml_messages(response) == []
    assert traces(wired, needles) == []
    [answer] = [m for m in messages_of(wired) if m.kind is MessageKind.MEMBER_REPLY]
    added = {
        name: [r["RowKey"] for r in rows if r["RowKey"] not in {b["RowKey"] for b in before[name]}]
        for name, rows in every_row(wired).items()
    }
    # One outbox row, and the note that the provider holds their text (to delete it): no words.
    assert added == {**{name: [] for name in TABLES}, "interests": [answer.key], "smscopies": [sid(40)]}

    send_queued(wired)
    [text] = texts_to(twilio, MEMBER)[-1:]
    body = text.body or ""
    assert body.startswith(f"Hej {MEMBER_NAME}!")
    assert "igångsättare Eva " in body and "Lind" not in body, "the facilitator's first name only"
    contact = coordinator_contact(wired.organisation)
    assert contact == "Birgitta Ekeberg, 010-242 41 73" and contact in body
    assert FACILITATOR not in body
    info = segment_info(body)
    assert info.encoding == "GSM-7" and info.segments <= 2  # MAX_MEMBER_REPLY_SEGMENTS is for the longest values
    assert traces(wired, needles) == []
    assert replies_listed(http) == [], "a member's words are never listed"


def test_a_member_is_answered_once_a_day(wired, http, twilio):
    started_group(wired, twilio)
    sent_before = len(texts_to(twilio, MEMBER))

    for i in range(3):  # a phone's auto-responder answering our answer
        assert twiml_messages(inbound(http, MEMBER, f"Jag är på semester till 1 augusti ({i})")) == []
        send_queued(wired)

    assert len(texts_to(twilio, MEMBER)) == sent_before + 1
    assert len([m for m in messages_of(wired) if m.kind is MessageKind.MEMBER_REPLY]) == 1


def test_the_members_answer_is_in_their_language(wired, http, twilio):
    add_facilitator(wired)
    for i in range(4):
        join(wired, twilio, f"Medlem Nummer{i}", f"+4673552{i:04d}")
    join(wired, twilio, "Sam", "+447700900123", locale="en")
    wired.formation.form_theme(THEME)
    send_queued(wired)

    assert twiml_messages(inbound(http, "+447700900123", "Thanks, see you there")) == []
    send_queued(wired)

    body = texts_to(twilio, "+447700900123")[-1].body or ""
    assert body.startswith("Hi Sam! This is ") and "Nobody reads texts" in body and "facilitator, Eva," in body


# --- keywords and everyone else keep their answers --------------------------------------------------


def test_keywords_from_facilitators_and_members_keep_working(wired, http, twilio):
    started_group(wired, twilio)
    before = {phone: len(texts_to(twilio, phone)) for phone in (FACILITATOR, MEMBER)}

    answers = [
        twiml_messages(inbound(http, FACILITATOR, "HJÄLP")),
        twiml_messages(inbound(http, MEMBER, "hjälp")),
        twiml_messages(inbound(http, MEMBER, "STOPP")),
    ]
    assert answers == [[], [], []], "answers are texts of their own"
    [stop] = carry_out_stops(wired)

    facilitator_help = [m.body or "" for m in texts_to(twilio, FACILITATOR)[before[FACILITATOR] :]]
    member_texts = [m.body or "" for m in texts_to(twilio, MEMBER)[before[MEMBER] :]]
    assert len(facilitator_help) == 1 and "Svara STOPP" in facilitator_help[0]
    assert len(member_texts) == 2 and "Svara STOPP" in member_texts[0] and "raderat" in member_texts[1]
    assert stop.confirmed and stop.facilitators_stopped == 0
    pending = [m.kind for m in messages_of(wired) if m.status is MessageStatus.PENDING]
    assert pending == [MessageKind.MEMBER_LEFT], "no forward, no answer: the keywords acted alone"
    assert wired.reply_log.newest(10) == []


def test_unknown_numbers_and_waiting_residents_are_told_this_number_is_not_read(wired, http, twilio):
    join(wired, twilio, MEMBER_NAME, MEMBER, locale="en")  # waiting: no group yet

    assert twiml_messages(inbound(http, "+46701740699", "Hej, vem är det här?")) == []
    assert twiml_messages(inbound(http, MEMBER, "When does it start?")) == []

    [unknown] = texts_to(twilio, "+46701740699")
    assert "Ingen läser" in (unknown.body or "")
    assert "Nobody reads" in (texts_to(twilio, MEMBER)[-1].body or "")
    assert messages_of(wired) == [] and queued(wired) == []


# --- operators' list: access, audit, retention, logs ---------------------------------------------


def test_the_list_needs_the_admin_token_and_each_read_is_audited(wired, http, twilio):
    add_facilitator(wired)
    inbound(http, FACILITATOR, "<script>alert(1)</script> {{7*7}}")

    assert http.get("/api/admin/replies").status_code == 401
    assert http.get("/api/admin/replies", headers={"authorization": "Bearer wrong"}).status_code == 401
    [listed] = replies_listed(http)
    assert listed["text"] == "<script>alert(1)</script> {{7*7}}", "data, returned as a JSON string"
    audit = [r for r in wired.storage.table(AUDIT).list_entities() if r.get("Action") == "api_list_replies"]
    assert [r["Outcome"] for r in audit] == ["ok"]
    assert "alert" not in str(audit)


def test_retention_erases_replies_older_than_retention_days(wired, http, twilio):
    add_facilitator(wired)
    inbound(http, FACILITATOR, "Ett gammalt svar")
    later = utcnow() + timedelta(days=wired.settings.retention_days, minutes=1)
    retention = rewired(wired, clock=lambda: later).retention

    assert wired.retention.run().replies_erased == 0  # today: kept
    assert len(wired.reply_log.newest(10)) == 1
    assert retention.run().replies_erased == 1
    assert wired.reply_log.newest(10) == []
    assert traces(wired, {"gammalt svar"}) == [], "the outbox row's copy went with the outbox rows"


def test_no_number_name_or_words_reach_the_logs(wired, http, twilio, caplog):
    caplog.set_level(logging.DEBUG)
    started_group(wired, twilio)

    inbound(http, FACILITATOR, "Hemlis-ett från igångsättaren")
    inbound(http, MEMBER, "Hemlis-två från medlemmen")
    inbound(http, "+46701740699", "Hemlis-tre från okänd")
    send_queued(wired)

    assert caplog.records, "logging was captured"
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    needles = {"Hemlis", "Eva Lind", MEMBER_NAME, wired.organisation.coordinator_phone}
    needles |= {n for phone in (FACILITATOR, MEMBER, "+46701740699") for n in number_forms(phone)}
    assert [n for n in needles if n in logged] == []
