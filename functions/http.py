"""HTTP trigger: the whole web surface (form, JSON API, webhooks) is one ASGI app behind one catch-all route.

The FastAPI app is built on the first HTTP event, not at import: the host imports function_app to
index every function, and queue and timer invocations never need the web stack.
"""

from __future__ import annotations

from typing import Any


class LazyAsgiApp:
    def __init__(self) -> None:
        self._app: Any = None

    @property
    def app(self) -> Any:
        if self._app is None:
            from shared.web.app import create_app

            self._app = create_app()
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


asgi_app = LazyAsgiApp()
