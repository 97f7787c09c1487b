"""The facilitator's page over HTTP: the roster's link, the button that opens a session, form tokens."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from shared.adapters.storage import AUDIT
from shared.composition import Services
from shared.web.app import create_app
from tests.support.tables import THEME, add_facilitator, drain, rows, seed_waiting

BASE = "https://gruppstart.example"
ADMIN = "test-admin-token"
LINK_SECRET = "link-secret-one-0123456789abcdef"
EVA = "+46701740610"


def client_of(services: Services) -> TestClient:
    # https: the session cookie is Secure, and a client keeps and sends it over https only.
    return TestClient(create_app(lambda: services), follow_redirects=False, base_url="https://testserver")


def send_all(services: Services) -> None:
    for queued_text in drain(services):
        services.notifier.handle(queued_text)


def texts_to(services: Services, phone: str) -> list[str]:
    return [m.body for m in services.sender.messages() if m.to == phone]  # type: ignore[attr-defined]


def link_in(body: str) -> str:
    match = re.search(rf"{re.escape(BASE)}(/f/[A-Za-z0-9_.-]+)", body)
    assert match, body
    return match.group(1)


def roster_link(services: Services) -> str:
    """Form a group, send its texts, and take the link out of the facilitator's roster."""
    add_facilitator(services)
    seed_waiting(services, 5)
    services.formation.form_theme(THEME)
    send_all(services)
    [roster] = texts_to(services, EVA)
    return link_in(roster)


def csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, html
    return match.group(1)


def open_page(client: TestClient, path: str) -> str:
    """Press the link page's button; returns the roster page's form token."""
    answer = client.post(path, data={"csrf": csrf(client.get(path).text)})
    assert answer.status_code == 303 and answer.headers["location"] == "/f/groups", answer.text
    page = client.get("/f/groups")
    assert page.status_code == 200
    return csrf(page.text)


def snapshot(services: Services) -> list[dict]:
    return sorted((dict(r) for r in rows(services)), key=lambda r: r["RowKey"])


def audit_rows(services: Services) -> list[dict]:
    return list(services.storage.table(AUDIT).list_entities())


def sign_in_operator(client: TestClient, token: str = ADMIN) -> str:
    """Signs in to /manage through the form; returns the operator session's form token."""
    login = client.get("/manage/login", headers={"accept": "text/html"}).text
    nonce = re.search(r'name="csrf" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
    answer = client.post("/manage/login", data={"csrf": nonce, "token": token, "next": "/manage"})
    assert answer.status_code == 303, answer.text
    page = client.get("/manage/facilitators", headers={"accept": "text/html"})
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
