"""A measured row of the benchmark table, and the table they print as (stdout and RESULTS.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    measure: str
    value: float
    unit: str
    baseline: float | None = None
    goal: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


def table(rows: list[Row]) -> str:
    lines = ["| measure | value | baseline | ratio | goal | met |", "|---|---:|---:|---:|---|---|"]
    for r in rows:
        baseline = f"{r.baseline:,.3g} {r.unit}" if r.baseline is not None else ""
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else ""
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.measure} | {r.value:,.3g} {r.unit} | {baseline} | {ratio} | {r.goal} | {met} |")
    return "\n".join(lines)
