"""`shared/composition.py` is the only place adapters and the clock are built (issue 21.1).

An AST walk of `shared/`: every class defined in `shared/adapters/**` that holds a client or a port (not
an exception, enum, protocol or plain record) is constructed only in `shared/composition.py` and inside
`shared/adapters/` itself; services and the web layer never name the storage account; no service or
adapter defaults its clock. A planted breach in a temporary copy of the package shows each check can fail.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Bases and decorators that make a class a value, not an adapter: raising or comparing one builds nothing.
VALUE_BASES = {"Exception", "RuntimeError", "StrEnum", "Enum", "Protocol", "NamedTuple"}


@dataclass(frozen=True)
class Site:
    path: str
    line: int
    adapter: str


def _bases(node: ast.ClassDef) -> set[str]:
    return {ast.unparse(b).split(".")[-1] for b in node.bases}


def adapter_classes(root: Path) -> set[str]:
    """Classes of shared/adapters/** that are adapters: not exceptions (nor subclasses of our own),
    enums, protocols, named tuples or dataclasses."""
    classes: dict[str, ast.ClassDef] = {}
    for path in sorted((root / "shared" / "adapters").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                classes[node.name] = node

    def is_value(name: str, seen: frozenset[str] = frozenset()) -> bool:
        node = classes[name]
        decorators = {ast.unparse(d).split("(")[0].split(".")[-1] for d in node.decorator_list}
        if "dataclass" in decorators:
            return True
        return any(
            b in VALUE_BASES or (b in classes and b not in seen and is_value(b, seen | {name})) for b in _bases(node)
        )

    return {name for name in classes if not is_value(name)}


def construction_sites(root: Path, adapters: set[str]) -> tuple[list[Site], int]:
    """Every call in shared/ that builds an adapter, by its class (under any alias) or a classmethod of it
    (`RateLimiter.of(...)`, `StorageAccount.from_settings(...)`); and how many files were read."""
    sites: list[Site] = []
    files = sorted((root / "shared").rglob("*.py"))
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a: a for a in adapters}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in adapters and alias.asname:
                        names[alias.asname] = alias.name
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func, built = node.func, None
            if isinstance(func, ast.Name):
                built = names.get(func.id)
            elif isinstance(func, ast.Attribute):
                if func.attr in adapters:  # module.Class(...)
                    built = func.attr
                else:  # Class.of(...), Class.from_settings(...)
                    owner = func.value
                    if isinstance(owner, ast.Name) and owner.id in names and not func.attr.startswith("_"):
                        built = names[owner.id]
            if built is not None:
                sites.append(Site(rel, node.lineno, built))
    return sites, len(files)


def breaches(root: Path) -> list[Site]:
    sites, _ = construction_sites(root, adapter_classes(root))
    return [s for s in sites if not (s.path == "shared/composition.py" or s.path.startswith("shared/adapters/"))]


def test_the_adapters_are_found_and_the_composition_root_builds_them() -> None:
    adapters = adapter_classes(ROOT)
    # The ports services receive, and the clients under them: the walk must know them all as adapters.
    ports = {
        "StorageAccount",
        "InterestsTable",
        "Queues",
        "ProviderCopies",
        "AuditLog",
        "RevokedSessions",
        "RateLimiter",
        "OncePerWindow",
        "RateLimitRows",
        "ReplyLog",
        "ReplyCounters",
        "FacilitatorTable",
        "PhoneKeyMigration",
        "Templates",
        "SendRate",
        "MeteredSender",
        "CopyKeepingSender",
        "TwilioSender",
        "LocalOutboxSender",
    }
    assert ports <= adapters, ports - adapters
    assert not {"RateLimited", "StorageUnavailable", "SendRateBusy", "Lane", "SmsSender", "SentMessage"} & adapters

    sites, files = construction_sites(ROOT, adapters)
    assert files > 100  # the whole package was read, not an empty directory
    in_root = [s for s in sites if s.path == "shared/composition.py"]
    # Every port above is built there (the storage account via `from_settings`), once or more each: 21
    # construction sites when this was written; the adapters build a few of their own (inner clients).
    assert {s.adapter for s in in_root} >= ports, ports - {s.adapter for s in in_root}
    assert len(in_root) >= len(ports), len(in_root)
    assert len(sites) > len(in_root)


def test_no_adapter_is_built_outside_the_composition_root_and_the_adapters() -> None:
    assert breaches(ROOT) == []


def test_a_planted_construction_is_found(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "shared", copy / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    statistics = copy / "shared" / "services" / "statistics.py"
    statistics.write_text(
        statistics.read_text(encoding="utf-8")
        + "\n\nfrom shared.adapters.interests import InterestsTable as _Table\n"
        + "from shared.adapters.ratelimit import RateLimiter\n\n\n"
        + "def _planted(storage, clock):\n"
        + "    return _Table(storage), RateLimiter.of(storage, clock)\n",
        encoding="utf-8",
    )
    found = breaches(copy)
    assert [(s.path, s.adapter) for s in found] == [
        ("shared/services/statistics.py", "InterestsTable"),
        ("shared/services/statistics.py", "RateLimiter"),
    ]


def storage_account_users(root: Path) -> list[str]:
    """Modules of services and the web layer that import the storage account (they get ports instead)."""
    found = []
    for layer in ("services", "web"):
        for path in sorted((root / "shared" / layer).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and any(a.name == "StorageAccount" for a in node.names):
                    found.append(path.relative_to(root).as_posix())
    return found


def test_services_and_the_web_layer_never_hold_the_storage_account(tmp_path: Path) -> None:
    assert storage_account_users(ROOT) == []

    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "shared", copy / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    needs = copy / "shared" / "services" / "needs.py"
    needs.write_text(
        needs.read_text(encoding="utf-8") + "\nfrom shared.adapters.storage import StorageAccount\n", encoding="utf-8"
    )
    assert storage_account_users(copy) == ["shared/services/needs.py"]


def defaulted_clocks(root: Path) -> tuple[list[str], int]:
    """Wall clocks (`clock: Callable[[], datetime]`) that have a default, in services and adapters; and how
    many wall clocks there were. Monotonic clocks of pacing (`Callable[[], float]`) are not the time."""
    found, seen = [], 0
    for layer in ("services", "adapters"):
        for path in sorted((root / "shared" / layer).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.FunctionDef):
                    continue
                args = node.args
                positional = args.posonlyargs + args.args
                # Defaults belong to the last positional parameters; a keyword-only one without has None.
                defaulted = [a.arg for a in positional][len(positional) - len(args.defaults) :]
                defaulted += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
                for arg in (*positional, *args.kwonlyargs):
                    if arg.arg == "clock" and "datetime" in ast.unparse(arg.annotation or ast.Constant(None)):
                        seen += 1
                        if arg.arg in defaulted:
                            found.append(f"{path.relative_to(root).as_posix()}:{node.lineno} {node.name}")
    return found, seen


def test_no_service_or_adapter_falls_back_to_a_clock_of_its_own() -> None:
    found, seen = defaulted_clocks(ROOT)
    assert seen >= 20, seen  # every service and clocked adapter takes one
    assert found == []
