"""The facilitator's own page (issues 12.3 and 19.1; services/facilitator_page.py).

- `GET /f/<link token>`: the link in the text. Request telemetry keeps URLs and link previewers fetch
  links, so this page shows nothing personal (not even the facilitator's name) and changes nothing:
  one button.
- `POST /f/<link token>`: the button. A same-origin form with a token bound to the link; it answers
  with a session cookie (`HttpOnly; Secure; SameSite=Strict; Path=/f`, minutes long) and a redirect to
  `/f/groups`, a URL with no secret in it.
- `GET /f/groups`: the roster, from the session. `POST /f/groups/<group>/<action>`: a change, with a
  form token bound to the session (CSRF), then a redirect.

Cookie attributes: https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/Set-Cookie
(Strict: the browser sends the cookie only with requests started from our own pages; Path=/f: only to
the facilitator's pages). Cross-site posts are refused on the browser's Sec-Fetch-Site header
(https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/Sec-Fetch-Site), so another site
cannot sign a visitor into someone's page. Pages are not cached and send no referrer.

Handlers that touch storage are plain `def` (FastAPI runs them in its thread pool) or hand the work to
the pool with `run_in_threadpool` after reading the body, so no request blocks the event loop.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from shared import PACKAGE_DIR
from shared.core import i18n
from shared.core.facilitators import Facilitator
from shared.core.local_time import format_meeting_time, organisation_tz
from shared.services.facilitator_links import SESSION_COOKIE, SESSION_PATH
from shared.services.facilitator_page import ACTIONS, NOTE_MAX, PLACE_MAX, FacilitatorPage, TextRefused
from shared.services.notify import short_ref
from shared.services.operations_base import OperationError
from shared.web.common import read_form, services_of

router = APIRouter(include_in_schema=False)
_LOCALES = PACKAGE_DIR / "locales" / "facilitator"
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
ROSTER = f"{SESSION_PATH}/groups"
_DONE = (*ACTIONS, "meeting_unchanged")
_ERRORS = (
    "invalid_state",
    "invalid_meeting",
    "not_found",
    "conflict",
    "confirm_required",
    "held_today",
    "reports_today",
    "meeting_texts_today",
)


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
    offered: list[str] = context.pop("offered", [])
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


def _invalid(request: Request, reason: str = "link") -> HTMLResponse:
    # The same answer for a forged, expired and revoked link (and for an ended session): nothing tells which.
    status = 404 if reason == "link" else 403
    return _render(request, "invalid.html", _locale(request, None), status_code=status, lang_base="", reason=reason)


def _cross_site(request: Request) -> bool:
    return request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")


def _session(request: Request, page: FacilitatorPage) -> tuple[Facilitator, str] | None:
    value = request.cookies.get(SESSION_COOKIE)
    facilitator = page.from_session(value)
    return (facilitator, str(value)) if facilitator is not None else None


# the link in the text ---------------------------------------------------------------------------


@router.get(ROSTER)
def facilitator_roster(request: Request) -> Response:
    page = _service(request)
    session = _session(request, page) if page else None
    if page is None or session is None:
        return _invalid(request, "session")
    return _roster(request, page, *session)


@router.get("/f/{token}")
def facilitator_link(request: Request, token: str) -> Response:
    """One button, nothing personal: a previewer or a logged URL gets no further."""
    page = _service(request)
    facilitator = page.facilitator(token) if page else None
    if page is None or facilitator is None:
        return _invalid(request)
    locale = _locale(request, facilitator)
    minutes = int(page.links.session_lifetime.total_seconds() // 60)
    return _render(
        request,
        "open.html",
        locale,
        offered=facilitator.locales,
        lang_base=f"/f/{token}",
        action=f"/f/{token}" + (f"?lang={locale}" if request.query_params.get("lang") == locale else ""),
        csrf=page.links.form_token(f"link:{token}"),
        minutes=minutes,
    )


async def _open_form(request: Request) -> dict[str, str]:
    return await read_form(request, max_fields=5)


@router.post("/f/{token}")
def facilitator_open(request: Request, token: str, form: Annotated[dict[str, str], Depends(_open_form)]) -> Response:
    """The button: the link becomes a session cookie, and the roster opens at a URL without the secret."""
    page = _service(request)
    if page is None:
        return _invalid(request)
    if _cross_site(request) or not page.links.form_token_ok(f"link:{token}", form.get("csrf")):
        return _invalid(request)
    started = page.start_session(token)
    if started is None:
        return _invalid(request)
    facilitator, session = started
    lang = request.query_params.get("lang")
    response = RedirectResponse(
        ROSTER + (f"?lang={lang}" if lang in facilitator.locales else ""), status_code=303, headers=_HEADERS
    )
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=int(page.links.session_lifetime.total_seconds()),
        path=SESSION_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


# the roster -------------------------------------------------------------------------------------


def _roster(
    request: Request, page: FacilitatorPage, facilitator: Facilitator, session: str, **context: Any
) -> Response:
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
    error = context.pop("error", None)
    return _render(
        request,
        "page.html",
        locale,
        status_code=context.pop("status_code", 200),
        offered=facilitator.locales,
        facilitator=facilitator,
        groups=groups,
        csrf=page.links.form_token(f"session:{session}"),
        action_base=SESSION_PATH,
        lang_base=ROSTER,
        done=done if done in _DONE else "",
        error=_error_text(locale, error) if error is not None else "",
        error_group=context.pop("error_group", ""),
        place_max=PLACE_MAX,
        note_max=NOTE_MAX,
    )


def _error_text(locale: str, error: OperationError | str) -> str:
    """The reason, in the facilitator's language; for a place or note, what to change."""
    if isinstance(error, TextRefused):
        field = "place" if error.code == "invalid_place" else "note"
        if error.reason == "not_gsm":
            return text(locale, f"err_{field}_not_gsm", characters=" ".join(error.characters))
        if error.reason == "too_long":
            return text(locale, f"err_{field}_too_long", max=error.limit)
        return text(locale, f"err_{field}_required")
    code = error if isinstance(error, str) else error.code
    return text(locale, "err_" + (code if code in (*_ERRORS, "csrf") else "invalid_state"))


@router.post(ROSTER + "/{group_id}/{action}")
async def facilitator_action(request: Request, group_id: str, action: str) -> Response:
    page = _service(request)
    if page is None:
        return _invalid(request, "session")
    form = await read_form(request, max_fields=6)
    return await run_in_threadpool(_act, request, page, group_id, action, form)


def _act(request: Request, page: FacilitatorPage, group_id: str, action: str, form: dict[str, str]) -> Response:
    session = _session(request, page)
    if session is None or action not in ACTIONS:
        return _invalid(request, "session")
    facilitator, value = session
    if _cross_site(request) or not page.links.form_token_ok(f"session:{value}", form.get("csrf")):
        return _roster(request, page, facilitator, value, status_code=403, error="csrf")
    values: dict[str, Any] = {k: form.get(k, "") for k in ("note", "place", "confirm")}
    if action == "meeting":
        values["when"] = _local_time(request, form.get("when", ""))
    try:
        done = page.act(facilitator, group_id, action, values)
    except OperationError as exc:
        status = 404 if exc.code == "not_found" else 409 if exc.code in ("invalid_state", "conflict") else 400
        if exc.code.endswith("_today"):
            status = 429
        return _roster(request, page, facilitator, value, status_code=status, error=exc, error_group=group_id)
    lang = request.query_params.get("lang")
    suffix = f"&lang={lang}" if lang in facilitator.locales else ""
    return RedirectResponse(f"{ROSTER}?done={done}{suffix}", status_code=303, headers=_HEADERS)


def _local_time(request: Request, value: str) -> datetime | None:
    """A datetime-local value, read in the organisation's wall clock (as the SMS texts show it)."""
    try:
        naive = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if naive.tzinfo is not None:
        return None
    return naive.replace(tzinfo=organisation_tz(services_of(request).organisation))
