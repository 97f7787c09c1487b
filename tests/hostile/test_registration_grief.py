"""Issue 19.6, tried as a stranger would: registration that strangers cannot grief.

- a victim's number gets at most CODES_PER_NUMBER_PER_DAY codes a day (three an hour alone let a
  stranger make it buzz 72 times), refused alike whether the number is registered or not;
- every cap is checked before any is counted: an address over its limit cannot spend (and so lock)
  a chosen number's counter, and a refusal by the SMS budget counts nothing;
- the addresses one holder gets cheaply share a bucket: an IPv4 /24, an IPv6 /48 (65,536 /64s);
- the budget alert tells the coordinator which buckets are spending it, by keyed id, never an address.

Each failed on the code before the issue was worked on. Against Azurite, through the real app.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.adapters.sms.local import LocalOutboxSender
from shared.adapters.sms.send_rate import Lane
from shared.adapters.storage import INTERESTS, RATE_LIMITS
from shared.composition import Services
from shared.core.domain import utcnow
from shared.core.validation import ValidInterest
from shared.web.app import create_app
from tests.support.keys import hmac_key
from tests.support.wiring import rewired


def body(phone: str, **changes: Any) -> dict[str, Any]:
    return {
        "theme": "stress",
        "name": "Zacharias",
        "phone": phone,
        "area": "jonkoping",
        "age_confirmed": True,
        "consent": True,
        **changes,
    }


def keyed(value: str) -> str:
    """HMAC-SHA256 with the tests' secret, computed as an auditor would, not with the app's keyer."""
    return hmac_key(value)


def via(address: str) -> dict[str, str]:
    """As Azure's front end appends the client's socket address (shared/web/common.client_address)."""
    return {"X-Forwarded-For": f"198.51.100.250, {address}"}


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


@pytest.fixture
def api_for(make_services: Callable[..., Services]) -> Iterator[Callable[..., tuple[TestClient, Services]]]:
    opened: list[TestClient] = []

    def make(**env: str) -> tuple[TestClient, Services]:
        services = make_services(None, **env)
        client = TestClient(create_app(lambda: services))
        client.__enter__()
        opened.append(client)
        return client, services

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def counters(services: Services) -> set[str]:
    return {e["PartitionKey"] for e in services.storage.table(RATE_LIMITS).list_entities()}


def texts_to(outbox: LocalOutboxSender, e164: str) -> list[str]:
    return [m.body for m in outbox.messages() if m.to == e164]


def test_a_victims_sixth_code_of_the_day_is_refused_alike_whether_the_number_is_registered_or_not(
    api_for: Callable[..., tuple[TestClient, Services]], outbox: LocalOutboxSender
) -> None:
    client, services = api_for(CLIENT_REGISTRATIONS_PER_HOUR="100")
    clock = Clock()
    # The app's intake on a clock the test moves, wired as production wires it.
    services.intake = rewired(services, clock=clock).intake
    registered, unregistered = ("070-174 06 40", "+46701740640"), ("070-174 06 41", "+46701740641")
    first = client.post("/api/interests", json=body(registered[0]))
    code = re.search(r"\b(\d{6})\b", texts_to(outbox, registered[1])[-1]).group(1)  # type: ignore[union-attr]
    assert client.post(f"/api/interests/{first.json()['id']}/verify", json={"code": code}).status_code == 200
    assert client.post("/api/interests", json=body(unregistered[0])).status_code == 201

    # Three an hour, as before; then two more the next hour: five in the day.
    for later, times in ((0, 2), (61, 2)):
        clock.now += timedelta(minutes=later)
        for phone, _ in (registered, unregistered):
            for _ in range(times):
                assert client.post("/api/interests", json=body(phone)).status_code == 201
    for _, e164 in (registered, unregistered):
        assert len(texts_to(outbox, e164)) == 5

    clock.now += timedelta(minutes=61)  # the hour's cap is free again
    # The sixth of the day: refused, the same answer for both, though one of them is registered.
    refusals = [client.post("/api/interests", json=body(phone)) for phone, _ in (registered, unregistered)]
    for refused in refusals:
        assert refused.status_code == 429 and refused.json()["error"] == "rate_limited", refused.text
        assert int(refused.headers["Retry-After"]) > 3600  # the day's cap, not the hour's
    assert refusals[0].json() == refusals[1].json()
    assert refusals[0].headers.keys() == refusals[1].headers.keys()
    assert refusals[0].headers["Retry-After"] == refusals[1].headers["Retry-After"]
    for _, e164 in (registered, unregistered):
        assert len(texts_to(outbox, e164)) == 5
    # The cap is the number's: another number from the same address still gets its code.
    assert client.post("/api/interests", json=body("070-174 06 42")).status_code == 201


def test_an_address_over_its_limit_spends_no_numbers_counter(
    api_for: Callable[..., tuple[TestClient, Services]], outbox: LocalOutboxSender
) -> None:
    client, services = api_for(CLIENT_REGISTRATIONS_PER_HOUR="2", DEV_MODE="false")
    attacker = via("203.0.113.7:50123")
    for n in range(2):
        assert client.post("/api/interests", json=body(f"070-174 06 5{n}"), headers=attacker).status_code == 201
    victim = "+46701740649"
    for _ in range(5):  # the address is spent: every try at the victim's number is refused …
        refused = client.post("/api/interests", json=body("070-174 06 49"), headers=attacker)
        assert refused.status_code == 429
    # … and counted nowhere for the number.
    assert "phone." + keyed(victim) not in counters(services)
    assert texts_to(outbox, victim) == []
    # The victim, from her own connections, still gets her three codes this hour.
    for own in ("192.0.2.10", "198.51.100.20", "100.64.0.30"):
        assert client.post("/api/interests", json=body("070-174 06 49"), headers=via(own)).status_code == 201
    assert len(texts_to(outbox, victim)) == 3


@pytest.mark.parametrize(
    ("neighbours", "network", "elsewhere"),
    [
        ([f"[2001:db8:77:{i:x}::1]:443" for i in range(1, 6)], "2001:db8:77::/48", "[2001:db8:78::1]:443"),
        ([f"203.0.113.{i}:5000" for i in range(1, 6)], "203.0.113.0/24", "198.51.100.9:5000"),
    ],
)
def test_many_addresses_in_one_network_share_a_bucket(
    api_for: Callable[..., tuple[TestClient, Services]], neighbours: list[str], network: str, elsewhere: str
) -> None:
    client, services = api_for(
        CLIENT_REGISTRATIONS_PER_HOUR="2", CLIENT_NETWORK_REGISTRATIONS_PER_HOUR="4", DEV_MODE="false"
    )
    answers = [
        client.post("/api/interests", json=body(f"070-174 06 6{n}"), headers=via(address)).status_code
        for n, address in enumerate(neighbours)
    ]
    assert answers == [201, 201, 201, 201, 429]  # a new address (a new /64) in the same network: one bucket
    assert client.post("/api/interests", json=body("070-174 06 69"), headers=via(elsewhere)).status_code == 201
    # The network's bucket is keyed with the secret, like every address counter.
    prefix = network.split("/")[1]
    assert f"client{prefix}.{keyed(network)}" in counters(services)


def test_the_budget_alert_names_the_buckets_spending_it_by_keyed_id_and_a_refusal_counts_nothing(
    api_for: Callable[..., tuple[TestClient, Services]], outbox: LocalOutboxSender
) -> None:
    client, services = api_for(SMS_CODES_PER_HOUR="3", CLIENT_REGISTRATIONS_PER_HOUR="100", DEV_MODE="false")
    for n in range(3):
        sent = client.post("/api/interests", json=body(f"070-174 06 7{n}"), headers=via(f"203.0.113.{n + 1}:443"))
        assert sent.status_code == 201
    before = counters(services)
    refused = client.post("/api/interests", json=body("070-174 06 79"), headers=via("192.0.2.99:443"))
    assert refused.status_code == 503 and refused.json()["error"] == "sms_budget"
    # Nothing counted for the refused request (only the note that the coordinator was told).
    assert counters(services) - {"budget.alerts"} == before, "a request the budget refused counted something"

    [alert] = texts_to(outbox, services.organisation.coordinator_phone)
    assert f"/24 {keyed('203.0.113.0/24')[:8]}: 3" in alert, alert
    assert "203.0.113" not in alert and "192.0.2" not in alert


def test_a_budget_another_instance_spent_after_the_check_sends_no_code_and_keeps_no_attempt(
    api_for: Callable[..., tuple[TestClient, Services]], outbox: LocalOutboxSender
) -> None:
    """The check passes on what this instance last saw of the budget; the sender spends it when the code
    goes out (send-rate's one door), re-reading the row another instance moved, and refuses there."""
    client, services = api_for(SMS_CODES_PER_HOUR="3", CLIENT_REGISTRATIONS_PER_HOUR="100", DEV_MODE="false")
    for n in range(2):
        sent = client.post("/api/interests", json=body(f"070-174 06 8{n}"), headers=via(f"203.0.113.{n + 1}:443"))
        assert sent.status_code == 201
    other = rewired(services, clock=utcnow)  # a second instance on the same storage
    assert other.budget is not None
    other.budget.spend(Lane.CODES)  # the hour's last code, sent there

    refused = client.post("/api/interests", json=body("070-174 06 89"), headers=via("192.0.2.99:443"))

    assert refused.status_code == 503 and refused.json()["error"] == "sms_budget", refused.text
    assert texts_to(outbox, "+46701740689") == []
    attempts = [r for r in services.storage.table(INTERESTS).list_entities() if r["RowKey"].startswith("interest.")]
    assert len(attempts) == 2, "the refused attempt was kept"


def test_an_address_another_instance_filled_after_the_check_spends_no_new_numbers_counter(
    api_for: Callable[..., tuple[TestClient, Services]], outbox: LocalOutboxSender
) -> None:
    """A new number's counter is created before the address is counted (issue 22.2: no read first); when
    the address's count then refuses (another instance filled it since this one looked), the number's
    event is taken back."""
    client, services = api_for(CLIENT_REGISTRATIONS_PER_HOUR="2", DEV_MODE="false")
    attacker = via("203.0.113.7:50123")
    assert client.post("/api/interests", json=body("070-174 06 50"), headers=attacker).status_code == 201
    other = rewired(services, clock=utcnow)  # a second instance on the same storage
    other.intake.register(
        ValidInterest(theme="stress", name="Zacharias", phone="+46701740651", locale="sv", area="jonkoping"),
        client_address="203.0.113.7",
    )  # the address's second, counted there: this instance still remembers one

    refused = client.post("/api/interests", json=body("070-174 06 49"), headers=attacker)

    assert refused.status_code == 429
    assert "phone." + keyed("+46701740649") not in counters(services)
    assert texts_to(outbox, "+46701740649") == []
