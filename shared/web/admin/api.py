"""Operators' JSON API: facilitators and groups, behind the ADMIN_TOKEN bearer token.

Access is `auth.require_api_operator` (the one bearer check, `tokens.token_matches`; or an Easy Auth
principal with the operators' app role). Every call that got in leaves an audit row like the pages'
actions do: the operation, its outcome, the ids in its path — never a body, a name or a number.
Refused calls (no access, or a body that cannot be read) are logged, not audited, as on the pages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from shared.core.facilitators import Facilitator
from shared.services.facilitators import FacilitatorIn, FacilitatorPatch, InvalidFacilitator
from shared.web.admin.auth import audit, require_api_operator
from shared.web.api import error_responses, require_json
from shared.web.common import error_json, locale_for, message, request_formation_everywhere, services_of

log = logging.getLogger(__name__)
# Documents the scheme in the OpenAPI document; the check itself is require_api_operator's.
bearer_scheme = HTTPBearer(auto_error=False, description="The ADMIN_TOKEN setting.")


# Requests refused as unreadable before any handler ran (bad JSON, wrong type, too large).
_UNREAD = frozenset({400, 413, 415, 422})


class AuditedRoute(APIRoute):
    """Audits every call that passed the access check, with the route's name as the action."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        action = f"api_{self.name}"

        async def audited(request: Request) -> Response:
            try:
                response = await handler(request)
            except HTTPException as exc:
                if exc.status_code not in _UNREAD:
                    await run_in_threadpool(_record, request, action, str(exc.status_code))
                raise
            except RequestValidationError:
                raise  # a body that could not be read asked for nothing: not an action (as on the pages)
            except Exception:
                await run_in_threadpool(_record, request, action, "error")
                raise
            outcome = "ok" if response.status_code < 400 else str(response.status_code)
            await run_in_threadpool(_record, request, action, outcome)  # the audit row is a storage write
            return response

        return audited


def _record(request: Request, action: str, outcome: str) -> None:
    if getattr(request.state, "operator", None) is None:
        log.warning("admin API request refused")
        return  # refused before access was granted
    # Path parameters are ids (a facilitator's); kept only when they named something real.
    targets = [str(v)[:60] for v in request.path_params.values()] if outcome == "ok" else []
    audit(request, action, targets=targets, outcome=outcome)


router = APIRouter(
    prefix="/api/admin",
    tags=["operators"],
    dependencies=[Depends(bearer_scheme), Depends(require_api_operator), Depends(require_json)],
    responses=error_responses(400, 401, 404, 413, 415, 422, 503),
    route_class=AuditedRoute,
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
    request_formation_everywhere(services_of(request))
    return JSONResponse(FacilitatorOut.of(created).model_dump(mode="json"), status_code=201)


@router.patch("/facilitators/{facilitator_id}", response_model=FacilitatorOut)
def change_facilitator(facilitator_id: str, body: FacilitatorPatch, request: Request) -> Response:
    try:
        updated = services_of(request).facilitators.update(facilitator_id, body)
    except InvalidFacilitator as exc:
        return _invalid(request, exc)
    if updated is None:
        return error_json(404, "not_found", locale_for(request))
    request_formation_everywhere(services_of(request))
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
