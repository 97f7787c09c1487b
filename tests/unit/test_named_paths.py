"""Every repository path the documentation and the code's comments name exists (issue 21.6).

Read: README.md, infra/README.md and docs/*.md (paths as written there, also relative to `shared/`,
`shared/web`, `shared/adapters` or the document's own folder, as the layer tables write them), and the
Python of shared/, functions/, bench/, tests/ and function_app.py (paths from the repository's root).
`python -m <module>` must name a module that runs. Nothing may point at a file outside the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.imports import ROOT

DOCS = [ROOT / "README.md", ROOT / "infra" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = sorted(
    p
    for p in [
        *ROOT.glob("shared/**/*.py"),
        *ROOT.glob("functions/**/*.py"),
        *ROOT.glob("bench/**/*.py"),
        ROOT / "function_app.py",
        *ROOT.glob("tests/**/*.py"),
    ]
    if "__pycache__" not in p.parts
)
TOP = ("shared", "functions", "tests", "infra", "bench", "docs", ".ci")
# Folders the documents name relative to a layer (`core/codes.py`, `sms/`, `admin/`).
INNER = ("core", "adapters", "services", "web", "local", "templates", "locales", "static", "sms", "admin", "modules")
# Written by azd's preprovision hook from the municipality file, never committed (infra/README.md).
# Written into the app package by infra/package.py (the web pages' Jinja bytecode), never committed.
GENERATED = {"infra/main.parameters.json", "shared/templates/compiled/"}

_PATH = r"(?<![\w/.:-])((?:{first})/(?:[\w.-]+/)*[\w.-]*)(?![\w/\\*{{<])"
DOC_PATH = re.compile(_PATH.format(first="|".join(re.escape(t) for t in (*TOP, *INNER))))
CODE_PATH = re.compile(_PATH.format(first="|".join(re.escape(t) for t in TOP)))
RUN_MODULE = re.compile(r"python -m ([\w.]+)")
URL = re.compile(r"https?://\S+")


def _exists(named: str, bases: list[Path]) -> bool:
    named = named.rstrip(".")
    if named in GENERATED:
        return True
    for base in bases:
        if (base / named).exists():
            return True
        stem, dot, _attr = named.rpartition(".")  # `core/facilitators.refusal`: a name inside a module
        if dot and "/" in stem and (base / f"{stem}.py").exists():
            return True
    return False


def _runs(module: str) -> bool:
    """A package with a `__main__.py`, or a module with a `__main__` block."""
    as_path = ROOT / module.replace(".", "/")
    script = as_path.with_suffix(".py")
    if script.exists():
        return '__name__ == "__main__"' in script.read_text(encoding="utf-8")
    return (as_path / "__main__.py").exists()


def _read(path: Path) -> str:
    return URL.sub("", path.read_text(encoding="utf-8"))


def test_every_path_the_documents_name_exists() -> None:
    checked = 0
    missing: list[str] = []
    for doc in DOCS:
        bases = [ROOT, ROOT / "shared", ROOT / "shared" / "web", ROOT / "shared" / "adapters", doc.parent]
        for match in DOC_PATH.finditer(_read(doc)):
            checked += 1
            if not _exists(match.group(1), bases):
                missing.append(f"{doc.relative_to(ROOT)}: {match.group(1)}")
    assert len(DOCS) >= 4
    assert checked >= 100  # the three kinds of document name well over a hundred paths
    assert missing == []


def test_every_path_the_code_names_exists() -> None:
    checked = 0
    missing: list[str] = []
    for source in CODE:
        for match in CODE_PATH.finditer(_read(source)):
            checked += 1
            if not _exists(match.group(1), [ROOT]):
                missing.append(f"{source.relative_to(ROOT)}: {match.group(1)}")
    assert len(CODE) >= 200
    assert checked >= 100
    assert missing == []


def test_every_command_named_runs_a_module_that_exists() -> None:
    named = [(p, m.group(1)) for p in [*DOCS, *CODE] for m in RUN_MODULE.finditer(_read(p))]
    named = [(p, module) for p, module in named if module.split(".")[0] in TOP]
    assert len(named) >= 3
    assert [f"{p.relative_to(ROOT)}: {module}" for p, module in named if not _runs(module)] == []


def test_nothing_points_outside_the_repository() -> None:
    outside = [
        str(p.relative_to(ROOT))
        for p in [*DOCS, *CODE]
        if p.name != "test_named_paths.py" and re.search(r"\bARCHITECTURE\.md|\.\./shared/", _read(p))
    ]
    assert outside == []
