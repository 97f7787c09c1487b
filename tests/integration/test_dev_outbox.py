"""`/dev/outbox` belongs to `make dev` alone (issue 21.6): the app built for Azure (`create_app`, what
functions/http.py serves) has no `/dev/` route whatever DEV_MODE says, and the dev runner's app
(`shared/local/outbox_pages.dev_app`) shows the local outbox, escaped, only in DEV_MODE."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi.testclient import TestClient

from shared.composition import Services
from shared.local.outbox_pages import dev_app
from shared.web.app import create_app


def served(routes: Iterable[Any], prefix: str = "") -> list[str]:
    """Every path the app serves, included routers walked (the top level holds only their branches)."""
    found: list[str] = []
    for route in routes:
        branch = getattr(route, "original_router", None)
        if branch is not None:
            found += served(branch.routes, prefix + (getattr(route.include_context, "prefix", "") or ""))
        elif getattr(route, "path", ""):
            found.append(prefix + route.path)
    return found


def test_the_app_built_for_azure_serves_no_dev_route(make_services: Callable[..., Services]) -> None:
    for dev_mode in ("false", "true"):
        services = make_services(DEV_MODE=dev_mode)
        services.sender.send("+46701740699", "a text the outbox holds")
        app = create_app(lambda services=services: services)
        paths = served(app.routes)
        assert len(paths) >= 50  # the whole app was walked
        assert [p for p in paths if p == "/dev" or p.startswith("/dev/")] == []
        with TestClient(app) as web:
            assert web.get("/dev/outbox").status_code == 404
            assert web.get("/dev/outbox.json").status_code == 404


def test_make_dev_shows_the_outbox_escaped(services: Services) -> None:
    services.sender.send("+46701740699", "Kod 123456 <script>alert(1)</script>")
    with TestClient(dev_app(lambda: services)) as web:
        page = web.get("/dev/outbox")
        listed = web.get("/dev/outbox.json").json()
    assert page.status_code == 200
    assert "Kod 123456 &lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>" not in page.text
    assert [(m["to"], m["body"]) for m in listed] == [("+46701740699", "Kod 123456 <script>alert(1)</script>")]


def test_the_dev_runners_outbox_is_closed_outside_dev_mode(make_services: Callable[..., Services]) -> None:
    services = make_services(DEV_MODE="false")
    with TestClient(dev_app(lambda: services)) as web:
        assert web.get("/dev/outbox").status_code == 404
        assert web.get("/dev/outbox.json").status_code == 404
