#!/usr/bin/env python3
"""Build the app package that infra/deploy.sh publishes: a zip of the project without what
.funcignore names (tests, infra, bench, node_modules, virtual environments, caches...).

The Flex Consumption plan builds it remotely: requirements.txt is installed in Azure, so the
package carries our code only: each module's source and, when this runs on the runtime's Python,
its bytecode. Flex Consumption runs the app from the package, mounted read-only
(https://learn.microsoft.com/azure/azure-functions/run-functions-from-deployment-package: "Function
apps on the Flex Consumption hosting plan run from a package by default";
https://learn.microsoft.com/azure/app-service/deploy-run-package: "the ZIP package itself gets
mounted directly as the read-only wwwroot directory"), so the worker cannot write __pycache__ beside
our modules and would compile every one of them again on every cold start (issue 22.1). The bytecode
is "unchecked-hash" pyc (PEP 552): Python loads it without comparing it with the source's mtime,
which a zip does not keep, and source and bytecode ship together, so they cannot differ. Standard
library only.

    python3 infra/package.py --output /tmp/gruppstart.zip
    python3 infra/package.py --list          # what would go in, one path a line
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import os
import py_compile
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
# Needed by the Functions host and the remote build; the package is refused without them.
REQUIRED = ("function_app.py", "host.json", "requirements.txt")
# The Python the app runs on in Azure (infra/modules/functionapp.bicep, pythonVersion): bytecode is
# specific to one version, so it is compiled only by that version.
RUNTIME_PYTHON = (3, 11)


def read_patterns(root: Path = ROOT) -> list[str]:
    path = root / ".funcignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def ignored(relative: PurePosixPath, is_dir: bool, patterns: list[str]) -> bool:
    """gitignore-style matching, enough for .funcignore: no negation, ** not needed."""
    for raw in patterns:
        pattern = raw
        dir_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        if dir_only and not is_dir:
            continue
        if pattern.startswith("/") or "/" in pattern:
            if fnmatch.fnmatchcase(relative.as_posix(), pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(relative.name, pattern):
            return True
    return False


def package_files(root: Path = ROOT, patterns: list[str] | None = None) -> list[PurePosixPath]:
    patterns = read_patterns(root) if patterns is None else patterns
    found: list[PurePosixPath] = []
    for current, dirs, files in os.walk(root):
        here = PurePosixPath(Path(current).relative_to(root).as_posix())
        dirs[:] = sorted(d for d in dirs if not ignored(here / d if here.parts else PurePosixPath(d), True, patterns))
        for name in sorted(files):
            relative = here / name if here.parts else PurePosixPath(name)
            if not ignored(relative, False, patterns):
                found.append(relative)
    return found


def compiles_bytecode() -> bool:
    return sys.version_info[:2] == RUNTIME_PYTHON


def bytecode_path(relative: PurePosixPath) -> PurePosixPath:
    """Where the runtime's import system looks for a module's bytecode: __pycache__/NAME.cpython-311.pyc."""
    return PurePosixPath(importlib.util.cache_from_source(relative.as_posix()))


# The web pages' Jinja bytecode (shared/adapters/templates.py, ShippedBytecode), where the app looks for it.
COMPILED_PAGES = PurePosixPath("shared/templates/compiled")


def compiled_pages(root: Path, into: Path) -> list[Path]:
    """The web pages compiled by Jinja, by this Python with the app's own environment (a child process: this
    script imports nothing of the app). None when that cannot run here (Jinja not installed): then the app
    compiles each page on an instance's first use of it, as before."""
    code = "import sys; from pathlib import Path; from shared.adapters.templates import compile_pages; "
    code += "print(compile_pages(Path(sys.argv[1])))"
    done = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code, str(into)], cwd=root, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(f"warning: web pages not precompiled ({done.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return []
    return sorted(into.glob("*.jinja"))


def build(output: Path, root: Path = ROOT) -> list[PurePosixPath]:
    files = package_files(root)
    missing = [name for name in REQUIRED if PurePosixPath(name) not in files]
    if missing:
        raise SystemExit(f"error: the package would lack {', '.join(missing)}")
    if not compiles_bytecode():
        wanted = ".".join(map(str, RUNTIME_PYTHON))
        print(f"warning: Python {sys.version.split()[0]} is not the runtime's {wanted}: source only", file=sys.stderr)
    written = list(files)
    with (
        zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for relative in files:
            archive.write(root / relative, relative.as_posix())
            if relative.suffix == ".py" and compiles_bytecode():
                compiled = Path(tmp) / "module.pyc"
                py_compile.compile(
                    str(root / relative),
                    cfile=str(compiled),
                    dfile=relative.as_posix(),  # tracebacks name the module's path in the app, not this machine's
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
                archive.write(compiled, bytecode_path(relative).as_posix())
                written.append(bytecode_path(relative))
        if compiles_bytecode():  # Jinja's bytecode is marshalled Python code too: the runtime's version only
            for page in compiled_pages(root, Path(tmp) / "pages"):
                archive.write(page, (COMPILED_PAGES / page.name).as_posix())
                written.append(COMPILED_PAGES / page.name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--output", type=Path, help="the zip file to write")
    group.add_argument("--list", action="store_true", help="print the files that would go in")
    args = parser.parse_args(argv)
    if args.list:
        for relative in package_files():
            print(relative)
        return 0
    files = build(args.output)
    print(f"{args.output}: {len(files)} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
