"""Assisted registration for people who phone (issue 23.5): a coordinator types the caller's interest.

The resident path, unchanged: `intake.register` stores a pending attempt and texts a code to the
caller's mobile; the caller reads the code out and the coordinator types it on the next page, and
only `intake.verify` makes a registration of it. So nothing about the number exists as a registration
before its holder has proved they have the phone (docs/architecture.md, "Privacy by construction"),
and an operator cannot register someone else's number. The consent the caller gave on the phone is kept on the row as
`<version>|phone:<operator>`; both steps are audited with the operator and the number's keyed marker.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from shared.adapters.audit import lookup_target
from shared.adapters.ratelimit import RateLimited
from shared.adapters.storage import StorageUnavailable
from shared.core import i18n
from shared.core.codes import looks_like_code
from shared.core.validation import validate_interest
from shared.services.intake import AlreadyVerified, CodeExpired, NotFound, SmsUnavailable, Undeliverable, WrongCode
from shared.services.sms_budget import BudgetExhausted
from shared.web.admin.auth import FormFields, Operator, audit
from shared.web.admin.rendering import admin_locale, protected_router, render, text
from shared.web.common import client_address, expected_wait, message, services_of
from shared.web.form_page import expected_wait_text

protected = protected_router()
_KEPT = ("theme", "area", "name", "phone", "locale", "age_confirmed", "consent", "pledge")


def _form(request: Request, *, values: dict, errors: dict, status_code: int = 200) -> HTMLResponse:
    organisation = services_of(request).organisation
    locale = admin_locale(request)
    themes = [(t.id, organisation.theme_text(t.id, locale).label) for t in organisation.themes]
    languages = [(code, i18n.translate(code, "lang_name")) for code in organisation.locales]
    return render(
        request,
        "admin/phone_in.html",
        status_code=status_code,
        section="phone_in",
        themes=themes,
        areas=organisation.areas,
        caller_languages=languages,
        values=values,
        errors=errors,
    )


def _code_page(
    request: Request, interest_id: str, last_digits: str, *, status_code: int = 200, error: str = ""
) -> HTMLResponse:
    return render(
        request,
        "admin/phone_in_code.html",
        status_code=status_code,
        section="phone_in",
        interest_id=interest_id,
        last_digits=last_digits,
        errors={"code": error} if error else {},
    )


@protected.get("/phone-in", response_class=HTMLResponse)
def phone_in(request: Request) -> HTMLResponse:
    return _form(request, values={}, errors={})


@protected.post("/phone-in", response_class=HTMLResponse)
def phone_in_register(request: Request, data: FormFields) -> HTMLResponse:
    services = services_of(request)
    organisation = services.organisation
    locale = admin_locale(request)
    values = {k: data.get(k, "")[:200] for k in _KEPT}
    # The caller's language: their texts come in it. The organisation's languages only.
    caller_locale = values["locale"] if values["locale"] in organisation.locales else organisation.default_locale
    result = validate_interest(data, organisation, locale=caller_locale, require_pledge=True)
    if isinstance(result, dict):
        errors = {field: message(locale, e.code, e.params) for field, e in result.items()}
        return _form(request, values=values, errors=errors, status_code=422)
    operator: Operator = request.state.operator
    try:
        services.ensure_ready()
        registration = services.intake.register(
            result, client_address=client_address(request), consent_by_phone=operator.actor
        )
    except RateLimited:
        return _form(request, values=values, errors={"phone": message(locale, "rate_limited")}, status_code=429)
    except BudgetExhausted:
        return _form(request, values=values, errors={"phone": message(locale, "sms_budget")}, status_code=503)
    except Undeliverable as exc:
        return _form(request, values=values, errors={"phone": message(locale, exc.code)}, status_code=422)
    except (SmsUnavailable, StorageUnavailable):
        errors = {"phone": i18n.translate(locale, "unavailable_text")}
        return _form(request, values=values, errors=errors, status_code=503)
    audit(request, "phone_registration_code_sent", targets=[lookup_target(services.keyer, result.phone)])
    return _code_page(request, registration.interest_id, registration.phone_last_digits)


@protected.post("/phone-in/verify", response_class=HTMLResponse)
def phone_in_verify(request: Request, data: FormFields) -> HTMLResponse:
    services = services_of(request)
    locale = admin_locale(request)
    interest_id = data.get("id", "")[:120]
    last_digits = "".join(c for c in data.get("last_digits", "")[:2] if c.isdigit())
    code = "".join(data.get("code", "").split())
    if not looks_like_code(code):
        return _code_page(request, interest_id, last_digits, status_code=400, error=message(locale, "code_format"))
    try:
        verified = services.intake.verify(interest_id, code)
    except WrongCode:
        return _code_page(request, interest_id, last_digits, status_code=400, error=message(locale, "code_wrong"))
    except (CodeExpired, NotFound):
        return _form(request, values={}, errors={"code": text(locale, "phone_in_expired")}, status_code=410)
    except AlreadyVerified:
        return _form(request, values={}, errors={"code": text(locale, "phone_in_already")}, status_code=409)
    except StorageUnavailable:
        error = i18n.translate(locale, "unavailable_text")
        return _code_page(request, interest_id, last_digits, status_code=503, error=error)
    record = services.intake.get(verified.interest_id)
    audit(request, "phone_registration", targets=[lookup_target(services.keyer, record.phone), verified.interest_id])
    organisation = services.organisation
    return render(
        request,
        "admin/phone_in_done.html",
        section="phone_in",
        theme=organisation.theme_text(verified.theme, locale).label,
        needed=verified.needed,
        joining=verified.joining,
        wait=expected_wait_text(locale, expected_wait(request, verified.theme, verified.area)),
    )
