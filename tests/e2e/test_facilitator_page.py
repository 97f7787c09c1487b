"""The facilitator's own page in a real browser (Debian's Chromium), on a phone, with axe-core: the link
from the roster text opens a page with one button and nothing personal; pressing it opens the roster
from a session cookie at /f/groups; setting the first meeting, a note to the coordinator, closing with
its confirmation box; a revoked link."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from shared.composition import Services
from shared.core.domain import GroupStatus, MessageKind, utcnow
from shared.core.local_time import organisation_tz
from shared.services.facilitator_links import SESSION_COOKIE
from shared.web.facilitator import text
from tests.conftest import LiveServer
from tests.e2e.conftest import assert_accessible
from tests.support import admin_pages
from tests.support.tables import THEME, add_facilitator, drain, groups, outbox, seed_waiting

pytestmark = pytest.mark.e2e
PHONE = {"width": 390, "height": 844}


def sv(key: str, **values: object) -> str:
    return text("sv", key, **values)


@pytest.fixture
def served(make_services: Callable[..., Services]) -> Iterator[tuple[LiveServer, Services, str]]:
    services = make_services(ADMIN_TOKEN=admin_pages.TOKEN)
    with LiveServer(services) as server:
        add_facilitator(services)
        seed_waiting(services, 5)
        services.formation.form_theme(THEME)
        for queued in drain(services):
            services.notifier.handle(queued)
        [roster] = [m for m in services.sender.messages() if m.to == "+46701740610"]  # type: ignore[attr-defined]
        match = re.search(r"(/f/[A-Za-z0-9_.-]+)", roster.body)
        assert match, roster.body
        yield server, services, server.url + match.group(1)


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, bypass_csp=True, locale="sv-SE")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def submit(page: Any, button: Any) -> None:
    with page.expect_navigation():
        button.click()


def test_a_facilitator_opens_the_page_and_sets_the_first_meeting_reports_and_closes(phone, served):
    _server, services, link = served
    response = phone.goto(link)
    assert response is not None and response.status == 200
    expect(phone.get_by_role("heading", level=1)).to_have_text(sv("open_title"))
    content = phone.content()
    assert "Person 0" not in content and "+4670" not in content and "Eva" not in content
    assert_accessible(phone, "the link's page")

    submit(phone, phone.get_by_role("button", name=sv("open_button")))
    assert phone.url.endswith("/f/groups")  # the secret is no longer in the address bar
    expect(phone.get_by_role("heading", level=1)).to_have_text(sv("title"))
    expect(phone.get_by_text("Person 0")).to_be_visible()
    [cookie] = [c for c in phone.context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/f"
    assert_accessible(phone, "the facilitator's page")

    tz = organisation_tz(services.organisation)
    when = (utcnow() + timedelta(days=3)).astimezone(tz).strftime("%Y-%m-%dT18:00")
    phone.get_by_label(sv("when")).fill(when)
    phone.get_by_label(sv("place")).fill("Folkets hus “rum 3”")
    submit(phone, phone.get_by_role("button", name=sv("set_meeting")))
    expect(phone.get_by_role("status")).to_have_text(sv("done_meeting"))
    assert groups(services)[0].status is GroupStatus.ACTIVE
    assert groups(services)[0].meeting_place == 'Folkets hus "rum 3"'
    assert sum(m.kind is MessageKind.MEETING_SET for m in outbox(services)) == 5
    expect(phone.get_by_text(sv("meetings_held", n=0, of=5))).to_be_visible()
    assert_accessible(phone, "the facilitator's page with an active group")

    # The same time and place again texts nobody, and the page says so.
    submit(phone, phone.get_by_role("button", name=sv("set_meeting")))
    expect(phone.get_by_role("status")).to_have_text(sv("done_meeting_unchanged"))
    assert sum(m.kind is MessageKind.MEETING_SET for m in outbox(services)) == 5

    phone.get_by_label(sv("report")).fill("Lokalen är för liten, vi behöver en ny.")
    submit(phone, phone.get_by_role("button", name=sv("send_report")))
    expect(phone.get_by_role("status")).to_have_text(sv("done_report"))

    # Recording a meeting before the first one is held is refused, and the page says why.
    submit(phone, phone.get_by_role("button", name=sv("record_meeting")))
    expect(phone.get_by_role("alert")).to_contain_text(sv("err_invalid_state"))
    assert_accessible(phone, "a refused change")

    # Closing needs its box ticked: the browser holds the form back until it is.
    close = phone.get_by_role("button", name=sv("close"))
    close.click()
    assert groups(services)[0].status is GroupStatus.ACTIVE
    phone.get_by_label(sv("close_confirm")).check()
    submit(phone, close)
    expect(phone.get_by_role("status")).to_have_text(sv("done_close"))
    expect(phone.get_by_text(sv("no_groups"))).to_be_visible()
    assert groups(services)[0].status is GroupStatus.CLOSED


def test_a_revoked_link_shows_a_plain_refusal(phone, served):
    _server, services, link = served
    assert services.facilitator_page is not None
    services.facilitator_page.revoke_links(services.facilitators.list()[0].id)
    response = phone.goto(link)
    assert response is not None and response.status == 404
    expect(phone.get_by_role("heading", level=1)).to_have_text(sv("link_invalid_title"))
    expect(phone.get_by_role("button")).to_have_count(0)
    assert "Person 0" not in phone.content()
    assert_accessible(phone, "the refused link")


def test_an_operator_revokes_the_links_with_the_button_and_the_open_page_closes(phone, served, browser):
    server, _services, link = served
    phone.goto(link)
    submit(phone, phone.get_by_role("button", name=sv("open_button")))
    expect(phone.get_by_text("Person 0")).to_be_visible()

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True, locale="sv-SE")
    operator = desk.new_page()
    try:
        admin_pages.sign_in(operator, server.url)
        admin_pages.go(operator, f"{server.url}/manage/facilitators")
        revoke = operator.get_by_role("button", name=f"{admin_pages.sv('revoke_links')} Eva Lind")
        assert admin_pages.click_and_wait(operator, revoke) == 200
        expect(operator.get_by_role("status")).to_have_text(admin_pages.sv("done_facilitator_links_revoked"))
        assert_accessible(operator, "the facilitator list after revoking links")
    finally:
        desk.close()

    response = phone.reload()
    assert response is not None and response.status == 403
    expect(phone.get_by_role("heading", level=1)).to_have_text(sv("session_ended_title"))
    assert "Person 0" not in phone.content()
    assert_accessible(phone, "the closed page")
    assert phone.goto(link).status == 404  # the link in the text is revoked too
