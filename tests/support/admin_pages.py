"""What the operators' pages tests share: the people they seed, signing in, reading the pages."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from shared.adapters.entities import group_from
from shared.adapters.storage import INTERESTS
from shared.composition import Services
from shared.core.domain import Group
from shared.core.validation import ValidInterest
from shared.web.admin.rendering import text

TOKEN = "e2e-admin-token-8c41f0d2"
THEME, THEME_LABEL = "stress", "Stress"
WAITING_THEME = "anhorig"
NAMES = ["Alva", "Bo", "Cecilia", "David", "Elin"]
PHONES = [f"+4670{1740640 + i:07d}" for i in range(5)]
WAITING = [("Filip", "+46701740650"), ("Greta", "+46701740651")]
FACILITATOR_NAME, FACILITATOR_PHONE = "Eva Lindqvist", "070-174 06 10"
DESKTOP = {"width": 1280, "height": 900}


def sv(key: str, **values: object) -> str:
    return text("sv", key, **values)


def register(services: Services, theme: str, name: str, phone: str) -> None:
    area = "habo" if services.organisation.areas else None
    registration = services.intake.register(
        ValidInterest(theme=theme, name=name, phone=phone, locale=services.organisation.default_locale, area=area),
        client_address=None,
    )
    code = re.search(r"\b(\d{6})\b", services.sender.messages()[-1].body).group(1)  # type: ignore[attr-defined,union-attr]
    services.intake.verify(registration.interest_id, code)


def seed(services: Services, phones: list[str] = PHONES, waiting: list[tuple[str, str]] = WAITING) -> Group:
    """Five in one theme, grouped while no facilitator exists: a group awaiting one. Two wait in another."""
    for name, phone in zip(NAMES, phones, strict=True):
        register(services, THEME, name, phone)
    for name, phone in waiting:
        register(services, WAITING_THEME, name, phone)
    services.formation.form_theme(THEME)
    [group] = [group_from(r) for r in services.storage.table(INTERESTS).query_entities("Kind eq 'group'")]
    return group


def go(page: Any, url: str, status: int = 200) -> None:
    response = page.goto(url)
    assert response is not None and response.status == status, (url, response and response.status)


def click_and_wait(page: Any, locator: Any) -> int:
    with page.expect_navigation() as navigation:
        locator.click()
    return navigation.value.status


def sign_in(page: Any, base_url: str, token: str = TOKEN) -> None:
    go(page, f"{base_url}/manage")  # redirected to the sign-in page
    expect(page).to_have_url(re.compile(r"/manage/login\?next=%2Fmanage$"))
    page.get_by_label(sv("login_token_label")).fill(token)
    with page.expect_navigation():
        page.get_by_label(sv("login_token_label")).press("Enter")


def cell(page: Any, theme: str, column: str) -> Any:
    return page.locator(f"table.counts tr[data-theme='{theme}'] td[data-col='{column}']")
