"""Routers imported when their routes are first needed, not when the app is built (issue 22).

A new instance's first request is almost always a resident's form page, and every millisecond of CPU
before it is paid on each scale-out (a 512 MB Flex instance is a quarter of a core). The operators'
pages and API and the facilitators' pages are a fifth of the app's own import time and no resident
needs them, so the app includes a `DeferredRouter` in their place: an ordinary FastAPI router whose
routes are the module's, imported the first time anything reads them.

What reads them:
- a request under one of the router's path prefixes (`/manage`, `/api/admin`, `/f`): the routes are
  imported and matched as if they had been included at build time, in the same position;
- a request no route matches (a 404 walks every router for a fallback route), once per process;
- anything that lists the app's routes: the OpenAPI document, `infra/public_paths.py`, the tests'
  walks. They see the module's router included below this one, as FastAPI shows any nested include.

A request outside the prefixes (the form, the API, the webhooks) is answered "no match" without the
import, which is what the routes would have answered: the first import checks that every route the
module serves lies under the prefixes given, and refuses to serve otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import import_module
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Match
from starlette.types import Scope


class DeferredRouter(APIRouter):
    def __init__(self, module: str, prefixes: Sequence[str]) -> None:
        self.module = module
        self.prefixes = tuple(prefixes)
        self._load_lock = threading.Lock()
        self._imported: list[BaseRoute] | None = None
        self._including = False
        super().__init__()

    # Starlette's Router keeps its routes in a plain attribute; here reading it imports the module.
    @property  # type: ignore[override]
    def routes(self) -> list[BaseRoute]:
        if self._imported is None:
            if self._including:  # FastAPI reads the routes while including: nothing imported yet
                return self._placeholder
            self._import()
        assert self._imported is not None
        return self._imported

    @routes.setter
    def routes(self, value: list[BaseRoute]) -> None:  # Router.__init__ sets the empty list
        self._placeholder = value

    @property
    def imported(self) -> bool:
        return self._imported is not None

    def under_prefixes(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self._imported is None and not self.under_prefixes(_route_path(scope)):
            return Match.NONE, {}
        return super().matches(scope)

    def include_in(self, app: FastAPI) -> None:
        self._including = True
        try:
            app.include_router(self)
        finally:
            self._including = False

    def _import(self) -> None:
        with self._load_lock:
            if self._imported is not None:
                return
            router: APIRouter = import_module(self.module).router
            holder = APIRouter()  # the module's router included below one with every default, as before
            holder.include_router(router)
            outside = [p for p in _paths(router.routes) if not self.under_prefixes(p)]
            if outside:
                raise RuntimeError(f"{self.module} serves {outside} outside its prefixes {self.prefixes}")
            if router.on_startup or router.on_shutdown:  # the app started long ago: they would never run
                raise RuntimeError(f"{self.module} has startup or shutdown handlers: include it when the app is built")
            self._imported = holder.routes
            # An include caches its resolved routes per version of the routes: count this as a change.
            self._mark_routes_changed()


def _route_path(scope: Scope) -> str:
    """The path routes match against: the request's path without the app's root_path (as Starlette's
    routing strips it: only at a segment boundary)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


def _paths(routes: Sequence[Any]) -> list[str]:
    found: list[str] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += [getattr(route.include_context, "prefix", "") + p for p in _paths(inner.routes)]
        else:
            found.append(getattr(route, "path", ""))
    return found
