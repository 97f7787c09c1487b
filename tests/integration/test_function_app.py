"""What the Functions host would index from function_app.py, and the registered functions called with real
azure.functions objects (the host itself cannot run here)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from shared.adapters.storage import FORMATION_REQUESTS
from shared.composition import use_services
from shared.core.domain import GroupStatus
from shared.local.runner import indexed_functions
from tests.support.tables import THEME, add_facilitator, groups, seed_waiting

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def indexed() -> dict[str, dict]:
    import function_app

    return {f.get_function_name(): json.loads(f.get_function_json()) for f in indexed_functions(function_app.app)}


@pytest.fixture(scope="module")
def functions_by_name():
    import function_app

    return {f.get_function_name(): f.get_user_function() for f in indexed_functions(function_app.app)}


def trigger(indexed: dict[str, dict], name: str) -> dict:
    [binding] = [b for b in indexed[name]["bindings"] if b["direction"] == "IN"]
    return binding


def test_the_host_finds_exactly_these_functions(indexed):
    assert set(indexed) == {
        "http_app_func",
        "form_groups_on_request",
        "sweep_formation",
        "send_notification",
        "record_poisoned_notification",
        "run_lifecycle",
        "erase_on_stop",
        "retry_poisoned_stop",
    }
    assert all(f["scriptFile"] == "function_app.py" for f in indexed.values())


def test_http_binding_serves_every_route_anonymously(indexed):
    binding = trigger(indexed, "http_app_func")
    assert binding["type"] == "httpTrigger"
    assert binding["route"] == "/{*route}"
    assert binding["authLevel"] == "ANONYMOUS"  # the form is public; admin routes check their own token
    assert {"GET", "POST", "PATCH", "DELETE"} <= set(binding["methods"])
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert host["extensionBundle"]["version"].startswith("[4.")


@pytest.mark.parametrize(
    ("name", "queue"),
    [
        ("form_groups_on_request", "formation-requests"),
        ("send_notification", "notifications"),
        ("record_poisoned_notification", "notifications-poison"),
        ("erase_on_stop", "stop-requests"),
        ("retry_poisoned_stop", "stop-requests-poison"),
    ],
)
def test_queue_bindings(indexed, name, queue):
    binding = trigger(indexed, name)
    assert binding["type"] == "queueTrigger"
    assert binding["queueName"] == queue
    assert binding["connection"] == "AzureWebJobsStorage"


def test_timer_binding_reads_its_schedule_from_settings_and_never_runs_on_startup(indexed):
    binding = trigger(indexed, "sweep_formation")
    assert binding["type"] == "timerTrigger"
    assert binding["schedule"] == "%FORMATION_SCHEDULE%"
    assert binding["runOnStartup"] is False  # it would fire on every scale-out


def test_the_lifecycle_timer_reads_its_schedule_from_settings_and_never_runs_on_startup(indexed):
    binding = trigger(indexed, "run_lifecycle")
    assert binding["type"] == "timerTrigger"
    assert binding["schedule"] == "%LIFECYCLE_SCHEDULE%"
    assert binding["runOnStartup"] is False


def test_importing_the_app_creates_no_clients_and_loads_no_sdk_it_does_not_need():
    code = (
        "import sys, function_app; "
        "print(sorted(m for m in ('twilio', 'azure.identity', 'azure.data.tables', 'fastapi', 'shared.composition')"
        " if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True, env={}
    )
    assert result.stdout.strip() == "[]"  # no settings needed to import, nothing connected


class Context:
    """The parts of the host's invocation context the ASGI middleware reads."""

    invocation_id = "00000000-0000-0000-0000-000000000001"
    function_name = "http_app_func"
    function_directory = str(ROOT)
    trace_context = None
    retry_context = None
    thread_local_storage = None


def test_the_http_function_serves_the_api_through_the_asgi_middleware(services, functions_by_name):
    use_services(services)
    try:
        request = func.HttpRequest(
            method="GET",
            url="http://localhost/api/themes?lang=en",
            headers={"accept": "application/json"},
            params={"lang": "en"},
            route_params={"route": "api/themes"},
            body=b"",
        )
        # On a thread of its own: Playwright's sync API may already run a loop on this one (e2e tests).
        with ThreadPoolExecutor(1) as pool:
            response = pool.submit(asyncio.run, functions_by_name["http_app_func"](request, Context())).result()
        assert response.status_code == 200
        themes = json.loads(response.get_body())
        assert [t["id"] for t in themes] == [t.id for t in services.organisation.themes]
        assert themes[0]["label"] == "Illness" and themes[0]["needed"] == 5
    finally:
        use_services(None)


def test_a_formation_request_message_forms_the_group(services, functions_by_name):
    use_services(services)
    try:
        add_facilitator(services)
        seed_waiting(services, 5)
        message = func.QueueMessage(id="1", body=THEME.encode())
        functions_by_name["form_groups_on_request"](message)
        [group] = groups(services)
        assert group.status is GroupStatus.FORMING and len(group.member_keys) == 5
        # An unknown theme is dropped, not retried into the poison queue.
        functions_by_name["form_groups_on_request"](func.QueueMessage(id="2", body=b"no-such-theme"))
    finally:
        use_services(None)


def test_what_intake_queues_is_what_the_trigger_reads(services, functions_by_name):
    requests = services.storage.queue(FORMATION_REQUESTS)
    requests.clear_messages()
    use_services(services)
    try:
        add_facilitator(services)
        seed_waiting(services, 5)
        services.intake.request_formation(THEME)  # the producer, as after a verification
        [queued] = requests.receive_messages()
        assert json.loads(queued.content) == {"theme": THEME}  # what docs/architecture.md says
        functions_by_name["form_groups_on_request"](func.QueueMessage(id=queued.id, body=queued.content.encode()))
        [group] = groups(services)
        assert group.status is GroupStatus.FORMING and len(group.member_keys) == 5
    finally:
        use_services(None)


@pytest.mark.parametrize("body", [b'{"theme": 7}', b"{not json", b'{"theme": "sj/ukdom"}', b"\xff\xfe"])
def test_a_malformed_formation_request_is_dropped_not_retried(services, functions_by_name, caplog, body):
    use_services(services)
    try:
        add_facilitator(services)
        seed_waiting(services, 5)
        with caplog.at_level("WARNING", logger="functions.formation"):
            functions_by_name["form_groups_on_request"](func.QueueMessage(id="3", body=body))  # returns: no retry
        assert groups(services) == []
        assert [r.getMessage() for r in caplog.records if r.name == "functions.formation"] == [
            "malformed formation request dropped"
        ]
    finally:
        use_services(None)


def test_the_timer_sweeps_every_theme(services, functions_by_name):
    # Every theme the organisation file offers (read from the file here, not from the app), each with a queue.
    document = json.loads((Path(__file__).parents[2] / "infra/municipalities/region-jonkoping.json").read_text())
    themes = [t["id"] for t in document["organisation"]["themes"]]
    assert len(themes) >= 5
    use_services(services)
    try:
        add_facilitator(services, capacity=20)
        for n, theme in enumerate(themes):
            seed_waiting(services, 5 + n % 2, theme=theme)
        functions_by_name["sweep_formation"](TimerRequest(past_due=False))
        formed = {theme: groups(services, theme) for theme in themes}
        assert {theme: len(found) for theme, found in formed.items()} == dict.fromkeys(themes, 1)
        assert [len(found[0].member_keys) for found in formed.values()] == [5 + n % 2 for n in range(len(themes))]
    finally:
        use_services(None)
