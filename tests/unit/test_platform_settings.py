"""Settings that depend on where the app runs: development settings refused on an Azure host, and the
Front Door id. An Azure host is told by the variables App Service sets in every app's environment
(https://learn.microsoft.com/azure/app-service/reference-app-settings#app-environment)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError

from shared.composition import DEVELOPMENT_SECRET, MissingPhoneKeySecret, build_keyer
from shared.core.organisation import MUNICIPALITIES
from shared.settings import PLATFORM_VARIABLES, Settings

ORG = json.loads((MUNICIPALITIES / "region-jonkoping.json").read_text(encoding="utf-8"))["organisation"]
ACCOUNT = {"AzureWebJobsStorage__accountName": "gsjkpstorage", "ORGANISATION_CONFIG": json.dumps(ORG)}
FRONT_DOOR_ID = "0F3B6A2E-9C41-4D7E-8A5B-2C9E7F1D4A60"


@pytest.fixture(autouse=True)
def off_azure(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*PLATFORM_VARIABLES, "DEV_MODE", "TWILIO_API_BASE_URL", "AzureWebJobsStorage", "PHONE_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)


def settings(**env: str) -> Settings:
    return Settings(**(ACCOUNT | env))  # type: ignore[arg-type]


def test_the_three_platform_variables_are_the_ones_app_service_documents() -> None:
    assert PLATFORM_VARIABLES == ("WEBSITE_SITE_NAME", "WEBSITE_INSTANCE_ID", "WEBSITE_OWNER_NAME")


@pytest.mark.parametrize("variable", PLATFORM_VARIABLES)
def test_dev_mode_is_refused_on_an_azure_host(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "gs-jkp-func")
    with pytest.raises(ValidationError) as raised:
        settings(DEV_MODE="true")
    assert "development settings refused on Azure" in str(raised.value)
    assert f"({variable} is set)" in str(raised.value)
    assert "DEV_MODE" in str(raised.value)


def test_dev_mode_is_allowed_off_azure_and_azure_without_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(DEV_MODE="true").dev_mode is True
    monkeypatch.setenv("WEBSITE_SITE_NAME", "gs-jkp-func")
    assert settings().dev_mode is False
    assert settings(TWILIO_API_BASE_URL="https://sms-gateway.example").twilio_api_base_url  # a real gateway


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TWILIO_API_BASE_URL": "http://127.0.0.1:8099"}, "TWILIO_API_BASE_URL"),
        ({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, "storage emulator"),
        (
            {"AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=x;"},
            "storage emulator",
        ),
    ],
)
def test_test_only_settings_are_refused_on_an_azure_host(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    assert settings(**env)  # fine locally
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "a1b2c3")
    with pytest.raises(ValidationError) as raised:
        settings(**env)
    assert named in str(raised.value)


def test_the_development_phone_key_is_never_used_on_an_azure_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # Locally, DEV_MODE's development key stands in for a missing secret...
    local = settings(DEV_MODE="true")
    expected = hmac.new(DEVELOPMENT_SECRET, b"+46701740650", hashlib.sha256).hexdigest()
    assert build_keyer(local).key("+46701740650") == expected
    # ...but not on an Azure host (even for settings read before the host was known): the app stops.
    monkeypatch.setenv("WEBSITE_SITE_NAME", "gs-jkp-func")
    with pytest.raises(MissingPhoneKeySecret):
        build_keyer(local)
    with pytest.raises(MissingPhoneKeySecret):
        build_keyer(settings())


def test_a_front_door_id_is_a_guid_kept_in_lower_case() -> None:
    assert settings(FRONT_DOOR_ID=FRONT_DOOR_ID).front_door_id == FRONT_DOOR_ID.lower()
    assert settings(FRONT_DOOR_ID="").front_door_id is None  # the template sets it empty: no Front Door
    assert settings().front_door_id is None
    with pytest.raises(ValidationError) as raised:
        settings(FRONT_DOOR_ID="gs-jkp-frontdoor")
    assert "FRONT_DOOR_ID must be the Front Door profile's id, a GUID" in str(raised.value)
