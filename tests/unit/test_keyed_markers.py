"""Keys derived from numbers are keyed: checked against an HMAC computed in the test, under two secrets,
and the app refuses to start without its secret — also while pytest runs (PYTEST_CURRENT_TEST is set)."""

from __future__ import annotations

import json
import os
import re

import pytest

from shared.composition import MissingPhoneKeySecret, build_keyer
from shared.core.phone import PhoneKeyer
from shared.settings import Settings
from tests.support.keys import DEVELOPMENT_PHONE_KEY_SECRET, TEST_PHONE_KEY_SECRET, hmac_key

NUMBER = "+46701234567"
OTHER_SECRET = "a second secret, rotated in Key Vault"
ORG = json.dumps({"name": "Region Test", "country": "SE", "themes": [{"id": "stress", "names": {"sv": "Stress"}}]})


def settings(**env: str) -> Settings:
    return Settings(AzureWebJobsStorage="UseDevelopmentStorage=true", ORGANISATION_CONFIG=ORG, **env)  # type: ignore[arg-type]


def test_a_key_is_the_hmac_of_the_number_under_the_secret() -> None:
    keyed = PhoneKeyer(TEST_PHONE_KEY_SECRET.encode()).key(NUMBER)
    assert keyed == hmac_key(NUMBER, TEST_PHONE_KEY_SECRET)
    assert re.fullmatch(r"[0-9a-f]{64}", keyed)


def test_another_secret_gives_another_key() -> None:
    first = PhoneKeyer(TEST_PHONE_KEY_SECRET.encode()).key(NUMBER)
    second = PhoneKeyer(OTHER_SECRET.encode()).key(NUMBER)
    assert second == hmac_key(NUMBER, OTHER_SECRET)
    assert first != second


def test_the_app_refuses_to_start_without_its_secret_even_under_pytest() -> None:
    assert "PYTEST_CURRENT_TEST" in os.environ  # the condition that once let a missing secret through
    with pytest.raises(MissingPhoneKeySecret):
        build_keyer(settings(DEV_MODE="false"))


def test_the_configured_secret_keys_the_markers() -> None:
    keyer = build_keyer(settings(PHONE_KEY_SECRET=OTHER_SECRET))
    assert keyer.key(NUMBER) == hmac_key(NUMBER, OTHER_SECRET)


def test_only_dev_mode_falls_back_to_the_published_development_key() -> None:
    keyer = build_keyer(settings(DEV_MODE="true"))
    assert keyer.key(NUMBER) == hmac_key(NUMBER, DEVELOPMENT_PHONE_KEY_SECRET)
