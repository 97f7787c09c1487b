"""One instance's HTTP concurrency for `make dev` and the peak bench (issue 22 item 4): at most the
templates' `httpPerInstanceConcurrency` requests run at once, the rest wait their turn and are all
answered; the number comes from the municipality's file, else infra/main.bicep's default."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from shared.core.organisation import MUNICIPALITIES
from shared.local.concurrency import PerInstanceConcurrency, templates_concurrency


class Slow:
    """An ASGI app that holds each request a moment and remembers how many were inside at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.order: list[int] = []

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        self.inside += 1
        self.most = max(self.most, self.inside)
        self.order.append(int(scope["path"].strip("/")))
        await asyncio.sleep(0.02)
        self.inside -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def crowd(app, requests: int) -> list[int]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://instance") as client:

        async def one(i: int) -> int:
            await asyncio.sleep(i * 0.001)  # arrivals in order
            return (await client.get(f"/{i}")).status_code

        return list(await asyncio.gather(*(one(i) for i in range(requests))))


def in_own_loop(coroutine):  # type: ignore[no-untyped-def]
    """Run on a thread of its own: in the full suite the browser tests' sync API keeps a loop running here."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_at_most_the_limit_run_at_once_and_every_request_is_answered():
    inner = Slow()
    statuses = in_own_loop(crowd(PerInstanceConcurrency(inner, 3), 20))

    assert statuses == [200] * 20  # queued, none turned away
    assert inner.most == 3
    assert inner.order == list(range(20))  # served in arrival order


def test_without_it_the_crowd_runs_at_once():
    inner = Slow()
    in_own_loop(crowd(inner, 20))
    assert inner.most == 20


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError):
        PerInstanceConcurrency(Slow(), 0)


def test_the_value_is_the_municipality_files_else_the_templates_default(tmp_path: Path):
    region = MUNICIPALITIES / "region-jonkoping.json"
    assert templates_concurrency(region) == 8  # its deployment section sets 8 (a 512 MB instance)
    unset = tmp_path / "elsewhere.json"
    unset.write_text(json.dumps({"deployment": {"location": "swedencentral"}, "organisation": {}}))
    assert templates_concurrency(unset) == 16  # infra/main.bicep's default
