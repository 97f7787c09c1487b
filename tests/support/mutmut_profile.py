"""Run mutmut with a named profile of `[tool.mutmut]`: `python -m tests.support.mutmut_profile storage run`.

mutmut 3.8 reads one configuration, `[tool.mutmut]` in pyproject.toml, and takes one test selection per
run. The storage rules (unit of work, rate limits, SMS budget, erasure, webhook signatures) are tested by
service tests on the in-memory twin, the core rules by unit tests; one selection for both would run
every service test against every mutant of the core. A profile `[tool.mutmut.<name>]` holds the keys
that differ; this lays them over `[tool.mutmut]` and hands the rest of the command line to mutmut.
mutmut ignores the nested table itself.
"""

from __future__ import annotations

import os
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def _fresh_enqueue_pool() -> None:
    """mutmut forks a worker per mutant from the process that ran the tests once. A thread pool made at
    import (services/outbox.py's enqueue pool) comes across the fork believing its threads exist, but a
    child has none: the first commit with texts waits for ever. Each child gets a pool of its own."""
    outbox = sys.modules.get("shared.services.outbox")
    if outbox is not None:
        outbox._POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="enqueue")  # type: ignore[attr-defined]


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: python -m tests.support.mutmut_profile PROFILE MUTMUT-ARGS...")
    name, *rest = argv
    base: dict[str, Any] = tomllib.loads(Path("pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]
    if not isinstance(base.get(name), dict):
        raise SystemExit(f"no [tool.mutmut.{name}] in pyproject.toml")
    settings = {**base, **base[name]}

    import mutmut.configuration as configuration

    os.register_at_fork(after_in_child=_fresh_enqueue_pool)

    # mutmut looks its settings up through this one reader (configuration._load_config).
    configuration._config_reader = lambda: settings.get  # type: ignore[assignment]
    from mutmut.__main__ import cli

    # `run` without mutant names tries the profile's `mutants` globs only.
    if rest[:1] == ["run"] and not [arg for arg in rest[1:] if not arg.startswith("-") and not arg.isdigit()]:
        rest += settings.get("mutants", [])
    sys.argv = ["mutmut", *rest]
    cli()


if __name__ == "__main__":
    main(sys.argv[1:])
