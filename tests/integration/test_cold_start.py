"""A new instance's first form page imports no SDK it does not need (issue 22).

In a fresh interpreter, as a new instance: import function_app, serve GET / through the registered
HTTP function with a real azure.functions.HttpRequest, then list which heavy modules got loaded. Twilio
is configured (pointed at the loopback server), as in production, so the SMS SDK is one the app would
use; the same child then registers someone through the same function, to show the probe sees the SDK
as soon as a text is sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

import pytest

from tests.conftest import municipality
from tests.support.keys import TEST_PHONE_KEY_SECRET
from tests.support.twilio_server import LoopbackTwilio

ROOT = Path(__file__).resolve().parents[2]

# The SMS SDK, and the queue SDK with what only it pulls in. (The operators' and facilitators' page
# modules are still imported when the app is built: their routers are included eagerly, see
# bench/RESULTS.md, "First form page".)
NOT_FOR_THE_FORM = ("twilio", "azure.storage.queue", "aiohttp", "azure.identity")

CHILD = """
import asyncio, json, os, sys
import azure.functions as func
import function_app

WATCHED = {watched!r}
[http] = [f for f in function_app.app.get_functions() if f.get_function_name() == "http_app_func"]
handler = http.get_user_function()
loop = asyncio.new_event_loop()


class Context:
    invocation_id = "00000000-0000-0000-0000-000000000001"
    function_name = "http_app_func"
    function_directory = "."
    trace_context = None
    retry_context = None
    thread_local_storage = None


def call(method, route, body=b"", headers=None):
    request = func.HttpRequest(
        method=method, url="http://localhost/" + route, headers=headers or {{}}, params={{}},
        route_params={{"route": route}}, body=body,
    )
    return loop.run_until_complete(handler(request, Context()))


form = call("GET", "", headers={{"accept-language": "sv"}})
after_form = [m for m in WATCHED if m in sys.modules]
registered = call(
    "POST", "api/interests",
    body=json.dumps({{"theme": {theme!r}, "name": "Kall Start", "phone": "0701740600",
                      "age_confirmed": True, "consent": True, "area": {area!r}}}).encode(),
    headers={{"content-type": "application/json"}},
)
print(json.dumps({{
    "form_status": form.status_code, "form_has_fields": b'name="phone"' in form.get_body(),
    "after_form": after_form, "registered_status": registered.status_code,
    "after_registration": [m for m in WATCHED if m in sys.modules],
}}))
sys.stdout.flush()
os._exit(0)  # as a stopped worker: the app's lifespan task never ends by itself
"""


def test_the_first_form_page_loads_neither_the_sms_sdk_nor_the_queue_sdk(azurite):
    organisation = municipality("region-jonkoping")["organisation"]
    theme, area = organisation["themes"][0]["id"], organisation["areas"][0]["id"]
    with LoopbackTwilio() as twilio:
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "AzureWebJobsStorage": azurite.connection_string,
            "ORGANISATION_CONFIG": json.dumps(organisation),
            "PHONE_KEY_SECRET": TEST_PHONE_KEY_SECRET,
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM": "+46700000001",
            "TWILIO_API_BASE_URL": twilio.base_url,
        }
        code = CHILD.format(watched=NOT_FOR_THE_FORM, theme=theme, area=area)
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr[-3000:]
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        accepted = len(twilio.accepted)
    assert seen["form_status"] == 200 and seen["form_has_fields"] is True
    assert seen["after_form"] == []
    # The probe sees an SDK once it is used: the registration's code went out through twilio.
    assert seen["registered_status"] == 201
    assert accepted == 1
    assert "twilio" in seen["after_registration"]


def test_queues_left_to_the_first_message_are_created_when_it_is_put(azurite):
    from azure.core.exceptions import ResourceNotFoundError

    from shared.adapters.storage import FORMATION_REQUESTS, QUEUES, StorageAccount

    # A fresh deployment's account as the web app's first request leaves it: tables made, queues not yet.
    setup = StorageAccount(connection_string=azurite.connection_string)
    names = [*QUEUES, *(f"{q}-poison" for q in QUEUES)]
    for name in names:
        with suppress(ResourceNotFoundError):  # on a fresh emulator there is none yet
            setup.queue_service().delete_queue(name)
    storage = StorageAccount(connection_string=azurite.connection_string)
    storage.ensure_resources(queues=False)
    listed = {q.name for q in setup.queue_service().list_queues()}
    assert listed.isdisjoint(names)
    with pytest.raises(ResourceNotFoundError):
        setup.queue(FORMATION_REQUESTS).peek_messages()

    storage.enqueue(FORMATION_REQUESTS, '{"theme": "sjukdom"}')

    assert {q.name for q in setup.queue_service().list_queues()} >= set(names)
    [message] = setup.queue(FORMATION_REQUESTS).receive_messages()
    assert message.content == '{"theme": "sjukdom"}'
    setup.queue(FORMATION_REQUESTS).clear_messages()
