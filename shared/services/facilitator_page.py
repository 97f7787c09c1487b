"""The facilitator's own page (issue 12.3): a personal link in the roster text, no password.

The link is `PUBLIC_BASE_URL/f/<token>`: the facilitator's id and link version, signed and
timestamped with itsdangerous (https://itsdangerous.palletsprojects.com/en/stable/url_safe/ and
/timed/). It expires after LINK_LIFETIME; an operator revokes every link of a facilitator by bumping
the version on the facilitator's record, so no new table is needed. A new link goes out with each
roster (a new or reassigned group), and a group reassigned to someone else leaves the old link's page.

Every change goes through the operators' group commands (same rules), is refused unless the group is
the facilitator's, needs a form token bound to the link (CSRF), and leaves an audit row with ids only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from shared.adapters.audit import AuditLog
from shared.adapters.interests import InterestsTable
from shared.adapters.records import FacilitatorTable
from shared.adapters.storage import AUDIT, StorageAccount
from shared.core.domain import MessageKind, RecipientType, new_message, utcnow
from shared.core.facilitators import Facilitator
from shared.core.validation import TextProblem, one_line
from shared.services.facilitators import FacilitatorStore
from shared.services.operations import GroupView, OperationError, Operations
from shared.services.outbox import queue_committed

LINK_LIFETIME = timedelta(days=180)
ACTIONS = ("meeting", "held", "hand_over", "close", "report")
NOTE_MAX = 240  # the coordinator's text stays within three segments (tests/unit/test_sms_templates.py)
_SALT = "gruppstart.facilitator-page"


class _Serializer(URLSafeTimedSerializer):
    """itsdangerous with our clock, so tests can age a link."""

    def __init__(self, secret: bytes, clock: Callable[[], datetime]) -> None:
        clock_of = clock

        class Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock_of().timestamp())

        super().__init__(secret, salt=_SALT, signer=Signer)


class FacilitatorLinks:
    def __init__(self, secret: bytes, base_url: str | None, clock: Callable[[], datetime] = utcnow) -> None:
        self._secret = secret
        self._base = (base_url or "").rstrip("/")
        self._serializer = _Serializer(secret, clock)
        self._clock = clock

    def token(self, facilitator: Facilitator) -> str:
        return str(self._serializer.dumps([facilitator.id, facilitator.link_version]))

    def url(self, facilitator: Facilitator) -> str:
        return f"{self._base}/f/{self.token(facilitator)}"

    def read(self, token: str) -> tuple[str, int] | None:
        """(facilitator id, link version), or None for a forged, mangled or expired token."""
        if not isinstance(token, str) or len(token) > 300:
            return None
        try:
            value = self._serializer.loads(token, max_age=int(LINK_LIFETIME.total_seconds()))
        except (BadSignature, SignatureExpired, ValueError, TypeError):
            return None
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
            return None
        if not isinstance(value[1], int):
            return None
        return value[0], value[1]

    def form_token(self, token: str) -> str:
        """The CSRF token of the page's forms: bound to the link, so another link's page cannot post here."""
        return hmac.new(self._secret, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()

    def form_token_ok(self, token: str, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(self.form_token(token), given)


def clean_note(raw: object) -> str:
    """The facilitator's note to the coordinator: one line, printable, at most NOTE_MAX characters."""
    try:
        return one_line(raw, NOTE_MAX)
    except TextProblem as problem:
        raise OperationError("invalid_note", problem.reason) from None


@dataclass(frozen=True)
class Visit:
    facilitator: Facilitator
    groups: list[tuple[GroupView, int]]  # each group with the meetings held so far


class FacilitatorPage:
    def __init__(
        self,
        *,
        storage: StorageAccount,
        facilitators: FacilitatorStore,
        operations: Operations,
        links: FacilitatorLinks,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._storage = storage
        self._facilitators = facilitators
        self._rows = FacilitatorTable(lambda: storage.table("facilitators"))
        self._ops = operations
        self.links = links
        self._clock = clock

    def facilitator(self, token: str) -> Facilitator | None:
        """Whose link this is, if it is still good: signed, unexpired, not revoked, facilitator active."""
        read = self.links.read(token)
        if read is None:
            return None
        facilitator = self._facilitators.get(read[0])
        if facilitator is None or facilitator.link_version != read[1] or not facilitator.active:
            return None
        return facilitator

    def visit(self, facilitator: Facilitator) -> Visit:
        """Reads only: link-preview bots fetch links, so GET changes nothing."""
        mine = [g for g in self._ops.groups() if g.facilitator_id == facilitator.id and g.status != "closed"]
        rows = InterestsTable(self._storage).unit()
        held = [(g, getattr(rows.group(g.theme, g.key), "meetings_held", 0)) for g in mine]
        return Visit(facilitator, held)

    def _own(self, facilitator: Facilitator, group_id: str) -> GroupView:
        view = self._ops.group(group_id) if isinstance(group_id, str) else None
        if view is None or view.facilitator_id != facilitator.id:
            raise OperationError("not_found", "group")
        return view

    def act(self, facilitator: Facilitator, group_id: str, action: str, form: dict[str, Any]) -> GroupView:
        """One change on one of the facilitator's groups, audited with ids only."""
        if action not in ACTIONS:
            raise OperationError("not_found", "action")
        self._own(facilitator, group_id)
        outcome = "refused"
        try:
            if action == "meeting":
                view = self._ops.set_first_meeting(group_id, form["when"], form["place"])
            elif action == "held":
                view = self._ops.record_meeting(group_id)
            elif action == "hand_over":
                view = self._ops.hand_over(group_id)
            elif action == "close":
                view = self._ops.close_group(group_id)
            elif action == "report":
                view = self._report(facilitator, group_id, clean_note(form.get("note")))
            else:
                raise OperationError("not_found", "action")
            outcome = "ok"
            return view
        finally:
            self._audit(
                facilitator, f"facilitator_{action}" if action.isidentifier() else "facilitator_?", outcome, group_id
            )

    def _report(self, facilitator: Facilitator, group_id: str, note: str) -> GroupView:
        view = self._own(facilitator, group_id)
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
        InterestsTable(self._storage).unit().try_create(message)
        queue_committed(self._storage, [message])
        return view

    def revoke_links(self, facilitator_id: str) -> Facilitator | None:
        """Every link given so far stops working; the next roster carries a new one."""
        current = self._facilitators.get(facilitator_id) if isinstance(facilitator_id, str) else None
        if current is None:
            return None
        revoked = current.model_copy(update={"link_version": current.link_version + 1})
        self._rows.replace(revoked)
        return revoked

    def _audit(self, facilitator: Facilitator, action: str, outcome: str, group_id: str) -> None:
        AuditLog(lambda: self._storage.table(AUDIT), self._clock).record(
            action, actor=f"facilitator:{facilitator.id}", targets=[group_id[:80]], outcome=outcome
        )


def link_secret(*secrets: str | None) -> bytes:
    """The links' key, derived from the first configured secret with a purpose label of its own, so
    it differs from every other use of that secret (phone markers, admin sign-in)."""
    base = next((s for s in secrets if s), "gruppstart-development-only")
    return hmac.new(base.encode(), b"gruppstart facilitator links v1", hashlib.sha256).digest()
