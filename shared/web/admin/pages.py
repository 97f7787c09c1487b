"""Operators' pages under /admin: overview, groups, facilitators, statistics, a resident's data.

Server-rendered like the resident pages and held to the same bar (labels, errors tied to fields,
keyboard, lang, axe-core). Access and the audit log live in admin_auth; the work itself in
shared.services.operations.Operations (`services.operations`). Every change is a POST that answers with a
303 to a page (post/redirect/get), so reloading never repeats it.

Members' phone numbers are never shown here: nothing an operator does on these pages needs them
(the facilitator gets the roster by SMS), and a number beside a name in a theme such as grief or
illness is exactly the special-category data to keep off screens. A resident's own data is reached
only by typing their number on the people page, for export or erasure.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from shared import PACKAGE_DIR
from shared.adapters.ratelimit import RateLimited, RateLimiter
from shared.adapters.storage import RATE_LIMITS
from shared.core import i18n
from shared.core.domain import GroupStatus
from shared.core.local_time import organisation_tz
from shared.core.organisation import Organisation
from shared.core.phone import PhoneError, parse_mobile
from shared.services.facilitators import Facilitator, FacilitatorIn, FacilitatorPatch, InvalidFacilitator
from shared.services.operations import GroupView, OperationError, Operations
from shared.web.admin import auth as admin_auth
from shared.web.admin.auth import (
    CSRF_FIELD,
    AdminRoute,
    Operator,
    audit,
    form_fields,
    require_operator,
)
from shared.web.admin.statistics_charts import statistics_charts
from shared.web.common import client_address, services_of

log = logging.getLogger(__name__)

LANG_COOKIE = "gs_admin_lang"
GROUP_STATUSES = tuple(s.value for s in GroupStatus)
_ASSIGNABLE = (GroupStatus.AWAITING_FACILITATOR.value, GroupStatus.FORMING.value, GroupStatus.ACTIVE.value)
_MEETABLE = (GroupStatus.FORMING.value, GroupStatus.ACTIVE.value)
SIGN_INS_PER_WINDOW = 10
SIGN_IN_WINDOW = timedelta(minutes=15)
PLACE_MAX = 200
_LOCALES = PACKAGE_DIR / "locales" / "admin"  # beside, not among, the resident catalogs


# --- texts ------------------------------------------------------------------------------------


@cache
def _catalog(locale: str) -> dict[str, str]:
    return json.loads((_LOCALES / f"{locale}.json").read_text(encoding="utf-8"))


def text(locale: str, key: str, **values: object) -> str:
    """An admin text; English when the locale lacks one (the catalogs are checked to be complete)."""
    catalog = _catalog(locale if locale in i18n.LOCALES else "en")
    template = catalog.get(key) or _catalog("en")[key]
    return template.format(**values) if values else template


def plural(locale: str, key: str, n: int, **values: object) -> str:
    return text(locale, f"{key}_one" if n == 1 else f"{key}_other", n=n, **values)


def admin_locales(organisation: Organisation) -> list[str]:
    """The organisation's languages, and English for staff who read it best."""
    return list(dict.fromkeys([*organisation.locales, "en"]))


def admin_locale(request: Request) -> str:
    """?lang= (remembered in a cookie), then the cookie, then the browser among the offered, then the default."""
    organisation = services_of(request).organisation
    offered = admin_locales(organisation)
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in offered:
            return str(candidate)
    for locale in i18n.parse_accept_language(request.headers.get("accept-language")):
        if locale in offered:
            return locale
    return organisation.default_locale


def _zone(organisation: Organisation) -> tzinfo:
    """The wall clock the SMS texts use too, so a time typed here reads the same in the invitation."""
    return organisation_tz(organisation)


# --- rendering --------------------------------------------------------------------------------


def render(request: Request, name: str, *, status_code: int = 200, section: str = "", **context: Any) -> HTMLResponse:
    services = services_of(request)
    organisation = services.organisation
    locale = admin_locale(request)
    zone = _zone(organisation)
    operator: Operator | None = getattr(request.state, "operator", None)

    def when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(zone).strftime(fmt)

    def theme_label(theme_id: str) -> str:
        return organisation.theme_text(theme_id, locale).label if organisation.theme(theme_id) else theme_id

    def area_name(area_id: str | None) -> str:
        if not area_id:
            return text(locale, "area_all")
        area = organisation.area(area_id)
        return area.name if area else area_id

    def at_or(key: str, fallback: str) -> str:
        return text(locale, key) if key in _catalog("en") else fallback

    languages = [(code, text(code, "lang_name")) for code in admin_locales(organisation)]
    # Language links lead to this page when it answers a GET; after a POST, to where its section starts.
    if request.method == "GET":
        kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "done")]
        lang_base = request.url.path + (f"?{urlencode(kept)}" if kept else "")
    else:
        lang_base = "/admin" if operator else "/admin/login"
    context.setdefault("errors", {})
    context.setdefault("values", {})
    context.setdefault("error", "")
    body = services.templates.page(
        name,
        locale,
        organisation=organisation,
        languages=languages,
        at=lambda key, **values: text(locale, key, **values),
        atn=lambda key, n, **values: plural(locale, key, n, **values),
        at_or=at_or,
        lang_base=lang_base,
        operator=operator,
        csrf=operator.csrf if operator else "",
        csrf_field=CSRF_FIELD,
        section=section,
        path=request.url.path,
        when=when,
        theme_label=theme_label,
        area_name=area_name,
        done=_known_notice(request.query_params.get("done")),
        **context,
    )
    # The resident pages send no referrer at all (their links carry tokens); then a browser sends
    # "Origin: null" with a form, and the admin pages' origin check could not tell ours from others.
    response = HTMLResponse(body, status_code=status_code, headers={"Referrer-Policy": "same-origin"})
    chosen = request.query_params.get("lang")
    if chosen in admin_locales(organisation):
        response.set_cookie(
            LANG_COOKIE,
            str(chosen),
            max_age=365 * 86400,
            path="/admin",
            httponly=True,
            secure=not services.settings.dev_mode,
            samesite="strict",
        )
    return response


NOTICES = (
    "signed_out",
    "retried",
    "facilitator_assigned",
    "meeting_set",
    "member_removed",
    "group_closed",
    "facilitator_added",
    "facilitator_saved",
    "facilitator_deactivated",
)


def _known_notice(code: str | None) -> str:
    return code if code in NOTICES else ""


def redirect(path: str, done: str | None = None, **query: str) -> RedirectResponse:
    params = {k: v for k, v in query.items() if v}
    if done:
        params["done"] = done
    return RedirectResponse(f"{path}?{urlencode(params)}" if params else path, status_code=303)


class AdminPagesRoute(AdminRoute):
    def forbidden(self, request: Request, reason: str) -> Response:
        return render(request, "admin/forbidden.html", status_code=403, reason=reason)

    def not_found(self, request: Request) -> Response:
        return render(request, "admin/not_found.html", status_code=404)


def ops(request: Request) -> Operations:
    return services_of(request).operations


def operation_message(locale: str, error: OperationError) -> str:
    """The service's code (and detail, when there is a text for it) in the operator's language."""
    detail = getattr(error, "detail", "")
    for key in (f"op_{error.code}_{detail}" if detail else "", f"op_{error.code}"):
        if key and key in _catalog("en"):
            return text(locale, key)
    return text(locale, "op_failed", code=error.code)


public = APIRouter(prefix="/admin", include_in_schema=False, route_class=AdminPagesRoute)
protected = APIRouter(
    prefix="/admin",
    include_in_schema=False,
    route_class=AdminPagesRoute,
    dependencies=[Depends(require_operator)],
)


# --- sign-in ----------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path of our own admin pages: never another site, never back to the sign-in page."""
    if not target or len(target) > 300 or "\\" in target or not target.startswith("/admin"):
        return "/admin"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith("//"):
        return "/admin"
    if parts.path not in ("/admin", "/admin/") and not parts.path.startswith("/admin/"):
        return "/admin"
    if parts.path.startswith("/admin/login"):
        return "/admin"
    return target


def _login_form(request: Request, *, status_code: int = 200, errors: dict | None = None, target: str = "/admin"):
    settings = services_of(request).settings
    nonce = secrets.token_urlsafe(24)
    response = render(
        request,
        "admin/login.html",
        status_code=status_code,
        errors=errors or {},
        nonce=nonce,
        target=target,
        token_configured=admin_auth.signing_key(settings) is not None,
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
async def login(request: Request) -> Response:
    services = services_of(request)
    settings = services.settings
    locale = admin_locale(request)
    data = await form_fields(request)
    target = _safe_next(data.get("next"))
    if not admin_auth.same_site(request):
        return render(request, "admin/forbidden.html", status_code=403, reason="cross_site")
    if not admin_auth.login_nonce_ok(request, data.get(CSRF_FIELD, "")):
        return _login_form(request, status_code=403, errors={"token": text(locale, "login_expired")}, target=target)
    address = client_address(request) or "unknown"
    try:
        limiter = RateLimiter(services.storage.table(RATE_LIMITS), lambda: datetime.now(UTC))
        key = f"adminlogin.{hashlib.sha256(address.encode()).hexdigest()[:32]}"
        limiter.hit(key, SIGN_INS_PER_WINDOW, SIGN_IN_WINDOW)
    except RateLimited as exc:
        audit(request, "sign_in", actor="anonymous", outcome="rate_limited")
        response = _login_form(request, status_code=429, errors={"token": text(locale, "login_rate_limited")})
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    key_bytes = admin_auth.signing_key(settings)
    given = data.get("token", "").strip()
    if key_bytes is None or not admin_auth.token_matches(settings, given):
        audit(request, "sign_in", actor="anonymous", outcome="denied")
        error = text(locale, "login_wrong" if given else "login_required")
        return _login_form(request, status_code=401, errors={"token": error}, target=target)
    cookie = admin_auth.make_session_cookie(key_bytes)
    sid = admin_auth.session_id(key_bytes, cookie)
    assert sid is not None
    audit(request, "sign_in", actor=f"session:{admin_auth.short_hash(sid)}")
    response = RedirectResponse(target, status_code=303)
    admin_auth.set_session(response, settings, cookie)
    admin_auth.clear_login_nonce(response, settings)
    return response


@protected.post("/logout")
def logout(request: Request) -> Response:
    audit(request, "sign_out")
    response = redirect("/admin/login", "signed_out")
    admin_auth.clear_session(response, services_of(request).settings)
    return response


# --- overview ---------------------------------------------------------------------------------


@protected.get("", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    counts, failed = ops(request).overview()
    return render(request, "admin/overview.html", section="overview", counts=counts, failed=failed)


@protected.post("/messages/retry")
async def retry_message(request: Request) -> Response:
    data = await form_fields(request)
    theme, row = data.get("theme", "")[:60], data.get("row", "")[:120]
    try:
        ops(request).retry_message(theme, row)
    except OperationError as exc:
        audit(request, "message_retry", targets=[theme, row], outcome=exc.code)
        counts, failed = ops(request).overview()
        return render(
            request,
            "admin/overview.html",
            status_code=409 if exc.code != "not_found" else 404,
            section="overview",
            counts=counts,
            failed=failed,
            error=operation_message(admin_locale(request), exc),
        )
    audit(request, "message_retry", targets=[theme, row])
    return redirect("/admin", "retried")


# --- groups -----------------------------------------------------------------------------------


@protected.get("/groups", response_class=HTMLResponse)
def groups(request: Request, theme: str | None = None, status: str | None = None) -> HTMLResponse:
    organisation = services_of(request).organisation
    theme = theme if theme and organisation.theme(theme) else None
    status = status if status in GROUP_STATUSES else None
    found = ops(request).groups(theme=theme, status=status)
    return render(
        request,
        "admin/groups.html",
        section="groups",
        groups=found,
        values={"theme": theme or "", "status": status or ""},
        statuses=GROUP_STATUSES,
    )


def _group_or_404(request: Request, group_id: str) -> GroupView:
    group = ops(request).group(group_id[:100]) if len(group_id) <= 100 else None
    if group is None:
        raise HTTPException(404)
    return group


def _eligible(request: Request, group: GroupView) -> list[dict[str, Any]]:
    """Active facilitators for the group's theme, area and language, with their load; the current one too."""
    loads = ops(request).facilitator_loads()
    choices = []
    for f in services_of(request).facilitators.list():
        fits = (
            f.active
            and (not f.themes or group.theme in f.themes)
            and (not f.areas or group.area is None or group.area in f.areas)
            and group.locale in f.locales
        )
        if fits or f.id == group.facilitator_id:
            load = loads.get(f.id, 0)
            choices.append({"id": f.id, "name": f.name, "load": load, "capacity": f.capacity})
    return choices


def _group_page(
    request: Request,
    group: GroupView,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    error: str = "",
) -> HTMLResponse:
    zone = _zone(services_of(request).organisation)
    meeting = values or {}
    if not meeting and group.first_meeting_at is not None:
        meeting = {
            "when": group.first_meeting_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            "place": group.meeting_place,
        }
    return render(
        request,
        "admin/group.html",
        status_code=status_code,
        section="groups",
        group=group,
        facilitators=_eligible(request, group),
        errors=errors or {},
        values={"facilitator_id": group.facilitator_id or "", **meeting},
        # Only the actions the group's status allows (the service checks again).
        can_assign=group.status in _ASSIGNABLE,
        can_meet=group.status in _MEETABLE and bool(group.facilitator_id),
        closed=group.status == GroupStatus.CLOSED.value,
        error=error,
    )


@protected.get("/groups/{group_id}", response_class=HTMLResponse)
def group_page(request: Request, group_id: str) -> HTMLResponse:
    group = _group_or_404(request, group_id)
    audit(request, "group_view", targets=[group.id])  # the page shows members' names
    return _group_page(request, group)


@protected.post("/groups/{group_id}/facilitator")
async def assign_facilitator(request: Request, group_id: str) -> Response:
    group = _group_or_404(request, group_id)
    data = await form_fields(request)
    locale = admin_locale(request)
    facilitator_id = data.get("facilitator_id", "")[:40]
    if not facilitator_id:
        errors = {"facilitator_id": text(locale, "err_facilitator_required")}
        return _group_page(request, group, status_code=422, errors=errors)
    try:
        ops(request).assign_facilitator(group.id, facilitator_id)
    except OperationError as exc:
        audit(request, "group_assign_facilitator", targets=[group.id, facilitator_id], outcome=exc.code)
        current = _group_or_404(request, group.id)
        if current.status not in _ASSIGNABLE:  # no form to point at: say it above the page
            return _group_page(request, current, status_code=409, error=operation_message(locale, exc))
        errors = {"facilitator_id": operation_message(locale, exc)}
        return _group_page(request, current, status_code=409, errors=errors)
    audit(request, "group_assign_facilitator", targets=[group.id, facilitator_id])
    return redirect(f"/admin/groups/{group.id}", "facilitator_assigned")


def _meeting_time(raw: str, zone: Any) -> datetime | None:
    try:
        local = datetime.strptime(raw.strip()[:16], "%Y-%m-%dT%H:%M")
    except ValueError:
        return None
    return local.replace(tzinfo=zone).astimezone(UTC)


@protected.post("/groups/{group_id}/meeting")
async def set_first_meeting(request: Request, group_id: str) -> Response:
    group = _group_or_404(request, group_id)
    data = await form_fields(request)
    locale = admin_locale(request)
    if group.status not in _MEETABLE or not group.facilitator_id:
        audit(request, "group_first_meeting", targets=[group.id], outcome="invalid_state")
        return _group_page(request, group, status_code=409, error=text(locale, "op_invalid_state"))
    raw_when, place = data.get("when", "")[:40], " ".join(data.get("place", "").split())
    values = {"when": raw_when, "place": data.get("place", "")[: PLACE_MAX + 50]}
    errors: dict[str, str] = {}
    when = _meeting_time(raw_when, _zone(services_of(request).organisation))
    if not raw_when.strip():
        errors["when"] = text(locale, "err_when_required")
    elif when is None:
        errors["when"] = text(locale, "err_when_invalid")
    elif when <= datetime.now(UTC):
        errors["when"] = text(locale, "err_when_past")
    if not place:
        errors["place"] = text(locale, "err_place_required")
    elif len(place) > PLACE_MAX:
        errors["place"] = text(locale, "err_place_too_long", n=PLACE_MAX)
    if errors or when is None:
        return _group_page(request, group, status_code=422, errors=errors, values=values)
    try:
        ops(request).set_first_meeting(group.id, when, place)
    except OperationError as exc:
        audit(request, "group_first_meeting", targets=[group.id], outcome=exc.code)
        field = "place" if getattr(exc, "detail", "").startswith("place") else "when"
        errors = {field: operation_message(locale, exc)}
        return _group_page(request, group, status_code=409, errors=errors, values=values)
    audit(request, "group_first_meeting", targets=[group.id])
    return redirect(f"/admin/groups/{group.id}", "meeting_set")


def _member(group: GroupView, member_id: str) -> Any:
    member = next((m for m in group.members if m.id == member_id), None)
    if member is None:
        raise HTTPException(404)
    return member


@protected.post("/groups/{group_id}/members/remove", response_class=HTMLResponse)
async def remove_member(request: Request, group_id: str) -> Response:
    """First asks (a page naming the member), then removes on `confirm=yes`. The member's id travels in
    the body, never in a URL: request logs keep URLs."""
    group = _group_or_404(request, group_id)
    data = await form_fields(request)
    member = _member(group, data.get("member_id", "")[:80])
    if data.get("confirm") != "yes":
        return render(request, "admin/remove_member.html", section="groups", group=group, member=member)
    try:
        ops(request).remove_member(group.id, member.id)
    except OperationError as exc:
        audit(request, "group_remove_member", targets=[group.id], outcome=exc.code)
        error = operation_message(admin_locale(request), exc)
        return render(
            request,
            "admin/remove_member.html",
            status_code=409,
            section="groups",
            group=group,
            member=member,
            error=error,
        )
    audit(request, "group_remove_member", targets=[group.id])  # the member's id is theirs: not kept
    return redirect(f"/admin/groups/{group.id}", "member_removed")


@protected.get("/groups/{group_id}/close", response_class=HTMLResponse)
def close_group_confirm(request: Request, group_id: str) -> HTMLResponse:
    group = _group_or_404(request, group_id)
    return render(request, "admin/close_group.html", section="groups", group=group)


@protected.post("/groups/{group_id}/close")
def close_group(request: Request, group_id: str) -> Response:
    group = _group_or_404(request, group_id)
    try:
        ops(request).close_group(group.id)
    except OperationError as exc:
        audit(request, "group_close", targets=[group.id], outcome=exc.code)
        error = operation_message(admin_locale(request), exc)
        return render(request, "admin/close_group.html", status_code=409, section="groups", group=group, error=error)
    audit(request, "group_close", targets=[group.id])
    return redirect(f"/admin/groups/{group.id}", "group_closed")


# --- facilitators -----------------------------------------------------------------------------


@protected.get("/facilitators", response_class=HTMLResponse)
def facilitators(request: Request) -> HTMLResponse:
    loads = ops(request).facilitator_loads()
    return render(
        request,
        "admin/facilitators.html",
        section="facilitators",
        facilitators=services_of(request).facilitators.list(),
        loads=loads,
    )


async def _facilitator_form(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise HTTPException(415)
    form = await request.form(max_files=0, max_fields=100)

    def many(name: str) -> list[str]:
        return [v for v in form.getlist(name) if isinstance(v, str)][:100]

    def one(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    return {
        "name": one("name")[:200],
        "phone": one("phone")[:60],
        "themes": many("themes"),
        "areas": many("areas"),
        "locales": many("locales"),
        "capacity": one("capacity")[:6],
        "active": one("active") == "on",
    }


_FACILITATOR_ERRORS = {
    "name": "err_name_required",
    "phone": "err_phone_required",
    "locales": "err_locales_required",
    "capacity": "err_capacity_range",
    "themes": "err_theme_unknown",
    "areas": "err_area_unknown",
}


def _validate_facilitator(data: dict[str, Any], locale: str) -> tuple[FacilitatorIn | None, dict[str, str]]:
    values = dict(data)
    if not str(values.get("capacity", "")).strip().isdigit():
        values["capacity"] = -1
    try:
        return FacilitatorIn(**values), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for problem in exc.errors():
            field = str(problem["loc"][0]) if problem["loc"] else ""
            key = _FACILITATOR_ERRORS.get(field)
            if key and field not in errors:
                if field == "name" and problem["type"] == "string_too_long":
                    key = "err_name_too_long"
                errors[field] = text(locale, key)
        return None, errors or {"name": text(locale, "err_name_required")}


def _store_errors(exc: InvalidFacilitator, locale: str) -> dict[str, str]:
    return {field: text(locale, f"err_{code}") for field, code in exc.errors.items()}


def _facilitator_page(
    request: Request,
    facilitator: Facilitator | None,
    values: dict[str, Any],
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    organisation = services_of(request).organisation
    return render(
        request,
        "admin/facilitator.html",
        status_code=status_code,
        section="facilitators",
        facilitator=facilitator,
        values=values,
        errors=errors or {},
        all_locales=[(code, text(code, "lang_name")) for code in i18n.LOCALES],
        themes=[t.id for t in organisation.themes],
        areas=organisation.areas,
    )


def _request_formation(request: Request) -> None:
    """New capacity may let groups awaiting a facilitator start: ask for formation in every theme."""
    services = services_of(request)
    for theme in services.organisation.themes:
        services.intake.request_formation(theme.id)


@protected.get("/facilitators/new", response_class=HTMLResponse)
def new_facilitator(request: Request) -> HTMLResponse:
    values = {"locales": [services_of(request).organisation.default_locale], "capacity": "2", "active": True}
    return _facilitator_page(request, None, values)


@protected.post("/facilitators/new")
async def add_facilitator(request: Request) -> Response:
    locale = admin_locale(request)
    data = await _facilitator_form(request)
    valid, errors = _validate_facilitator(data, locale)
    if valid is None:
        return _facilitator_page(request, None, data, status_code=422, errors=errors)
    try:
        created = services_of(request).facilitators.create(valid)
    except InvalidFacilitator as exc:
        return _facilitator_page(request, None, data, status_code=422, errors=_store_errors(exc, locale))
    audit(request, "facilitator_add", targets=[created.id])
    _request_formation(request)
    return redirect("/admin/facilitators", "facilitator_added")


def _facilitator_or_404(request: Request, facilitator_id: str) -> Facilitator:
    found = services_of(request).facilitators.get(facilitator_id)
    if found is None:
        raise HTTPException(404)
    return found


@protected.get("/facilitators/{facilitator_id}", response_class=HTMLResponse)
def edit_facilitator(request: Request, facilitator_id: str) -> HTMLResponse:
    facilitator = _facilitator_or_404(request, facilitator_id)
    values = facilitator.model_dump()
    values["capacity"] = str(facilitator.capacity)
    return _facilitator_page(request, facilitator, values)


@protected.post("/facilitators/{facilitator_id}")
async def save_facilitator(request: Request, facilitator_id: str) -> Response:
    facilitator = _facilitator_or_404(request, facilitator_id)
    locale = admin_locale(request)
    data = await _facilitator_form(request)
    valid, errors = _validate_facilitator(data, locale)
    if valid is None:
        return _facilitator_page(request, facilitator, data, status_code=422, errors=errors)
    patch = FacilitatorPatch(**valid.model_dump())
    try:
        services_of(request).facilitators.update(facilitator.id, patch)
    except InvalidFacilitator as exc:
        return _facilitator_page(request, facilitator, data, status_code=422, errors=_store_errors(exc, locale))
    audit(request, "facilitator_edit", targets=[facilitator.id])
    _request_formation(request)
    return redirect("/admin/facilitators", "facilitator_saved")


@protected.post("/facilitators/{facilitator_id}/deactivate")
def deactivate_facilitator(request: Request, facilitator_id: str) -> Response:
    facilitator = _facilitator_or_404(request, facilitator_id)
    services_of(request).facilitators.update(facilitator.id, FacilitatorPatch(active=False))
    audit(request, "facilitator_deactivate", targets=[facilitator.id])
    return redirect("/admin/facilitators", "facilitator_deactivated")


# --- statistics -------------------------------------------------------------------------------


@protected.get("/statistics", response_class=HTMLResponse)
def statistics(request: Request) -> HTMLResponse:
    locale, services = admin_locale(request), services_of(request)
    charts = statistics_charts(
        services, lambda key: text(locale, key), lambda theme: services.organisation.theme_text(theme, locale).label
    )
    return render(request, "admin/statistics.html", section="statistics", charts=charts)


@protected.get("/statistics.csv")
def statistics_csv(request: Request) -> Response:
    body = ops(request).statistics_csv()
    audit(request, "statistics_export")
    organisation = services_of(request).organisation
    name = f"gruppstart-{organisation.id}-{datetime.now(UTC):%Y-%m-%d}.csv"
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- a resident's data ------------------------------------------------------------------------


@protected.get("/people", response_class=HTMLResponse)
def people(request: Request) -> HTMLResponse:
    return render(request, "admin/people.html", section="people")


def _phone(request: Request, raw: str) -> tuple[str | None, dict[str, str]]:
    locale = admin_locale(request)
    if not raw.strip():
        return None, {"phone": text(locale, "err_phone_required")}
    try:
        return parse_mobile(raw, services_of(request).organisation.country), {}
    except PhoneError as exc:
        return None, {"phone": text(locale, f"err_phone_{exc.reason}")}


@protected.post("/people/export")
async def export_person(request: Request) -> Response:
    data = await form_fields(request)
    phone, errors = _phone(request, data.get("phone", ""))
    if phone is None:
        return render(request, "admin/people.html", status_code=422, section="people", errors=errors, values=data)
    exported = ops(request).export_person(phone)
    audit(request, "person_export")  # whose data is not recorded: that would be the number itself
    body = json.dumps(exported, ensure_ascii=False, indent=2, default=str)
    name = f"gruppstart-export-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    return Response(
        body.encode("utf-8"),
        media_type="application/json; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@protected.post("/people/erase", response_class=HTMLResponse)
async def erase_person(request: Request) -> HTMLResponse:
    data = await form_fields(request)
    raw = data.get("phone", "")
    phone, errors = _phone(request, raw)
    if phone is None:
        return render(
            request, "admin/people.html", status_code=422, section="people", errors=errors,
            values={"phone": raw[:40]},
        )  # fmt: skip
    if data.get("confirm") != "yes":
        exported = ops(request).export_person(phone)
        return render(
            request,
            "admin/erase_confirm.html",
            section="people",
            phone=phone,
            last_digits=phone[-2:],
            found=len(exported.get("interests") or []),
            facilitator=bool(exported.get("facilitator")),
        )
    erased = ops(request).erase_person(phone)
    audit(request, "person_erase", count=erased)
    return render(request, "admin/erased.html", section="people", erased=erased)


# --- the router app.py includes ---------------------------------------------------------------

router = APIRouter()
router.include_router(public)
router.include_router(protected)
