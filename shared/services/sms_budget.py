"""The installation's budget of verification texts: what bounds the SMS bill when a bot pumps codes.

Per-number and per-client caps do not stop SMS pumping: a bot rotates numbers (premium ranges abroad
pay it per text) and addresses. So the whole installation has an hourly and a daily cap
(SMS_CODES_PER_HOUR, SMS_CODES_PER_DAY). When one is full, registration answers 503 with
Retry-After and the coordinator gets one text per window saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.adapters.ratelimit import OncePerWindow, RateLimited, RateLimiter
from shared.adapters.sms import SmsError, SmsSender
from shared.adapters.storage import StorageAccount
from shared.adapters.templates import Templates
from shared.core.organisation import Organisation

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BUDGET_KEY = "budget.verification"
ALERTS_KEY = "budget.alerts"


class BudgetExhausted(Exception):
    """The installation has sent all the verification texts it may in this hour or day."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"SMS budget exhausted; retry after {retry_after}s")
        self.retry_after = retry_after


class SmsBudget:
    def __init__(
        self,
        *,
        storage: StorageAccount,
        sender: SmsSender,
        templates: Templates,
        organisation: Organisation,
        per_hour: int,
        per_day: int,
        clock: Callable[[], datetime],
        spenders: Callable[[], list[str]] | None = None,
    ) -> None:
        # One limiter for the process: the budget row is written by every registration, and the limiter
        # writes on top of the version it wrote last instead of reading it first.
        self._limiter = RateLimiter.of(storage, clock)
        self._alerts = OncePerWindow.of(storage)
        self._sender = sender
        self._templates = templates
        self._org = organisation
        self.per_hour = per_hour
        self.per_day = per_day
        self._clock = clock
        # Who is spending it (issue 19.6): the busiest client buckets by keyed id, named in the alert.
        self._spenders = spenders

    def spend(self) -> None:
        """Count one verification text, or raise BudgetExhausted (and alert the coordinator once)."""
        try:
            self._limiter.hit_all(BUDGET_KEY, [(self.per_hour, HOUR), (self.per_day, DAY)])
        except RateLimited as exc:
            self._alert_once(exc.window or HOUR, exc.retry_after)
            raise BudgetExhausted(exc.retry_after) from None

    def check(self) -> None:
        """Raise BudgetExhausted (alerting once) when a text could not be counted now; counts nothing.
        Registration checks every cap before it counts any (services/intake.py)."""
        try:
            self._limiter.check(BUDGET_KEY, [(self.per_hour, HOUR), (self.per_day, DAY)])
        except RateLimited as exc:
            self._alert_once(exc.window or HOUR, exc.retry_after)
            raise BudgetExhausted(exc.retry_after) from None

    def _busiest(self) -> list[str]:
        try:
            return self._spenders() if self._spenders else []
        except Exception:  # the alert matters more than its detail
            log.warning("could not read who is spending the SMS budget", exc_info=False)
            return []

    def _alert_once(self, window: timedelta, retry_after: int) -> None:
        """One text to the coordinator per full window, whichever instance sees the refusal first."""
        seconds = int(window.total_seconds())
        now = self._clock()
        bucket = int(now.timestamp() // seconds)
        row = f"{seconds}.{bucket}"
        # Retention erases expired rate-limit rows; this one is needed until its window is over.
        expires_at = datetime.fromtimestamp((bucket + 2) * seconds, tz=now.tzinfo)
        try:
            if not self._alerts.claim(ALERTS_KEY, row, expires_at):
                return  # already told for this window
        except Exception:
            log.warning("could not record the SMS budget alert; not sending it", exc_info=False)
            return
        limit = self.per_day if window >= DAY else self.per_hour
        body = self._templates.sms(
            "sms_budget_alert",
            self._org.default_locale,
            limit=limit,
            daily=window >= DAY,
            minutes=max(1, retry_after // 60),
            spenders=self._busiest(),
        )
        try:
            self._sender.send(self._org.coordinator_phone, body)
        except SmsError:
            log.warning("could not send the SMS budget alert to the coordinator", exc_info=False)
            # Let the next refusal try again.
            try:
                self._alerts.release(ALERTS_KEY, row)
            except Exception:
                log.warning("could not clear the SMS budget alert marker", exc_info=False)
