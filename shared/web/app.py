"""The HTTP surface: one FastAPI app, served by Azure Functions (AsgiFunctionApp) and by uvicorn locally."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.adapters.storage import StorageUnavailable
from shared.composition import Services, get_services
from shared.web import front, notices, pages, security
from shared.web.common import error_json, locale_for, render_message
from shared.web.deferred import DeferredRouter

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


class BodyLimit:
    """Refuse bodies over the limit with 413 before any handler reads them."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(scope, receive, send)
            return
        # Read the whole body first (it is small by definition) so a chunked upload that grows past
        # the limit is refused here, before any handler has parsed a byte of it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would send

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"error": "body_too_large", "message": "Request body too large."}, status_code=413)
        await response(scope, receive, send)


def is_https(request: Request, trust_proxy: bool) -> bool:
    """The request reached us over HTTPS (shared/web/security.py has the rule)."""
    return security.is_https(request.url.scheme, request.headers.get("x-forwarded-proto"), trust_proxy=trust_proxy)


def create_app(services: Callable[[], Services] = get_services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await front.start(services)  # the front's start too (shared/web/front.py): one of them runs
        yield

    app = FastAPI(
        title="Gruppstart",
        summary="Register interest in a self-help group; groups start when enough people share a theme.",
        version="1.0.0",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    app.add_middleware(BodyLimit)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable) -> Response:
        response: Response = await call_next(request)
        https = is_https(request, trust_proxy=not services().settings.dev_mode)
        for name, value in security.headers_for(https).items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(StorageUnavailable)
    async def storage_down(request: Request, exc: StorageUnavailable) -> Response:
        log.warning("storage unavailable: %s", exc)
        locale = locale_for(request)
        if request.url.path.startswith("/api/"):
            return error_json(503, "storage_unavailable", locale, headers={"Retry-After": "30"})
        return render_message(request, "unavailable_title", "unavailable_text", status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        from shared.web import api  # imported by then: the routes that validate are the API's

        return api.validation_error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        locale = locale_for(request)
        if not request.url.path.startswith("/api/") and exc.status_code in (400, 415):
            # A page posted something we cannot read: answer as a page, in the reader's language.
            text = "err_unsupported_type" if exc.status_code == 415 else "err_bad_request"
            return render_message(request, "errors_heading", text, status_code=exc.status_code)
        if request.url.path.startswith("/api/") or exc.status_code not in (404, 405):
            code = {
                401: "unauthorized",
                404: "not_found",
                413: "body_too_large",
                415: "unsupported_type",
            }.get(exc.status_code, "bad_request")
            return error_json(exc.status_code, code, locale, headers=getattr(exc, "headers", None))
        return render_message(request, "not_found_title", "err_not_found", status_code=exc.status_code)

    # A response model (inferred from a `-> dict` annotation) would have FastAPI build a pydantic
    # adapter and import pydantic.v1 to check for v1 models, when the app is built: the answer is fixed.
    @app.get("/healthz", include_in_schema=False, response_model=None)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    # The resident's pages first: FastAPI prepares an included router's routes when a request is first
    # matched against them, so the form, matched first, no longer pays for every other router's routes
    # on a new instance's first request. No path of one router is a path of another, so the order
    # changes no route's answer. Every router but the form's and the notices' is imported when a
    # request under its prefixes first arrives (shared/web/deferred.py): the JSON API's pydantic models,
    # the operators' and facilitators' pages and the webhooks are no part of a resident's first page.
    app.include_router(pages.router)
    app.include_router(notices.router)
    DeferredRouter("shared.web.api", ["/api"]).include_in(app)
    DeferredRouter("shared.web.admin.api", ["/api/admin"]).include_in(app)
    DeferredRouter("shared.web.admin.replies", ["/api/admin"]).include_in(app)
    DeferredRouter("shared.web.admin.pages", ["/manage"]).include_in(app)
    DeferredRouter("shared.web.running_groups", ["/running-groups", "/api/running-groups"]).include_in(app)
    DeferredRouter("shared.web.sms_webhooks", ["/api/sms"]).include_in(app)
    DeferredRouter("shared.web.facilitator", ["/f"]).include_in(app)
    app.mount(front.STATIC_PREFIX.rstrip("/"), StaticFiles(directory=front.STATIC), name="static")
    return app
