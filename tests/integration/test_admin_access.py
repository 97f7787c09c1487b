"""Who gets into the admin pages, and what they leave behind: every /manage route refused without valid
credentials, CSRF refused, sign-in cookies as specified, audit rows free of personal data.

The routes are read from the FastAPI app itself, so a route added later is checked without anyone
remembering to list it here.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from shared import PACKAGE_DIR
from shared.adapters.entities import group_from
from shared.adapters.storage import AUDIT, INTERESTS, QUEUES, RATE_LIMITS, TABLES
from shared.composition import Services
from shared.core.domain import GroupStatus
from shared.core.validation import ValidInterest
from shared.services.facilitators import FacilitatorIn
from shared.settings import Settings
from shared.web.admin import auth as admin_auth
from shared.web.admin import tokens
from shared.web.app import create_app
from tests.support.keys import hmac_key

TOKEN = "test-admin-token-5f2c9a41d7e3"
THEME = "stress"
RESIDENT_NAMES = [f"Resident{chr(65 + i)}" for i in range(5)]
RESIDENT_PHONES = [f"+4670{1740630 + i:07d}" for i in range(5)]
FACILITATOR = {"name": "Eva Lindqvist", "phone": "+46701740610", "locales": ["sv", "en"], "capacity": 3}
PLACEHOLDERS = {
    "group_id": "stress.0123456789abcdef01234567",
    "facilitator_id": "0123456789abcdef",
}
HTML = {"accept": "text/html,application/xhtml+xml"}
API = {"accept": "application/json"}


# --- the routes -----------------------------------------------------------------------------------


def _admin_routes() -> list[tuple[str, str]]:
    """(method, path) of every route under /manage, however deeply its router is included."""
    app = create_app(lambda: pytest.fail("listing routes needs no services"))
    try:  # FastAPI ≥ 0.13x keeps included routers as they are and resolves them lazily
        from fastapi.routing import iter_route_contexts

        routes: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI flattens them into app.routes
        routes = [r for r in app.routes if isinstance(r, APIRoute)]
    found = []
    for route in routes:
        path = route.path or ""
        if path == "/manage" or path.startswith("/manage/"):
            found += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


ROUTES = _admin_routes()
PROTECTED = [r for r in ROUTES if r not in admin_auth.PUBLIC_ROUTES]
PROTECTED_POSTS = [r for r in PROTECTED if r[0] == "POST"]


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS.get(m.group(1), "x"), path)


def test_the_route_list_is_read_from_the_app_and_is_not_empty() -> None:
    assert set(admin_auth.PUBLIC_ROUTES) <= set(ROUTES)
    for expected in [
        ("GET", "/manage"),
        ("GET", "/manage/groups/{group_id}"),
        ("POST", "/manage/groups/{group_id}/facilitator"),
        ("POST", "/manage/groups/{group_id}/meeting"),
        ("POST", "/manage/groups/{group_id}/close"),
        ("POST", "/manage/groups/{group_id}/members/remove"),
        ("POST", "/manage/messages/retry"),
        ("GET", "/manage/facilitators"),
        ("POST", "/manage/facilitators/new"),
        ("POST", "/manage/facilitators/{facilitator_id}/deactivate"),
        ("GET", "/manage/statistics.csv"),
        ("POST", "/manage/people/export"),
        ("POST", "/manage/people/erase"),
        ("POST", "/manage/logout"),
    ]:
        assert expected in ROUTES, expected
    assert len(PROTECTED) >= 20 and len(PROTECTED_POSTS) >= 10
    for _, path in ROUTES:
        for name in re.findall(r"\{(\w+)\}", path):
            assert name in PLACEHOLDERS, f"{path}: give {name!r} a placeholder value in this test"


def _every_path() -> list[str]:
    app = create_app(lambda: pytest.fail("listing routes needs no services"))
    try:
        from fastapi.routing import iter_route_contexts

        routes: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:
        routes = list(app.routes)
    return [getattr(route, "path", "") for route in routes]


def test_no_route_of_the_app_is_under_a_prefix_the_functions_host_reserves() -> None:
    """host.json sets routePrefix "", so our paths are the host's paths. The host keeps /admin for its
    own API (a route there "conflicts with one or more built in routes": Azure/azure-functions-host#1781,
    #6990, #5322) and /runtime for extension webhooks (Azure/azure-functions-host#3460)."""
    paths = _every_path()
    reserved = [p for p in paths if re.match(r"^/(admin|runtime)", p, re.IGNORECASE)]
    assert not reserved, reserved
    assert "/manage" in paths and "/api/admin/groups" in paths, "the listing sees the app's routes"


# --- fixtures -------------------------------------------------------------------------------------


def seed(services: Services) -> dict[str, Any]:
    """Five verified residents in one theme and no facilitator: one group awaiting a facilitator."""
    for name, phone in zip(RESIDENT_NAMES, RESIDENT_PHONES, strict=True):
        registration = services.intake.register(
            ValidInterest(theme=THEME, name=name, phone=phone, locale="sv", area="habo"), client_address=None
        )
        code = re.search(r"\b(\d{6})\b", services.sender.messages()[-1].body).group(1)  # type: ignore[attr-defined]
        services.intake.verify(registration.interest_id, code)
    services.formation.form_theme(THEME)
    rows = services.storage.table(INTERESTS).query_entities("Kind eq 'group'")
    [group] = [group_from(r) for r in rows]
    assert group.status is GroupStatus.AWAITING_FACILITATOR
    facilitator = services.facilitators.create(FacilitatorIn(**FACILITATOR))  # type: ignore[arg-type]
    return {
        "group": group.id,
        "member": f"{THEME}.{group.member_keys[0].split('.', 1)[1]}",
        "facilitator": facilitator.id,
    }


def snapshot(services: Services) -> dict[str, Any]:
    """Every row of every table but the audit log (whose rows are checked on their own), and the queues."""
    tables = {
        name: sorted(
            (json.dumps({k: str(v) for k, v in row.items()}, sort_keys=True))
            for row in services.storage.table(name).list_entities()
        )
        for name in TABLES
        if name not in (AUDIT, RATE_LIMITS)
    }
    queues = {name: len(services.storage.queue(name).peek_messages(max_messages=32)) for name in QUEUES}
    return {"tables": tables, "queues": queues}


def audit_rows(services: Services) -> list[dict[str, Any]]:
    return sorted(services.storage.table(AUDIT).list_entities(), key=lambda r: r["RowKey"])


@pytest.fixture
def admin_services(make_services: Callable[..., Services]) -> Services:
    return make_services(ADMIN_TOKEN=TOKEN)


def client_for(services: Services, **kw: Any) -> TestClient:
    return TestClient(create_app(lambda: services), follow_redirects=False, **kw)


@pytest.fixture
def client(admin_services: Services) -> Iterator[TestClient]:
    with client_for(admin_services) as test_client:
        yield test_client


def login_nonce(client: TestClient) -> str:
    page = client.get("/manage/login", headers=HTML)
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def sign_in(client: TestClient, token: str = TOKEN) -> str:
    """Signs in through the form; returns the session's CSRF token as the pages carry it."""
    response = client.post("/manage/login", data={"csrf": login_nonce(client), "token": token, "next": "/manage"})
    assert response.status_code == 303, response.text
    page = client.get("/manage/people", headers=HTML)
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def settings_with(token: str) -> Settings:
    return Settings(AzureWebJobsStorage="x", ORGANISATION_CONFIG="{}", ADMIN_TOKEN=token)  # type: ignore[call-arg]


def key_of(token: str) -> bytes:
    key = tokens.signing_key(settings_with(token))
    assert key is not None
    return key


def next_month() -> str:
    """A first-meeting time as a datetime-local field sends it: within the year the service allows."""
    return (datetime.now() + timedelta(days=30)).strftime("%Y-%m-%dT18:00")


def form_for(path: str, ids: dict[str, Any]) -> dict[str, Any]:
    """A body that would change something if the request got through."""
    return {
        "/manage/groups/{group_id}/facilitator": {"facilitator_id": ids.get("facilitator", "")},
        "/manage/groups/{group_id}/meeting": {"when": next_month(), "place": "Library"},
        "/manage/facilitators/new": {"name": "Ny Person", "phone": "070-174 06 99", "locales": "sv", "capacity": "2"},
        "/manage/facilitators/{facilitator_id}": {"name": "Changed", "phone": FACILITATOR["phone"], "locales": "sv"},
        "/manage/people/erase": {"phone": RESIDENT_PHONES[0], "confirm": "yes"},
        "/manage/people/export": {"phone": RESIDENT_PHONES[0]},
        "/manage/groups/{group_id}/members/remove": {"member_id": ids.get("member", ""), "confirm": "yes"},
        "/manage/messages/retry": {"theme": THEME, "row": "outbox.x"},
        "/manage/phone-in": {
            "theme": THEME,
            "area": "habo",
            "name": "Caller",
            "phone": RESIDENT_PHONES[0],
            "locale": "sv",
            "age_confirmed": "on",
            "consent": "on",
            "pledge": "on",
        },
        "/manage/phone-in/verify": {"id": f"{THEME}.000000000000000000000000", "code": "123456"},
    }.get(path, {})


def real_path(path: str, ids: dict[str, Any]) -> str:
    values = {"group_id": ids["group"], "facilitator_id": ids["facilitator"]}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def sets_session(response: Any) -> bool:
    """True when the response hands out a session cookie (clearing one sets it empty)."""
    return any(
        re.match(r'gs_admin=[^;"]', header) and not header.startswith('gs_admin=""')
        for header in response.headers.get_list("set-cookie")
    )


def assert_refused(response: Any, html: bool, where: str) -> None:
    if html:
        assert response.status_code == 303, f"{where}: {response.status_code}"
        location = response.headers["location"]
        assert urlsplit(location).path == "/manage/login", f"{where}: {location}"
        assert not sets_session(response)
    else:
        assert response.status_code == 401, f"{where}: {response.status_code}"
        assert response.headers.get("www-authenticate") == "Bearer", where
    for secret in (*RESIDENT_NAMES, *RESIDENT_PHONES, FACILITATOR["name"]):
        assert secret not in response.text, where


# --- without valid credentials: refused, nothing changes ------------------------------------------


def _principal(object_id: str, roles: tuple[str, ...] = ("Gruppstart.Operator",)) -> str:
    """X-MS-CLIENT-PRINCIPAL as App Service Authentication sets it: Base64 JSON of the token's claims."""
    claims = [{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": object_id}]
    claims += [{"typ": "roles", "val": role} for role in roles]
    payload = {
        "auth_typ": "aad",
        "claims": claims,
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


def easy_auth(object_id: str, roles: tuple[str, ...] = ("Gruppstart.Operator",)) -> dict[str, str]:
    return {"x-ms-client-principal-id": object_id, "x-ms-client-principal": _principal(object_id, roles)}


def _valid_cookie(**kw: Any) -> str:
    return tokens.make_session_cookie(key_of(TOKEN), **kw)


def _tampered() -> str:
    payload, _issued, mac = _valid_cookie().split(".")
    later = tokens.make_session_cookie(key_of(TOKEN), now=time.time() + 86400).split(".")[1]
    return ".".join((payload, later, mac))  # a day younger: the signature no longer fits


CREDENTIALS: dict[str, Callable[[], tuple[dict[str, str], dict[str, str]]]] = {
    "none": lambda: ({}, {}),
    "garbage cookie": lambda: ({}, {"gs_admin": "not-a-session"}),
    "forged cookie": lambda: (
        {},
        {"gs_admin": "ImFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eCI.aw-1VA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    ),
    "cookie signed with another token": lambda: (
        {},
        {"gs_admin": tokens.make_session_cookie(key_of("another-token"))},
    ),
    "expired cookie": lambda: (
        {},
        {"gs_admin": _valid_cookie(now=time.time() - tokens.SESSION_SECONDS - 5)},
    ),
    "sign-in nonce presented as a session": lambda: (
        {},
        {"gs_admin": tokens.make_login_nonce(settings_with(TOKEN))},
    ),
    "cookie from the future": lambda: ({}, {"gs_admin": _valid_cookie(now=time.time() + 3600)}),
    "tampered expiry": lambda: ({}, {"gs_admin": _tampered()}),
    "wrong bearer token": lambda: ({"authorization": "Bearer not-the-token"}, {}),
    "token in another scheme": lambda: ({"authorization": f"Basic {TOKEN}"}, {}),
    "token as a cookie": lambda: ({}, {"gs_admin": TOKEN}),
    "spoofed Easy Auth headers (setting off)": lambda: (
        {
            "x-ms-client-principal-id": "00000000-0000-0000-0000-000000000001",
            "x-ms-client-principal-name": "operator@example.org",
            "x-ms-client-principal-idp": "aad",
            "x-ms-client-principal": _principal("00000000-0000-0000-0000-000000000001"),
        },
        {},
    ),
}


@pytest.mark.parametrize("credential", list(CREDENTIALS))
def test_every_admin_route_refuses_without_valid_credentials(admin_services: Services, credential: str) -> None:
    ids = seed(admin_services)
    before = snapshot(admin_services)
    headers, cookies = CREDENTIALS[credential]()
    with client_for(admin_services, cookies=cookies) as client:
        for method, path in PROTECTED:
            url = real_path(path, ids)
            for html in (True, False):
                response = client.request(
                    method, url, headers={**headers, **(HTML if html else API)}, data=form_for(path, ids) or None
                )
                assert_refused(response, html, f"{credential}: {method} {path}")
            # Placeholder ids too: refusal comes before any lookup.
            response = client.request(method, concrete(path), headers={**headers, **API})
            assert_refused(response, False, f"{credential}: {method} {concrete(path)}")
    assert snapshot(admin_services) == before
    assert audit_rows(admin_services) == []


def test_without_an_admin_token_nothing_gets_in(make_services: Callable[..., Services]) -> None:
    services = make_services()  # no ADMIN_TOKEN
    assert services.settings.admin_token is None
    with client_for(services) as client:
        for headers in ({}, {"authorization": "Bearer "}, {"authorization": "Bearer None"}):
            for method, path in PROTECTED:
                assert_refused(client.request(method, concrete(path), headers={**headers, **API}), False, path)
        # A cookie made with the key an empty token would give is no cookie either.
        forged = tokens.make_session_cookie(b"")
        client.cookies.set("gs_admin", forged)
        assert_refused(client.get("/manage", headers=API), False, "empty-key cookie")
        client.cookies.clear()
        # The sign-in page renders and says so; no token, not even an empty one, signs in.
        page = client.get("/manage/login", headers=HTML)
        assert page.status_code == 200 and "ADMIN_TOKEN" in page.text
        for token in ("", "None", "null", TOKEN):
            response = client.post("/manage/login", data={"csrf": login_nonce(client), "token": token})
            assert response.status_code == 401, token
            assert not sets_session(response)


def test_easy_auth_headers_are_trusted_only_with_the_setting(make_services: Callable[..., Services]) -> None:
    services = make_services(ADMIN_TOKEN=TOKEN, APP_SERVICE_AUTH="true")
    principal = easy_auth("7c1d6a0e-1111-2222-3333-444455556666")
    with client_for(services) as client:
        assert client.get("/manage", headers={**principal, **HTML}).status_code == 200
        encoded = {"x-ms-client-principal": _principal("7c1d6a0e-1111-2222-3333-444455556666")}
        assert client.get("/manage/groups", headers={**encoded, **HTML}).status_code == 200
        assert_refused(client.get("/manage", headers=HTML), True, "no principal header")
        # Changes still need the CSRF token the pages carry for that principal.
        before = snapshot(services)
        response = client.post(
            "/manage/facilitators/new", headers={**principal, **HTML}, data=form_for("/manage/facilitators/new", {})
        )
        assert response.status_code == 403
        assert snapshot(services) == before
        page = client.get("/manage/facilitators/new", headers={**principal, **HTML})
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        other = easy_auth("another-principal")
        response = client.post(
            "/manage/facilitators/new",
            headers={**other, **HTML},
            data={**form_for("/manage/facilitators/new", {}), "csrf": csrf},
        )
        assert response.status_code == 403, "a CSRF token belongs to one principal"
        response = client.post(
            "/manage/facilitators/new",
            headers={**principal, **HTML},
            data={**form_for("/manage/facilitators/new", {}), "csrf": csrf},
        )
        assert response.status_code == 303
    [row] = [r for r in audit_rows(services) if r["Action"] == "facilitator_add"]
    assert re.fullmatch(r"easyauth:[0-9a-f]{16}", row["Actor"])
    assert "7c1d6a0e" not in json.dumps({k: str(v) for k, v in row.items()})

    # With Easy Auth on but no ADMIN_TOKEN there is no key for CSRF tokens: refused rather than unprotected.
    keyless = make_services(APP_SERVICE_AUTH="true")
    with client_for(keyless) as client:
        assert_refused(client.get("/manage", headers={**principal, **API}), False, "Easy Auth without a key")


def test_bearer_token_reaches_every_page_and_needs_no_csrf(client: TestClient, admin_services: Services) -> None:
    bearer = {"authorization": f"Bearer {TOKEN}"}
    for path in ("/manage", "/manage/groups", "/manage/facilitators", "/manage/statistics", "/manage/people"):
        assert client.get(path, headers=bearer).status_code == 200, path
    csv = client.get("/manage/statistics.csv", headers=bearer)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    # No cookie rides along with an Authorization header: a cross-site form cannot send one.
    response = client.post("/manage/facilitators/new", headers=bearer, data=form_for("/manage/facilitators/new", {}))
    assert response.status_code == 303
    assert [r["Actor"] for r in audit_rows(admin_services)] == ["token", "token"]


# --- signing in -----------------------------------------------------------------------------------


def cookie_attributes(response: Any, name: str) -> dict[str, str]:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            parts = [p.strip() for p in header.split(";")]
            attributes = {"value": parts[0].split("=", 1)[1]}
            for part in parts[1:]:
                key, _, value = part.partition("=")
                attributes[key.lower()] = value
            return attributes
    raise AssertionError(f"no {name} cookie set: {response.headers.get_list('set-cookie')}")


def test_sign_in_sets_a_signed_httponly_strict_expiring_cookie(client: TestClient, admin_services: Services) -> None:
    redirect = client.get("/manage/groups?theme=stress", headers=HTML)
    assert redirect.status_code == 303
    assert parse_qs(urlsplit(redirect.headers["location"]).query)["next"] == ["/manage/groups"]
    response = client.post(
        "/manage/login", data={"csrf": login_nonce(client), "token": TOKEN, "next": "/manage/groups"}, headers=HTML
    )
    assert response.status_code == 303 and response.headers["location"] == "/manage/groups"
    cookie = cookie_attributes(response, "gs_admin")
    assert cookie["samesite"].lower() == "strict"
    assert "httponly" in cookie
    assert cookie["path"] == "/manage"
    assert int(cookie["max-age"]) == tokens.SESSION_SECONDS
    assert "secure" not in cookie, "DEV_MODE serves plain http on loopback"
    assert TOKEN not in cookie["value"]
    assert tokens.session_id(key_of(TOKEN), cookie["value"]) is not None
    assert client.get("/manage/groups", headers=HTML).status_code == 200

    # Sign out: the cookie goes, the pages send you back to sign in.
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/manage", headers=HTML).text).group(1)  # type: ignore[union-attr]
    out = client.post("/manage/logout", data={"csrf": csrf}, headers=HTML)
    assert out.status_code == 303 and out.headers["location"].startswith("/manage/login")
    assert cookie_attributes(out, "gs_admin")["max-age"] == "0"
    assert_refused(client.get("/manage", headers=HTML), True, "after sign-out")
    assert [r["Action"] for r in audit_rows(admin_services)] == ["sign_in", "sign_out"]


def test_outside_dev_mode_the_cookie_is_secure(make_services: Callable[..., Services]) -> None:
    services = make_services(ADMIN_TOKEN=TOKEN, DEV_MODE="false")
    with client_for(services, base_url="https://testserver") as client:
        assert "secure" in cookie_attributes(client.get("/manage/login"), "gs_admin_login")
        response = client.post("/manage/login", data={"csrf": login_nonce(client), "token": TOKEN})
        assert response.status_code == 303
        assert "secure" in cookie_attributes(response, "gs_admin")
        assert client.get("/manage/groups").status_code == 200


def test_sign_in_refuses_wrong_tokens_missing_nonces_and_other_sites(
    client: TestClient, admin_services: Services
) -> None:
    wrong = client.post("/manage/login", data={"csrf": login_nonce(client), "token": TOKEN + "x"}, headers=HTML)
    assert wrong.status_code == 401
    assert 'aria-invalid="true"' in wrong.text and 'id="token-error"' in wrong.text
    assert not sets_session(wrong)

    no_nonce = client.post("/manage/login", data={"token": TOKEN}, headers=HTML)
    assert no_nonce.status_code == 403
    client.cookies.clear()
    stale = client.post("/manage/login", data={"csrf": "guessed", "token": TOKEN}, headers=HTML)
    assert stale.status_code == 403
    assert not sets_session(no_nonce) and not sets_session(stale)

    nonce = login_nonce(client)
    for evil in ({"origin": "https://evil.example"}, {"origin": "null"}, {"sec-fetch-site": "cross-site"}):
        response = client.post("/manage/login", data={"csrf": nonce, "token": TOKEN}, headers={**evil, **HTML})
        assert response.status_code == 403, evil
        assert not sets_session(response)

    rows = audit_rows(admin_services)
    assert [(r["Action"], r["Outcome"], r["Actor"]) for r in rows] == [("sign_in", "denied", "anonymous")]


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/manage", "//evil.example/manage", "/\\evil.example", "/manage/login", "/", "javascript:x"],
)
def test_sign_in_never_redirects_away_from_the_admin_pages(client: TestClient, target: str) -> None:
    response = client.post("/manage/login", data={"csrf": login_nonce(client), "token": TOKEN, "next": target})
    assert response.status_code == 303 and response.headers["location"] == "/manage"


def test_sign_in_attempts_are_limited_per_client(client: TestClient, admin_services: Services) -> None:
    statuses = []
    for _ in range(12):
        statuses.append(client.post("/manage/login", data={"csrf": login_nonce(client), "token": "guess"}).status_code)
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]
    response = client.post("/manage/login", data={"csrf": login_nonce(client), "token": TOKEN})
    assert response.status_code == 429, "even the right token waits: guessing must not pay"
    assert int(response.headers["retry-after"]) > 0


# --- CSRF -----------------------------------------------------------------------------------------


def test_every_post_needs_this_sessions_csrf_token_from_this_site(client: TestClient, admin_services: Services) -> None:
    ids = seed(admin_services)
    csrf = sign_in(client)
    with client_for(admin_services) as other:
        other_csrf = sign_in(other)
    assert other_csrf != csrf
    before = snapshot(admin_services)
    audit_before = len(audit_rows(admin_services))
    attempts: list[tuple[str, dict[str, str], dict[str, str]]] = [
        ("missing", {}, {}),
        ("empty", {"csrf": ""}, {}),
        ("wrong", {"csrf": csrf[:-2] + "xx"}, {}),
        ("another session's", {"csrf": other_csrf}, {}),
        ("right token, other site's Origin", {"csrf": csrf}, {"origin": "https://evil.example"}),
        ("right token, null Origin", {"csrf": csrf}, {"origin": "null"}),
        ("right token, cross-site fetch", {"csrf": csrf}, {"sec-fetch-site": "cross-site"}),
    ]
    for method, path in PROTECTED_POSTS:
        for label, token, headers in attempts:
            response = client.request(
                method, real_path(path, ids), data={**form_for(path, ids), **token}, headers={**headers, **HTML}
            )
            assert response.status_code == 403, f"{label} CSRF token: {path} → {response.status_code}"
            assert "<html" in response.text and 'lang="sv"' in response.text
            api = client.request(method, real_path(path, ids), data={**form_for(path, ids), **token}, headers=headers)
            assert api.status_code == 403, f"{label} CSRF token: {path} → {api.status_code}"
    # A JSON body carries no form field: refused the same way.
    response = client.post("/manage/facilitators/new", json={"name": "X", "csrf": csrf})
    assert response.status_code == 403
    assert snapshot(admin_services) == before
    assert len(audit_rows(admin_services)) == audit_before
    assert client.get("/manage/facilitators", headers=HTML).status_code == 200, "the session survives refusals"


# --- the audit log --------------------------------------------------------------------------------


def test_actions_are_audited_without_personal_data(
    client: TestClient, admin_services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    ids = seed(admin_services)
    removed_phone = admin_services.intake.get(ids["member"]).phone
    kept_phone = next(p for p in RESIDENT_PHONES if p != removed_phone)
    caplog.set_level(logging.INFO)
    client.post("/manage/login", data={"csrf": login_nonce(client), "token": "wrong"})
    csrf = sign_in(client)

    def post(path: str, data: dict[str, str]) -> Any:
        return client.post(path, data={**data, "csrf": csrf}, headers=HTML)

    assert client.get(f"/manage/groups/{ids['group']}", headers=HTML).status_code == 200
    assert post(f"/manage/groups/{ids['group']}/facilitator", {"facilitator_id": ids["facilitator"]}).status_code == 303
    meeting = {"when": next_month(), "place": "Biblioteket"}
    assert post(f"/manage/groups/{ids['group']}/meeting", meeting).status_code == 303
    asked = post(f"/manage/groups/{ids['group']}/members/remove", {"member_id": ids["member"]})
    assert asked.status_code == 200 and 'name="confirm" value="yes"' in asked.text
    assert admin_services.intake.get(ids["member"]).phone == removed_phone, "asking removes nobody"
    removed = post(f"/manage/groups/{ids['group']}/members/remove", {"member_id": ids["member"], "confirm": "yes"})
    assert removed.status_code == 303
    added = post(
        "/manage/facilitators/new", {"name": "Olle Ström", "phone": "070-174 06 11", "locales": "sv", "capacity": "2"}
    )
    assert added.status_code == 303
    new_id = next(f.id for f in admin_services.facilitators.list() if f.name == "Olle Ström")
    edited = post(
        f"/manage/facilitators/{new_id}",
        {"name": "Olle Ström", "phone": "070-174 06 11", "locales": "sv", "capacity": "4", "active": "on"},
    )
    assert edited.status_code == 303
    assert post(f"/manage/facilitators/{new_id}/deactivate", {}).status_code == 303
    assert client.get("/manage/statistics.csv").status_code == 200
    exported = post("/manage/people/export", {"phone": kept_phone.replace("+46", "0")})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/json")
    confirm = post("/manage/people/erase", {"phone": kept_phone.replace("+46", "0")})
    assert confirm.status_code == 200 and 'name="confirm" value="yes"' in confirm.text
    erased = post("/manage/people/erase", {"phone": kept_phone, "confirm": "yes"})
    assert erased.status_code == 200
    assert post(f"/manage/groups/{ids['group']}/close", {}).status_code == 303
    assert post("/manage/logout", {}).status_code == 303

    rows = audit_rows(admin_services)
    actions = [(r["Action"], r["Outcome"]) for r in rows]
    assert actions == [
        ("sign_in", "denied"),
        ("sign_in", "ok"),
        ("group_view", "ok"),
        ("group_assign_facilitator", "ok"),
        ("group_first_meeting", "ok"),
        ("group_remove_member", "ok"),
        ("facilitator_add", "ok"),
        ("facilitator_edit", "ok"),
        ("facilitator_deactivate", "ok"),
        ("statistics_export", "ok"),
        ("person_export", "ok"),
        ("person_erase_preview", "ok"),
        ("person_erase", "ok"),
        ("group_close", "ok"),
        ("sign_out", "ok"),
    ]
    month = rows[0]["At"].strftime("%Y-%m")
    session_actor = rows[1]["Actor"]
    assert re.fullmatch(r"session:[0-9a-f]{16}", session_actor)
    for row in rows:
        assert row["PartitionKey"] == month
        assert re.fullmatch(r"[0-9a-f]{24}", row["RowKey"])
        assert row["Actor"] in ("anonymous", session_actor)
        for target in json.loads(row["Targets"]):
            # Look-ups by number name the number's keyed marker (issue 19.7), never the number.
            lookup = row["Action"].startswith("person_") and target == f"phone.{hmac_key(kept_phone)}"
            assert lookup or target in (ids["group"], ids["facilitator"], new_id), (row["Action"], target)
    assert [r["RowKey"] for r in rows] == sorted(r["RowKey"] for r in rows)
    assert next(r for r in rows if r["Action"] == "person_erase")["Count"] > 0

    text = json.dumps([{k: str(v) for k, v in r.items()} for r in rows])
    logged = "\n".join(record.getMessage() for record in caplog.records)
    personal = [
        *RESIDENT_NAMES,
        *RESIDENT_PHONES,
        *(p.replace("+46", "0") for p in RESIDENT_PHONES),
        FACILITATOR["name"],
        FACILITATOR["phone"],
        "Olle",
        "+46701740611",
        "Biblioteket",
        ids["member"],
        TOKEN,
    ]
    for value in personal:
        assert value not in text, f"{value!r} in the audit log"
        assert value not in logged, f"{value!r} in the logs"
    assert not re.search(r"\d{7,}", re.sub(r"[0-9a-f]{16,}", "", text)), "something like a number in the audit log"


# --- the admin texts --------------------------------------------------------------------------------


def test_admin_texts_are_complete_in_every_language() -> None:
    """Every key in sv, nb and en, with the same placeholders; every key a template or handler names exists."""
    from string import Formatter

    from shared.core import i18n
    from shared.web.admin import rendering

    catalogs = {locale: i18n.catalog(locale, "admin") for locale in ("sv", "nb", "en")}
    keys = set(catalogs["en"])
    for locale, catalog in catalogs.items():
        assert set(catalog) == keys, f"{locale}: {sorted(set(catalog) ^ keys)}"
        for key, value in catalog.items():
            fields = {f for _, f, _, _ in Formatter().parse(value) if f}
            expected = {f for _, f, _, _ in Formatter().parse(catalogs["en"][key]) if f}
            assert fields == expected, (locale, key)
    root = PACKAGE_DIR
    sources = [p.read_text(encoding="utf-8") for p in (root / "templates" / "web" / "admin").glob("*.html")]
    sources += [p.read_text(encoding="utf-8") for p in (root / "web" / "admin").glob("*.py")]
    used = set()
    for source in sources:
        used |= set(re.findall(r"""\bat\(\s*["']([a-z_]+)["']\s*[,)]""", source))
        used |= set(re.findall(r"""\btext\((?:locale|code), ["']([a-z_]+)["']""", source))
        used |= {
            f"{k}_{form}" for k in re.findall(r"""\batn\(\s*["']([a-z_]+)["']""", source) for form in ("one", "other")
        }
    assert used and used <= keys, sorted(used - keys)
    for prefix, values in {
        "status_": [s.value for s in GroupStatus],
        "done_": list(rendering.NOTICES),
        "nav_": ["overview", "groups", "facilitators", "statistics", "people"],
    }.items():
        missing = [f"{prefix}{v}" for v in values if f"{prefix}{v}" not in keys]
        assert not missing, missing
