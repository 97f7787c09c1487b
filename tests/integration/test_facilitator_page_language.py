"""Issue 20.9: a facilitator who reads every language sees their page in the organisation's language,
not in whatever their browser prefers; ?lang= still chooses."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shared.composition import Services
from shared.web.app import create_app
from tests.support.tables import THEME, add_facilitator, drain, seed_waiting

BASE = "https://gruppstart.example"
BROWSER_IN_ENGLISH = {"accept-language": "en-US,en;q=0.9"}  # Chromium's default on most phones


@pytest.fixture
def services(make_services) -> Services:
    return make_services(PUBLIC_BASE_URL=BASE)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: services), follow_redirects=False) as test_client:
        yield test_client


def page_link(services: Services, locales: list[str]) -> str:
    add_facilitator(services, locales=locales)
    seed_waiting(services, 5)
    services.formation.form_theme(THEME)
    for text in drain(services):
        services.notifier.handle(text)
    [roster] = [m for m in services.sender.messages() if m.to == "+46701740610"]  # type: ignore[attr-defined]
    match = re.search(rf"{re.escape(BASE)}(/f/[A-Za-z0-9_.-]+)", roster.body)
    assert match, roster.body
    return match.group(1)


def lang_of(html: str) -> str:
    match = re.search(r'<html lang="([a-z]+)"', html)
    assert match, html[:200]
    return match.group(1)


def test_a_facilitator_with_every_language_sees_the_organisations(services, client):
    path = page_link(services, ["sv", "nb", "en"])
    assert services.organisation.default_locale == "sv"
    assert lang_of(client.get(path, headers=BROWSER_IN_ENGLISH).text) == "sv"
    assert lang_of(client.get(f"{path}?lang=en", headers=BROWSER_IN_ENGLISH).text) == "en"  # their choice
