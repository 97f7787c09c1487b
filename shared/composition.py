"""Composition root: builds the app's collaborators once per process, from settings, on first use."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from shared.adapters.interests import InterestsTable
from shared.adapters.migrations import PhoneKeyMigration
from shared.adapters.queues import Queues
from shared.adapters.ratelimit import OncePerWindow, RateLimiter
from shared.adapters.records import RateLimitRows
from shared.adapters.sms.base import SmsSender
from shared.adapters.sms.copies import CopyKeepingSender, ProviderCopies
from shared.adapters.sms.local import LocalOutboxSender
from shared.adapters.sms.metered import MeteredSender
from shared.adapters.sms.send_rate import Pace, SendRate
from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import AUDIT, FACILITATORS, RATE_LIMITS, StorageAccount
from shared.adapters.templates import Templates
from shared.core.domain import utcnow
from shared.core.organisation import Organisation
from shared.core.phone import DEVELOPMENT_SECRET, PhoneKeyer
from shared.services.confirmation import Confirmation
from shared.services.erasure import Erasure
from shared.services.expected_wait import ExpectedWaits
from shared.services.intake import IntakeLimits, IntakeService
from shared.services.sms_budget import SmsBudget
from shared.services.statistics import Statistics
from shared.settings import Settings, on_azure

if TYPE_CHECKING:  # built on first use (`_OnFirstUse`): imported by their factories, not by a new instance
    from shared.adapters.audit import AuditLog, RevokedSessions
    from shared.adapters.replies import ReplyLog
    from shared.core.group_life import GroupLifeRules
    from shared.services.facilitator_links import FacilitatorLinks
    from shared.services.facilitator_page import FacilitatorPage
    from shared.services.facilitators import FacilitatorStore
    from shared.services.formation import FormationService
    from shared.services.lifecycle import Lifecycle
    from shared.services.needs import NeedsReader
    from shared.services.notify import Notifier
    from shared.services.operations import Operations
    from shared.services.rekey import Rekey
    from shared.services.replies import Replies
    from shared.services.retention import Retention
    from shared.services.running_groups import RunningGroups
    from shared.services.stop_requests import StopRequests

T = TypeVar("T")


class _OnFirstUse(Generic[T]):
    """A member of `Services` built when first read, by the factory `build_services` gave it (issue 22.1).

    A new instance's first request is the form, which needs intake and its ports only; the operators',
    facilitators', formation's and the texts' services (and the modules they import: Jinja-free but
    pydantic-, babel- and matching-heavy) wait for the first request or trigger that reads them. Once
    built, the value sits in the instance's `__dict__`, which Python reads before this (non-data)
    descriptor: no lock or call on later reads. A test may still replace one by assignment."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, services: None, owner: type | None = None) -> _OnFirstUse[T]: ...

    @overload
    def __get__(self, services: Services, owner: type | None = None) -> T: ...

    def __get__(self, services: Services | None, owner: type | None = None) -> T | _OnFirstUse[T]:
        if services is None:
            return self
        with services._building:  # re-entrant: one factory reads another member
            if self._name not in services.__dict__:
                services.__dict__[self._name] = services._factories[self._name](services)
        value: T = services.__dict__[self._name]
        return value


@dataclass
class Services:
    """The app's services and the few ports the web layer names itself (the audit log, the reply list,
    the interests table for the overview's counts and delivery receipts). `storage` is here only for
    `ensure_ready` and for tests' fixtures (fresh tables, reading rows back).

    The form's path (intake and its ports) is built with the rest of this object; every `_OnFirstUse`
    member below is built by `build_services`'s factory for it the first time it is read."""

    settings: Settings
    organisation: Organisation
    storage: StorageAccount
    sender: SmsSender
    templates: Templates
    intake: IntakeService
    statistics: Statistics
    sign_in_limiter: Callable[[], RateLimiter]  # a factory: no storage client at cold start
    keyer: PhoneKeyer
    clock: Callable[[], datetime]
    interests: InterestsTable
    queues: Queues
    copies: ProviderCopies
    erasure: Erasure
    budget: SmsBudget  # the installation's SMS budget, which the sender spends (for intake's check)
    expected_waits: ExpectedWaits  # issue 23.2: the wait the form and the API say
    _factories: dict[str, Callable[[Services], Any]] = field(repr=False)
    _building: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _ready: bool = False

    facilitators: ClassVar[_OnFirstUse[FacilitatorStore]] = _OnFirstUse()
    formation: ClassVar[_OnFirstUse[FormationService]] = _OnFirstUse()
    notifier: ClassVar[_OnFirstUse[Notifier]] = _OnFirstUse()
    operations: ClassVar[_OnFirstUse[Operations]] = _OnFirstUse()
    lifecycle: ClassVar[_OnFirstUse[Lifecycle]] = _OnFirstUse()
    retention: ClassVar[_OnFirstUse[Retention]] = _OnFirstUse()
    audit: ClassVar[_OnFirstUse[AuditLog]] = _OnFirstUse()
    revoked_sessions: ClassVar[_OnFirstUse[RevokedSessions]] = _OnFirstUse()
    replies: ClassVar[_OnFirstUse[Replies]] = _OnFirstUse()
    stop_requests: ClassVar[_OnFirstUse[StopRequests]] = _OnFirstUse()
    reply_log: ClassVar[_OnFirstUse[ReplyLog]] = _OnFirstUse()
    rekey: ClassVar[_OnFirstUse[Rekey]] = _OnFirstUse()
    needs: ClassVar[_OnFirstUse[NeedsReader]] = _OnFirstUse()
    running_groups: ClassVar[_OnFirstUse[RunningGroups]] = _OnFirstUse()
    group_life: ClassVar[_OnFirstUse[GroupLifeRules]] = _OnFirstUse()
    facilitator_links: ClassVar[_OnFirstUse[FacilitatorLinks | None]] = _OnFirstUse()
    # None: no secret to sign the facilitators' links with
    facilitator_page: ClassVar[_OnFirstUse[FacilitatorPage | None]] = _OnFirstUse()

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
    pace: Pace = time,
) -> Services:
    """Every adapter, port and service of the app, built once from `settings`: the only place that
    constructs them. `clock` is the one every service and adapter reads the time from (tests pass a
    fixed one); `sender` replaces the provider (tests' loopback Twilio or local outbox); `storage`
    replaces the account from settings (tests' Azurite, the in-memory twin); `pace` is where the send rate
    reads the time and waits for its window (production's real time; tests' skips the waits).

    What the form's first request needs is built here; the rest by the factories below, each the first
    time its member of `Services` is read (a new instance imports none of their modules before then)."""
    organisation = settings.organisation
    storage = storage if storage is not None else StorageAccount.from_settings(settings)
    templates = Templates()
    keyer = build_keyer(settings)

    # Ports: each built once over the one storage account, handed to the services that use them.
    interests = InterestsTable(storage)
    queues = Queues(storage)
    copies = ProviderCopies(storage, keyer.key)
    counters = RateLimitRows(storage)
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
    rate = SendRate(lambda: storage.table(RATE_LIMITS), settings.sms_rate_per_second, clock=pace.time, sleep=pace.sleep)
    sender = CopyKeepingSender(MeteredSender(provider, rate=rate, spend=budget.spend), copies, clock=clock)
    statistics = Statistics(interests, organisation)
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

    # --- built on first use: each factory imports its own modules ------------------------------------

    def facilitators(s: Services) -> FacilitatorStore:
        from shared.adapters.records import FacilitatorTable
        from shared.services.facilitators import FacilitatorStore

        return FacilitatorStore(FacilitatorTable(lambda: storage.table(FACILITATORS)), organisation, clock)

    def audit(s: Services) -> AuditLog:
        from shared.adapters.audit import AuditLog

        return AuditLog(lambda: storage.table(AUDIT), clock)

    def revoked_sessions(s: Services) -> RevokedSessions:
        from shared.adapters.audit import RevokedSessions

        return RevokedSessions(lambda: storage.table(RATE_LIMITS))

    def reply_log(s: Services) -> ReplyLog:
        from shared.adapters.replies import ReplyLog

        return ReplyLog(storage)

    def rekey(s: Services) -> Rekey:
        from shared.services.rekey import Rekey

        return Rekey(
            migration=migration,
            interests=interests,
            alerts=alerts,
            keyer=keyer,
            sender=sender,
            templates=templates,
            organisation=organisation,
            clock=clock,
        )

    def formation(s: Services) -> FormationService:
        from shared.services.formation import FormationService

        return FormationService(
            interests=interests,
            queues=queues,
            organisation=organisation,
            facilitators=s.facilitators,
            join_window=join_window,
            clock=clock,
        )

    def facilitator_links(s: Services) -> FacilitatorLinks | None:
        from shared.services.facilitator_links import FacilitatorLinks, link_secret

        # FACILITATOR_LINK_SECRET first; installations deployed before it existed keep their links until it is set.
        link_keys = (settings.facilitator_link_secret, settings.phone_key_secret, settings.admin_token)
        secrets = [k.get_secret_value() if k else None for k in link_keys]
        if not (any(secrets) or settings.dev_mode):
            return None
        return FacilitatorLinks(
            link_secret(*secrets),
            settings.public_base_url,
            clock,
            lifetime=timedelta(days=settings.facilitator_link_days),
            session_lifetime=timedelta(minutes=settings.facilitator_session_minutes),
        )

    def notifier(s: Services) -> Notifier:
        from shared.services.notify import Notifier, Pacing

        links = s.facilitator_links
        return Notifier(
            interests=interests,
            queues=queues,
            copies=copies,
            sender=sender,
            templates=templates,
            organisation=organisation,
            facilitators=s.facilitators,
            public_base_url=settings.public_base_url,
            facilitator_link=links.url if links else None,
            clock=clock,
            pacing=Pacing(),
        )

    def group_life(s: Services) -> GroupLifeRules:
        from shared.core.group_life import GroupLifeRules

        return GroupLifeRules(
            facilitator_meetings=settings.facilitator_meetings,
            on_its_own_retention=timedelta(days=settings.on_its_own_retention_days),
            closed_group_retention=timedelta(days=settings.closed_group_retention_days),
        )

    def operations(s: Services) -> Operations:
        from shared.services.operations import Operations
        from shared.services.operations_base import PersonalRecords

        return Operations(
            interests=interests,
            queues=queues,
            records=PersonalRecords(copies=copies, counters=counters, replies=s.reply_log),
            erasure=erasure,
            rekey=s.rekey,
            organisation=organisation,
            facilitators=s.facilitators,
            keyer=keyer,
            statistics=statistics,
            group_life=s.group_life,
            clock=clock,
        )

    def retention(s: Services) -> Retention:
        from shared.services.retention import Retention, RetentionRules

        return Retention(
            interests=interests,
            copies=copies,
            counters=counters,
            reply_log=s.reply_log,
            audit=s.audit,
            rekey=s.rekey,
            organisation=organisation,
            statistics=statistics,
            clock=clock,
            sender=sender,
            rules=RetentionRules(
                retention=timedelta(days=settings.retention_days),
                closed_group_retention=s.group_life.closed_group_retention,
                on_its_own_retention=s.group_life.on_its_own_retention,
                provider_copy=timedelta(hours=settings.sms_provider_copy_hours),
            ),
        )

    def lifecycle(s: Services) -> Lifecycle:
        from shared.core.group_life import QuietRules
        from shared.core.local_time import organisation_tz
        from shared.services.lifecycle import Lifecycle, LifecycleRules

        return Lifecycle(
            interests=interests,
            queues=queues,
            organisation=organisation,
            retention=s.retention,
            clock=clock,
            rules=LifecycleRules(
                facilitator_meetings=settings.facilitator_meetings,
                check_in_weeks=settings.check_in_weeks,
                escalate_stuck_after=timedelta(days=settings.stuck_group_days),
                on_its_own_retention=s.group_life.on_its_own_retention,
                tz=organisation_tz(organisation),
                quiet=QuietRules(
                    after=timedelta(weeks=settings.quiet_group_weeks),
                    handover_after=timedelta(weeks=settings.quiet_group_handover_weeks),
                ),
            ),
        )

    def replies(s: Services) -> Replies:
        from shared.adapters.replies import ReplyCounters
        from shared.services.replies import Replies, ReplyBounds

        # Answers to texts go through the same sender as every other text: noted as provider copies, counted.
        return Replies(
            interests=interests,
            queues=queues,
            copies=copies,
            reply_log=s.reply_log,
            bounds=ReplyBounds(answered=ReplyCounters(storage), limiter=limiter(), alerts=alerts),
            erasure=erasure,
            rekey=s.rekey,
            organisation=organisation,
            facilitators=s.facilitators,
            templates=templates,
            keyer=keyer,
            sender=sender,
            public_base_url=settings.public_base_url,
            clock=clock,
        )

    def stop_requests(s: Services) -> StopRequests:
        from shared.adapters.records import FacilitatorTable
        from shared.services.stop_requests import StopRequests

        return StopRequests(
            queues=queues,
            copies=copies,
            facilitators=FacilitatorTable(lambda: storage.table(FACILITATORS)),
            alerts=alerts,
            erasure=erasure,
            rekey=s.rekey,
            organisation=organisation,
            replies=s.replies,
            templates=templates,
            sender=sender,
            clock=clock,
        )

    def facilitator_page(s: Services) -> FacilitatorPage | None:
        from shared.services.facilitator_page import FacilitatorPage

        links = s.facilitator_links
        if links is None:
            return None
        return FacilitatorPage(
            interests=interests,
            queues=queues,
            limiter=limiter(),
            audit=s.audit,
            facilitators=s.facilitators,
            operations=s.operations,
            links=links,
            clock=clock,
        )

    def needs(s: Services) -> NeedsReader:
        from shared.services.needs import NeedsReader

        return NeedsReader(
            interests=interests,
            organisation=organisation,
            facilitators=s.facilitators,
            statistics=statistics,
            join_window=join_window,
            clock=clock,
        )

    def running_groups(s: Services) -> RunningGroups:
        from shared.services.running_groups import RunningGroups

        return RunningGroups(interests=interests, organisation=organisation, join_window=join_window, clock=clock)

    factories: dict[str, Callable[[Services], Any]] = {
        f.__name__: f
        for f in (
            facilitators,
            audit,
            revoked_sessions,
            reply_log,
            rekey,
            formation,
            facilitator_links,
            notifier,
            group_life,
            operations,
            retention,
            lifecycle,
            replies,
            stop_requests,
            facilitator_page,
            needs,
            running_groups,
        )
    }
    return Services(
        settings=settings,
        organisation=organisation,
        storage=storage,
        sender=sender,
        templates=templates,
        intake=intake,
        statistics=statistics,
        sign_in_limiter=limiter,
        keyer=keyer,
        clock=clock,
        interests=interests,
        queues=queues,
        copies=copies,
        erasure=erasure,
        budget=budget,
        expected_waits=ExpectedWaits(statistics, organisation, clock=clock),
        _factories=factories,
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
