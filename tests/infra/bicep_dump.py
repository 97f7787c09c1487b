"""Parse Bicep files with pycep-parser and print the result as JSON; run by tests/infra under
.venv-infra/bin/python, the environment where checkov and the pycep-parser it pins live.

    .venv-infra/bin/python tests/infra/bicep_dump.py FILE...
    -> {"FILE": {"ok": true, "template": {...}} | {"ok": false, "error": "..."}, ...}
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

from pycep import BicepParser


def main(paths: list[str]) -> int:
    parser = BicepParser()
    result: dict[str, object] = {"_pycep_parser_version": version("pycep-parser")}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                template = parser.parse(text=handle.read())
            result[path] = {"ok": True, "template": template}
        except Exception as exc:  # every parse failure is reported, none raised
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            result[path] = {"ok": False, "error": f"{type(exc).__name__}: {first_line}"}
    json.dump(result, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
