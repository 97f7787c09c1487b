"""Interface texts in sv, nb and en, and choosing the reader's language."""

from __future__ import annotations

import json
import string

import pytest

from shared import PACKAGE_DIR
from shared.core import i18n
from shared.core.organisation import MUNICIPALITIES, Organisation, parse_organisation

LOCALE_DIR = PACKAGE_DIR / "locales"


def _catalog(locale: str) -> dict[str, str]:
    return json.loads((LOCALE_DIR / f"{locale}.json").read_text(encoding="utf-8"))


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def _org(stem: str) -> Organisation:
    document = json.loads((MUNICIPALITIES / f"{stem}.json").read_text(encoding="utf-8"))["organisation"]
    return parse_organisation(document)


JONKOPING = _org("region-jonkoping")  # sv (default), en
AURSKOG = _org("aurskog-holand")  # nb (default), en


def test_the_catalogs_shipped_are_the_listed_languages() -> None:
    # core/languages.py is the list; tests/unit/test_languages.py holds every catalog folder to it.
    assert sorted(p.stem for p in LOCALE_DIR.glob("*.json")) == sorted(i18n.LOCALES)
    assert {"en", "nb", "sv"} <= set(i18n.LOCALES)


@pytest.mark.parametrize("locale", [code for code in i18n.LOCALES if code != "sv"])
def test_every_catalog_has_the_same_keys_as_swedish(locale: str) -> None:
    sv, other = _catalog("sv"), _catalog(locale)
    assert sorted(set(sv) - set(other)) == [], "missing"
    assert sorted(set(other) - set(sv)) == [], "extra"


def test_every_key_has_the_same_placeholders_in_every_locale() -> None:
    catalogs = {locale: _catalog(locale) for locale in i18n.LOCALES}
    mismatched = {
        key: {locale: sorted(_placeholders(c[key])) for locale, c in catalogs.items()}
        for key in catalogs["sv"]
        if len({frozenset(_placeholders(c.get(key, ""))) for c in catalogs.values()}) > 1
    }
    assert mismatched == {}


def test_every_text_is_a_non_empty_string_that_formats() -> None:
    for locale in i18n.LOCALES:
        for key, text in _catalog(locale).items():
            assert isinstance(text, str) and text.strip(), (locale, key)
            values = dict.fromkeys(_placeholders(text), "X")
            assert i18n.translate(locale, key, **values), (locale, key)


def test_texts_differ_between_languages() -> None:
    sv, nb, en = (_catalog(x) for x in ("sv", "nb", "en"))
    assert sv["submit"] != en["submit"]
    assert nb["submit"] != sv["submit"]
    assert sv["lang_name"] == "Svenska" and nb["lang_name"] == "Norsk bokmål" and en["lang_name"] == "English"


@pytest.mark.parametrize("locale", ["sv", "nb", "en"])
def test_plurals_pick_the_right_form(locale: str) -> None:
    one = i18n.plural(locale, "needed", 1)
    many = i18n.plural(locale, "needed", 3)
    assert "3" in many and one != many
    assert i18n.plural(locale, "needed", 0) == i18n.translate(locale, "needed_none")
    assert "Stress" in i18n.plural(locale, "thanks_waiting", 2, theme="Stress")


# --- choosing the language ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en", ["en"]),
        ("sv-SE,sv;q=0.9,en-US;q=0.8,en;q=0.7", ["sv", "sv", "en", "en"]),
        ("en;q=0.5, sv;q=0.9", ["sv", "en"]),
        ("de-DE, en;q=0.3, nb;q=0.6", ["nb", "en"]),
        ("no", ["nb"]),
        ("nn-NO", ["nb"]),
        ("nb_NO", ["nb"]),
        ("sv;q=0, en", ["en"]),  # q=0 means "not this one"
        ("sv;q=bogus, en;q=0.1", ["en"]),
        ("sv;q=inf, nb;q=nan, en;q=0.1", ["en"]),  # out-of-range weights do not jump the queue
        ("fr, de, *", []),
        ("", []),
        (None, []),
        (" , ;;, =, sv", ["sv"]),
        ("en;Q=0.2, sv;Q=0.9", ["sv", "en"]),  # parameter names are case-insensitive (RFC 9110)
    ],
)
def test_accept_language_is_ranked_by_q_value(header: str | None, expected: list[str]) -> None:
    assert i18n.parse_accept_language(header) == expected


def test_a_huge_accept_language_header_does_not_hurt() -> None:
    assert i18n.parse_accept_language("x," * 100_000 + "sv") == []
    assert i18n.parse_accept_language("sv," + "x," * 100_000) == ["sv"]


@pytest.mark.parametrize(
    ("query", "header", "organisation", "expected"),
    [
        (None, None, JONKOPING, "sv"),
        (None, None, AURSKOG, "nb"),
        (None, "en-GB,en;q=0.9", JONKOPING, "en"),
        (None, "de-DE,fr;q=0.9", JONKOPING, "sv"),  # unsupported → the organisation's default
        (None, "de-DE,fr;q=0.9", AURSKOG, "nb"),
        (None, "no", AURSKOG, "nb"),
        (None, "nn", AURSKOG, "nb"),
        (None, "nn-NO,en;q=0.5", JONKOPING, "en"),  # nb is not one of Jönköping's locales
        (None, "da;q=0.9,en;q=0.2,sv;q=0.5", JONKOPING, "sv"),
        ("en", "sv", JONKOPING, "en"),  # ?lang= wins over the browser
        ("nb", "sv", JONKOPING, "nb"),  # … and may pick any complete locale
        ("no", None, JONKOPING, "nb"),
        ("EN", None, AURSKOG, "en"),
        ("de", "en", JONKOPING, "en"),  # an unknown ?lang= is ignored
        ("<script>", None, AURSKOG, "nb"),
        ("", "en", AURSKOG, "en"),
    ],
)
def test_choose_locale(query: str | None, header: str | None, organisation: Organisation, expected: str) -> None:
    assert i18n.choose_locale(query, header, organisation) == expected


def test_translate_falls_back_to_english_for_an_unknown_locale() -> None:
    assert i18n.translate("de", "submit") == i18n.translate("en", "submit")
