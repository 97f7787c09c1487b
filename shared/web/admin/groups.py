"""Groups: the list, one group's page, and what an operator does to a group.

Members' phone numbers are never shown here: nothing an operator does on these pages needs them
(the facilitator gets the roster by SMS), and a number beside a name in a theme such as grief or
illness is exactly the special-category data to keep off screens. Every change is a POST that answers
with a 303 to a page (post/redirect/get), so reloading never repeats it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from shared.core.domain import GroupStatus
from shared.core.facilitators import serves, trained_for
from shared.services.operations_base import GroupView, OperationError
from shared.web.admin.auth import PAGES, FormFields, audit
from shared.web.admin.rendering import (
    admin_locale,
    operation_message,
    ops,
    protected_router,
    redirect,
    render,
    text,
    zone,
)
from shared.web.common import services_of

GROUP_STATUSES = tuple(s.value for s in GroupStatus)
_ASSIGNABLE = (GroupStatus.AWAITING_FACILITATOR.value, GroupStatus.FORMING.value, GroupStatus.ACTIVE.value)
_MEETABLE = (GroupStatus.FORMING.value, GroupStatus.ACTIVE.value)
PLACE_MAX = 200

protected = protected_router()


@protected.get("/groups", response_class=HTMLResponse)
def groups(request: Request, theme: str | None = None, status: str | None = None) -> HTMLResponse:
    organisation = services_of(request).organisation
    theme = theme if theme and organisation.theme(theme) else None
    status = status if status in GROUP_STATUSES else None
    found = ops(request).groups(theme=theme, status=status)
    return render(
        request,
        "admin/groups.html",
        section="groups",
        groups=found,
        values={"theme": theme or "", "status": status or ""},
        statuses=GROUP_STATUSES,
    )


def _group_or_404(request: Request, group_id: str) -> GroupView:
    group = ops(request).group(group_id[:100]) if len(group_id) <= 100 else None
    if group is None:
        raise HTTPException(404)
    return group


def _eligible(request: Request, group: GroupView) -> list[dict[str, Any]]:
    """Active facilitators for the group's theme, area and language, with their load; the current one too."""
    loads = ops(request).facilitator_loads()
    choices = []
    for f in services_of(request).facilitators.list():
        # Capacity is shown, not filtered: an operator may knowingly go one over (the service says so).
        fits = trained_for(f, group.theme) and serves(f, group.area, group.locale)
        if fits or f.id == group.facilitator_id:
            load = loads.get(f.id, 0)
            choices.append({"id": f.id, "name": f.name, "load": load, "capacity": f.capacity})
    return choices


def _group_page(
    request: Request,
    group: GroupView,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    error: str = "",
) -> HTMLResponse:
    wall_clock = zone(services_of(request).organisation)
    meeting = values or {}
    if not meeting and group.first_meeting_at is not None:
        meeting = {
            "when": group.first_meeting_at.astimezone(wall_clock).strftime("%Y-%m-%dT%H:%M"),
            "place": group.meeting_place,
        }
    return render(
        request,
        "admin/group.html",
        status_code=status_code,
        section="groups",
        group=group,
        facilitators=_eligible(request, group),
        errors=errors or {},
        values={"facilitator_id": group.facilitator_id or "", **meeting},
        # Only the actions the group's status allows (the service checks again).
        can_assign=group.status in _ASSIGNABLE,
        can_meet=group.status in _MEETABLE and bool(group.facilitator_id),
        closed=group.status == GroupStatus.CLOSED.value,
        error=error,
    )


@protected.get("/groups/{group_id}", response_class=HTMLResponse)
def group_page(request: Request, group_id: str) -> HTMLResponse:
    group = _group_or_404(request, group_id)
    audit(request, "group_view", targets=[group.id])  # the page shows members' names
    return _group_page(request, group)


@protected.post("/groups/{group_id}/facilitator")
def assign_facilitator(request: Request, group_id: str, data: FormFields) -> Response:
    group = _group_or_404(request, group_id)
    locale = admin_locale(request)
    facilitator_id = data.get("facilitator_id", "")[:40]
    if not facilitator_id:
        errors = {"facilitator_id": text(locale, "err_facilitator_required")}
        return _group_page(request, group, status_code=422, errors=errors)
    try:
        ops(request).assign_facilitator(group.id, facilitator_id)
    except OperationError as exc:
        audit(request, "group_assign_facilitator", targets=[group.id, facilitator_id], outcome=exc.code)
        current = _group_or_404(request, group.id)
        if current.status not in _ASSIGNABLE:  # no form to point at: say it above the page
            return _group_page(request, current, status_code=409, error=operation_message(locale, exc))
        errors = {"facilitator_id": operation_message(locale, exc)}
        return _group_page(request, current, status_code=409, errors=errors)
    audit(request, "group_assign_facilitator", targets=[group.id, facilitator_id])
    return redirect(f"{PAGES}/groups/{group.id}", "facilitator_assigned")


def _meeting_time(raw: str, wall_clock: Any) -> datetime | None:
    try:
        local = datetime.strptime(raw.strip()[:16], "%Y-%m-%dT%H:%M")
    except ValueError:
        return None
    return local.replace(tzinfo=wall_clock).astimezone(UTC)


@protected.post("/groups/{group_id}/meeting")
def set_first_meeting(request: Request, group_id: str, data: FormFields) -> Response:
    group = _group_or_404(request, group_id)
    locale = admin_locale(request)
    if group.status not in _MEETABLE or not group.facilitator_id:
        audit(request, "group_first_meeting", targets=[group.id], outcome="invalid_state")
        return _group_page(request, group, status_code=409, error=text(locale, "op_invalid_state"))
    raw_when, place = data.get("when", "")[:40], " ".join(data.get("place", "").split())
    values = {"when": raw_when, "place": data.get("place", "")[: PLACE_MAX + 50]}
    errors: dict[str, str] = {}
    when = _meeting_time(raw_when, zone(services_of(request).organisation))
    if not raw_when.strip():
        errors["when"] = text(locale, "err_when_required")
    elif when is None:
        errors["when"] = text(locale, "err_when_invalid")
    elif when <= datetime.now(UTC):
        errors["when"] = text(locale, "err_when_past")
    if not place:
        errors["place"] = text(locale, "err_place_required")
    elif len(place) > PLACE_MAX:
        errors["place"] = text(locale, "err_place_too_long", n=PLACE_MAX)
    if errors or when is None:
        return _group_page(request, group, status_code=422, errors=errors, values=values)
    try:
        ops(request).set_first_meeting(group.id, when, place)
    except OperationError as exc:
        audit(request, "group_first_meeting", targets=[group.id], outcome=exc.code)
        field = "place" if getattr(exc, "detail", "").startswith("place") else "when"
        errors = {field: operation_message(locale, exc)}
        return _group_page(request, group, status_code=409, errors=errors, values=values)
    audit(request, "group_first_meeting", targets=[group.id])
    return redirect(f"{PAGES}/groups/{group.id}", "meeting_set")


def _member(group: GroupView, member_id: str) -> Any:
    member = next((m for m in group.members if m.id == member_id), None)
    if member is None:
        raise HTTPException(404)
    return member


@protected.post("/groups/{group_id}/members/remove", response_class=HTMLResponse)
def remove_member(request: Request, group_id: str, data: FormFields) -> Response:
    """First asks (a page naming the member), then removes on `confirm=yes`. The member's id travels in
    the body, never in a URL: request logs keep URLs."""
    group = _group_or_404(request, group_id)
    member = _member(group, data.get("member_id", "")[:80])
    if data.get("confirm") != "yes":
        return render(request, "admin/remove_member.html", section="groups", group=group, member=member)
    try:
        ops(request).remove_member(group.id, member.id)
    except OperationError as exc:
        audit(request, "group_remove_member", targets=[group.id], outcome=exc.code)
        error = operation_message(admin_locale(request), exc)
        return render(
            request,
            "admin/remove_member.html",
            status_code=409,
            section="groups",
            group=group,
            member=member,
            error=error,
        )
    audit(request, "group_remove_member", targets=[group.id])  # the member's id is theirs: not kept
    return redirect(f"{PAGES}/groups/{group.id}", "member_removed")


@protected.get("/groups/{group_id}/close", response_class=HTMLResponse)
def close_group_confirm(request: Request, group_id: str) -> HTMLResponse:
    group = _group_or_404(request, group_id)
    return render(request, "admin/close_group.html", section="groups", group=group)


@protected.post("/groups/{group_id}/close")
def close_group(request: Request, group_id: str) -> Response:
    group = _group_or_404(request, group_id)
    try:
        ops(request).close_group(group.id)
    except OperationError as exc:
        audit(request, "group_close", targets=[group.id], outcome=exc.code)
        error = operation_message(admin_locale(request), exc)
        return render(request, "admin/close_group.html", status_code=409, section="groups", group=group, error=error)
    audit(request, "group_close", targets=[group.id])
    return redirect(f"{PAGES}/groups/{group.id}", "group_closed")
