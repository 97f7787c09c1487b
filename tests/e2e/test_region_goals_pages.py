"""The needs map and the public running-groups page in Chromium: axe-clean at phone and desktop width,
the chart's labels never overlapping. Set SCREENSHOT_DIR to keep a PNG of each page at each width."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import UpdateMode
from playwright.sync_api import expect

from shared.adapters.entities import group_from
from shared.adapters.storage import INTERESTS
from shared.composition import Services
from shared.core.domain import GroupStatus
from shared.services.facilitators import FacilitatorIn
from tests.conftest import LiveServer
from tests.e2e.conftest import PHONE, assert_accessible
from tests.support.admin_pages import DESKTOP, TOKEN, sign_in, sv
from tests.support.waiting import wait_in

pytestmark = pytest.mark.e2e
WIDTHS = {"phone": PHONE, "desktop": DESKTOP}


@pytest.fixture
def county(make_services: Callable[..., Services]) -> Iterator[tuple[LiveServer, Services]]:
    """Jönköping's county: Eva serves Jönköping; people wait in Vaggeryd (nobody serves it), Jönköping
    and Aneby; a Stress group runs in Jönköping and a relatives' group goes on by itself in Habo."""
    services = make_services(ADMIN_TOKEN=TOKEN, CLIENT_REGISTRATIONS_PER_HOUR="100")
    services.facilitators.create(
        FacilitatorIn(name="Eva Lindqvist", phone="070-174 06 10", locales=["sv"], areas=["jonkoping", "habo"])
    )
    wait_in(services, "stress", "jonkoping", 5)
    wait_in(services, "anhorig", "habo", 5)
    services.formation.form_theme("stress")
    services.formation.form_theme("anhorig")
    table = services.storage.table(INTERESTS)
    [relatives] = [group_from(r) for r in table.query_entities("Kind eq 'group' and PartitionKey eq 'anhorig'")]
    table.update_entity(
        {"PartitionKey": "anhorig", "RowKey": relatives.key, "Status": GroupStatus.ON_ITS_OWN.value},
        mode=UpdateMode.MERGE,
    )
    wait_in(services, "stress", "vaggeryd", 3)
    wait_in(services, "stress", "jonkoping", 2)
    wait_in(services, "anhorig", "aneby", 2)
    wait_in(services, "sjukskrivning", "varnamo", 6)
    with LiveServer(services) as server:
        yield server, services


def tab(browser: Any, viewport: dict[str, int]) -> Any:
    phone = viewport == PHONE
    context = browser.new_context(
        viewport=viewport,
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
        bypass_csp=True,
        locale="sv-SE",
    )
    context.set_default_timeout(10_000)
    return context.new_page()


def keep(page: Any, name: str) -> None:
    """The whole page, and each chart on its own (to read its labels at the size they render)."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
        for i, figure in enumerate(page.locator("figure").all()):
            figure.screenshot(path=str(Path(folder) / f"{name}-chart{i + 1}.png"))


def overlaps(page: Any, selector: str) -> tuple[int, list[tuple[int, int]]]:
    """How many label boxes the page has under `selector`, and which pairs of them intersect."""
    boxes = page.eval_on_selector_all(
        selector,
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })",
    )
    pairs = [
        (i, j)
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
        if boxes[i][0] < boxes[j][2]
        and boxes[j][0] < boxes[i][2]
        and boxes[i][1] < boxes[j][3]
        and boxes[j][1] < boxes[i][3]
    ]
    return len(boxes), pairs


@pytest.mark.parametrize("width", list(WIDTHS))
def test_needs_map_reads_most_pressing_first_and_passes_axe(browser: Any, county: Any, width: str) -> None:
    server, _services = county
    page = tab(browser, WIDTHS[width])
    sign_in(page, server.url)
    page.goto(f"{server.url}/manage/needs")
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("needs_title"))
    rows = page.locator("ol.needs > li")
    # Nobody serves Värnamo or Vaggeryd (most people first), then Aneby; Jönköping's group takes its two.
    expect(rows.locator("h3")).to_have_text(
        ["Värnamo · Sjukskrivning", "Vaggeryd · Stress", "Aneby · Anhörig", "Jönköping · Stress"]
    )
    expect(rows.first.locator("[data-col='conclusion']")).to_contain_text(sv("need_action_train"))
    expect(rows.last.locator("[data-col='conclusion']")).to_contain_text(sv("need_action_starting"))
    figure = page.get_by_role("figure", name=sv("needs_chart_caption", n=4))
    expect(figure.locator("svg text.bar-label")).to_have_count(4)
    count, pairs = overlaps(page, "svg.chart-hbar text.bar-label tspan")
    assert count == 4 + 12 and pairs == []  # four needs, twelve months
    expect(page.locator("table.waits tbody tr")).to_have_count(3)  # everyone, Habo, Jönköping
    assert_accessible(page, f"needs map ({width})")
    keep(page, f"needs-{width}")
    page.context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_running_groups_page_is_public_and_passes_axe(browser: Any, county: Any, width: str) -> None:
    server, _services = county
    page = tab(browser, WIDTHS[width])
    response = page.goto(f"{server.url}/running-groups")  # no sign-in
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    cards = page.locator("ul.running-groups > li")
    expect(cards.locator("h3")).to_have_text(["Stress – Jönköping", "Anhörig – Habo"])
    expect(cards.nth(1)).to_contain_text("På egen hand")
    expect(page.locator("dd[data-theme='anhorig']")).to_have_text("färre än 5")
    expect(page.locator("dd[data-theme='sjukskrivning']")).to_have_text("6 personer")
    assert_accessible(page, f"running groups ({width})")
    keep(page, f"running-groups-{width}")
    page.context.close()


def text_overlaps(page: Any) -> tuple[int, list[tuple[str, str]]]:
    """Every text box of every chart on the page, and the pairs inside one chart that intersect."""
    charts = page.eval_on_selector_all(
        "figure svg",
        """svgs => svgs.map(svg => Array.from(svg.querySelectorAll('text')).map(t => {
            const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.top, r.right, r.bottom]; }))""",
    )
    seen, pairs = 0, []
    for boxes in charts:
        seen += len(boxes)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]:
                    pairs.append((a[0], b[0]))
    return seen, pairs


@pytest.mark.parametrize("width", list(WIDTHS))
def test_statistics_chart_labels_never_overlap(browser: Any, county: Any, width: str) -> None:
    """In English ("Being a relative" beside "Something else") at phone and desktop width."""
    server, _services = county
    page = tab(browser, WIDTHS[width])
    sign_in(page, server.url)
    page.goto(f"{server.url}/manage/statistics?lang=en")
    themes = page.locator("svg.chart-hbar text.bar-label")
    expect(themes).to_have_count(16)  # eight themes, in each of the two theme charts
    expect(themes.first).to_have_text("Illness")
    seen, pairs = text_overlaps(page)
    assert seen > 16 and pairs == []
    assert_accessible(page, f"statistics ({width})")
    keep(page, f"statistics-{width}")
    page.context.close()


def test_statistics_without_data_say_so_instead_of_an_empty_axis(
    browser: Any, make_services: Callable[..., Services]
) -> None:
    services = make_services(ADMIN_TOKEN=TOKEN)
    with LiveServer(services) as server:
        page = tab(browser, DESKTOP)
        sign_in(page, server.url)
        page.goto(f"{server.url}/manage/statistics")
        expect(page.locator("figure svg")).to_have_count(0)
        expect(page.locator("figure .chart-empty")).to_have_text([sv("chart_no_data_yet")] * 3)
        page.context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_overview_starts_with_what_needs_the_coordinator_then_one_matrix(browser: Any, county: Any, width: str) -> None:
    server, _services = county
    page = tab(browser, WIDTHS[width])
    sign_in(page, server.url)
    attention = page.locator("ul.attention > li")
    expect(attention).to_have_count(2)
    expect(attention.nth(0)).to_have_text("1 grupp väntar på sitt första möte")
    expect(attention.nth(1)).to_have_text(
        "Invånare väntar på 3 ställen där ingen igångsättare finns: Värnamo (Sjukskrivning), Vaggeryd (Stress), "
        "Aneby (Anhörig)"
    )
    # It comes before the figures.
    headings = page.locator("main h2")
    expect(headings.first).to_have_text(sv("now_heading"))
    matrix = page.locator("table.matrix")
    expect(matrix.locator("tbody tr")).to_have_count(8)  # one row per theme, not one per theme and area
    expect(matrix.locator("thead th")).to_have_count(1 + 13)
    stress = matrix.locator("tr[data-theme='stress']")
    expect(stress.locator("td[data-area='jonkoping']")).to_have_text("2 Väntar1 grupp")
    expect(stress.locator("td[data-area='vaggeryd']")).to_have_text("3 Väntar")
    filled = matrix.locator("td:not(:empty)")
    # Stress in Jönköping and Vaggeryd, Anhörig in Aneby, Sjukskrivning in Värnamo; Habo's group is on its own.
    expect(filled).to_have_count(4)
    assert_accessible(page, f"overview ({width})")
    keep(page, f"overview-{width}")
    page.context.close()
