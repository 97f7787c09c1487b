"""How formation's cost grows with the number of waiting interests (issue 15, item 4).

One sweep over `themes` themes holding N verified interests in all, for each N asked for, each on a
fresh Azurite: wall time, storage calls (counted at the HTTP layer), and the floor — writing as
many entities as formation wrote in full 100-operation transactions — measured right after it.
Linear growth shows as a flat time per interest and a flat count of calls per interest.
"""

from __future__ import annotations

import contextlib
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from bench.chart import Series, line_chart
from bench.common import ROOT, counted_services, env_for, fresh, organisation, write_batched
from bench.rows import Row
from shared.local.azurite import Azurite

CHART = ROOT / "bench" / "scaling.svg"
GROUP_CAPACITY = 20  # FacilitatorIn's largest capacity: fewest facilitators to create


@dataclass
class FormationRun:
    interests: int
    themes: int
    seconds: float  # the sweep, queueing included
    floor: float  # writing the same number of entities in full 100-operation transactions
    operations: int  # storage calls during the sweep
    entities: int  # entities the sweep wrote (claims, groups, outbox rows)
    groups: int
    seeding: float  # writing the waiting interests before the sweep (not measured work)
    queueing: float | None = None  # the part of `seconds` spent putting texts on the queue, when measurable
    cpu: float | None = None  # this process's CPU (utime+stime) during the sweep, its queue puts' threads included
    floor_cpu: float | None = None  # … and during the floor


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process only: Azurite and any spinners are others
    return usage.ru_utime + usage.ru_stime


def _phone(i: int) -> str:
    return f"+46{701_000_000 + i}"


def measure_formation(connection_string: str, themes: int, interests: int) -> FormationRun:
    """One formation sweep over `interests` verified people spread evenly over `themes` themes."""
    from bench.common import waiting_entities
    from shared.services.facilitators import FacilitatorIn

    doc = organisation(themes)
    services, counter = counted_services(env_for(connection_string, doc))
    fresh(services)
    for i in range(interests // 5 // GROUP_CAPACITY + 5):  # enough room for every group, at the smallest size
        services.facilitators.create(
            FacilitatorIn(name=f"Facilitator {i}", phone=_phone(800_000 + i), locales=["sv"], capacity=GROUP_CAPACITY)
        )
    table = services.storage.table("interests")
    seeding = time.perf_counter()
    for t in range(themes):
        count = interests // themes + (1 if t < interests % themes else 0)
        write_batched(table, waiting_entities(f"tema-{t:03d}", count, tag=f"{t:03x}"))
    seeding = time.perf_counter() - seeding

    queueing = _QueueTimer()
    counter.take()
    cpu = _process_cpu()
    start = time.perf_counter()
    with queueing:
        report = services.formation.sweep()
    seconds = time.perf_counter() - start
    cpu = _process_cpu() - cpu
    operations = counter.take()

    # Floor: as many entities as formation wrote, in full 100-op transactions, into a table of its own
    # (dropping a table of tens of thousands of rows first makes Azurite stall for a while).
    services.storage.table_service().create_table_if_not_exists("benchfloor")
    floor_table = services.storage.table("benchfloor")
    by_partition: dict[str, list[dict]] = {}
    for i in range(report.entities_written):
        theme = f"tema-{i % themes:03d}"
        by_partition.setdefault(theme, []).append(
            {"PartitionKey": theme, "RowKey": f"floor.{i:08d}", "Name": "x" * 12, "Status": "waiting"}
        )
    floor_cpu = _process_cpu()
    start = time.perf_counter()
    for rows in by_partition.values():
        write_batched(floor_table, rows)
    floor = time.perf_counter() - start
    floor_cpu = _process_cpu() - floor_cpu
    services.storage.table_service().delete_table("benchfloor")
    return FormationRun(
        interests=interests,
        themes=themes,
        seconds=seconds,
        floor=floor,
        operations=operations,
        entities=report.entities_written,
        groups=report.groups_formed,
        seeding=seeding,
        queueing=queueing.seconds,
        cpu=cpu,
        floor_cpu=floor_cpu,
    )


@contextlib.contextmanager
def spinning(processes: int) -> Iterator[None]:
    """A busy machine on purpose: `processes` interpreters spinning on the cores for as long as the block
    runs (the sweep and its floor alike), ended by their own handles afterwards."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()


class _QueueTimer:
    """Times what formation's sweep spends on the queue: starting the puts of each commit
    (`outbox.start_queueing`, as formation calls it), waiting for the last ones at the end
    (`FormationReport.settle`) and re-queueing rows left pending (`queue_committed`). Puts still on their
    way while the next transaction runs cost no wall time and are not counted. After a refactor that
    removes these names, `seconds` stays None and the rows that split the time are left out."""

    def __init__(self) -> None:
        self.seconds: float | None = None
        self._patched: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> _QueueTimer:
        import shared.services.formation as formation

        targets = [(formation, "start_queueing"), (formation, "queue_committed")]
        report = getattr(formation, "FormationReport", None)
        if report is not None:
            targets.append((report, "settle"))
        for owner, name in targets:
            original = getattr(owner, name, None)
            if original is None:
                continue
            self.seconds = 0.0
            self._patched.append((owner, name, original))
            setattr(owner, name, self._timed(original))
        return self

    def _timed(self, original: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds = (self.seconds or 0.0) + time.perf_counter() - started

        return timed

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)
        self._patched.clear()


# --- the part of `make bench` --------------------------------------------------------------------------


def scaling(sizes: list[int], themes: int) -> tuple[list[Row], dict[str, Any]]:
    runs: list[FormationRun] = []
    for size in sizes:
        print(f"… scaling: {size:,} waiting interests over {themes} themes", file=sys.stderr, flush=True)
        with Azurite() as azurite:  # a fresh emulator per size: no size pays for another's rows
            run = measure_formation(azurite.connection_string, themes, size)
        print(
            f"    sweep {run.seconds:.1f} s, floor {run.floor:.1f} s, {run.operations:,} storage calls,"
            f" seeding took {run.seeding:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        runs.append(run)
    first = runs[0]
    rows: list[Row] = []
    for run in runs:
        rows.append(
            Row(
                f"scaling: form groups from {run.interests:,} waiting interests over {run.themes} themes",
                run.seconds,
                "s",
                run.floor,
                "≤ 1.5× writing its entities in 100-op transactions",
                run.seconds <= 1.5 * run.floor,
            )
        )
        rows.append(
            Row(
                f"… time per interest at {run.interests:,} (vs at {first.interests:,})",
                run.seconds / run.interests * 1000,
                "ms",
                first.seconds / first.interests * 1000,
                "linear: ratio ≈ 1",
            )
        )
        rows.append(
            Row(
                f"… storage calls per interest at {run.interests:,} (vs at {first.interests:,})",
                run.operations / run.interests,
                "ops",
                first.operations / first.interests,
                "linear: ratio ≈ 1",
            )
        )
    return rows, {"points": [asdict(r) for r in runs]}


def scaling_section(part: dict[str, Any]) -> str:
    """RESULTS.md's table of the sizes and the chart, which it (re)draws into bench/scaling.svg."""
    runs = [FormationRun(**p) for p in part.get("points", [])]
    if not runs:
        return ""
    CHART.write_text(chart(runs), encoding="utf-8")
    lines = [
        "## How formation's cost grows",
        "",
        f"One sweep over {runs[0].themes} themes, each size on a fresh Azurite ({part['measured']}).",
        "Linear growth: time and storage calls per interest stay flat as the queue grows.",
        "",
        "| waiting interests | sweep | floor | ratio | ms / interest | storage calls | calls / interest | groups |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.interests:,} | {r.seconds:,.1f} s | {r.floor:,.1f} s | {r.seconds / r.floor:.2f}× "
            f"| {r.seconds / r.interests * 1000:.2f} | {r.operations:,} | {r.operations / r.interests:.3f} "
            f"| {r.groups:,} |"
        )
    lines += ["", "![Formation time and storage calls against waiting interests](scaling.svg)"]
    return "\n".join(lines)


def chart(runs: list[FormationRun]) -> str:
    xs = [float(r.interests) for r in runs]
    return line_chart(
        "Formation sweep against waiting interests",
        xs,
        [
            (
                "seconds",
                [
                    Series("sweep", [r.seconds for r in runs], "#1f6feb"),
                    Series("floor (same entities, 100-op transactions)", [r.floor for r in runs], "#8b949e", True),
                ],
            ),
            ("ms per interest", [Series("sweep", [r.seconds / r.interests * 1000 for r in runs], "#1f6feb")]),
            ("storage calls per interest", [Series("sweep", [r.operations / r.interests for r in runs], "#d29922")]),
        ],
    )
