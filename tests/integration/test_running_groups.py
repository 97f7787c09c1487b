"""Running groups, published without personal data, through the real storage (Azurite); and the
small-numbers rule on everything shown outside /manage (the public page, its feed, every export)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from azure.data.tables import UpdateMode
from fastapi.testclient import TestClient

from shared import PROJECT_DIR
from shared.adapters.entities import group_from
from shared.adapters.storage import INTERESTS
from shared.composition import Services
from shared.core.domain import GroupStatus
from shared.services.facilitators import FacilitatorIn
from shared.web.app import create_app
from tests.support.json_schema import problems
from tests.support.waiting import wait_in

TOKEN = "running-groups-token-77ab"
BEARER = {"authorization": f"Bearer {TOKEN}"}
SCHEMA = json.loads((PROJECT_DIR / "docs" / "running-groups.schema.json").read_text(encoding="utf-8"))


@pytest.fixture
def county(make_services) -> Services:  # type: ignore[no-untyped-def]
    """Region Jönköpings län: a group with a facilitator in Vaggeryd (Stress), one on its own in
    Jönköping (Being a relative), one awaiting a facilitator in Habo (Separation: not published);
    two wait in the small area of Aneby for Pain, six in Jönköping for Sick leave."""
    services = make_services(ADMIN_TOKEN=TOKEN, CLIENT_REGISTRATIONS_PER_HOUR="100")
    services.facilitators.create(
        FacilitatorIn(name="Eva Lindqvist", phone="070-174 06 10", locales=["sv"], themes=["stress", "anhorig"])
    )
    wait_in(services, "stress", "vaggeryd", 5)
    wait_in(services, "anhorig", "jonkoping", 5)
    wait_in(services, "separation", "habo", 5)
    for theme in ("stress", "anhorig", "separation"):
        services.formation.form_theme(theme)
    table = services.storage.table(INTERESTS)
    [relatives] = [group_from(r) for r in table.query_entities("Kind eq 'group' and PartitionKey eq 'anhorig'")]
    table.update_entity(
        {"PartitionKey": "anhorig", "RowKey": relatives.key, "Status": GroupStatus.ON_ITS_OWN.value},
        mode=UpdateMode.MERGE,
    )
    wait_in(services, "smarta", "aneby", 2)
    wait_in(services, "sjukskrivning", "jonkoping", 6)
    return services


@pytest.fixture
def client(county: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: county)) as test_client:
        yield test_client


def test_the_feed_lists_running_groups_only_matches_its_schema_and_names_nobody(client: TestClient) -> None:
    response = client.get("/api/running-groups")  # no credentials: public
    assert response.status_code == 200
    feed = response.json()
    assert problems(feed, SCHEMA) == []
    assert [(g["theme"], g["area"], g["meets"], g["stage"], g["takes_joiners"]) for g in feed["groups"]] == [
        ("stress", "vaggeryd", "with_facilitator", "starting", True),
        ("anhorig", "jonkoping", "on_its_own", "running", False),
    ]
    waiting = {w["theme"]: (w["people"], w["fewer_than"]) for w in feed["waiting"]}
    assert waiting["sjukskrivning"] == (6, None)
    assert waiting["smarta"] == (None, 5)  # two in Aneby: withheld
    assert waiting["separation"] == (0, None)  # grouped (awaiting a facilitator): nobody waits
    for personal in ("Testperson", "+4670", "Eva", "Lindqvist", "group."):
        assert personal not in response.text


def test_the_schema_check_refuses_a_feed_that_breaks_it(client: TestClient) -> None:
    """The checker is not a rubber stamp: a member count slipped into a group is refused."""
    feed = client.get("/api/running-groups").json()
    feed["groups"][0]["members"] = 5
    feed["waiting"][0]["people"] = "5"
    assert len(problems(feed, SCHEMA)) == 2


def test_the_public_page_lists_the_groups_in_the_residents_language(client: TestClient) -> None:
    page = client.get("/running-groups?lang=sv")
    assert page.status_code == 200
    assert '<html lang="sv">' in page.text
    cards = re.findall(r'<li data-theme="([^"]+)" data-area="([^"]*)">', page.text)
    assert cards == [("stress", "vaggeryd"), ("anhorig", "jonkoping")]
    assert "Stress – Vaggeryd" in page.text and "Med en igångsättare (startar snart)" in page.text
    assert "På egen hand" in page.text
    assert "färre än 5" in page.text and "6 personer" in page.text
    english = client.get("/running-groups?lang=en")
    assert "Groups that are running" in english.text and "fewer than 5" in english.text
    norwegian = client.get("/running-groups?lang=nb")
    assert "Grupper som er i gang" in norwegian.text and "færre enn 5" in norwegian.text


def test_the_coordinators_csv_of_running_groups(client: TestClient) -> None:
    assert client.get("/manage/running-groups.csv").status_code in (401, 303)  # behind sign-in
    response = client.get("/manage/running-groups.csv", headers=BEARER)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["theme"], r["area"], r["meets"], r["takes_joiners"]) for r in rows] == [
        ("stress", "vaggeryd", "with_facilitator", "yes"),
        ("anhorig", "jonkoping", "on_its_own", "no"),
    ]


# --- small numbers (item 6): nothing outside /manage shows a count from 1 to threshold - 1 ------------


def small(value: Any, threshold: int = 5) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < threshold


def test_no_count_under_the_threshold_leaves_manage(client: TestClient) -> None:
    feed = client.get("/api/running-groups").json()
    counts = [w["people"] for w in feed["waiting"]]
    assert len(counts) == 8 and not [c for c in counts if small(c)]

    page = client.get("/running-groups?lang=en").text
    shown = [int(n) for n in re.findall(r"(\d+) (?:person|people)\b", page)]
    assert shown == [6] and "fewer than 5" in page

    needs = list(csv.DictReader(io.StringIO(client.get("/manage/needs.csv", headers=BEARER).text)))
    # Nobody serves these themes: most people first; Aneby's two are withheld, and so is their wait.
    assert [(r["theme"], r["people_waiting"], r["oldest_wait_days"]) for r in needs] == [
        ("sjukskrivning", "6", "0"),
        ("separation", "5", "0"),
        ("smarta", "<5", ""),
    ]

    stats = list(csv.DictReader(io.StringIO(client.get("/manage/statistics.csv", headers=BEARER).text)))
    cells = [r[c] for r in stats for c in ("registrations", "verified", "groups_formed")]
    assert len(stats) == 5 and len(cells) == 15
    assert not [c for c in cells if c.isdigit() and small(int(c))]
    aneby = [r for r in stats if r["area"] == "aneby"]
    assert aneby and aneby[0]["verified"] == "<5" and aneby[0]["median_days_to_group"] == ""
