"""Resident intake: take an interest, prove the number by SMS code, withdraw on request.

Nothing observable before proof of possession (docs/architecture.md, "Privacy by construction").
Registration never looks at what is stored about the number: the caps come first (per number an hour
and a day; per client address or the shared bucket of requests without one, and the address's
network, an IPv4 /24 or an IPv6 /64 and /48; the codes' share of the installation's SMS budget), all
checked before any is counted, so a request refused by one spends nobody's counter (issue 19.6: an
address over its limit cannot lock chosen numbers out). Then each attempt is written as its own
pending row with its own marker (`phone.<key>.<attempt>`), a code is sent (the sender spends the
codes' share of the budget when the text goes out: adapters/sms/metered.py), and every caller gets
the same 201. Only when the code comes back is the number's registration in the theme looked up
(`phone.<key>`): a first one becomes the registration, a later one merges into it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NoReturn

from shared.adapters.interests import InterestsTable, Rows
from shared.adapters.queues import Queues
from shared.adapters.ratelimit import Limits, RateLimited, RateLimiter
from shared.adapters.sms.base import PermanentSmsError, SmsError, SmsSender
from shared.adapters.sms.metered import for_codes
from shared.adapters.sms.send_rate import Lane
from shared.adapters.storage import FORMATION_REQUESTS, storage_errors
from shared.adapters.templates import Templates
from shared.adapters.unit_of_work import LostRace
from shared.core.codes import CODE_LIFETIME, CODE_MINUTES, new_code
from shared.core.domain import (
    INTEREST_PREFIX,
    PHONE_PREFIX,
    Group,
    Interest,
    InterestStatus,
    more_needed,
    new_sortable_key,
    split_interest_id,
)
from shared.core.matching import MatchingRules, takes_joiners
from shared.core.organisation import Organisation
from shared.core.phone import PhoneKeyer
from shared.core.validation import ValidInterest
from shared.services.confirmation import Confirmation, Conflict, attempt_marker_key
from shared.services.erasure import Erasure
from shared.services.formation_requests import formation_request
from shared.services.sms_budget import BudgetExhausted, SmsBudget
from shared.services.sms_kinds import VERIFICATION, Code, compose

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

MAX_CODE_ATTEMPTS = 5
CODES_PER_NUMBER_PER_HOUR = 3
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Requests that carry no client address share one bucket: never skipped (issue 11).
NO_ADDRESS_KEY = "client.none"
# Every client bucket's key starts with this (the budget alert lists the busiest): `client.<keyed
# address>`, `client64.<keyed /64>`, `client24.<keyed /24>`, `client48.<keyed /48>`.
CLIENT_PREFIX = "client"
# The networks one holder gets cheaply: an IPv4 /24, an IPv6 /48 (65,536 /64s) and the /64 itself.
_NETWORKS = {4: (24,), 6: (64, 48)}
_BUCKET_LABELS = {CLIENT_PREFIX: "addr", **{f"{CLIENT_PREFIX}{n}": f"/{n}" for n in (24, 48, 64)}}


# --- outcomes ----------------------------------------------------------------------------


class IntakeError(Exception):
    code = "bad_request"


class Undeliverable(IntakeError):
    """The provider refused the number for good (invalid, not a mobile, unsubscribed)."""

    code = "phone_undeliverable"


class SmsUnavailable(IntakeError):
    code = "sms_unavailable"


class NotFound(IntakeError):
    code = "not_found"


class WrongCode(IntakeError):
    code = "code_wrong"


class CodeExpired(IntakeError):
    code = "code_expired"


class AlreadyVerified(IntakeError):
    code = "already_verified"


@dataclass(frozen=True)
class Registration:
    interest_id: str
    withdraw_token: str
    phone_last_digits: str


@dataclass(frozen=True)
class Verified:
    theme: str
    needed: int
    # The registration the code confirmed: the attempt itself, or the number's earlier registration in
    # this theme that it merged into (then the withdraw token of the attempt works with this id).
    interest_id: str = ""
    status: InterestStatus = InterestStatus.WAITING
    merged: bool = False
    # A group that is starting has a seat for them: the formation this verification requested places
    # them at once (issue 12: late joiners are told the truth, not "N more are needed").
    joining: bool = False
    # Where the registration waits (the expected wait is said per area when matching by area).
    area: str | None = None


def consent_recorded(version: str, by_phone: str | None) -> str:
    """The consent kept on the row: the organisation's version, marked when a coordinator took it by phone."""
    return f"{version}|phone:{by_phone}" if by_phone else version


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


# --- the service -------------------------------------------------------------------------


COUNTS_TTL = 5.0  # seconds a process reuses the waiting counts it read (the form's "N more needed")


@dataclass(frozen=True)
class IntakeLimits:
    """Registration's limits, from settings: per client address and its network an hour, codes per number
    a day, and how long a formed group takes newcomers (the formation's join window)."""

    client_per_hour: int
    client_network_per_hour: int | None  # None: twice one address's allowance
    codes_per_number_per_day: int
    join_window: timedelta

    @property
    def network_per_hour(self) -> int:
        # A /24 or /48 is one holder's cheap supply of addresses.
        return self.client_network_per_hour or 2 * self.client_per_hour


class IntakeService:
    def __init__(
        self,
        *,
        interests: InterestsTable,
        queues: Queues,
        confirmation: Confirmation,
        limiter: RateLimiter,
        erasure: Erasure,
        budget: SmsBudget,
        sender: SmsSender,
        templates: Templates,
        organisation: Organisation,
        keyer: PhoneKeyer,
        limits: IntakeLimits,
        clock: Callable[[], datetime],
    ) -> None:
        self._queues = queues
        self._erasure = erasure
        self._sender = for_codes(sender)  # codes draw on their reserved share of the rate and the budget
        self._templates = templates
        self._org = organisation
        self._keyer = keyer
        self._client_limit = limits.client_per_hour
        self._network_limit = limits.network_per_hour
        self._number_limits: Limits = [(CODES_PER_NUMBER_PER_HOUR, HOUR), (limits.codes_per_number_per_day, DAY)]
        self._clock = clock
        self._counts: tuple[float, dict[str, int]] | None = None
        self._counts_lock = threading.Lock()
        self._table = interests
        self._confirmation = confirmation
        # One limiter for the process: it remembers the counters it wrote and skips their reads.
        self._limiter = limiter
        # The formation's own rule decides whether a newcomer is placed at once.
        self._rules = MatchingRules(
            min_size=organisation.group_size.min,
            max_size=organisation.group_size.max,
            join_window=limits.join_window,
            match_by_area=organisation.match_by_area,
            default_locale=organisation.default_locale,
        )
        # Checked, not spent, before any counter is counted: the sender spends it when the code goes out.
        self._budget = budget

    # register ---------------------------------------------------------------------------

    def register(
        self, interest: ValidInterest, *, client_address: str | None, consent_by_phone: str | None = None
    ) -> Registration:
        """Count the caps, store this attempt on its own, send a code. The same for every caller:
        whether the number is registered already, here or for another theme, is not looked at.

        `consent_by_phone`: the operator (an id, `session:<hash>`) who took a caller's consent on the
        phone (issue 23.5); the consent is then recorded as `<version>|phone:<operator>`."""
        pkey = self._keyer.key(interest.phone)
        now = self._clock()
        code = new_code()
        salt = secrets.token_hex(16)
        token = secrets.token_urlsafe(32)
        record = Interest(
            theme=interest.theme,
            key=INTEREST_PREFIX + new_sortable_key(),
            phone=interest.phone,
            created_at=now,
            name=interest.name,
            locale=interest.locale,
            area=interest.area,
            consent_version=consent_recorded(self._org.consent_version, consent_by_phone),
            withdraw_token_hash=_hash(token),
            code_hash=_hash(salt, code),
            code_salt=salt,
            code_expires_at=now + CODE_LIFETIME,
            code_attempts=0,
        )
        # Check every cap, then count: a request refused by one spends none. A check passes on what this
        # process last saw of a counter; the count is conditional on that version and re-reads when another
        # instance moved it, so a race can still refuse while counting. The budget's codes' share is checked
        # with the rest (its refusal spends nobody's counter) and spent by the sender when the code goes out.
        # A number this process has not seen is counted by creating its counter, with no read first (a new
        # counter cannot refuse: one call where a read and a create made two); only when it exists is it
        # read and checked, still before any client counter is spent. What a later refusal (the budget, a
        # race lost on a client bucket) would have spent on a new number's counter is taken back.
        clients = self._client_caps(client_address)
        number = (f"{PHONE_PREFIX}{pkey}", self._number_limits)
        try:
            self._limiter.check_all(clients)
        except RateLimited as refused:
            self._refuse_with_number(refused, number)
        opened = self._limiter.open_new(*number)
        try:
            if opened is None:
                self._limiter.check(*number)  # on what open_new read or this process remembers: no call
            self._budget.check(Lane.CODES)
            for key, limits in clients:
                self._limiter.hit_all(key, limits)
        except (RateLimited, BudgetExhausted):
            if opened is not None:
                self._limiter.take_back(opened)
            raise
        if opened is None:
            self._limiter.hit_all(*number)
        rows = self._table.unit()
        change = rows.change(interest.theme)
        change.create(record)
        change.add_marker(attempt_marker_key(pkey, record.key), record.key)
        with storage_errors():
            rows.commit()

        verification = Code(code=code, minutes=CODE_MINUTES)
        body = compose(self._templates, VERIFICATION, verification, interest.locale, self._org)
        try:
            self._sender.send(interest.phone, body)
        except BudgetExhausted:  # the codes' share ran out since the check: the same 503, no attempt kept
            self._delete_attempt(record)
            raise
        except PermanentSmsError:
            self._delete_attempt(record)
            raise Undeliverable() from None
        except SmsError:
            self._delete_attempt(record)
            raise SmsUnavailable() from None
        return Registration(record.id, token, interest.phone[-2:])

    def _refuse_with_number(self, refused: RateLimited, number: tuple[str, Limits]) -> NoReturn:
        """A client cap refused: raise the longest wait of it and the number's (as checking all of them did)."""
        try:
            self._limiter.check(*number)
        except RateLimited as also:
            raise max((refused, also), key=lambda exc: exc.retry_after) from None
        raise refused

    def _client_caps(self, address: str | None) -> list[tuple[str, Limits]]:
        """The client's buckets: its exact address (the web layer gives an IPv6 client as its /64), and the
        networks around it, each under its own keyed id; requests without an address share one bucket."""
        if not address:
            return [(NO_ADDRESS_KEY, [(self._client_limit, HOUR)])]
        caps: list[tuple[str, Limits]] = [(f"{CLIENT_PREFIX}.{self._keyer.key(address)}", [(self._client_limit, HOUR)])]
        try:
            network = ipaddress.ip_network(address.strip(), strict=False)
        except ValueError:
            return caps
        for prefix in _NETWORKS[network.version]:
            if network.prefixlen <= prefix:
                continue  # the address given is this network already (an IPv6 client's /64)
            wider = network.supernet(new_prefix=prefix)
            limit = self._client_limit if prefix == 64 else self._network_limit
            caps.append((f"{CLIENT_PREFIX}{prefix}.{self._keyer.key(str(wider))}", [(limit, HOUR)]))
        return caps

    def busiest_clients(self) -> list[str]:
        """Who is spending the SMS budget: the busiest client buckets of the last hour, by keyed id (the kind
        and the first 8 hex digits of the HMAC; never an address), e.g. "/24 3f9a21c0: 41"."""
        found = []
        for key, count in self._limiter.busiest(CLIENT_PREFIX, HOUR):
            kind, _, keyed = key.partition(".")
            if key == NO_ADDRESS_KEY:
                found.append(f"none: {count}")
            else:
                found.append(f"{_BUCKET_LABELS.get(kind, kind)} {keyed[:8]}: {count}")
        return found

    def _delete_attempt(self, record: Interest) -> None:
        """A pending attempt and its marker go; nothing else of the number is touched."""
        marker = attempt_marker_key(self._keyer.key(record.phone), record.key)
        rows = self._table.unit()
        try:
            change = rows.change(record.theme)
            change.delete(record.key)
            change.delete(marker)
            try:
                rows.commit()
            except LostRace:  # one of them is gone already: remove the other alone
                for key in (record.key, marker):
                    rows.delete_quietly(record.theme, key)
        except Exception:  # the retention sweep removes unverified rows that outlive their code
            log.warning("could not remove an unconfirmed attempt", exc_info=False)

    # verify -----------------------------------------------------------------------------

    def get(self, interest_id: str) -> Interest:
        return self._read(interest_id)[1]

    def _read(self, interest_id: str) -> tuple[Rows, Interest]:
        """The interest in a fresh unit of work, which remembers its version for a conditional write."""
        location = split_interest_id(interest_id)
        if location is None or self._org.theme(location[0]) is None:
            raise NotFound()
        rows = self._table.unit()
        record = rows.interest(*location)
        if record is None:
            raise NotFound()
        return rows, record

    def _read_with_line(self, interest_id: str) -> tuple[Rows, Interest, tuple[dict[str, Interest], dict[str, Group]]]:
        """As `_read`, with the theme's waiting line from the same query (what `_outlook` needs afterwards)."""
        location = split_interest_id(interest_id)
        if location is None or self._org.theme(location[0]) is None:
            raise NotFound()
        rows = self._table.unit()
        record, line = rows.interest_and_waiting_line(*location)
        if record is None:
            raise NotFound()
        return rows, record, line

    def verify(self, interest_id: str, code: str) -> Verified:
        for _ in range(5):  # re-read when a concurrent attempt changed the row
            rows, record, line = self._read_with_line(interest_id)
            if record.status is not InterestStatus.PENDING_VERIFICATION:
                raise AlreadyVerified()
            now = self._clock()
            if (
                record.code_hash is None
                or record.code_salt is None
                or record.code_expires_at is None
                or record.code_expires_at <= now
                or record.code_attempts >= MAX_CODE_ATTEMPTS
            ):
                raise CodeExpired()
            if not hmac.compare_digest(_hash(record.code_salt, code), record.code_hash):
                if not rows.try_replace(record.model_copy(update={"code_attempts": record.code_attempts + 1})):
                    continue
                raise WrongCode()
            try:
                with storage_errors():
                    target = self._confirmation.confirm(rows, record, now)
            except Conflict:
                continue
            self._invalidate_counts()
            if target.status is not InterestStatus.WAITING:
                return Verified(
                    record.theme, 0, target.id, target.status, merged=target.key != record.key, area=target.area
                )
            self.request_formation(record.theme)
            needed, joining = self._outlook(line, record, target, now)
            return Verified(
                record.theme, needed, target.id, target.status, target.key != record.key, joining, target.area
            )
        raise CodeExpired()

    def _outlook(
        self,
        line: tuple[dict[str, Interest], dict[str, Group]],
        attempt: Interest,
        person: Interest,
        now: datetime,
    ) -> tuple[int, bool]:
        """How many more their bucket needs, and whether a starting group has a seat for them, from the
        theme's waiting line as read with the attempt (its waiting people and the groups that still take
        members), with the person now waiting in it: no read of its own."""
        waiting = {k: i for k, i in line[0].items() if k != attempt.key}
        waiting[person.key] = person
        groups = line[1]
        counts: Counter[str] = Counter(self._bucket(person.theme, i.area) for i in waiting.values())
        if self._joins_at_once(person, list(waiting.values()), list(groups.values()), now):
            return 0, True
        return self.needed(person.theme, person.area, counts), False

    def _joins_at_once(self, person: Interest, waiting: list[Interest], groups: list[Group], now: datetime) -> bool:
        """As formation decides it: seats of open groups in their bucket go to the oldest in line first."""
        same = (lambda area: area == person.area) if self._rules.match_by_area else (lambda area: True)
        seats = sum(
            self._rules.max_size - len(g.member_keys)
            for g in groups
            if same(g.area) and takes_joiners(len(g.member_keys), g.formed_at, self._rules, now)
        )
        ahead = sum(1 for i in waiting if same(i.area) and (i.created_at, i.key) < (person.created_at, person.key))
        return ahead < seats

    def request_formation(self, theme: str) -> None:
        try:
            self._queues.enqueue(FORMATION_REQUESTS, formation_request(theme))
        except Exception:  # the timer sweep forms the group a few minutes later instead
            log.warning("could not request formation right away; the sweep will", exc_info=False)

    # withdraw ---------------------------------------------------------------------------

    def withdraw(self, interest_id: str, token: str) -> None:
        """Erase the interest if the token matches; NotFound for a wrong token or a missing interest alike."""
        try:
            record = self.get(interest_id)
        except NotFound:
            hmac.compare_digest(_hash(token), _hash(""))  # same work either way
            raise
        if not hmac.compare_digest(_hash(token), record.withdraw_token_hash):
            raise NotFound()
        if record.status is InterestStatus.PENDING_VERIFICATION:
            # An unconfirmed attempt is only itself: its token must never reach the number's registration.
            with storage_errors():
                self._delete_attempt(record)
            return
        # As erasure does it: out of the group (the facilitator is told), texts to them gone, counts kept.
        self._erasure.erase_interest(record)
        self._invalidate_counts()

    # counts -----------------------------------------------------------------------------

    def waiting_counts(self) -> dict[str, int]:
        """Verified people waiting per bucket ('theme' or 'theme/area' when matching by area)."""
        with self._counts_lock:
            if self._counts and time.monotonic() - self._counts[0] < COUNTS_TTL:
                return self._counts[1]
        counts: Counter[str] = Counter(
            self._bucket(theme, area)
            for theme, label, area in self._table.unit().waiting_and_groups()
            if label == "waiting"
        )
        with self._counts_lock:
            self._counts = (time.monotonic(), dict(counts))
        return dict(counts)

    def _invalidate_counts(self) -> None:
        with self._counts_lock:
            self._counts = None

    def _bucket(self, theme: str, area: str | None) -> str:
        return f"{theme}/{area}" if self._org.match_by_area and area else theme

    def waiting(self, theme: str, area: str | None = None, counts: Mapping[str, int] | None = None) -> int:
        """People waiting where a newcomer would be matched; with no area given, the closest bucket."""
        counts = self.waiting_counts() if counts is None else counts
        if self._org.match_by_area and area is None:
            return max((n for key, n in counts.items() if key.startswith(f"{theme}/")), default=0)
        return counts.get(self._bucket(theme, area), 0)

    def needed(self, theme: str, area: str | None = None, counts: Mapping[str, int] | None = None) -> int:
        return more_needed(self._org.group_size.min, self.waiting(theme, area, counts))


__all__ = [
    "AlreadyVerified",
    "CodeExpired",
    "IntakeService",
    "NotFound",
    "Registration",
    "SmsUnavailable",
    "Undeliverable",
    "Verified",
    "WrongCode",
]
