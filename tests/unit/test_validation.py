"""validate_interest: the rules the form and the API share, one error code per wrong field."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest

from shared.core import i18n
from shared.core.organisation import MUNICIPALITIES, Organisation, parse_organisation
from shared.core.validation import NAME_MAX, FieldError, ValidInterest, validate_interest


def _org(stem: str) -> Organisation:
    document = json.loads((MUNICIPALITIES / f"{stem}.json").read_text(encoding="utf-8"))["organisation"]
    return parse_organisation(document)


JONKOPING = _org("region-jonkoping")  # SE, has areas
AURSKOG = _org("aurskog-holand")  # NO, no areas


def good(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "theme": "stress",
        "name": "Anna",
        "phone": "070-123 45 67",
        "area": "jonkoping",
        "age_confirmed": "on",
        "consent": "on",
        "pledge": "on",
    }
    raw.update(changes)
    return {k: v for k, v in raw.items() if v is not None}


def errors_of(raw: dict[str, Any], organisation: Organisation = JONKOPING, **kw: Any) -> dict[str, FieldError]:
    result = validate_interest(raw, organisation, locale=kw.pop("locale", "sv"), require_pledge=kw.pop("pledge", True))
    assert isinstance(result, dict), f"expected errors, got {result!r}"
    return result


def valid(raw: dict[str, Any], organisation: Organisation = JONKOPING, **kw: Any) -> ValidInterest:
    result = validate_interest(raw, organisation, locale=kw.pop("locale", "sv"), require_pledge=kw.pop("pledge", True))
    assert isinstance(result, ValidInterest), f"expected a valid interest, got {result!r}"
    return result


def test_a_good_submission_comes_back_clean() -> None:
    result = valid(good(name="  Anna   Maria ", phone="+46 70 123 45 67"), locale="en")
    assert result == ValidInterest(
        theme="stress", name="Anna Maria", phone="+46701234567", locale="en", area="jonkoping"
    )


def test_a_good_norwegian_submission_without_areas() -> None:
    result = valid(good(theme="apen", phone="912 34 567", area=None), AURSKOG, locale="nb")
    assert result.phone == "+4791234567"
    assert result.area is None


def test_api_booleans_count_as_ticked() -> None:
    raw = good(age_confirmed=True, consent=True, pledge=None)
    assert isinstance(validate_interest(raw, JONKOPING, locale="sv", require_pledge=False), ValidInterest)


@pytest.mark.parametrize(
    "name",
    [
        "Anna",
        "A",
        "Jo",
        "Åsa-Märta",
        "Ørjan Æsøy",
        "Bjørn",
        "O'Brien",
        "D'Angelo",
        "J. R",
        "Anna-Lena Öberg",
        "Kim 2",  # an alias
        "Łukasz",
        "Дмитрий",
        "محمد",
        "李小龙",
        "नेहा",  # Devanagari: vowel signs are combining marks
        "x" * NAME_MAX,
    ],
)
def test_names_and_aliases_that_are_accepted(name: str) -> None:
    assert valid(good(name=name)).name == name


def test_nordic_letters_typed_as_combining_marks_are_accepted_and_stored_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "Åsa Ørjansdóttir")
    assert decomposed != "Åsa Ørjansdóttir"
    assert valid(good(name=decomposed)).name == "Åsa Ørjansdóttir"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "name_required"),
        ("   ", "name_required"),
        ("x" * (NAME_MAX + 1), "name_too_long"),
        ("<b>Anna</b>", "name_invalid"),
        ("<script>alert(1)</script>", "name_invalid"),
        ("{{ 7*7 }}", "name_invalid"),
        ("{% raw %}", "name_invalid"),
        ("${jndi:x}", "name_invalid"),
        ("Anna&amp;", "name_invalid"),
        ('Anna"', "name_invalid"),
        ("Anna.", "name_invalid"),
        ("-Anna", "name_invalid"),
        ("Anna_", "name_invalid"),
        ("Anna 😊", "name_invalid"),
        ("Anna\u200b", "name_invalid"),  # zero-width space
        ("Anna\u0000", "name_invalid"),
        ("\u0301Anna", "name_invalid"),  # a lone combining mark first
    ],
)
def test_names_that_are_refused(name: str, code: str) -> None:
    errors = errors_of(good(name=name))
    assert list(errors) == ["name"]
    assert errors["name"].code == code


def test_whitespace_inside_a_name_is_collapsed_before_the_length_check() -> None:
    name = "Anna" + " " * 60 + "\n\tBerit"
    assert valid(good(name=name)).name == "Anna Berit"


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"theme": None}, "theme", "theme_required"),
        ({"theme": "  "}, "theme", "theme_required"),
        ({"theme": "knitting"}, "theme", "theme_unknown"),
        ({"theme": "STRESS"}, "theme", "theme_unknown"),
        ({"theme": 7}, "theme", "theme_required"),
        ({"name": None}, "name", "name_required"),
        ({"phone": None}, "phone", "phone_required"),
        ({"phone": ""}, "phone", "phone_required"),
        ({"phone": "hello"}, "phone", "phone_invalid"),
        ({"phone": "036-10 50 00"}, "phone", "phone_not_mobile"),
        ({"area": None}, "area", "area_required"),
        ({"area": ""}, "area", "area_required"),
        ({"area": "oslo"}, "area", "area_unknown"),
        ({"age_confirmed": None}, "age_confirmed", "age_required"),
        ({"age_confirmed": "off"}, "age_confirmed", "age_required"),
        ({"age_confirmed": False}, "age_confirmed", "age_required"),
        ({"consent": None}, "consent", "consent_required"),
        ({"consent": "false"}, "consent", "consent_required"),
        ({"pledge": None}, "pledge", "pledge_required"),
    ],
)
def test_each_error_code(changes: dict[str, Any], field: str, code: str) -> None:
    errors = errors_of(good(**changes))
    assert set(errors) == {field}
    assert errors[field].code == code


def test_an_area_is_refused_where_the_organisation_has_none() -> None:
    errors = errors_of(good(theme="apen", phone="912 34 567", area="jonkoping"), AURSKOG)
    assert set(errors) == {"area"}
    assert errors["area"].code == "area_unknown"


def test_the_age_error_names_the_organisations_minimum_age() -> None:
    se = errors_of(good(age_confirmed=None))["age_confirmed"]
    assert se.params == {"age": 20}
    # Aurskog-Høland's scheme sets no age limit: no age question, no age error.
    assert AURSKOG.minimum_age is None
    assert isinstance(
        valid(good(theme="apen", phone="912 34 567", area=None, age_confirmed=None), AURSKOG), ValidInterest
    )
    assert "20" in i18n.translate("sv", f"err_{se.code}", **dict(se.params or {}))


def test_the_pledge_is_only_required_when_asked() -> None:
    raw = good(pledge=None)
    assert isinstance(validate_interest(raw, JONKOPING, locale="sv", require_pledge=False), ValidInterest)
    assert set(errors_of(raw)) == {"pledge"}


def test_phone_numbers_are_read_in_the_organisations_region() -> None:
    # 912 34 567 is a Norwegian mobile; in Sweden it is no number at all.
    assert valid(good(theme="apen", phone="912 34 567", area=None), AURSKOG).phone == "+4791234567"
    assert set(errors_of(good(phone="912 34 567"))) == {"phone"}


def test_every_wrong_field_is_reported_at_once() -> None:
    errors = errors_of({})
    assert {f: e.code for f, e in errors.items()} == {
        "theme": "theme_required",
        "name": "name_required",
        "phone": "phone_required",
        "area": "area_required",
        "age_confirmed": "age_required",
        "consent": "consent_required",
        "pledge": "pledge_required",
    }


def test_every_error_code_has_a_message_in_every_locale() -> None:
    # Read from each locale's own catalog: translate() falls back to English, which would hide a gap.
    codes = {
        "theme_required", "theme_unknown", "name_required", "name_too_long", "name_invalid", "phone_required",
        "phone_invalid", "phone_not_mobile", "phone_country", "area_required", "area_unknown", "age_required",
        "consent_required", "pledge_required",
    }  # fmt: skip
    checked = 0
    for locale in ("sv", "nb", "en"):
        own = i18n.catalog(locale)
        for code in codes:
            assert own.get(f"err_{code}", "").strip(), (locale, code)
            checked += 1
    assert checked == 14 * 3
    english = i18n.catalog("en")
    # Not English copied in: each Nordic message differs from its English one.
    for locale in ("sv", "nb"):
        same = [c for c in codes if i18n.catalog(locale)[f"err_{c}"] == english[f"err_{c}"]]
        assert not same, (locale, same)
