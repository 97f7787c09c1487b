"""Who may use the operators' pages and API, and the record of what they did.

Three ways in, checked on every /manage request by `require_operator` (a router dependency, so a new
route cannot forget it) and on every /api/admin request by `require_api_operator`:

- `Authorization: Bearer <ADMIN_TOKEN>`: scripts and the JSON API's callers, checked by
  `token_matches` alone (constant time, on bytes). No cookie is involved, so a browser cannot be
  tricked into sending it: no CSRF token is asked for.
- A session cookie set by the sign-in page after the operator typed ADMIN_TOKEN: a random session id
  signed and timestamped by itsdangerous with a key derived from ADMIN_TOKEN (rotating the token ends
  every session; no second secret to keep). HttpOnly, SameSite=Strict, Path=/manage, Secure outside
  DEV_MODE, eight hours at most. Signing out records the session as revoked (shared.adapters.audit),
  so a copy of the cookie taken before is refused too.
- App Service Authentication (Entra ID), only when APP_SERVICE_AUTH says the platform has it on: the
  platform then strips any X-MS-CLIENT-PRINCIPAL* header a client sends and sets its own. The
  principal must hold the app role named by ADMIN_APP_ROLE in the `roles` claim of
  X-MS-CLIENT-PRINCIPAL (Base64 JSON: auth_typ, claims [{typ, val}], name_typ, role_typ; see
  https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities). A tenant
  member without the role is refused. With the setting off those headers are ignored, whoever sends them.

With no ADMIN_TOKEN there is no signing key: no session can be made or checked, the bearer check has
nothing to match and Easy Auth principals get no CSRF token — every operator request is refused.

Every POST to the pages made with a cookie or an Easy Auth principal must carry the session's CSRF
token (a signature of the session id, in a hidden field; compared in constant time) and must not come
from another site (Origin / Sec-Fetch-Site). The sign-in form, which has no session yet, uses a
signed, timed double-submit nonce.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from shared.settings import Settings
from shared.web.admin.tokens import (
    CLOCK_SKEW_SECONDS,
    LOGIN_NONCE_SECONDS,
    SESSION_SECONDS,
    csrf_token,
    login_nonce_value,
    session_id,
    short_hash,
    signing_key,
    token_matches,
)
from shared.web.common import services_of

log = logging.getLogger(__name__)

# The Functions host reserves routes starting with "admin" for its own API: the pages live here.
PAGES = "/manage"
LOGIN = f"{PAGES}/login"
SESSION_COOKIE = "gs_admin"
LOGIN_COOKIE = "gs_admin_login"
COOKIE_PATH = PAGES
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The only /manage routes reachable without credentials (tests/integration/test_admin_access.py checks
# every other route against this list).
PUBLIC_ROUTES = frozenset({("GET", LOGIN), ("POST", LOGIN)})
_ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
_OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")


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


def _claims(request: Request) -> dict[str, Any] | None:
    encoded = request.headers.get("x-ms-client-principal")
    if not encoded or len(encoded) > 64 * 1024:
        return None
    try:
        payload = json.loads(base64.b64decode(encoded, validate=False))
    except (ValueError, TypeError):
        return None
    return payload if isinstance(payload, dict) and isinstance(payload.get("claims"), list) else None


def _easyauth_principal(request: Request, settings: Settings) -> str | None:
    """The principal's id, when (and only when) the platform set the headers and the principal holds the role."""
    if not settings.app_service_auth:
        return None
    payload = _claims(request)
    if payload is None:
        return None  # no claims, no roles: an Easy Auth principal without X-MS-CLIENT-PRINCIPAL gets nothing
    role_types = {*_ROLE_CLAIMS, str(payload.get("role_typ") or "")}
    claims = [c for c in payload["claims"] if isinstance(c, dict)]
    roles = {str(c.get("val")) for c in claims if c.get("typ") in role_types}
    if settings.admin_app_role not in roles:
        log.warning("an Easy Auth principal without the operators' app role was refused")
        return None
    principal = request.headers.get("x-ms-client-principal-id") or next(
        (str(c.get("val")) for c in claims if c.get("typ") in _OBJECT_ID_CLAIMS and c.get("val")), None
    )
    return principal or None


def identify(request: Request) -> Operator | None:
    """The operator behind this request, or None. Checks credentials (and revocation), not CSRF."""
    services = services_of(request)
    settings = services.settings
    key = signing_key(settings)
    given = _bearer(request)
    if given is not None and token_matches(settings, given):
        return Operator("token")
    principal = _easyauth_principal(request, settings)
    if given is not None:
        # A bearer that is not ADMIN_TOKEN: with Easy Auth on it is the platform's (already checked) token.
        return _easyauth(key, principal)
    sid = session_id(key, request.cookies.get(SESSION_COOKIE))
    if sid is not None and key is not None and not services.revoked_sessions.is_revoked(short_hash(sid)):
        return Operator("session", short_hash(sid), csrf_token(key, sid))
    return _easyauth(key, principal)


def _easyauth(key: bytes | None, principal: str | None) -> Operator | None:
    if principal is None or key is None:
        return None
    return Operator("easyauth", short_hash(principal), csrf_token(key, f"easyauth|{principal}"))


def same_site(request: Request) -> bool:
    """False for a request the browser says came from anywhere but this origin; True when it does not say.

    Sec-Fetch-Site (sent by current browsers) must be same-origin: a sibling subdomain is "same-site"
    and gets SameSite=Strict cookies, so that is not enough. Origin, when sent, must be ours; "null"
    (a sandboxed frame, a data: URL, a redirect from elsewhere) is refused — the pages send
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


# A handler's posted fields, read on the event loop before the (plain `def`) handler runs in the threadpool.
FormFields = Annotated[dict[str, str], Depends(form_fields)]


async def require_operator(request: Request) -> Operator:
    """The dependency on every /manage route but the sign-in page: credentials, then CSRF for changes."""
    operator = await run_in_threadpool(identify, request)  # reads revoked sessions from storage
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


def require_api_operator(request: Request) -> Operator:
    """The dependency on every /api/admin route: ADMIN_TOKEN as a bearer, or an Easy Auth principal with
    the role. No cookie session: the API's bodies are JSON, which no cross-site form can send."""
    services = services_of(request)
    given = _bearer(request)
    operator: Operator | None = None
    if given is not None and token_matches(services.settings, given):
        operator = Operator("token")
    else:
        operator = _easyauth(signing_key(services.settings), _easyauth_principal(request, services.settings))
    if operator is None:
        raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"})
    request.state.operator = operator
    return operator


# --- responses --------------------------------------------------------------------------------


def wants_html(request: Request) -> bool:
    return request.headers.get("sec-fetch-mode") == "navigate" or "text/html" in request.headers.get("accept", "")


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path if request.method in SAFE_METHODS else PAGES
    response = RedirectResponse(f"{LOGIN}?{urlencode({'next': target})}", status_code=303)
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


# --- cookies and sessions ---------------------------------------------------------------------


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


def revoke_session(request: Request, operator: Operator) -> None:
    """Server-side sign-out: the session's cookie is refused from now on, wherever a copy of it is."""
    if operator.signed_in:
        until = datetime.now(UTC) + timedelta(seconds=SESSION_SECONDS + CLOCK_SKEW_SECONDS)
        services_of(request).revoked_sessions.revoke(operator.ref, until)


def set_login_nonce(response: Response, settings: Settings, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_NONCE_SECONDS,
        path=LOGIN,
        httponly=True,
        secure=_secure(settings),
        samesite="strict",
    )


def clear_login_nonce(response: Response, settings: Settings) -> None:
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN, httponly=True, secure=_secure(settings), samesite="strict")


def login_nonce_ok(request: Request, given: str) -> bool:
    """The form's nonce is the cookie's (double submit), and it is one we signed within its lifetime."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        return False
    return login_nonce_value(services_of(request).settings, expected) is not None


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
    """One row per operator action (shared.adapters.audit): ids, codes and counts, never a number or a name."""
    if actor is None:
        operator = getattr(request.state, "operator", None)
        actor = operator.actor if operator is not None else "anonymous"
    services_of(request).audit.record(action, actor=actor, targets=targets, outcome=outcome, count=count)
