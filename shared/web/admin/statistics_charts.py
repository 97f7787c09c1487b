"""The statistics page's charts: the service's figures turned into SVG in the operator's language."""

from __future__ import annotations

from typing import Any

from shared.services.insights import insights
from shared.web.admin.charts import Series, bar_chart


def statistics_charts(services: Any, at: Any, theme_label: Any) -> dict[str, Any]:
    """`at` gives a text in the operator's language; `theme_label` a theme's name."""
    data = insights(services.statistics, services.storage, services.organisation)
    months = [m.month for m in data.months]
    return {
        "data": data,
        "months_svg": bar_chart(
            months,
            [
                Series(at("chart_interests"), [m.interests for m in data.months]),
                Series(at("chart_groups"), [m.groups for m in data.months]),
            ],
        ),
        "themes_svg": bar_chart(
            [theme_label(t.theme) for t in data.themes],
            [
                Series(at("chart_median_days"), [t.median_days_to_group for t in data.themes]),
                Series(at("chart_on_their_own"), [t.on_their_own for t in data.themes]),
            ],
        ),
    }
