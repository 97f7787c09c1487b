"""Signing in with ADMIN_TOKEN and signing out (which ends the session on the server too)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.adapters.ratelimit import RateLimited
from shared.web.admin import auth as admin_auth
from shared.web.admin import tokens
from shared.web.admin.auth import CSRF_FIELD, LOGIN, PAGES, FormFields, audit
from shared.web.admin.rendering import admin_locale, protected_router, public_router, redirect, render, text
from shared.web.common import client_address, services_of

SIGN_INS_PER_WINDOW = 10
SIGN_IN_WINDOW = timedelta(minutes=15)

public = public_router()
protected = protected_router()


def _safe_next(target: str | None) -> str:
    """Only a path of our own operators' pages: never another site, never back to the sign-in page."""
    if not target or len(target) > 300 or "\\" in target or not target.startswith(PAGES):
        return PAGES
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith("//"):
        return PAGES
    if parts.path not in (PAGES, f"{PAGES}/") and not parts.path.startswith(f"{PAGES}/"):
        return PAGES
    if parts.path.startswith(LOGIN):
        return PAGES
    return target


def _login_form(
    request: Request, *, status_code: int = 200, errors: dict | None = None, target: str = PAGES
) -> HTMLResponse:
    settings = services_of(request).settings
    nonce = tokens.make_login_nonce(settings)
    response = render(
        request,
        "admin/login.html",
        status_code=status_code,
        errors=errors or {},
        nonce=nonce,
        target=target,
        token_configured=tokens.signing_key(settings) is not None,
        easy_auth=settings.app_service_auth,
    )
    admin_auth.set_login_nonce(response, settings, nonce)
    return response


@public.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    target = _safe_next(next)
    if admin_auth.identify(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_form(request, target=target)


@public.post("/login", response_class=HTMLResponse)
def login(request: Request, data: FormFields) -> Response:
    services = services_of(request)
    settings = services.settings
    locale = admin_locale(request)
    target = _safe_next(data.get("next"))
    if not admin_auth.same_site(request):
        return render(request, "admin/forbidden.html", status_code=403, reason="cross_site")
    if not admin_auth.login_nonce_ok(request, data.get(CSRF_FIELD, "")):
        return _login_form(request, status_code=403, errors={"token": text(locale, "login_expired")}, target=target)
    address = client_address(request) or "unknown"
    try:
        # Keyed like every other address counter (HMAC with PHONE_KEY_SECRET): an address is personal data,
        # and an unkeyed hash of an IPv4 address is reversed by trying all 2^32.
        key = f"adminlogin.{services.keyer.key(address)}"
        services.sign_in_limiter().hit(key, SIGN_INS_PER_WINDOW, SIGN_IN_WINDOW)
    except RateLimited as exc:
        audit(request, "sign_in", actor="anonymous", outcome="rate_limited")
        response: Response = _login_form(request, status_code=429, errors={"token": text(locale, "login_rate_limited")})
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    key_bytes = tokens.signing_key(settings)
    given = data.get("token", "").strip()
    if key_bytes is None or not tokens.token_matches(settings, given):
        audit(request, "sign_in", actor="anonymous", outcome="denied")
        error = text(locale, "login_wrong" if given else "login_required")
        return _login_form(request, status_code=401, errors={"token": error}, target=target)
    cookie = tokens.make_session_cookie(key_bytes)
    sid = tokens.session_id(key_bytes, cookie)
    assert sid is not None
    audit(request, "sign_in", actor=f"session:{tokens.short_hash(sid)}")
    response = RedirectResponse(target, status_code=303)
    admin_auth.set_session(response, settings, cookie)
    admin_auth.clear_login_nonce(response, settings)
    return response


@protected.post("/logout")
def logout(request: Request) -> Response:
    operator: admin_auth.Operator = request.state.operator
    admin_auth.revoke_session(request, operator)
    audit(request, "sign_out")
    response = redirect(LOGIN, "signed_out")
    admin_auth.clear_session(response, services_of(request).settings)
    return response
