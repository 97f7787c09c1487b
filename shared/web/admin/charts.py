"""Bar charts as SVG, rendered on the server: data in, an escaped SVG string out.

No JavaScript and no external resources, so the charts work under the admin pages' strict
Content-Security-Policy. Each chart is decorative to assistive technology (aria-hidden): the
template puts it in a <figure> with a <figcaption> and a data table holding the same numbers.
Labels and titles are escaped here; the numbers are formatted here. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 240
LEFT = 44  # room for the value axis
BOTTOM = 40  # room for the category labels
TOP = 12
CHAR_WIDTH = 6.5  # about the widest average advance of an 11px sans-serif glyph, in viewBox units
# Two fills that differ in lightness as well as hue (readable in greyscale), each at least 3:1
# against white, as WCAG 2.1 SC 1.4.11 asks of graphical objects.
FILLS = ("#1f5f8b", "#b4531b")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per category; None = no value (drawn as nothing)


def bar_chart(categories: Sequence[str], series: Sequence[Series], *, unit: str = "") -> Markup:
    """Grouped bars, one group per category, one bar per series; an empty chart says so."""
    if not series or any(len(s.values) != len(categories) for s in series):
        raise ValueError("every series needs one value per category")
    present = [v for s in series for v in s.values if v is not None]
    # All zeros is data (grouped the day they verified): an axis to 1 draws it, not a lone "0".
    top = _nice_ceiling(max(present, default=0.0)) or (1.0 if present else 0.0)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'class="chart" aria-hidden="true" focusable="false">'
    ]
    for tick in (0, top / 2, top):
        y = TOP + plot_h - (tick / top) * plot_h if top else TOP + plot_h
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ccc"/>')
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{escape(_number(tick))}</text>'
        )
    slot = plot_w / max(1, len(categories))
    bar = slot * 0.8 / len(series)
    # Labels never overlap: when the longest does not fit its slot, only every `step`-th is written
    # (months read in order, so the skipped ones are implied; named categories use horizontal bars).
    widest = max((len(c) for c in categories), default=0) * CHAR_WIDTH + 6
    step = max(1, math.ceil(widest / slot)) if slot else 1
    for i, category in enumerate(categories):
        x0 = LEFT + i * slot + slot * 0.1
        for j, s in enumerate(series):
            value = s.values[i]
            if not value or top == 0:  # None, or a zero bar: nothing to draw
                continue
            h = (value / top) * plot_h
            x, y = x0 + j * bar, TOP + plot_h - h
            label = f"{s.name}, {category}: {_number(value)}{unit}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{FILLS[j % len(FILLS)]}">'
                f"<title>{escape(label)}</title></rect>"
            )
        if i % step == 0:
            parts.append(
                f'<text class="bar-label" x="{LEFT + i * slot + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle" font-size="11">{escape(category)}</text>'
            )
    for j, s in enumerate(series):  # legend, under the labels
        x = LEFT + j * 180
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" fill="{FILLS[j % len(FILLS)]}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 7}" font-size="11">{escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped


def _nice_ceiling(value: float) -> float:
    """The axis top: the value rounded up to 1, 2 or 5 times a power of ten (0 stays 0)."""
    if value <= 0:
        return 0.0
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _number(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


# --- horizontal bars: one row per category, its label on its own line(s), so labels never overlap ---

# Narrower than the column charts: held to about 44rem by the stylesheet, the 11px text stays legible
# on a phone (about 10px at 390px wide) and is not blown up on a desktop.
HBAR_WIDTH = 440
HBAR_LABEL = 170  # the label column; a longer label wraps onto a second line
HBAR_ROW = 34
HBAR_LINE_CHARS = 26  # about what fits in the label column at 11px


def wrap_label(label: str, width: int = HBAR_LINE_CHARS, lines: int = 2) -> list[str]:
    """A label in at most `lines` lines of about `width` characters, broken at spaces; the rest cut with '…'."""
    out: list[str] = []
    current = ""
    words = label.split()
    for i, word in enumerate(words):
        candidate = f"{current} {word}".strip()
        if len(candidate) <= width or not current:
            current = candidate
            continue
        out.append(current)
        current = word
        if len(out) == lines - 1:
            current = " ".join(words[i:])
            break
    out.append(current)
    out = out[:lines]
    return [line if len(line) <= width else line[: width - 1].rstrip() + "…" for line in out]


def horizontal_bar_chart(
    categories: Sequence[str], values: Sequence[float | None], *, fill: str = FILLS[0], unit: str = ""
) -> Markup:
    """One bar per category, largest scale at the right; the value written after each bar (a None
    draws no bar and says "–"). Empty input raises: the page says "no data yet" in words instead."""
    if not categories or len(values) != len(categories):
        raise ValueError("one value per category, and at least one category")
    top = _nice_ceiling(max((v for v in values if v is not None), default=0.0)) or 1.0
    plot_w = HBAR_WIDTH - HBAR_LABEL - 48  # room for the value after the longest bar
    height = TOP + len(categories) * HBAR_ROW + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {HBAR_WIDTH} {height}" width="100%" '
        f'class="chart chart-hbar" aria-hidden="true" focusable="false">'
    ]
    for i, (category, value) in enumerate(zip(categories, values, strict=True)):
        y = TOP + i * HBAR_ROW
        lines = wrap_label(category)
        first = y + HBAR_ROW / 2 + 4 - (len(lines) - 1) * 6.5
        spans = "".join(
            f'<tspan x="{HBAR_LABEL - 8}" y="{first + k * 13:.1f}">{escape(line)}</tspan>'
            for k, line in enumerate(lines)
        )
        parts.append(f'<text class="bar-label" text-anchor="end" font-size="11">{spans}</text>')
        shown = "–" if value is None else _number(value) + unit
        w = 0.0 if value is None else (value / top) * plot_w
        if value is not None:
            parts.append(
                f'<rect x="{HBAR_LABEL}" y="{y + 6}" width="{w:.1f}" height="{HBAR_ROW - 12}" fill="{fill}">'
                f"<title>{escape(category)}: {escape(shown)}</title></rect>"
            )
        parts.append(
            f'<text x="{HBAR_LABEL + w + 6:.1f}" y="{y + HBAR_ROW / 2 + 4:.1f}" font-size="11">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped
