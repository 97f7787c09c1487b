"""The needs map (/manage/needs): where people wait, who could serve them, and what to do about it;
the waits month by month; its CSV, and the coordinator's CSV of running groups.

Handlers are plain `def`: they read storage, and FastAPI runs them in its thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from shared.composition import Services
from shared.core.needs import Need, Verdict, needs_csv_text
from shared.core.running import running_csv_text
from shared.services.needs import NeedsReader
from shared.services.running_groups import RunningGroups
from shared.web.admin.auth import audit
from shared.web.admin.charts import horizontal_bar_chart
from shared.web.admin.rendering import admin_locale, plural, protected_router, render, text
from shared.web.common import services_of

protected = protected_router()
CHART_ROWS = 15  # the chart shows the most pressing rows; the table lists them all


def needs_reader(services: Services) -> NeedsReader:
    return services.needs


def running_reader(services: Services) -> RunningGroups:
    return services.running_groups


def waited(locale: str, days: int) -> str:
    """ "5 days" under two weeks, then whole weeks."""
    return plural(locale, "need_days", days) if days < 14 else plural(locale, "need_weeks", days // 7)


def conclusion(need: Need, locale: str, theme: str, area: str | None, multilingual: bool) -> tuple[str, str, str]:
    """The row in plain words: what is (people, how long), why, and what to do."""
    where = text(locale, "need_where", area=area) if area else ""
    said = [plural(locale, "need_people", need.people, wait=waited(locale, need.oldest_days), theme=theme, where=where)]
    if need.groups_awaiting:
        said.append(plural(locale, "need_groups_awaiting", need.groups_awaiting))
    language = text(locale, f"need_in_{need.locale}") if multilingual else ""
    names = ", ".join(need.facilitators)
    if need.verdict is Verdict.TRAIN:
        reason = text(locale, "need_reason_train", theme=theme, where=where, language=language)
    elif need.verdict is Verdict.FULL:
        reason = text(locale, "need_reason_full", names=names)
    elif need.verdict is Verdict.RECRUIT:
        reason = plural(locale, "need_reason_recruit", need.more_needed, names=names)
    elif need.groups_awaiting or need.more_needed == 0:
        reason = text(locale, "need_reason_starting", names=names)
    else:
        reason = text(locale, "need_reason_joinable")
    return " ".join(said), reason, text(locale, f"need_action_{need.verdict.value}")


def needs_context(services: Services, locale: str, at: Callable[..., str]) -> dict[str, Any]:
    organisation = services.organisation
    reader = needs_reader(services)
    rows = reader.needs()
    waits = reader.waits()
    multilingual = len(organisation.locales) > 1

    def theme_label(theme_id: str) -> str:
        return organisation.theme_text(theme_id, locale).label if organisation.theme(theme_id) else theme_id

    def area_name(area_id: str | None) -> str | None:
        if area_id is None:
            return None
        area = organisation.area(area_id)
        return area.name if area else area_id

    shown = []
    for need in rows:
        summary, reason, action = conclusion(need, locale, theme_label(need.theme), area_name(need.area), multilingual)
        shown.append(
            {
                "need": need,
                "summary": summary,
                "reason": reason,
                "action": action,
                "oldest": waited(locale, need.oldest_days),
            }
        )
    top = rows[:CHART_ROWS]
    chart = (
        horizontal_bar_chart(
            [
                " · ".join(
                    part
                    for part in (
                        area_name(n.area) or at("area_all"),
                        theme_label(n.theme),
                        # The language only where it matters: a group that would not run in the usual one.
                        n.locale if n.locale != organisation.default_locale else "",
                    )
                    if part
                )
                for n in top
            ],
            [n.people for n in top],
        )
        if top
        else None
    )
    medians = [m.median_days for m in waits.everyone.months]
    months_chart = horizontal_bar_chart(waits.months, medians) if any(m is not None for m in medians) else None
    return {
        "rows": shown,
        "chart": chart,
        "chart_rows": len(top),
        "waits": waits,
        "months_chart": months_chart,
        "multilingual": multilingual,
        "threshold": organisation.small_count_threshold,
    }


@protected.get("/needs", response_class=HTMLResponse)
def needs(request: Request) -> HTMLResponse:
    locale, services = admin_locale(request), services_of(request)
    context = needs_context(services, locale, lambda key, **values: text(locale, key, **values))
    return render(request, "admin/needs.html", section="needs", **context)


def _csv(body: str, organisation_id: str, what: str) -> Response:
    name = f"gruppstart-{organisation_id}-{what}-{datetime.now(UTC):%Y-%m-%d}.csv"
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@protected.get("/needs.csv")
def needs_csv(request: Request) -> Response:
    services = services_of(request)
    body = needs_csv_text(needs_reader(services).needs(), services.organisation.small_count_threshold)
    audit(request, "needs_export")
    return _csv(body, services.organisation.id, "needs")


@protected.get("/running-groups.csv")
def running_groups_csv(request: Request) -> Response:
    services = services_of(request)
    body = running_csv_text(running_reader(services).groups())
    audit(request, "running_groups_export")
    return _csv(body, services.organisation.id, "running-groups")
