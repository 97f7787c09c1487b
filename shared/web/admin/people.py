"""A resident's data, reached only by typing their number: export (GDPR Art. 15) or erasure (Art. 17)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from shared.adapters.audit import lookup_target
from shared.core.phone import PhoneError, parse_mobile
from shared.web.admin.auth import FormFields, audit
from shared.web.admin.rendering import admin_locale, ops, protected_router, render, text
from shared.web.common import services_of

protected = protected_router()


@protected.get("/people", response_class=HTMLResponse)
def people(request: Request) -> HTMLResponse:
    return render(request, "admin/people.html", section="people")


def _target(request: Request, phone: str) -> str:
    return lookup_target(services_of(request).keyer, phone)


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
    # Whose data, by the number's keyed marker (never the number): operators answer for their look-ups.
    audit(request, "person_export", targets=[_target(request, phone)])
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
        found = len(exported.get("interests") or [])
        # The preview is a look-up too ("found N"): audited like the export.
        audit(request, "person_erase_preview", targets=[_target(request, phone)], count=found)
        return render(
            request,
            "admin/erase_confirm.html",
            section="people",
            phone=phone,
            last_digits=phone[-2:],
            found=found,
            facilitator=bool(exported.get("facilitator")),
        )
    erased = ops(request).erase_person(phone)
    audit(request, "person_erase", targets=[_target(request, phone)], count=erased)
    return render(request, "admin/erased.html", section="people", erased=erased)
