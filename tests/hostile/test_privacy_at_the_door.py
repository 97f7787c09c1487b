"""Issue 11, tried as a stranger would: what registering someone else's number gives away, whose
numbers get a code, what bounds the SMS bill, whether the stored keys give numbers back, and where
the withdraw token travels. Each of these failed on the code before the issue was worked on."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.adapters.entities import entity_of
from shared.adapters.ratelimit import RateLimited
from shared.adapters.sms.local import LocalOutboxSender
from shared.adapters.storage import INTERESTS, RATE_LIMITS
from shared.composition import Services
from shared.core.domain import INTEREST_PREFIX, PHONE_PREFIX, Interest, InterestStatus, new_sortable_key, utcnow
from shared.core.validation import ValidInterest
from shared.web.app import create_app

PHONE = "070-174 06 40"  # PTS numbers reserved for fiction
E164 = "+46701740640"
ADDRESS = "203.0.113.9"


def body(**changes: Any) -> dict[str, Any]:
    base = {
        "theme": "stress",
        "name": "Zacharias",
        "phone": PHONE,
        "area": "jonkoping",
        "age_confirmed": True,
        "consent": True,
    }
    return {**base, **changes}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def last_code(outbox: LocalOutboxSender, to: str = E164) -> str:
    texts = [m for m in outbox.messages() if m.to == to]
    assert texts, f"no text to {to}"
    match = re.search(r"\b(\d{6})\b", texts[-1].body)
    assert match
    return match.group(1)


@pytest.fixture
def api_for(make_services: Callable[..., Services]) -> Iterator[Callable[..., tuple[TestClient, Services]]]:
    opened: list[TestClient] = []

    def make(organisation: dict[str, Any] | None = None, **env: str) -> tuple[TestClient, Services]:
        services = make_services(organisation, **env)
        client = TestClient(create_app(lambda: services))
        client.__enter__()
        opened.append(client)
        return client, services

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def interests_of(services: Services, theme: str) -> list[dict]:
    return [
        dict(e)
        for e in services.storage.table(INTERESTS).query_entities(
            "PartitionKey eq @t and Kind eq 'interest'", parameters={"t": theme}
        )
    ]


# --- 1. no difference before proof of possession ----------------------------------------------------------


def test_registering_someone_elses_number_answers_alike_for_registered_and_unregistered_themes(
    client: TestClient, outbox: LocalOutboxSender
) -> None:
    mine = client.post("/api/interests", json=body())
    assert mine.status_code == 201
    verified = client.post(f"/api/interests/{mine.json()['id']}/verify", json={"code": last_code(outbox)})
    assert verified.status_code == 200

    registered = client.post("/api/interests", json=body(name="Mallory"))
    unregistered = client.post("/api/interests", json=body(name="Mallory", theme="anhorig"))
    assert registered.status_code == unregistered.status_code == 201
    for answer in (registered, unregistered):
        # expected_wait depends on the theme and area alone (issue 23.2): the same whoever the number is.
        assert set(answer.json()) == {"id", "status", "withdraw_token", "expected_wait"}
        assert answer.json()["status"] == "pending_verification"
        assert answer.headers.keys() == unregistered.headers.keys()
    # Both sent a code: the number of texts tells nothing either.
    assert len([m for m in outbox.messages() if m.to == E164]) == 3

    # With the number's hourly codes spent, both themes are refused alike.
    for theme in ("stress", "anhorig"):
        refused = client.post("/api/interests", json=body(theme=theme))
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "rate_limited"


def test_pending_attempts_never_overwrite_each_other(client: TestClient, outbox: LocalOutboxSender) -> None:
    first = client.post("/api/interests", json=body(name="Anna")).json()
    first_code = last_code(outbox)
    second = client.post("/api/interests", json=body(name="Mallory")).json()
    assert first["id"] != second["id"]

    # The second caller's token reaches only the second attempt.
    stolen = client.delete(f"/api/interests/{first['id']}", headers=bearer(second["withdraw_token"]))
    assert stolen.status_code == 404
    gone = client.delete(f"/api/interests/{second['id']}", headers=bearer(second["withdraw_token"]))
    assert gone.status_code == 204

    confirmed = client.post(f"/api/interests/{first['id']}/verify", json={"code": first_code})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["id"] == first["id"]


def test_a_duplicate_is_resolved_when_the_code_is_verified(
    client: TestClient, services: Services, outbox: LocalOutboxSender
) -> None:
    first = client.post("/api/interests", json=body(name="Anna")).json()
    assert client.post(f"/api/interests/{first['id']}/verify", json={"code": last_code(outbox)}).status_code == 200

    again = client.post("/api/interests", json=body(name="Annie", area="habo"))
    assert again.status_code == 201
    confirmed = client.post(f"/api/interests/{again.json()['id']}/verify", json={"code": last_code(outbox)})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {
        "id": first["id"],
        "status": "waiting",
        "needed": confirmed.json()["needed"],
        "expected_wait": None,
    }

    [row] = interests_of(services, "stress")  # one registration, with the newest details
    assert (row["Name"], row["Area"], row["Status"]) == ("Annie", "habo", "waiting")
    # The newest token withdraws it, by the id verification reported.
    token = again.json()["withdraw_token"]
    assert client.delete(f"/api/interests/{first['id']}", headers=bearer(token)).status_code == 204
    assert interests_of(services, "stress") == []


# --- 2. numbers from the organisation's countries only --------------------------------------------------


@pytest.mark.parametrize("foreign", ["+234 803 123 4567", "+86 138 0013 8000", "0044 7911 123456"])
def test_numbers_from_other_countries_get_no_code(client: TestClient, outbox: LocalOutboxSender, foreign: str) -> None:
    refused = client.post("/api/interests", json=body(phone=foreign, locale="sv"))
    assert refused.status_code == 422, refused.text
    problem = refused.json()["errors"]["phone"]
    assert problem["code"] == "phone_country"
    assert "Sverige" in problem["message"]
    assert outbox.messages() == []


def test_phone_countries_widens_the_door(
    api_for: Callable[..., tuple[TestClient, Services]], outbox: LocalOutboxSender
) -> None:
    from tests.conftest import municipality

    organisation = {**municipality("region-jonkoping")["organisation"], "phone_countries": ["SE", "NO"]}
    client, _ = api_for(organisation)
    assert client.post("/api/interests", json=body(phone="+47 412 34 567")).status_code == 201
    refused = client.post("/api/interests", json=body(phone="+45 20 12 34 56", locale="en"))
    assert refused.json()["errors"]["phone"]["message"].endswith("Sweden, Norway.")


# --- 3. the SMS budget -----------------------------------------------------------------------------------


def test_the_installation_budget_caps_verification_texts_and_alerts_the_coordinator_once(
    api_for: Callable[..., tuple[TestClient, Services]], outbox: LocalOutboxSender
) -> None:
    client, services = api_for(SMS_CODES_PER_HOUR="3", SMS_CODES_PER_DAY="10", CLIENT_REGISTRATIONS_PER_HOUR="100")
    for n in range(3):
        assert client.post("/api/interests", json=body(phone=f"070-174 06 5{n}")).status_code == 201
    for n in range(3, 6):  # other numbers, other addresses: the budget is the installation's
        refused = client.post("/api/interests", json=body(phone=f"070-174 06 5{n}"))
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "sms_budget"
        assert 0 < int(refused.headers["Retry-After"]) <= 3600 + 60  # a slot of the sliding window at most
    # The form keeps what was typed and says so.
    page = client.post(
        "/",
        data={**{k: str(v) for k, v in body(phone="070-174 06 59", name="Ingrid").items()}, "pledge": "on"},
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert page.status_code == 503
    assert 'value="Ingrid"' in page.text and 'value="070-174 06 59"' in page.text
    codes = [m for m in outbox.messages() if m.to != services.organisation.coordinator_phone]
    alerts = [m for m in outbox.messages() if m.to == services.organisation.coordinator_phone]
    assert len(codes) == 3
    assert len(alerts) == 1, [m.body for m in alerts]
    assert "3" in alerts[0].body


def test_requests_without_a_client_address_share_one_bucket(make_services: Callable[..., Services]) -> None:
    services = make_services(CLIENT_REGISTRATIONS_PER_HOUR="2")
    for n in range(2):
        interest = ValidInterest(theme="stress", name="Bo", phone=f"+4670174067{n}", locale="sv", area="habo")
        services.intake.register(interest, client_address=None)
    with pytest.raises(RateLimited):
        interest = ValidInterest(theme="stress", name="Bo", phone="+46701740679", locale="sv", area="habo")
        services.intake.register(interest, client_address=None)


def test_the_client_address_is_the_hop_azure_appended(api_for: Callable[..., tuple[TestClient, Services]]) -> None:
    client, _ = api_for(CLIENT_REGISTRATIONS_PER_HOUR="1", DEV_MODE="false")
    first = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7:50123"}
    assert client.post("/api/interests", json=body(phone="070-174 06 61"), headers=first).status_code == 201
    # A new claimed first hop is still the same client.
    again = {"X-Forwarded-For": "198.51.100.2, 203.0.113.7:50999"}
    assert client.post("/api/interests", json=body(phone="070-174 06 62"), headers=again).status_code == 429


# --- 4. keyed phone markers ------------------------------------------------------------------------------


def _unkeyed(value: str) -> set[str]:
    digest = hashlib.sha256(value.encode()).hexdigest()
    return {digest, digest[:32]}


def test_no_unkeyed_hash_of_a_number_or_address_is_stored(services: Services, outbox: LocalOutboxSender) -> None:
    registration = services.intake.register(
        ValidInterest(theme="stress", name="Bo", phone=E164, locale="sv", area="habo"), client_address=ADDRESS
    )
    services.intake.verify(registration.interest_id, last_code(outbox))
    forbidden = _unkeyed(E164) | _unkeyed(ADDRESS)
    for name in (INTERESTS, RATE_LIMITS):
        for entity in services.storage.table(name).list_entities():
            text = " ".join(str(v) for v in [*entity.values(), entity["PartitionKey"], entity["RowKey"]])
            assert not any(f in text for f in forbidden), f"an unkeyed hash in {name}: {entity['RowKey']}"
    keyed = PHONE_PREFIX + services.keyer.key(E164)
    assert any(e["RowKey"] == keyed for e in services.storage.table(INTERESTS).list_entities())


def _legacy_registration(services: Services, theme: str, phone: str, name: str) -> Interest:
    """What the code before keyed markers wrote: a verified interest and its `phone.<sha256[:32]>` marker."""
    now = utcnow()
    interest = Interest(
        theme=theme,
        key=INTEREST_PREFIX + new_sortable_key(),
        name=name,
        phone=phone,
        locale="sv",
        area="habo",
        status=InterestStatus.WAITING,
        consent_version="1",
        created_at=now,
        verified_at=now,
        withdraw_token_hash="0" * 64,
    )
    legacy = hashlib.sha256(phone.encode()).hexdigest()[:32]
    table = services.storage.table(INTERESTS)
    table.create_entity(entity_of(interest))
    table.create_entity({"PartitionKey": theme, "RowKey": PHONE_PREFIX + legacy, "Interest": interest.key})
    services.storage.table(RATE_LIMITS).upsert_entity(
        {"PartitionKey": PHONE_PREFIX + legacy, "RowKey": "3600", "Slots": "{}", "ExpiresAt": now}
    )
    return interest


def test_rows_under_the_legacy_key_are_found_rewritten_and_migrated(
    client: TestClient, services: Services, outbox: LocalOutboxSender
) -> None:

    legacy = hashlib.sha256(E164.encode()).hexdigest()[:32]
    old = _legacy_registration(services, "stress", E164, "Anna")
    other = _legacy_registration(services, "anhorig", E164, "Anna")

    # A new attempt in the theme merges into the registration the old marker names, and rewrites it.
    attempt = client.post("/api/interests", json=body(name="Annie")).json()
    confirmed = client.post(f"/api/interests/{attempt['id']}/verify", json={"code": last_code(outbox)})
    assert confirmed.json()["id"] == old.id
    keys = {e["RowKey"] for e in services.storage.table(INTERESTS).query_entities("PartitionKey eq 'stress'")}
    assert PHONE_PREFIX + legacy not in keys and PHONE_PREFIX + services.keyer.key(E164) in keys
    assert len(interests_of(services, "stress")) == 1

    # The one-off pass does the rest: the other theme's marker, and the legacy counters.
    report = services.rekey.migrate_phone_keys()
    assert (report.markers_rewritten, report.rate_limit_rows_deleted) == (1, 1)
    sorg = services.storage.table(INTERESTS).get_entity("anhorig", PHONE_PREFIX + services.keyer.key(E164))
    assert sorg["Interest"] == other.key
    assert not any(legacy in e["PartitionKey"] for e in services.storage.table(RATE_LIMITS).list_entities())
    assert services.rekey.migrate_phone_keys().markers_rewritten == 0


# --- 5. the withdraw token never in a URL ---------------------------------------------------------------


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("href", "action", "src", "formaction")]


def urls_in(html: str) -> list[str]:
    parser = _Urls()
    parser.feed(html)
    return parser.urls


FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_the_withdraw_token_never_travels_in_a_url(
    client: TestClient, services: Services, outbox: LocalOutboxSender
) -> None:
    fields = {**{k: str(v) for k, v in body().items()}, "pledge": "on"}
    code_page = client.post("/", data=fields, headers=FORM)
    token = re.search(r'name="withdraw_token" value="([^"]+)"', code_page.text).group(1)  # type: ignore[union-attr]
    interest_id = re.search(r'name="id" value="([^"]+)"', code_page.text).group(1)  # type: ignore[union-attr]
    thanks = client.post(
        "/verify", data={"id": interest_id, "withdraw_token": token, "code": last_code(outbox)}, headers=FORM
    )
    assert thanks.status_code == 200
    assert token in thanks.text  # posted in a hidden field …
    assert not any(token in url for url in urls_in(thanks.text))  # … and in no link or form address

    confirm = client.post("/withdraw/confirm", data={"id": interest_id, "token": token}, headers=FORM)
    assert confirm.status_code == 200
    assert not any(token in url for url in urls_in(confirm.text))

    # A token in a query (old links) is not read, not echoed, and erases nothing.
    old_link = client.get("/withdraw", params={"id": interest_id, "token": token})
    assert token not in old_link.text
    assert len(interests_of(services, "stress")) == 1

    done = client.post("/withdraw", data={"id": interest_id, "token": token}, headers=FORM)
    assert done.status_code == 200
    assert interests_of(services, "stress") == []
