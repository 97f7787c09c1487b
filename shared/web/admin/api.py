"""Operators' JSON API: facilitators and groups, behind the ADMIN_TOKEN bearer token."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from shared.services.facilitators import Facilitator, FacilitatorIn, FacilitatorPatch, InvalidFacilitator
from shared.web.api import error_responses, require_json
from shared.web.common import error_json, locale_for, message, services_of

_bearer = HTTPBearer(auto_error=False, description="The ADMIN_TOKEN setting.")


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Bearer ADMIN_TOKEN. With no token configured every request is refused: there is no default."""
    configured = services_of(request).settings.admin_token
    expected = configured.get_secret_value() if configured else ""
    given = credentials.credentials.strip() if credentials else ""
    if not (expected and given and hmac.compare_digest(given, expected)):
        raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(
    prefix="/api/admin",
    tags=["operators"],
    dependencies=[Depends(require_admin), Depends(require_json)],
    responses=error_responses(400, 401, 404, 413, 415, 422, 503),
)


class FacilitatorOut(BaseModel):
    id: str
    name: str
    phone: str
    themes: list[str]
    areas: list[str]
    locales: list[str]
    capacity: int
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, f: Facilitator) -> FacilitatorOut:
        return cls(**f.model_dump())


class MemberOut(BaseModel):
    id: str
    name: str


class GroupOut(BaseModel):
    id: str
    theme: str
    area: str | None
    status: str
    locale: str
    facilitator: dict | None = Field(None, description="{id, name} of the facilitator, if assigned.")
    members: list[MemberOut]
    created: datetime


def _invalid(request: Request, exc: InvalidFacilitator) -> JSONResponse:
    locale = locale_for(request)
    errors = {f: {"code": code, "message": message(locale, code)} for f, code in exc.errors.items()}
    return error_json(422, "validation_failed", locale, errors=errors)


@router.get("/facilitators", response_model=list[FacilitatorOut])
def list_facilitators(request: Request) -> list[FacilitatorOut]:
    return [FacilitatorOut.of(f) for f in services_of(request).facilitators.list()]


@router.post("/facilitators", status_code=201, response_model=FacilitatorOut)
def add_facilitator(body: FacilitatorIn, request: Request) -> Response:
    try:
        created = services_of(request).facilitators.create(body)
    except InvalidFacilitator as exc:
        return _invalid(request, exc)
    _request_sweep(request)
    return JSONResponse(FacilitatorOut.of(created).model_dump(mode="json"), status_code=201)


@router.patch("/facilitators/{facilitator_id}", response_model=FacilitatorOut)
def change_facilitator(facilitator_id: str, body: FacilitatorPatch, request: Request) -> Response:
    try:
        updated = services_of(request).facilitators.update(facilitator_id, body)
    except InvalidFacilitator as exc:
        return _invalid(request, exc)
    if updated is None:
        return error_json(404, "not_found", locale_for(request))
    _request_sweep(request)
    return JSONResponse(FacilitatorOut.of(updated).model_dump(mode="json"))


@router.delete("/facilitators/{facilitator_id}", status_code=204, response_class=Response)
def remove_facilitator(facilitator_id: str, request: Request) -> Response:
    if not services_of(request).facilitators.delete(facilitator_id):
        return error_json(404, "not_found", locale_for(request))
    return Response(status_code=204)


class RevokedOut(BaseModel):
    id: str
    link_version: int


@router.post("/facilitators/{facilitator_id}/revoke-links", response_model=RevokedOut)
def revoke_facilitator_links(facilitator_id: str, request: Request) -> Response:
    """Every page link the facilitator was given stops working (issue 12.3); the next roster carries a new one."""
    page = services_of(request).facilitator_page
    revoked = page.revoke_links(facilitator_id) if page else None
    if revoked is None:
        return error_json(404, "not_found", locale_for(request))
    return JSONResponse({"id": revoked.id, "link_version": revoked.link_version})


def _request_sweep(request: Request) -> None:
    """New capacity may let groups awaiting a facilitator start: ask for formation in every theme."""
    services = services_of(request)
    for theme in services.organisation.themes:
        services.intake.request_formation(theme.id)


@router.get("/groups", response_model=list[GroupOut])
def list_groups(request: Request, theme: str | None = Query(None, max_length=60)) -> list[GroupOut]:
    services = services_of(request)
    if theme is not None and services.organisation.theme(theme) is None:
        raise HTTPException(404)
    views = services.operations.groups(theme)
    return [
        GroupOut(
            id=view.id,
            theme=view.theme,
            area=view.area,
            status=view.status,
            locale=view.locale,
            facilitator={"id": view.facilitator_id, "name": view.facilitator_name} if view.facilitator_name else None,
            members=[MemberOut(id=m.id, name=m.name) for m in view.members],
            created=view.formed_at,
        )
        for view in sorted(views, key=lambda v: v.formed_at)
    ]
