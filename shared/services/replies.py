"""Texts to our number that are not keywords (STOP words, HELP): every reply reaches a person.

- From a facilitator's number: forwarded to the coordinator's phone (`coordinator_phone` in the
  organisation file) as a `facilitator_reply` text naming the facilitator and the group's code,
  with their own words cut to fit three segments; and listed for operators (GET /api/admin/replies)
  with the group and the words only, until retention erases it after RETENTION_DAYS.
- From a member of a group: answered with a `member_reply` text naming their facilitator's first
  name and the coordinator's contact. Their words are not stored anywhere. One answer per member and
  day: an auto-responder on their phone cannot start an endless exchange with ours.
- Anyone else: "this number is not read" (`unknown_reply`), as HELP gets `help_reply`.

Every text back is bounded (issue 19): it goes through the sender like every other text (so the
provider's copy is noted in `smscopies` and deleted on time, and the installation's budget counts it),
only to numbers in the organisation's `phone_countries`, and "not read" and HELP at most once per
sender and day (a row per keyed marker and day in `ratelimits`, adapters/replies.ReplyCounters): an
auto-responder answering our answer gets one text a day, not a loop below Twilio's loop guard. A
facilitator's forwards are capped per facilitator and day (`FORWARDS_PER_DAY`; over it they are still
listed for operators), and a link in their words reaches the coordinator defanged and flagged.
Every inbound message's sid is noted as a provider copy too: the provider keeps the sender's number
and words until we delete them.

A facilitator who is also a member of a group is treated as the facilitator: the forward reaches the
coordinator, who can answer either role, while the member's answer would only point to that same
person. Their keywords keep working: STOP erases their memberships (services/erasure.py), as before.

Who a number is: facilitators are found in their list (one small partition, compared in memory);
members through the keyed phone markers of each theme (services/erasure.py's `Erasure.interests_of_number`),
never by a query that names the number. Nothing here logs a number, a name or a text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from shared.adapters.interests import InterestsTable, Rows
from shared.adapters.queues import Queues
from shared.adapters.ratelimit import OncePerWindow, RateLimited, RateLimiter
from shared.adapters.replies import ReplyCounters, ReplyLog
from shared.adapters.sms.base import SentMessage, SmsSender
from shared.adapters.sms.copies import ProviderCopies
from shared.adapters.templates import Templates
from shared.core.domain import (
    INTEREST_PREFIX,
    OUTBOX_PREFIX,
    Group,
    Interest,
    InterestStatus,
    MessageKind,
    RecipientType,
    new_message,
    new_sortable_key,
)
from shared.core.facilitators import Facilitator
from shared.core.local_time import organisation_tz
from shared.core.organisation import Organisation
from shared.core.phone import PhoneKeyer
from shared.core.replies import (
    FacilitatorReply,
    clean_text,
    concerned_group,
    defang,
    fallback_locale,
    fit_words,
    has_link,
    in_countries,
    reply_day,
)
from shared.services.erasure import Erasure
from shared.services.facilitator_links import is_link_keyword, send_fresh_link
from shared.services.facilitators import FacilitatorStore
from shared.services.notify import short_ref
from shared.services.outbox import queue_committed
from shared.services.rekey import Rekey
from shared.services.sms_kinds import ANSWERS, COORDINATOR_NOTICE, Answer, Notice, compose, render_forward

log = logging.getLogger(__name__)

# Twilio's message ids ("SM" + 32 hex digits): a forward keyed by it is written once, however often
# Twilio posts the same message.
_MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")

# A facilitator's texts forwarded to the coordinator per day; more are listed for operators only. Six covers
# a busy day of real questions; a phone stuck sending (or a stolen one) costs at most six forwards a day.
FORWARDS_PER_DAY: Final = 6
DAY: Final = timedelta(days=1)
# Answers that go at most once a day to one number ("this number is not read", HELP); STOP's confirmation
# goes every time, since it ends the conversation.
DAILY_ANSWERS: Final = frozenset({"unknown_reply", "help_reply"})
# Webhook posts with a missing or wrong signature per hour before the coordinator is told (once an hour):
# a few are scanners; more mean a rotated Twilio token, a wrong PUBLIC_BASE_URL, or someone forging STOPs.
SIGNATURE_FAILURES_PER_HOUR: Final = 20
HOUR: Final = timedelta(hours=1)
SIGNATURE_KEY: Final = "webhook.signature-failures"


class ReplyHandling(StrEnum):
    FORWARDED = "forwarded"  # a facilitator's text: on its way to the coordinator, listed for operators
    LISTED = "listed"  # a facilitator's text over today's cap of forwards: listed for operators only
    ANSWERED = "answered"  # a member's text: their answer is queued
    ANSWERED_TODAY = "answered_today"  # a member answered earlier today: nothing more is sent
    LINK_REQUESTED = "link_requested"  # a facilitator texted LÄNK: a fresh link is on its way (or was today)
    UNKNOWN = "unknown"  # neither: answered "this number is not read" (at most once a day)


@dataclass(frozen=True)
class ReplyOutcome:
    handled: ReplyHandling
    locale: str | None = None  # for UNKNOWN: the language of the number's interest, if it has one


@dataclass(frozen=True)
class ReplyBounds:
    """The counters that bound what our number sends back: one answer a day per number and kind
    (`answered`), forwards and refused signatures (`limiter`), one alert per window (`alerts`)."""

    answered: ReplyCounters
    limiter: RateLimiter
    alerts: OncePerWindow


class Replies:
    def __init__(
        self,
        *,
        interests: InterestsTable,
        queues: Queues,
        copies: ProviderCopies,
        reply_log: ReplyLog,
        bounds: ReplyBounds,
        erasure: Erasure,
        rekey: Rekey,
        organisation: Organisation,
        facilitators: FacilitatorStore,
        templates: Templates,
        keyer: PhoneKeyer,
        sender: SmsSender,
        public_base_url: str | None,
        clock: Callable[[], datetime],
    ) -> None:
        self._keyer = keyer
        self._sender = sender
        self._copies = copies
        self._reply_log = reply_log
        self._counters = bounds.answered
        self._limiter = bounds.limiter
        self._alerts = bounds.alerts
        self._erasure = erasure
        self._rekey = rekey
        self._public_base_url = public_base_url
        self._queues = queues
        self._interests = interests
        self._org = organisation
        self._facilitators = facilitators
        self._templates = templates
        self._clock = clock

    # what the webhook calls -------------------------------------------------------------------

    def receive(self, phone: str, body: str, message_sid: str = "") -> ReplyOutcome:
        """A text that is no keyword: noted as a provider copy, then forwarded, answered, or "not read"."""
        self.note_inbound(phone, message_sid)
        outcome = self.handle(phone, body, message_sid)
        if outcome.handled is ReplyHandling.UNKNOWN:
            self.answer(phone, "unknown_reply", outcome.locale)
        return outcome

    def help(self, phone: str, message_sid: str = "") -> SentMessage | None:
        """HELP: who sends these texts and how to leave, in the number's language (at most once a day)."""
        self.note_inbound(phone, message_sid)
        interests = self._erasure.interests_of_number(phone)
        return self.answer(phone, "help_reply", interests[0].locale if interests else None)

    def note_inbound(self, phone: str, message_sid: str, *, erase_now: bool = False) -> None:
        """The provider keeps every inbound message (the sender's number, their words) like our own texts:
        noted in `smscopies` so that it is deleted with them (at once when `erase_now`: STOP)."""
        if not _MESSAGE_SID.match(message_sid):
            return
        try:
            if erase_now:
                self._copies.erase_soon([message_sid])
            else:
                self._copies.record(message_sid, phone, self._clock())
        except Exception as exc:  # the text is handled all the same; the copy waits for the number's erasure
            log.warning("an inbound message's provider copy could not be noted (%s)", type(exc).__name__)

    def answer(
        self, phone: str, kind: str, locale: str | None, *, once_a_day: bool | None = None
    ) -> SentMessage | None:
        """Send `kind` (stop_reply, help_reply, unknown_reply) to `phone` through the sender, if it may have
        one: a number of the organisation's countries, and for "not read" and HELP the first today. None
        when nothing was sent."""
        if not in_countries(phone, self._org.allowed_phone_countries):
            return None
        now = self._clock()
        daily = kind in DAILY_ANSWERS if once_a_day is None else once_a_day
        if daily:
            day = f"{kind.removesuffix('_reply')}.{reply_day(now, organisation_tz(self._org))}"
            if not self._counters.claim(self._keyer.key(phone), day, now + 2 * DAY):
                return None
        locale = locale or fallback_locale(phone)
        base = self._public_base_url
        answer = Answer(
            crisis=self._org.crisis_summary(locale), privacy_url=f"{base.rstrip('/')}/privacy" if base else ""
        )
        body = compose(self._templates, ANSWERS[kind], answer, locale, self._org)
        try:
            return self._sender.send(phone, body)
        # The person wrote to us; a lost answer is not worth a retry loop. Not only SmsError: a sender that
        # counts every text against the installation's budget may refuse in its own words.
        except Exception as exc:
            log.warning("an answer to an inbound text could not be sent (%s)", type(exc).__name__)
            return None

    def signature_refused(self) -> bool:
        """Count one webhook post refused for its signature; past SIGNATURE_FAILURES_PER_HOUR the
        coordinator gets one text per hour. True when this call told them. Never raises."""
        log.warning("sms webhook: signature refused")  # one line per refusal, for an alert rule to count
        try:
            self._limiter.hit(SIGNATURE_KEY, SIGNATURE_FAILURES_PER_HOUR, HOUR)
            return False
        except RateLimited:
            pass
        except Exception as exc:
            log.warning("a refused webhook signature could not be counted (%s)", type(exc).__name__)
            return False
        now = self._clock()
        window = int(now.timestamp() // HOUR.total_seconds())
        try:
            if not self._alerts.claim(SIGNATURE_KEY, f"alert.{window}", now + 2 * HOUR):
                return False
            notice = Notice("signature_failures", count=SIGNATURE_FAILURES_PER_HOUR)
            body = compose(self._templates, COORDINATOR_NOTICE, notice, self._org.default_locale, self._org)
            self._sender.send(self._org.coordinator_phone, body)
        except Exception as exc:
            log.warning("the coordinator could not be told of refused webhook signatures (%s)", type(exc).__name__)
            return False
        return True

    # who wrote -------------------------------------------------------------------------------

    def handle(self, phone: str, body: str, message_sid: str = "") -> ReplyOutcome:
        """`phone` is the sender's E.164 number, `body` their text (not a keyword)."""
        self._rekey.retire_legacy_keys()
        facilitator = next((f for f in self._facilitators.list() if f.phone == phone), None)
        if facilitator is not None and is_link_keyword(body):
            # Issue 19.1: LÄNK / LENKE / LINK from a facilitator's registered number: a fresh page link by
            # SMS to that number (services/facilitator_links.py); the coordinator need not see it.
            send_fresh_link(self._interests, self._limiter, self._queues, facilitator, self._clock())
            return ReplyOutcome(ReplyHandling.LINK_REQUESTED)
        if facilitator is not None:
            return ReplyOutcome(self._forward(facilitator, body, message_sid))
        interests = self._erasure.interests_of_number(phone)
        rows = self._interests.unit()
        for interest in interests:
            group = self._group_of(rows, interest)
            if group is not None:
                return ReplyOutcome(self._answer(rows, interest, group))
        return ReplyOutcome(ReplyHandling.UNKNOWN, interests[0].locale if interests else None)

    # a facilitator's text ---------------------------------------------------------------------

    def _forward(self, facilitator: Facilitator, body: str, message_sid: str) -> ReplyHandling:
        now = self._clock()
        rows = self._interests.unit()
        group = self._concerned_group(rows, facilitator)
        theme = group.theme if group is not None else self._home_theme(facilitator)
        group_key = group.key if group is not None else ""
        locale = self._org.default_locale  # the coordinator's language, as for their alerts
        words = clean_text(body)
        listed = FacilitatorReply(new_sortable_key(), facilitator.id, theme if group else "", group_key, words, now)
        try:
            self._limiter.hit(f"forward.{facilitator.id}", FORWARDS_PER_DAY, DAY)
        except RateLimited:
            self._list(listed)
            return ReplyHandling.LISTED
        if has_link(words):  # flagged, and not tappable on the coordinator's phone
            flag = compose(self._templates, COORDINATOR_NOTICE, Notice("link"), locale, self._org)
            words = f"{flag} {defang(words)}"

        def render(candidate: str) -> str:
            return render_forward(
                self._templates, self._org, locale, facilitator.name, candidate, group_key, short_ref(group_key)
            )

        suffix = f"fwd.{message_sid.lower()}" if _MESSAGE_SID.match(message_sid) else new_sortable_key()
        message = new_message(
            theme,
            MessageKind.FACILITATOR_REPLY,
            RecipientType.COORDINATOR,
            now=now,
            locale=locale,
            group_key=group_key,
            subject_name=facilitator.name,
            key=OUTBOX_PREFIX + suffix,
        ).model_copy(update={"forwarded_text": fit_words(render, words)})
        if not rows.try_create(message):
            return ReplyHandling.FORWARDED  # Twilio posted this message before: forwarded and listed then
        queue_committed(self._queues, [message])
        self._list(listed)
        return ReplyHandling.FORWARDED

    def _list(self, reply: FacilitatorReply) -> None:
        try:
            self._reply_log.record(reply)
        except Exception as exc:  # the coordinator has it already; only the operators' list misses it
            log.warning("a forwarded reply could not be listed for operators: %s", type(exc).__name__)

    def _concerned_group(self, rows: Rows, facilitator: Facilitator) -> Group | None:
        groups = rows.groups(facilitator_id=facilitator.id)
        last_text: dict[str, datetime] = {}
        if len(groups) > 1:  # which one did we last text them about?
            for theme in sorted({g.theme for g in groups}):
                for sent in rows.messages_to(theme, facilitator.id):
                    at = sent.sent_at or sent.created_at
                    if sent.group_key and (sent.group_key not in last_text or at > last_text[sent.group_key]):
                        last_text[sent.group_key] = at
        return concerned_group(groups, last_text)

    def _home_theme(self, facilitator: Facilitator) -> str:
        """A partition for the forward of a facilitator with no group: one of their themes, else the first."""
        known = [t for t in facilitator.themes if self._org.theme(t) is not None]
        return known[0] if known else self._org.themes[0].id

    # a member's text --------------------------------------------------------------------------

    def _group_of(self, rows: Rows, interest: Interest) -> Group | None:
        if interest.status is not InterestStatus.GROUPED or not interest.group_id:
            return None
        group = rows.group(interest.theme, interest.group_id)
        return group if group is not None and interest.key in group.member_keys else None

    def _answer(self, rows: Rows, member: Interest, group: Group) -> ReplyHandling:
        now = self._clock()
        today = reply_day(now, organisation_tz(self._org))
        # One answer per member and day, whatever they send: the key says whom and when.
        key = f"{OUTBOX_PREFIX}answer.{member.key.removeprefix(INTEREST_PREFIX)}.{today}"
        message = new_message(
            member.theme,
            MessageKind.MEMBER_REPLY,
            RecipientType.MEMBER,
            now=now,
            locale=member.locale,
            recipient_id=member.key,
            group_key=group.key,
            key=key,
        )
        if not rows.try_create(message):
            return ReplyHandling.ANSWERED_TODAY
        queue_committed(self._queues, [message])
        return ReplyHandling.ANSWERED


__all__ = ["DAILY_ANSWERS", "FORWARDS_PER_DAY", "Replies", "ReplyHandling", "ReplyOutcome"]
