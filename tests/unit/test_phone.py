"""Mobile numbers as residents type them: read in the organisation's region, stored as E.164."""

from __future__ import annotations

import hashlib

import pytest

from shared.core.phone import MAX_INPUT, PhoneError, PhoneKeyer, parse_mobile, phone_key


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


# Written for `make mutate`: each pins a rule a mutant of shared/core/phone.py changed unseen.
def test_the_length_limit_counts_the_typed_number_with_its_separators() -> None:
    exactly = "0" + " " * (MAX_INPUT - 13) + "70 123 45 67"  # a valid number spaced out to the limit
    assert len(exactly) == MAX_INPUT
    assert parse_mobile(exactly, "SE") == "+46701234567"
    over = exactly[:1] + " " + exactly[1:]
    assert len(over) == MAX_INPUT + 1
    with pytest.raises(PhoneError) as caught:
        parse_mobile(over, "SE")
    assert caught.value.reason == "invalid"


def test_a_number_of_another_country_is_refused_when_countries_are_given() -> None:
    assert parse_mobile("+47 912 34 567", "SE") == "+4791234567"  # no list: any country's mobile
    with pytest.raises(PhoneError) as caught:
        parse_mobile("+47 912 34 567", "SE", countries=["SE"])
    assert caught.value.reason == "country"
    assert str(caught.value) == "country"
    assert parse_mobile("+47 912 34 567", "SE", countries=["SE", "NO"]) == "+4791234567"


def test_the_reason_is_the_errors_message() -> None:
    with pytest.raises(PhoneError) as caught:
        parse_mobile("08-123 456 78", "SE")
    assert caught.value.reason == "not_mobile"
    assert caught.value.args == ("not_mobile",)


def test_a_secret_shorter_than_16_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        PhoneKeyer(b"x" * 15)
    assert PhoneKeyer(b"x" * 16).key("+46701234567") != PhoneKeyer(b"y" * 16).key("+46701234567")


def test_legacy_keys_are_read_until_switched_off() -> None:
    keyer = PhoneKeyer(b"k" * 32)
    legacy = hashlib.sha256(b"+46701234567").hexdigest()[:32]  # computed here, not by the module
    assert keyer.legacy("+46701234567") == legacy
    assert keyer.keys("+46701234567") == (keyer.key("+46701234567"), legacy)
    assert PhoneKeyer.is_legacy(legacy) and not PhoneKeyer.is_legacy(keyer.key("+46701234567"))
    off = PhoneKeyer(b"k" * 32, accept_legacy=False)
    assert off.legacy("+46701234567") is None
    assert off.keys("+46701234567") == (off.key("+46701234567"),)
