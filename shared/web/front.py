"""The cold-start front: a new instance serves the resident's form and its stylesheet without FastAPI.

A new Flex Consumption instance pays its imports before its first answer, and the first request is
almost always a resident opening the form (GET /), then their browser fetching /static/style.css.
Importing FastAPI alone costs about twice what `import azure.functions` does (bench/RESULTS.md), so
this plain ASGI app answers those two requests itself and hands every other request to the FastAPI
app (shared/web/app.py), which it builds on the first request that needs it.

Nothing here is a second implementation: the form's page comes from shared/web/form_page.py and the
headers from shared/web/security.py, which the FastAPI route and middleware use too, and the
stylesheet from Starlette's StaticFiles, the class the app mounts (its path checks keep requests
inside the static folder; its ETag and Last-Modified answer a revalidation with 304). Whenever the
front could not answer exactly as the app would — a body on the request, a root path, storage down
when the form needs it, a static path that is not a file — the request goes to the app, which answers
it as always. `tests/integration/test_front.py` compares the two answers.

Only the standard library is imported here at module level: `function_app` imports this module to
index the functions, and queue and timer invocations never serve a page.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from shared import PACKAGE_DIR

if TYPE_CHECKING:
    from starlette.staticfiles import StaticFiles

    from shared.composition import Services

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger(__name__)
STATIC = PACKAGE_DIR / "static"  # served under STATIC_PREFIX, by the front and by the app's mount
STATIC_PREFIX = "/static/"


async def start(services: Callable[[], Services]) -> None:
    """What the app does when its server starts: read the configuration (a bad one fails here, at start,
    naming the field) and create the tables, or leave that to the first request if storage is down."""
    from starlette.concurrency import run_in_threadpool

    from shared.adapters.storage import StorageUnavailable

    current = services()
    try:
        await run_in_threadpool(current.ensure_ready)
    except StorageUnavailable:
        log.warning("storage unreachable at start; will retry on first use")


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header, decoded as Starlette's `Headers` decodes it."""
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _query_lang(scope: Scope) -> str | None:
    """`?lang=` as Starlette's `request.query_params.get("lang")` reads it: the last one given wins."""
    found = None
    for key, value in parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"), keep_blank_values=True):
        if key == "lang":
            found = value
    return found


def _plain_get(scope: Scope) -> bool:
    """A GET or HEAD with no body, at the app's root: what the front may answer itself."""
    if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or scope.get("root_path"):
        return False
    length = _header(scope, b"content-length")
    return (length is None or length.strip() == "0") and _header(scope, b"transfer-encoding") is None


class Front:
    """The ASGI app the HTTP function and `make dev` serve: the form and its stylesheet here, the rest in
    the FastAPI app. `app` builds that app (functions/http.py: `create_app`, imported when called);
    `services` is the composition root's accessor, the one the app is built with."""

    def __init__(self, app: Callable[[], ASGIApp], services: Callable[[], Services] | None = None) -> None:
        self._services_given = services
        self._build_app = app
        self._app: ASGIApp | None = None
        self._files: StaticFiles | None = None

    def services(self) -> Services:
        if self._services_given is None:
            from shared.composition import get_services

            self._services_given = get_services
        return self._services_given()

    @property
    def app(self) -> ASGIApp:
        """The FastAPI app, built on the first request the front does not answer itself."""
        if self._app is None:
            self._app = self._build_app()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if _plain_get(scope):
            path = scope["path"]
            # HEAD / is the app's: its GET route answers HEAD with 405, and so must a new instance.
            if path == "/" and scope["method"] == "GET" and await self._form(scope, receive, send):
                return
            if path.startswith(STATIC_PREFIX) and await self._static(scope, receive, send):
                return
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol, as Starlette's router speaks it, around `start`. The FastAPI app,
        when built later, gets none: its own lifespan is this same `start`, already done."""
        await receive()  # lifespan.startup
        try:
            await start(self.services)
        except BaseException:
            await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    def _secure(self, response: Any, scope: Scope, services: Services) -> None:
        """The app's middleware's headers (shared/web/security.py), set the way it sets them."""
        from shared.web import security

        https = security.is_https(
            scope.get("scheme", "http"),
            _header(scope, b"x-forwarded-proto"),
            trust_proxy=not services.settings.dev_mode,
        )
        for name, value in security.headers_for(https).items():
            response.headers.setdefault(name, value)

    async def _form(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """GET / : the form (shared/web/pages.py's `form` route, without FastAPI). False when storage
        is down: the app then answers, with its page for that."""
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import HTMLResponse

        from shared.adapters.storage import StorageUnavailable
        from shared.web import form_page

        services = self.services()
        locale = form_page.choose_locale(services, _query_lang(scope), _header(scope, b"accept-language"))
        try:
            await run_in_threadpool(services.ensure_ready)
            body = await run_in_threadpool(form_page.form_html, services, locale)
        except StorageUnavailable:
            return False
        response = HTMLResponse(body)
        self._secure(response, scope, services)
        await response(scope, receive, send)
        return True

    async def _static(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """GET /static/… : a file of shared/static, by the app's own StaticFiles. False for anything that
        is not a file there (the app's 404 page answers it)."""
        from starlette.exceptions import HTTPException

        files = self._static_files()
        path = files.get_path({**scope, "root_path": STATIC_PREFIX.rstrip("/")})
        try:
            response = await files.get_response(path, scope)
        except HTTPException:
            return False
        self._secure(response, scope, self.services())
        await response(scope, receive, send)
        return True

    def _static_files(self) -> StaticFiles:
        if self._files is None:
            from starlette.staticfiles import StaticFiles

            self._files = StaticFiles(directory=STATIC)
        return self._files
