"""All settings, read from environment variables the way Azure app settings arrive."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cached_property

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.core.organisation import Organisation, parse_organisation

# Variables the platform sets in every App Service app's environment, Functions apps included (Functions
# runs on App Service: https://learn.microsoft.com/azure/azure-functions/functions-app-settings); they are
# read-only there (https://learn.microsoft.com/azure/app-service/reference-app-settings#app-environment),
# and Flex Consumption sets WEBSITE_OWNER_NAME too (Azure/azure-functions-host#10441). `make dev`, the
# tests and Core Tools set none of them. FUNCTIONS_WORKER_RUNTIME is no sign: local.settings.json sets it.
PLATFORM_VARIABLES = ("WEBSITE_SITE_NAME", "WEBSITE_INSTANCE_ID", "WEBSITE_OWNER_NAME")


def on_azure(environ: Mapping[str, str] | None = None) -> str | None:
    """The platform variable that says this process runs on an Azure host; None when none is set."""
    values = os.environ if environ is None else environ
    return next((name for name in PLATFORM_VARIABLES if values.get(name, "").strip()), None)


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    # Storage: a connection string locally; in Azure the managed identity and an account name.
    storage_connection_string: str | None = Field(None, validation_alias="AzureWebJobsStorage")
    storage_account_name: str | None = Field(None, validation_alias="AzureWebJobsStorage__accountName")
    storage_client_id: str | None = Field(None, validation_alias="AzureWebJobsStorage__clientId")

    organisation_config: str = Field(validation_alias="ORGANISATION_CONFIG")

    twilio_account_sid: str | None = Field(None, validation_alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = Field(None, validation_alias="TWILIO_AUTH_TOKEN")
    twilio_from: str | None = Field(None, validation_alias="TWILIO_FROM")
    twilio_messaging_service_sid: str | None = Field(None, validation_alias="TWILIO_MESSAGING_SERVICE_SID")
    twilio_api_base_url: str | None = Field(None, validation_alias="TWILIO_API_BASE_URL")
    # Segments per second the whole installation sends, across every instance (adapters/sms/send_rate.py):
    # Twilio queues what exceeds a sender's throughput, first come first served, so a code would wait
    # behind every group text ahead of it; staying under the rate keeps that queue empty.
    sms_rate_per_second: float = Field(10.0, gt=0, le=1000, validation_alias="SMS_RATE_PER_SECOND")

    public_base_url: str | None = Field(None, validation_alias="PUBLIC_BASE_URL")
    admin_token: SecretStr | None = Field(None, validation_alias="ADMIN_TOKEN")
    # True only where App Service Authentication is on: then the platform, not the client, sets the
    # X-MS-CLIENT-PRINCIPAL* headers and the admin pages trust them. Off, those headers are ignored.
    app_service_auth: bool = Field(False, validation_alias="APP_SERVICE_AUTH")
    # The Entra ID app role an Easy Auth principal must hold to reach the operators' pages and API.
    admin_app_role: str = Field("Gruppstart.Operator", min_length=1, max_length=120, validation_alias="ADMIN_APP_ROLE")

    formation_schedule: str = Field("0 */5 * * * *", validation_alias="FORMATION_SCHEDULE")
    join_window_days: int = Field(14, ge=0, le=365, validation_alias="JOIN_WINDOW_DAYS")
    client_registrations_per_hour: int = Field(20, ge=1, le=100_000, validation_alias="CLIENT_REGISTRATIONS_PER_HOUR")
    # The client's network (IPv4 /24, IPv6 /48): one holder's cheap supply of addresses counts as one bucket.
    client_network_registrations_per_hour: int = Field(
        40, ge=1, le=100_000, validation_alias="CLIENT_NETWORK_REGISTRATIONS_PER_HOUR"
    )
    # Codes one number may receive a day (besides 3 an hour): a stranger cannot make a victim's phone buzz all day.
    codes_per_number_per_day: int = Field(5, ge=3, le=100, validation_alias="CODES_PER_NUMBER_PER_DAY")
    # Installation-wide caps on verification texts: what bounds the SMS bill when a bot pumps codes.
    sms_codes_per_hour: int = Field(60, ge=1, le=100_000, validation_alias="SMS_CODES_PER_HOUR")
    sms_codes_per_day: int = Field(300, ge=1, le=1_000_000, validation_alias="SMS_CODES_PER_DAY")
    # The installation's budget of every outbound text (codes, replies, forwards, meeting texts, reports),
    # of which SMS_CODES_PER_HOUR / SMS_CODES_PER_DAY are reserved for codes (services/sms_budget.py).
    sms_texts_per_hour: int = Field(600, ge=2, le=1_000_000, validation_alias="SMS_TEXTS_PER_HOUR")
    sms_texts_per_day: int = Field(3000, ge=2, le=10_000_000, validation_alias="SMS_TEXTS_PER_DAY")
    # HMAC key for markers derived from phone numbers (Key Vault in Azure; a development default locally).
    phone_key_secret: SecretStr | None = Field(None, validation_alias="PHONE_KEY_SECRET")
    # Issue 19.1: the facilitators' page links have a key of their own (Key Vault in Azure); rotating it
    # ends every link and session. Links live days, the session a link is exchanged for minutes.
    facilitator_link_secret: SecretStr | None = Field(None, validation_alias="FACILITATOR_LINK_SECRET")
    facilitator_link_days: int = Field(14, ge=1, le=60, validation_alias="FACILITATOR_LINK_DAYS")
    facilitator_session_minutes: int = Field(30, ge=5, le=480, validation_alias="FACILITATOR_SESSION_MINUTES")

    # Group lifecycle and retention (shared/services/lifecycle.py, shared/services/retention.py).
    lifecycle_schedule: str = Field("0 0 7 * * *", validation_alias="LIFECYCLE_SCHEDULE")
    facilitator_meetings: int = Field(5, ge=1, le=52, validation_alias="FACILITATOR_MEETINGS")
    check_in_weeks: int = Field(7, ge=1, le=104, validation_alias="CHECK_IN_WEEKS")
    retention_days: int = Field(180, ge=1, le=3650, validation_alias="RETENTION_DAYS")
    closed_group_retention_days: int = Field(30, ge=0, le=3650, validation_alias="CLOSED_GROUP_RETENTION_DAYS")
    # A group on its own goes on as long as its members want; their names and numbers leave the service
    # this long after the handover (the handover text gives the date).
    on_its_own_retention_days: int = Field(90, ge=0, le=3650, validation_alias="ON_ITS_OWN_RETENTION_DAYS")
    # A group still awaiting a facilitator or its first meeting this long after forming is escalated.
    stuck_group_days: int = Field(21, ge=1, le=365, validation_alias="STUCK_GROUP_DAYS")
    # An active group with no meeting recorded this long is reported to the coordinator, and handed over
    # (members told, erasure clock started) the second period later if still nothing is recorded.
    quiet_group_weeks: int = Field(8, ge=1, le=104, validation_alias="QUIET_GROUP_WEEKS")
    quiet_group_handover_weeks: int = Field(4, ge=1, le=104, validation_alias="QUIET_GROUP_HANDOVER_WEEKS")
    # Hours the SMS provider keeps its copy of a text (number and body) after sending; Twilio refuses to
    # delete one before its final status, and the daily run tries again (services/provider_copies.py).
    sms_provider_copy_hours: int = Field(24, ge=0, le=24 * 90, validation_alias="SMS_PROVIDER_COPY_HOURS")

    # The Azure Front Door profile's id (its X-Azure-FDID) when one fronts the app: then a request that
    # carries this id is taken from Front Door, and the client's address from its X-Azure-SocketIP.
    front_door_id: str | None = Field(None, validation_alias="FRONT_DOOR_ID")

    # Local development only: enables /dev/outbox and trusts no proxy headers.
    dev_mode: bool = Field(False, validation_alias="DEV_MODE")

    @field_validator("admin_token", "twilio_auth_token", "phone_key_secret", "facilitator_link_secret", mode="before")
    @classmethod
    def _unresolved_reference_is_unset(cls, value: object) -> object:
        # If Key Vault cannot be read, Azure passes the reference text itself: never take that as a secret.
        # An empty secret is no secret either (anyone can sign with the empty key): it reads as unset.
        if isinstance(value, str) and (not value.strip() or value.strip().startswith("@Microsoft.KeyVault(")):
            return None
        return value

    @field_validator("front_door_id", mode="before")
    @classmethod
    def _front_door_id_is_a_guid(cls, value: object) -> object:
        # The template always sets the app setting; empty means no Front Door.
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not _GUID.match(value.strip()):
            raise ValueError("FRONT_DOOR_ID must be the Front Door profile's id, a GUID (its X-Azure-FDID)")
        return value.strip().lower()

    @model_validator(mode="after")
    def _no_development_settings_on_azure(self) -> Settings:
        """On an Azure host the development settings would turn protections off: refuse to start."""
        host = on_azure()
        if host is None:
            return self
        problems = []
        if self.dev_mode:
            problems.append("DEV_MODE (it drops Secure from cookies, trusts no proxy and opens /dev/outbox)")
        if self.twilio_api_base_url and not self.twilio_api_base_url.lower().startswith("https://"):
            problems.append("TWILIO_API_BASE_URL without https:// (the loopback test server)")
        connection = (self.storage_connection_string or "").lower()
        if "usedevelopmentstorage=true" in connection or "devstoreaccount1" in connection:
            problems.append("AzureWebJobsStorage pointing at the storage emulator")
        if problems:
            raise ValueError(f"development settings refused on Azure ({host} is set): remove {'; '.join(problems)}")
        return self

    @model_validator(mode="after")
    def _storage_given(self) -> Settings:
        if not self.storage_connection_string and not self.storage_account_name:
            raise ValueError("set AzureWebJobsStorage (connection string) or AzureWebJobsStorage__accountName")
        if self.twilio_account_sid and not (self.twilio_from or self.twilio_messaging_service_sid):
            raise ValueError("TWILIO_ACCOUNT_SID needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID")
        if self.twilio_account_sid and not self.twilio_auth_token:
            raise ValueError("TWILIO_ACCOUNT_SID needs TWILIO_AUTH_TOKEN")
        if self.sms_texts_per_hour <= self.sms_codes_per_hour or self.sms_texts_per_day <= self.sms_codes_per_day:
            raise ValueError(
                "SMS_TEXTS_PER_HOUR and SMS_TEXTS_PER_DAY (every text) must exceed SMS_CODES_PER_HOUR and "
                "SMS_CODES_PER_DAY (the codes' reserved share of them)"
            )
        return self

    @cached_property
    def organisation(self) -> Organisation:
        return parse_organisation(self.organisation_config)

    def app_settings(self) -> dict[str, str]:
        """Every setting by its app-setting name, as the host resolves %NAME% in binding expressions."""
        values = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is not None and isinstance(field.validation_alias, str):
                values[field.validation_alias] = (
                    value.get_secret_value() if isinstance(value, SecretStr) else str(value)
                )
        return values

    @property
    def uses_twilio(self) -> bool:
        return bool(self.twilio_account_sid)
