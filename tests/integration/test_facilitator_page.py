"""The facilitator's own page over HTTP against Azurite (issues 12.3 and 19.1).

The roster's link opens a page with nothing personal and one button; the button exchanges the link for
a short-lived session cookie (HttpOnly, Secure, SameSite=Strict, Path=/f) and the roster is served at
/f/groups. Each change needs the session-bound form token and is audited without personal data; a
forged, expired, revoked (API or /manage button), rotated-secret or pre-phone-change link is refused;
another facilitator's group is out of reach; LÄNK from the facilitator's number brings a fresh link.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from shared.composition import Services, build_services
from shared.core.domain import GroupStatus, MessageKind, utcnow
from shared.services.facilitator_links import FacilitatorLinks, link_secret
from shared.services.facilitators import FacilitatorPatch
from shared.services.replies import ReplyHandling
from shared.web.facilitator import text
from tests.support.facilitator_page import (
    ADMIN,
    BASE,
    EVA,
    LINK_SECRET,
    audit_rows,
    client_of,
    csrf,
    link_in,
    open_page,
    roster_link,
    send_all,
    sign_in_operator,
    snapshot,
    texts_to,
)
from tests.support.tables import THEME, add_facilitator, groups, outbox, seed_waiting


@pytest.fixture
def services(make_services) -> Services:
    return make_services(PUBLIC_BASE_URL=BASE, ADMIN_TOKEN=ADMIN, FACILITATOR_LINK_SECRET=LINK_SECRET)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with client_of(services) as test_client:
        yield test_client


# --- the link is safe to leak ------------------------------------------------------------------


def test_the_links_get_shows_nothing_personal_and_changes_nothing(services, client):
    path = roster_link(services)
    before = snapshot(services)
    theme = services.organisation.theme_text(THEME, "sv").label
    for _ in range(3):  # a link-preview bot, a mail scanner, a log reader
        page = client.get(path)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        for personal in ("Person 0", "+4670", "0701", "Eva", theme):
            assert personal not in page.text, personal
        assert "set-cookie" not in page.headers
        assert page.text.count("<button") == 1
    assert snapshot(services) == before
    assert audit_rows(services) == []
    assert client.get("/f/groups").status_code == 403  # the link alone opens nothing


def test_the_button_exchanges_the_link_for_a_strict_short_session_on_f(services, client):
    path = roster_link(services)
    answer = client.post(path, data={"csrf": csrf(client.get(path).text)})
    assert answer.status_code == 303 and answer.headers["location"] == "/f/groups"
    cookie = answer.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= set(attributes)
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/f"
    assert attributes["max-age"] == "Max-Age=1800"  # FACILITATOR_SESSION_MINUTES' default
    page = client.get("/f/groups")
    assert page.status_code == 200 and "Person 0" in page.text and "+46701000000" in page.text
    assert path.removeprefix("/f/") not in page.text  # the secret is not on the roster page either

    with client_of(services) as stranger:  # the same link from another browser: the button works there
        assert stranger.get("/f/groups").status_code == 403
        token = csrf(stranger.get(path).text)
        cross_site = stranger.post(path, data={"csrf": token}, headers={"sec-fetch-site": "cross-site"})
        assert cross_site.status_code == 404 and "set-cookie" not in cross_site.headers
        assert stranger.post(path, data={"csrf": "0" * 64}).status_code == 404


def test_an_expired_session_shows_nothing(services, client):
    path = roster_link(services)
    open_page(client, path)
    page = services.facilitator_page
    assert page is not None
    later = utcnow() + timedelta(minutes=31)
    page.links = FacilitatorLinks(link_secret(LINK_SECRET), BASE, lambda: later)  # the session's clock moved on
    answer = client.get("/f/groups")
    assert answer.status_code == 403 and "Person 0" not in answer.text


def test_each_view_of_the_roster_is_audited_with_ids_at_most_once_an_hour(services, client):
    path = roster_link(services)
    open_page(client, path)
    for _ in range(3):
        assert client.get("/f/groups").status_code == 200
    views = [r for r in audit_rows(services) if r["Action"] == "facilitator_page_view"]
    [group] = groups(services)
    facilitator = services.facilitators.list()[0]
    assert len(views) == 1
    assert views[0]["Actor"] == f"facilitator:{facilitator.id}" and group.id in views[0]["Targets"]
    assert "Person" not in str(views[0]) and "+4670" not in str(views[0])


# --- changes ----------------------------------------------------------------------------------


def test_each_flow_changes_the_group_texts_the_members_and_is_audited_without_personal_data(services, client):
    path = roster_link(services)
    token = open_page(client, path)
    [group] = groups(services)
    action = f"/f/groups/{group.id}"

    answer = client.post(f"{action}/meeting", data={"csrf": token, "when": "2099-01-01T18:00", "place": "x"})
    assert answer.status_code == 400  # more than a year ahead: the operators' rule
    when = (services.operations._clock() + timedelta(days=3)).strftime("%Y-%m-%dT18:00")
    answer = client.post(f"{action}/meeting", data={"csrf": token, "when": when, "place": "Folkets hus, rum 3"})
    assert answer.status_code == 303 and answer.headers["location"] == "/f/groups?done=meeting"
    assert groups(services)[0].status is GroupStatus.ACTIVE
    assert sum(m.kind is MessageKind.MEETING_SET for m in outbox(services)) == 5
    assert "Folkets hus, rum 3" in client.get("/f/groups?done=meeting").text

    # Meetings are recorded only once held; the operators' rule refuses one before the first meeting.
    assert client.post(f"{action}/held", data={"csrf": token}).status_code == 409
    answer = client.post(f"{action}/report", data={"csrf": token, "note": "Vi behöver <b>en större</b> lokal"})
    assert answer.status_code == 303
    [report] = [m for m in outbox(services) if m.kind is MessageKind.FACILITATOR_REPORT]
    assert report.reason == "Vi behöver <b>en större</b> lokal" and report.subject_name == "Eva"
    assert client.post(f"{action}/report", data={"csrf": token, "note": "x" * 241}).status_code == 400

    assert client.post(f"{action}/close", data={"csrf": token, "confirm": "yes"}).status_code == 303
    assert groups(services)[0].status is GroupStatus.CLOSED
    audit = audit_rows(services)
    assert {(r["Action"], r["Outcome"]) for r in audit} >= {
        ("facilitator_meeting", "ok"),
        ("facilitator_meeting", "refused"),
        ("facilitator_held", "refused"),
        ("facilitator_report", "ok"),
        ("facilitator_close", "ok"),
    }
    for row in audit:
        row_text = " ".join(str(v) for v in row.values())
        assert "Person" not in row_text and "+4670" not in row_text and "lokal" not in row_text


def test_changes_need_the_form_token_of_this_very_session(services, client):
    path = roster_link(services)
    open_page(client, path)
    [group] = groups(services)
    with client_of(services) as other:  # the same facilitator in another browser: another session
        other_token = open_page(other, path)
    link_token = csrf(client.get(path).text)  # the link page's token is not the roster's
    for data in ({"note": ""}, {"csrf": "0" * 64}, {"csrf": other_token}, {"csrf": link_token}):
        answer = client.post(f"/f/groups/{group.id}/close", data={**data, "confirm": "yes"})
        assert answer.status_code == 403
    assert groups(services)[0].status is GroupStatus.FORMING


# --- links that no longer work ------------------------------------------------------------------


def test_forged_expired_and_revoked_links_are_refused_alike(services, client):
    path = roster_link(services)
    [group] = groups(services)
    facilitator = services.facilitators.list()[0]
    forged = FacilitatorLinks(link_secret("not our secret"), BASE, utcnow).url(facilitator).removeprefix(BASE)
    clock = [utcnow() - timedelta(days=14, minutes=1)]  # FACILITATOR_LINK_DAYS' default is 14
    expired = FacilitatorLinks(link_secret(LINK_SECRET), BASE, lambda: clock[0]).url(facilitator).removeprefix(BASE)
    for bad in (forged, expired, path + "x", "/f/nonsense"):
        assert client.get(bad).status_code == 404, bad
    token = open_page(client, path)

    revoked = client.post(
        f"/api/admin/facilitators/{facilitator.id}/revoke-links",
        headers={"authorization": f"Bearer {ADMIN}", "content-type": "application/json"},
    )
    assert revoked.status_code == 200 and revoked.json()["link_version"] == 1
    page = client.get(path)
    assert page.status_code == 404 and "Person 0" not in page.text
    assert client.get("/f/groups").status_code == 403  # the open session ended too
    assert client.post(f"/f/groups/{group.id}/close", data={"csrf": token, "confirm": "yes"}).status_code == 403
    assert groups(services)[0].status is GroupStatus.FORMING
    # A new text carries a working link again.
    fresh = services.facilitator_page.links.url(services.facilitators.list()[0])  # type: ignore[union-attr]
    assert client.get(fresh.removeprefix(BASE)).status_code == 200


def test_the_revoke_button_on_the_manage_page_ends_links_and_sessions_and_is_audited(services, client):
    path = roster_link(services)
    facilitator = services.facilitators.list()[0]
    with client_of(services) as facilitator_browser:
        open_page(facilitator_browser, path)
        operator_csrf = sign_in_operator(client)
        listing = client.get("/manage/facilitators", headers={"accept": "text/html"}).text
        assert f"/manage/facilitators/{facilitator.id}/revoke-links" in listing
        no_token = client.post(f"/manage/facilitators/{facilitator.id}/revoke-links", data={})
        assert no_token.status_code == 403  # CSRF: the operator's form token is required
        assert facilitator_browser.get("/f/groups").status_code == 200
        answer = client.post(f"/manage/facilitators/{facilitator.id}/revoke-links", data={"csrf": operator_csrf})
        assert answer.status_code == 303 and "done=facilitator_links_revoked" in answer.headers["location"]
        assert facilitator_browser.get(path).status_code == 404
        assert facilitator_browser.get("/f/groups").status_code == 403
    [row] = [r for r in audit_rows(services) if r["Action"] == "facilitator_revoke_links"]
    assert row["Outcome"] == "ok" and facilitator.id in row["Targets"] and row["Actor"] != "anonymous"


def test_a_phone_change_or_a_deactivation_revokes_old_links(services, client):
    path = roster_link(services)
    facilitator = services.facilitators.list()[0]
    open_page(client, path)
    services.facilitators.update(facilitator.id, FacilitatorPatch(phone="+46701740699"))
    assert client.get(path).status_code == 404  # texted to the old number: it no longer opens anything
    assert client.get("/f/groups").status_code == 403

    second = services.facilitator_page.links.url(services.facilitators.get(facilitator.id)).removeprefix(BASE)  # type: ignore[union-attr, arg-type]
    assert client.get(second).status_code == 200
    services.facilitators.update(facilitator.id, FacilitatorPatch(active=False))
    services.facilitators.update(facilitator.id, FacilitatorPatch(active=True))
    assert client.get(second).status_code == 404  # reactivating does not bring old links back
    # An edit that changes neither keeps the links.
    third = services.facilitator_page.links.url(services.facilitators.get(facilitator.id)).removeprefix(BASE)  # type: ignore[union-attr, arg-type]
    services.facilitators.update(facilitator.id, FacilitatorPatch(capacity=4))
    assert client.get(third).status_code == 200


def test_a_revocation_is_a_conditional_write_that_a_stale_edit_cannot_undo(services):
    add_facilitator(services)
    facilitator = services.facilitators.list()[0]
    table = services.facilitators._rows
    read = table.get_versioned(facilitator.id)
    assert read is not None
    stale, etag = read
    assert services.facilitators.revoke_links(facilitator.id).link_version == 1  # type: ignore[union-attr]
    assert table.replace_if_unchanged(stale.model_copy(update={"capacity": 5}), etag) is False
    assert services.facilitators.get(facilitator.id).link_version == 1  # type: ignore[union-attr]


@pytest.mark.azurite  # a second app wired from the settings alone, as a restart is
def test_a_rotated_link_secret_ends_every_link(services, client, make_settings):
    path = roster_link(services)
    assert client.get(path).status_code == 200
    rotated = build_services(
        make_settings(
            None, PUBLIC_BASE_URL=BASE, ADMIN_TOKEN=ADMIN, FACILITATOR_LINK_SECRET="link-secret-two-fedcba9876543210"
        ),
        sender=services.sender,
    )
    with client_of(rotated) as after:
        assert after.get(path).status_code == 404
        fresh = rotated.facilitator_page.links.url(rotated.facilitators.list()[0])  # type: ignore[union-attr]
        assert after.get(fresh.removeprefix(BASE)).status_code == 200


# --- a fresh link by SMS --------------------------------------------------------------------------


def test_lank_from_the_facilitators_number_texts_a_fresh_link_there(services, client):
    roster_link(services)
    assert services.replies.handle(EVA, " Länk. ").handled is ReplyHandling.LINK_REQUESTED
    send_all(services)
    fresh = link_in(texts_to(services, EVA)[-1])
    assert "Person 0" not in texts_to(services, EVA)[-1]
    assert client.get(fresh).status_code == 200  # signed now: it lives its full FACILITATOR_LINK_DAYS
    for word in ("LENKE", "link"):
        assert services.replies.handle(EVA, word).handled is ReplyHandling.LINK_REQUESTED
    send_all(services)
    assert services.replies.handle(EVA, "LINK").handled is ReplyHandling.LINK_REQUESTED
    send_all(services)
    assert len(texts_to(services, EVA)) == 1 + 3  # the roster and three links: at most three a day
    # From any other number the word is just a text: no link goes anywhere.
    assert services.replies.handle("+46701740677", "LÄNK").handled is ReplyHandling.UNKNOWN
    assert texts_to(services, "+46701740677") == []


def test_another_facilitators_group_is_out_of_reach(services, client):
    path = roster_link(services)
    seed_waiting(services, 5, theme="sjukdom")
    services.formation.form_theme("sjukdom")
    [theirs] = groups(services, "sjukdom")
    if theirs.facilitator_id:  # Eva may have taken it too: give it to someone else
        other = add_facilitator(services, name="Bo Ek", phone="+46701740619")
        services.operations.assign_facilitator(theirs.id, other.id)
    token = open_page(client, path)
    answer = client.post(f"/f/groups/{theirs.id}/close", data={"csrf": token, "confirm": "yes"})
    assert answer.status_code == 404
    assert groups(services, "sjukdom")[0].status is not GroupStatus.CLOSED


def test_the_link_page_speaks_the_facilitators_language(services, client):
    path = roster_link(services)
    # The organisation's language first (issue 20.9: phones often say English), the facilitator's choice after.
    page = client.get(path, headers={"accept-language": "en"})
    assert text("sv", "open_button") in page.text
    page = client.get(f"{path}?lang=en", headers={"accept-language": "sv"})
    assert text("en", "open_button") in page.text
