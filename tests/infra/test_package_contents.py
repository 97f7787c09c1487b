"""What Azure gets: the file list `infra/package.py --list` prints, read as deploy.sh builds it.

Nothing used only by `make dev` or the tests ships (shared/local: Azurite, the in-process host runner,
demo facilitators), and everything the entry point imports does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import PurePosixPath

import pytest

from tests.infra.conftest import ROOT
from tests.support.imports import MODULES, edges


@pytest.fixture(scope="module")
def listed() -> set[str]:
    done = subprocess.run(
        [sys.executable, "infra/package.py", "--list"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_no_development_or_test_code_ships(listed: set[str]) -> None:
    dev_only = sorted(p for p in listed if p.startswith(("shared/local/", "tests/", "bench/", "infra/", "docs/")))
    assert not dev_only, f"development-only files in the package: {dev_only}"
    assert not [p for p in listed if PurePosixPath(p).name.startswith(("test_", "conftest"))]


def test_every_module_the_entry_point_reaches_ships(listed: set[str]) -> None:
    graph = edges()
    reached, todo = set(), ["function_app"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])
    assert not [m for m in reached if m.startswith("shared.local")], "the deployed app must not need shared.local"
    paths = {str(MODULES[m].relative_to(ROOT)) for m in reached}
    missing = sorted(paths - listed)
    assert not missing, f"imported by function_app but left out of the package: {missing}"
    assert {"function_app.py", "host.json", "requirements.txt"} <= listed
    assert any(p.startswith("shared/templates/sms/") for p in listed)
    assert any(p.startswith("shared/locales/") for p in listed)
