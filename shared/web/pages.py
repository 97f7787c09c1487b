"""Resident pages: server-rendered, work without JavaScript, one question per field."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from shared.adapters.ratelimit import RateLimited
from shared.adapters.storage import StorageUnavailable
from shared.core import i18n
from shared.core.codes import CODE_DIGITS, looks_like_code
from shared.core.validation import FieldError, validate_interest
from shared.services.intake import (
    AlreadyVerified,
    CodeExpired,
    IntakeError,
    NotFound,
    SmsUnavailable,
    Undeliverable,
    WrongCode,
)
from shared.services.sms_budget import BudgetExhausted
from shared.web import form_page
from shared.web.common import (
    client_address,
    expected_wait,
    locale_for,
    message,
    page,
    public_needed,
    read_form,
    render_message,
    services_of,
)

router = APIRouter(include_in_schema=False)
_KEPT = ("theme", "name", "phone", "area", "age_confirmed", "consent", "pledge")


def _form(request: Request, locale: str, *, values: dict, errors: dict, status_code: int) -> HTMLResponse:
    body = form_page.form_html(services_of(request), locale, values=values, errors=errors)
    return HTMLResponse(body, status_code=status_code)


async def _form_data(request: Request) -> dict[str, str]:
    """The posted form, read on the event loop before the handler runs in the threadpool."""
    return await read_form(request)


FormData = Annotated[dict[str, str], Depends(_form_data)]


def _messages(locale: str, errors: dict[str, FieldError]) -> dict[str, str]:
    return {field: message(locale, e.code, e.params) for field, e in errors.items()}


@router.get("/", response_class=HTMLResponse)
def form(request: Request) -> HTMLResponse:
    services_of(request).ensure_ready()
    return _form(request, locale_for(request), values={}, errors={}, status_code=200)


@router.post("/", response_class=HTMLResponse)
def submit(request: Request, data: FormData) -> HTMLResponse:
    locale = locale_for(request, data.get("locale"))
    values = {k: data.get(k, "") for k in _KEPT}
    if data.get("website"):
        # A bot filled the hidden field: answer as if all went well, store nothing, send nothing.
        return page(
            request, "verify.html", locale, interest_id="", withdraw_token="", last_digits=secrets.token_hex(1)[:2]
        )
    services = services_of(request)
    result = validate_interest(data, services.organisation, locale=locale, require_pledge=True)
    if isinstance(result, dict):
        return _form(request, locale, values=values, errors=_messages(locale, result), status_code=422)
    try:
        services.ensure_ready()
        registration = services.intake.register(result, client_address=client_address(request))
    except StorageUnavailable:
        errors = {"content": i18n.translate(locale, "unavailable_text")}
        return _form(request, locale, values=values, errors=errors, status_code=503)
    except RateLimited as exc:
        response = _form(
            request, locale, values=values, errors={"phone": message(locale, "rate_limited")}, status_code=429
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except BudgetExhausted as exc:
        # Everyone is refused alike for a while: keep what they typed, say when to try again.
        response = _form(
            request, locale, values=values, errors={"content": message(locale, "sms_budget")}, status_code=503
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Undeliverable as exc:
        return _form(request, locale, values=values, errors={"phone": message(locale, exc.code)}, status_code=422)
    except SmsUnavailable:
        errors = {"content": i18n.translate(locale, "unavailable_text")}
        return _form(request, locale, values=values, errors=errors, status_code=503)
    return page(
        request,
        "verify.html",
        locale,
        interest_id=registration.interest_id,
        withdraw_token=registration.withdraw_token,
        last_digits=registration.phone_last_digits,
    )


_VERIFY_STATUS: dict[type[IntakeError], int] = {WrongCode: 400, CodeExpired: 410, NotFound: 410}


@router.post("/verify", response_class=HTMLResponse)
def verify(request: Request, data: FormData) -> HTMLResponse:
    locale = locale_for(request)
    services = services_of(request)
    interest_id = data.get("id", "")
    token = data.get("withdraw_token", "")
    last_digits = "".join(c for c in data.get("last_digits", "")[:2] if c.isdigit())
    code = "".join(data.get("code", "").split())

    def again(error: str, status_code: int, text: str | None = None) -> HTMLResponse:
        return page(
            request,
            "verify.html",
            locale,
            status_code=status_code,
            interest_id=interest_id,
            withdraw_token=token,
            last_digits=last_digits,
            values={"code": code[:CODE_DIGITS]},
            errors={"code": text or message(locale, error)},
        )

    if not looks_like_code(code):
        return again("code_format", 400)
    try:
        verified = services.intake.verify(interest_id, code)
    except StorageUnavailable:
        return again("", 503, i18n.translate(locale, "unavailable_text"))
    except AlreadyVerified:
        record = services.intake.get(interest_id)
        needed = services.intake.needed(record.theme, record.area)
        return _thanks(request, locale, record.theme, record.area, needed, "", "")
    except (WrongCode, CodeExpired, NotFound) as exc:
        return again(exc.code if not isinstance(exc, NotFound) else "code_expired", _VERIFY_STATUS[type(exc)])
    # After a merge the registration has the earlier id; the token of this attempt now works with it.
    area = verified.area
    return _thanks(
        request, locale, verified.theme, area, verified.needed, verified.interest_id, token, verified.joining
    )


def _thanks(
    request: Request,
    locale: str,
    theme: str,
    area: str | None,
    needed: int,
    interest_id: str,
    token: str,
    joining: bool = False,
) -> HTMLResponse:
    organisation = services_of(request).organisation
    return page(
        request,
        "thanks.html",
        locale,
        theme_label=organisation.theme_text(theme, locale).label,
        needed=public_needed(request, needed),  # None: more are needed, how many is withheld
        joining=joining,
        wait=form_page.expected_wait_text(locale, expected_wait(request, theme, area)),
        # Posted, never put in a link: a URL with the token would sit in history, logs and Referer headers.
        withdraw={"id": interest_id, "token": token} if token else None,
    )


@router.get("/withdraw", response_class=HTMLResponse)
def withdraw_how(request: Request) -> HTMLResponse:
    """No token is ever read from a URL (old links carried one): this page says how to withdraw instead."""
    return render_message(request, "withdraw_title", "withdraw_how")


@router.post("/withdraw/confirm", response_class=HTMLResponse)
def withdraw_confirm(request: Request, data: FormData) -> HTMLResponse:
    return page(
        request,
        "withdraw.html",
        locale_for(request),
        interest_id=data.get("id", "")[:80],
        token=data.get("token", "")[:100],
    )


@router.post("/withdraw", response_class=HTMLResponse)
def withdraw(request: Request, data: FormData) -> HTMLResponse:
    try:
        services_of(request).intake.withdraw(data.get("id", ""), data.get("token", ""))
    except NotFound:
        return render_message(request, "withdraw_title", "withdraw_invalid", status_code=404)
    return render_message(request, "withdrawn_title", "withdrawn_text")
