"""The deployed build is reproducible: requirements.txt (what Azure's remote build installs) is
compiled with hashes from requirements.in, the two agree, and everything the deployed code
imports is in the lock. pip turns on hash-checking mode by itself when a requirements file has
hashes, so Azure installs exactly these files or fails
(https://pip.pypa.io/en/stable/topics/secure-installs/#hash-checking-mode)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.infra.conftest import ROOT

IN, TXT, DEV = ROOT / "requirements.in", ROOT / "requirements.txt", ROOT / "requirements-dev.txt"
# Deployed code (what .funcignore lets through), without the make-dev-only helpers.
DEPLOYED = [
    ROOT / "function_app.py",
    *sorted((ROOT / "functions").rglob("*.py")),
    *sorted((ROOT / "shared").rglob("*.py")),
]
NOT_DEPLOYED_TO_RUN = ("shared/local/",)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def requirements_in(path: Path = IN) -> dict[str, Requirement]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def lock(path: Path = TXT) -> dict[str, dict[str, object]]:
    """{name: {"version": ..., "hashes": [...], "via": [...]}} from a pip-compile output."""
    entries: dict[str, dict[str, object]] = {}
    current: dict[str, object] | None = None
    in_via = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if match := PIN.match(raw):
            current = {"version": match.group(2), "hashes": [], "via": []}
            entries[canonicalize_name(match.group(1))] = current
            in_via = False
        elif current is not None and line.startswith("--hash=sha256:"):
            current["hashes"].append(line.split(":", 1)[1].rstrip(" \\"))  # type: ignore[attr-defined]
        elif current is not None and line.startswith("# via"):
            in_via = True
            rest = line[len("# via") :].strip()
            if rest:
                current["via"].append(rest)  # type: ignore[attr-defined]
        elif current is not None and in_via and line.startswith("#   "):
            current["via"].append(line[4:].strip())  # type: ignore[attr-defined]
        elif raw and not raw.startswith((" ", "#")):
            raise AssertionError(f"requirements.txt: not an exact pin: {raw!r}")
    return entries


@pytest.fixture(scope="module")
def pins() -> dict[str, dict[str, object]]:
    return lock()


def range_problems(direct: dict[str, Requirement], pins: dict[str, dict[str, object]]) -> list[str]:
    problems = []
    for name, requirement in direct.items():
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{name}: in requirements.in, not in requirements.txt")
        elif not requirement.specifier.contains(str(pin["version"]), prereleases=True):
            problems.append(f"{name}=={pin['version']} is outside requirements.in's {requirement.specifier}")
        elif "-r requirements.in" not in pin["via"]:  # type: ignore[operator]
            problems.append(f"{name}: requirements.txt does not say it comes from requirements.in")
    return problems


def hash_problems(direct: dict[str, Requirement], pins: dict[str, dict[str, object]]) -> list[str]:
    problems = []
    for name, pin in pins.items():
        if not pin["hashes"]:
            problems.append(f"{name}: no --hash")
        via = [canonicalize_name(v) for v in pin["via"] if not str(v).startswith("-r ")]  # type: ignore[attr-defined]
        if name not in direct and not via:
            problems.append(f"{name}: neither in requirements.in nor required by a pinned package")
        if name in direct and "-r requirements.in" not in pin["via"]:  # type: ignore[operator]
            problems.append(f"{name}: in requirements.in but the lock says otherwise")
        problems += [f"{name}: required by {v}, which is not pinned" for v in via if v not in pins]
        if name not in direct and "-r requirements.in" in pin["via"]:  # type: ignore[operator]
            problems.append(f"{name}: the lock says requirements.in names it; it does not")
    return problems


def test_every_direct_requirement_is_pinned_within_its_range(pins: dict[str, dict[str, object]]) -> None:
    problems = range_problems(requirements_in(), pins)
    assert not problems, "requirements.txt is stale; run `make lock`:\n" + "\n".join(problems)


def test_every_pin_is_hashed_and_needed(pins: dict[str, dict[str, object]]) -> None:
    problems = hash_problems(requirements_in(), pins)
    assert not problems, "requirements.txt and requirements.in disagree; run `make lock`:\n" + "\n".join(problems)


def test_the_lock_is_pip_compile_output_from_requirements_in() -> None:
    lines = TXT.read_text(encoding="utf-8").splitlines()
    header = [line for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))]]
    command = next(line for line in header if line.lstrip("# ").startswith("pip-compile "))
    assert "--generate-hashes" in command and command.rstrip().endswith(" requirements.in"), command


def third_party_imports(paths: list[Path]) -> dict[str, set[str]]:
    local = {"shared", "functions", "function_app"}
    found: dict[str, set[str]] = {}
    for path in paths:
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(NOT_DEPLOYED_TO_RUN):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in local and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(relative)
    return found


def unlocked_imports(paths: list[Path], pins: dict[str, dict[str, object]]) -> list[str]:
    distributions = packages_distributions()
    missing = []
    for module, where in sorted(third_party_imports(paths).items()):
        names = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not names:
            missing.append(f"{module} (imported in {sorted(where)[0]}): no installed distribution provides it")
        elif not names & set(pins):
            missing.append(f"{module} ({', '.join(sorted(names))}, imported in {sorted(where)[0]})")
    return missing


def test_everything_the_deployed_code_imports_is_locked(pins: dict[str, dict[str, object]]) -> None:
    """A module imported in Azure but missing from requirements.txt fails there, at import."""
    missing = unlocked_imports(DEPLOYED, pins)
    assert not missing, "imported by deployed code, not in requirements.txt:\n" + "\n".join(missing)


def test_the_checks_can_fail(tmp_path: Path, pins: dict[str, dict[str, object]]) -> None:
    """Each check, fed a broken lock, names what is wrong: the checks themselves, not only the parser."""
    wanted = tmp_path / "requirements.in"
    wanted.write_text("jinja2>=3.1.6\nfastapi>=0.115\n", encoding="utf-8")
    stale = tmp_path / "requirements.txt"
    stale.write_text(
        "#\n# pip-compile --generate-hashes requirements.in\n#\n\n"
        "jinja2==3.1.2 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via -r requirements.in\n"
        "stray==1.0\n    # via nothing-pinned\n",
        encoding="utf-8",
    )
    direct, entries = requirements_in(wanted), lock(stale)
    assert range_problems(direct, entries) == [
        "jinja2==3.1.2 is outside requirements.in's >=3.1.6",
        "fastapi: in requirements.in, not in requirements.txt",
    ]
    assert hash_problems(direct, entries) == [
        "stray: no --hash",
        "stray: required by nothing-pinned, which is not pinned",
    ]
    with pytest.raises(AssertionError, match="not an exact pin"):
        (tmp_path / "loose.txt").write_text("fastapi>=0.115\n", encoding="utf-8")
        lock(tmp_path / "loose.txt")
    module = ROOT / "shared" / "core" / "phone.py"  # a deployed module that imports phonenumbers
    assert unlocked_imports([module], pins) == []
    without = {name: pin for name, pin in pins.items() if name != "phonenumbers"}
    assert unlocked_imports([module], without) == [
        f"phonenumbers (phonenumbers, imported in {module.relative_to(ROOT).as_posix()})"
    ]


def test_the_development_install_is_a_separate_step() -> None:
    """pip's hash-checking mode wants every requirement of one install hashed: the unhashed
    development tools must not pull requirements.txt into their install."""
    dev = DEV.read_text(encoding="utf-8")
    assert "-r requirements.txt" not in dev and "--hash" not in dev
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes --no-deps -r requirements.txt" in makefile
    assert "-r requirements-dev.txt" in makefile
