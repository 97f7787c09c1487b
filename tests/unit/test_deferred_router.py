"""DeferredRouter: a router's module imported when a request under its prefixes first arrives (issue 22).

Each test writes a small router module of its own into a temporary directory on sys.path, so whether
it has been imported is read from sys.modules, as the cold-start test reads the app's own modules.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.web.deferred import DeferredRouter

ROUTES = """
from fastapi import APIRouter

router = APIRouter(prefix="/staff")


@router.get("/list")
def staff_list() -> dict[str, str]:
    return {"served": "list"}


@router.post("/items/{item}")
def staff_item(item: int) -> dict[str, int]:
    return {"item": item}
"""


@pytest.fixture
def module(tmp_path: Path) -> Iterator[str]:
    name = f"deferred_probe_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(ROUTES), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


def app_with(router: DeferredRouter) -> FastAPI:
    app = FastAPI()

    @app.get("/")
    def form() -> dict[str, str]:
        return {"served": "form"}

    router.include_in(app)
    return app


def test_a_request_outside_the_prefixes_imports_nothing_and_one_under_them_is_served(module: str) -> None:
    client = TestClient(app_with(DeferredRouter(module, ["/staff"])))

    assert client.get("/").json() == {"served": "form"}
    assert client.get("/staffroom").status_code == 404  # outside "/staff": not a prefix at a segment boundary
    assert module in sys.modules  # ...but a 404 searches every router for a fallback, once
    sys.modules.pop(module)
    fresh = TestClient(app_with(DeferredRouter(module, ["/staff"])))
    assert fresh.get("/").status_code == 200
    assert module not in sys.modules

    assert fresh.get("/staff/list").json() == {"served": "list"}
    assert module in sys.modules
    # Served as if included when the app was built: path parameters validated, methods checked.
    assert fresh.post("/staff/items/7").json() == {"item": 7}
    assert fresh.post("/staff/items/seven").status_code == 422
    assert fresh.get("/staff/items/7").status_code == 405


def test_listing_the_routes_imports_them_and_shows_them_as_a_nested_include(module: str) -> None:
    app = app_with(DeferredRouter(module, ["/staff"]))
    assert module not in sys.modules

    paths = set(app.openapi()["paths"])

    assert paths == {"/", "/staff/list", "/staff/items/{item}"}
    assert module in sys.modules


def test_a_module_serving_a_path_outside_its_prefixes_is_refused_when_imported(module: str) -> None:
    app = app_with(DeferredRouter(module, ["/staff/list"]))  # /staff/items/... lies outside
    with pytest.raises(RuntimeError, match="outside its prefixes"):
        app.openapi()
