"""The facilitators API: `"locales": []` means every language, as empty themes and areas mean all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import municipality

TOKEN = "test-admin-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
EVA = {"name": "Eva Lind", "phone": "+47 412 34 567", "themes": [], "areas": [], "capacity": 2}


@pytest.fixture
def api(make_services) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from shared.web.app import create_app

    services = make_services(municipality("aurskog-holand")["organisation"], ADMIN_TOKEN=TOKEN)
    with TestClient(create_app(lambda: services)) as client:
        yield client


def org_locales() -> list[str]:
    return sorted(municipality("aurskog-holand")["organisation"]["locales"])


def test_empty_locales_on_create_means_every_language_of_the_organisation(api) -> None:
    created = api.post("/api/admin/facilitators", json={**EVA, "locales": []}, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json()["locales"] == org_locales()
    [listed] = api.get("/api/admin/facilitators", headers=AUTH).json()
    assert listed["locales"] == org_locales()


def test_empty_locales_on_change_means_every_language_and_absent_leaves_them(api) -> None:
    eva = api.post("/api/admin/facilitators", json={**EVA, "locales": ["nb"]}, headers=AUTH).json()
    assert eva["locales"] == ["nb"]
    path = f"/api/admin/facilitators/{eva['id']}"
    unchanged = api.patch(path, json={"capacity": 3}, headers=AUTH)
    assert unchanged.status_code == 200 and unchanged.json()["locales"] == ["nb"]
    widened = api.patch(path, json={"locales": []}, headers=AUTH)
    assert widened.status_code == 200, widened.text
    assert widened.json()["locales"] == org_locales()


@pytest.mark.parametrize("locales", [["de"], ["sv", "nb", "en", "sv"], "sv", None])
def test_unknown_or_malformed_locales_are_still_refused(api, locales: object) -> None:
    response = api.post("/api/admin/facilitators", json={**EVA, "locales": locales}, headers=AUTH)
    assert response.status_code == 422
    assert api.get("/api/admin/facilitators", headers=AUTH).json() == []
