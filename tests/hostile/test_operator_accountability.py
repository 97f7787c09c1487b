"""Operators are accountable, tried as an attacker or a careless operator would (issue 11, item 7).

- every /api/admin call leaves an audit row, and no row holds a name or a number sent in a body;
- a bearer token in characters outside ASCII is a refusal, not a server error (one bearer check);
- an Easy Auth principal of the tenant without the operators' app role gets nowhere;
- a session cookie copied before signing out is refused after it;
- a look-up by number (export, the erase page's preview, erasure) is audited with the number's keyed
  marker, never the number; the sign-in limiter keys the address with the secret (issue 19.7).

Against Azurite, through the real app.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.adapters.storage import AUDIT, RATE_LIMITS
from shared.composition import Services
from shared.web.app import create_app
from tests.support.privacy import hash_needles, number_forms, register_verified

PAGES = "/manage"
TOKEN = "accountable-admin-token-3b9e1c"
ROLE = "Gruppstart.Operator"
HTML = {"accept": "text/html"}
FACILITATOR = {"name": "Ingrid Holm", "phone": "070-174 06 44", "locales": ["sv"], "capacity": 2}


@pytest.fixture
def operators(make_services: Callable[..., Services]) -> Services:
    return make_services(ADMIN_TOKEN=TOKEN)


def client_for(services: Services) -> TestClient:
    return TestClient(create_app(lambda: services), follow_redirects=False, raise_server_exceptions=False)


@pytest.fixture
def web(operators: Services) -> Iterator[TestClient]:
    with client_for(operators) as client:
        yield client


def audit_rows(services: Services) -> list[dict[str, Any]]:
    return sorted(services.storage.table(AUDIT).list_entities(), key=lambda r: r["RowKey"])


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_every_admin_api_call_is_audited_without_personal_data(web: TestClient, operators: Services) -> None:
    assert web.get("/api/admin/facilitators", headers=bearer()).status_code == 200
    created = web.post("/api/admin/facilitators", json=FACILITATOR, headers=bearer())
    assert created.status_code == 201
    facilitator_id = created.json()["id"]
    changed = web.patch(f"/api/admin/facilitators/{facilitator_id}", json={"capacity": 3}, headers=bearer())
    assert changed.status_code == 200
    assert web.get("/api/admin/groups", headers=bearer()).status_code == 200
    missing = web.patch("/api/admin/facilitators/0123456789abcdef", json={"capacity": 3}, headers=bearer())
    assert missing.status_code == 404
    refused = web.post("/api/admin/facilitators", json={**FACILITATOR, "themes": ["knitting"]}, headers=bearer())
    assert refused.status_code == 422
    assert web.delete(f"/api/admin/facilitators/{facilitator_id}", headers=bearer()).status_code == 204

    rows = audit_rows(operators)
    assert [(r["Action"], r["Outcome"], r["Actor"]) for r in rows] == [
        ("api_list_facilitators", "ok", "token"),
        ("api_add_facilitator", "ok", "token"),
        ("api_change_facilitator", "ok", "token"),
        ("api_list_groups", "ok", "token"),
        ("api_change_facilitator", "404", "token"),
        ("api_add_facilitator", "422", "token"),
        ("api_remove_facilitator", "ok", "token"),
    ]
    assert json.loads(rows[2]["Targets"]) == [facilitator_id]
    assert json.loads(rows[4]["Targets"]) == [], "an id that named nothing is not kept"
    text = json.dumps([{k: str(v) for k, v in r.items()} for r in rows])
    for personal in ("Ingrid", "Holm", "1740644", "+46701740644", TOKEN):
        assert personal not in text

    # Refusals are logged, not audited (as on the pages): a stranger cannot fill the audit table.
    assert web.get("/api/admin/groups", headers=bearer("guess")).status_code == 401
    assert len(audit_rows(operators)) == len(rows)


@pytest.mark.parametrize("token", ["tökén", "Ωmega-token", TOKEN + "é"])
def test_a_bearer_token_outside_ascii_is_refused_not_an_error(web: TestClient, operators: Services, token: str) -> None:
    headers = {"authorization": f"Bearer {token}".encode("latin-1", "replace")}
    for method, path in (("GET", "/api/admin/groups"), ("GET", "/api/admin/facilitators"), ("GET", PAGES)):
        response = web.request(method, path, headers=headers)  # type: ignore[arg-type]
        assert response.status_code == 401, (token, path, response.status_code)


def _principal(object_id: str, roles: tuple[str, ...]) -> dict[str, str]:
    claims = [{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": object_id}]
    claims += [{"typ": "roles", "val": role} for role in roles]
    payload = {
        "auth_typ": "aad",
        "claims": claims,
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    }
    encoded = base64.b64encode(json.dumps(payload).encode()).decode()
    return {"x-ms-client-principal-id": object_id, "x-ms-client-principal": encoded}


def test_an_easy_auth_principal_needs_the_operators_app_role(make_services: Callable[..., Services]) -> None:
    services = make_services(ADMIN_TOKEN=TOKEN, APP_SERVICE_AUTH="true", ADMIN_APP_ROLE=ROLE)
    member = "5b5450db-eb26-4c1a-981c-ba1d25f0483d"
    with client_for(services) as client:
        for roles in ((), ("Reader",), (ROLE.lower(),), (f"{ROLE}.Extra",)):
            headers = _principal(member, roles)
            page = client.get(PAGES, headers={**headers, **HTML})
            assert page.status_code == 303, (roles, page.status_code)
            assert page.headers["location"].startswith(f"{PAGES}/login")
            assert client.get(f"{PAGES}/groups", headers=headers).status_code == 401, roles
            assert client.get("/api/admin/groups", headers=headers).status_code == 401, roles
        # The id header alone (no claims to read a role from) is not enough either.
        alone = {"x-ms-client-principal-id": member}
        assert client.get(f"{PAGES}/groups", headers=alone).status_code == 401
        # With the role: in, on the pages and the API; the audit names a hash, not the principal.
        holder = _principal(member, ("Reader", ROLE))
        assert client.get(PAGES, headers={**holder, **HTML}).status_code == 200
        assert client.get("/api/admin/groups", headers=holder).status_code == 200
    [row] = audit_rows(services)
    assert re.fullmatch(r"easyauth:[0-9a-f]{16}", row["Actor"]) and member not in json.dumps(row, default=str)


def _sign_in(client: TestClient) -> str:
    page = client.get(f"{PAGES}/login", headers=HTML)
    nonce = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(f"{PAGES}/login", data={"csrf": nonce, "token": TOKEN}, headers=HTML)
    assert response.status_code == 303
    return response.cookies["gs_admin"]


def test_a_session_cookie_copied_before_sign_out_is_refused_after_it(operators: Services) -> None:
    with client_for(operators) as browser:
        copied = _sign_in(browser)
        overview = browser.get(PAGES, headers=HTML)
        assert overview.status_code == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', overview.text).group(1)  # type: ignore[union-attr]
        assert browser.post(f"{PAGES}/logout", data={"csrf": csrf}, headers=HTML).status_code == 303
    with client_for(operators) as thief:
        thief.cookies.set("gs_admin", copied, path=PAGES)
        for path in (PAGES, f"{PAGES}/groups", f"{PAGES}/people"):
            response = thief.get(path, headers=HTML)
            assert response.status_code == 303 and f"{PAGES}/login" in response.headers["location"], path
        response = thief.post(f"{PAGES}/facilitators/new", data={"csrf": csrf, "name": "X"}, headers=HTML)
        assert response.status_code == 303 and f"{PAGES}/login" in response.headers["location"]
    # Another session, signed in meanwhile, is not affected.
    with client_for(operators) as colleague:
        _sign_in(colleague)
        assert colleague.get(PAGES, headers=HTML).status_code == 200


# --- issue 19.7: look-ups by number leave a keyed trace; the sign-in limiter keys addresses -------------

SECRET = "accountable-phone-key-secret-5e2f"
RESIDENT = "+46701740640"  # PTS numbers reserved for fiction


def hmac_hex(value: str, secret: str = SECRET) -> str:
    """Computed here, not with the app's keyer: what an auditor holding the secret would compute."""
    return hmac.new(secret.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()


def test_lookups_by_number_are_audited_with_the_numbers_keyed_marker_and_never_the_number(
    make_services: Callable[..., Services],
) -> None:
    services = make_services(ADMIN_TOKEN=TOKEN, PHONE_KEY_SECRET=SECRET)
    register_verified(services, "Zacharias", RESIDENT)
    with client_for(services) as browser:
        _sign_in(browser)
        page = browser.get(f"{PAGES}/people", headers=HTML)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        typed = "070-174 06 40"  # as an operator types it
        exported = browser.post(f"{PAGES}/people/export", data={"csrf": csrf, "phone": typed}, headers=HTML)
        assert exported.status_code == 200
        preview = browser.post(f"{PAGES}/people/erase", data={"csrf": csrf, "phone": typed}, headers=HTML)
        assert preview.status_code == 200 and 'name="confirm" value="yes"' in preview.text
        erased = browser.post(
            f"{PAGES}/people/erase", data={"csrf": csrf, "phone": typed, "confirm": "yes"}, headers=HTML
        )
        assert erased.status_code == 200

    lookups = [r for r in audit_rows(services) if r["Action"].startswith("person_")]
    assert [(r["Action"], r["Outcome"], r.get("Count")) for r in lookups] == [
        ("person_export", "ok", None),
        ("person_erase_preview", "ok", 1),  # "found 1"
        ("person_erase", "ok", lookups[2]["Count"]),
    ]
    assert lookups[2]["Count"] >= 1
    marker = "phone." + hmac_hex(RESIDENT)
    for row in lookups:
        assert json.loads(row["Targets"]) == [marker], row["Action"]
    text = json.dumps([{k: str(v) for k, v in r.items()} for r in audit_rows(services)])
    for form in number_forms(RESIDENT) | {"0701740640", "070-174 06 40", "Zacharias"}:
        assert form not in text, form
    assert not any(h in text for h in hash_needles(RESIDENT)), "an unkeyed hash of the number"


def test_the_sign_in_limiter_keys_the_address_with_the_secret(make_services: Callable[..., Services]) -> None:
    services = make_services(ADMIN_TOKEN=TOKEN, PHONE_KEY_SECRET=SECRET, DEV_MODE="false")
    address = "203.0.113.77"
    forwarded = {"X-Forwarded-For": f"198.51.100.1, {address}:50123", **HTML}
    with TestClient(create_app(lambda: services), base_url="https://testserver", follow_redirects=False) as stranger:
        page = stranger.get(f"{PAGES}/login", headers=forwarded)
        nonce = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        refused = stranger.post(f"{PAGES}/login", data={"csrf": nonce, "token": "guess"}, headers=forwarded)
        assert refused.status_code == 401

    counters = [r for r in services.storage.table(RATE_LIMITS).list_entities() if r["PartitionKey"].startswith("admin")]
    assert [r["PartitionKey"] for r in counters] == ["adminlogin." + hmac_hex(address)]
    unkeyed = hashlib.sha256(address.encode()).hexdigest()
    assert not any(unkeyed[:16] in str(v) for r in counters for v in (*r.values(), r["PartitionKey"]))


def test_every_admin_api_route_leaves_an_audit_row(web: TestClient, operators: Services) -> None:
    """Walks the app's routes rather than a hand-picked list: a route added without AuditedRoute fails."""
    from fastapi.routing import APIRoute

    from shared.services.facilitators import FacilitatorIn

    facilitator_id = operators.facilitators.create(FacilitatorIn(**FACILITATOR)).id
    bodies = {
        ("POST", "/api/admin/facilitators"): FACILITATOR,
        ("PATCH", "/api/admin/facilitators/{facilitator_id}"): {"capacity": 3},
    }

    def endpoints(routes: list[Any]) -> Iterator[APIRoute]:  # FastAPI may keep an included router as one entry
        for route in routes:
            inner = getattr(route, "original_router", None)
            yield from endpoints(inner.routes) if inner is not None else [route] if isinstance(route, APIRoute) else []

    calls = sorted(
        (method, route.path, route.name)
        for route in endpoints(web.app.routes)  # type: ignore[attr-defined]
        if route.path.startswith("/api/admin")
        for method in route.methods or ()
    )
    calls.sort(key=lambda call: call[0] == "DELETE")  # the facilitator goes last
    assert len(calls) >= 7, calls
    for method, path, name in calls:
        before = len(audit_rows(operators))
        url = path.replace("{facilitator_id}", facilitator_id)
        response = web.request(method, url, json=bodies.get((method, path), {}), headers=bearer())
        assert response.status_code < 500, (method, path, response.status_code)
        rows = audit_rows(operators)
        assert len(rows) == before + 1, f"{method} {path} ({response.status_code}) left no audit row"
        assert rows[-1]["Action"] == f"api_{name}"
