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


def test_the_package_ships_valid_bytecode_for_every_module(tmp_path) -> None:
    """The package is mounted read-only in Azure, so the worker could not cache bytecode beside our modules:
    each .py ships with an unchecked-hash pyc (PEP 552) where the runtime's import system looks for it,
    compiled from that very source by the runtime's Python version."""
    import importlib.util
    import marshal
    import re
    import zipfile

    output = tmp_path / "app.zip"
    done = subprocess.run(
        [sys.executable, "infra/package.py", "--output", str(output)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # The version it compiles for is the one the Bicep deploys (a pyc of another version is ignored).
    bicep = (ROOT / "infra" / "modules" / "functionapp.bicep").read_text(encoding="utf-8")
    deployed = re.search(r"param pythonVersion string = '(\d+)\.(\d+)'", bicep)
    assert deployed and sys.version_info[:2] == (int(deployed[1]), int(deployed[2])), (
        "run the tests on the runtime's Python"
    )

    with zipfile.ZipFile(output) as archive:
        names = set(archive.namelist())
        sources = sorted(n for n in names if n.endswith(".py"))
        compiled = sorted(n for n in names if n.endswith(".pyc"))
        assert len(sources) >= 100 and len(compiled) == len(sources)
        for source in sources:
            where = PurePosixPath(source)
            pyc = (where.parent / "__pycache__" / f"{where.stem}.{sys.implementation.cache_tag}.pyc").as_posix()
            assert pyc in names, f"{source} ships without bytecode"
            data, text = archive.read(pyc), archive.read(source)
            assert data[:4] == importlib.util.MAGIC_NUMBER, pyc
            assert int.from_bytes(data[4:8], "little") == 0b01, pyc  # hash-based, source not checked at import
            assert data[8:16] == importlib.util.source_hash(text), f"{pyc} is not {source}'s bytecode"
            code = marshal.loads(data[16:])  # noqa: S302 - our own package, just built
            assert code.co_filename == source  # tracebacks name the app's path, not the build machine's
        # The web pages' Jinja bytecode, one entry per page, where the app's ShippedBytecode reads it.
        pages = [n for n in names if n.startswith("shared/templates/web/") and n.endswith(".html")]
        shipped = [n for n in names if n.startswith("shared/templates/compiled/") and n.endswith(".jinja")]
        assert len(pages) >= 20 and len(shipped) == len(pages)
