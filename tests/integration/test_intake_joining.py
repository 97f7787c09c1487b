"""Late joiners are told the truth (issue 12): when a group that is starting has a seat for them, the
verify API answers `joining` and the thanks page says they have a place, in their language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from shared.adapters.sms.local import LocalOutboxSender
from shared.composition import Services
from shared.core import i18n
from shared.core.domain import utcnow
from shared.web.app import create_app
from tests.support.wiring import rewired


def number(i: int) -> tuple[str, str]:
    """PTS numbers reserved for fiction (070-174 06 05 … 99): as typed, and in E.164."""
    return f"070-174 06 {20 + i:02d}", f"+467017406{20 + i:02d}"


def code_to(outbox: LocalOutboxSender, e164: str) -> str:
    [*_, last] = [m for m in outbox.messages() if m.to == e164]
    match = re.search(r"\b(\d{6})\b", last.body)
    assert match
    return match.group(1)


def join(api: TestClient, outbox: LocalOutboxSender, i: int, area: str = "jonkoping") -> dict:
    phone, e164 = number(i)
    body = {
        "theme": "stress",
        "name": f"Person {i}",
        "phone": phone,
        "area": area,
        "age_confirmed": True,
        "consent": True,
    }
    created = api.post("/api/interests", json=body)
    assert created.status_code == 201, created.text
    verified = api.post(f"/api/interests/{created.json()['id']}/verify", json={"code": code_to(outbox, e164)})
    assert verified.status_code == 200, verified.text
    return verified.json()


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: services)) as client:
        yield client


def a_group_of(api: TestClient, services: Services, outbox: LocalOutboxSender, size: int) -> None:
    answers = [join(api, outbox, i) for i in range(size)]
    # Before the group forms nobody is told they joined one: the fifth hears that a group can start.
    assert [a["status"] for a in answers] == ["waiting"] * size
    assert answers[-1]["needed"] == 0
    report = services.formation.form_theme("stress")
    assert report.groups_formed == 1


def test_a_late_joiner_with_a_seat_in_a_starting_group_is_told_joining(
    api: TestClient, services: Services, outbox: LocalOutboxSender
) -> None:
    a_group_of(api, services, outbox, 5)
    answer = join(api, outbox, 5)
    assert answer["status"] == "joining"
    assert answer["needed"] == 0
    # And so it is: the formation the verification asked for places them.
    assert services.formation.form_theme("stress").members_joined == 1


def test_a_late_joiner_in_another_area_waits_for_their_own_group(
    api: TestClient, services: Services, outbox: LocalOutboxSender
) -> None:
    assert services.organisation.match_by_area
    a_group_of(api, services, outbox, 5)
    answer = join(api, outbox, 5, area="habo")
    assert (answer["status"], answer["needed"]) == ("waiting", None)  # 1 waits: withheld


def test_a_full_group_takes_no_late_joiner(api: TestClient, services: Services, outbox: LocalOutboxSender) -> None:
    a_group_of(api, services, outbox, services.organisation.group_size.max)
    answer = join(api, outbox, 20)
    assert (answer["status"], answer["needed"]) == ("waiting", None)  # 1 waits: withheld


def test_a_group_past_its_join_window_takes_no_late_joiner(
    api: TestClient, services: Services, outbox: LocalOutboxSender
) -> None:
    a_group_of(api, services, outbox, 5)
    later = utcnow() + timedelta(days=services.settings.join_window_days, hours=1)
    services.intake = rewired(services, clock=lambda: later).intake
    answer = join(api, outbox, 5)
    assert (answer["status"], answer["needed"]) == ("waiting", None)  # 1 waits: withheld


@pytest.mark.parametrize("locale", ["sv", "en"])
def test_the_thanks_page_says_they_have_joined_a_group_that_is_starting(
    api: TestClient, services: Services, outbox: LocalOutboxSender, locale: str
) -> None:
    a_group_of(api, services, outbox, 5)
    phone, e164 = number(5)
    form = {
        "locale": locale,
        "theme": "stress",
        "name": "Zacharias",
        "phone": phone,
        "area": "jonkoping",
        "age_confirmed": "on",
        "consent": "on",
        "pledge": "on",
        "website": "",
    }
    page = api.post(f"/?lang={locale}", data=form)
    assert page.status_code == 200
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    thanks = api.post(f"/verify?lang={locale}", data={**hidden, "code": code_to(outbox, e164)})
    assert thanks.status_code == 200
    label = services.organisation.theme_text("stress", locale).label
    assert i18n.translate(locale, "thanks_joining", theme=label) in thanks.text
    assert i18n.translate(locale, "thanks_starting", theme=label) not in thanks.text


def test_the_wording_is_native_in_every_language() -> None:
    # After the theme and a colon, lower case (issue 20's review).
    assert i18n.translate("sv", "thanks_joining", theme="T") == "T: du har fått en plats i en grupp som just startar."
    assert i18n.translate("nb", "thanks_joining", theme="T") == "T: du har fått plass i en gruppe som akkurat starter."
    assert "joined a group that is just starting" in i18n.translate("en", "thanks_joining", theme="T")
