"""The composition root builds what the form does not need on first use, each once (issue 22.1).

`build_services` builds the form's path (intake and its ports) at once and registers a factory for every
other member of `Services`; these tests read each of those members over the in-memory account and show
it is built, built once per set of services (also when threads race for it), and replaceable by a test.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from shared.composition import Services, _OnFirstUse, build_services
from shared.local.memory import MemoryAccount
from shared.settings import Settings
from tests.conftest import municipality
from tests.support.keys import TEST_PHONE_KEY_SECRET

# Written out, not read from the class: a member dropped from the list below, or added to the class
# without a factory, fails here.
ON_FIRST_USE = {
    "facilitators",
    "formation",
    "notifier",
    "operations",
    "lifecycle",
    "retention",
    "audit",
    "revoked_sessions",
    "replies",
    "stop_requests",
    "reply_log",
    "rekey",
    "needs",
    "running_groups",
    "group_life",
    "facilitator_links",
    "facilitator_page",
}


def _services(**env: Any) -> Services:
    settings = Settings(  # type: ignore[call-arg]
        AzureWebJobsStorage="UseDevelopmentStorage=true",
        ORGANISATION_CONFIG=json.dumps(municipality("region-jonkoping")["organisation"]),
        DEV_MODE="true",
        PHONE_KEY_SECRET=TEST_PHONE_KEY_SECRET,
        **env,
    )
    return build_services(settings, storage=MemoryAccount())


def test_every_member_left_to_first_use_has_a_factory_and_is_built_once() -> None:
    declared = {name for name, value in vars(Services).items() if isinstance(value, _OnFirstUse)}
    assert declared == ON_FIRST_USE
    services = _services()
    assert set(services._factories) == ON_FIRST_USE
    assert not ON_FIRST_USE & set(vars(services))  # nothing of them built with the form's path
    first = {name: getattr(services, name) for name in sorted(ON_FIRST_USE)}
    assert first["facilitator_page"] is not None and first["facilitator_links"] is not None  # DEV_MODE signs links
    assert first["facilitator_page"].links is first["facilitator_links"]
    assert all(getattr(services, name) is first[name] for name in ON_FIRST_USE)
    # Shared members are the same object in every service that holds them, as when built eagerly.
    assert first["formation"]._facilitators is first["facilitators"]  # type: ignore[attr-defined]


def test_threads_racing_for_a_member_get_one_object() -> None:
    services = _services()
    seen: list[object] = []
    start = threading.Barrier(8)
    factory, calls = services._factories["stop_requests"], []

    def slow_factory(s: Services) -> Any:
        calls.append(1)
        time.sleep(0.05)  # a wide window: without the lock every racing thread would build its own
        return factory(s)

    services._factories["stop_requests"] = slow_factory

    def read() -> None:
        start.wait()
        seen.append(services.stop_requests)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8
    assert len({id(s) for s in seen}) == 1
    assert len(calls) == 1
    assert services.stop_requests._replies is services.replies  # type: ignore[attr-defined]


def test_a_test_may_replace_a_member_and_a_set_of_services_builds_its_own() -> None:
    services, other = _services(), _services()
    replacement = other.notifier
    services.notifier = replacement  # type: ignore[misc]  # as tests/faults/runner_child.py does
    assert services.notifier is replacement
    assert other.replies is not services.replies
