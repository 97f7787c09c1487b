"""The admin pages' SVG bar charts: pure, escaped, and drawn to scale."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from shared.web.admin.charts import Series, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output under test, not untrusted input


def bars(svg: str) -> list[tuple[float, str]]:
    root = parse(svg)
    return [
        (float(r.get("height", "0")), r.findtext(f"{SVG}title") or "")
        for r in root.iter(f"{SVG}rect")
        if r.find(f"{SVG}title") is not None
    ]


def test_bars_are_to_scale_and_named_per_series_and_category() -> None:
    svg = bar_chart(["2026-01", "2026-02"], [Series("Interests", [10, 5]), Series("Groups", [2, None])])
    drawn = bars(svg)
    assert [title for _, title in drawn] == ["Interests, 2026-01: 10", "Groups, 2026-01: 2", "Interests, 2026-02: 5"]
    heights = [h for h, _ in drawn]
    assert heights[0] == pytest.approx(2 * heights[2]) and heights[0] == pytest.approx(5 * heights[1])


def test_untrusted_labels_are_escaped_and_the_svg_stays_well_formed() -> None:
    hostile = '<script>alert("x")</script>&'
    svg = bar_chart([hostile], [Series(hostile, [1])])
    assert "<script>" not in svg
    root = parse(svg)  # would raise if an ampersand or tag leaked through
    assert hostile in "".join(root.itertext())


def test_the_chart_is_hidden_from_assistive_technology_and_needs_no_script() -> None:
    svg = bar_chart(["a"], [Series("s", [3])])
    assert re.match(r'<svg [^>]*aria-hidden="true"', svg)
    assert "script" not in svg.lower() and "href" not in svg.lower()


def test_an_empty_or_all_zero_chart_draws_no_bars() -> None:
    assert bars(bar_chart([], [Series("s", [])])) == []
    assert bars(bar_chart(["a", "b"], [Series("s", [0, 0])])) == []


def test_the_axis_top_is_a_round_number_at_or_above_the_peak() -> None:
    svg = bar_chart(["a"], [Series("s", [37])])
    ticks = [t.text for t in parse(svg).iter(f"{SVG}text")][:3]
    assert ticks == ["0", "25", "50"]


def test_series_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError):
        bar_chart(["a", "b"], [Series("s", [1])])
