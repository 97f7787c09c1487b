"""The facilitator's own page over HTTP against Azurite (issue 12.3): the roster's link opens it; GET
changes nothing; each change needs the link-bound form token and is audited without personal data; a
forged, expired or revoked link is refused; another facilitator's group is out of reach."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from shared.adapters.storage import AUDIT
from shared.composition import Services
from shared.core.domain import GroupStatus, MessageKind
from shared.services.facilitator_page import LINK_LIFETIME, FacilitatorLinks, link_secret
from shared.web.app import create_app
from tests.support.tables import THEME, add_facilitator, drain, groups, outbox, rows, seed_waiting

BASE = "https://gruppstart.example"
ADMIN = "test-admin-token"


@pytest.fixture
def services(make_services) -> Services:
    return make_services(PUBLIC_BASE_URL=BASE, ADMIN_TOKEN=ADMIN)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: services), follow_redirects=False) as test_client:
        yield test_client


def roster_link(services: Services) -> str:
    """Form a group, send its texts, and take the link out of the facilitator's roster."""
    add_facilitator(services)
    seed_waiting(services, 5)
    services.formation.form_theme(THEME)
    for text in drain(services):
        services.notifier.handle(text)
    [roster] = [m for m in services.sender.messages() if m.to == "+46701740610"]  # type: ignore[attr-defined]
    match = re.search(rf"{re.escape(BASE)}(/f/[A-Za-z0-9_.-]+)", roster.body)
    assert match, roster.body
    return match.group(1)


def csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match
    return match.group(1)


def snapshot(services: Services) -> list[dict]:
    return sorted((dict(r) for r in rows(services)), key=lambda r: r["RowKey"])


def test_the_roster_link_opens_the_page_and_get_changes_nothing(services, client):
    path = roster_link(services)
    before = snapshot(services)
    for _ in range(3):  # a link-preview bot, a mail scanner, the facilitator
        page = client.get(path)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
    assert "Person 0" in page.text and "+46701000000" in page.text  # the one person allowed the numbers
    assert snapshot(services) == before
    assert list(services.storage.table(AUDIT).list_entities()) == []


def test_each_flow_changes_the_group_texts_the_members_and_is_audited_without_personal_data(services, client):
    path = roster_link(services)
    token = csrf(client.get(path).text)
    [group] = groups(services)
    action = f"{path}/groups/{group.id}"

    answer = client.post(f"{action}/meeting", data={"csrf": token, "when": "2099-01-01T18:00", "place": "x"})
    assert answer.status_code == 400  # more than a year ahead: the operators' rule
    when = (services.operations._clock() + timedelta(days=3)).strftime("%Y-%m-%dT18:00")
    answer = client.post(f"{action}/meeting", data={"csrf": token, "when": when, "place": "Folkets hus, rum 3"})
    assert answer.status_code == 303 and answer.headers["location"] == f"{path}?done=meeting"
    assert groups(services)[0].status is GroupStatus.ACTIVE
    assert sum(m.kind is MessageKind.MEETING_SET for m in outbox(services)) == 5
    assert "Folkets hus, rum 3" in client.get(f"{path}?done=meeting").text

    # Meetings are recorded only once held; the operators' rule refuses one before the first meeting.
    assert client.post(f"{action}/held", data={"csrf": token}).status_code == 409
    answer = client.post(f"{action}/report", data={"csrf": token, "note": "Vi behöver <b>en större</b> lokal"})
    assert answer.status_code == 303
    [report] = [m for m in outbox(services) if m.kind is MessageKind.FACILITATOR_REPORT]
    assert report.reason == "Vi behöver <b>en större</b> lokal" and report.subject_name == "Eva"
    assert client.post(f"{action}/report", data={"csrf": token, "note": "x" * 241}).status_code == 400

    assert client.post(f"{action}/close", data={"csrf": token}).status_code == 303
    assert groups(services)[0].status is GroupStatus.CLOSED
    audit = list(services.storage.table(AUDIT).list_entities())
    assert {(r["Action"], r["Outcome"]) for r in audit} >= {
        ("facilitator_meeting", "ok"),
        ("facilitator_meeting", "refused"),
        ("facilitator_held", "refused"),
        ("facilitator_report", "ok"),
        ("facilitator_close", "ok"),
    }
    for row in audit:
        text = " ".join(str(v) for v in row.values())
        assert "Person" not in text and "+4670" not in text and "lokal" not in text


def test_changes_need_the_form_token_of_this_very_link(services, client):
    path = roster_link(services)
    [group] = groups(services)
    facilitator = services.facilitators.list()[0]
    later = services.operations._clock() + timedelta(hours=1)
    other_token = FacilitatorLinks(link_secret(None, ADMIN), BASE, clock=lambda: later).token(facilitator)
    assert other_token != path.removeprefix("/f/")  # the same facilitator's link from another roster
    other_csrf = services.facilitator_page.links.form_token(other_token)  # type: ignore[union-attr]
    for data in ({"note": ""}, {"csrf": "0" * 64}, {"csrf": other_csrf}):
        assert client.post(f"{path}/groups/{group.id}/close", data=data).status_code == 403
    assert groups(services)[0].status is GroupStatus.FORMING


def test_forged_expired_and_revoked_links_are_refused_alike(services, client):
    path = roster_link(services)
    [group] = groups(services)
    facilitator = services.facilitators.list()[0]
    forged = FacilitatorLinks(link_secret("not our secret"), BASE).url(facilitator).removeprefix(BASE)
    clock = [services.operations._clock()]
    aged = FacilitatorLinks(link_secret(None, ADMIN), BASE, clock=lambda: clock[0])
    clock[0] -= LINK_LIFETIME + timedelta(minutes=1)
    expired = aged.url(facilitator).removeprefix(BASE)
    for bad in (forged, expired, path + "x", "/f/nonsense"):
        assert client.get(bad).status_code == 404, bad
    assert client.get(path).status_code == 200

    revoked = client.post(
        f"/api/admin/facilitators/{facilitator.id}/revoke-links",
        headers={"authorization": f"Bearer {ADMIN}", "content-type": "application/json"},
    )
    assert revoked.status_code == 200 and revoked.json()["link_version"] == 1
    page = client.get(path)
    assert page.status_code == 404 and "Person 0" not in page.text
    token = services.facilitator_page.links.form_token(path.removeprefix("/f/"))  # type: ignore[union-attr]
    assert client.post(f"{path}/groups/{group.id}/close", data={"csrf": token}).status_code == 404
    assert groups(services)[0].status is GroupStatus.FORMING
    # A new roster (the group reassigned) carries a working link again.
    fresh = services.facilitator_page.links.url(services.facilitators.list()[0])  # type: ignore[union-attr]
    assert client.get(fresh.removeprefix(BASE)).status_code == 200


def test_another_facilitators_group_is_out_of_reach(services, client):
    path = roster_link(services)
    seed_waiting(services, 5, theme="sjukdom")
    services.formation.form_theme("sjukdom")
    [theirs] = groups(services, "sjukdom")
    if theirs.facilitator_id:  # Eva may have taken it too: give it to someone else
        other = add_facilitator(services, name="Bo Ek", phone="+46701740619")
        services.operations.assign_facilitator(theirs.id, other.id)
    token = csrf(client.get(path).text)
    assert client.post(f"{path}/groups/{theirs.id}/close", data={"csrf": token}).status_code == 404
    assert groups(services, "sjukdom")[0].status is not GroupStatus.CLOSED
