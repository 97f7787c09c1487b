"""What a resident must be told: the privacy notice (GDPR Art. 13) and the accessibility statement.

Facts come from the organisation file (controller, DPO, supervisory authority, processors; the
statement's standard, tests, known gaps and feedback route) and from the settings in force
(retention periods), so the notice cannot drift from what the app does. Sources of the duties:
GDPR Art. 13; Digg, "Skapa en tillgänglighetsredogörelse"
(https://www.digg.se/kunskap-och-stod/digital-tillganglighet/skapa-en-tillganglighetsredogorelse);
Uu-tilsynet on tilgjengelighetserklæring
(https://www.uutilsynet.no/tilgjengelighetserklaering/ofte-stilte-sporsmal-om-tilgjengelighetserklaeringen/894).
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shared.core.codes import CODE_MINUTES
from shared.core.languages import long_date
from shared.web.common import locale_for, page, services_of

router = APIRouter(include_in_schema=False)

# The safeguard of Twilio's transfer to the US (GDPR Art. 13(1)(f)): the EU Standard Contractual
# Clauses in Twilio's Data Protection Addendum, and Twilio's EU-US Data Privacy Framework
# certification, which the European Commission's adequacy decision of 10 July 2023 covers.
# The DPO confirms the wording before a deployment (see infra/README.md).
TRANSFER_SOURCES = {
    "twilio_dpa": "https://www.twilio.com/en-us/legal/data-protection-addendum",
    "commission": "https://commission.europa.eu/law/law-topic/data-protection/international-dimension-data-protection/eu-us-data-transfers_en",
}


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request) -> HTMLResponse:
    services = services_of(request)
    settings = services.settings
    return page(
        request,
        "privacy.html",
        locale_for(request),
        lang_base="/privacy",
        code_minutes=CODE_MINUTES,
        retention_days=settings.retention_days,
        closed_group_retention_days=settings.closed_group_retention_days,
        on_its_own_retention_days=settings.on_its_own_retention_days,
        # Issue 19.5: no group is kept forever; silence until the handover is both quiet periods.
        quiet_group_weeks=settings.quiet_group_weeks + settings.quiet_group_handover_weeks,
        sms_provider_copy_hours=settings.sms_provider_copy_hours,
        transfer_sources=TRANSFER_SOURCES,
    )


@router.get("/accessibility", response_class=HTMLResponse)
def accessibility(request: Request) -> HTMLResponse:
    locale = locale_for(request)
    statement = services_of(request).organisation.accessibility
    return page(
        request,
        "accessibility.html",
        locale,
        lang_base="/accessibility",
        assessed=_date(statement.assessed.isoformat(), locale),
        updated=_date(statement.updated.isoformat(), locale),
    )


def _date(iso: str, locale: str) -> str:
    return long_date(date.fromisoformat(iso), locale)  # CLDR's month names (core/languages.py)
