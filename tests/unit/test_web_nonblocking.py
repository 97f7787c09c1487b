"""No request handler blocks the event loop (docs/architecture.md, "Blocking work and the event loop").

The rule: an `async def` in `shared/web` calls our storage, services or the SMS provider only through
`run_in_threadpool`; route handlers that do such work are plain `def`, which FastAPI runs in its
threadpool (a form body is read by an async dependency before the handler runs).

This walks the source of `shared/web` and finds what blocks:

- a method called on one of the composition root's I/O services (every field of `Services` but the
  in-memory ones: settings, organisation, templates, keyer), reached as an attribute
  (`services.intake.register(…)`), through a local or a parameter typed as one of their classes
  (`page: FacilitatorPage`), or through a helper that returns one (`ops(request) -> Operations`);
- a function of `shared.services` / `shared.adapters` handed one of those services (`insights(...)`);
- any function of `shared/web` that does one of these, transitively (`audit`, `identify`, …).

Then every `async def` in `shared/web` (handlers, dependencies, route wrappers, middleware, exception
handlers, lifespan) must make none of those calls except as the function handed to
`run_in_threadpool`. The walk is checked against the app itself: every route the app serves must be
one it examined, so a router it could not see fails the test instead of passing it.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "shared" / "web"
COMPOSITION = ROOT / "shared" / "composition.py"
# Services fields that are plain in-memory objects (no network, no disk after start).
IN_MEMORY = frozenset({"settings", "organisation", "templates", "keyer"})
HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "api_route"})
THREADPOOL = "run_in_threadpool"

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _io_services() -> tuple[frozenset[str], frozenset[str]]:
    """(attribute names, class names) of the composition root's I/O services, read from `Services`."""
    tree = ast.parse(COMPOSITION.read_text(encoding="utf-8"))
    [services] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Services"]
    attributes: set[str] = set()
    classes: set[str] = set()
    for node in services.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
            if name.startswith("_") or name in IN_MEMORY:
                continue
            attributes.add(name)
            classes |= {n.id for n in ast.walk(node.annotation) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.FunctionDef):
            attributes.add(node.name)  # ensure_ready: creates tables and queues
    classes -= {"Callable", "None"}
    return frozenset(attributes), frozenset(classes)


IO_ATTRIBUTES, IO_CLASSES = _io_services()


@dataclass
class Function:
    module: str
    node: FunctionNode
    qualname: str

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)

    @property
    def where(self) -> str:
        return f"{self.module}:{self.qualname} (line {self.node.lineno})"


@dataclass
class Module:
    name: str
    tree: ast.Module
    functions: dict[str, list[Function]] = field(default_factory=dict)  # by bare name, nested ones too
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  # local name -> (module, name)
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> module


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _modules() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    paths = sorted(WEB.rglob("*.py"))
    names = {_module_name(p) for p in paths} | {_module_name(p.parent) for p in paths}
    for path in paths:
        name = _module_name(path)
        module = Module(name, ast.parse(path.read_text(encoding="utf-8")))

        def collect(body: list[ast.stmt], prefix: str, module: Module = module) -> None:
            for node in body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    qualname = f"{prefix}{node.name}"
                    module.functions.setdefault(node.name, []).append(Function(module.name, node, qualname))
                    collect(node.body, f"{qualname}.<locals>.")
                elif isinstance(node, ast.ClassDef):
                    collect(node.body, f"{prefix}{node.name}.")
                elif isinstance(node, ast.If | ast.Try | ast.With):
                    collect(node.body, prefix)

        collect(module.tree.body, "")
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    local = alias.asname or alias.name
                    if f"{node.module}.{alias.name}" in names:  # a module: `from shared.web.admin import auth`
                        module.aliases[local] = f"{node.module}.{alias.name}"
                    module.imported[local] = (node.module, alias.name)
        modules[module.name] = module
    return modules


def _own_body(node: FunctionNode) -> Iterator[ast.AST]:
    """The function's nodes, without those of functions and classes defined inside it."""
    stack: list[ast.AST] = [*node.body, *node.args.defaults, *node.args.kw_defaults]  # type: ignore[list-item]
    while stack:
        current = stack.pop()
        if current is None:
            continue
        yield current
        for child in ast.iter_child_nodes(current):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                stack.append(child)


def _names_in(annotation: ast.expr | None) -> set[str]:
    if annotation is None:
        return set()
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    return {n.id for n in ast.walk(annotation) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(annotation) if isinstance(n, ast.Attribute)
    }


class Analysis:
    def __init__(self) -> None:
        self.modules = _modules()
        self.functions = [f for m in self.modules.values() for fs in m.functions.values() for f in fs]
        self.returns_io = {id(f.node) for f in self.functions if _names_in(f.node.returns) & IO_CLASSES}
        self.blocking: set[int] = set()
        changed = True
        while changed:  # to a fixed point: a function that calls a blocking one blocks
            changed = False
            for function in self.functions:
                if id(function.node) not in self.blocking and not function.is_async and self.calls(function):
                    self.blocking.add(id(function.node))
                    changed = True

    # resolving names

    def resolve(self, module: Module, func: ast.expr) -> list[Function]:
        """The functions of shared/web a call's callee may be (several for `self.method`)."""
        if isinstance(func, ast.Name):
            if func.id in module.functions:
                return module.functions[func.id]
            if func.id in module.imported:
                source, name = module.imported[func.id]
                if source in self.modules:
                    return self.modules[source].functions.get(name, [])
            return []
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id == "self":
                return [f for f in self.functions if f.node.name == func.attr and "." in f.qualname]
            target = module.aliases.get(func.value.id)
            if target in self.modules:
                return self.modules[target].functions.get(func.attr, [])
        return []

    def _io_locals(self, module: Module, function: Function) -> set[str]:
        node = function.node
        params = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        found = {a.arg for a in params if _names_in(a.annotation) & IO_CLASSES}
        for _ in range(2):  # a local bound from another such local
            for current in _own_body(node):
                if isinstance(current, ast.Assign) and self._is_io(module, current.value, found):
                    found |= {t.id for t in current.targets if isinstance(t, ast.Name)}
                elif isinstance(current, ast.NamedExpr) and self._is_io(module, current.value, found):
                    found.add(current.target.id)
        return found

    def _is_io(self, module: Module, expr: ast.expr, io_locals: set[str]) -> bool:
        """The expression is (evaluates to) one of the I/O services."""
        if isinstance(expr, ast.Attribute):
            return expr.attr in IO_ATTRIBUTES or self._is_io(module, expr.value, io_locals)
        if isinstance(expr, ast.Name):
            return expr.id in io_locals
        if isinstance(expr, ast.Call):
            if isinstance(expr.func, ast.Attribute) and expr.func.attr in IO_ATTRIBUTES:
                return True  # services.sign_in_limiter(): a factory of one
            return any(id(f.node) in self.returns_io for f in self.resolve(module, expr.func))
        if isinstance(expr, ast.IfExp):
            return self._is_io(module, expr.body, io_locals) or self._is_io(module, expr.orelse, io_locals)
        return False

    # what blocks

    def blocking_call(self, module: Module, call: ast.Call, io_locals: set[str]) -> bool:
        func = call.func
        if isinstance(func, ast.Name) and func.id == THREADPOOL:
            return False  # its first argument runs in a worker thread; the other arguments are checked on their own
        if isinstance(func, ast.Attribute) and self._is_io(module, func, io_locals):
            return True
        if isinstance(func, ast.Name) and func.id in module.imported and func.id[:1].islower():
            source, _ = module.imported[func.id]
            if source.startswith(("shared.services", "shared.adapters")):
                arguments = [*call.args, *(k.value for k in call.keywords)]
                if any(self._is_io(module, a, io_locals) for a in arguments):
                    return True
        return any(id(f.node) in self.blocking for f in self.resolve(module, func) if not f.is_async)

    def calls(self, function: Function) -> list[ast.Call]:
        """The blocking calls a function makes itself (not through run_in_threadpool)."""
        module = self.modules[function.module]
        io_locals = self._io_locals(module, function)
        return [
            n for n in _own_body(function.node) if isinstance(n, ast.Call) and self.blocking_call(module, n, io_locals)
        ]

    def handlers(self) -> list[Function]:
        """Functions decorated as routes: `@router.post(...)`, `@app.get(...)`."""
        found = []
        for function in self.functions:
            for decorator in function.node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr in HTTP_METHODS
                ):
                    found.append(function)
                    break
        return found

    def named(self, module: str, name: str) -> Function:
        [function] = self.modules[module].functions[name]
        return function


@cache
def analysis() -> Analysis:
    """The walk, made once on first use rather than at import: every xdist worker imports this module to
    collect its tests, and most run none of them."""
    return Analysis()


def _app_endpoints() -> list[Any]:
    """Every endpoint the app serves, included routers walked (their routes hide behind one entry)."""
    from shared.web.app import create_app

    endpoints: list[Any] = []

    def walk(routes: list[BaseRoute]) -> None:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                walk(original.routes)
            elif getattr(route, "endpoint", None) is not None:
                endpoint = route.endpoint  # type: ignore[attr-defined]
                if getattr(endpoint, "__module__", "").startswith("shared.web"):
                    endpoints.append(endpoint)

    walk(create_app(lambda: None).routes)  # type: ignore[arg-type,return-value]
    return endpoints


def test_the_walk_sees_every_route_the_app_serves() -> None:
    examined = {(f.module, f.qualname) for f in analysis().handlers()}
    served = {(e.__module__, e.__qualname__) for e in _app_endpoints()}
    assert len(served) >= 45, f"only {len(served)} routes found in the app: did routing change?"
    assert served <= examined, f"routes the walk did not examine: {sorted(served - examined)}"


def test_the_walk_finds_the_blocking_helpers_it_must_see() -> None:
    """The detector itself: helpers known to reach storage are found blocking, pure ones are not."""
    blocking = {
        ("shared.web.admin.auth", "audit"),  # services_of(request).audit.record(...)
        ("shared.web.admin.auth", "identify"),  # services.revoked_sessions.is_revoked(...)
        ("shared.web.common", "request_formation_everywhere"),  # services.intake.request_formation(...)
        ("shared.web.admin.facilitators", "_facilitator_or_404"),  # services_of(request).facilitators.get(...)
        ("shared.web.admin.groups", "_group_or_404"),  # ops(request).group(...), ops -> Operations
        ("shared.web.facilitator", "_roster"),  # page.visit(...), page: FacilitatorPage
        ("shared.web.admin.statistics_charts", "statistics_charts"),  # insights(services.statistics, ...)
        ("shared.web.form_page", "theme_choices"),  # services.intake.waiting_counts(), services a parameter
        ("shared.web.form_page", "form_html"),  # theme_choices(...), transitively
        ("shared.web.pages", "_form"),  # form_page.form_html(...), a module's function
    }
    pure = {
        ("shared.web.common", "page"),  # templates only
        ("shared.web.form_page", "page_html"),
        ("shared.web.common", "locale_for"),
        ("shared.web.common", "client_address"),
        ("shared.web.admin.rendering", "render"),
        ("shared.web.admin.rendering", "ops"),  # hands the service back, calls nothing on it
    }
    for module, name in blocking:
        assert id(analysis().named(module, name).node) in analysis().blocking, f"{module}.{name} not seen as blocking"
    for module, name in pure:
        assert id(analysis().named(module, name).node) not in analysis().blocking, f"{module}.{name} seen as blocking"


def test_no_async_function_in_the_web_layer_calls_blocking_code() -> None:
    asynchronous = [f for f in analysis().functions if f.is_async]
    handlers = analysis().handlers()
    # Handlers, dependencies, route wrappers, middleware, exception handlers, lifespan: all examined.
    assert len(asynchronous) >= 15, f"only {len(asynchronous)} async functions examined"
    assert len(handlers) >= 45, f"only {len(handlers)} route handlers examined"
    offences = [
        f"{f.where} calls {ast.unparse(call.func)}() on the event loop (line {call.lineno})"
        for f in asynchronous
        for call in analysis().calls(f)
    ]
    assert offences == []


def test_the_app_routes_that_work_are_plain_functions_run_in_the_threadpool() -> None:
    """The other side of the rule, from the running objects: each async endpoint is one the walk cleared."""
    cleared = {(f.module, f.qualname) for f in analysis().handlers() if f.is_async and not analysis().calls(f)}
    endpoints = _app_endpoints()
    asynchronous = [e for e in endpoints if inspect.iscoroutinefunction(e)]
    assert {(e.__module__, e.__qualname__) for e in asynchronous} <= cleared
    assert len(endpoints) >= 45
