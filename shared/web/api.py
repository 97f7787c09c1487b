"""The JSON API: the same rules as the form, for apps and integrations."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.ratelimit import RateLimited
from shared.core.codes import looks_like_code
from shared.core.disclosure import disclosed
from shared.core.languages import LocaleCode
from shared.core.validation import validate_interest
from shared.services.intake import AlreadyVerified, CodeExpired, NotFound, SmsUnavailable, Undeliverable, WrongCode
from shared.services.sms_budget import BudgetExhausted
from shared.web.common import (
    client_address,
    error_json,
    expected_wait,
    locale_for,
    message,
    public_needed,
    services_of,
)
from shared.web.form_page import expected_wait_text


def require_json(request: Request) -> None:
    """JSON in, or 415: a body of another type would otherwise read as missing fields."""
    if request.method in ("POST", "PUT", "PATCH"):
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise HTTPException(415)


class FieldProblem(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: str = Field(description="Machine-readable reason.")
    message: str = Field(description="The reason in the caller's language.")
    errors: dict[str, FieldProblem] | None = Field(None, description="Problems by field.")


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI entries for the error bodies these routes send, all shaped as ErrorOut."""
    described = {
        400: "Malformed request: not JSON, bytes that are not UTF-8, a body that is not an object.",
        401: "Missing or wrong bearer token.",
        404: "Not found.",
        409: "Conflict with what is stored.",
        410: "Gone: the code expired or was tried too many times.",
        413: "Body over 64 KiB.",
        415: "Body is not application/json.",
        422: "Invalid fields, each with a localized message.",
        429: "Too many requests; see Retry-After.",
        503: "Storage or SMS temporarily unavailable; see Retry-After.",
    }
    return {status: {"model": ErrorOut, "description": described[status]} for status in statuses}


# Every route here may meet a malformed or oversized body, a wrong type, bad fields, or storage down.
COMMON_ERRORS = error_responses(400, 413, 415, 422, 503)
router = APIRouter(prefix="/api", tags=["residents"], dependencies=[Depends(require_json)], responses=COMMON_ERRORS)
_REQUIRED_CODES = {
    "theme": "theme_required",
    "name": "name_required",
    "phone": "phone_required",
    "age_confirmed": "age_required",
    "consent": "consent_required",
    "locale": "locale_unknown",
    "code": "code_format",
}
# A value that is there but of the wrong type or size: the field's "invalid" message, not "required".
_INVALID_CODES = {
    **_REQUIRED_CODES,
    "theme": "theme_unknown",
    "name": "name_invalid",
    "phone": "phone_invalid",
    "area": "area_unknown",
}
_TOO_LONG_CODES = {**_INVALID_CODES, "name": "name_too_long"}


class ExpectedWaitOut(BaseModel):
    """How long getting a group usually takes in this theme (and area, when the organisation matches by
    area): the median days from verification to a group over the last twelve months, rounded (days under
    two weeks, weeks under three months, then months). Given only when at least the organisation's
    small-count threshold of people got a group in that time; otherwise the field is null."""

    unit: Literal["days", "weeks", "months"]
    amount: int = Field(ge=1)
    text: str = Field(description="The same in a sentence, in the caller's language.")


def _wait_out(request: Request, locale: str, theme: str, area: str | None) -> ExpectedWaitOut | None:
    wait = expected_wait(request, theme, area)
    if wait is None:
        return None
    return ExpectedWaitOut(unit=wait.unit, amount=wait.amount, text=expected_wait_text(locale, wait) or "")


class ThemeOut(BaseModel):
    id: str
    label: str
    description: str
    waiting: int | None = Field(
        description="Verified people waiting for a group in this theme; null when there are fewer than "
        "`fewer_than` (small numbers are never published as themselves)."
    )
    needed: int | None = Field(
        description="How many more are needed before a group starts; null when it would tell a waiting count "
        "that is withheld."
    )
    fewer_than: int | None = Field(
        None, description="Set when `waiting` is withheld: the organisation's small-count threshold."
    )
    expected_wait: ExpectedWaitOut | None = Field(
        None, description="The usual wait (null: too little history; or matching by area and no area given)."
    )


class InterestIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    theme: str = Field(max_length=60)
    name: str = Field(max_length=200, description="First name or alias; anonymity is fine.")
    phone: str = Field(max_length=60, description="Mobile number, national or international form.")
    locale: LocaleCode | None = None
    area: str | None = Field(None, max_length=60)
    age_confirmed: bool
    consent: bool


class InterestCreated(BaseModel):
    """The same answer for every valid registration, whether or not the number is registered already
    (for this theme or any): that is told only to whoever enters the code sent to the phone."""

    id: str = Field(description="This attempt; verify with it.")
    status: Literal["pending_verification"] = "pending_verification"
    withdraw_token: str = Field(
        description="Keep it: DELETE /api/interests/{id} with it as a bearer token (the id that verify returns)."
    )
    expected_wait: ExpectedWaitOut | None = Field(
        None, description="The usual wait for the theme (and area) chosen; null where history is too thin."
    )


class VerifyIn(BaseModel):
    code: str = Field(max_length=20)


class VerifyOut(BaseModel):
    id: str = Field(
        description="The number's registration in this theme: the attempt itself, or the earlier registration "
        "it merged into. The attempt's withdraw token works with this id."
    )
    status: Literal["waiting", "joining", "grouped"] = Field(
        description="The registration's real status. `joining`: it waits, but a group that is starting has a "
        "free seat for it (same theme, and area when matching by area), and the formation this verification "
        "requested places it there at once."
    )
    needed: int | None = Field(
        description="How many more are needed before a group starts (0 once joining or grouped); null when it "
        "would tell how many of fewer than the organisation's small-count threshold are waiting."
    )
    expected_wait: ExpectedWaitOut | None = Field(
        None, description="The usual wait for the registration's theme (and area); null where history is too thin."
    )


def _errors(status: int, description: str) -> dict:
    return {status: {"model": ErrorOut, "description": description}}


def validation_error_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    locale = locale_for(request)
    problems: dict[str, dict[str, str]] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        if err.get("type") in {"json_invalid", "model_attributes_type", "dict_type"} or len(loc) < 2:
            return error_json(400, "bad_request", locale)
        field = loc[1] if loc[0] == "body" else loc[-1]
        if err.get("type") == "missing" or err.get("input") is None:
            code = _REQUIRED_CODES.get(field, "bad_request")
        elif err.get("type") == "string_too_long":
            code = _TOO_LONG_CODES.get(field, "bad_request")
        else:
            code = _INVALID_CODES.get(field, "bad_request")
        params = {"age": services_of(request).organisation.minimum_age}
        problems.setdefault(field, {"code": code, "message": message(locale, code, params)})
    return error_json(422, "validation_failed", locale, errors=problems)


@router.get("/themes", response_model=list[ThemeOut])
def themes(request: Request, lang: str | None = Query(None, max_length=10), area: str | None = None) -> list[ThemeOut]:
    services = services_of(request)
    locale = locale_for(request)
    counts = services.intake.waiting_counts()
    chosen_area = area if area and services.organisation.area(area) else None
    threshold = services.organisation.small_count_threshold
    result = []
    for theme in services.organisation.themes:
        text = services.organisation.theme_text(theme.id, locale)
        waiting = disclosed(services.intake.waiting(theme.id, chosen_area, counts), threshold)
        result.append(
            ThemeOut(
                id=theme.id,
                label=text.label,
                description=text.description,
                waiting=waiting.value,
                needed=public_needed(request, services.intake.needed(theme.id, chosen_area, counts)),
                fewer_than=threshold if waiting.suppressed else None,
                expected_wait=_wait_out(request, locale, theme.id, chosen_area),
            )
        )
    return result


@router.post(
    "/interests",
    status_code=201,
    response_model=InterestCreated,
    responses={
        **_errors(422, "Invalid fields (a number from another country than the organisation's among them)."),
        **_errors(429, "Too many codes for this number or client address; see Retry-After."),
        **_errors(
            503,
            "Storage or SMS temporarily unavailable, or the installation's hourly or daily budget of "
            "verification texts is spent (error `sms_budget`); see Retry-After.",
        ),
    },
    description="Every valid registration is answered 201 with the same body, whether or not the number is "
    "already registered for this theme or another; a code is sent to the phone. Duplicates are resolved "
    "when the code is verified.",
)
def register(body: InterestIn, request: Request) -> Response:
    services = services_of(request)
    locale = locale_for(request, body.locale)
    result = validate_interest(body.model_dump(), services.organisation, locale=locale, require_pledge=False)
    if isinstance(result, dict):
        errors = {f: {"code": e.code, "message": message(locale, e.code, e.params)} for f, e in result.items()}
        return error_json(422, "validation_failed", locale, errors=errors)
    services.ensure_ready()
    try:
        registration = services.intake.register(result, client_address=client_address(request))
    except RateLimited as exc:
        return error_json(429, "rate_limited", locale, headers={"Retry-After": str(exc.retry_after)})
    except BudgetExhausted as exc:
        return error_json(503, "sms_budget", locale, headers={"Retry-After": str(exc.retry_after)})
    except Undeliverable as exc:
        problem = {"phone": {"code": exc.code, "message": message(locale, exc.code)}}
        return error_json(422, "validation_failed", locale, errors=problem)
    except SmsUnavailable:
        return error_json(503, "storage_unavailable", locale, headers={"Retry-After": "30"})
    created = InterestCreated(
        id=registration.interest_id,
        withdraw_token=registration.withdraw_token,
        expected_wait=_wait_out(request, locale, result.theme, result.area),
    )
    return JSONResponse(created.model_dump(), status_code=201)


@router.post(
    "/interests/{interest_id}/verify",
    response_model=VerifyOut,
    responses={
        **_errors(400, "Wrong code, or not six digits."),
        **_errors(404, "No such interest."),
        **_errors(409, "Already verified."),
        **_errors(410, "The code expired or was tried too many times: register again."),
    },
)
def verify(interest_id: str, body: VerifyIn, request: Request) -> Response:
    services = services_of(request)
    locale = locale_for(request)
    code = body.code.strip()
    if not looks_like_code(code):
        return error_json(400, "code_format", locale)
    try:
        verified = services.intake.verify(interest_id, code)
    except NotFound:
        return error_json(404, "not_found", locale)
    except AlreadyVerified:
        return error_json(409, "already_verified", locale)
    except WrongCode:
        return error_json(400, "code_wrong", locale)
    except CodeExpired:
        return error_json(410, "code_expired", locale)
    status = "joining" if verified.joining else verified.status.value
    wait = _wait_out(request, locale, verified.theme, verified.area)
    needed = public_needed(request, verified.needed)
    out = VerifyOut(id=verified.interest_id, status=status, needed=needed, expected_wait=wait)  # type: ignore[arg-type]
    return JSONResponse(out.model_dump())


@router.delete(
    "/interests/{interest_id}",
    status_code=204,
    response_class=Response,
    responses={**_errors(401, "Missing bearer token."), **_errors(404, "No such interest, or the token is wrong.")},
)
def withdraw(interest_id: str, request: Request, authorization: str | None = Header(None)) -> Response:
    locale = locale_for(request)
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_json(401, "unauthorized", locale, headers={"WWW-Authenticate": "Bearer"})
    try:
        services_of(request).intake.withdraw(interest_id, token.strip())
    except NotFound:
        return error_json(404, "not_found", locale)
    return Response(status_code=204)
