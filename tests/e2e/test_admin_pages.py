"""The admin pages in a real browser (Debian's Chromium): an operator's day, and axe-core on every page.

Each test gets empty tables and its own live server with an ADMIN_TOKEN; residents are registered
through the intake service and grouped by the formation service, as the functions would.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from shared.adapters.storage import INTERESTS
from shared.composition import Services
from shared.services.facilitators import FacilitatorIn
from shared.web.admin.rendering import text
from tests.conftest import LiveServer, municipality
from tests.e2e.conftest import assert_accessible
from tests.support.admin_pages import (
    DESKTOP,
    FACILITATOR_NAME,
    FACILITATOR_PHONE,
    NAMES,
    PHONES,
    THEME,
    TOKEN,
    WAITING,
    WAITING_THEME,
    cell,
    click_and_wait,
    go,
    seed,
    sign_in,
    sv,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def admin_server(make_services: Callable[..., Services]) -> Iterator[tuple[LiveServer, Services]]:
    # The day below reads one overview row per theme: the region without its near-first area matching
    # (with it the overview has a row per theme and area; test_every_admin_page_passes_axe covers that).
    organisation = {**municipality("region-jonkoping")["organisation"], "match_by_area": False, "area_wait_days": None}
    services = make_services(organisation, ADMIN_TOKEN=TOKEN)
    with LiveServer(services) as server:
        yield server, services


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    """A desktop-size page, as operators work; Swedish, like the region's staff."""
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True, locale="sv-SE", accept_downloads=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def test_an_operator_runs_a_day_from_the_admin_pages(desk: Any, admin_server: Any) -> None:
    server, services = admin_server
    group = seed(services)
    page = desk

    # Sign in: a wrong token first, then the right one, with the keyboard.
    go(page, f"{server.url}/manage/login")
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    assert_accessible(page, "the sign-in page")
    page.get_by_label(sv("login_token_label")).fill("wrong")
    assert click_and_wait(page, page.get_by_role("button", name=sv("login_submit"))) == 401
    token = page.get_by_label(sv("login_token_label"))
    expect(token).to_have_attribute("aria-invalid", "true")
    expect(token).to_have_accessible_description(re.compile(re.escape(sv("login_wrong"))))
    assert_accessible(page, "the sign-in page with an error")
    token.fill(TOKEN)
    with page.expect_navigation():
        token.press("Enter")
    expect(page).to_have_url(f"{server.url}/manage")

    # The overview: counts per theme.
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("overview_title"))
    expect(cell(page, WAITING_THEME, "waiting")).to_have_text("2")
    expect(cell(page, WAITING_THEME, "needed")).to_have_text("3")
    expect(cell(page, THEME, "waiting")).to_have_text("0")
    expect(cell(page, THEME, "awaiting_facilitator")).to_contain_text("1")
    expect(page.get_by_text(sv("no_failed"))).to_be_visible()
    assert_accessible(page, "the overview")

    # No facilitator yet: add one, with a mistake first.
    click_and_wait(
        page, page.get_by_role("navigation", name=sv("nav_label")).get_by_role("link", name=sv("nav_facilitators"))
    )
    assert_accessible(page, "the facilitator list (empty)")
    click_and_wait(page, page.get_by_role("link", name=sv("add_facilitator")))
    assert_accessible(page, "the new facilitator form")
    page.get_by_label(sv("facilitator_name_label")).fill(FACILITATOR_NAME)
    page.get_by_label(sv("facilitator_phone_label")).fill("12")
    assert click_and_wait(page, page.get_by_role("button", name=sv("add_facilitator"))) == 422
    expect(page.get_by_role("alert")).to_contain_text(sv("err_phone_invalid"))
    expect(page.get_by_label(sv("facilitator_phone_label"))).to_have_accessible_description(
        re.compile(re.escape(sv("err_phone_invalid")))
    )
    expect(page.get_by_label(sv("facilitator_name_label"))).to_have_value(FACILITATOR_NAME)
    assert_accessible(page, "the facilitator form with an error")
    page.get_by_role("alert").get_by_role("link").first.click()
    expect(page.get_by_label(sv("facilitator_phone_label"))).to_be_focused()
    page.get_by_label(sv("facilitator_phone_label")).fill(FACILITATOR_PHONE)
    assert click_and_wait(page, page.get_by_role("button", name=sv("add_facilitator"))) == 200
    expect(page.get_by_role("status")).to_have_text(sv("done_facilitator_added"))
    row = page.locator("table.facilitators tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("[data-col=load]")).to_have_text(sv("load_of", load=0, capacity=2))
    assert_accessible(page, "the facilitator list")

    # From the overview to the group awaiting a facilitator.
    click_and_wait(page, page.get_by_role("link", name=sv("nav_overview")))
    click_and_wait(page, cell(page, THEME, "awaiting_facilitator").get_by_role("link"))
    expect(page.get_by_label(sv("col_status"))).to_have_value("awaiting_facilitator")
    assert_accessible(page, "the group list filtered to groups awaiting a facilitator")
    click_and_wait(page, page.locator(f"tr[data-group='{group.id}'] a"))
    expect(page.locator("#group-status")).to_have_text(sv("status_awaiting_facilitator"))
    for name in NAMES:
        expect(page.locator(".members")).to_contain_text(name)
    body = page.locator("main").inner_text()
    for phone in PHONES:
        assert phone not in body and phone.replace("+46", "0") not in body, "numbers are not shown"
    assert_accessible(page, "the group page")

    # Assign the facilitator.
    page.get_by_label(sv("facilitator_label"), exact=True).select_option(
        label=sv("facilitator_option", name=FACILITATOR_NAME, load=0, capacity=2)
    )
    assert click_and_wait(page, page.get_by_role("button", name=sv("assign_submit"))) == 200
    expect(page.get_by_role("status")).to_have_text(sv("done_facilitator_assigned"))
    expect(page.locator("#group-status")).to_have_text(sv("status_forming"))
    expect(page.locator("#group-facilitator")).to_have_text(FACILITATOR_NAME)
    assert_accessible(page, "the group page after assigning")

    # Set the first meeting: a wrong one first (empty place), then a right one.
    when = (datetime.now() + timedelta(days=10)).replace(hour=18, minute=0)
    page.get_by_label(sv("when_label")).fill(when.strftime("%Y-%m-%dT%H:%M"))
    assert click_and_wait(page, page.get_by_role("button", name=sv("meeting_submit"))) == 422
    expect(page.get_by_label(sv("place_label"))).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label(sv("when_label"))).to_have_value(when.strftime("%Y-%m-%dT%H:%M"))
    assert_accessible(page, "the group page with a meeting error")
    page.get_by_label(sv("place_label")).fill("Biblioteket, rum 2")
    assert click_and_wait(page, page.get_by_role("button", name=sv("meeting_submit"))) == 200
    expect(page.get_by_role("status")).to_have_text(sv("done_meeting_set"))
    expect(page.locator("#group-status")).to_have_text(sv("status_active"))
    expect(page.locator("#group-meeting")).to_contain_text(when.strftime("%Y-%m-%d 18:00"))
    expect(page.locator("#group-meeting")).to_contain_text("Biblioteket, rum 2")

    # The confirmation pages (each is also cancellable), checked and left.
    click_and_wait(page, page.get_by_role("button", name=f"{sv('remove_member')} {NAMES[0]}"))
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("remove_title"))
    assert_accessible(page, "the remove-member confirmation")
    click_and_wait(page, page.get_by_role("link", name=sv("cancel")))
    click_and_wait(page, page.get_by_role("link", name=sv("close_link")))
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("close_title"))
    assert_accessible(page, "the close-group confirmation")
    click_and_wait(page, page.get_by_role("link", name=sv("cancel")))
    expect(page.locator("#group-status")).to_have_text(sv("status_active"))

    # Statistics: a CSV without names or numbers.
    click_and_wait(page, page.get_by_role("link", name=sv("nav_statistics")))
    assert_accessible(page, "the statistics page")
    with page.expect_download() as download:
        page.get_by_role("link", name=sv("statistics_download")).click()
    assert download.value.suggested_filename.endswith(".csv")
    content = open(download.value.path(), encoding="utf-8").read()  # noqa: SIM115 - read once
    rows = list(csv.reader(io.StringIO(content)))
    assert len(rows) >= 2, content
    assert THEME in content
    for secret in (*NAMES, *PHONES, *(p.replace("+46", "0") for p in PHONES), *(n for n, _ in WAITING)):
        assert secret not in content, f"{secret!r} in the statistics CSV"
    assert FACILITATOR_NAME not in content and "1740610" not in content
    assert not re.search(r"\d{8,}", content), "something like a phone number in the CSV"

    # A resident's data: the page, the erase confirmation, the result.
    click_and_wait(page, page.get_by_role("link", name=sv("nav_people")))
    assert_accessible(page, "the people page")
    page.get_by_label(sv("people_phone_label")).fill(WAITING[0][1].replace("+46", "0"))
    assert click_and_wait(page, page.get_by_role("button", name=sv("people_erase"))) == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("erase_title"))
    expect(page.locator("#erase-found")).to_have_text(text("sv", "erase_found_one"))
    assert_accessible(page, "the erase confirmation")
    assert click_and_wait(page, page.get_by_role("button", name=sv("erase_submit"))) == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("erased_title"))
    assert_accessible(page, "the erased page")
    click_and_wait(page, page.get_by_role("link", name=sv("nav_overview")))
    expect(cell(page, WAITING_THEME, "waiting")).to_have_text("1")

    # Sign out: back to the sign-in page, and the pages are closed again.
    assert click_and_wait(page, page.get_by_role("button", name=sv("sign_out"))) == 200
    expect(page.get_by_role("status")).to_have_text(sv("done_signed_out"))
    go(page, f"{server.url}/manage/groups")
    expect(page).to_have_url(re.compile(r"/manage/login"))


GET_PAGES = [
    "/manage",
    "/manage/groups",
    "/manage/groups/{group}",
    "/manage/facilitators",
    "/manage/facilitators/new",
    "/manage/facilitators/{facilitator}",
    "/manage/groups/{group}/close",
    "/manage/statistics",
    "/manage/people",
    "/manage/phone-in",
    "/manage/groups/stress.000000000000000000000000",  # not found
]


# (organisation, admin language, residents' numbers, waiting residents, facilitator's number)
ORGANISATIONS = {
    "jonkoping-sv": ("region-jonkoping", "sv", PHONES, WAITING, FACILITATOR_PHONE),
    "jonkoping-en": ("region-jonkoping", "en", PHONES, WAITING, FACILITATOR_PHONE),
    "aurskog-holand-nb": (
        "aurskog-holand",
        "nb",
        [f"+479123456{i}" for i in range(5)],
        [("Filip", "+4791234570"), ("Greta", "+4791234571")],
        "912 34 580",
    ),
}


def with_test_themes(stem: str) -> dict[str, Any]:
    """The file's organisation, plus the two themes these tests use where it lacks them.

    Aurskog-Høland offers one open group; the admin pages are still exercised with two themes."""
    doc = municipality(stem)["organisation"]
    known = {t["id"] for t in doc["themes"]}
    extra = [
        {"id": i, "text": {loc: {"label": i.title(), "description": i, "phrase": f"om {i}"} for loc in doc["locales"]}}
        for i in (THEME, WAITING_THEME)
        if i not in known
    ]
    return {**doc, "themes": [*doc["themes"], *extra]}


@pytest.mark.parametrize("case", list(ORGANISATIONS))
def test_every_admin_page_passes_axe(desk: Any, make_services: Callable[..., Services], case: str) -> None:
    stem, locale, phones, waiting, facilitator_phone = ORGANISATIONS[case]
    services = make_services(with_test_themes(stem), ADMIN_TOKEN=TOKEN)
    group = seed(services, phones, waiting)
    facilitator = services.facilitators.create(
        FacilitatorIn(name=FACILITATOR_NAME, phone=facilitator_phone, locales=[services.organisation.default_locale])
    )
    services.operations.assign_facilitator(group.id, facilitator.id)
    # One invitation that failed every retry: the overview lists it with a Retry button.
    table = services.storage.table(INTERESTS)
    invitation = next(iter(table.query_entities("Kind eq 'outbox' and MessageKind eq 'invitation'")))
    table.update_entity(
        {
            "PartitionKey": invitation["PartitionKey"],
            "RowKey": invitation["RowKey"],
            "Status": "failed",
            "Error": "poisoned",
        }
    )

    def t(key: str, **values: object) -> str:
        return text(locale, key, **values)

    with LiveServer(services) as server:
        go(desk, f"{server.url}/manage/login?lang={locale}")
        expect(desk.locator("html")).to_have_attribute("lang", locale)
        assert_accessible(desk, f"the sign-in page in {locale}")
        desk.get_by_label(t("login_token_label")).fill(TOKEN)
        click_and_wait(desk, desk.get_by_role("button", name=t("login_submit")))
        expect(desk.locator("html")).to_have_attribute("lang", locale)
        for path in GET_PAGES:
            url = f"{server.url}{path.format(group=group.id, facilitator=facilitator.id)}"
            go(desk, url, 404 if path.endswith("0000") else 200)
            expect(desk.locator("html")).to_have_attribute("lang", locale)  # remembered from ?lang=
            expect(desk.get_by_role("heading", level=1)).to_have_count(1)
            expect(desk).to_have_title(re.compile(r"\S"))
            assert_accessible(desk, f"{path} in {locale}")

        # A resident's data: a wrong number, tied to its field.
        go(desk, f"{server.url}/manage/people")
        desk.get_by_label(t("people_phone_label")).fill("123")
        assert click_and_wait(desk, desk.get_by_role("button", name=t("people_export"))) == 422
        expect(desk.get_by_label(t("people_phone_label"))).to_have_accessible_description(
            re.compile(re.escape(t("err_phone_invalid")))
        )
        assert_accessible(desk, f"the people page with an error in {locale}")

        # A caller registered by phone (issue 23.5): the code from the outbox, typed on the next page.
        go(desk, f"{server.url}/manage/phone-in")
        desk.locator(f"#theme-{WAITING_THEME}").check()
        if services.organisation.areas:
            desk.get_by_label(t("phone_in_area_label")).select_option("habo")
        desk.get_by_label(t("phone_in_name_label")).fill("Hilda")
        desk.get_by_label(t("phone_in_phone_label")).fill(waiting[0][1][:-1] + "9")
        if services.organisation.minimum_age is not None:
            desk.get_by_label(t("phone_in_age_label", age=services.organisation.minimum_age)).check()
        desk.get_by_label(t("phone_in_consent_label")).check()
        desk.get_by_label(t("phone_in_pledge_label")).check()
        assert click_and_wait(desk, desk.get_by_role("button", name=t("phone_in_send"))) == 200
        assert_accessible(desk, f"the phone-in code page in {locale}")
        code = re.search(r"\b(\d{6})\b", services.sender.messages()[-1].body).group(1)  # type: ignore[attr-defined,union-attr]
        desk.get_by_label(t("phone_in_code_label")).fill(f"{(int(code) + 1) % 1_000_000:06d}")
        assert click_and_wait(desk, desk.get_by_role("button", name=t("phone_in_confirm"))) == 400
        assert_accessible(desk, f"the phone-in code page with a wrong code in {locale}")
        desk.get_by_label(t("phone_in_code_label")).fill(code)
        assert click_and_wait(desk, desk.get_by_role("button", name=t("phone_in_confirm"))) == 200
        expect(desk.get_by_role("heading", level=1)).to_have_text(t("phone_in_done_title"))
        assert_accessible(desk, f"the phone-in done page in {locale}")

        # The failed message: listed, accessible, retried.
        go(desk, f"{server.url}/manage")
        failed = desk.locator("table.failed tbody tr")
        expect(failed).to_have_count(1)
        expect(failed).to_contain_text(t("kind_invitation"))
        assert_accessible(desk, f"the overview with a failed message in {locale}")
        assert click_and_wait(desk, failed.get_by_role("button", name=re.compile("^" + re.escape(t("retry"))))) == 200
        expect(desk.get_by_role("status")).to_have_text(t("done_retried"))
        expect(desk.get_by_text(t("no_failed"))).to_be_visible()

        # Language links lead to the same page in the other language.
        other = next(
            code for code in ("en", "sv", "nb") if code != locale and code in [*services.organisation.locales, "en"]
        )
        go(desk, f"{server.url}/manage/groups?theme={THEME}")
        click_and_wait(desk, desk.get_by_role("navigation", name=t("language")).locator(f"a[hreflang={other}]"))
        expect(desk.locator("html")).to_have_attribute("lang", other)
        expect(desk).to_have_url(re.compile(rf"/manage/groups\?theme={THEME}&lang={other}$"))


def test_a_refused_form_explains_itself_accessibly(desk: Any, admin_server: Any) -> None:
    """A form left open past its session's CSRF token (here: a forged token) gets a page, not a bare 403."""
    server, _services = admin_server
    sign_in(desk, server.url)
    go(desk, f"{server.url}/manage/facilitators/new")
    desk.locator("#content input[name=csrf]").evaluate("el => el.value = 'forged'")
    desk.get_by_label(sv("facilitator_name_label")).fill("Någon")
    assert click_and_wait(desk, desk.get_by_role("button", name=sv("add_facilitator"))) == 403
    expect(desk.get_by_role("heading", level=1)).to_have_text(sv("forbidden_title"))
    assert_accessible(desk, "the refused-form page")


def test_the_overview_on_a_phone_and_the_keyboard(page: Any, admin_server: Any) -> None:
    """The shared phone-size page: tables scroll in a focusable region; the menu and skip link work by keyboard."""
    server, services = admin_server
    seed(services)
    sign_in(page, server.url)
    expect(cell(page, WAITING_THEME, "waiting")).to_have_text("2")
    assert_accessible(page, "the overview on a phone")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "content"
    # From the main content, Tab reaches first what needs the coordinator (a group awaiting a facilitator,
    # people nobody serves), then the scrollable table region (keyboard users can scroll it).
    for expected in ("/manage/groups?status=awaiting_facilitator", "/manage/needs"):
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.getAttribute('href')") == expected
    page.keyboard.press("Tab")
    focused = page.evaluate("() => [document.activeElement.getAttribute('role'), document.activeElement.className]")
    assert focused == ["region", "table-wrap"], focused
