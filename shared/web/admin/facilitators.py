"""Facilitators: the list with their loads, adding, editing and deactivating one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from shared.core import i18n
from shared.core.facilitators import Facilitator
from shared.services.facilitators import FacilitatorIn, FacilitatorPatch, InvalidFacilitator
from shared.web.admin.auth import PAGES, audit
from shared.web.admin.rendering import admin_locale, ops, protected_router, redirect, render, text
from shared.web.common import request_formation_everywhere, services_of

protected = protected_router()


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


FacilitatorForm = Annotated[dict[str, Any], Depends(_facilitator_form)]


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


@protected.get("/facilitators/new", response_class=HTMLResponse)
def new_facilitator(request: Request) -> HTMLResponse:
    values = {"locales": [services_of(request).organisation.default_locale], "capacity": "2", "active": True}
    return _facilitator_page(request, None, values)


@protected.post("/facilitators/new")
def add_facilitator(request: Request, data: FacilitatorForm) -> Response:
    locale = admin_locale(request)
    valid, errors = _validate_facilitator(data, locale)
    if valid is None:
        return _facilitator_page(request, None, data, status_code=422, errors=errors)
    try:
        created = services_of(request).facilitators.create(valid)
    except InvalidFacilitator as exc:
        return _facilitator_page(request, None, data, status_code=422, errors=_store_errors(exc, locale))
    audit(request, "facilitator_add", targets=[created.id])
    request_formation_everywhere(services_of(request))
    return redirect(f"{PAGES}/facilitators", "facilitator_added")


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
def save_facilitator(request: Request, facilitator_id: str, data: FacilitatorForm) -> Response:
    facilitator = _facilitator_or_404(request, facilitator_id)
    locale = admin_locale(request)
    valid, errors = _validate_facilitator(data, locale)
    if valid is None:
        return _facilitator_page(request, facilitator, data, status_code=422, errors=errors)
    patch = FacilitatorPatch(**valid.model_dump())
    try:
        services_of(request).facilitators.update(facilitator.id, patch)
    except InvalidFacilitator as exc:
        return _facilitator_page(request, facilitator, data, status_code=422, errors=_store_errors(exc, locale))
    audit(request, "facilitator_edit", targets=[facilitator.id])
    request_formation_everywhere(services_of(request))
    return redirect(f"{PAGES}/facilitators", "facilitator_saved")


@protected.post("/facilitators/{facilitator_id}/deactivate")
def deactivate_facilitator(request: Request, facilitator_id: str) -> Response:
    facilitator = _facilitator_or_404(request, facilitator_id)
    services_of(request).facilitators.update(facilitator.id, FacilitatorPatch(active=False))
    audit(request, "facilitator_deactivate", targets=[facilitator.id])
    return redirect(f"{PAGES}/facilitators", "facilitator_deactivated")


@protected.post("/facilitators/{facilitator_id}/revoke-links")
def revoke_facilitator_links(request: Request, facilitator_id: str) -> Response:
    """Issue 19.1: every page link and open session of the facilitator stops working at once (a lost
    phone, a link sent to the wrong person); their next text, or LÄNK, brings a new link."""
    facilitator = _facilitator_or_404(request, facilitator_id)
    page = services_of(request).facilitator_page
    revoked = page.revoke_links(facilitator.id) if page is not None else None
    audit(request, "facilitator_revoke_links", targets=[facilitator.id], outcome="ok" if revoked else "refused")
    if revoked is None:
        raise HTTPException(404)
    return redirect(f"{PAGES}/facilitators", "facilitator_links_revoked")
