"""Sending the outbox: every text once, in the reader's language.

A queue message names an outbox row. The row is read first (already sent: done), claimed
with its ETag (a parallel delivery of the same message loses the claim and stops), rendered
from current data, sent, and the provider's id recorded. Permanent provider errors fail the
row for good and tell the coordinator once; transient ones give the claim back and raise, so
the queue retries and finally moves the message to the poison queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.sms import PermanentSmsError, SmsError, SmsSender
from shared.adapters.storage import INTERESTS, StorageAccount, storage_errors
from shared.adapters.templates import Templates
from shared.core.domain import (
    OUTBOX_PREFIX,
    Group,
    Interest,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    RecipientType,
    utcnow,
)
from shared.core.organisation import Organisation
from shared.services.facilitators import FacilitatorStore
from shared.services.outbox import queue_committed

log = logging.getLogger(__name__)

# A claim older than this belongs to an invocation that died mid-send; the message may be retried.
STALE_CLAIM = timedelta(minutes=2)
# How long a worker waits on the provider's Retry-After before handing the message back to the queue.
MAX_RETRY_WAIT = 5.0


class RateGate:
    """At most `rate` sends per second across all threads of this process (Twilio's MPS per sender)."""

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


class NotificationMessageError(ValueError):
    """A queue message that names no outbox row: dropped, since retrying cannot fix it."""


def parse_queue_message(text: str) -> tuple[str, str]:
    try:
        data = json.loads(text)
        theme, row = data["theme"], data["row"]
    except (ValueError, KeyError, TypeError):
        raise NotificationMessageError("not an outbox reference") from None
    if not isinstance(theme, str) or not isinstance(row, str) or not row.startswith(OUTBOX_PREFIX):
        raise NotificationMessageError("not an outbox reference")
    return theme, row


@dataclass(frozen=True)
class Outcome:
    sent: bool
    reason: str  # "sent", "already_done", "claimed_elsewhere", "failed", "gone", "recipient_gone"


def short_ref(group_key: str) -> str:
    """Six characters people can read over the phone; the full id stays in admin."""
    return group_key[-6:].upper() if group_key else "-"


class Notifier:
    def __init__(
        self,
        *,
        storage: StorageAccount,
        sender: SmsSender,
        templates: Templates,
        organisation: Organisation,
        facilitators: FacilitatorStore,
        gate: RateGate,
        public_base_url: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        stale_claim: timedelta = STALE_CLAIM,
    ) -> None:
        self._storage = storage
        self._sender = sender
        self._templates = templates
        self._org = organisation
        self._facilitators = facilitators
        self._gate = gate
        self._base_url = public_base_url.rstrip("/") if public_base_url else None
        self._clock = clock
        self._sleep = sleep
        self._stale_claim = stale_claim

    def _table(self) -> Any:
        return self._storage.table(INTERESTS)

    def handle(self, queue_text: str) -> Outcome:
        try:
            theme, row = parse_queue_message(queue_text)
        except NotificationMessageError:
            log.warning("notification message dropped: it names no outbox row")
            return Outcome(False, "gone")
        return self.send(theme, row)

    def send(self, theme: str, row: str) -> Outcome:
        with storage_errors():
            try:
                message = OutboxMessage.from_entity(self._table().get_entity(theme, row))
            except ResourceNotFoundError:
                return Outcome(False, "gone")  # erased with the person it was for
        now = self._clock()
        if message.status not in (MessageStatus.PENDING, MessageStatus.SENDING):
            return Outcome(False, "already_done")
        claimed_at = message.claimed_at
        if message.status is MessageStatus.SENDING and claimed_at and now - claimed_at < self._stale_claim:
            return Outcome(False, "claimed_elsewhere")
        # Any earlier attempt (a stale claim, or a retry after a timeout) may have reached the provider:
        # the row keeps ClaimedAt through a transient failure, so ask the provider before sending again.
        earlier_claim = claimed_at
        claimed = self._update(message, {"Status": MessageStatus.SENDING.value, "ClaimedAt": now})
        if claimed is None:
            return Outcome(False, "claimed_elsewhere")

        rendered = self._render(claimed)
        if rendered is None:
            self._update(claimed, {"Status": MessageStatus.FAILED.value, "Error": "recipient_gone"})
            return Outcome(False, "recipient_gone")
        phone, body = rendered

        callback = None
        if self._base_url:
            callback = f"{self._base_url}/api/sms/status?{urlencode({'theme': theme, 'row': row})}"
        if earlier_claim is not None:
            found = self._sender.find_sent(phone, body, earlier_claim)
            if found is not None:
                self._record_sent(claimed, found.sid)
                return Outcome(False, "already_done")
        self._gate.wait()
        try:
            result = self._sender.send(phone, body, status_callback=callback)
        except PermanentSmsError as exc:
            self._update(claimed, {"Status": MessageStatus.FAILED.value, "ErrorCode": exc.code or 0}, force=True)
            log.warning("text failed permanently (provider code %s); not retried", exc.code)
            if claimed.recipient_type is not RecipientType.COORDINATOR:
                self.alert_coordinator(claimed, "failed", exc.code)
            return Outcome(False, "failed")
        except SmsError as exc:
            # Give the claim back so the retry can take it, then let the queue retry.
            self._update(claimed, {"Status": MessageStatus.PENDING.value}, force=True)
            if exc.retry_after:
                self._sleep(min(exc.retry_after, MAX_RETRY_WAIT))
            raise
        self._record_sent(claimed, result.sid)
        return Outcome(True, "sent")

    def _record_sent(self, claimed: OutboxMessage, sid: str) -> None:
        sent: dict[str, Any] = {"Status": MessageStatus.SENT.value, "ProviderSid": sid, "SentAt": self._clock()}
        if claimed.subject_name:
            sent["SubjectName"] = ""  # the leaver's name is not kept once the facilitator knows
        if self._update(claimed, sent) is None:
            # A delivery receipt got here first (delivered, undelivered…): keep its status, add the sid.
            del sent["Status"]
            self._update(claimed, sent, force=True)

    # rendering ---------------------------------------------------------------------------

    def _render(self, message: OutboxMessage) -> tuple[str, str] | None:
        """The recipient's number and the text, from current data; None if the recipient is gone."""
        group = self._group(message.theme, message.group_key)
        theme_of = self._org.theme_text
        common = {"organisation": self._org.name, "ref": short_ref(message.group_key)}
        locale: str
        if message.recipient_type is RecipientType.COORDINATOR:
            locale = self._org.default_locale
            body = self._templates.sms(
                "coordinator_alert",
                locale,
                reason=message.reason,
                error_code=message.error_code or "",
                theme=theme_of(message.theme, locale).phrase,
                **common,
            )
            return self._org.coordinator_phone, body
        if message.recipient_type is RecipientType.MEMBER:
            member = self._interest(message.theme, message.recipient_id)
            if member is None or group is None:
                return None
            facilitator = self._facilitators.get(group.facilitator_id or "")
            locale = member.locale
            if message.kind in (MessageKind.MEETING_SET, MessageKind.MEETING_REMINDER):
                from shared.services.lifecycle import format_meeting_time, organisation_tz

                if group.first_meeting_at is None:
                    return None
                body = self._templates.sms(
                    message.kind.value,
                    locale,
                    name=member.name,
                    theme=theme_of(message.theme, locale).phrase,
                    when=format_meeting_time(group.first_meeting_at, locale, organisation_tz(self._org)),
                    place=group.meeting_place,
                    facilitator=facilitator.first_name if facilitator else "",
                    **common,
                )
                return member.phone, body
            body = self._templates.sms(
                "invitation",
                locale,
                name=member.name,
                theme=theme_of(message.theme, locale).phrase,
                facilitator=facilitator.first_name if facilitator else "",
                **common,
            )
            return member.phone, body
        facilitator = self._facilitators.get(message.recipient_id)
        if facilitator is None or group is None:
            return None
        locale = message.locale if message.locale in facilitator.locales else facilitator.locales[0]
        members = [m for m in (self._interest(group.theme, k) for k in group.member_keys) if m is not None]
        context: dict[str, Any] = {"theme": theme_of(message.theme, locale).phrase, "count": len(members), **common}
        if message.kind is MessageKind.ROSTER:
            context["members"] = members
        elif message.kind is MessageKind.FACILITATOR_CHECK_IN:
            started = group.first_meeting_at or group.formed_at
            context.update(
                name=facilitator.first_name,
                weeks=max(1, (self._clock() - started).days // 7),
                coordinator=self._org.coordinator_phone,
            )
        elif message.kind is MessageKind.MEMBER_JOINED:
            context["joined"] = [m for m in members if m.key in message.subject_keys]
            if not context["joined"]:
                return None  # they left again before we could tell
        else:  # MEMBER_LEFT: the leaver's own row is erased; the outbox row carries their name until sent
            context["left"] = message.subject_name or "?"
        return facilitator.phone, self._templates.sms(message.kind.value, locale, **context)

    def _group(self, theme: str, key: str) -> Group | None:
        if not key:
            return None
        try:
            with storage_errors():
                return Group.from_entity(self._table().get_entity(theme, key))
        except ResourceNotFoundError:
            return None

    def _interest(self, theme: str, key: str) -> Interest | None:
        try:
            with storage_errors():
                return Interest.from_entity(self._table().get_entity(theme, key))
        except ResourceNotFoundError:
            return None

    # bookkeeping -------------------------------------------------------------------------

    def _update(self, message: OutboxMessage, changes: dict, *, force: bool = False) -> OutboxMessage | None:
        """Merge `changes` if the row is as we read it (or unconditionally with force); None on a lost race."""
        entity = {"PartitionKey": message.theme, "RowKey": message.key, **changes}
        kwargs: dict[str, Any] = {"mode": UpdateMode.MERGE}
        if not force:
            kwargs.update(etag=message.etag, match_condition=MatchConditions.IfNotModified)
        try:
            with storage_errors():
                meta = self._table().update_entity(entity, **kwargs)
        except (ResourceModifiedError, ResourceNotFoundError):
            return None
        status = changes.get("Status", message.status)
        return message.model_copy(update={"etag": meta.get("etag"), "status": MessageStatus(status)})

    def alert_coordinator(self, about: OutboxMessage, reason: str, error_code: int | None = None) -> None:
        """One alert per failed message: the alert row's key derives from the message's, so a second is refused."""
        alert = OutboxMessage(
            theme=about.theme,
            key=f"{OUTBOX_PREFIX}alert.{about.key.removeprefix(OUTBOX_PREFIX)}",
            kind=MessageKind.COORDINATOR_ALERT,
            recipient_type=RecipientType.COORDINATOR,
            group_key=about.group_key,
            locale=self._org.default_locale,
            reason=reason,
            error_code=error_code,
            created_at=self._clock(),
        )
        try:
            with storage_errors():
                self._table().create_entity(alert.to_entity())
        except ResourceExistsError:
            return  # already alerted about this message
        queue_committed(self._storage, [alert])

    def record_poisoned(self, queue_text: str) -> None:
        """A message that failed every retry: fail its row visibly and tell the coordinator once."""
        try:
            theme, row = parse_queue_message(queue_text)
        except NotificationMessageError:
            return
        with storage_errors():
            try:
                message = OutboxMessage.from_entity(self._table().get_entity(theme, row))
            except ResourceNotFoundError:
                return
        if message.status in (MessageStatus.PENDING, MessageStatus.SENDING):
            self._update(message, {"Status": MessageStatus.FAILED.value, "Error": "poisoned"}, force=True)
            log.warning("a notification failed every retry and was moved to the poison queue")
            if message.recipient_type is not RecipientType.COORDINATOR:
                self.alert_coordinator(message, "failed")
