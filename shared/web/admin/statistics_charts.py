"""The statistics page's charts: the service's figures turned into SVG in the operator's language."""

from __future__ import annotations

from typing import Any

from shared.services.insights import insights
from shared.web.admin.charts import FILLS, Series, bar_chart, horizontal_bar_chart


def statistics_charts(services: Any, at: Any, theme_label: Any) -> dict[str, Any]:
    """`at` gives a text in the operator's language; `theme_label` a theme's name."""
    data = insights(services.statistics, services.interests, services.organisation)
    months = [m.month for m in data.months]
    return {
        "data": data,
        "months_svg": None
        if not months
        else bar_chart(
            months,
            [
                Series(at("chart_interests"), [m.interests for m in data.months]),
                Series(at("chart_groups"), [m.groups for m in data.months]),
            ],
        ),
        # Theme names are long ("Being a relative"): horizontal bars, each label on its own line.
        "themes_median_svg": horizontal_bar_chart(
            [theme_label(t.theme) for t in data.themes], [t.median_days_to_group for t in data.themes]
        )
        if any(t.median_days_to_group is not None for t in data.themes)
        else None,
        "themes_own_svg": horizontal_bar_chart(
            [theme_label(t.theme) for t in data.themes], [t.on_their_own for t in data.themes], fill=FILLS[1]
        )
        if any(t.on_their_own for t in data.themes)
        else None,
    }
