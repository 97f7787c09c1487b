"""Texts to our number that are not keywords (STOP words, HELP): every reply reaches a person.

- From a facilitator's number: forwarded to the coordinator's phone (`coordinator_phone` in the
  organisation file) as a `facilitator_reply` text naming the facilitator and the group's code,
  with their own words cut to fit three segments; and listed for operators (GET /api/admin/replies)
  with the group and the words only, until retention erases it after RETENTION_DAYS.
- From a member of a group: answered with a `member_reply` text naming their facilitator's first
  name and the coordinator's contact. Their words are not stored anywhere. One answer per member and
  day: an auto-responder on their phone cannot start an endless exchange with ours.
- Anyone else: the caller keeps today's answer (`Outcome.UNKNOWN`).

A facilitator who is also a member of a group is treated as the facilitator: the forward reaches the
coordinator, who can answer either role, while the member's answer would only point to that same
person. Their keywords keep working: STOP erases their memberships (services/erasure.py), as before.

Who a number is: facilitators are found in their list (one small partition, compared in memory);
members through the keyed phone markers of each theme (services/erasure.py's `interests_of_number`),
never by a query that names the number. Nothing here logs a number, a name or a text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.adapters.interests import InterestsTable, Rows
from shared.adapters.replies import ReplyLog
from shared.adapters.storage import StorageAccount
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
    utcnow,
)
from shared.core.facilitators import Facilitator
from shared.core.local_time import organisation_tz
from shared.core.organisation import Organisation
from shared.core.phone import PhoneKeyer
from shared.core.replies import FacilitatorReply, clean_text, concerned_group, fit_words
from shared.services.erasure import interests_of_number
from shared.services.facilitator_links import is_link_keyword, send_fresh_link
from shared.services.facilitators import FacilitatorStore
from shared.services.notify import short_ref
from shared.services.outbox import queue_committed
from shared.services.sms_kinds import forward_context

log = logging.getLogger(__name__)

# Twilio's message ids ("SM" + 32 hex digits): a forward keyed by it is written once, however often
# Twilio posts the same message.
_MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")


class Handled(StrEnum):
    FORWARDED = "forwarded"  # a facilitator's text: on its way to the coordinator, listed for operators
    ANSWERED = "answered"  # a member's text: their answer is queued
    ANSWERED_TODAY = "answered_today"  # a member answered earlier today: nothing more is sent
    LINK_REQUESTED = "link_requested"  # a facilitator texted LÄNK: a fresh link is on its way (or was today)
    UNKNOWN = "unknown"  # neither: the webhook gives today's answer


@dataclass(frozen=True)
class Outcome:
    handled: Handled
    locale: str | None = None  # for UNKNOWN: the language of the number's interest, if it has one


class Replies:
    def __init__(
        self,
        *,
        storage: StorageAccount,
        organisation: Organisation,
        facilitators: FacilitatorStore,
        templates: Templates,
        keyer: PhoneKeyer,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._keyer = keyer
        self._storage = storage
        self._interests = InterestsTable(storage)
        self._org = organisation
        self._facilitators = facilitators
        self._templates = templates
        self._clock = clock

    def handle(self, phone: str, body: str, message_sid: str = "") -> Outcome:
        """`phone` is the sender's E.164 number, `body` their text (not a keyword)."""
        facilitator = next((f for f in self._facilitators.list() if f.phone == phone), None)
        if facilitator is not None and is_link_keyword(body):
            # Issue 19.1: LÄNK / LENKE / LINK from a facilitator's registered number: a fresh page link by
            # SMS to that number (services/facilitator_links.py); the coordinator need not see it.
            send_fresh_link(self._storage, facilitator, self._clock())
            return Outcome(Handled.LINK_REQUESTED)
        if facilitator is not None:
            self._forward(facilitator, body, message_sid)
            return Outcome(Handled.FORWARDED)
        interests = interests_of_number(self._storage, self._org, phone, keyer=self._keyer)
        rows = self._interests.unit()
        for interest in interests:
            group = self._group_of(rows, interest)
            if group is not None:
                return Outcome(self._answer(rows, interest, group))
        return Outcome(Handled.UNKNOWN, interests[0].locale if interests else None)

    # a facilitator's text ---------------------------------------------------------------------

    def _forward(self, facilitator: Facilitator, body: str, message_sid: str) -> None:
        now = self._clock()
        rows = self._interests.unit()
        group = self._concerned_group(rows, facilitator)
        theme = group.theme if group is not None else self._home_theme(facilitator)
        group_key = group.key if group is not None else ""
        locale = self._org.default_locale  # the coordinator's language, as for their alerts
        words = clean_text(body)

        def render(candidate: str) -> str:
            context = forward_context(facilitator.name, candidate, group_key)
            return self._templates.sms(
                "facilitator_reply", locale, organisation=self._org.name, ref=short_ref(group_key), **context
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
            return  # Twilio posted this message before: forwarded and listed then
        queue_committed(self._storage, [message])
        reply = FacilitatorReply(new_sortable_key(), facilitator.id, theme if group else "", group_key, words, now)
        try:
            ReplyLog(self._storage).record(reply)
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

    def _answer(self, rows: Rows, member: Interest, group: Group) -> Handled:
        now = self._clock()
        today = now.astimezone(organisation_tz(self._org)).strftime("%Y%m%d")
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
            return Handled.ANSWERED_TODAY
        queue_committed(self._storage, [message])
        return Handled.ANSWERED


__all__ = ["Handled", "Outcome", "Replies"]
