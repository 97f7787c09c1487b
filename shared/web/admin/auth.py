"""Who may use the admin pages, and the record of what they did.

Three ways in, checked on every /admin request by `require_operator` (a router dependency, so a new
route cannot forget it):

- `Authorization: Bearer <ADMIN_TOKEN>`: scripts and the JSON API's callers. No cookie is involved, so
  a browser cannot be tricked into sending it: no CSRF token is asked for.
- A session cookie set by the sign-in page after the operator typed ADMIN_TOKEN. Stateless: the
  cookie carries a random session id, its issue and expiry times and an HMAC over them, keyed with a
  key derived from ADMIN_TOKEN (rotating the token ends every session; no second secret to keep).
  HttpOnly, SameSite=Strict, Path=/admin, Secure outside DEV_MODE, eight hours at most.
- App Service Authentication (Entra ID), only when APP_SERVICE_AUTH says the platform has it on: the
  platform then strips any X-MS-CLIENT-PRINCIPAL* header a client sends and sets its own. With the
  setting off those headers are ignored, whoever sends them.

With no ADMIN_TOKEN there is no signing key: no session can be made or checked, the bearer check has
nothing to match and Easy Auth principals get no CSRF token — every admin request is refused.

Every POST made with a cookie or an Easy Auth principal must carry the session's CSRF token (an HMAC
of the session id, in a hidden field; compared in constant time) and must not come from another site
(Origin / Sec-Fetch-Site). The sign-in form, which has no session yet, uses a double-submit nonce.

The audit table gets one row per admin action: a month partition, a sortable time+random RowKey, the
action, its outcome, the ids it touched (groups, facilitators, themes — never a number or a name) and
who acted (`token`, `session:<hash of the session id>`, `easyauth:<hash of the principal id>`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from shared.adapters.storage import AUDIT, storage_errors
from shared.core.domain import new_sortable_key, utcnow
from shared.settings import Settings
from shared.web.common import services_of

log = logging.getLogger(__name__)

SESSION_COOKIE = "gs_admin"
LOGIN_COOKIE = "gs_admin_login"
COOKIE_PATH = "/admin"
SESSION_SECONDS = 8 * 3600
LOGIN_NONCE_SECONDS = 30 * 60
CSRF_FIELD = "csrf"
_VERSION = "v1"
_KEY_LABEL = b"gruppstart/admin-session/v1"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The only /admin routes reachable without credentials (tests/integration/test_admin_access.py checks
# every other route against this list).
PUBLIC_ROUTES = frozenset({("GET", "/admin/login"), ("POST", "/admin/login")})


# --- keys and tokens ------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signing_key(settings: Settings) -> bytes | None:
    """HMAC(ADMIN_TOKEN, label): a key of its own for cookies, so the token itself never signs anything."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if not token:
        return None
    return hmac.new(token.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()


def _mac(key: bytes, text: str) -> str:
    return _b64(hmac.new(key, text.encode("ascii"), hashlib.sha256).digest())


def make_session_cookie(key: bytes, *, now: float | None = None, lifetime: int = SESSION_SECONDS) -> str:
    """`v1.<session id>.<issued>.<expires>.<mac>`; the session id is random and names nobody."""
    issued = int(time.time() if now is None else now)
    body = f"{_VERSION}.{secrets.token_urlsafe(18)}.{issued}.{issued + lifetime}"
    return f"{body}.{_mac(key, body)}"


def session_id(key: bytes | None, cookie: str | None, *, now: float | None = None) -> str | None:
    """The session id of a well-signed, unexpired cookie; None for anything else."""
    if key is None or not cookie or len(cookie) > 200:
        return None
    parts = cookie.split(".")
    if len(parts) != 5 or parts[0] != _VERSION:
        return None
    body, mac = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(_mac(key, body), mac):
        return None
    try:
        issued, expires = int(parts[2]), int(parts[3])
    except ValueError:
        return None
    at = time.time() if now is None else now
    if not (issued - 60 <= at < expires) or expires - issued > SESSION_SECONDS:
        return None
    return parts[1]


def csrf_token(key: bytes, subject: str) -> str:
    """The CSRF token of one session (or one Easy Auth principal): derived, so nothing is stored."""
    return _mac(key, f"csrf|{subject}")


def short_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def token_matches(settings: Settings, given: str) -> bool:
    expected = settings.admin_token.get_secret_value() if settings.admin_token else ""
    # Compare digests, so the time taken says nothing about the token's length either.
    same = hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8")).digest(), hashlib.sha256(expected.encode("utf-8")).digest()
    )
    return bool(expected) and same


# --- who is asking ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    kind: str  # "token", "session" or "easyauth"
    ref: str = ""  # a hash: of the session id, or of the Easy Auth principal id
    csrf: str = ""  # the token forms must carry; empty for bearer callers

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.ref}" if self.ref else self.kind

    @property
    def signed_in(self) -> bool:
        """A browser session the sign-out button can end."""
        return self.kind == "session"


class AdminDenied(Exception):
    """Raised by the dependency; AdminRoute turns it into a response (a redirect, 401 or 403)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _bearer(request: Request) -> str | None:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


def _easyauth_principal(request: Request, settings: Settings) -> str | None:
    """The principal's id, when (and only when) the platform is the one setting the headers."""
    if not settings.app_service_auth:
        return None
    principal = request.headers.get("x-ms-client-principal-id") or request.headers.get("x-ms-client-principal-name")
    if not principal:
        encoded = request.headers.get("x-ms-client-principal")
        if encoded:
            try:
                claims = json.loads(base64.b64decode(encoded, validate=False))
                principal = next(
                    (
                        c.get("val")
                        for c in claims.get("claims", [])
                        if c.get("typ") in ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
                    ),
                    None,
                )
            except (ValueError, TypeError, AttributeError):
                principal = None
    return principal or None


def identify(request: Request) -> Operator | None:
    """The operator behind this request, or None. Checks credentials only, not CSRF."""
    settings = services_of(request).settings
    key = signing_key(settings)
    given = _bearer(request)
    if given is not None:
        return Operator("token") if token_matches(settings, given) else None
    sid = session_id(key, request.cookies.get(SESSION_COOKIE))
    if sid is not None and key is not None:
        return Operator("session", short_hash(sid), csrf_token(key, sid))
    principal = _easyauth_principal(request, settings)
    if principal is not None and key is not None:
        return Operator("easyauth", short_hash(principal), csrf_token(key, f"easyauth|{principal}"))
    return None


def same_site(request: Request) -> bool:
    """False for a request the browser says came from anywhere but this origin; True when it does not say.

    Sec-Fetch-Site (sent by current browsers) must be same-origin: a sibling subdomain is "same-site"
    and gets SameSite=Strict cookies, so that is not enough. Origin, when sent, must be ours; "null"
    (a sandboxed frame, a data: URL, a redirect from elsewhere) is refused — the admin pages send
    Referrer-Policy: same-origin so that their own forms carry their real origin.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() != "same-origin":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    netloc = urlsplit(origin).netloc.lower()
    if not netloc:
        return False
    allowed = {request.headers.get("host", "").lower()}
    public = services_of(request).settings.public_base_url
    if public:
        allowed.add(urlsplit(public).netloc.lower())
    return netloc in allowed


async def form_fields(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {}
    try:
        form = await request.form(max_files=0, max_fields=100)
    except Exception:  # malformed body: no fields, so no CSRF token either
        return {}
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def require_operator(request: Request) -> Operator:
    """The dependency on every /admin route but the sign-in page: credentials, then CSRF for changes."""
    operator = identify(request)
    if operator is None:
        raise AdminDenied(401, "not_signed_in")
    request.state.operator = operator
    if request.method not in SAFE_METHODS and operator.kind != "token":
        if not same_site(request):
            raise AdminDenied(403, "cross_site")
        given = (await form_fields(request)).get(CSRF_FIELD, "")
        if not hmac.compare_digest(given.encode("utf-8"), operator.csrf.encode("utf-8")):
            raise AdminDenied(403, "csrf")
    return operator


# --- responses --------------------------------------------------------------------------------


def wants_html(request: Request) -> bool:
    return request.headers.get("sec-fetch-mode") == "navigate" or "text/html" in request.headers.get("accept", "")


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path if request.method in SAFE_METHODS else "/admin"
    response = RedirectResponse(f"/admin/login?{urlencode({'next': target})}", status_code=303)
    if SESSION_COOKIE in request.cookies:
        clear_session(response, services_of(request).settings)
    return response


class AdminRoute(APIRoute):
    """Turns AdminDenied from the dependency (or a handler) into the right answer for the caller.

    Browsers are sent to the sign-in page (401) or shown `forbidden` (403); other callers get the bare status.
    """

    def forbidden(self, request: Request, reason: str) -> Response:
        return Response(status_code=403)

    def not_found(self, request: Request) -> Response:
        raise HTTPException(404)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                if exc.status_code == 404 and getattr(request.state, "operator", None) is not None:
                    return self.not_found(request)
                raise
            except AdminDenied as denied:
                if denied.status == 401:
                    if wants_html(request):
                        return login_redirect(request)
                    response = Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
                    if SESSION_COOKIE in request.cookies:
                        clear_session(response, services_of(request).settings)
                    return response
                log.warning("admin request refused: %s", denied.reason)
                if denied.status == 403 and wants_html(request):
                    return self.forbidden(request, denied.reason)
                return Response(status_code=denied.status)

        return guarded


# --- cookies ----------------------------------------------------------------------------------


def _secure(settings: Settings) -> bool:
    return not settings.dev_mode


def set_session(response: Response, settings: Settings, cookie: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        secure=_secure(settings),
        samesite="strict",
    )


def clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, secure=_secure(settings), samesite="strict")


def set_login_nonce(response: Response, settings: Settings, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_NONCE_SECONDS,
        path="/admin/login",
        httponly=True,
        secure=_secure(settings),
        samesite="strict",
    )


def clear_login_nonce(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        LOGIN_COOKIE, path="/admin/login", httponly=True, secure=_secure(settings), samesite="strict"
    )


def login_nonce_ok(request: Request, given: str) -> bool:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    return bool(expected) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


# --- the audit log ----------------------------------------------------------------------------


def audit(
    request: Request,
    action: str,
    *,
    actor: str | None = None,
    targets: Iterable[str] = (),
    outcome: str = "ok",
    count: int | None = None,
) -> None:
    """One row per admin action. Only ids, codes and counts go in: never a number or a name.

    A failed write is logged (without details of the request) and does not undo the action.
    """
    if actor is None:
        operator = getattr(request.state, "operator", None)
        actor = operator.actor if operator is not None else "anonymous"
    now = utcnow()
    entity: dict[str, Any] = {
        "PartitionKey": now.strftime("%Y-%m"),
        "RowKey": new_sortable_key(),
        "Action": action,
        "Outcome": outcome,
        "Actor": actor,
        "Targets": json.dumps(list(targets)),
        "At": now,
    }
    if count is not None:
        entity["Count"] = count
    try:
        with storage_errors():
            services_of(request).storage.table(AUDIT).create_entity(entity)
    except Exception as exc:  # the audit must never take an action down with it
        log.error("audit row for %s could not be written: %s", action, type(exc).__name__)
