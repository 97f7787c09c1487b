"""Assisted registration for people who phone (issue 23.5), through the real pages and storage (Azurite):
a signed-in coordinator types the caller's interest, the code goes by SMS to the caller (read here from
the local outbox), and only the code typed on the next page makes a registration of it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.adapters.storage import AUDIT, INTERESTS
from shared.composition import Services
from shared.web.app import create_app

TOKEN = "phone-in-token-3b7e91"
HTML = {"accept": "text/html,application/xhtml+xml"}
CALLER = "070-174 06 40"
CALLER_E164 = "+46701740640"
CALLER_NAME = "Greta"
FIELDS = {
    "theme": "stress",
    "area": "vaggeryd",
    "name": CALLER_NAME,
    "phone": CALLER,
    "locale": "en",
    "age_confirmed": "on",
    "consent": "on",
    "pledge": "on",
}


@pytest.fixture
def county(make_services) -> Services:  # type: ignore[no-untyped-def]
    return make_services(ADMIN_TOKEN=TOKEN)


@pytest.fixture
def client(county: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: county), follow_redirects=False) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def sign_in(client: TestClient) -> str:
    """A session through the sign-in form; returns the CSRF token the phone-in page carries."""
    nonce = csrf_of(client.get("/manage/login", headers=HTML).text)
    assert client.post("/manage/login", data={"csrf": nonce, "token": TOKEN, "next": "/manage"}).status_code == 303
    page = client.get("/manage/phone-in?lang=en", headers=HTML)
    assert page.status_code == 200
    return csrf_of(page.text)


def interests(services: Services) -> list[dict[str, Any]]:
    return list(services.storage.table(INTERESTS).query_entities("Kind eq 'interest'"))


def registered(services: Services) -> list[dict[str, Any]]:
    """Interests that are registrations (verified): none may exist before the code is typed."""
    return [r for r in interests(services) if r["Status"] != "pending_verification"]


def audit_rows(services: Services) -> list[dict[str, Any]]:
    return sorted(services.storage.table(AUDIT).list_entities(), key=lambda r: r["RowKey"])


def texts_to(services: Services, number: str) -> list[str]:
    return [m.body for m in services.sender.messages() if m.to == number]  # type: ignore[attr-defined]


def test_a_caller_is_registered_only_once_their_code_is_typed(client: TestClient, county: Services) -> None:
    csrf = sign_in(client)
    sent = client.post("/manage/phone-in?lang=en", data={**FIELDS, "csrf": csrf}, headers=HTML)
    assert sent.status_code == 200, sent.text
    assert "ending in 40" in sent.text
    [text] = texts_to(county, CALLER_E164)
    code = re.search(r"\b(\d{6})\b", text).group(1)  # type: ignore[union-attr]
    assert registered(county) == []  # an attempt waits for its code; nobody is registered yet
    [attempt] = interests(county)
    assert attempt["Status"] == "pending_verification" and attempt["Locale"] == "en"
    interest_id = re.search(r'name="id" value="([^"]+)"', sent.text).group(1)  # type: ignore[union-attr]

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = client.post(
        "/manage/phone-in/verify?lang=en",
        data={"csrf": csrf, "id": interest_id, "last_digits": "40", "code": wrong},
        headers=HTML,
    )
    assert refused.status_code == 400
    assert "The code is not right" in refused.text
    assert registered(county) == []

    done = client.post(
        "/manage/phone-in/verify?lang=en",
        data={"csrf": csrf, "id": interest_id, "last_digits": "40", "code": code},
        headers=HTML,
    )
    assert done.status_code == 200, done.text
    assert "The caller is registered" in done.text
    assert "Stress: 4 more people are needed before a group can start." in done.text
    [person] = registered(county)
    assert (person["Status"], person["Area"], person["Name"], person["Phone"]) == (
        "waiting",
        "vaggeryd",
        CALLER_NAME,
        CALLER_E164,
    )
    # Consent as given by phone, to whom: the organisation's version and the operator's session id.
    version = county.organisation.consent_version
    assert re.fullmatch(rf"{re.escape(version)}\|phone:session:[0-9a-f]{{16}}", person["ConsentVersion"])

    rows = audit_rows(county)
    actions = [(r["Action"], r["Outcome"]) for r in rows if r["Action"].startswith("phone_registration")]
    assert actions == [("phone_registration_code_sent", "ok"), ("phone_registration", "ok")]
    marker = f"phone.{county.keyer.key(CALLER_E164)}"
    assert [json.loads(r["Targets"]) for r in rows if r["Action"].startswith("phone_registration")] == [
        [marker],
        [marker, f"stress.{person['RowKey'].removeprefix('interest.')}"],
    ]
    assert {r["Actor"] for r in rows if r["Action"].startswith("phone_registration")} == {
        person["ConsentVersion"].split("|phone:")[1]
    }
    everything = json.dumps(rows, default=str)
    assert CALLER_E164 not in everything and "701740640" not in everything and CALLER_NAME not in everything


def test_without_the_csrf_token_nothing_is_sent_or_stored(client: TestClient, county: Services) -> None:
    sign_in(client)
    refused = client.post("/manage/phone-in", data=FIELDS, headers=HTML)
    assert refused.status_code == 403
    assert texts_to(county, CALLER_E164) == [] and interests(county) == []


def test_missing_consent_is_refused_in_the_operators_language(client: TestClient, county: Services) -> None:
    csrf = sign_in(client)
    fields = {k: v for k, v in FIELDS.items() if k != "consent"}
    page = client.post("/manage/phone-in?lang=sv", data={**fields, "csrf": csrf}, headers=HTML)
    assert page.status_code == 422
    assert 'id="consent-error"' in page.text
    assert f'value="{CALLER}"' in page.text  # what was typed is kept
    assert texts_to(county, CALLER_E164) == [] and interests(county) == []


def test_an_expired_attempt_says_to_send_a_new_code(client: TestClient, county: Services) -> None:
    csrf = sign_in(client)
    page = client.post(
        "/manage/phone-in/verify?lang=en",
        data={"csrf": csrf, "id": "stress.interest.000000000000000000000000", "last_digits": "40", "code": "123456"},
        headers=HTML,
    )
    assert page.status_code == 410
    assert "Send a new one." in page.text
    assert registered(county) == []
