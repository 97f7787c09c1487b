"""`make dev`'s view of the local SMS outbox: `/dev/outbox` (a page) and `/dev/outbox.json`.

Development only, so it lives in `shared/local/` (left out of the deployed package by .funcignore) and
only the dev runner mounts it (`dev_app`); the app built for Azure has no `/dev/` route at all. It
still answers 404 unless DEV_MODE is on and texts go to the local outbox, not to Twilio.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.adapters.sms.local import LocalMessage
from shared.composition import Services, get_services
from shared.web.app import create_app
from shared.web.common import services_of

router = APIRouter(include_in_schema=False)
_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _outbox(request: Request) -> list[LocalMessage]:
    services = services_of(request)
    messages = getattr(services.sender, "messages", None)
    if not services.settings.dev_mode or messages is None:
        raise HTTPException(404)
    return list(messages())


@router.get("/dev/outbox", response_class=HTMLResponse)
def dev_outbox(request: Request) -> HTMLResponse:
    return HTMLResponse(_PAGES.get_template("dev_outbox.html").render(messages=list(reversed(_outbox(request)))))


@router.get("/dev/outbox.json")
def dev_outbox_json(request: Request) -> JSONResponse:
    return JSONResponse(
        [{"sid": m.sid, "to": m.to, "body": m.body, "sent_at": m.sent_at.isoformat()} for m in _outbox(request)]
    )


def dev_app(services: Callable[[], Services] = get_services) -> FastAPI:
    """The app `make dev` serves: the deployed one, plus the outbox pages."""
    app = create_app(services)
    app.include_router(router)
    return app
