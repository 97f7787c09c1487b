"""Settings come from environment variables, as Azure app settings do; a bad one fails at start, named."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from shared.core.organisation import MUNICIPALITIES, OrganisationConfigError
from shared.settings import Settings

ORG = json.loads((MUNICIPALITIES / "region-jonkoping.json").read_text(encoding="utf-8"))["organisation"]
STORAGE = "UseDevelopmentStorage=true"
SETTING_NAMES = (
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__clientId",
    "ORGANISATION_CONFIG",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_API_BASE_URL",
    "CLIENT_REGISTRATIONS_PER_HOUR",
    "DEV_MODE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def from_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()  # type: ignore[call-arg]


def base(**changes: Any) -> dict[str, str]:
    env = {"AzureWebJobsStorage": STORAGE, "ORGANISATION_CONFIG": json.dumps(ORG)}
    env.update(changes)
    return {k: v for k, v in env.items() if v is not None}


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(monkeypatch, **base(CLIENT_REGISTRATIONS_PER_HOUR="7", DEV_MODE="false"))
    assert settings.storage_connection_string == STORAGE
    assert settings.client_registrations_per_hour == 7
    assert settings.dev_mode is False
    assert settings.uses_twilio is False
    assert settings.organisation.id == "region-jonkoping"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(monkeypatch, **base())
    assert settings.dev_mode is False  # proxies are trusted unless told otherwise
    assert settings.client_registrations_per_hour == 20


def test_the_managed_identity_form_of_storage_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(monkeypatch, **base(AzureWebJobsStorage=None, AzureWebJobsStorage__accountName="stgruppstart"))
    assert settings.storage_connection_string is None
    assert settings.storage_account_name == "stgruppstart"


@pytest.mark.parametrize("empty", [None, ""])
def test_missing_storage_names_azurewebjobsstorage(monkeypatch: pytest.MonkeyPatch, empty: str | None) -> None:
    with pytest.raises(ValidationError) as caught:
        from_env(monkeypatch, **base(AzureWebJobsStorage=empty))
    assert "AzureWebJobsStorage" in str(caught.value)


def test_missing_organisation_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as caught:
        from_env(monkeypatch, **base(ORGANISATION_CONFIG=None))
    assert "ORGANISATION_CONFIG" in str(caught.value)


def test_twilio_sid_without_token_names_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as caught:
        from_env(monkeypatch, **base(TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_FROM="+46700000000"))
    assert "TWILIO_AUTH_TOKEN" in str(caught.value)


def test_twilio_sid_without_a_sender_names_both_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as caught:
        from_env(monkeypatch, **base(TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="secret"))
    assert "TWILIO_FROM" in str(caught.value)
    assert "TWILIO_MESSAGING_SERVICE_SID" in str(caught.value)


def test_complete_twilio_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(
        monkeypatch,
        **base(
            TWILIO_ACCOUNT_SID="AC" + "0" * 32,
            TWILIO_AUTH_TOKEN="s3cret-token",
            TWILIO_MESSAGING_SERVICE_SID="MG" + "0" * 32,
            TWILIO_API_BASE_URL="http://127.0.0.1:9",
        ),
    )
    assert settings.uses_twilio
    assert settings.twilio_api_base_url == "http://127.0.0.1:9"
    # The token never shows in a repr or a log line of the settings.
    assert "s3cret-token" not in repr(settings)
    assert "s3cret-token" not in str(settings)


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_a_bad_client_cap_names_the_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        from_env(monkeypatch, **base(CLIENT_REGISTRATIONS_PER_HOUR=value))
    assert "CLIENT_REGISTRATIONS_PER_HOUR" in str(caught.value)


def test_a_bad_organisation_document_fails_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    document = dict(ORG, group_size={"min": 1, "max": 8})
    settings = from_env(monkeypatch, **base(ORGANISATION_CONFIG=json.dumps(document)))
    with pytest.raises(OrganisationConfigError, match=r"group_size\.min"):
        _ = settings.organisation


def test_the_app_refuses_to_start_with_a_bad_organisation(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from shared.composition import build_services
    from shared.web.app import create_app

    document = dict(ORG, default_locale="nb")
    settings = from_env(monkeypatch, **base(ORGANISATION_CONFIG=json.dumps(document)))
    app = create_app(lambda: build_services(settings))
    with pytest.raises(OrganisationConfigError, match="default_locale"), TestClient(app):
        pass


def test_an_unresolved_key_vault_reference_is_never_taken_as_a_secret():
    """If the app cannot read Key Vault, Azure hands over the reference text: treat it as not set."""
    from shared.settings import Settings

    reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/admin-token/)"
    settings = Settings(
        AzureWebJobsStorage="UseDevelopmentStorage=true",
        ORGANISATION_CONFIG="{}",
        ADMIN_TOKEN=reference,
    )
    assert settings.admin_token is None


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_secret_is_no_secret(blank: str) -> None:
    """A secret set to nothing reads as unset: an empty Twilio token would let anyone sign a webhook with
    the empty key, an empty phone key would key every number with a known key (issue 24's mutation run)."""
    from shared.settings import Settings

    names = {
        "ADMIN_TOKEN": "admin_token",
        "TWILIO_AUTH_TOKEN": "twilio_auth_token",
        "PHONE_KEY_SECRET": "phone_key_secret",
        "FACILITATOR_LINK_SECRET": "facilitator_link_secret",
    }
    settings = Settings(
        AzureWebJobsStorage="UseDevelopmentStorage=true", ORGANISATION_CONFIG="{}", **{k: blank for k in names}
    )
    assert len(names) == 4 and [getattr(settings, field) for field in names.values()] == [None] * 4
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
        Settings(
            AzureWebJobsStorage="UseDevelopmentStorage=true",
            ORGANISATION_CONFIG="{}",
            TWILIO_ACCOUNT_SID="AC" + "0" * 32,
            TWILIO_FROM="+46766861000",
            TWILIO_AUTH_TOKEN=blank,
        )
