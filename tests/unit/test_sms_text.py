"""Places and notes limited in SMS septets (issue 19.4): typographic punctuation becomes GSM-7, what has
no GSM-7 form is named; and the facilitator page's catalogs say it in every language."""

from __future__ import annotations

import json

import pytest

from shared import PACKAGE_DIR
from shared.core.i18n import LOCALES
from shared.core.sms_segments import segment_info
from shared.core.sms_text import NotGsm7, sms_line, to_gsm7
from shared.core.validation import TextProblem


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("\u201cBl\u00e5\u201d", '"Blå"'),
        ("\u201eR\u00f8d\u201c", '"Rød"'),
        ("\u00abHuset\u00bb", '"Huset"'),
        ("Eva\u2019s rum", "Eva's rum"),
        ("18\u201320", "18-20"),
        ("A \u2014 B", "A - B"),
        ("Vi ses\u2026", "Vi ses..."),
        ("rum\u00a03", "rum 3"),
        ("1\u202f000", "1 000"),
        ("in\u00adg\u00e5ng", "ingång"),
    ],
)
def test_typographic_punctuation_is_sent_as_gsm7(typed: str, sent: str):
    assert sms_line(typed, 100) == sent
    assert segment_info(sent).encoding == "GSM-7"


def test_what_has_no_gsm7_form_is_named_once_each_in_order():
    with pytest.raises(NotGsm7) as refused:
        sms_line("Kárášjohka \U0001f60a á", 100)
    assert refused.value.characters == "áš\U0001f60a"
    with pytest.raises(NotGsm7):
        sms_line("Łukasz", 100)


def test_the_limit_counts_septets_not_characters():
    assert sms_line("€" * 50, 100) == "€" * 50  # two septets each
    with pytest.raises(TextProblem) as too_long:
        sms_line("€" * 51, 100)
    assert too_long.value.reason == "too_long"
    assert sms_line("å" * 100, 100) == "å" * 100  # one septet each, though two bytes in UTF-8


def test_empty_control_and_bidi_are_refused_as_before():
    for raw, reason in (("   ", "required"), (None, "required"), ("a\u202eb", "invalid"), ("a\x00b", "invalid")):
        with pytest.raises(TextProblem) as problem:
            sms_line(raw, 100)
        assert problem.value.reason == reason
    assert to_gsm7("plain") == "plain"


def test_the_facilitator_catalogs_have_the_same_keys_in_every_language():
    catalogs = {
        locale: json.loads((PACKAGE_DIR / "locales" / "facilitator" / f"{locale}.json").read_text("utf-8"))
        for locale in LOCALES
    }
    keys = set(catalogs["en"])
    assert len(catalogs) == len(LOCALES) >= 3
    for locale, catalog in catalogs.items():
        assert set(catalog) == keys, locale
    for key in ("err_place_not_gsm", "err_note_too_long", "err_confirm_required", "open_button", "err_held_today"):
        assert len({catalogs[locale][key] for locale in LOCALES}) == 3, key  # really translated
