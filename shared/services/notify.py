"""Sending the outbox: every text once, in the reader's language.

A queue message names the outbox rows one transaction committed, change after change
(shared/services/outbox.py); each is sent in turn. A row is read first (already sent: done), claimed
with its ETag once a sending slot is free (a parallel delivery naming the same row loses the claim and
skips it), rendered from current data, sent, and the provider's id recorded. Permanent provider errors
fail that row for good and tell the coordinator once; transient ones give that row's claim back, the
other rows are still sent, and then the message is raised back to the queue, whose retry finds only the
unsent rows pending. A message that fails every retry lands in the poison queue, where every row it
names that is still unsent is failed visibly and the coordinator told once per group change among them.

The sender waits for room in the installation's send rate and spends its SMS budget
(adapters/sms/metered.py). When the budget's share for these texts is spent (or no room in the rate
comes within the longest wait), nothing was sent: the rows go back to pending, marked as queued again
for when the window has room, and the message is put back on the queue with that delay. Nothing is
lost (the formation sweep re-queues them after that time even if this put failed) and nothing is
sent twice (the rows are claimed again, as on any delivery). No retry is spent on a budget.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from shared.adapters.interests import InterestsTable, Rows
from shared.adapters.queues import Queues
from shared.adapters.sms.base import PermanentSmsError, SmsError, SmsSender
from shared.adapters.sms.copies import ProviderCopies
from shared.adapters.sms.send_rate import SendRateBusy
from shared.adapters.storage import NOTIFICATIONS
from shared.adapters.templates import Templates
from shared.core.domain import (
    OUTBOX_PREFIX,
    Interest,
    MessageStatus,
    OutboxMessage,
    RecipientType,
    to_coordinator,
)
from shared.core.facilitators import Facilitator
from shared.core.local_time import organisation_tz
from shared.core.organisation import Organisation
from shared.core.replies import coordinator_contact
from shared.services.facilitators import FacilitatorStore
from shared.services.outbox import NotificationMessageError, parse_queue_message, queue_committed
from shared.services.sms_budget import BudgetExhausted
from shared.services.sms_kinds import KINDS, Draft, render

log = logging.getLogger(__name__)

# A claim older than this belongs to an invocation that died mid-send; the message may be retried.
STALE_CLAIM = timedelta(minutes=2)
# How long a worker waits on the provider's Retry-After before going on (and finally retrying the message).
MAX_RETRY_WAIT = 5.0
# No row is started after this long in one invocation: the rest go back to the queue, far inside
# host.json's functionTimeout (5 minutes) even when every send waits for the provider's full timeout.
SEND_BUDGET = 120.0
# A deferred message comes back after the budget's Retry-After, at most this long (a queue message may be
# invisible for up to 7 days; the budget's longest window is one).
MAX_DEFER = timedelta(days=1)
# What keeps a text from going out now without anything having failed: the budget's share is spent, or the
# send rate has no room within the longest wait.
NOT_NOW = (BudgetExhausted, SendRateBusy)


class RateGate:
    """At most `rate` sends per second across all threads of this process. Only an extra, local bound: the
    installation's rate is held by the sender (adapters/sms/send_rate.py), across every instance."""

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)


@dataclass(frozen=True)
class Outcome:
    sent: bool
    # "sent", "already_done", "claimed_elsewhere", "failed", "gone", "recipient_gone", "retry", "deferred"
    reason: str


@dataclass(frozen=True)
class SendReport:
    """What became of each row a queue message names."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)

    @property
    def sent(self) -> bool:
        """Every row named was sent by this invocation."""
        return bool(self.outcomes) and all(o.sent for o in self.outcomes.values())

    @property
    def texts_sent(self) -> int:
        return sum(o.sent for o in self.outcomes.values())

    @property
    def reason(self) -> str:
        """One row's reason, or a count per reason ("5 sent, 1 already_done"); "gone" for no row at all."""
        counts = Counter(o.reason for o in self.outcomes.values())
        if len(counts) <= 1 and sum(counts.values()) <= 1:
            return next(iter(counts), "gone")
        return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))


class UnfinishedMessage(RuntimeError):
    """Rows left unsent when the invocation's time budget ran out: the queue's retry sends them."""


def short_ref(group_key: str) -> str:
    """Six characters people can read over the phone; the full id stays in admin."""
    return group_key[-6:].upper() if group_key else "-"


@dataclass(frozen=True)
class Pacing:
    """How the notifier spends its time: an optional local rate gate (the installation's rate is the
    sender's), how old a claim must be before it is taken for dead, and how long one message may send
    before it hands the rest back to the queue. The defaults are production's; fault tests compress them."""

    gate: RateGate | None = None
    stale_claim: timedelta = STALE_CLAIM
    send_budget: float = SEND_BUDGET
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


class Notifier:
    def __init__(
        self,
        *,
        interests: InterestsTable,
        queues: Queues,
        copies: ProviderCopies,
        sender: SmsSender,
        templates: Templates,
        organisation: Organisation,
        facilitators: FacilitatorStore,
        public_base_url: str | None,
        facilitator_link: Callable[[Facilitator], str] | None,
        clock: Callable[[], datetime],
        pacing: Pacing,
    ) -> None:
        """`public_base_url` None: no delivery receipts asked for; `facilitator_link` None: no secret to sign
        the facilitators' links with, so their texts carry none."""
        self._queues = queues
        self._interests = interests
        self._sender = sender
        self._templates = templates
        self._org = organisation
        self._facilitators = facilitators
        self._gate = pacing.gate
        self._base_url = public_base_url.rstrip("/") if public_base_url else None
        self._clock = clock
        self._sleep = pacing.sleep
        self._stale_claim = pacing.stale_claim
        self._facilitator_link = facilitator_link  # the facilitator's own page (services/facilitator_page.py)
        self._copies = copies
        self._monotonic = pacing.monotonic
        self._send_budget = pacing.send_budget

    def handle(self, queue_text: str) -> SendReport:
        """Send every row the message names that is not sent yet; raise (after trying the others) if one
        failed transiently, so the queue retries the message and with it only the rows still pending."""
        try:
            named = parse_queue_message(queue_text)
        except NotificationMessageError:
            log.warning("notification message dropped: it names no outbox row")
            return SendReport()
        outcomes: dict[str, Outcome] = {}
        transient: SmsError | None = None
        started = self._monotonic()
        for row in named.rows:
            if self._monotonic() - started > self._send_budget:
                break
            try:
                outcomes[row] = self.send(named.theme, row)
            except NOT_NOW as exc:
                # The rest would be refused alike: the whole message comes back when there is room.
                outcomes[row] = Outcome(False, "deferred")
                self._defer(named.theme, named.rows, queue_text, exc.retry_after)
                return SendReport(outcomes)
            except SmsError as exc:
                outcomes[row] = Outcome(False, "retry")
                transient = transient or exc
        handled = SendReport(outcomes)
        left = len(named.rows) - len(outcomes)
        # A row another invocation holds is not done until that one records it; if that invocation died,
        # its claim goes stale and a later delivery of this message sends the row (asking the provider first).
        held = sum(o.reason == "claimed_elsewhere" for o in outcomes.values())
        if transient is not None or left or held:
            log.warning(
                "notification: %s; %s rows not tried yet; the queue retries the message", handled.reason, left + held
            )
            if transient is not None:
                raise transient
            raise UnfinishedMessage(f"{left} rows left when the time budget ran out, {held} held by another run")
        return handled

    def send(self, theme: str, row: str) -> Outcome:
        """One row: sent once, or its outcome; a transient provider error gives the claim back and raises."""
        rows = self._interests.unit()
        message = rows.message(theme, row)
        if message is None:
            return Outcome(False, "gone")  # erased with the person it was for
        if message.status not in (MessageStatus.PENDING, MessageStatus.SENDING):
            return Outcome(False, "already_done")
        if self._claimed_elsewhere(message):
            return Outcome(False, "claimed_elsewhere")
        # Wait for a local sending slot before claiming: a claim then stays young until its send is done. The
        # sender's own wait for the installation's rate is bounded far below STALE_CLAIM.
        if self._gate is not None:
            self._gate.wait()
        # Any earlier attempt (a stale claim, or a retry after a timeout) may have reached the provider:
        # the row keeps ClaimedAt through a transient failure, so ask the provider before sending again.
        earlier_claim = message.claimed_at
        claimed = self._update(rows, message, {"status": MessageStatus.SENDING, "claimed_at": self._clock()})
        if claimed is None:
            return Outcome(False, "claimed_elsewhere")

        rendered = self._render(rows, claimed)
        if rendered is None:
            self._update(rows, claimed, {"status": MessageStatus.FAILED, "error": "recipient_gone", "subject_name": ""})
            return Outcome(False, "recipient_gone")
        phone, body, named = rendered

        callback = None
        if self._base_url:
            callback = f"{self._base_url}/api/sms/status?{urlencode({'theme': theme, 'row': row})}"
        if earlier_claim is not None:
            try:
                found = self._sender.find_sent(phone, body, earlier_claim)
            except SmsError:
                # Provider unreachable: give the claim back as for a failed send, or the retry would take
                # the row for a live run's and wait out STALE_CLAIM after the provider is back.
                self._update(rows, claimed, {"status": MessageStatus.PENDING}, force=True)
                raise
            if found is not None:
                self._record_sent(rows, claimed, found.sid, named)
                return Outcome(False, "already_done")
        try:
            result = self._sender.send(phone, body, status_callback=callback)
        except PermanentSmsError as exc:
            # Failed for good: a leaver's name kept for this text goes now (it will never be sent).
            failed = {"status": MessageStatus.FAILED, "error_code": exc.code or 0, "subject_name": ""}
            self._update(rows, claimed, failed, force=True)
            log.warning("text failed permanently (provider code %s); not retried", exc.code)
            if claimed.recipient_type is not RecipientType.COORDINATOR:
                self.alert_coordinator(claimed, "failed", exc.code)
            return Outcome(False, "failed")
        except NOT_NOW:
            # Nothing reached the provider: the claim goes back, and the message with it (see handle).
            self._update(rows, claimed, {"status": MessageStatus.PENDING}, force=True)
            raise
        except SmsError as exc:
            # Give the claim back so the retry can take it, then let the queue retry.
            self._update(rows, claimed, {"status": MessageStatus.PENDING}, force=True)
            if exc.retry_after:
                self._sleep(min(exc.retry_after, MAX_RETRY_WAIT))
            raise
        self._record_sent(rows, claimed, result.sid, named)
        return Outcome(True, "sent")

    def _defer(self, theme: str, keys: tuple[str, ...], queue_text: str, retry_after: float | None) -> None:
        """Put the message back on the queue for when the window has room. The rows still pending are first
        marked as queued then, so that the formation sweep leaves them alone until that time and re-queues
        them after it if this put is lost."""
        delay = timedelta(seconds=max(1, math.ceil(retry_after or 1)))
        delay = min(delay, MAX_DEFER)
        until = self._clock() + delay
        rows = self._interests.unit()
        deferred = 0
        for key in keys:
            message = rows.message(theme, key)
            if message is not None and message.status is MessageStatus.PENDING:
                deferred += rows.try_merge(message.model_copy(update={"enqueued_at": until}), "enqueued_at")
        log.warning(
            "notification: %s texts deferred %s s (SMS budget or send rate)", deferred, int(delay.total_seconds())
        )
        try:
            self._queues.enqueue(NOTIFICATIONS, queue_text, delay=delay)
        except Exception:
            log.warning("could not put a deferred notification back; the sweep re-queues its rows", exc_info=False)

    def _claimed_elsewhere(self, message: OutboxMessage) -> bool:
        claimed_at = message.claimed_at
        return (
            message.status is MessageStatus.SENDING
            and claimed_at is not None
            and self._clock() - claimed_at < self._stale_claim
        )

    def _record_sent(self, rows: Rows, claimed: OutboxMessage, sid: str, named: tuple[str, ...] = ()) -> None:
        sent: dict[str, Any] = {
            "status": MessageStatus.SENT,
            "provider_sid": sid,
            "sent_at": self._clock(),
            "named_keys": named,
        }
        if claimed.subject_name:
            sent["subject_name"] = ""  # the leaver's name is not kept once the facilitator knows...
            self._copies.erase_soon([sid])  # ...nor at the provider, once the text is final
        if self._update(rows, claimed, sent) is None:
            # A delivery receipt got here first (delivered, undelivered…): keep its status, add the sid.
            del sent["status"]
            self._update(rows, claimed, sent, force=True)

    # rendering ---------------------------------------------------------------------------

    def _render(self, rows: Rows, message: OutboxMessage) -> tuple[str, str, tuple[str, ...]] | None:
        """The recipient's number, the text, and the keys of the people it names, from current data;
        None if the recipient is gone."""
        kind = KINDS[message.kind]
        member: Interest | None = None
        if kind.recipient is RecipientType.MEMBER and message.group_key:
            # The group and the member in one query (issue 22: each storage call is about 2.5 ms of CPU).
            group, member = rows.group_and_member(message.theme, message.group_key, message.recipient_id)
        else:
            group = rows.group(message.theme, message.group_key) if message.group_key else None
        facilitator: Facilitator | None = None
        members: list[Interest] = []
        locale: str
        if kind.recipient is RecipientType.COORDINATOR:
            phone, locale = self._org.coordinator_phone, self._org.default_locale
        elif kind.recipient is RecipientType.MEMBER:
            if member is None or group is None:  # without a group no member's text is sent
                return None
            facilitator = self._facilitators.get(group.facilitator_id or "")
            phone, locale = member.phone, member.locale
        else:
            facilitator = self._facilitators.get(message.recipient_id)
            if facilitator is None or group is None:
                return None
            # The group's language, or one the facilitator reads.
            locale = message.locale if message.locale in facilitator.locales else facilitator.locales[0]
            phone = facilitator.phone
            present = rows.interests(group.theme, group.member_keys)
            members = [present[k] for k in group.member_keys if k in present]
        draft = Draft(
            message=message,
            locale=locale,
            group=group,
            member=member,
            facilitator=facilitator,
            members=members,
            theme_phrase=self._org.theme_text(message.theme, locale).phrase,
            now=self._clock(),
            tz=organisation_tz(self._org),
            coordinator_phone=self._org.coordinator_phone,
            coordinator_contact=coordinator_contact(self._org),
            organisation=self._org,
            facilitator_link=self._facilitator_link(facilitator)
            if self._facilitator_link and facilitator and kind.recipient is RecipientType.FACILITATOR
            else "",
        )
        rendered = render(self._templates, message.kind, draft, self._org, short_ref(message.group_key))
        if rendered is None:
            return None
        text, context = rendered
        return phone, text, _named(message, context)

    # bookkeeping -------------------------------------------------------------------------

    def _update(
        self, rows: Rows, message: OutboxMessage, changes: dict, *, force: bool = False
    ) -> OutboxMessage | None:
        """Merge `changes` (record fields) if the row is as we read it (or regardless, with force);
        None on a lost race."""
        updated = message.model_copy(update=changes)
        if not rows.try_merge(updated, *changes, force=force):
            return None
        return updated

    def alert_coordinator(self, about: OutboxMessage, reason: str, error_code: int | None = None) -> None:
        """One alert per failed message: the alert row's key derives from the message's, so a second is refused."""
        key = f"{OUTBOX_PREFIX}alert.{about.key.removeprefix(OUTBOX_PREFIX)}"
        alert = to_coordinator(
            about.theme,
            about.group_key,
            reason,
            self._clock(),
            self._org.default_locale,
            error_code=error_code,
            key=key,
        )
        if not self._interests.unit().try_create(alert):
            return  # already alerted about this message
        queue_committed(self._queues, [alert])

    def record_poisoned(self, queue_text: str) -> None:
        """A message that failed every retry: fail each row it names that is still unsent, visibly, and tell
        the coordinator once per group change among them (each alert's key derives from that change's first
        such row, so a rerun adds none)."""
        try:
            named = parse_queue_message(queue_text)
        except NotificationMessageError:
            return
        rows = self._interests.unit()
        messages = [m for m in (rows.message(named.theme, key) for key in named.rows) if m is not None]
        unsent = [m for m in messages if m.status in (MessageStatus.PENDING, MessageStatus.SENDING)]
        for message in unsent:
            self._update(
                rows, message, {"status": MessageStatus.FAILED, "error": "poisoned", "subject_name": ""}, force=True
            )
        if unsent:
            log.warning("%s texts failed every retry and were moved to the poison queue", len(unsent))
        poisoned = [
            m
            for m in messages
            if (m in unsent or (m.status is MessageStatus.FAILED and m.error == "poisoned"))
            and m.recipient_type is not RecipientType.COORDINATOR
        ]
        # One alert per group change among them: a message names the texts of every change one transaction
        # committed, and each change is the coordinator's to follow up, as when each had a message of its own.
        first_per_change: dict[str, OutboxMessage] = {}
        for message in poisoned:
            first_per_change.setdefault(message.group_key, message)
        for message in first_per_change.values():
            self.alert_coordinator(message, "failed")


def _named(message: OutboxMessage, context: dict[str, Any]) -> tuple[str, ...]:
    """Whom a rendered text names: every member handed to its template (a roster's list, a joiner) and the
    members it is about (a leaver, whose name the row carries)."""
    named = dict.fromkeys(message.subject_keys)
    for value in context.values():
        for item in value if isinstance(value, list | tuple) else (value,):
            if isinstance(item, Interest):
                named[item.key] = None
    return tuple(named)


__all__ = ["Notifier", "Outcome", "RateGate", "SendReport", "UnfinishedMessage", "short_ref"]
