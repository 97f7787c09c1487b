"""Rows, the printed table, and bench/RESULTS.md.

RESULTS.md is rendered from bench/results.json, which keeps each part's rows with the time they
were measured: `--only peak --write` replaces the peak rows and keeps every other part's.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT
from bench.rows import Row, table

RESULTS = ROOT / "bench" / "RESULTS.md"
RESULTS_JSON = ROOT / "bench" / "results.json"
NOTES_HEADING = "## Reading the table"
# The order parts appear in the table, whatever order they were measured in.
PARTS = ("cold", "stages", "formation", "rate", "invite", "registration", "peak", "peakform", "scaling")


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return f"{cpu}, {os.cpu_count()} cores, {int(mem) // 1024 // 1024} GiB, Python {platform.python_version()}"


def azurite_version() -> str:
    return json.loads((ROOT / "node_modules" / "azurite" / "package.json").read_text())["version"]


def load_results() -> dict[str, Any]:
    if RESULTS_JSON.exists():
        return json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
    return {"parts": {}}


def record(part: str, rows: list[Row], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Replace one part's rows in results.json (the other parts stay) and re-render RESULTS.md."""
    results = load_results()
    results["parts"][part] = {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{machine()}, Azurite {azurite_version()} in memory",
        "rows": [asdict(r) for r in rows],
        **(extra or {}),
    }
    RESULTS_JSON.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    render(results)
    return results


def render(results: dict[str, Any]) -> None:
    """The table, the scaling section when measured, and the hand-written reading below NOTES_HEADING, kept."""
    parts = {name: results["parts"][name] for name in PARTS if name in results["parts"]}
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    notes = old[old.index(NOTES_HEADING) :] if NOTES_HEADING in old else ""
    rows = [Row(**r) for part in parts.values() for r in part["rows"]]
    when: dict[tuple[str, str], list[str]] = {}
    for name, part in parts.items():
        when.setdefault((part["measured"], part["machine"]), []).append(name)
    measured = "\n".join(f"- {', '.join(names)}: {stamp} on {where}." for (stamp, where), names in when.items())
    text = f"# Benchmark results\n\nMeasured (each part of `make bench`, when it last ran):\n\n{measured}\n\n"
    text += f"{table(rows)}\n\n"
    if "scaling" in parts:
        from bench.scaling import scaling_section

        text += scaling_section(parts["scaling"]) + "\n\n"
    RESULTS.write_text(text + notes, encoding="utf-8")
