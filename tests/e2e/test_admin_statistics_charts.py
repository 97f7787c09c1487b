"""The statistics page's charts in Chromium: server-rendered SVG with a text alternative, axe-clean."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.data.tables import UpdateMode
from playwright.sync_api import expect

from shared.adapters.storage import INTERESTS
from shared.composition import Services
from shared.core.domain import Group, GroupStatus
from shared.services.facilitators import FacilitatorIn
from tests.conftest import LiveServer
from tests.e2e.conftest import assert_accessible
from tests.support.admin_pages import DESKTOP, THEME, TOKEN, seed, sign_in, sv

pytestmark = pytest.mark.e2e


@pytest.fixture
def admin_server(make_services: Callable[..., Services]) -> Iterator[tuple[LiveServer, Services]]:
    services = make_services(ADMIN_TOKEN=TOKEN)
    with LiveServer(services) as server:
        yield server, services


@pytest.fixture
def scripted_off(browser: Any) -> Iterator[Any]:
    """Swedish desktop with JavaScript off: the charts must not need it."""
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True, locale="sv-SE", java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True, locale="sv-SE")
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def one_group_on_its_own(services: Services) -> Group:
    services.facilitators.create(
        FacilitatorIn(name="Eva Lindqvist", phone="070-174 06 10", locales=["sv"], themes=[], areas=[])
    )
    group = seed(services)
    services.formation.form_theme(THEME)
    table = services.storage.table(INTERESTS)
    table.update_entity(
        {"PartitionKey": group.theme, "RowKey": group.key, "Status": GroupStatus.ON_ITS_OWN.value},
        mode=UpdateMode.MERGE,
    )
    return group


def test_statistics_page_charts_months_and_themes_with_tables_and_passes_axe(desk: Any, admin_server: Any) -> None:
    server, services = admin_server
    one_group_on_its_own(services)
    sign_in(desk, server.url)
    desk.goto(f"{server.url}/manage/statistics")

    months = desk.get_by_role("figure", name=sv("chart_months_caption"))
    expect(months).to_be_visible()
    expect(months.locator("svg[aria-hidden='true'] rect title").first).to_be_attached()
    row = months.locator("tbody tr").first
    # Seven verified (five grouped, two waiting) and one group, all this month.
    expect(row.locator("td")).to_have_text(["7", "1"])

    themes = desk.get_by_role("figure", name=sv("chart_themes_caption"))
    stress = themes.locator("tbody tr", has=desk.get_by_role("rowheader", name="Stress"))
    expect(stress.locator("td")).to_have_text(["0", "1"])  # grouped the day they verified; one on its own
    assert_accessible(desk, "statistics with charts")


def test_charts_render_without_javascript(scripted_off: Any, admin_server: Any) -> None:
    server, services = admin_server
    one_group_on_its_own(services)
    page = scripted_off
    page.goto(f"{server.url}/manage/login?next=%2Fmanage%2Fstatistics")
    page.get_by_label(sv("login_token_label")).fill(TOKEN)
    with page.expect_navigation():
        page.get_by_label(sv("login_token_label")).press("Enter")
    page.goto(f"{server.url}/manage/statistics")
    assert page.locator("figure svg rect title").count() >= 2
