"""Mobile numbers as residents type them: read in the organisation's region, stored as E.164."""

from __future__ import annotations

import pytest

from shared.core.phone import MAX_INPUT, PhoneError, parse_mobile, phone_key


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("070-123 45 67", "SE", "+46701234567"),
        ("0701234567", "SE", "+46701234567"),
        ("+46 70 123 45 67", "SE", "+46701234567"),
        ("0046 70 123 45 67", "SE", "+46701234567"),
        ("  070-123 45 67  ", "SE", "+46701234567"),
        ("(070) 123-45-67", "SE", "+46701234567"),
        ("912 34 567", "NO", "+4791234567"),
        ("+47 912 34 567", "NO", "+4791234567"),
        ("0047 912 34 567", "SE", "+4791234567"),
        ("+47 412 34 567", "SE", "+4741234567"),
        ("0046 70 123 45 67", "NO", "+46701234567"),
    ],
)
def test_mobile_numbers_as_typed_become_e164(typed: str, region: str, e164: str) -> None:
    assert parse_mobile(typed, region) == e164


@pytest.mark.parametrize(
    ("typed", "region"),
    [
        ("08-123 456 78", "SE"),  # Stockholm landline
        ("036-10 50 00", "SE"),  # Jönköping landline
        ("+46 36 10 50 00", "SE"),
        ("22 33 44 55", "NO"),  # Oslo landline
        ("0047 22 33 44 55", "SE"),
    ],
)
def test_landlines_are_refused_as_not_mobile(typed: str, region: str) -> None:
    with pytest.raises(PhoneError) as caught:
        parse_mobile(typed, region)
    assert caught.value.reason == "not_mobile"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "hello",
        "070-ABC",
        "12",
        "070-123",  # too short
        "0701234567890123",  # too long for a Swedish number
        "+999 123 456",  # no such country code
        "<script>alert(1)</script>",
        "0701234567 ' OR 1=1 --",
    ],
)
def test_junk_is_refused_as_invalid(typed: str) -> None:
    with pytest.raises(PhoneError) as caught:
        parse_mobile(typed, "SE")
    assert caught.value.reason == "invalid"


def test_overlong_input_is_refused_before_parsing() -> None:
    # A valid number padded past the limit: refused, whatever the parser would make of it.
    padded = "070-123 45 67" + " " * MAX_INPUT
    assert len(padded.strip()) <= MAX_INPUT  # stripped, it is fine
    assert parse_mobile(padded, "SE") == "+46701234567"
    with pytest.raises(PhoneError) as caught:
        parse_mobile("0" * (MAX_INPUT + 1), "SE")
    assert caught.value.reason == "invalid"
    with pytest.raises(PhoneError):
        parse_mobile("070 " + "1" * 10_000, "SE")


def test_the_error_never_carries_the_number() -> None:
    with pytest.raises(PhoneError) as caught:
        parse_mobile("08-123 456 78", "SE")
    assert "123" not in str(caught.value)
    assert "123" not in repr(caught.value)


def test_phone_key_is_stable_and_hides_the_number() -> None:
    key = phone_key("+46701234567")
    assert key == phone_key(parse_mobile("070-123 45 67", "SE"))
    assert key != phone_key("+46701234568")
    assert "701234567" not in key
    assert len(key) == 32
