"""The facilitator's own page (issues 12.3 and 19): a personal link in the roster text, no password.

The link only opens a button (services/facilitator_links.py): pressing it exchanges the link for a
short-lived session, and the roster is served from the session. A link or a session is good while it
is signed, unexpired, of the facilitator's current link version, and the facilitator is active.

Every change goes through the operators' group commands (same rules), is refused unless the group is
the facilitator's, needs a form token bound to the session (CSRF), and leaves an audit row with ids
only. The facilitator's changes have limits of their own (issue 19.4): a meeting text goes out again
only when the time or the place changed, at most MEETING_TEXTS_PER_DAY a day per group; a meeting is
recorded at most once a day; REPORTS_PER_DAY reports a day per facilitator; closing and handing over
need a confirmation; places and notes are limited in SMS septets (core/sms_text.py).
Every view of the roster is audited (ids only), at most once an hour per facilitator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.adapters.audit import AuditLog
from shared.adapters.interests import InterestsTable
from shared.adapters.queues import Queues
from shared.adapters.ratelimit import RateLimited, RateLimiter
from shared.core.domain import MessageKind, RecipientType, new_message
from shared.core.facilitators import Facilitator
from shared.core.sms_text import NotGsm7, sms_line
from shared.core.validation import TextProblem
from shared.services.facilitator_links import FacilitatorLinks
from shared.services.facilitators import FacilitatorStore
from shared.services.operations import Operations
from shared.services.operations_base import GroupView, OperationError, check_meeting_time
from shared.services.outbox import queue_committed

ACTIONS = ("meeting", "held", "hand_over", "close", "report")
CONFIRMED = ("hand_over", "close")  # a tap is not enough: the form's confirmation box must be ticked
# The coordinator's text stays within three segments (tests/unit/test_sms_templates.py); the members'
# meeting text within two with the longest place.
NOTE_MAX = 240
PLACE_MAX = 100
MEETING_TEXTS_PER_DAY = 3
MEETINGS_HELD_PER_DAY = 1
REPORTS_PER_DAY = 3
VIEW_AUDIT_EVERY = timedelta(hours=1)
DAY = timedelta(days=1)

__all__ = ["ACTIONS", "FacilitatorPage", "TextRefused"]


class TextRefused(OperationError):
    """A place or note that cannot go out as it is: `reason` 'required', 'invalid', 'too_long' or
    'not_gsm' (then `characters` are the ones to change), `limit` the most septets allowed."""

    def __init__(self, code: str, reason: str, limit: int, characters: str = "") -> None:
        super().__init__(code, reason)
        self.reason = reason
        self.limit = limit
        self.characters = characters


def _sms_text(code: str, raw: object, limit: int) -> str:
    try:
        return sms_line(raw, limit)
    except NotGsm7 as problem:
        raise TextRefused(code, "not_gsm", limit, problem.characters) from None
    except TextProblem as problem:
        raise TextRefused(code, problem.reason, limit) from None


def clean_note(raw: object) -> str:
    """The facilitator's note to the coordinator: one line of GSM-7, at most NOTE_MAX septets."""
    return _sms_text("invalid_note", raw, NOTE_MAX)


def clean_sms_place(raw: object) -> str:
    """The facilitator's meeting place: one line of GSM-7, at most PLACE_MAX septets (the operators'
    pages check theirs with `operations_base.clean_place`)."""
    return _sms_text("invalid_place", raw, PLACE_MAX)


@dataclass(frozen=True)
class Visit:
    facilitator: Facilitator
    groups: list[tuple[GroupView, int]]  # each group with the meetings held so far


class FacilitatorPage:
    def __init__(
        self,
        *,
        interests: InterestsTable,
        queues: Queues,
        limiter: RateLimiter,
        audit: AuditLog,
        facilitators: FacilitatorStore,
        operations: Operations,
        links: FacilitatorLinks,
        clock: Callable[[], datetime],
    ) -> None:
        self._interests = interests
        self._queues = queues
        self._audit_log = audit
        self._facilitators = facilitators
        self._ops = operations
        self.links = links
        self._clock = clock
        self._limiter = limiter

    # who is asking ------------------------------------------------------------------------------

    def _current(self, read: tuple[str, int] | None) -> Facilitator | None:
        if read is None:
            return None
        facilitator = self._facilitators.get(read[0])
        if facilitator is None or facilitator.link_version != read[1] or not facilitator.active:
            return None
        return facilitator

    def facilitator(self, token: str) -> Facilitator | None:
        """Whose link this is, if it is still good: signed, unexpired, not revoked, facilitator active."""
        return self._current(self.links.read(token))

    def start_session(self, token: str) -> tuple[Facilitator, str] | None:
        """The link exchanged for a session cookie's value (the button on the link's page)."""
        facilitator = self.facilitator(token)
        if facilitator is None:
            return None
        return facilitator, self.links.session(facilitator)

    def from_session(self, value: object) -> Facilitator | None:
        """Whose session this is, if it is still good: a revocation ends sessions as well as links."""
        return self._current(self.links.read_session(value))

    # the roster ---------------------------------------------------------------------------------

    def visit(self, facilitator: Facilitator) -> Visit:
        """The roster; changes nothing of the groups. The view is audited, once an hour at most."""
        mine = [g for g in self._ops.groups() if g.facilitator_id == facilitator.id and g.status != "closed"]
        rows = self._interests.unit()
        held = [(g, getattr(rows.group(g.theme, g.key), "meetings_held", 0)) for g in mine]
        try:
            self._limiter.hit(f"facilitator-view.{facilitator.id}", 1, VIEW_AUDIT_EVERY)
        except RateLimited:
            pass  # audited within the hour already
        else:
            self._audit(facilitator, "facilitator_page_view", "ok", [g.id for g in mine])
        return Visit(facilitator, held)

    def _own(self, facilitator: Facilitator, group_id: str) -> GroupView:
        view = self._ops.group(group_id) if isinstance(group_id, str) else None
        if view is None or view.facilitator_id != facilitator.id:
            raise OperationError("not_found", "group")
        return view

    def _limit(self, key: str, limit: int, code: str) -> None:
        try:
            self._limiter.hit(key, limit, DAY)
        except RateLimited:
            raise OperationError(code) from None

    def act(self, facilitator: Facilitator, group_id: str, action: str, form: dict[str, Any]) -> str:
        """One change on one of the facilitator's groups, audited with ids only. Returns what was done:
        the action, or 'meeting_unchanged' when the meeting was saved as it was (nobody is texted)."""
        if action not in ACTIONS:
            raise OperationError("not_found", "action")
        view = self._own(facilitator, group_id)
        outcome = "refused"
        try:
            done = action
            if action in CONFIRMED and form.get("confirm") != "yes":
                raise OperationError("confirm_required")
            if action == "meeting":
                done = self._meeting(view, form.get("when"), form.get("place"))
            elif action == "held":
                started = view.first_meeting_at is not None and view.first_meeting_at <= self._clock()
                if view.status != "active" or not started:
                    raise OperationError("invalid_state", view.status)
                self._limit(f"group-held.{group_id}", MEETINGS_HELD_PER_DAY, "held_today")
                self._ops.record_meeting(group_id)
            elif action == "hand_over":
                self._ops.hand_over(group_id)
            elif action == "close":
                self._ops.close_group(group_id)
            elif action == "report":
                note = clean_note(form.get("note"))
                self._limit(f"facilitator-reports.{facilitator.id}", REPORTS_PER_DAY, "reports_today")
                self._report(facilitator, view, note)
            outcome = "unchanged" if done == "meeting_unchanged" else "ok"
            return done
        finally:
            self._audit(facilitator, f"facilitator_{action}", outcome, [group_id[:80]])

    def _meeting(self, view: GroupView, when: object, place: object) -> str:
        at = check_meeting_time(when, self._clock())
        where = clean_sms_place(place)
        if view.status == "active" and view.first_meeting_at == at and view.meeting_place == where:
            return "meeting_unchanged"  # the members have this time and place already
        self._limit(f"group-meeting-texts.{view.id}", MEETING_TEXTS_PER_DAY, "meeting_texts_today")
        self._ops.set_first_meeting(view.id, at, where)
        return "meeting"

    def _report(self, facilitator: Facilitator, view: GroupView, note: str) -> None:
        message = new_message(
            view.theme,
            MessageKind.FACILITATOR_REPORT,
            RecipientType.COORDINATOR,
            now=self._clock(),
            locale=view.locale,
            group_key=view.key,
            reason=note,
            subject_name=facilitator.first_name,
        )
        self._interests.unit().try_create(message)
        queue_committed(self._queues, [message])

    # operators ----------------------------------------------------------------------------------

    def revoke_links(self, facilitator_id: str) -> Facilitator | None:
        """Every link and session given so far stops working; the next text to them carries a new link."""
        return self._facilitators.revoke_links(facilitator_id)

    def _audit(self, facilitator: Facilitator, action: str, outcome: str, targets: list[str]) -> None:
        self._audit_log.record(action, actor=f"facilitator:{facilitator.id}", targets=targets, outcome=outcome)
