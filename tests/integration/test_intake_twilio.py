"""Register and verify with the real `twilio` SDK sending to a Twilio-compatible server on loopback."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import INTERESTS
from shared.composition import Services
from shared.core import i18n
from shared.web.app import create_app
from tests.support.twilio_server import Accept, LoopbackTwilio, Reject, ServerError, Throttle

FROM = "+46700000000"
PHONE = "070-174 06 30"
E164 = "+46701740630"


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackTwilio]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with LoopbackTwilio() as server:
        yield server


@pytest.fixture
def services(make_services: Callable[..., Services], twilio: LoopbackTwilio) -> Services:
    sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_=FROM, api_base_url=twilio.base_url, timeout=5)
    return make_services(sender=sender)


@pytest.fixture
def web(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: services)) as test_client:
        yield test_client


def payload(**changes: Any) -> dict[str, Any]:
    body = {"theme": "stress", "name": "Zacharias", "phone": PHONE, "area": "jonkoping", "age_confirmed": True}
    body["consent"] = True
    body.update(changes)
    return body


def interest_rows(services: Services) -> list[dict[str, Any]]:
    return [dict(e) for e in services.storage.table(INTERESTS).list_entities()]


def test_register_and_verify_through_twilio(
    web: TestClient, twilio: LoopbackTwilio, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = web.post("/api/interests", json=payload())
    assert created.status_code == 201, created.text

    [message] = twilio.received
    assert message.status_code == 201
    assert message.to == E164
    assert message.from_ == FROM
    assert message.body and "Region Jönköpings län" in message.body
    codes = re.findall(r"\b\d{6}\b", message.body)
    assert len(codes) == 1
    [code] = codes

    verified = web.post(f"/api/interests/{created.json()['id']}/verify", json={"code": code})
    assert verified.status_code == 200
    assert verified.json() == {"id": created.json()["id"], "status": "waiting", "needed": None, "expected_wait": None}
    assert len(twilio.received) == 1  # verifying sends nothing

    logged = caplog.text
    assert "Zacharias" not in logged and E164 not in logged and "701740630" not in logged
    assert not re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", logged)


def test_the_sms_speaks_the_residents_language(web: TestClient, twilio: LoopbackTwilio) -> None:
    assert web.post("/api/interests", json=payload(locale="en")).status_code == 201
    assert web.post("/api/interests", json=payload(locale="nb", phone="070-174 06 31")).status_code == 201
    english, norwegian = (m.body or "" for m in twilio.accepted)
    assert "is your code" in english
    assert "er koden din" in norwegian


def test_a_number_twilio_rejects_is_422_on_the_phone_and_leaves_nothing(
    web: TestClient, twilio: LoopbackTwilio, services: Services
) -> None:
    twilio.plan(Reject(code=21211, status=400))
    response = web.post("/api/interests", json=payload(), params={"lang": "en"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"phone"}
    assert errors["phone"]["code"] == "phone_undeliverable"
    assert errors["phone"]["message"] == i18n.translate("en", "err_phone_undeliverable")
    assert [m.status_code for m in twilio.received] == [400]
    assert interest_rows(services) == []

    # The number may be tried again once the provider takes it.
    assert web.post("/api/interests", json=payload()).status_code == 201


def test_the_form_shows_a_rejected_number_at_the_phone_field(
    web: TestClient, twilio: LoopbackTwilio, services: Services
) -> None:
    twilio.plan(Reject(code=21614, status=400))
    form = {k: ("on" if v is True else v) for k, v in payload().items()}
    response = web.post("/", data={**form, "pledge": "on"})
    assert response.status_code == 422
    assert 'id="phone-error"' in response.text
    assert i18n.translate("sv", "err_phone_undeliverable") in response.text
    assert 'value="070-174 06 30"' in response.text
    assert interest_rows(services) == []


@pytest.mark.parametrize("answer", [Throttle(retry_after=1), ServerError(500), ServerError(503)], ids=repr)
def test_a_provider_outage_is_503_and_leaves_nothing(
    web: TestClient, twilio: LoopbackTwilio, services: Services, answer: Throttle | ServerError
) -> None:
    # The SDK does not retry: one failed answer fails the registration.
    twilio.plan(answer, answer, answer)
    response = web.post("/api/interests", json=payload())
    assert response.status_code == 503
    # Counted at the provider: one request, answered as planned (a retrying sender used up the plan unseen).
    assert [m.status_code for m in twilio.received] == [429 if isinstance(answer, Throttle) else answer.status]
    assert int(response.headers["Retry-After"]) > 0
    assert interest_rows(services) == []
    assert twilio.accepted == []

    twilio.reset()
    twilio.plan(Accept())
    assert web.post("/api/interests", json=payload()).status_code == 201
    assert len([r for r in interest_rows(services) if r.get("Kind") == "interest"]) == 1


def test_a_failed_resend_keeps_the_earlier_try(web: TestClient, twilio: LoopbackTwilio, services: Services) -> None:
    first = web.post("/api/interests", json=payload()).json()
    [sent] = twilio.accepted
    first_code = re.findall(r"\b\d{6}\b", sent.body or "")[0]
    twilio.plan(ServerError(500))
    assert web.post("/api/interests", json=payload()).status_code == 503
    # Exactly one interest remains, and it is the same one.
    rows = [r for r in interest_rows(services) if r.get("Kind") == "interest"]
    assert len(rows) == 1
    assert f"{rows[0]['PartitionKey']}.{rows[0]['RowKey'].removeprefix('interest.')}" == first["id"]
    # The code that did reach the phone is the one that still works.
    verify = web.post(f"/api/interests/{first['id']}/verify", json={"code": first_code})
    assert verify.status_code == 200, verify.text
    # And so does the withdraw token handed out with it.
    token = {"Authorization": f"Bearer {first['withdraw_token']}"}
    assert web.delete(f"/api/interests/{first['id']}", headers=token).status_code == 204
