"""Composition root: builds the app's collaborators once per process, from settings, on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.adapters.audit import AuditLog, RevokedSessions
from shared.adapters.interests import InterestsTable
from shared.adapters.migrations import PhoneKeyMigration
from shared.adapters.queues import Queues
from shared.adapters.ratelimit import OncePerWindow, RateLimiter
from shared.adapters.records import FacilitatorTable, RateLimitRows
from shared.adapters.replies import ReplyCounters, ReplyLog
from shared.adapters.sms.base import SmsSender
from shared.adapters.sms.copies import CopyKeepingSender, ProviderCopies
from shared.adapters.sms.local import LocalOutboxSender
from shared.adapters.sms.metered import MeteredSender
from shared.adapters.sms.send_rate import SendRate
from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import AUDIT, FACILITATORS, RATE_LIMITS, StorageAccount
from shared.adapters.templates import Templates
from shared.core.domain import utcnow
from shared.core.group_life import GroupLifeRules, QuietRules
from shared.core.local_time import organisation_tz
from shared.core.organisation import Organisation
from shared.core.phone import DEVELOPMENT_SECRET, PhoneKeyer
from shared.services.confirmation import Confirmation
from shared.services.erasure import Erasure
from shared.services.expected_wait import ExpectedWaits
from shared.services.facilitator_links import FacilitatorLinks, link_secret
from shared.services.facilitator_page import FacilitatorPage
from shared.services.facilitators import FacilitatorStore
from shared.services.formation import FormationService
from shared.services.intake import IntakeLimits, IntakeService
from shared.services.lifecycle import Lifecycle, LifecycleRules
from shared.services.needs import NeedsReader
from shared.services.notify import Notifier, Pacing
from shared.services.operations import Operations
from shared.services.operations_base import PersonalRecords
from shared.services.rekey import Rekey
from shared.services.replies import Replies, ReplyBounds
from shared.services.retention import Retention, RetentionRules
from shared.services.running_groups import RunningGroups
from shared.services.sms_budget import SmsBudget
from shared.services.statistics import Statistics
from shared.services.stop_requests import StopRequests
from shared.settings import Settings, on_azure


@dataclass
class Services:
    """The app's services and the few ports the web layer names itself (the audit log, the reply list,
    the interests table for the overview's counts and delivery receipts). `storage` is here only for
    `ensure_ready` and for tests' fixtures (fresh tables, reading rows back)."""

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
    audit: AuditLog
    revoked_sessions: RevokedSessions
    sign_in_limiter: Callable[[], RateLimiter]  # a factory: no storage client at cold start
    keyer: PhoneKeyer
    replies: Replies
    stop_requests: StopRequests
    clock: Callable[[], datetime]
    interests: InterestsTable
    queues: Queues
    copies: ProviderCopies
    reply_log: ReplyLog
    erasure: Erasure
    rekey: Rekey
    needs: NeedsReader
    running_groups: RunningGroups
    budget: SmsBudget  # the installation's SMS budget, which the sender spends (for intake's check)
    expected_waits: ExpectedWaits  # issue 23.2: the wait the form and the API say
    facilitator_page: FacilitatorPage | None  # None: no secret to sign the facilitators' links with
    _ready: bool = False

    def ensure_ready(self) -> None:
        """Create tables once (queues on the first message put or read: no queue SDK on the form's path);
        retried on the next request if storage was down."""
        if not self._ready:
            self.storage.ensure_resources(queues=False)
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


class MissingPhoneKeySecret(RuntimeError):
    """PHONE_KEY_SECRET is unset outside development: markers keyed with a known key protect nothing."""


def build_keyer(settings: Settings) -> PhoneKeyer:
    """The keyer of phone markers, once per process. In Azure the secret comes from Key Vault; a fixed
    development key is used only in DEV_MODE (the tests set a secret of their own), never on an Azure
    host. Anywhere else a missing secret stops the app rather than write markers that the next
    deployment (with the real key) could not find."""
    if settings.phone_key_secret is not None:
        return PhoneKeyer(settings.phone_key_secret.get_secret_value().encode("utf-8"))
    # Never on an Azure host, whatever the environment says (Settings refuses DEV_MODE there).
    if settings.dev_mode and on_azure() is None:
        return PhoneKeyer(DEVELOPMENT_SECRET)
    raise MissingPhoneKeySecret("PHONE_KEY_SECRET is not set (in Azure: check the Key Vault reference)")


def build_services(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    sender: SmsSender | None = None,
    storage: StorageAccount | None = None,
) -> Services:
    """Every adapter, port and service of the app, built once from `settings`: the only place that
    constructs them. `clock` is the one every service and adapter reads the time from (tests pass a
    fixed one); `sender` replaces the provider (tests' loopback Twilio or local outbox); `storage`
    replaces the account from settings (tests' Azurite, the in-memory twin)."""
    organisation = settings.organisation
    storage = storage if storage is not None else StorageAccount.from_settings(settings)
    templates = Templates()
    keyer = build_keyer(settings)

    # Ports: each built once over the one storage account, handed to the services that use them.
    interests = InterestsTable(storage)
    queues = Queues(storage)
    copies = ProviderCopies(storage, keyer.key)
    counters = RateLimitRows(storage)
    reply_log = ReplyLog(storage)
    audit = AuditLog(lambda: storage.table(AUDIT), clock)
    alerts = OncePerWindow(lambda: storage.table(RATE_LIMITS))
    migration = PhoneKeyMigration(storage)

    def limiter() -> RateLimiter:
        """A limiter of its own per user: each remembers the counters it wrote and skips their reads."""
        return RateLimiter(lambda: storage.table(RATE_LIMITS), clock)

    provider = sender if sender is not None else build_sender(settings)
    # A sender wired here before (tests pass another Services' `sender`) gives back the provider inside it.
    while isinstance(provider, CopyKeepingSender | MeteredSender):
        provider = provider.inner
    # The one door every text leaves by (adapters/sms/metered.py): the installation's send rate and SMS
    # budget, then the provider; every text the provider keeps is noted, to be deleted. Only the budget's
    # own alert to the coordinator leaves by the side door: the spent budget would refuse it.
    budget = SmsBudget(
        limiter=limiter(),
        alerts=alerts,
        sender=CopyKeepingSender(provider, copies, clock=clock),
        templates=templates,
        organisation=organisation,
        per_hour=settings.sms_codes_per_hour,
        per_day=settings.sms_codes_per_day,
        texts_per_hour=settings.sms_texts_per_hour,
        texts_per_day=settings.sms_texts_per_day,
        clock=clock,
        # The codes' alert names registration's busiest client buckets by keyed id (issue 19.6); read
        # when it is sent, long after `intake` below exists.
        spenders=lambda: intake.busiest_clients(),
    )
    rate = SendRate(lambda: storage.table(RATE_LIMITS), settings.sms_rate_per_second)
    sender = CopyKeepingSender(MeteredSender(provider, rate=rate, spend=budget.spend), copies, clock=clock)
    statistics = Statistics(interests, organisation)
    facilitators = FacilitatorStore(FacilitatorTable(lambda: storage.table(FACILITATORS)), organisation, clock)
    rekey = Rekey(
        migration=migration,
        interests=interests,
        alerts=alerts,
        keyer=keyer,
        sender=sender,
        templates=templates,
        organisation=organisation,
        clock=clock,
    )
    erasure = Erasure(
        interests=interests,
        queues=queues,
        copies=copies,
        counters=counters,
        organisation=organisation,
        keyer=keyer,
        statistics=statistics,
        sender=sender,
        clock=clock,
    )
    join_window = timedelta(days=settings.join_window_days)
    intake = IntakeService(
        interests=interests,
        queues=queues,
        confirmation=Confirmation(migration, keyer),
        limiter=limiter(),
        erasure=erasure,
        budget=budget,
        sender=sender,
        templates=templates,
        organisation=organisation,
        keyer=keyer,
        limits=IntakeLimits(
            client_per_hour=settings.client_registrations_per_hour,
            client_network_per_hour=settings.client_network_registrations_per_hour,
            codes_per_number_per_day=settings.codes_per_number_per_day,
            join_window=join_window,
        ),
        clock=clock,
    )
    formation = FormationService(
        interests=interests,
        queues=queues,
        organisation=organisation,
        facilitators=facilitators,
        join_window=join_window,
        clock=clock,
    )
    # FACILITATOR_LINK_SECRET first; installations deployed before it existed keep their links until it is set.
    link_keys = (settings.facilitator_link_secret, settings.phone_key_secret, settings.admin_token)
    secrets = [s.get_secret_value() if s else None for s in link_keys]
    links = (
        FacilitatorLinks(
            link_secret(*secrets),
            settings.public_base_url,
            clock,
            lifetime=timedelta(days=settings.facilitator_link_days),
            session_lifetime=timedelta(minutes=settings.facilitator_session_minutes),
        )
        if any(secrets) or settings.dev_mode
        else None
    )
    notifier = Notifier(
        interests=interests,
        queues=queues,
        copies=copies,
        sender=sender,
        templates=templates,
        organisation=organisation,
        facilitators=facilitators,
        public_base_url=settings.public_base_url,
        facilitator_link=links.url if links else None,
        clock=clock,
        pacing=Pacing(),
    )
    group_life = GroupLifeRules(
        facilitator_meetings=settings.facilitator_meetings,
        on_its_own_retention=timedelta(days=settings.on_its_own_retention_days),
        closed_group_retention=timedelta(days=settings.closed_group_retention_days),
    )
    operations = Operations(
        interests=interests,
        queues=queues,
        records=PersonalRecords(copies=copies, counters=counters, replies=reply_log),
        erasure=erasure,
        rekey=rekey,
        organisation=organisation,
        facilitators=facilitators,
        keyer=keyer,
        statistics=statistics,
        group_life=group_life,
        clock=clock,
    )
    retention = Retention(
        interests=interests,
        copies=copies,
        counters=counters,
        reply_log=reply_log,
        audit=audit,
        rekey=rekey,
        organisation=organisation,
        statistics=statistics,
        clock=clock,
        sender=sender,
        rules=RetentionRules(
            retention=timedelta(days=settings.retention_days),
            closed_group_retention=group_life.closed_group_retention,
            on_its_own_retention=group_life.on_its_own_retention,
            provider_copy=timedelta(hours=settings.sms_provider_copy_hours),
        ),
    )
    lifecycle = Lifecycle(
        interests=interests,
        queues=queues,
        organisation=organisation,
        retention=retention,
        clock=clock,
        rules=LifecycleRules(
            facilitator_meetings=settings.facilitator_meetings,
            check_in_weeks=settings.check_in_weeks,
            escalate_stuck_after=timedelta(days=settings.stuck_group_days),
            on_its_own_retention=group_life.on_its_own_retention,
            tz=organisation_tz(organisation),
            quiet=QuietRules(
                after=timedelta(weeks=settings.quiet_group_weeks),
                handover_after=timedelta(weeks=settings.quiet_group_handover_weeks),
            ),
        ),
    )
    # Answers to texts go through the same sender as every other text: noted as provider copies, counted.
    replies = Replies(
        interests=interests,
        queues=queues,
        copies=copies,
        reply_log=reply_log,
        bounds=ReplyBounds(answered=ReplyCounters(storage), limiter=limiter(), alerts=alerts),
        erasure=erasure,
        rekey=rekey,
        organisation=organisation,
        facilitators=facilitators,
        templates=templates,
        keyer=keyer,
        sender=sender,
        public_base_url=settings.public_base_url,
        clock=clock,
    )
    stop_requests = StopRequests(
        queues=queues,
        copies=copies,
        facilitators=FacilitatorTable(lambda: storage.table(FACILITATORS)),
        alerts=alerts,
        erasure=erasure,
        rekey=rekey,
        organisation=organisation,
        replies=replies,
        templates=templates,
        sender=sender,
        clock=clock,
    )
    facilitator_page = (
        FacilitatorPage(
            interests=interests,
            queues=queues,
            limiter=limiter(),
            audit=audit,
            facilitators=facilitators,
            operations=operations,
            links=links,
            clock=clock,
        )
        if links is not None
        else None
    )
    return Services(
        settings=settings,
        organisation=organisation,
        storage=storage,
        sender=sender,
        templates=templates,
        intake=intake,
        facilitators=facilitators,
        formation=formation,
        notifier=notifier,
        operations=operations,
        lifecycle=lifecycle,
        retention=retention,
        statistics=statistics,
        audit=audit,
        revoked_sessions=RevokedSessions(lambda: storage.table(RATE_LIMITS)),
        sign_in_limiter=limiter,
        keyer=keyer,
        replies=replies,
        stop_requests=stop_requests,
        clock=clock,
        interests=interests,
        queues=queues,
        copies=copies,
        reply_log=reply_log,
        erasure=erasure,
        rekey=rekey,
        needs=NeedsReader(
            interests=interests,
            organisation=organisation,
            facilitators=facilitators,
            statistics=statistics,
            join_window=join_window,
            clock=clock,
        ),
        running_groups=RunningGroups(
            interests=interests, organisation=organisation, join_window=join_window, clock=clock
        ),
        budget=budget,
        expected_waits=ExpectedWaits(statistics, organisation, clock=clock),
        facilitator_page=facilitator_page,
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
