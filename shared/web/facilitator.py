"""The facilitator's own page (issue 12.3): /f/<link token>, no password (services/facilitator_page.py).

GET only reads: link-preview bots and mail scanners fetch links, so nothing a GET does may change
anything. Each change is a POST with a form token bound to the link token (CSRF), then a redirect.
Pages are not cached and send no referrer, so the link does not leak to other sites.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared import PACKAGE_DIR
from shared.core import i18n
from shared.core.facilitators import Facilitator
from shared.core.local_time import format_meeting_time, organisation_tz
from shared.services.facilitator_page import ACTIONS, FacilitatorPage
from shared.services.notify import short_ref
from shared.services.operations import OperationError
from shared.web.common import read_form, services_of

router = APIRouter(include_in_schema=False)
_LOCALES = PACKAGE_DIR / "locales" / "facilitator"
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


@cache
def _catalog(locale: str) -> dict[str, str]:
    return json.loads((_LOCALES / f"{locale}.json").read_text(encoding="utf-8"))


def text(locale: str, key: str, **values: object) -> str:
    template = _catalog(locale if locale in i18n.LOCALES else "en")[key]
    return template.format(**values) if values else template


def _locale(request: Request, facilitator: Facilitator | None) -> str:
    """A language the facilitator reads: chosen with ?lang=, else the organisation's (a facilitator who reads
    every language still works in the organisation's), else their browser's."""
    default = services_of(request).organisation.default_locale
    reads = facilitator.locales if facilitator else list(i18n.LOCALES)
    browser = i18n.parse_accept_language(request.headers.get("accept-language"))
    for candidate in (request.query_params.get("lang"), default, *browser):
        if candidate in reads:
            return str(candidate)
    return reads[0]


def _service(request: Request) -> FacilitatorPage | None:
    return services_of(request).facilitator_page


def _render(request: Request, name: str, locale: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    services = services_of(request)
    facilitator: Facilitator | None = context.get("facilitator")
    offered = facilitator.locales if facilitator else []
    languages = [(code, i18n.translate(code, "lang_name")) for code in offered]
    body = services.templates.page(
        f"facilitator/{name}",
        locale,
        organisation=services.organisation,
        languages=languages,
        ft=lambda key, **values: text(locale, key, **values),
        **context,
    )
    return HTMLResponse(body, status_code=status_code, headers=_HEADERS)


def _invalid(request: Request) -> HTMLResponse:
    # The same answer for a forged, expired and revoked link: nothing tells which.
    return _render(request, "invalid.html", _locale(request, None), status_code=404, lang_base="")


def _page(request: Request, page: FacilitatorPage, token: str, facilitator: Facilitator, **context: Any) -> Response:
    services = services_of(request)
    organisation = services.organisation
    locale = _locale(request, facilitator)
    tz = organisation_tz(organisation)
    meetings_of = services.settings.facilitator_meetings
    groups = []
    for view, held in page.visit(facilitator).groups:
        first = view.first_meeting_at
        groups.append(
            {
                "id": view.id,
                "ref": short_ref(view.key),
                "status": view.status,
                "theme_label": organisation.theme_text(view.theme, locale).label,
                "members": view.members,
                "when": format_meeting_time(first, locale, tz) if first else "",
                "when_value": first.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if first else "",
                "place": view.meeting_place,
                "meetings_held": held,
                "meetings_of": meetings_of,
            }
        )
    done = request.query_params.get("done")
    return _render(
        request,
        "page.html",
        locale,
        status_code=context.pop("status_code", 200),
        facilitator=facilitator,
        groups=groups,
        csrf=page.links.form_token(token),
        action_base=f"/f/{token}",
        lang_base=f"/f/{token}",
        done=done if done in ACTIONS else "",
        error=context.pop("error", ""),
    )


@router.get("/f/{token}")
def facilitator_page(request: Request, token: str) -> Response:
    page = _service(request)
    facilitator = page.facilitator(token) if page else None
    if page is None or facilitator is None:
        return _invalid(request)
    return _page(request, page, token, facilitator)


@router.post("/f/{token}/groups/{group_id}/{action}")
async def facilitator_action(request: Request, token: str, group_id: str, action: str) -> Response:
    page = _service(request)
    facilitator = page.facilitator(token) if page else None
    if page is None or facilitator is None or action not in ACTIONS:
        return _invalid(request)
    form = await read_form(request, max_fields=5)
    if not page.links.form_token_ok(token, form.get("csrf")):
        return _page(request, page, token, facilitator, status_code=403, error="csrf")
    values: dict[str, Any] = {"note": form.get("note", ""), "place": form.get("place", "")}
    if action == "meeting":
        values["when"] = _local_time(request, form.get("when", ""))
    try:
        page.act(facilitator, group_id, action, values)
    except OperationError as exc:
        status = 404 if exc.code == "not_found" else 409 if exc.code in ("invalid_state", "conflict") else 400
        error = exc.code if exc.code in _ERRORS else "invalid_state"
        return _page(request, page, token, facilitator, status_code=status, error=error)
    lang = request.query_params.get("lang")
    suffix = f"&lang={lang}" if lang in facilitator.locales else ""
    return RedirectResponse(f"/f/{token}?done={action}{suffix}", status_code=303, headers=_HEADERS)


_ERRORS = ("invalid_state", "invalid_meeting", "invalid_note", "not_found", "conflict")


def _local_time(request: Request, value: str) -> datetime | None:
    """A datetime-local value, read in the organisation's wall clock (as the SMS texts show it)."""
    try:
        naive = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if naive.tzinfo is not None:
        return None
    return naive.replace(tzinfo=organisation_tz(services_of(request).organisation))
