"""A resident's data, reached only by typing their number: export (GDPR Art. 15) or erasure (Art. 17)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from shared.core.phone import PhoneError, parse_mobile
from shared.web.admin.auth import FormFields, audit
from shared.web.admin.rendering import admin_locale, ops, protected_router, render, text
from shared.web.common import services_of

protected = protected_router()


@protected.get("/people", response_class=HTMLResponse)
def people(request: Request) -> HTMLResponse:
    return render(request, "admin/people.html", section="people")


def _phone(request: Request, raw: str) -> tuple[str | None, dict[str, str]]:
    locale = admin_locale(request)
    if not raw.strip():
        return None, {"phone": text(locale, "err_phone_required")}
    try:
        return parse_mobile(raw, services_of(request).organisation.country), {}
    except PhoneError as exc:
        return None, {"phone": text(locale, f"err_phone_{exc.reason}")}


@protected.post("/people/export")
def export_person(request: Request, data: FormFields) -> Response:
    phone, errors = _phone(request, data.get("phone", ""))
    if phone is None:
        return render(request, "admin/people.html", status_code=422, section="people", errors=errors, values=data)
    exported = ops(request).export_person(phone)
    audit(request, "person_export")  # whose data is not recorded: that would be the number itself
    body = json.dumps(exported, ensure_ascii=False, indent=2, default=str)
    name = f"gruppstart-export-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    return Response(
        body.encode("utf-8"),
        media_type="application/json; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@protected.post("/people/erase", response_class=HTMLResponse)
def erase_person(request: Request, data: FormFields) -> HTMLResponse:
    raw = data.get("phone", "")
    phone, errors = _phone(request, raw)
    if phone is None:
        return render(
            request, "admin/people.html", status_code=422, section="people", errors=errors,
            values={"phone": raw[:40]},
        )  # fmt: skip
    if data.get("confirm") != "yes":
        exported = ops(request).export_person(phone)
        return render(
            request,
            "admin/erase_confirm.html",
            section="people",
            phone=phone,
            last_digits=phone[-2:],
            found=len(exported.get("interests") or []),
            facilitator=bool(exported.get("facilitator")),
        )
    erased = ops(request).erase_person(phone)
    audit(request, "person_erase", count=erased)
    return render(request, "admin/erased.html", section="people", erased=erased)
