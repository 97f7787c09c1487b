"""A small hand-written SVG line chart: panels side by side over one x axis, no plotting dependency."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

PANEL_W, PANEL_H = 320, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 54, 46


@dataclass
class Series:
    label: str
    values: list[float]
    colour: str
    dashed: bool = False


def _nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above `value` (axes end on round numbers)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def line_chart(title: str, xs: list[float], panels: list[tuple[str, list[Series]]]) -> str:
    width = PANEL_W * len(panels)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{PANEL_H + 24}" '
        f'viewBox="0 0 {width} {PANEL_H + 24}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{PANEL_H + 24}" fill="white"/>',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    x_max = _nice_max(max(xs))
    for p, (ylabel, series) in enumerate(panels):
        x0 = p * PANEL_W + LEFT
        plot_w = PANEL_W - LEFT - RIGHT
        top = TOP
        plot_h = PANEL_H - TOP - BOTTOM + 24
        y_max = _nice_max(max(v for s in series for v in s.values) * 1.1)

        def px(x: float, x0: float = x0, plot_w: float = plot_w) -> float:
            return x0 + x / x_max * plot_w

        def py(y: float, top: float = top, plot_h: float = plot_h, y_max: float = y_max) -> float:
            return top + plot_h - y / y_max * plot_h

        out.append(f'<text x="{x0 + plot_w / 2}" y="{top - 16}" text-anchor="middle">{escape(ylabel)}</text>')
        for i in range(5):  # grid and axis labels at quarters
            y = y_max * i / 4
            out.append(f'<line x1="{x0}" y1="{py(y):.1f}" x2="{x0 + plot_w}" y2="{py(y):.1f}" stroke="#e6e6e6"/>')
            out.append(f'<text x="{x0 - 4}" y="{py(y) + 4:.1f}" text-anchor="end">{_number(y)}</text>')
            x = x_max * i / 4
            out.append(f'<text x="{px(x):.1f}" y="{top + plot_h + 14}" text-anchor="middle">{_number(x)}</text>')
        out.append(
            f'<line x1="{x0}" y1="{top + plot_h}" x2="{x0 + plot_w}" y2="{top + plot_h}" stroke="#444"/>'
            f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{top + plot_h}" stroke="#444"/>'
            f'<text x="{x0 + plot_w / 2}" y="{top + plot_h + 30}" text-anchor="middle">waiting interests</text>'
        )
        for s, line in enumerate(series):
            points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, line.values, strict=True))
            dash = ' stroke-dasharray="5 4"' if line.dashed else ""
            out.append(f'<polyline points="{points}" fill="none" stroke="{line.colour}" stroke-width="2"{dash}/>')
            for x, y in zip(xs, line.values, strict=True):
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{line.colour}"/>')
                if not line.dashed:  # the value beside its point, to the left near the right edge
                    near_edge = px(x) > x0 + plot_w * 0.8
                    anchor, dx = ("end", -5) if near_edge else ("start", 5)
                    out.append(
                        f'<text x="{px(x) + dx:.1f}" y="{py(y) - 6:.1f}" text-anchor="{anchor}">{_number(y)}</text>'
                    )
            if len(series) > 1:  # a legend only where a panel has more than one line
                ly = top + 12 * s + 4
                out.append(
                    f'<line x1="{x0 + 8}" y1="{ly}" x2="{x0 + 26}" y2="{ly}" stroke="{line.colour}" '
                    f'stroke-width="2"{dash}/><text x="{x0 + 30}" y="{ly + 4}">{escape(line.label)}</text>'
                )
    out.append("</svg>")
    return "\n".join(out) + "\n"
