"""What every operators' page shares: texts and language, rendering, redirects, the routers.

Texts come from the one catalog loader (shared.core.i18n, domain "admin": locales/admin/*.json).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.core import i18n
from shared.core.local_time import organisation_tz
from shared.core.organisation import Organisation
from shared.services.operations import Operations
from shared.services.operations_base import OperationError
from shared.web.admin.auth import CSRF_FIELD, LOGIN, PAGES, AdminRoute, Operator, require_operator
from shared.web.common import services_of

LANG_COOKIE = "gs_admin_lang"
DOMAIN = "admin"

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
    "facilitator_links_revoked",
)


# --- texts ------------------------------------------------------------------------------------


def text(locale: str, key: str, **values: object) -> str:
    """An operators' text; English when the locale lacks one (the catalogs are checked to be complete)."""
    return i18n.translate_in(DOMAIN, locale, key, **values)


def plural(locale: str, key: str, n: int, **values: object) -> str:
    return i18n.plural_in(DOMAIN, locale, key, n, **values)


def has_text(key: str) -> bool:
    return key in i18n.catalog("en", DOMAIN)


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


def zone(organisation: Organisation) -> tzinfo:
    """The wall clock the SMS texts use too, so a time typed here reads the same in the invitation."""
    return organisation_tz(organisation)


def operation_message(locale: str, error: OperationError) -> str:
    """The service's code (and detail, when there is a text for it) in the operator's language."""
    detail = getattr(error, "detail", "")
    for key in (f"op_{error.code}_{detail}" if detail else "", f"op_{error.code}"):
        if key and has_text(key):
            return text(locale, key)
    return text(locale, "op_failed", code=error.code)


def _known_notice(code: str | None) -> str:
    return code if code in NOTICES else ""


# --- rendering --------------------------------------------------------------------------------


def render(request: Request, name: str, *, status_code: int = 200, section: str = "", **context: Any) -> HTMLResponse:
    services = services_of(request)
    organisation = services.organisation
    locale = admin_locale(request)
    wall_clock = zone(organisation)
    operator: Operator | None = getattr(request.state, "operator", None)

    def when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(wall_clock).strftime(fmt)

    def theme_label(theme_id: str) -> str:
        return organisation.theme_text(theme_id, locale).label if organisation.theme(theme_id) else theme_id

    def area_name(area_id: str | None) -> str:
        if not area_id:
            return text(locale, "area_all")
        area = organisation.area(area_id)
        return area.name if area else area_id

    def at_or(key: str, fallback: str) -> str:
        return text(locale, key) if has_text(key) else fallback

    languages = [(code, text(code, "lang_name")) for code in admin_locales(organisation)]
    # Language links lead to this page when it answers a GET; after a POST, to where its section starts.
    if request.method == "GET":
        kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "done")]
        lang_base = request.url.path + (f"?{urlencode(kept)}" if kept else "")
    else:
        lang_base = PAGES if operator else LOGIN
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
    # "Origin: null" with a form, and the pages' origin check could not tell ours from others.
    response = HTMLResponse(body, status_code=status_code, headers={"Referrer-Policy": "same-origin"})
    chosen = request.query_params.get("lang")
    if chosen in admin_locales(organisation):
        response.set_cookie(
            LANG_COOKIE,
            str(chosen),
            max_age=365 * 86400,
            path=PAGES,
            httponly=True,
            secure=not services.settings.dev_mode,
            samesite="strict",
        )
    return response


def redirect(path: str, done: str | None = None, **query: str) -> RedirectResponse:
    params = {k: v for k, v in query.items() if v}
    if done:
        params["done"] = done
    return RedirectResponse(f"{path}?{urlencode(params)}" if params else path, status_code=303)


def ops(request: Request) -> Operations:
    return services_of(request).operations


# --- routers ----------------------------------------------------------------------------------


class AdminPagesRoute(AdminRoute):
    def forbidden(self, request: Request, reason: str) -> Response:
        return render(request, "admin/forbidden.html", status_code=403, reason=reason)

    def not_found(self, request: Request) -> Response:
        return render(request, "admin/not_found.html", status_code=404)


def public_router() -> APIRouter:
    return APIRouter(prefix=PAGES, include_in_schema=False, route_class=AdminPagesRoute)


def protected_router() -> APIRouter:
    """Every route on it needs an operator (and a CSRF token for changes): a new page cannot forget it."""
    return APIRouter(
        prefix=PAGES,
        include_in_schema=False,
        route_class=AdminPagesRoute,
        dependencies=[Depends(require_operator)],
    )
