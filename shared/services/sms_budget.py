"""The installation's SMS budget: one hourly and one daily cap on every outbound text.

Per-number and per-client caps do not stop SMS pumping: a bot rotates numbers (premium ranges abroad
pay it per text) and addresses; and replies, forwards, meeting texts and reports cost as much as codes.
So the whole installation has one budget for every text it sends (SMS_TEXTS_PER_HOUR,
SMS_TEXTS_PER_DAY), spent by the sender every service uses (adapters/sms/metered.py), in two shares:

- codes (`Lane.CODES`): SMS_CODES_PER_HOUR / SMS_CODES_PER_DAY of the budget are theirs alone, so residents
  can always register however many other texts went out; when the codes' share is full, registration
  answers 503 with Retry-After;
- every other text (`Lane.TEXTS`): the rest. When it is full the sender refuses with `BudgetExhausted`:
  notify hands the message back for when the window has room (nothing lost, nothing sent twice), a
  reply to an inbound text is simply not sent.

Either way the coordinator gets one text per full window saying so; the codes' alert names the
client buckets spending it, by keyed id (issue 19.6). That alert does not spend the budget (it would
be refused by the very budget it reports): it is at most one per share and window. Registration
checks the codes' share (`check`, which counts nothing) with its other caps before it counts any.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.adapters.ratelimit import OncePerWindow, RateLimited, RateLimiter
from shared.adapters.sms.base import SmsError, SmsSender, TransientSmsError
from shared.adapters.sms.send_rate import Lane
from shared.adapters.templates import Templates
from shared.core.organisation import Organisation
from shared.services.sms_kinds import SMS_BUDGET_ALERT, BudgetSpent, compose

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BUDGET_KEY = "budget.verification"  # the codes' share
TEXTS_KEY = "budget.texts"  # every other text's share
ALERTS_KEY = "budget.alerts"


class BudgetExhausted(TransientSmsError):
    """The installation has sent all the texts of this share it may in this hour or day: nothing was sent."""

    def __init__(self, retry_after: int, lane: Lane = Lane.CODES) -> None:
        super().__init__(f"SMS budget exhausted; retry after {retry_after}s", retry_after=retry_after)
        self.retry_after: int = retry_after
        self.lane = lane


class SmsBudget:
    def __init__(
        self,
        *,
        limiter: RateLimiter,
        alerts: OncePerWindow,
        sender: SmsSender,
        templates: Templates,
        organisation: Organisation,
        per_hour: int,
        per_day: int,
        texts_per_hour: int,
        texts_per_day: int,
        clock: Callable[[], datetime],
        spenders: Callable[[], list[str]],
    ) -> None:
        """`per_hour`/`per_day` are the codes' share of the whole budget `texts_per_hour`/`texts_per_day`;
        `sender` sends the coordinator's alert and must not spend this budget itself."""
        if texts_per_hour <= per_hour or texts_per_day <= per_day:
            raise ValueError("the SMS budget must be larger than the codes' share of it")
        # One limiter for the process: the budget row is written by every registration, and the limiter
        # writes on top of the version it wrote last instead of reading it first.
        self._limiter = limiter
        self._alerts = alerts
        self._sender = sender
        self._templates = templates
        self._org = organisation
        self.per_hour = per_hour
        self.per_day = per_day
        self.texts_per_hour = texts_per_hour
        self.texts_per_day = texts_per_day
        self._clock = clock
        # Who is spending it (issue 19.6): the busiest client buckets by keyed id, named in the alert.
        self._spenders = spenders

    def limits(self, lane: Lane) -> tuple[int, int]:
        """The hourly and daily cap of one share."""
        if lane is Lane.CODES:
            return self.per_hour, self.per_day
        return self.texts_per_hour - self.per_hour, self.texts_per_day - self.per_day

    def check(self, lane: Lane = Lane.CODES) -> None:
        """Raise BudgetExhausted (alerting once) when a text of `lane` could not be counted now; count
        nothing. Registration checks the codes' share with its other caps before it counts any
        (services/intake.py); the sender spends it when the code goes out."""
        per_hour, per_day = self.limits(lane)
        try:
            self._limiter.check(self._key(lane), [(per_hour, HOUR), (per_day, DAY)])
        except RateLimited as exc:
            self._alert_once(exc.window or HOUR, exc.retry_after, lane)
            raise BudgetExhausted(exc.retry_after, lane) from None

    def spend(self, lane: Lane = Lane.CODES) -> None:
        """Count one text of `lane`'s share, or raise BudgetExhausted (and alert the coordinator once)."""
        per_hour, per_day = self.limits(lane)
        try:
            self._limiter.hit_all(self._key(lane), [(per_hour, HOUR), (per_day, DAY)])
        except RateLimited as exc:
            self._alert_once(exc.window or HOUR, exc.retry_after, lane)
            raise BudgetExhausted(exc.retry_after, lane) from None

    @staticmethod
    def _key(lane: Lane) -> str:
        return BUDGET_KEY if lane is Lane.CODES else TEXTS_KEY

    def _busiest(self) -> list[str]:
        try:
            return self._spenders()
        except Exception:  # the alert matters more than its detail
            log.warning("could not read who is spending the SMS budget", exc_info=False)
            return []

    def _alert_once(self, window: timedelta, retry_after: int, lane: Lane = Lane.CODES) -> None:
        """One text to the coordinator per full window and share, whichever instance sees the refusal first."""
        seconds = int(window.total_seconds())
        now = self._clock()
        bucket = int(now.timestamp() // seconds)
        row = f"{seconds}.{bucket}" if lane is Lane.CODES else f"{lane.value}.{seconds}.{bucket}"
        # Retention erases expired rate-limit rows; this one is needed until its window is over.
        expires_at = datetime.fromtimestamp((bucket + 2) * seconds, tz=now.tzinfo)
        try:
            if not self._alerts.claim(ALERTS_KEY, row, expires_at):
                return  # already told for this window
        except Exception:
            log.warning("could not record the SMS budget alert; not sending it", exc_info=False)
            return
        per_hour, per_day = self.limits(lane)
        spent = BudgetSpent(
            limit=per_day if window >= DAY else per_hour,
            daily=window >= DAY,
            minutes=max(1, retry_after // 60),
            texts=lane is Lane.TEXTS,
            # Who spends the codes' share: registration's busiest client buckets (issue 19.6).
            spenders=self._busiest() if lane is Lane.CODES else [],
        )
        body = compose(self._templates, SMS_BUDGET_ALERT, spent, self._org.default_locale, self._org)
        try:
            self._sender.send(self._org.coordinator_phone, body)
        except SmsError:
            log.warning("could not send the SMS budget alert to the coordinator", exc_info=False)
            # Let the next refusal try again.
            try:
                self._alerts.release(ALERTS_KEY, row)
            except Exception:
                log.warning("could not clear the SMS budget alert marker", exc_info=False)
