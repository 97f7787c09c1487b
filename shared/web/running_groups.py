"""Groups that are running, for the public: a page in the residents' layout and a JSON feed.

What 1177.se or the municipality's own site may list: theme, area, language, the month a group
started, whether it meets with a facilitator or on its own, whether it still takes joiners — and,
per theme, how many wait to start a new group, under the small-numbers rule. Nothing about members.
The feed's shape is documented in docs/running-groups.schema.json (tested against it).

Open to everyone: neither path is under /manage or /api/admin, so infra/public_paths.py writes them
into App Service Authentication's excludedPaths, "the paths for which unauthenticated flow would not
be redirected to the login page"
(https://learn.microsoft.com/en-us/python/api/azure-mgmt-web/azure.mgmt.web.types.globalvalidation).
Handlers are plain `def`: they read storage, and FastAPI runs a `def` path operation "in an external
threadpool that is then awaited" (https://fastapi.tiangolo.com/async/#path-operation-functions).
"""

from __future__ import annotations

from datetime import date

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from shared.core.languages import language
from shared.core.organisation import Organisation
from shared.services.running_groups import RunningGroups
from shared.web.common import locale_for, page, services_of

router = APIRouter()


def _reader(request: Request) -> RunningGroups:
    return services_of(request).running_groups


def month_name(month: str, locale: str) -> str:
    """'2026-11' → 'november 2026', 'november 2026', 'November 2026' (CLDR's stand-alone month names)."""
    year, number = (int(p) for p in month.split("-"))
    return format_date(date(year, number, 1), "LLLL y", locale=language(locale).babel)


def _area_name(organisation: Organisation, area_id: str | None) -> str:
    area = organisation.area(area_id) if area_id else None
    return area.name if area else ""


@router.get("/running-groups", response_class=HTMLResponse, include_in_schema=False)
def running_groups_page(request: Request) -> HTMLResponse:
    locale = locale_for(request)
    reader = _reader(request)
    organisation = services_of(request).organisation
    return page(
        request,
        "running_groups.html",
        locale,
        lang_base="/running-groups",
        groups=reader.groups(),
        waiting=reader.waiting(),
        threshold=reader.threshold,
        month_name=lambda month: month_name(month, locale),
        theme_label=lambda theme: organisation.theme_text(theme, locale).label,
        area_name=lambda area: _area_name(organisation, area),
        multilingual=len(organisation.locales) > 1,
    )


@router.get(
    "/api/running-groups",
    summary="Groups that are running (no personal data)",
    description="Theme, area, language, started month, who leads the meetings, whether it takes joiners; and "
    "per theme how many wait to start a new group, withheld below `small_count_threshold`. JSON Schema: "
    "docs/running-groups.schema.json.",
    tags=["public"],
)
def running_groups_feed(request: Request) -> JSONResponse:
    return JSONResponse(_reader(request).feed())
