"""The resident form, the code page and withdrawal, through HTTP as a browser without JavaScript uses them."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.adapters.sms.local import LocalOutboxSender
from shared.adapters.storage import INTERESTS
from shared.composition import Services, build_services
from shared.core import i18n
from shared.local import azurite as azurite_module
from shared.local.azurite import Azurite
from shared.settings import Settings
from shared.web.app import create_app

PHONE = "070-174 06 20"
E164 = "+46701740620"
NAME = "Zacharias"


# --- reading pages --------------------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Page:
    status: int
    html: str
    elements: list[Element] = field(default_factory=list)

    def by_id(self, element_id: str) -> Element | None:
        return next((e for e in self.elements if e.attrs.get("id") == element_id), None)

    def named(self, name: str) -> list[Element]:
        return [e for e in self.elements if e.attrs.get("name") == name]

    def value(self, name: str) -> str | None:
        [element] = [e for e in self.named(name) if e.tag in ("input", "textarea")]
        return element.attrs.get("value")

    def checked(self, name: str) -> list[str]:
        return [e.attrs.get("value", "on") for e in self.named(name) if "checked" in e.attrs]

    def selected(self, name: str) -> list[str]:
        assert len([e for e in self.elements if e.tag == "select"]) == 1 and self.named(name)[0].tag == "select"
        return [e.attrs.get("value", "") for e in self.elements if e.tag == "option" and "selected" in e.attrs]

    @property
    def lang(self) -> str | None:
        return next((e.attrs.get("lang") for e in self.elements if e.tag == "html"), None)

    def described_by(self, element_id: str) -> list[str]:
        element = self.by_id(element_id)
        assert element is not None, f"no element #{element_id}"
        return (element.attrs.get("aria-describedby") or "").split()


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: (v if v is not None else "") for k, v in attrs})
        self.elements.append(element)
        if tag not in {"input", "meta", "link", "br", "img", "hr"}:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data


def page_of(response: Any) -> Page:
    parser = _Parser()
    parser.feed(response.text)
    return Page(response.status_code, response.text, parser.elements)


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- helpers --------------------------------------------------------------------------------------


def form(**changes: str | None) -> dict[str, str]:
    data: dict[str, str | None] = {
        "locale": "sv",
        "theme": "stress",
        "name": NAME,
        "phone": PHONE,
        "area": "jonkoping",
        "age_confirmed": "on",
        "consent": "on",
        "pledge": "on",
        "website": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def interest_rows(services: Services) -> list[dict[str, Any]]:
    """Every row about people (interests, phone markers, groups, texts); aggregate statistics rows aside."""
    return [dict(e) for e in services.storage.table(INTERESTS).list_entities() if e.get("Kind") != "stats"]


def code_from(outbox: LocalOutboxSender) -> str:
    match = re.search(r"\b(\d{6})\b", outbox.messages()[-1].body)
    assert match
    return match.group(1)


@pytest.fixture
def web(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: services)) as test_client:
        yield test_client


# --- the form -------------------------------------------------------------------------------------


def test_the_form_is_swedish_by_default_and_lists_every_theme(web: TestClient, services: Services) -> None:
    page = page_of(web.get("/"))
    assert page.status == 200
    assert page.lang == "sv"
    assert i18n.translate("sv", "form_title") in page.html
    assert [e.attrs["value"] for e in page.named("theme")] == [t.id for t in services.organisation.themes]
    labels = {e.attrs["for"] for e in page.elements if e.tag == "label"}
    for name in ("name", "phone", "area", "age_confirmed", "consent", "pledge"):
        assert name in labels, f"no label for {name}"
    assert i18n.translate("sv", "needed_other", n=5) in page.html


@pytest.mark.parametrize(
    ("how", "lang"),
    [({"params": {"lang": "en"}}, "en"), ({"headers": {"Accept-Language": "en-US,en;q=0.8"}}, "en")],
)
def test_the_form_speaks_the_readers_language(web: TestClient, how: dict, lang: str) -> None:
    page = page_of(web.get("/", **how))
    assert page.lang == lang
    assert i18n.translate(lang, "form_title") in page.html


def test_a_good_submission_leads_to_the_code_page_then_thanks(
    web: TestClient, services: Services, outbox: LocalOutboxSender
) -> None:
    page = page_of(web.post("/", data=form()))
    assert page.status == 200
    assert page.by_id("code") is not None
    assert i18n.translate("sv", "verify_text", last_digits="20") in page.html
    [sms] = outbox.messages()
    assert sms.to == E164

    hidden = {e.attrs["name"]: e.attrs.get("value", "") for e in page.elements if e.attrs.get("type") == "hidden"}
    wrong = page_of(web.post("/verify", data={**hidden, "code": "000000" if code_from(outbox) != "000000" else "1"}))
    assert wrong.status == 400
    assert "code-error" in wrong.described_by("code")

    thanks = page_of(web.post("/verify", data={**hidden, "code": code_from(outbox)}))
    assert thanks.status == 200
    assert i18n.plural("sv", "thanks_waiting", 4, theme="Stress").split(" ")[0] in thanks.html
    [row] = [r for r in interest_rows(services) if r.get("Kind") == "interest"]
    assert row["Status"] == "waiting"

    # The withdraw button on the thanks page works (posted: the token is in no URL).
    form_fields = {e.attrs["name"]: e.attrs.get("value", "") for e in thanks.elements if e.tag == "input"}
    assert form_fields["token"] == hidden["withdraw_token"]
    confirm = page_of(web.post("/withdraw/confirm", data=form_fields))
    assert confirm.status == 200
    fields = {e.attrs["name"]: e.attrs.get("value", "") for e in confirm.elements if e.attrs.get("type") == "hidden"}
    done = page_of(web.post("/withdraw", data=fields))
    assert done.status == 200
    assert i18n.translate("sv", "withdrawn_title") in done.html
    assert interest_rows(services) == []


def test_a_bad_submission_keeps_every_value_and_explains_each_field(
    web: TestClient, services: Services, outbox: LocalOutboxSender
) -> None:
    typed = form(name='Anna <b>"fet"</b>', phone="036-10 50 00", area="eksjo", theme="anhorig", consent=None)
    page = page_of(web.post("/", data=typed))
    assert page.status == 422
    assert page.lang == "sv"

    assert page.value("name") == typed["name"]
    assert page.value("phone") == typed["phone"]
    assert page.checked("theme") == ["anhorig"]
    assert page.selected("area") == ["eksjo"]
    assert page.checked("age_confirmed") == ["on"]
    assert page.checked("consent") == []
    assert page.checked("pledge") == ["on"]
    assert "<b>" not in page.html.split("<form", 1)[1].split("</form>")[0].replace("&lt;b&gt;", "")

    for field_id, code in (("name", "name_invalid"), ("phone", "phone_not_mobile"), ("consent", "consent_required")):
        error = page.by_id(f"{field_id}-error")
        assert error is not None, f"no message for {field_id}"
        assert i18n.translate("sv", f"err_{code}") in error.text
        assert f"{field_id}-error" in page.described_by(field_id)
        assert page.by_id(field_id).attrs.get("aria-invalid") == "true"  # type: ignore[union-attr]
    for fine in ("theme", "area", "age_confirmed", "pledge"):
        assert page.by_id(f"{fine}-error") is None
    assert interest_rows(services) == []
    assert outbox.messages() == []


def test_every_missing_field_is_reported_and_linked(web: TestClient) -> None:
    page = page_of(web.post("/?lang=en", data={"locale": "en"}))
    assert page.status == 422
    assert page.lang == "en"
    for field_id, code in (
        ("theme", "theme_required"),
        ("name", "name_required"),
        ("phone", "phone_required"),
        ("area", "area_required"),
        ("age_confirmed", "age_required"),
        ("consent", "consent_required"),
        ("pledge", "pledge_required"),
    ):
        error = page.by_id(f"{field_id}-error")
        assert error is not None, field_id
        assert i18n.translate("en", f"err_{code}", age=20) in error.text
        assert f"{field_id}-error" in page.described_by(field_id)
        # The summary links to the field (or, for a group of radios, to its first choice).
        targets = [page.by_id(e.attrs["href"][1:]) for e in page.elements if e.attrs.get("href", "").startswith("#")]
        assert any(t is not None and field_id in (t.attrs.get("id"), t.attrs.get("name")) for t in targets), field_id
    # Every unchecked box stays unchecked, nothing is chosen.
    assert page.checked("theme") == page.checked("age_confirmed") == page.checked("pledge") == []
    assert page.selected("area") == [""] or page.selected("area") == []


def test_a_rejected_form_in_norwegian(web: TestClient) -> None:
    page = page_of(web.post("/", data=form(locale="nb", pledge=None)))
    assert page.status == 422
    assert page.lang == "nb"
    error = page.by_id("pledge-error")
    assert error is not None and i18n.translate("nb", "err_pledge_required") in error.text


def test_the_honeypot_answers_like_success_but_stores_and_sends_nothing(
    web: TestClient, services: Services, outbox: LocalOutboxSender
) -> None:
    page = page_of(web.post("/", data=form(website="https://spam.example")))
    assert page.status == 200
    assert page.by_id("code") is not None  # looks like the code page
    assert interest_rows(services) == []
    assert outbox.messages() == []


def test_a_duplicate_on_the_form_looks_like_any_registration_and_merges_at_the_code(
    web: TestClient, services: Services, outbox: LocalOutboxSender
) -> None:
    first = page_of(web.post("/", data=form()))
    hidden = {e.attrs["name"]: e.attrs.get("value", "") for e in first.elements if e.attrs.get("type") == "hidden"}
    assert web.post("/verify", data={**hidden, "code": code_from(outbox)}).status_code == 200
    page = page_of(web.post("/", data=form(name="Zack")))
    assert page.status == 200
    assert page.by_id("code") is not None  # the code page, as for anyone
    again = {e.attrs["name"]: e.attrs.get("value", "") for e in page.elements if e.attrs.get("type") == "hidden"}
    thanks = page_of(web.post("/verify", data={**again, "code": code_from(outbox)}))
    assert thanks.status == 200
    # The thanks page withdraws the one registration there is, with the newest token.
    fields = {e.attrs["name"]: e.attrs.get("value", "") for e in thanks.elements if e.attrs.get("type") == "hidden"}
    assert fields["id"] == hidden["id"] and fields["token"] == again["withdraw_token"]
    [row] = [r for r in interest_rows(services) if r.get("Kind") == "interest"]
    assert row["Name"] == "Zack"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"theme": "stress"}', "application/json"),
        (b"theme=stress", "text/plain"),
        (b"theme=stress", None),
        (b"<xml/>", "application/xml"),
    ],
)
def test_a_form_post_in_another_format_is_415(
    web: TestClient, services: Services, content: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    for path in ("/", "/verify", "/withdraw"):
        response = web.post(path, content=content, headers=headers)
        assert response.status_code == 415, path
    assert interest_rows(services) == []


def test_a_form_over_64_kib_is_413(web: TestClient, services: Services) -> None:
    response = web.post("/", data=form(name="x" * (70 * 1024)))
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length
        yield b"theme=stress&name="
        for _ in range(80):
            yield b"x" * 1024

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert web.post("/", content=chunks(), headers=headers).status_code == 413
    assert interest_rows(services) == []


def test_a_form_with_bytes_that_are_not_utf8_is_a_clear_4xx(web: TestClient, services: Services) -> None:
    body = b"theme=stress&name=%FF%FE&phone=070-174+06+20&area=jonkoping&age_confirmed=on&consent=on&pledge=on"
    response = web.post("/", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= response.status_code < 500
    raw = b"theme=stress&name=\xff\xfe&phone=070"
    response = web.post("/", content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= response.status_code < 500
    broken = web.post("/", content=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert 400 <= broken.status_code < 500
    assert interest_rows(services) == []


def test_verify_page_rejects_a_malformed_code_without_calling_storage(web: TestClient) -> None:
    page = page_of(web.post("/verify", data={"id": "stress.0123456789abcdef01234567", "code": "12ab"}))
    assert page.status == 400
    error = page.by_id("code-error")
    assert error is not None and i18n.translate("sv", "err_code_format") in error.text


def test_verify_page_for_an_unknown_interest_says_start_again(web: TestClient) -> None:
    page = page_of(web.post("/verify", data={"id": "stress.0123456789abcdef01234567", "code": "123456"}))
    assert page.status == 410
    assert i18n.translate("sv", "err_code_expired") in page.html


def test_withdraw_with_a_wrong_token_on_the_page_deletes_nothing(
    web: TestClient, services: Services, outbox: LocalOutboxSender
) -> None:
    page = page_of(web.post("/", data=form()))
    interest_id = next(e.attrs["value"] for e in page.named("id"))
    response = web.post("/withdraw", data={"id": interest_id, "token": "guess"})
    assert response.status_code == 404
    assert len([r for r in interest_rows(services) if r.get("Kind") == "interest"]) == 1


# --- storage down ---------------------------------------------------------------------------------


@pytest.fixture
def own_azurite() -> Iterator[Azurite]:
    """An Azurite of this test's own, which it may stop and start again (never the session's)."""
    emulator = Azurite()
    emulator.start()
    yield emulator
    emulator.stop()


def restart_on_same_ports(emulator: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    ports = iter(emulator.ports.values())
    monkeypatch.setattr(azurite_module, "free_port", lambda: next(ports))
    emulator.start()


@pytest.mark.azurite  # stops and starts an Azurite of its own
def test_storage_down_keeps_the_form_and_says_so_in_swedish(
    own_azurite: Azurite,
    make_services: Callable[..., Services],
    outbox: LocalOutboxSender,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = make_services(AzureWebJobsStorage=own_azurite.connection_string)
    with TestClient(create_app(lambda: services)) as web:
        assert web.get("/").status_code == 200
        own_azurite.stop()

        typed = form(name="Åsa-Märta", theme="anhorig", area="eksjo", pledge=None, consent="on")
        typed["pledge"] = "on"
        response = web.post("/", data=typed)
        page = page_of(response)
        assert page.status == 503
        assert page.lang == "sv"
        assert i18n.translate("sv", "unavailable_text") in text_of(page.html)
        assert page.value("name") == "Åsa-Märta"
        assert page.value("phone") == PHONE
        assert page.checked("theme") == ["anhorig"]
        assert page.selected("area") == ["eksjo"]
        assert page.checked("age_confirmed") == page.checked("consent") == page.checked("pledge") == ["on"]
        assert outbox.messages() == []  # no code for a registration that was not stored

        # The JSON API and the other pages say 503 too, never 500.
        api = web.post(
            "/api/interests",
            json={
                "theme": "anhorig",
                "name": "Åsa",
                "phone": PHONE,
                "area": "eksjo",
                "age_confirmed": True,
                "consent": True,
            },
        )
        assert api.status_code == 503
        assert api.json()["error"] == "storage_unavailable"
        assert "Retry-After" in api.headers
        assert web.post("/verify", data={"id": "anhorig.0123456789abcdef01234567", "code": "123456"}).status_code == 503
        assert web.post("/withdraw", data={"id": "anhorig.0123456789abcdef01234567", "token": "x"}).status_code == 503
        # The form itself still shows (the counts are a courtesy).
        still = page_of(web.get("/"))
        assert still.status == 200 and still.by_id("name") is not None

        # Storage comes back: the same submission goes through. This Azurite is in memory, so it comes back
        # empty; the app created its tables once and does not notice them gone (TableNotFound is a 500 —
        # reported, outside this suite's files), so the test recreates them as Bicep would.
        restart_on_same_ports(own_azurite, monkeypatch)
        services.storage.ensure_resources()
        assert web.post("/", data=typed).status_code == 200
        rows = [r for r in interest_rows(services) if r.get("Kind") == "interest"]
        assert [(r["Name"], r["PartitionKey"], r["Area"]) for r in rows] == [("Åsa-Märta", "anhorig", "eksjo")]
        assert len(outbox.messages()) == 1


@pytest.mark.azurite  # stops and starts an Azurite of its own
def test_storage_down_at_start_recovers_when_it_comes_up(
    own_azurite: Azurite,
    make_settings: Callable[..., Settings],
    outbox: LocalOutboxSender,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = own_azurite.connection_string
    own_azurite.stop()
    services = build_services(make_settings(AzureWebJobsStorage=connection), sender=outbox)
    with TestClient(create_app(lambda: services)) as web:  # starts although storage is down
        page = page_of(web.post("/", data=form()))
        assert page.status == 503
        assert page.value("name") == NAME
        assert outbox.messages() == []
        # No count could be read: no theme claims a group can start, or how many are needed.
        assert 'class="needed"' not in page.html

        restart_on_same_ports(own_azurite, monkeypatch)
        page = page_of(web.post("/", data=form()))
        assert page.status == 200, page.html
        assert [r["Name"] for r in interest_rows(services) if r.get("Kind") == "interest"] == [NAME]


# --- logs -----------------------------------------------------------------------------------------


def test_no_name_number_or_code_in_any_log_line(
    web: TestClient, services: Services, outbox: LocalOutboxSender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    name = "Hjördis"
    page = page_of(web.post("/", data=form(name=name, phone="+46 70 174 06 21")))
    assert page.status == 200
    hidden = {e.attrs["name"]: e.attrs.get("value", "") for e in page.elements if e.attrs.get("type") == "hidden"}
    code = code_from(outbox)
    assert web.post("/verify", data={**hidden, "code": code}).status_code == 200
    api = web.post(
        "/api/interests",
        json={
            "theme": "anhorig",
            "name": name,
            "phone": "0701740621",
            "area": "eksjo",
            "age_confirmed": True,
            "consent": True,
        },
    ).json()
    api_code = code_from(outbox)
    assert web.post(f"/api/interests/{api['id']}/verify", json={"code": api_code}).status_code == 200
    assert web.post("/", data=form(name=name, phone="070-174 06 21")).status_code == 200  # the duplicate path
    assert web.post("/", data=form(name=name, phone="036-10 50 00")).status_code == 422  # a refused number
    deleted = web.delete(f"/api/interests/{api['id']}", headers={"Authorization": f"Bearer {api['withdraw_token']}"})
    assert deleted.status_code == 204
    assert web.post("/withdraw", data={"id": hidden["id"], "token": hidden["withdraw_token"]}).status_code == 200

    lines = [record.getMessage() for record in caplog.records]
    lines += [caplog.text]
    assert len(caplog.records) > 0  # logging at DEBUG really was captured
    logged = "\n".join(lines)
    for secret in (name, "Hj%C3%B6rdis", "+46701740621", "701740621", "70 174 06 21", "3610500"):
        assert secret not in logged, secret
    for secret in (code, api_code):
        assert not re.search(rf"(?<![0-9A-Za-z]){secret}(?![0-9A-Za-z])", logged), "a code was logged"
