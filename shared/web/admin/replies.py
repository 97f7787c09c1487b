"""Operators' list of facilitators' replies (the texts forwarded to the coordinator), as JSON.

Each entry is the facilitator, the group and their words: no member data, no numbers. The words are
returned as JSON strings and never rendered into HTML here. Every read is audited (ids and a count).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from shared.core.domain import public_id
from shared.services.notify import short_ref
from shared.web.admin.api import AuditedRoute, bearer_scheme
from shared.web.admin.auth import require_api_operator
from shared.web.api import error_responses, require_json
from shared.web.common import services_of

# The same access check and audit as every /api/admin route (one row per read, action api_list_replies).
router = APIRouter(
    prefix="/api/admin",
    tags=["operators"],
    dependencies=[Depends(bearer_scheme), Depends(require_api_operator), Depends(require_json)],
    responses=error_responses(400, 401, 413, 415, 422, 503),
    route_class=AuditedRoute,
)


class ReplyFacilitatorOut(BaseModel):
    id: str
    name: str | None = Field(description="None when the facilitator has been removed since.")


class ReplyGroupOut(BaseModel):
    id: str
    ref: str = Field(description="The group's code, as the coordinator's text names it.")


class ReplyOut(BaseModel):
    received_at: datetime
    facilitator: ReplyFacilitatorOut
    group: ReplyGroupOut | None = Field(description="The group the reply was taken to be about; None if none.")
    text: str = Field(description="The facilitator's words, as sent (cleaned of control characters).")


@router.get(
    "/replies",
    response_model=list[ReplyOut],
    summary="Facilitators' replies forwarded to the coordinator",
    description="Newest first. Kept RETENTION_DAYS, then erased by the daily retention run.",
)
async def list_replies(request: Request, limit: int = Query(100, ge=1, le=500)) -> list[ReplyOut]:
    services = services_of(request)
    replies = await run_in_threadpool(services.reply_log.newest, limit)
    names = {f.id: f.name for f in await run_in_threadpool(services.facilitators.list)}
    return [
        ReplyOut(
            received_at=r.received_at,
            facilitator=ReplyFacilitatorOut(id=r.facilitator_id, name=names.get(r.facilitator_id)),
            group=ReplyGroupOut(id=public_id(r.theme, r.group_key), ref=short_ref(r.group_key))
            if r.group_key and r.theme
            else None,
            text=r.text,
        )
        for r in replies
    ]
