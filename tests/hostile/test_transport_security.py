"""Strict-Transport-Security (issue 11, item 8): on every HTTPS answer, never on plain http.

A browser that once saw it will not be talked down to http by a network in between (an open
Wi-Fi at the library), for the form or the operators' pages. On plain http it means nothing to a
browser (RFC 6797 §8.1) and would only mislead: local development (DEV_MODE) is served on http.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from shared.composition import Services
from shared.web.app import create_app

PATHS = ("/", "/api/themes", "/manage/login", "/healthz", "/api/admin/groups", "/no-such-page", "/static/admin.css")


def _max_age(value: str) -> int:
    directives = dict(part.strip().partition("=")[::2] for part in value.split(";"))
    return int(directives["max-age"])


def test_https_answers_carry_hsts(make_services: Callable[..., Services]) -> None:
    services = make_services(DEV_MODE="false")
    with TestClient(create_app(lambda: services), base_url="https://gruppstart.example") as client:
        for path in PATHS:
            response = client.get(path, follow_redirects=False)
            assert _max_age(response.headers["strict-transport-security"]) >= 365 * 86400, path


def test_behind_the_front_end_the_forwarded_scheme_counts_outside_dev_mode(
    make_services: Callable[..., Services],
) -> None:
    services = make_services(DEV_MODE="false")
    with TestClient(create_app(lambda: services), base_url="http://gruppstart.example") as client:
        assert "strict-transport-security" in client.get("/", headers={"x-forwarded-proto": "https"}).headers
        assert "strict-transport-security" not in client.get("/").headers


def test_plain_http_in_development_gets_none(make_services: Callable[..., Services]) -> None:
    services = make_services(DEV_MODE="true")
    with TestClient(create_app(lambda: services), base_url="http://127.0.0.1:7071") as client:
        for path in PATHS:
            assert "strict-transport-security" not in client.get(path, follow_redirects=False).headers, path
        # Nor does a client's own header talk the dev server into it.
        assert "strict-transport-security" not in client.get("/", headers={"x-forwarded-proto": "https"}).headers
