"""The overview (counts per theme, texts that failed and can be sent again) and the statistics export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from shared.core.statistics import statistics_csv_text
from shared.services.attention import attention
from shared.services.operations_base import OperationError
from shared.web.admin.auth import PAGES, FormFields, audit
from shared.web.admin.needs import needs_reader
from shared.web.admin.rendering import admin_locale, operation_message, ops, protected_router, redirect, render, text
from shared.web.admin.statistics_charts import statistics_charts
from shared.web.common import services_of

protected = protected_router()


def overview_context(request: Request) -> dict[str, Any]:
    """What needs the coordinator first; then the figures: one row per theme, or, when the
    organisation matches by area, one compact theme × area matrix (issue 23)."""
    services = services_of(request)
    counts, failed = ops(request).overview()
    organisation = services.organisation
    matrix = None
    if organisation.match_by_area:
        cells = {(c.theme, c.area): c for c in counts}
        matrix = {
            "areas": [a.id for a in organisation.areas],
            "rows": [(t.id, [cells.get((t.id, a.id)) for a in organisation.areas]) for t in organisation.themes],
        }
    return {
        "counts": counts,
        "failed": failed,
        "matrix": matrix,
        "attention": attention(services.interests, needs_reader(services), len(failed)),
    }


@protected.get("", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    return render(request, "admin/overview.html", section="overview", **overview_context(request))


@protected.post("/messages/retry")
def retry_message(request: Request, data: FormFields) -> Response:
    theme, row = data.get("theme", "")[:60], data.get("row", "")[:120]
    try:
        ops(request).retry_message(theme, row)
    except OperationError as exc:
        audit(request, "message_retry", targets=[theme, row], outcome=exc.code)
        return render(
            request,
            "admin/overview.html",
            status_code=409 if exc.code != "not_found" else 404,
            section="overview",
            error=operation_message(admin_locale(request), exc),
            **overview_context(request),
        )
    audit(request, "message_retry", targets=[theme, row])
    return redirect(PAGES, "retried")


@protected.get("/statistics", response_class=HTMLResponse)
def statistics(request: Request) -> HTMLResponse:
    locale, services = admin_locale(request), services_of(request)
    charts = statistics_charts(
        services, lambda key: text(locale, key), lambda theme: services.organisation.theme_text(theme, locale).label
    )
    return render(request, "admin/statistics.html", section="statistics", charts=charts)


@protected.get("/statistics.csv")
def statistics_csv(request: Request) -> Response:
    services = services_of(request)
    organisation = services.organisation
    # An export leaves the service: small counts are withheld (core/disclosure.py); the page shows them.
    body = statistics_csv_text(services.statistics.totals(), organisation.small_count_threshold)
    audit(request, "statistics_export")
    name = f"gruppstart-{organisation.id}-{datetime.now(UTC):%Y-%m-%d}.csv"
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
