"""Facilitator actions with sane limits (issue 19.4), over HTTP against Azurite and the local outbox.

A meeting re-posted unchanged texts nobody; meeting texts at most three a day per group; reports to the
coordinator three a day per facilitator; "a meeting was held" once a day per group; closing and handing
over need the confirmation box; places and notes are limited in SMS septets, typographic punctuation is
made GSM-7 and what cannot be is named, in the facilitator's language.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from shared.composition import Services
from shared.core.domain import GroupStatus, MessageKind
from shared.core.sms_segments import segment_info
from shared.web.facilitator import text
from tests.support.facilitator_page import (
    ADMIN,
    BASE,
    EVA,
    LINK_SECRET,
    client_of,
    link_in,
    open_page,
    roster_link,
    send_all,
    texts_to,
)
from tests.support.tables import Clock, groups, outbox


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(make_services, clock: Clock) -> Services:
    return make_services(clock=clock, PUBLIC_BASE_URL=BASE, ADMIN_TOKEN=ADMIN, FACILITATOR_LINK_SECRET=LINK_SECRET)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with client_of(services) as test_client:
        yield test_client


@pytest.fixture
def page(services: Services, client: TestClient) -> tuple[str, str]:
    """(the group's action path, the session's form token)."""
    token = open_page(client, roster_link(services))
    [group] = groups(services)
    return f"/f/groups/{group.id}", token


def when(services: Services, days: int = 3, hour: int = 18) -> str:
    return (services.operations._clock() + timedelta(days=days)).strftime(f"%Y-%m-%dT{hour:02d}:00")


def member_texts(services: Services) -> list[str]:
    send_all(services)
    return [m.body for m in services.sender.messages() if m.to.startswith("+4670100")]  # type: ignore[attr-defined]


def meeting_rows(services: Services) -> int:
    return sum(m.kind is MessageKind.MEETING_SET for m in outbox(services))


def test_a_meeting_reposted_unchanged_texts_nobody_again(services, client, page):
    action, token = page
    form = {"csrf": token, "when": when(services), "place": "Folkets hus, rum 3"}
    assert client.post(f"{action}/meeting", data=form).status_code == 303
    sent = len(member_texts(services))
    assert sent == 5 + 5  # the invitations, then the meeting text to each of five
    for _ in range(4):  # a double tap, a browser re-posting the form, the back button
        answer = client.post(f"{action}/meeting", data=form)
        assert answer.status_code == 303 and answer.headers["location"] == "/f/groups?done=meeting_unchanged"
    assert text("sv", "done_meeting_unchanged") in client.get(answer.headers["location"]).text
    # The operators' command re-posted unchanged texts nobody either.
    [group] = groups(services)
    assert group.first_meeting_at is not None
    services.operations.set_first_meeting(group.id, group.first_meeting_at, group.meeting_place)
    assert meeting_rows(services) == 5 and len(member_texts(services)) == sent


def test_meeting_texts_go_out_at_most_three_times_a_day_per_group(services, client, page):
    action, token = page
    for place in ("Rum 1", "Rum 2", "Rum 3"):
        answer = client.post(f"{action}/meeting", data={"csrf": token, "when": when(services), "place": place})
        assert answer.status_code == 303
    fourth = client.post(f"{action}/meeting", data={"csrf": token, "when": when(services), "place": "Rum 4"})
    assert fourth.status_code == 429
    assert text("sv", "err_meeting_texts_today") in fourth.text
    assert meeting_rows(services) == 15 and groups(services)[0].meeting_place == "Rum 3"


def test_reports_to_the_coordinator_are_capped_at_three_a_day(services, client, page):
    action, token = page
    for n in range(3):
        assert client.post(f"{action}/report", data={"csrf": token, "note": f"Note {n}"}).status_code == 303
    fourth = client.post(f"{action}/report", data={"csrf": token, "note": "Note 4"})
    assert fourth.status_code == 429 and text("sv", "err_reports_today") in fourth.text
    assert sum(m.kind is MessageKind.FACILITATOR_REPORT for m in outbox(services)) == 3


def test_a_meeting_is_recorded_at_most_once_a_day(services, client, page, clock):
    action, token = page
    assert (
        client.post(f"{action}/meeting", data={"csrf": token, "when": when(services), "place": "Rum 1"}).status_code
        == 303
    )
    # Days later on the one clock every service, limiter and session reads: the facilitator opens their
    # link again (the session of four days ago has expired).
    link = link_in(texts_to(services, EVA)[0])
    clock.advance(days=4)
    token = open_page(client, link)
    assert client.post(f"{action}/held", data={"csrf": token}).status_code == 303
    again = client.post(f"{action}/held", data={"csrf": token})
    assert again.status_code == 429 and text("sv", "err_held_today") in again.text
    assert groups(services)[0].meetings_held == 1
    clock.advance(days=1, minutes=30)
    token = open_page(client, link)
    assert client.post(f"{action}/held", data={"csrf": token}).status_code == 303
    assert groups(services)[0].meetings_held == 2


def test_closing_and_handing_over_need_the_confirmation_box(services, client, page):
    action, token = page
    assert (
        client.post(f"{action}/meeting", data={"csrf": token, "when": when(services), "place": "Rum 1"}).status_code
        == 303
    )
    before = len(outbox(services))
    for step in ("hand_over", "close"):
        for confirm in ({}, {"confirm": ""}, {"confirm": "no"}):
            answer = client.post(f"{action}/{step}", data={"csrf": token, **confirm})
            assert answer.status_code == 400 and text("sv", "err_confirm_required") in answer.text
    assert groups(services)[0].status is GroupStatus.ACTIVE and len(outbox(services)) == before
    # The page's forms carry the box, required, for each of the two.
    roster = client.get("/f/groups").text
    assert roster.count('name="confirm" value="yes" required') == 2
    assert client.post(f"{action}/hand_over", data={"csrf": token, "confirm": "yes"}).status_code == 303
    assert groups(services)[0].status is GroupStatus.ON_ITS_OWN


def test_places_are_made_gsm7_and_limited_in_segments(services, client, page):
    action, token = page
    typed = "Folkets hus \u201cBl\u00e5 rummet\u201d \u2013 ing\u00e5ng fr\u00e5n g\u00e5rden\u2026"
    answer = client.post(f"{action}/meeting", data={"csrf": token, "when": when(services), "place": typed})
    assert answer.status_code == 303
    assert groups(services)[0].meeting_place == 'Folkets hus "Blå rummet" - ingång från gården...'
    texts = [t for t in member_texts(services) if "Blå rummet" in t]
    assert len(texts) == 5
    assert all(segment_info(t).encoding == "GSM-7" and segment_info(t).segments <= 2 for t in texts)

    emoji = client.post(f"{action}/meeting", data={"csrf": token, "when": when(services), "place": "Rum 2 \U0001f60a"})
    assert emoji.status_code == 400 and "\U0001f60a" in emoji.text
    assert text("sv", "err_place_not_gsm", characters="\U0001f60a") in emoji.text.replace("&#34;", '"')
    accents = client.post(  # the facilitator reads English too and chose it (?lang=): errors follow
        f"{action}/meeting?lang=en",
        data={"csrf": token, "when": when(services), "place": "Kárášjohka"},
    )
    assert accents.status_code == 400 and text("en", "err_place_not_gsm", characters="á š") in accents.text
    long = client.post(f"{action}/meeting", data={"csrf": token, "when": when(services), "place": "€" * 51})
    assert long.status_code == 400 and text("sv", "err_place_too_long", max=100) in long.text
    assert groups(services)[0].meeting_place.startswith("Folkets hus")
    assert meeting_rows(services) == 5  # none of the refused places texted anyone


def test_notes_are_limited_in_septets_and_name_what_cannot_be_sent(services, client, page):
    action, token = page
    assert client.post(f"{action}/report", data={"csrf": token, "note": "a" * 240}).status_code == 303
    answer = client.post(f"{action}/report?lang=en", data={"csrf": token, "note": "[" * 121})
    assert answer.status_code == 400 and text("en", "err_note_too_long", max=240) in answer.text
    answer = client.post(f"{action}/report", data={"csrf": token, "note": "Tack \u2764\ufe0f"})
    assert answer.status_code == 400 and "\u2764" in answer.text
    [report] = [m for m in outbox(services) if m.kind is MessageKind.FACILITATOR_REPORT]
    assert report.reason == "a" * 240
