"""The operators' JSON API for groups, as an integration would read it."""

from __future__ import annotations

from tests.support.tables import THEME, add_facilitator, verified

TOKEN = "test-admin-token"


def test_groups_list_names_the_facilitator_and_members_and_never_numbers(make_services):
    from fastapi.testclient import TestClient

    from shared.web.app import create_app

    services = make_services(ADMIN_TOKEN=TOKEN)
    eva = add_facilitator(services)
    verified(services, 5)
    services.formation.form_theme(THEME)

    with TestClient(create_app(lambda: services)) as client:
        auth = {"authorization": f"Bearer {TOKEN}"}
        [group] = client.get("/api/admin/groups", params={"theme": THEME}, headers=auth).json()
        assert client.get("/api/admin/groups", params={"theme": "anhorig"}, headers=auth).json() == []
        assert client.get("/api/admin/groups", params={"theme": "knitting"}, headers=auth).status_code == 404
        assert client.get("/api/admin/groups").status_code == 401

    assert group["theme"] == THEME and group["status"] == "forming"
    assert group["facilitator"] == {"id": eva.id, "name": "Eva Lind"}
    assert sorted(m["name"] for m in group["members"]) == [f"Person {i}" for i in range(5)]
    assert "+46" not in str(group)
