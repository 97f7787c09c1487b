"""Shared pieces of the benchmarks: synthetic organisations, counted storage, a server process, percentiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.adapters.entities import entity_of
from shared.adapters.sms.base import SmsSender
from shared.adapters.sms.local import LocalOutboxSender
from shared.adapters.storage import StorageAccount
from shared.composition import Services, build_services
from shared.core.organisation import MUNICIPALITIES
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def organisation(themes: int = 0) -> dict[str, Any]:
    """Region Jönköping's document, or one with `themes` synthetic themes (for formation at scale)."""
    doc = json.loads((MUNICIPALITIES / "region-jonkoping.json").read_text(encoding="utf-8"))["organisation"]
    if themes:
        doc["themes"] = [
            {
                "id": f"tema-{i:03d}",
                "text": {
                    "sv": {"label": f"Tema {i}", "description": "Ett tema för mätningar.", "phrase": f"om tema {i}"},
                    "en": {
                        "label": f"Theme {i}",
                        "description": "A theme for measurements.",
                        "phrase": f"about theme {i}",
                    },
                },
            }
            for i in range(themes)
        ]
    return doc


class OpCounter:
    """Counts every HTTP request the storage SDKs send (azure-core's raw_request_hook)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, request: Any) -> None:
        with self._lock:
            self.count += 1

    def take(self) -> int:
        with self._lock:
            value, self.count = self.count, 0
            return value


def waiting_entities(theme: str, count: int, tag: str) -> list[dict[str, Any]]:
    """Verified people waiting in one theme, as table entities (seeding, not what is measured)."""
    from shared.core.domain import INTEREST_PREFIX, Interest, InterestStatus, utcnow

    now = utcnow()
    return [
        entity_of(
            Interest(
                theme=theme,
                key=f"{INTEREST_PREFIX}{tag}{i:012x}".ljust(len(INTEREST_PREFIX) + 24, "0"),
                name=f"Person {i}",
                phone=f"+4670{abs(hash((theme, i))) % 10**7:07d}",
                locale="sv",
                status=InterestStatus.WAITING,
                consent_version="bench",
                created_at=now,
                verified_at=now,
                withdraw_token_hash="-",
            )
        )
        for i in range(count)
    ]


def write_batched(table: Any, entities: list[dict[str, Any]]) -> None:
    """Entities of one partition in full 100-operation transactions."""
    for first in range(0, len(entities), 100):
        table.submit_transaction([("create", e) for e in entities[first : first + 100]])


def env_for(connection_string: str, doc: dict[str, Any], **extra: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": connection_string,
        "ORGANISATION_CONFIG": json.dumps(doc),
        "DEV_MODE": "true",
        "ADMIN_TOKEN": "bench-admin-token",
        "CLIENT_REGISTRATIONS_PER_HOUR": "100000",
        "CLIENT_NETWORK_REGISTRATIONS_PER_HOUR": "100000",  # the bench's clients share 127.0.0.0/24
        # The installation's SMS budget (issue 11) would refuse a bench's thousands of codes an hour.
        "SMS_CODES_PER_HOUR": "100000",
        "SMS_CODES_PER_DAY": "1000000",
        "SMS_TEXTS_PER_HOUR": "1000000",  # every text's budget holds the codes' share
        "SMS_TEXTS_PER_DAY": "10000000",
        **extra,
    }


def counted_services(env: dict[str, str], sender: SmsSender | None = None) -> tuple[Services, OpCounter]:
    counter = OpCounter()
    settings = Settings(**env)  # type: ignore[arg-type]
    storage = StorageAccount(
        connection_string=settings.storage_connection_string,
        # Bulk writes right after a reset can wait on Azurite's clean-up: no fail-fast timeout here.
        client_options={"raw_request_hook": counter, "read_timeout": 300, "retry_total": 0},
    )
    services = build_services(settings, sender=sender or LocalOutboxSender(echo=None), storage=storage)
    services.ensure_ready()
    counter.take()
    return services, counter


def fresh(services: Services) -> None:
    from shared.adapters.storage import QUEUES, TABLES

    service = services.storage.table_service()
    for name in TABLES:
        service.delete_table(name)
    services.storage.ensure_resources()
    for name in (*QUEUES, *(f"{q}-poison" for q in QUEUES)):
        services.storage.queue(name).clear_messages()
    # Let Azurite finish dropping the old tables before anything is timed.
    services.storage.table("interests").upsert_entity({"PartitionKey": "warm-up", "RowKey": "0"})
    services.storage.table("interests").delete_entity("warm-up", "0")


@contextmanager
def server_process(module_args: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen]:
    """The app in a process of its own (as the dev server runs), so client load does not share its GIL.

    Its log is read all the time (the last lines are kept for an error message): an unread pipe fills
    after 64 KiB, and a server blocked writing a log line stops answering."""
    process = subprocess.Popen(
        [sys.executable, *module_args],
        cwd=ROOT,
        env={**os.environ, **env, "PORT": str(port), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    tail: deque[bytes] = deque(maxlen=40)
    reader = threading.Thread(target=lambda: tail.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                reader.join(timeout=2)
                raise RuntimeError(f"server did not start: {b''.join(tail).decode(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


__all__ = ["ROOT", "OpCounter", "counted_services", "cpu_seconds", "env_for", "fresh", "organisation", "percentile"]
