"""The resident pages in a real browser: Debian's Chromium, a phone-size viewport, axe-core on every page.

Each test gets empty tables and its own live server (see tests/conftest.py), so counts start at zero.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from shared.composition import Services
from shared.core import i18n
from shared.core.domain import InterestStatus
from tests.conftest import LiveServer, municipality
from tests.e2e.conftest import assert_accessible
from tests.support.tables import interests

pytestmark = pytest.mark.e2e

THEME = "stress"
THEME_LABEL_SV = "Stress"
NAME = "Anna"
PHONE_TYPED = "070-123 45 67"
PHONE_E164 = "+46701234567"
MUNICIPALITY = "Jönköping"
FORM_CONTROLS = ["theme", "name", "phone", "area", "age_confirmed", "consent", "pledge"]


def sv(key: str, **values: object) -> str:
    return i18n.translate("sv", key, **values)


def open_form(page: Any, base_url: str, query: str = "") -> None:
    response = page.goto(f"{base_url}/{query}")
    assert response is not None and response.status == 200, response and response.status


def fill_form(page: Any, *, name: str = NAME, phone: str = PHONE_TYPED, theme: str = THEME) -> None:
    """Fill the Swedish form as a person does: click the theme's label, type, pick, tick."""
    page.locator(f"label[for='theme-{theme}']").click()
    expect(page.locator(f"#theme-{theme}")).to_be_checked()
    page.get_by_label(sv("name_label")).press_sequentially(name)
    page.get_by_label(sv("phone_label")).press_sequentially(phone)
    page.get_by_label(sv("area_label")).select_option(label=MUNICIPALITY)
    page.get_by_label(sv("age_label", age=20)).check()
    page.get_by_label(sv("consent_label")).check()
    page.get_by_label(sv("pledge_label")).check()


def submit_with_enter(page: Any) -> int:
    """Implicit submission: Enter in a text field sends the form, as on a phone keyboard's Go key."""
    with page.expect_navigation() as navigation:
        page.get_by_label(sv("name_label")).press("Enter")
    return navigation.value.status


def submit_with_button(page: Any, label: str) -> int:
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=label).click()
    return navigation.value.status


def sent_code(outbox: Any, to: str = PHONE_E164) -> str:
    messages = outbox.messages()
    assert messages, "no SMS was sent"
    last = messages[-1]
    assert last.to == to
    match = re.search(r"(?<!\d)(\d{6})(?!\d)", last.body)
    assert match, f"no 6-digit code in the SMS: {last.body!r}"
    return match.group(1)


def register_and_verify(page: Any, live_server: Any, outbox: Any) -> None:
    open_form(page, live_server.url)
    fill_form(page)
    assert submit_with_enter(page) == 200
    page.get_by_label(sv("code_label")).press_sequentially(sent_code(outbox))
    assert submit_with_button(page, sv("verify_submit")) == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("thanks_title"))


def waiting(services: Services, theme: str = THEME) -> int:
    """Who waits, read from the table (the public API withholds counts under the threshold, issue 23.6)."""
    return sum(1 for person in interests(services, theme) if person.status == InterestStatus.WAITING)


def described_by(page: Any, selector: str) -> list[str]:
    return (page.locator(selector).get_attribute("aria-describedby") or "").split()


def assert_language_links_work(page: Any) -> None:
    """Every language link on the page leads to a page (200) in that language, never to a dead end."""
    links = page.locator("header.site").get_by_role("navigation").get_by_role("link")
    assert links.count() >= 2
    for link in links.all():
        code = link.get_attribute("hreflang")
        url = link.evaluate("a => a.href")
        response = page.request.get(url)
        assert response.status == 200, f"{url} → {response.status} (from {page.url})"
        assert f'<html lang="{code}">' in response.text(), url


def screenshot(page: Any, name: str) -> None:
    """Screenshots only on request (E2E_SCREENSHOTS=dir): never part of the checkout."""
    directory = os.environ.get("E2E_SCREENSHOTS")
    if directory:
        page.screenshot(path=os.path.join(directory, f"{name}.png"), full_page=True)


def test_axe_check_can_fail(page: Any) -> None:
    """The accessibility check itself: a page with known defects must not pass."""
    page.set_content("<html><body><img src='x.png'><input type='text'><a href='#'></a></body></html>")
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page, "a deliberately broken page")
    for rule in ("html-has-lang", "image-alt", "label", "link-name"):
        assert rule in str(failure.value), rule


def test_a_checkbox_hint_reads_at_full_width_beside_its_box(page: Any, live_server: Any) -> None:
    """The under-age pointer sits under its label, not squeezed into the checkbox's narrow column."""
    open_form(page, live_server.url)
    hint, label = page.locator("#age_confirmed-hint"), page.locator("label[for=age_confirmed]")
    expect(hint).to_be_visible()
    hint_box, label_box = hint.bounding_box(), label.bounding_box()
    assert hint_box is not None and label_box is not None
    assert abs(hint_box["x"] - label_box["x"]) < 2, (hint_box, label_box)
    assert hint_box["width"] > 0.8 * label_box["width"], (hint_box, label_box)


def test_swedish_happy_path_on_a_phone(page: Any, live_server: Any, outbox: Any, services: Services) -> None:
    open_form(page, live_server.url)
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("form_title"))
    expect(page).to_have_title(re.compile(re.escape(sv("form_title"))))
    # Every theme says how many more it needs; nobody waits yet, so 5 (the group minimum).
    expect(page.locator(f"#theme-{THEME}-desc .needed")).to_have_text(i18n.plural("sv", "needed", 5))
    main = page.locator("main")
    expect(main).to_contain_text("två timmar, till en början en gång i veckan")
    expect(page.get_by_role("link", name=re.compile("1177.se"))).to_be_visible()
    expect(main).to_contain_text("Birgitta Ekeberg")
    crisis = page.get_by_role("complementary", name=sv("crisis_heading"))
    for number in ("112", "90101", "1177"):
        expect(crisis.get_by_role("link", name=number, exact=True)).to_have_attribute("href", f"tel:{number}")
    expect(page.locator("#age_confirmed")).to_have_accessible_description(re.compile("Bris"))
    expect(page.locator("label[for='theme-annat'] .label")).to_have_text("Annat")
    expect(page.locator("#theme-sorg")).to_have_count(0)
    for key in ("privacy_link", "accessibility_link"):
        expect(page.locator("footer").get_by_role("link", name=sv(key))).to_be_visible()
    assert_accessible(page, "the empty form")
    assert_language_links_work(page)
    screenshot(page, "form")

    fill_form(page)
    assert_accessible(page, "the filled form")
    assert submit_with_enter(page) == 200

    expect(page.get_by_role("heading", level=1)).to_have_text(sv("verify_title"))
    expect(page.locator("main")).to_contain_text(sv("verify_text", last_digits="67"))
    code_field = page.get_by_label(sv("code_label"))
    expect(code_field).to_have_attribute("inputmode", "numeric")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    assert_accessible(page, "the verify page")
    assert_language_links_work(page)
    screenshot(page, "verify")
    code_field.press_sequentially(sent_code(outbox))
    assert submit_with_button(page, sv("verify_submit")) == 200

    expect(page.get_by_role("heading", level=1)).to_have_text(sv("thanks_title"))
    # One waits (the resident): under the small-count threshold, so no "4 more" (issue 23.6).
    expect(page.locator(".needed-now")).to_have_text(sv("thanks_waiting_few", theme=THEME_LABEL_SV))
    expect(page.locator(".small-counts")).to_have_text(sv("needed_rule", threshold=5))
    expect(page.get_by_role("button", name=sv("withdraw_link"))).to_be_visible()  # posted: no token in a URL
    expect(page.get_by_role("complementary", name=sv("crisis_heading"))).to_contain_text("90101")
    assert_accessible(page, "the thank-you page")
    assert_language_links_work(page)
    screenshot(page, "thanks")
    assert waiting(services) == 1


def test_errors_are_summarised_tied_to_fields_and_keep_values(page: Any, live_server: Any, outbox: Any) -> None:
    open_form(page, live_server.url)
    assert submit_with_button(page, sv("submit")) == 422

    expect(page).to_have_title(re.compile("^" + re.escape(sv("error_prefix"))))
    summary = page.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("heading")).to_have_text(sv("errors_heading"))
    links = summary.get_by_role("link")
    targets = [links.nth(i).get_attribute("href") for i in range(links.count())]
    # Each link leads to its field; the theme's leads into the radio group (a fieldset takes no focus).
    assert targets == ["#theme-sjukdom", *(f"#{field}" for field in FORM_CONTROLS[1:])]
    expected = {
        "theme": "err_theme_required",
        "name": "err_name_required",
        "phone": "err_phone_required",
        "area": "err_area_required",
        "age_confirmed": "err_age_required",
        "consent": "err_consent_required",
        "pledge": "err_pledge_required",
    }
    for field, key in expected.items():
        text = sv(key, age=20)
        target = page.locator(f"#{field}")
        expect(target).to_have_count(1)
        assert f"{field}-error" in described_by(page, f"#{field}"), field
        expect(page.locator(f"#{field}-error")).to_contain_text(text)
        expect(target).to_have_accessible_description(re.compile(re.escape(text)))
        if field != "theme":
            expect(target).to_have_attribute("aria-invalid", "true")
    # Following a summary link puts the keyboard focus in the field.
    for i, target in enumerate(targets):
        page.get_by_role("alert").get_by_role("link").nth(i).click()
        expect(page.locator(target)).to_be_focused()
    assert_accessible(page, "the form with every field wrong")

    # A partial error: only the phone is wrong; everything typed is still there.
    fill_form(page, phone="12")
    assert submit_with_enter(page) == 422
    expect(page.get_by_role("alert").get_by_role("link")).to_have_count(1)
    expect(page.locator("#name")).to_have_value(NAME)
    expect(page.locator("#phone")).to_have_value("12")
    expect(page.locator(f"#theme-{THEME}")).to_be_checked()
    expect(page.get_by_label(sv("area_label"))).to_have_value("jonkoping")
    for box in ("age_confirmed", "consent", "pledge"):
        expect(page.locator(f"#{box}")).to_be_checked()
        expect(page.locator(f"#{box}")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name")).not_to_have_attribute("aria-invalid", "true")
    assert "name-error" not in described_by(page, "#name")
    expect(page.locator("#phone")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#phone")).to_have_accessible_description(re.compile(re.escape(sv("err_phone_invalid"))))
    assert_accessible(page, "the form with a wrong phone number")
    assert outbox.messages() == []

    # Fix the number; then type a wrong code.
    page.locator("#phone").fill(PHONE_TYPED)
    assert submit_with_button(page, sv("submit")) == 200
    right = sent_code(outbox)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    page.get_by_label(sv("code_label")).press_sequentially(wrong)
    assert submit_with_button(page, sv("verify_submit")) == 400
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("verify_title"))
    code = page.locator("#code")
    assert "code-error" in described_by(page, "#code")
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(code).to_have_accessible_description(re.compile(re.escape(sv("err_code_wrong"))))
    expect(page.get_by_role("alert")).to_contain_text(sv("err_code_wrong"))
    assert_accessible(page, "the verify page with a wrong code")

    # The right code still works after a wrong one.
    code.fill(right)
    assert submit_with_button(page, sv("verify_submit")) == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("thanks_title"))


FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute('name'), type: el.getAttribute('type'),
    cls: el.className, text: (el.textContent || '').trim().slice(0, 40),
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
    inView: (() => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth;
    })(),
  };
}"""


def test_keyboard_reaches_every_control_in_order(page: Any, live_server: Any) -> None:
    open_form(page, live_server.url)
    page.keyboard.press("Tab")
    first = page.evaluate(FOCUSED)
    assert first is not None and "skip" in first["cls"], first
    assert first["text"] == sv("skip_to_content")
    assert first["inView"] and first["outline"], "the skip link must be visible when focused"

    stops: list[dict[str, Any]] = [first]
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None or "skip" in focused["cls"]:
            break  # left the page (or wrapped around): no trap
        stops.append(focused)
    else:
        pytest.fail(f"Tab never left the page: a focus trap? {stops[-5:]}")

    for stop in stops:
        assert stop["outline"], f"no visible focus indicator on {stop}"
        assert stop["inView"], f"focused element scrolled out of view: {stop}"
    names = [s["name"] or s["tag"] for s in stops if s["tag"] in ("input", "select", "button", "textarea")]
    assert names == [*FORM_CONTROLS, "button"], names
    assert all(s["id"] != "website" for s in stops)
    radio = next(s for s in stops if s["name"] == "theme")
    assert radio["id"] == "theme-sjukdom", "with nothing chosen, Tab lands on the first theme"

    # The honeypot is out of reach of both the keyboard and assistive technology.
    honeypot = page.locator("#website")
    expect(honeypot).to_have_attribute("tabindex", "-1")
    assert page.evaluate("() => !!document.getElementById('website').closest('[aria-hidden=true]')")
    expect(honeypot).not_to_be_in_viewport()

    # The skip link moves focus past the header to the main content.
    page.locator(".skip").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "content"
    # From the main content, Tab passes the scheme's links and the crisis numbers, then reaches the themes.
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.name") == "theme":
            break
    assert page.evaluate("() => document.activeElement.name") == "theme"

    # Arrow keys move between themes; Space on a checkbox ticks it.
    page.keyboard.press("ArrowDown")
    expect(page.locator("#theme-smarta")).to_be_checked()
    expect(page.locator("#theme-smarta")).to_be_focused()
    page.locator("#pledge").focus()
    page.keyboard.press("Space")
    expect(page.locator("#pledge")).to_be_checked()


@pytest.mark.parametrize("locale", ["en", "nb"])
def test_other_languages_render_complete_accessible_pages(page: Any, live_server: Any, locale: str) -> None:
    open_form(page, live_server.url, f"?lang={locale}")
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expect(page.get_by_role("heading", level=1)).to_have_text(i18n.translate(locale, "form_title"))
    expect(page.get_by_role("button", name=i18n.translate(locale, "submit"))).to_be_visible()
    expect(page.get_by_label(i18n.translate(locale, "phone_label"))).to_be_visible()
    expect(page.locator(".skip")).to_have_text(i18n.translate(locale, "skip_to_content"))
    # No Swedish interface text is left on the page (theme texts may fall back, marked with their own lang).
    body = page.locator("body").inner_text()
    for key in ("form_intro", "consent_text", "name_hint", "submit", "theme_legend"):
        assert sv(key) not in body, key
    themes = municipality("region-jonkoping")["organisation"]["themes"]
    for theme in themes:
        text = theme["text"].get(locale) or theme["text"]["sv"]
        label = page.locator(f"label[for='theme-{theme['id']}'] .label")
        expect(label).to_have_text(text["label"])
        description = page.get_by_text(text["description"], exact=True)
        for part in (label, description):
            lang = part.evaluate("el => el.closest('[lang]').getAttribute('lang')")
            assert lang == ("sv" if locale not in theme["text"] else locale), (theme["id"], lang)
    assert_accessible(page, f"the form in {locale}")

    assert submit_with_button(page, i18n.translate(locale, "submit")) == 422
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expect(page.get_by_role("alert")).to_contain_text(i18n.translate(locale, "errors_heading"))
    expect(page.locator("#name-error")).to_contain_text(i18n.translate(locale, "err_name_required"))
    assert_accessible(page, f"the form with errors in {locale}")


def test_norwegian_organisation(page: Any, make_services: Any, outbox: Any) -> None:
    """Aurskog-Høland: Norwegian by default, no areas, one open group, no age limit, the scheme's own words."""
    services = make_services(municipality("aurskog-holand")["organisation"])
    org = services.organisation
    with LiveServer(services) as server:
        open_form(page, server.url)
        expect(page.locator("html")).to_have_attribute("lang", "nb")
        expect(page.get_by_role("heading", level=1)).to_have_text(i18n.translate("nb", "form_title"))
        expect(page.locator("#area")).to_have_count(0)
        expect(page.locator("#age_confirmed")).to_have_count(0)  # the scheme states no age limit
        expect(page.locator("input[name=theme]")).to_have_count(1)
        expect(page.locator("label[for='theme-apen'] .label")).to_have_text("Åpen gruppe – alle temaer")
        # Issue 20: the one theme is chosen already, so the form can be sent without choosing it.
        expect(page.locator("#theme-apen")).to_be_checked()
        main = page.locator("main")
        assert org.scheme is not None
        facts = [fact.text["nb"] for fact in org.scheme.facts]
        assert len(facts) == 5 and "Selvhjelp er for alle – uansett rolle og livssituasjon." in facts
        for text in facts:
            expect(main).to_contain_text(text)
        # Nothing the municipality's page does not say: no 5–8, no cost, no anonymity, no weekly meetings.
        said = main.inner_text()
        for claim in ("5–8", "gratis", "anonym", "hver uke", "Du kan være"):
            assert claim not in said, claim
        expect(page.get_by_role("link", name=re.compile("Selvhjelp Norge"))).to_have_attribute(
            "href", "https://www.selvhjelp.no/bli-med/hva-er-en-selvorganisert-selvhjelpsgruppe/"
        )
        expect(main).to_contain_text("Anne Mette Brustuen")
        expect(main).not_to_contain_text("kommunen din")  # it asks for no municipality
        crisis = page.get_by_role("complementary", name=i18n.translate("nb", "crisis_heading"))
        for number in ("113", "116 117", "116 123", "22 40 00 40"):  # Kirkens SOS (issue 20)
            expect(crisis.get_by_role("link", name=number)).to_have_attribute("href", f"tel:{number.replace(' ', '')}")
        expect(crisis).not_to_contain_text("112")
        expect(main).to_contain_text(org.under_age.text["nb"] if org.under_age else "")
        assert_accessible(page, "the Norwegian form")

        page.locator("fieldset.themes label").first.click()
        page.get_by_label(i18n.translate("nb", "name_label")).press_sequentially("Kari")
        page.get_by_label(i18n.translate("nb", "phone_label")).press_sequentially("912 34 567")
        for key in ("consent_label", "pledge_label"):
            page.get_by_label(i18n.translate("nb", key)).check()
        assert submit_with_button(page, i18n.translate("nb", "submit")) == 200
        page.get_by_label(i18n.translate("nb", "code_label")).press_sequentially(sent_code(outbox, "+4791234567"))
        assert submit_with_button(page, i18n.translate("nb", "verify_submit")) == 200
        expect(page.get_by_role("heading", level=1)).to_have_text(i18n.translate("nb", "thanks_title"))
        expect(page.get_by_role("complementary")).to_contain_text("116 123")
        assert_accessible(page, "the Norwegian thank-you page")


def test_withdraw_removes_the_person(page: Any, live_server: Any, outbox: Any, services: Services) -> None:
    register_and_verify(page, live_server, outbox)
    assert waiting(services) == 1

    assert submit_with_button(page, sv("withdraw_link")) == 200
    assert "token" not in page.url
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("withdraw_title"))
    expect(page.locator("main")).to_contain_text(sv("withdraw_text"))
    assert_accessible(page, "the withdraw confirmation page")
    screenshot(page, "withdraw")
    assert waiting(services) == 1, "opening the confirmation alone must not withdraw"
    fields = {name: page.locator(f"main input[name={name}]").input_value() for name in ("id", "token")}

    assert submit_with_button(page, sv("withdraw_submit")) == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(sv("withdrawn_title"))
    expect(page.locator("main")).to_contain_text(sv("withdrawn_text"))
    assert_accessible(page, "the withdrawn page")
    assert_language_links_work(page)
    assert waiting(services) == 0

    # The same confirmation a second time (a page posted again): a clear, accessible message, not an error page.
    again = page.request.post(f"{live_server.url}/withdraw?lang=sv", form=fields)
    assert again.status == 404
    page.set_content(again.text())
    expect(page.locator("main")).to_contain_text(sv("withdraw_invalid"))
    assert_accessible(page, "the withdraw page for a used link")


def test_markup_in_a_name_is_shown_literally(page: Any, live_server: Any, outbox: Any) -> None:
    hostile = "<script>alert(1)</script>{{7*7}}"
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_form(page, live_server.url)
    fill_form(page, name=hostile)
    assert submit_with_enter(page) == 422

    expect(page.locator("#name")).to_have_value(hostile)
    expect(page.locator("#name")).to_have_accessible_description(re.compile(re.escape(sv("err_name_invalid"))))
    assert page.locator("script").count() == 0, "a script element was injected"
    assert dialogs == []
    assert "49" not in page.content()
    assert "{{7*7}}" not in page.locator("body").inner_text(), "the name leaked out of its input"
    assert outbox.messages() == []


# --- the privacy notice and the accessibility statement (issue 13) ---------------------------------


@pytest.mark.parametrize("locale", ["sv", "nb", "en"])
def test_the_privacy_notice_in_every_language(page: Any, live_server: Any, locale: str) -> None:
    org = municipality("region-jonkoping")["organisation"]
    response = page.goto(f"{live_server.url}/privacy?lang={locale}")
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expect(page.get_by_role("heading", level=1)).to_have_text(i18n.translate(locale, "privacy_link"))
    main = page.locator("main")
    for key in ("p_controller_heading", "p_dpo_heading", "p_basis_heading", "p_retention_heading",
                "p_rights_heading", "p_complaint_heading"):  # fmt: skip
        expect(page.get_by_role("heading", level=2, name=i18n.translate(locale, key))).to_be_visible()
    expect(main).to_contain_text("regionen@rjl.se")
    expect(page.get_by_role("link", name="www.imy.se")).to_have_attribute("href", org["privacy"]["authority"]["url"])
    expect(main).to_contain_text("Twilio")
    expect(page.locator("#retention-waiting")).to_have_text(i18n.translate(locale, "p_retention_waiting", days=180))
    expect(page.locator("#retention-group")).to_have_text(
        i18n.translate(locale, "p_retention_group", on_its_own_days=90, closed_days=30)
    )
    if locale == "nb":  # the region writes in sv and en: a fallback is marked with its language
        expect(page.locator("main [lang=sv]").first).to_be_attached()
    assert_accessible(page, f"the privacy notice in {locale}")
    assert_language_links_work(page)


def test_the_privacy_notice_states_the_periods_in_force(page: Any, make_services: Any) -> None:
    services = make_services(
        RETENTION_DAYS="90",
        CLOSED_GROUP_RETENTION_DAYS="14",
        QUIET_GROUP_WEEKS="6",
        QUIET_GROUP_HANDOVER_WEEKS="2",
        ON_ITS_OWN_RETENTION_DAYS="45",
        SMS_PROVIDER_COPY_HOURS="6",
    )
    with LiveServer(services) as server:
        page.goto(f"{server.url}/privacy?lang=en")
        expect(page.locator("#retention-waiting")).to_have_text(i18n.translate("en", "p_retention_waiting", days=90))
        # Issue 20: the handover's period and the provider's copy are stated from the settings too.
        expect(page.locator("#retention-group")).to_have_text(
            "When the group carries on by itself, your name and number are deleted 45 days later; the text about "
            "the handover gives the date. If the group is closed, they are deleted 14 days after it closed."
        )
        # Issue 19.5: a group nobody records meetings for is handed over after both quiet periods (6 + 2).
        quiet = "recorded for 8 weeks – you get a text with the date your name and number are deleted, 45 days later."
        expect(page.locator("#retention-quiet")).to_contain_text(quiet)
        expect(page.locator("#retention-stuck")).to_contain_text("90 days after it formed")
        expect(page.locator("#retention-provider")).to_contain_text("6 hours after it was sent")
        expect(page.locator("main")).not_to_contain_text("180 days")
        expect(page.locator("main")).not_to_contain_text("as long as the group exists")
        expect(page.get_by_role("link", name="www.twilio.com").last).to_have_attribute(
            "href", "https://www.twilio.com/en-us/legal/data-protection-addendum"
        )


@pytest.mark.parametrize("locale", ["sv", "nb", "en"])
def test_the_accessibility_statement_in_every_language(page: Any, make_services: Any, locale: str) -> None:
    stem = "aurskog-holand" if locale == "nb" else "region-jonkoping"
    organisation = municipality(stem)["organisation"]
    services = make_services(organisation)
    with LiveServer(services) as server:
        response = page.goto(f"{server.url}/accessibility?lang={locale}")
        assert response is not None and response.status == 200
        expect(page.locator("html")).to_have_attribute("lang", locale)
        expect(page.get_by_role("heading", level=1)).to_have_text(i18n.translate(locale, "accessibility_link"))
        statement = organisation["accessibility"]
        law = statement["law"]["text"].get(locale) or statement["law"]["text"][organisation["default_locale"]]
        expect(page.locator("#compliance")).to_contain_text(i18n.translate(locale, "a_status_partial", law=law))
        main = page.locator("main")
        expect(main).to_contain_text(statement["standard"])
        for gap in statement["known_gaps"]:
            expect(main).to_contain_text(gap.get(locale) or gap[organisation["default_locale"]])
        enforcement = statement["enforcement"]["url"]
        expect(page.locator(f"main a[href='{enforcement}']")).to_be_visible()
        expect(main).to_contain_text("2026")
        assert_accessible(page, f"the accessibility statement in {locale}")
        assert_language_links_work(page)
        # Every resident page links both notices.
        page.goto(f"{server.url}/?lang={locale}")
        footer = page.locator("footer")
        with page.expect_navigation():
            footer.get_by_role("link", name=i18n.translate(locale, "accessibility_link")).click()
        expect(page).to_have_url(re.compile(r"/accessibility\?lang=" + locale))
