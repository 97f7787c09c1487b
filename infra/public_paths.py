#!/usr/bin/env python3
"""Write infra/public-paths.json: the paths App Service Authentication leaves open, derived from the
web app's own routes, so a page added for residents, members or facilitators is never closed by a
forgotten list.

Only the operators' routes need an Entra ID sign-in: /manage and /api/admin (and /dev, which only
`make dev` serves). Every other route the app serves is excluded from the sign-in. main.bicep reads
the file with loadJsonContent('public-paths.json').

Why a generated list and not "everything but /manage": App Service Authentication's
globalValidation.excludedPaths has no negation; an entry is an exact path or a path ending in /*,
which covers everything below it (learn.microsoft.com/azure/app-service/configure-authentication-file-based,
and Microsoft's answer in github.com/MicrosoftDocs/azure-docs/issues/86514). Excluding /* would open
/manage too, so the open paths have to be listed: this script lists them from the app.

Needs the project's environment (it imports the app):

    .venv/bin/python infra/public_paths.py            # writes infra/public-paths.json
    .venv/bin/python infra/public_paths.py --check    # exit 1 when the file is not what the app serves
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
ROOT = INFRA.parent
PUBLIC_PATHS_FILE = INFRA / "public-paths.json"

# Route prefixes that stay behind the Entra ID sign-in when it is on (adminSignInClientId).
SIGNED_IN_PREFIXES = ("/manage", "/api/admin", "/dev")


def signed_in(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in SIGNED_IN_PREFIXES)


def route_paths(routes: Iterable[Any], prefix: str = "") -> Iterator[str]:
    """Every path template the app serves. FastAPI keeps an included router as a branch whose own
    path is empty (original_router holds its routes); a Mount serves everything below its path."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from route_paths(included.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif route.__class__.__name__ == "Mount":
            yield f"{prefix}{route.path}/{{path}}"
        elif getattr(route, "path", ""):
            yield prefix + route.path


def exclusion(path: str) -> str:
    """The excludedPaths entry covering a path template: exact up to its first {parameter}, then /*."""
    if "{" not in path:
        return path
    return path[: path.index("{")].rstrip("/") + "/*"


def public_paths(paths: Iterable[str]) -> list[str]:
    return sorted({exclusion(p) for p in paths if not signed_in(p)})


def app_routes() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from shared.web.app import create_app

    return list(route_paths(create_app().routes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    args = parser.parse_args(argv)
    text = json.dumps(public_paths(app_routes()), indent=2) + "\n"
    if args.check:
        if PUBLIC_PATHS_FILE.read_text(encoding="utf-8") != text:
            print(f"{PUBLIC_PATHS_FILE} is stale: run .venv/bin/python infra/public_paths.py", file=sys.stderr)
            return 1
        return 0
    PUBLIC_PATHS_FILE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
