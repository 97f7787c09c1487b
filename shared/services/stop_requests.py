"""STOP, made durable: the webhook queues it, a queue-triggered function carries it out.

Twilio does not post an inbound message again when our webhook answers 503: by default it retries
once, and only when it could not connect ("Retry count (rc) … Default: 1 … if its connection to your
webhook fails", https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides). So a STOP
that met a storage outage mid-erasure used to be lost. Now the webhook's only write is one message on
the `stop-requests` queue, before its 200; the function `erase_on_stop` (functions/stop.py) does the
rest, and the queue retries it (host.json: maxDequeueCount); one that fails every try goes back on the
queue an hour later (`retry_poisoned`), for as long as it takes, and the coordinator is told daily. When even the
queue cannot be written the webhook answers 503; Twilio tries again only where the webhook URL carries
connection overrides that say so (infra/README.md, "Twilio settings").

The message holds the number (E.164) and the inbound sid: nothing shorter lets the worker find the
facilitator, send the confirmation and erase. It lives seconds; the erasure scan covers the queue and
its poison queue.

Carrying out a STOP, each step safe to repeat (a redelivered message repeats them):
1. the inbound message's provider copy is marked to go at once (the person's number and "STOP");
2. a facilitator with that number is deactivated and their page links revoked (their link version
   bumped), and the coordinator is told, since their groups need someone else;
3. the number is erased in every partition that holds it, themes no longer offered included;
4. the confirmation goes through the sender (bounded to the organisation's countries) and its copy is
   marked to go at once too.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from shared.adapters.queues import Queues
from shared.adapters.ratelimit import OncePerWindow
from shared.adapters.records import FacilitatorTable
from shared.adapters.sms.base import SmsSender
from shared.adapters.sms.copies import ProviderCopies
from shared.adapters.storage import STOP_REQUESTS
from shared.adapters.templates import Templates
from shared.core.organisation import Organisation
from shared.services.erasure import Erasure, ErasureReport
from shared.services.rekey import Rekey
from shared.services.replies import Replies
from shared.services.sms_kinds import COORDINATOR_NOTICE, Notice, compose

log = logging.getLogger(__name__)

# A poisoned STOP waits this long before its next round of deliveries.
POISON_RETRY_SECONDS: Final = 3600
_E164: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SID: Final = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")


class StopRequestError(ValueError):
    """A queue message that is no STOP request: retrying cannot mend it."""


@dataclass
class StopReport:
    erasure: ErasureReport = field(default_factory=ErasureReport)
    facilitators_stopped: int = 0
    confirmed: bool = False


class StopRequests:
    def __init__(
        self,
        *,
        queues: Queues,
        copies: ProviderCopies,
        facilitators: FacilitatorTable,
        alerts: OncePerWindow,
        erasure: Erasure,
        rekey: Rekey,
        organisation: Organisation,
        replies: Replies,
        templates: Templates,
        sender: SmsSender,
        clock: Callable[[], datetime],
    ) -> None:
        self._queues = queues
        self._org = organisation
        self._erasure = erasure
        self._rekey = rekey
        self._replies = replies
        self._templates = templates
        self._sender = sender
        self._copies = copies
        self._facilitators = facilitators
        self._alerts = alerts
        self._clock = clock

    def accept(self, phone: str, message_sid: str) -> None:
        """Queue one STOP. Raises StorageUnavailable when the queue cannot be written (answer 503)."""
        sid = message_sid if _SID.match(message_sid) else ""
        self._queues.enqueue(STOP_REQUESTS, json.dumps({"phone": phone, "sid": sid}))

    def carry_out(self, text: str) -> StopReport:
        """Do what one queued STOP asks. Storage errors raise, so the queue tries again."""
        phone, sid = _parse(text)
        self._rekey.retire_legacy_keys()
        report = StopReport()
        if sid:
            self._copies.erase_soon([sid])  # the person's "STOP" at the provider: gone with the erasure below
        locale = self._stop_facilitators(phone, report)
        report.erasure = self._erasure.erase_number(phone, themes=self._erasure.every_theme())
        sent = self._replies.answer(phone, "stop_reply", report.erasure.locale or locale, once_a_day=False)
        if sent is not None:
            report.confirmed = True
            self._copies.erase_soon([sent.sid])  # deleted once final: the daily run, or the next erasure
        log.info(
            "STOP: erased %d interest(s), left %d group(s), %d facilitator(s) told, %d facilitator(s) stopped",
            report.erasure.interests_erased,
            report.erasure.groups_left,
            report.erasure.facilitators_notified,
            report.facilitators_stopped,
        )
        return report

    def _stop_facilitators(self, phone: str, report: StopReport) -> str | None:
        """Deactivate every facilitator with this number and revoke their links; tell the coordinator."""
        locale: str | None = None
        for facilitator in [f for f in self._facilitators.list() if f.phone == phone]:
            locale = locale or facilitator.locales[0]
            self._facilitators.replace(
                facilitator.model_copy(update={"active": False, "link_version": facilitator.link_version + 1})
            )
            if facilitator.active:  # an inactive one (stopped before: a redelivered message) needs no news
                report.facilitators_stopped += 1
                self._tell_coordinator(facilitator.name)
        return locale

    def _tell_coordinator(self, name: str) -> None:
        notice = Notice("facilitator_stopped", facilitator=name)
        body = compose(self._templates, COORDINATOR_NOTICE, notice, self._org.default_locale, self._org)
        try:
            self._sender.send(self._org.coordinator_phone, body)
        except Exception as exc:  # the facilitator is stopped all the same; operators see them inactive
            log.warning("the coordinator could not be told of a facilitator's STOP (%s)", type(exc).__name__)

    def retry_poisoned(self, text: str) -> bool:
        """A STOP that failed every delivery (storage answering for queues but not for tables, say) goes
        back on the queue, hidden for an hour, for as long as it takes: a STOP is never dropped. The
        coordinator hears of it once a day (no number). False for a message that is no STOP."""
        try:
            _parse(text)
        except StopRequestError:
            return False
        self._queues.enqueue(STOP_REQUESTS, text, delay=timedelta(seconds=POISON_RETRY_SECONDS))
        log.warning("a STOP failed every retry; queued again for an hour from now")
        now = self._clock()
        try:
            if self._alerts.claim("stop.alerts", now.strftime("%Y%m%d"), now + timedelta(days=2)):
                notice = Notice("stop_failing")
                body = compose(self._templates, COORDINATOR_NOTICE, notice, self._org.default_locale, self._org)
                self._sender.send(self._org.coordinator_phone, body)
        except Exception as exc:  # tomorrow's failure tells them
            log.warning("the coordinator could not be told of a failing STOP (%s)", type(exc).__name__)
        return True


def _parse(text: str) -> tuple[str, str]:
    try:
        document = json.loads(text)
    except ValueError:
        raise StopRequestError("not JSON") from None
    if not isinstance(document, dict):
        raise StopRequestError("not an object")
    phone, sid = document.get("phone"), document.get("sid", "")
    if not isinstance(phone, str) or not _E164.match(phone):
        raise StopRequestError("no number")
    if not isinstance(sid, str) or (sid and not _SID.match(sid)):
        raise StopRequestError("a sid that is none")
    return phone, sid


__all__ = ["StopReport", "StopRequestError", "StopRequests"]
