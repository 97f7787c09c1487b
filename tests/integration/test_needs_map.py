"""The needs map through the real storage (Azurite): where people wait with nobody to serve them comes first."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shared.composition import Services
from shared.services.facilitators import FacilitatorIn, FacilitatorPatch
from shared.web.admin.rendering import text
from shared.web.app import create_app
from tests.support.waiting import wait_in

TOKEN = "needs-map-token-5d1e"
BEARER = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def county(make_services) -> Services:  # type: ignore[no-untyped-def]
    """Region Jönköpings län (matches by area): a facilitator for Jönköping only; three wait for Stress
    in Vaggeryd, where nobody serves, and four in Jönköping, where she has a free seat."""
    services = make_services(ADMIN_TOKEN=TOKEN)
    services.facilitators.create(
        FacilitatorIn(name="Eva Lindqvist", phone="070-174 06 10", locales=["sv"], areas=["jonkoping"])
    )
    wait_in(services, "stress", "vaggeryd", 3)
    wait_in(services, "stress", "jonkoping", 4)
    return services


@pytest.fixture
def client(county: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: county)) as test_client:
        yield test_client


def rows_of(html: str) -> list[tuple[str, str, str]]:
    """(area, theme, verdict) of each needs row, top to bottom."""
    found = re.findall(r'<li data-theme="([^"]+)" data-area="([^"]*)" data-verdict="([^"]+)">', html)
    return [(area, theme, verdict) for theme, area, verdict in found]


def test_an_area_nobody_serves_comes_first_and_a_facilitator_for_it_moves_it_down(
    client: TestClient, county: Services
) -> None:
    page = client.get("/manage/needs?lang=sv", headers=BEARER)
    assert page.status_code == 200
    assert rows_of(page.text) == [("vaggeryd", "stress", "train"), ("jonkoping", "stress", "recruit")]
    # The conclusion in plain words, in the operator's language.
    assert "3 har väntat upp till mindre än en dag på Stress i Vaggeryd." in page.text
    assert "Ingen utbildad igångsättare tar Stress i Vaggeryd på svenska." in page.text
    assert text("sv", "need_action_train") in page.text
    assert "Eva Lindqvist kan ta gruppen; 1 person till behövs." in page.text

    county.facilitators.create(
        FacilitatorIn(name="Oskar Berg", phone="070-174 06 11", locales=["sv"], areas=["vaggeryd"])
    )
    page = client.get("/manage/needs?lang=sv", headers=BEARER)
    assert rows_of(page.text) == [("jonkoping", "stress", "recruit"), ("vaggeryd", "stress", "recruit")]
    assert "Oskar Berg kan ta gruppen; 2 personer till behövs." in page.text


def test_a_full_facilitator_is_no_free_seat(client: TestClient, county: Services) -> None:
    """Eva at capacity: Jönköping's row says so, and still ranks below the area nobody serves."""
    [eva] = county.facilitators.list()
    county.facilitators.update(eva.id, FacilitatorPatch(capacity=1))
    wait_in(county, "stress", "jonkoping", 1)  # five: a group forms with Eva, who is then full
    county.formation.form_theme("stress")
    wait_in(county, "anhorig", "jonkoping", 2)
    page = client.get("/manage/needs?lang=en", headers=BEARER)
    assert rows_of(page.text) == [("vaggeryd", "stress", "train"), ("jonkoping", "anhorig", "full")]
    assert "Those who could serve it (Eva Lindqvist) have no free seat." in page.text


def test_people_a_running_group_can_take_are_not_a_need(client: TestClient, county: Services) -> None:
    """Two more in Jönköping after a group formed there: its free seats take them at the next run."""
    wait_in(county, "stress", "jonkoping", 1)
    county.formation.form_theme("stress")  # five: a group with Eva, which still takes joiners
    wait_in(county, "stress", "jonkoping", 2)
    page = client.get("/manage/needs?lang=en", headers=BEARER)
    assert rows_of(page.text) == [("vaggeryd", "stress", "train"), ("jonkoping", "stress", "starting")]
    assert "A group here has free seats: the next matching run places them." in page.text


def test_the_needs_export_withholds_small_counts_and_names_nobody(client: TestClient, county: Services) -> None:
    response = client.get("/manage/needs.csv", headers=BEARER)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["area"], r["people_waiting"], r["oldest_wait_days"], r["conclusion"]) for r in rows] == [
        ("vaggeryd", "<5", "", "train"),
        ("jonkoping", "<5", "", "recruit"),
    ]
    assert "Eva" not in response.text and "Lindqvist" not in response.text
