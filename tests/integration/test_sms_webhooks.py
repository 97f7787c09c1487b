"""Twilio's webhooks through the HTTP app against Azurite: signatures, delivery status, STOP, HELP, other texts."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from shared.adapters.entities import message_from
from shared.adapters.storage import INTERESTS
from shared.adapters.templates import Templates
from shared.composition import Services
from shared.core.domain import OUTBOX_PREFIX, MessageKind, MessageStatus, OutboxMessage, RecipientType
from shared.core.organisation import parse_organisation
from shared.core.sms_segments import segment_info
from shared.services.outbox import notification_for
from shared.web.app import create_app
from shared.web.sms_webhooks import HELP_WORDS, MAX_REPLY_SEGMENTS, STOP_WORDS, keyword
from tests.conftest import municipality
from tests.support.privacy import (
    LEAVER,
    LEAVER_NAME,
    form_group,
    number_forms,
    number_needles,
    person,
    register_verified,
    traces,
)
from tests.support.stops import carry_out_stops, queued_stops
from tests.support.tables import drain, groups, interests, messages_of, queued

BASE = "https://gruppstart.example"
TOKEN = "f" * 32
TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": TOKEN,
    "TWILIO_FROM": "+46766861000",
    "PUBLIC_BASE_URL": BASE,
}
REPLY_WORDS = {
    # a word each reply uses, per language, to tell which template answered
    ("stop_reply", "sv"): "raderat",
    ("stop_reply", "nb"): "slettet",
    ("stop_reply", "en"): "deleted",
    ("help_reply", "sv"): "Svara STOPP",
    ("help_reply", "nb"): "Svar STOPP",
    ("help_reply", "en"): "reply STOP",
    ("unknown_reply", "sv"): "Ingen läser",
    ("unknown_reply", "nb"): "Ingen leser",
    ("unknown_reply", "en"): "Nobody reads",
}


@pytest.fixture
def wired(make_services: Callable[..., Services]) -> Services:
    return make_services(**TWILIO)


@pytest.fixture
def http(wired: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: wired)) as client:
        yield client


def post(
    client: TestClient,
    path: str,
    params: dict[str, str],
    *,
    query: dict[str, str] | None = None,
    token: str = TOKEN,
    signed_url: str | None = None,
    signed_params: dict[str, str] | None = None,
    signature: str | None = None,
) -> Any:
    """Post a form the way Twilio does: signed over the public URL and the parameters."""
    qs = f"?{urlencode(query)}" if query else ""
    url = signed_url or f"{BASE}{path}{qs}"
    if signature is None:
        signature = RequestValidator(token).compute_signature(url, signed_params or params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return client.post(f"{path}{qs}", data=params, headers=headers)


def inbound(client: TestClient, phone: str, body: str, **kw: Any) -> Any:
    return post(client, "/api/sms/inbound", {"From": phone, "To": TWILIO["TWILIO_FROM"], "Body": body}, **kw)


def status(client: TestClient, message: OutboxMessage, value: str, **extra: str) -> Any:
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": value, **extra}
    return post(client, "/api/sms/status", params, query={"theme": message.theme, "row": message.key})


def empty_twiml(response: Any) -> None:
    """The webhook's own answer: always an empty <Response/> (answers are texts of their own)."""
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)  # noqa: S314 - our own reply
    assert root.tag == "Response"
    assert list(root) == []


def texts_to(services: Services, phone: str) -> list[str]:
    return [m.body for m in services.sender.messages() if m.to == phone]  # type: ignore[attr-defined]


def assert_reply(services: Services, response: Any, phone: str, kind: str, locale: str) -> str:
    """The answer went out as a text of its own (STOPs carried out from their queue first)."""
    empty_twiml(response)
    carry_out_stops(services)
    text = texts_to(services, phone)[-1]
    assert REPLY_WORDS[(kind, locale)] in text, text
    return text


def row(services: Services, message: OutboxMessage) -> OutboxMessage:
    return message_from(services.storage.table(INTERESTS).get_entity(message.theme, message.key))


def sent_invitation(services: Services) -> OutboxMessage:
    """A formed group's invitation, sent through the notifier (so it is in state 'sent')."""
    form_group(services)
    drain(services)
    invitation = next(m for m in messages_of(services) if m.kind is MessageKind.INVITATION)
    assert services.notifier.send(invitation.theme, invitation.key).sent
    sent = row(services, invitation)
    assert sent.status is MessageStatus.SENT
    return sent


# --- signatures ----------------------------------------------------------------------------------


def test_a_forged_or_missing_signature_changes_nothing(wired, http):
    message = sent_invitation(wired)
    before = {r["RowKey"]: r.metadata["etag"] for r in wired.storage.table(INTERESTS).list_entities()}
    query = {"theme": message.theme, "row": message.key}
    stop = {"From": LEAVER, "To": TWILIO["TWILIO_FROM"], "Body": "STOP"}

    attempts = [
        post(http, "/api/sms/inbound", stop, signature=""),  # no signature at all
        post(http, "/api/sms/inbound", stop, signature="bm90IGEgc2lnbmF0dXJl"),
        post(http, "/api/sms/inbound", stop, token="0" * 32),  # signed with another account's token
        post(http, "/api/sms/inbound", stop, signed_url="http://testserver/api/sms/inbound"),  # not our public URL
        post(http, "/api/sms/inbound", stop, signed_params={**stop, "Body": "HELP"}),  # body changed after signing
        post(http, "/api/sms/status", {"MessageStatus": "undelivered"}, query=query, signature="x"),
        post(http, "/api/sms/status", {"MessageStatus": "undelivered"}, query=query, token="0" * 32),
        post(
            http,
            "/api/sms/status",
            {"MessageStatus": "undelivered"},
            query={**query, "row": "outbox.other"},
            signed_url=f"{BASE}/api/sms/status?{urlencode(query)}",
        ),
    ]

    assert [r.status_code for r in attempts] == [403] * len(attempts)
    after = {r["RowKey"]: r.metadata["etag"] for r in wired.storage.table(INTERESTS).list_entities()}
    assert after == before
    assert row(wired, message).status is MessageStatus.SENT
    assert queued(wired) == [] and queued_stops(wired) == []


def test_without_an_auth_token_every_webhook_is_refused(make_services):
    services = make_services(PUBLIC_BASE_URL=BASE)  # no Twilio settings
    register_verified(services, LEAVER_NAME, LEAVER)
    with TestClient(create_app(lambda: services)) as client:
        response = inbound(client, LEAVER, "STOP")
        assert response.status_code == 403
        assert post(client, "/api/sms/status", {"MessageStatus": "failed"}).status_code == 403
    assert queued_stops(services) == []
    assert [i.phone for i in interests(services)] == [LEAVER]


def test_without_a_public_base_url_the_request_url_is_what_is_signed(make_services):
    env = {k: v for k, v in TWILIO.items() if k != "PUBLIC_BASE_URL"}
    services = make_services(**env)
    register_verified(services, LEAVER_NAME, LEAVER)
    with TestClient(create_app(lambda: services)) as client:
        assert inbound(client, LEAVER, "STOP").status_code == 403  # signed for the public URL: not this one
        response = inbound(client, LEAVER, "STOP", signed_url="http://testserver/api/sms/inbound")
    assert_reply(services, response, LEAVER, "stop_reply", "sv")
    assert interests(services) == []


# --- delivery status -----------------------------------------------------------------------------


def test_delivered_is_recorded_and_never_undone(wired, http):
    message = sent_invitation(wired)

    assert status(http, message, "delivered").status_code == 204
    assert row(wired, message).status is MessageStatus.DELIVERED

    for late in ("sent", "queued", "undelivered", "failed"):
        assert status(http, message, late).status_code == 204
    assert row(wired, message).status is MessageStatus.DELIVERED
    assert not [m for m in messages_of(wired) if m.kind is MessageKind.COORDINATOR_ALERT]
    assert queued(wired) == []


def test_undelivered_is_recorded_and_alerts_the_coordinator_exactly_once(wired, http):
    message = sent_invitation(wired)

    first = status(http, message, "undelivered", ErrorCode="30003")
    second = status(http, message, "undelivered", ErrorCode="30003")
    third = status(http, message, "failed", ErrorCode="30003")

    assert [r.status_code for r in (first, second, third)] == [204, 204, 204]
    after = row(wired, message)
    assert after.status is MessageStatus.UNDELIVERED
    assert after.error_code == 30003
    alerts = [m for m in messages_of(wired) if m.kind is MessageKind.COORDINATOR_ALERT]
    assert len(alerts) == 1
    [alert] = alerts
    assert alert.recipient_type is RecipientType.COORDINATOR
    assert alert.reason == "undelivered" and alert.group_key == message.group_key
    assert queued(wired) == [notification_for(alert)]
    assert wired.notifier.handle(notification_for(alert)).sent  # the coordinator's text renders


def test_failed_alerts_once_and_sent_moves_a_row_forward(wired, http):
    message = sent_invitation(wired)
    other = next(m for m in messages_of(wired) if m.kind is MessageKind.INVITATION and m.key != message.key)

    assert status(http, message, "failed").status_code == 204
    assert status(http, message, "failed").status_code == 204
    # A callback that beats the notifier's own bookkeeping still never puts a row back to pending.
    assert status(http, other, "sent").status_code == 204

    assert row(wired, message).status is MessageStatus.FAILED
    assert row(wired, other).status is MessageStatus.SENT
    assert len([m for m in messages_of(wired) if m.kind is MessageKind.COORDINATOR_ALERT]) == 1


def test_unknown_rows_themes_and_statuses_are_ignored(wired, http):
    message = sent_invitation(wired)
    before = len(list(wired.storage.table(INTERESTS).list_entities()))
    gone = message.model_copy(update={"key": OUTBOX_PREFIX + "0" * 24})
    elsewhere = message.model_copy(update={"theme": "no-such-theme"})
    not_outbox = message.model_copy(update={"key": message.group_key})

    responses = [
        status(http, gone, "undelivered"),
        status(http, elsewhere, "undelivered"),
        status(http, not_outbox, "undelivered"),
        status(http, message, "exploded"),
        post(http, "/api/sms/status", {"MessageStatus": "failed"}),  # no query at all
    ]

    assert [r.status_code for r in responses] == [204] * len(responses)
    assert len(list(wired.storage.table(INTERESTS).list_entities())) == before
    assert row(wired, message).status is MessageStatus.SENT
    assert queued(wired) == []


# --- STOP ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "locale"),
    [("STOP", "sv"), ("  stopp ", "sv"), ("Avmeld", "en"), ("Sluta!", "nb")],
)
def test_stop_from_a_group_member_erases_every_trace_and_tells_the_facilitator(wired, http, body, locale):
    group = form_group(wired, leaver_locale=locale)
    leaver = next(i for i in interests(wired) if i.phone == LEAVER)
    drain(wired)

    response = inbound(http, LEAVER, body)
    empty_twiml(response)
    assert len(queued_stops(wired)) == 1, "queued before the 200"
    assert [i.phone for i in interests(wired)].count(LEAVER) == 1, "carried out by the queue's function"

    assert_reply(wired, response, LEAVER, "stop_reply", locale)  # their interest's language, whatever the country
    assert traces(wired, number_needles(LEAVER)) == []
    [after] = groups(wired)
    assert len(after.member_keys) == len(group.member_keys) - 1 == 4
    assert leaver.key not in after.member_keys
    [left] = [m for m in messages_of(wired) if m.kind is MessageKind.MEMBER_LEFT]
    assert left.recipient_type is RecipientType.FACILITATOR and left.recipient_id == group.facilitator_id
    assert left.subject_keys == (leaver.key,)
    assert queued(wired) == [notification_for(left)]
    # Once the facilitator has been told, the name is gone too.
    assert wired.notifier.handle(notification_for(left)).sent
    assert traces(wired, number_needles(LEAVER) | {LEAVER_NAME}) == []


def test_stop_from_a_waiting_person_just_erases_them(wired, http):
    for i in range(2):
        register_verified(wired, *person(i))
    register_verified(wired, LEAVER_NAME, LEAVER, locale="en")

    response = inbound(http, LEAVER, "unsubscribe.")

    assert_reply(wired, response, LEAVER, "stop_reply", "en")
    assert sorted(i.phone for i in interests(wired)) == sorted(person(i)[1] for i in range(2))
    assert messages_of(wired) == [] and groups(wired) == [] and queued(wired) == []
    assert traces(wired, number_needles(LEAVER) | {LEAVER_NAME}) == []


def test_stop_from_an_unknown_number_is_confirmed_only_within_the_organisations_countries(wired, http):
    register_verified(wired, LEAVER_NAME, LEAVER)

    assert_reply(wired, inbound(http, "+46701740699", "STOP"), "+46701740699", "stop_reply", "sv")
    for abroad in ("+4791234567", "+447700900123", "+2348031234567"):
        empty_twiml(inbound(http, abroad, "STOP"))
        [report] = carry_out_stops(wired)  # carried out (erased: nothing), but not confirmed abroad
        assert not report.confirmed and texts_to(wired, abroad) == []
    empty_twiml(inbound(http, "anonymous", "STOP"))
    assert queued_stops(wired) == [], "no number: nothing to carry out"
    assert [i.phone for i in interests(wired)] == [LEAVER]


def test_stop_twice_is_harmless(wired, http):
    register_verified(wired, LEAVER_NAME, LEAVER)
    assert_reply(wired, inbound(http, LEAVER, "STOP"), LEAVER, "stop_reply", "sv")
    assert_reply(wired, inbound(http, LEAVER, "STOP"), LEAVER, "stop_reply", "sv")
    assert interests(wired) == []


# --- HELP and anything else -----------------------------------------------------------------------


def test_help_says_who_sends_and_how_to_leave_in_the_persons_language(wired, http):
    register_verified(wired, LEAVER_NAME, LEAVER, locale="en")
    organisation = wired.organisation.name

    english = assert_reply(wired, inbound(http, LEAVER, "help"), LEAVER, "help_reply", "en")
    swedish = assert_reply(wired, inbound(http, "+46701740699", " HJÄLP? "), "+46701740699", "help_reply", "sv")
    info = assert_reply(wired, inbound(http, "+46701740698", "info"), "+46701740698", "help_reply", "sv")
    empty_twiml(inbound(http, "+4791234567", "Hjelp"))  # Norway is not Jönköping's country: no answer

    assert all(organisation in text for text in (english, swedish, info))
    assert texts_to(wired, "+4791234567") == []
    assert [i.phone for i in interests(wired)] == [LEAVER], "help erases nothing"


def test_anything_else_gets_this_number_is_not_read(wired, http):
    register_verified(wired, LEAVER_NAME, LEAVER)

    text = assert_reply(
        wired, inbound(http, LEAVER, "Hej! När börjar gruppen? Jag vill inte sluta."), LEAVER, "unknown_reply", "sv"
    )
    empty_twiml(inbound(http, "+447700900123", ""))

    assert wired.organisation.name in text
    assert texts_to(wired, "+447700900123") == []
    assert [i.phone for i in interests(wired)] == [LEAVER]


def test_the_answer_is_data_and_the_webhook_says_nothing(make_services):
    doc = municipality("region-jonkoping")["organisation"]
    doc["name"] = "Råd & Stöd <Jönköping>"
    services = make_services(doc, **TWILIO)
    with TestClient(create_app(lambda: services)) as client:
        response = inbound(client, "+46701740699", "HELP")
    assert b"R\xc3\xa5d" not in response.content and "Råd".encode() not in response.content
    assert "Råd & Stöd <Jönköping>" in assert_reply(services, response, "+46701740699", "help_reply", "sv")


# --- logs ----------------------------------------------------------------------------------------


def test_no_number_or_name_reaches_the_logs(wired, http, caplog):
    caplog.set_level(logging.DEBUG)
    group = form_group(wired)
    drain(wired)
    for message in messages_of(wired):
        wired.notifier.send(message.theme, message.key)
    invitation = next(m for m in messages_of(wired) if m.kind is MessageKind.INVITATION)
    status(http, invitation, "undelivered", ErrorCode="30003")
    inbound(http, LEAVER, "hjälp")
    inbound(http, LEAVER, "vem är du?")
    assert_reply(wired, inbound(http, LEAVER, "STOPP"), LEAVER, "stop_reply", "sv")
    for text in queued(wired):
        wired.notifier.handle(text)

    assert len(groups(wired)[0].member_keys) == len(group.member_keys) - 1
    assert caplog.records, "logging was captured"
    members = [person(i) for i in range(4)] + [(LEAVER_NAME, LEAVER)]
    # The key derived from a number (phone_key) does appear: storage URLs name marker rows by it.
    needles = {LEAVER_NAME} | {n for _, phone in members for n in number_forms(phone)}
    needles |= {name for name, _ in members}
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert [n for n in needles if n in logged] == []


# --- the words and the texts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["STOP", "stop", " Stopp ", "STOPP!", "sluta.", "Avsluta", "AVBRYT", "avmeld", "Avmelde", "UNSUBSCRIBE",
     "cancel", "End", "quit", "\tstop\n", "«Stopp»"],
)  # fmt: skip
def test_stop_words_in_any_case_and_dress(body):
    assert keyword(body) in STOP_WORDS


@pytest.mark.parametrize("body", ["stop it", "please stop", "stopping", "ending", "hej", "", "   ", "s t o p"])
def test_other_texts_are_not_stop(body):
    assert keyword(body) not in STOP_WORDS


@pytest.mark.parametrize("body", ["HELP", "help?", "Hjelp", "HJÄLP", "hja\u0308lp", "Info!"])
def test_help_words(body):
    assert keyword(body) in HELP_WORDS


@pytest.mark.parametrize("kind", ["stop_reply", "help_reply", "unknown_reply"])
@pytest.mark.parametrize("locale", ["sv", "nb", "en"])
@pytest.mark.parametrize(
    "stem", ["region-jonkoping", "aurskog-holand", "Västra Götalandsregionen, Folkhälsokommittén i Östra Skaraborg"]
)
def test_every_reply_fits_in_two_segments(kind, locale, stem):
    try:
        name = parse_organisation(municipality(stem)["organisation"]).name
    except FileNotFoundError:
        name = stem  # a long realistic name of our own
    text = Templates().sms(kind, locale, organisation=name)
    assert name in text
    assert REPLY_WORDS[(kind, locale)] in text
    info = segment_info(text)
    assert info.segments <= MAX_REPLY_SEGMENTS, (info, text)


# --- issue 20.4 and 20.5: what HELP, STOP and unknown numbers are answered with, on a lock screen ------
# Rendered by the app itself, in sv, nb and en by the sender's country: each opens with the organisation,
# keeps the group word off the lock screen, and where STOP is offered says it deletes every registration.
# Failed on the texts before issue 20.

LOCK_SCREEN_CHARACTERS = 150
GROUP_WORDS = ("självhjälpsgrupp", "selvhjelpsgrupp", "self-help group")
NUMBERS = {"sv": "+46733960712", "nb": "+4790871523", "en": "+447400123456"}  # libphonenumber's GB example
STOP_SAYS = {
    "sv": "raderar vi ditt nummer och alla anmälningar",
    "nb": "sletter vi nummeret ditt og alle påmeldingene dine",
    "en": "we then delete your number and all your registrations",
}
DELETED = {"sv": "alla dina anmälningar", "nb": "alle påmeldingene dine", "en": "all your registrations"}


@pytest.fixture
def abroad(make_services: Callable[..., Services]) -> Iterator[tuple[Services, TestClient]]:
    """The region, answering numbers of three countries (answers go only to `phone_countries`)."""
    document = municipality("region-jonkoping")["organisation"] | {"phone_countries": ["SE", "NO", "GB"]}
    services = make_services(document, **TWILIO)
    with TestClient(create_app(lambda: services)) as client:
        yield services, client


@pytest.mark.parametrize("locale", ["sv", "nb", "en"])
@pytest.mark.parametrize("body", ["HELP", "STOP", "Hej, vem är det här?"])
def test_keyword_and_unknown_replies_open_with_the_organisation(
    abroad: tuple[Services, TestClient], locale: str, body: str
) -> None:
    wired, http = abroad
    empty_twiml(inbound(http, NUMBERS[locale], body))
    carry_out_stops(wired)
    [text] = texts_to(wired, NUMBERS[locale])
    assert wired.organisation.name in text[:40], text
    head = text[:LOCK_SCREEN_CHARACTERS].lower()
    assert not any(word in head for word in GROUP_WORDS), text
    if body == "HELP":
        assert STOP_SAYS[locale] in text and all(line.number in text for line in wired.organisation.crisis)
    elif body == "STOP":
        assert DELETED[locale] in text
    else:
        assert "STOP" in text and DELETED[locale] in text
