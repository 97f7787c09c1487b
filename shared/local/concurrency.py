"""The HTTP concurrency one Flex Consumption instance runs, for `make dev` and the benches.

On Flex Consumption every HTTP function of the app shares one per-instance concurrency,
`functionAppConfig.scaleAndConcurrency.triggers.http.perInstanceConcurrency`, which the templates set
(`httpPerInstanceConcurrency`: 16 in infra/main.bicep, 8 in the municipality files). Concurrency in
Azure Functions (https://learn.microsoft.com/azure/azure-functions/functions-concurrency): HTTP trigger
concurrency is a fixed per-instance concurrency (Flex Consumption only), all HTTP functions scale
together, and an app that reaches its concurrency limit is scaled out to more instances to meet the
demand; nothing there refuses a request above the limit. One instance therefore runs at most that many
requests and the others wait, for a slot or a new instance (whose cold start is seconds). This wrapper
models the one instance: at most `limit` requests in the app at once, the rest waiting in arrival order;
none is turned away (uvicorn's own `limit_concurrency` would answer them 503, which the platform does not).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ENV = "HTTP_PER_INSTANCE_CONCURRENCY"  # read by shared/local/dev.py; the deployed app never reads it


class PerInstanceConcurrency:
    """An ASGI app around another: at most `limit` HTTP requests inside it at once, the rest queued."""

    def __init__(self, app: Any, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.app = app
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None  # made on the server's event loop, at the first request

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan events pass straight through
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            await self.app(scope, receive, send)


def templates_concurrency(municipality: Path) -> int:
    """The per-instance HTTP concurrency a municipality's deployment gets: its file's
    `httpPerInstanceConcurrency`, else infra/main.bicep's default for the parameter."""
    deployment = json.loads(municipality.read_text(encoding="utf-8")).get("deployment", {})
    if "httpPerInstanceConcurrency" in deployment:
        return int(deployment["httpPerInstanceConcurrency"])
    for line in (ROOT / "infra" / "main.bicep").read_text(encoding="utf-8").splitlines():
        if line.startswith("param httpPerInstanceConcurrency int = "):
            return int(line.rsplit("=", 1)[1])
    raise ValueError("infra/main.bicep declares no default for httpPerInstanceConcurrency")
