"""The operators' signed tokens: session cookies, CSRF tokens, sign-in nonces, and the bearer check.

Signing is itsdangerous's (what Starlette's own sessions use): HMAC-SHA256 with a key derived from
ADMIN_TOKEN and a salt per purpose, so a token made for one use never passes as another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from itsdangerous import BadData, Signer, TimestampSigner, URLSafeTimedSerializer

from shared.settings import Settings

SESSION_SECONDS = 8 * 3600
LOGIN_NONCE_SECONDS = 30 * 60
CLOCK_SKEW_SECONDS = 60  # instances' clocks differ a little: a cookie made "in the future" by that much is fine
_KEY_LABEL = b"gruppstart/admin-session/v1"
_SIGNING = {"key_derivation": "hmac", "digest_method": hashlib.sha256}
# Without ADMIN_TOKEN nobody signs in, but the sign-in form still needs a nonce key: one per process.
_NONCE_FALLBACK_KEY = secrets.token_bytes(32)


def signing_key(settings: Settings) -> bytes | None:
    """HMAC(ADMIN_TOKEN, label): a key of its own for cookies, so the token itself never signs anything."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if not token:
        return None
    return hmac.new(token.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()


def _serializer(key: bytes, purpose: str, at: float | None = None) -> URLSafeTimedSerializer:
    """Signed, timestamped tokens; `purpose` keeps a token made for one use from passing as another."""
    signer: type[TimestampSigner] = TimestampSigner
    if at is not None:  # tests make old and future cookies
        fixed = int(at)

        class _At(TimestampSigner):
            def get_timestamp(self) -> int:
                return fixed

        signer = _At
    return URLSafeTimedSerializer(key, salt=f"gruppstart/{purpose}", signer=signer, signer_kwargs=_SIGNING)


def _timed_value(key: bytes, purpose: str, token: str, lifetime: int, now: float | None) -> str | None:
    """The value of a well-signed token issued within `lifetime` (and not after now + skew); else None."""
    if not token or len(token) > 300:
        return None
    try:
        value, issued = _serializer(key, purpose).loads(token, return_timestamp=True)
    except BadData:
        return None
    at = time.time() if now is None else now
    age = at - issued.timestamp()
    if not (-CLOCK_SKEW_SECONDS <= age < lifetime) or not isinstance(value, str):
        return None
    return value


def make_session_cookie(key: bytes, *, now: float | None = None) -> str:
    """A random session id that names nobody, signed with its time of issue."""
    return _serializer(key, "admin-session", now).dumps(secrets.token_urlsafe(18))


def session_id(key: bytes | None, cookie: str | None, *, now: float | None = None) -> str | None:
    """The session id of a well-signed, unexpired cookie; None for anything else (revocation is not checked here)."""
    if key is None or cookie is None:
        return None
    return _timed_value(key, "admin-session", cookie, SESSION_SECONDS, now)


def csrf_token(key: bytes, subject: str) -> str:
    """The CSRF token of one session (or one Easy Auth principal): derived, so nothing is stored."""
    signer = Signer(key, salt="gruppstart/admin-csrf", **_SIGNING)  # type: ignore[arg-type]
    return signer.get_signature(subject).decode("ascii")


def _nonce_key(settings: Settings) -> bytes:
    return signing_key(settings) or _NONCE_FALLBACK_KEY


def make_login_nonce(settings: Settings) -> str:
    return _serializer(_nonce_key(settings), "admin-login").dumps(secrets.token_urlsafe(18))


def short_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def token_matches(settings: Settings, given: str) -> bool:
    """The one bearer check. Compares digests of the bytes: the time taken says nothing about the
    token's length, and a token of any characters is an answer, not an error."""
    expected = settings.admin_token.get_secret_value() if settings.admin_token else ""
    same = hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest(),
        hashlib.sha256(expected.encode("utf-8")).digest(),
    )
    return bool(expected) and same


def login_nonce_value(settings: Settings, nonce: str) -> str | None:
    return _timed_value(_nonce_key(settings), "admin-login", nonce, LOGIN_NONCE_SECONDS, None)
