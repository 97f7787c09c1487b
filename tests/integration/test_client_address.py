"""The per-client cap behind Azure Front Door: each resident is counted by the address Front Door saw.

Front Door sends X-Azure-FDID (its profile's id) and X-Azure-SocketIP (the address of the connection
it took) to the origin; App Service's front end then appends Front Door's edge address to
X-Forwarded-For, so without FRONT_DOOR_ID every resident shares the edge's bucket.
https://learn.microsoft.com/azure/frontdoor/front-door-http-headers-protocol
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.composition import Services
from shared.web.app import create_app

FRONT_DOOR_ID = "0f3b6a2e-9c41-4d7e-8a5b-2c9e7f1d4a60"
EDGE = "147.243.112.9:58213"  # what App Service's front end appends: Front Door's edge, with its port
CAP = 2


@pytest.fixture
def client_for(make_services: Callable[..., Services]) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**env: str) -> TestClient:
        services = make_services(CLIENT_REGISTRATIONS_PER_HOUR=str(CAP), DEV_MODE="false", **env)
        client = TestClient(create_app(lambda: services))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def register(api: TestClient, n: int, **headers: str) -> int:
    body: dict[str, Any] = {
        "theme": "stress",
        "name": "Zacharias",
        "phone": f"070-174 06 {n}",  # PTS's fictional range
        "area": "jonkoping",
        "age_confirmed": True,
        "consent": True,
    }
    return api.post("/api/interests", json=body, headers={"X-Forwarded-For": EDGE, **headers}).status_code


def test_behind_front_door_each_resident_has_their_own_bucket(client_for: Callable[..., TestClient]) -> None:
    api = client_for(FRONT_DOOR_ID=FRONT_DOOR_ID)
    through = {"X-Azure-FDID": FRONT_DOOR_ID.upper()}  # a GUID is the same id in either case
    residents = ["198.51.100.21", "198.51.100.22", "2001:db8:5:6::21"]
    statuses = [
        register(api, 50 + 3 * i + k, **through, **{"X-Azure-SocketIP": ip})
        for i, ip in enumerate(residents)
        for k in range(CAP)
    ]
    assert statuses == [201] * (CAP * len(residents))  # six registrations through one edge: none refused
    # A resident at their cap stays there whatever X-Azure-ClientIP they make Front Door send on.
    again = register(api, 59, **through, **{"X-Azure-SocketIP": residents[0], "X-Azure-ClientIP": "192.0.2.200"})
    assert again == 429


@pytest.mark.parametrize("fdid", [None, "6d1c0e55-0000-4000-8000-000000000000", "not-a-guid"])
def test_front_door_headers_without_our_id_are_not_trusted(
    client_for: Callable[..., TestClient], fdid: str | None
) -> None:
    api = client_for(FRONT_DOOR_ID=FRONT_DOOR_ID)
    forged = [
        {"X-Azure-SocketIP": f"192.0.2.{n}", "X-Azure-ClientIP": f"192.0.2.{n}"}
        | ({"X-Azure-FDID": fdid} if fdid else {})
        for n in range(CAP + 1)
    ]
    # Counted by the address App Service saw (here the same for all three): the third is refused.
    assert [register(api, 60 + n, **headers) for n, headers in enumerate(forged)] == [201] * CAP + [429]


def test_without_a_front_door_id_its_headers_are_ignored(client_for: Callable[..., TestClient]) -> None:
    api = client_for()
    headers = [{"X-Azure-FDID": FRONT_DOOR_ID, "X-Azure-SocketIP": f"198.51.100.{n}"} for n in range(CAP + 1)]
    assert [register(api, 70 + n, **h) for n, h in enumerate(headers)] == [201] * CAP + [429]
