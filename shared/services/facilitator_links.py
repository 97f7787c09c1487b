"""The facilitator's link and session (issue 19.1): a link that is safe to leak.

Request telemetry keeps URLs and link previewers fetch the links in texts, so the link in a text
(`PUBLIC_BASE_URL/f/<token>`) is never enough to see anything: its GET shows a page with one button
and nothing personal. Pressing the button (a same-site POST with a form token) exchanges the link for
a short-lived session cookie (`HttpOnly; Secure; SameSite=Strict; Path=/f`), and the roster is served
at `/f/groups`, a URL with no secret in it.

- Tokens and sessions are itsdangerous timestamped signatures
  (https://itsdangerous.palletsprojects.com/en/stable/url_safe/ and /timed/) of the facilitator's id
  and link version, under `FACILITATOR_LINK_SECRET`, a secret of their own: rotating it ends every
  link and session at once. Links live `FACILITATOR_LINK_DAYS`, sessions
  `FACILITATOR_SESSION_MINUTES`.
- Revoking bumps the version on the facilitator's row (an ETag-conditional write, services/
  facilitators.py), which ends every link and session given so far; a phone change or a
  deactivation does the same.
- A facilitator who texts LÄNK / LENKE / LINK from their registered number gets a fresh link by SMS
  (`send_fresh_link`, called from services/replies.py), at most `FRESH_LINKS_PER_DAY` a day.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from shared.adapters.interests import InterestsTable
from shared.adapters.queues import Queues
from shared.adapters.ratelimit import RateLimited, RateLimiter
from shared.core.domain import FACILITATED, MessageKind, to_facilitator
from shared.core.facilitators import Facilitator
from shared.services.outbox import queue_committed

LINK_LIFETIME = timedelta(days=14)
SESSION_LIFETIME = timedelta(minutes=30)
SESSION_COOKIE = "gruppstart_f"
SESSION_PATH = "/f"
FRESH_LINKS_PER_DAY = 3
# What a facilitator texts to get a fresh link (Swedish, Norwegian, English); not a Twilio keyword.
LINK_KEYWORDS = frozenset({"LÄNK", "LANK", "LENKE", "LINK"})
_LINK_SALT = "gruppstart.facilitator-link"
_SESSION_SALT = "gruppstart.facilitator-session"


class _Serializer(URLSafeTimedSerializer):
    """itsdangerous with our clock, so tests can age a link or a session."""

    def __init__(self, secret: bytes, salt: str, clock: Callable[[], datetime]) -> None:
        clock_of = clock

        class Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock_of().timestamp())

        super().__init__(secret, salt=salt, signer=Signer)


def _id_and_version(value: object) -> tuple[str, int] | None:
    """[id, version] of a link, [id, version, nonce] of a session."""
    if not (isinstance(value, list) and len(value) in (2, 3) and isinstance(value[0], str)):
        return None
    if not isinstance(value[1], int) or isinstance(value[1], bool):
        return None
    return value[0], value[1]


class FacilitatorLinks:
    def __init__(
        self,
        secret: bytes,
        base_url: str | None,
        clock: Callable[[], datetime],
        *,
        lifetime: timedelta = LINK_LIFETIME,
        session_lifetime: timedelta = SESSION_LIFETIME,
    ) -> None:
        self._secret = secret
        self._base = (base_url or "").rstrip("/")
        self._links = _Serializer(secret, _LINK_SALT, clock)
        self._sessions = _Serializer(secret, _SESSION_SALT, clock)
        self.lifetime = lifetime
        self.session_lifetime = session_lifetime

    # the link in a text ---------------------------------------------------------------------

    def token(self, facilitator: Facilitator) -> str:
        return str(self._links.dumps([facilitator.id, facilitator.link_version]))

    def url(self, facilitator: Facilitator) -> str:
        return f"{self._base}/f/{self.token(facilitator)}"

    def read(self, token: object) -> tuple[str, int] | None:
        """(facilitator id, link version), or None for a forged, mangled or expired token."""
        return self._read(self._links, token, self.lifetime)

    # the session a link is exchanged for ------------------------------------------------------

    def session(self, facilitator: Facilitator) -> str:
        # A nonce: two presses of one link in the same second are still two sessions with their own form tokens.
        return str(self._sessions.dumps([facilitator.id, facilitator.link_version, secrets.token_hex(8)]))

    def read_session(self, value: object) -> tuple[str, int] | None:
        return self._read(self._sessions, value, self.session_lifetime)

    @staticmethod
    def _read(serializer: _Serializer, value: object, max_age: timedelta) -> tuple[str, int] | None:
        if not isinstance(value, str) or not value or len(value) > 300:
            return None
        try:
            return _id_and_version(serializer.loads(value, max_age=int(max_age.total_seconds())))
        except (BadSignature, SignatureExpired, ValueError, TypeError):
            return None

    # form tokens (CSRF) ------------------------------------------------------------------------

    def form_token(self, bound_to: str) -> str:
        """A form's token, bound to the link (the exchange button) or the session (the roster's forms),
        so a page of another link or session cannot post here."""
        return hmac.new(self._secret, b"csrf:" + bound_to.encode(), hashlib.sha256).hexdigest()

    def form_token_ok(self, bound_to: str, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(self.form_token(bound_to), given)


def link_secret(*secrets: str | None) -> bytes:
    """The links' key, derived from the first configured secret (FACILITATOR_LINK_SECRET first; the
    older installations' PHONE_KEY_SECRET or ADMIN_TOKEN until it is set) with a purpose label of its
    own, so it differs from every other use of that secret."""
    base = next((s for s in secrets if s), "gruppstart-development-only")
    return hmac.new(base.encode(), b"gruppstart facilitator links v1", hashlib.sha256).digest()


def is_link_keyword(body: str) -> bool:
    """LÄNK, länk, Lenke, "link." … : the whole text is the keyword (a sentence is forwarded as usual)."""
    word = unicodedata.normalize("NFC", body or "").strip().strip(".!?").upper()
    return word in LINK_KEYWORDS


def send_fresh_link(
    interests: InterestsTable, limiter: RateLimiter, queues: Queues, facilitator: Facilitator, now: datetime
) -> bool:
    """A text with a fresh link to the facilitator's own number (the one on their record, never the
    sender's claim alone: the caller matched the sender to it). The text is about one of their groups,
    since a facilitator's texts are rendered with a group; with no group there is no page to open and
    nothing is sent. At most FRESH_LINKS_PER_DAY a day. True when a text was queued."""
    if not facilitator.active:
        return False
    rows = interests.unit()
    groups = sorted(
        rows.groups(statuses=FACILITATED, facilitator_id=facilitator.id), key=lambda g: g.formed_at, reverse=True
    )
    if not groups:
        return False
    try:
        limiter.hit(f"facilitator-link.{facilitator.id}", FRESH_LINKS_PER_DAY, timedelta(days=1))
    except RateLimited:
        return False
    message = to_facilitator(groups[0], MessageKind.FACILITATOR_LINK, now, facilitator_id=facilitator.id)
    if not rows.try_create(message):
        return False
    queue_committed(queues, [message])
    return True
