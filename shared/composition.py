"""Composition root: builds the app's collaborators once per process, from settings, on first use."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta

from shared.adapters.sms import LocalOutboxSender, SmsSender, TwilioSender
from shared.adapters.sms.copies import CopyKeepingSender, ProviderCopies
from shared.adapters.storage import FACILITATORS, StorageAccount
from shared.adapters.templates import Templates
from shared.core.local_time import organisation_tz
from shared.core.organisation import Organisation
from shared.core.phone import phone_key
from shared.services.facilitators import FacilitatorStore
from shared.services.formation import FormationService
from shared.services.intake import IntakeService
from shared.services.lifecycle import Lifecycle, LifecycleRules
from shared.services.notify import Notifier, RateGate
from shared.services.operations import Operations
from shared.services.retention import Retention, RetentionRules
from shared.services.statistics import Statistics
from shared.settings import Settings


@dataclass
class Services:
    settings: Settings
    organisation: Organisation
    storage: StorageAccount
    sender: SmsSender
    templates: Templates
    intake: IntakeService
    facilitators: FacilitatorStore
    formation: FormationService
    notifier: Notifier
    operations: Operations
    lifecycle: Lifecycle
    retention: Retention
    statistics: Statistics
    _ready: bool = False

    def ensure_ready(self) -> None:
        """Create tables and queues once; retried on the next request if storage was down."""
        if not self._ready:
            self.storage.ensure_resources()
            self._ready = True


def build_sender(settings: Settings) -> SmsSender:
    if settings.uses_twilio:
        assert settings.twilio_account_sid and settings.twilio_auth_token  # checked by Settings
        return TwilioSender(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            from_=settings.twilio_from,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            api_base_url=settings.twilio_api_base_url,
        )
    return LocalOutboxSender()


def build_services(
    settings: Settings, *, sender: SmsSender | None = None, storage: StorageAccount | None = None
) -> Services:
    organisation = settings.organisation
    storage = storage or StorageAccount.from_settings(settings)
    templates = Templates()
    copies = ProviderCopies(storage, phone_key)
    sender = sender or build_sender(settings)
    if not isinstance(sender, CopyKeepingSender):
        sender = CopyKeepingSender(sender, copies)  # every text the provider keeps is noted, to be deleted
    statistics = Statistics(storage, organisation)
    intake = IntakeService(
        storage=storage,
        sender=sender,
        templates=templates,
        organisation=organisation,
        client_registrations_per_hour=settings.client_registrations_per_hour,
        statistics=statistics,
    )
    facilitators = FacilitatorStore(lambda: storage.table(FACILITATORS), organisation)
    formation = FormationService(
        storage=storage,
        organisation=organisation,
        facilitators=facilitators,
        join_window=timedelta(days=settings.join_window_days),
    )
    notifier = Notifier(
        storage=storage,
        sender=sender,
        templates=templates,
        organisation=organisation,
        facilitators=facilitators,
        gate=RateGate(settings.sms_rate_per_second),
        public_base_url=settings.public_base_url,
        copies=copies,
    )
    operations = Operations(
        storage=storage, organisation=organisation, facilitators=facilitators, statistics=statistics, sender=sender
    )
    retention = Retention(
        storage=storage,
        organisation=organisation,
        statistics=statistics,
        sender=sender,
        rules=RetentionRules(
            retention=timedelta(days=settings.retention_days),
            closed_group_retention=timedelta(days=settings.closed_group_retention_days),
            provider_copy=timedelta(hours=settings.sms_provider_copy_hours),
        ),
    )
    lifecycle = Lifecycle(
        storage=storage,
        organisation=organisation,
        retention=retention,
        rules=LifecycleRules(
            facilitator_meetings=settings.facilitator_meetings,
            check_in_weeks=settings.check_in_weeks,
            close_on_its_own_after=timedelta(days=settings.retention_days),
            tz=organisation_tz(organisation),
        ),
    )
    return Services(
        settings,
        organisation,
        storage,
        sender,
        templates,
        intake,
        facilitators,
        formation,
        notifier,
        operations,
        lifecycle,
        retention,
        statistics,
    )


_lock = threading.Lock()
_current: Services | None = None


def get_services() -> Services:
    """The process's services, built from the environment the first time they are needed."""
    global _current
    with _lock:
        if _current is None:
            _current = build_services(Settings())  # type: ignore[call-arg]  # fields come from the environment
        return _current


def use_services(services: Services | None) -> None:
    """Install services built elsewhere (the dev runner, tests); None forgets them."""
    global _current
    with _lock:
        _current = services
