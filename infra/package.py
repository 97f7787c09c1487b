#!/usr/bin/env python3
"""Build the app package that infra/deploy.sh publishes: a zip of the project without what
.funcignore names (tests, infra, bench, node_modules, virtual environments, caches...).

The Flex Consumption plan builds it remotely: requirements.txt is installed in Azure, so the
package carries source only. Standard library only.

    python3 infra/package.py --output /tmp/gruppstart.zip
    python3 infra/package.py --list          # what would go in, one path a line
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
# Needed by the Functions host and the remote build; the package is refused without them.
REQUIRED = ("function_app.py", "host.json", "requirements.txt")


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


def build(output: Path, root: Path = ROOT) -> list[PurePosixPath]:
    files = package_files(root)
    missing = [name for name in REQUIRED if PurePosixPath(name) not in files]
    if missing:
        raise SystemExit(f"error: the package would lack {', '.join(missing)}")
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in files:
            archive.write(root / relative, relative.as_posix())
    return files


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
