"""A new instance's first form page imports no SDK and no page it does not need (issue 22).

In a fresh interpreter, as a new instance: import function_app, serve GET / through the registered
HTTP function with a real azure.functions.HttpRequest, then list which heavy modules got loaded. Twilio
is configured (pointed at the loopback server), as in production, so the SMS SDK is one the app would
use; the same child then registers someone through the same function, to show the probe sees the SDK
as soon as a text is sent, and then opens an operator's page and a facilitator's link, to show the
probe sees their modules as soon as their routes are hit.
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

# The SMS SDK, and the queue SDK with what only it pulls in.
SDKS = ("twilio", "azure.storage.queue", "aiohttp", "azure.identity")
# The operators' pages and API, and the facilitators' pages (shared/web/deferred.py).
OPERATORS = ("shared.web.admin.api", "shared.web.admin.replies", "shared.web.admin.pages")
FACILITATORS = ("shared.web.facilitator",)
# Services the composition root builds on first use (shared/composition.py `_OnFirstUse`), and the
# modules only they import: the facilitators' page and links, the operators' and formation's services,
# the replies and the audit log (issue 22.1).
COMPOSED_LATER = (
    "shared.services.facilitator_page",
    "shared.services.facilitator_links",
    "itsdangerous",
    "shared.services.operations",
    "shared.services.formation",
    "shared.services.notify",
    "shared.services.lifecycle",
    "shared.services.retention",
    "shared.services.replies",
    "shared.services.stop_requests",
    "shared.adapters.audit",
    "shared.adapters.replies",
)
NOT_FOR_THE_FORM = SDKS + OPERATORS + FACILITATORS + COMPOSED_LATER

# How the host hands a child its HTTP events: the registered function, a real HttpRequest, a context.
CALL = """
import azure.functions as func

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


def call(method, route, body=b"", headers=None, params=None):
    query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
    request = func.HttpRequest(
        method=method, url="http://localhost/" + route + ("?" + query if query else ""), headers=headers or {},
        params=params or {}, route_params={"route": route}, body=body,
    )
    return loop.run_until_complete(handler(request, Context()))
"""

CHILD = """
import asyncio, json, os, sys
import function_app

WATCHED = {watched!r}
{call}
form = call("GET", "", headers={{"accept-language": "sv"}})
after_form = [m for m in WATCHED if m in sys.modules]
registered = call(
    "POST", "api/interests",
    body=json.dumps({{"theme": {theme!r}, "name": "Kall Start", "phone": "0701740600",
                      "age_confirmed": True, "consent": True, "area": {area!r}}}).encode(),
    headers={{"content-type": "application/json"}},
)
after_registration = [m for m in WATCHED if m in sys.modules]
manage = call("GET", "manage", headers={{"accept": "text/html"}})
after_manage = [m for m in WATCHED if m in sys.modules]
operator_api = call("GET", "api/admin/groups", headers={{"accept": "application/json"}})
after_operator_api = [m for m in WATCHED if m in sys.modules]
link = call("GET", "f/not-a-real-token", headers={{"accept-language": "sv"}})
print(json.dumps({{
    "form_status": form.status_code, "form_has_fields": b'name="phone"' in form.get_body(),
    "after_form": after_form, "registered_status": registered.status_code,
    "after_registration": after_registration,
    "manage_status": manage.status_code, "after_manage": after_manage,
    "operator_api_status": operator_api.status_code, "after_operator_api": after_operator_api,
    "link_status": link.status_code, "link_body": link.get_body().decode(),
    "after_link": [m for m in WATCHED if m in sys.modules],
}}))
sys.stdout.flush()
os._exit(0)  # as a stopped worker: the app's lifespan task never ends by itself
"""


def test_the_first_form_page_loads_no_sdk_and_no_operator_or_facilitator_page(azurite):
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
        code = CHILD.format(watched=NOT_FOR_THE_FORM, theme=theme, area=area, call=CALL)
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
    # A resident's registration (under /api, beside /api/admin) still imports no operator module.
    assert not set(seen["after_registration"]) & set(OPERATORS + FACILITATORS)
    # An operator's page imports the operators' pages (not their API), and serves: the sign-in
    # answer, not a 404; the operators' API answers for itself (401 without a token) once hit.
    assert seen["manage_status"] in (302, 303, 401, 403), seen["manage_status"]
    assert "shared.web.admin.pages" in seen["after_manage"]
    assert not set(seen["after_manage"]) & {"shared.web.admin.api", "shared.web.facilitator"}
    assert seen["operator_api_status"] == 401, seen["operator_api_status"]
    assert "shared.web.admin.api" in seen["after_operator_api"]
    # A facilitator's link imports the facilitators' page, which answers it: an unknown link gets that
    # page's own refusal (shared/locales/facilitator/sv.json), not the app's 404 page.
    assert "shared.web.facilitator" in seen["after_link"]
    # … and the facilitators' page service with it, built by the composition root when first read.
    assert {"shared.services.facilitator_page", "shared.services.facilitator_links"} <= set(seen["after_link"])
    assert seen["link_status"] == 404
    assert "Länken fungerar inte längre" in seen["link_body"]


# The web framework: FastAPI and Starlette's routing (Starlette's responses and StaticFiles are the front's).
FRAMEWORK = ("fastapi", "starlette.routing", "pydantic.v1")

FIRST_PAGE = """
import asyncio, json, os, sys
import function_app

WATCHED = {watched!r}
{call}
form = call("GET", "", headers={{"accept-language": "sv"}})
css = call("GET", "static/style.css")
english = call("GET", "", params={{"lang": "en"}})
after_page = [m for m in WATCHED if m in sys.modules]
from shared.core.domain import Group, Interest, OutboxMessage
from shared.core.facilitators import Facilitator
records_built = [m.__name__ for m in (Interest, Group, OutboxMessage, Facilitator) if m.__pydantic_complete__]
health = call("GET", "healthz")
print(json.dumps({{
    "form_status": form.status_code, "form_has_fields": b'name="phone"' in form.get_body(),
    "form_sv": b'<html lang="sv">' in form.get_body(), "english": b'<html lang="en">' in english.get_body(),
    "css_status": css.status_code, "css_type": css.headers.get("content-type"),
    "css_starts": css.get_body()[:200].decode(), "after_page": after_page, "records_built": records_built,
    "health_status": health.status_code, "after_health": [m for m in WATCHED if m in sys.modules],
}}))
sys.stdout.flush()
os._exit(0)
"""


def test_the_first_form_page_and_its_stylesheet_are_served_without_the_web_framework(azurite):
    """A new instance's first page and the stylesheet the browser fetches next import neither FastAPI nor
    Starlette's routing (shared/web/front.py); the first request the front hands on does."""
    organisation = municipality("region-jonkoping")["organisation"]
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "AzureWebJobsStorage": azurite.connection_string,
        "ORGANISATION_CONFIG": json.dumps(organisation),
        "PHONE_KEY_SECRET": TEST_PHONE_KEY_SECRET,
    }
    code = FIRST_PAGE.format(watched=FRAMEWORK + NOT_FOR_THE_FORM, call=CALL)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["form_status"] == 200 and seen["form_has_fields"] is True
    assert seen["form_sv"] is True and seen["english"] is True
    assert seen["css_status"] == 200
    assert seen["css_type"].startswith("text/css")
    assert seen["css_starts"] == (ROOT / "shared" / "static" / "style.css").read_text(encoding="utf-8")[:200]
    assert seen["after_page"] == []
    # No record's pydantic validator was built for the form: each waits for its first validation.
    assert seen["records_built"] == []
    # The probe sees the framework once a request needs the app.
    assert seen["health_status"] == 200
    assert {"fastapi", "starlette.routing"} <= set(seen["after_health"])


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


def test_a_new_instance_lists_the_tables_and_creates_only_the_missing_ones(azurite):
    from shared.adapters.storage import AUDIT, TABLES, StorageAccount

    sent: list[tuple[str, str]] = []

    def wire(request):  # azure-core's raw_request_hook: every request the table SDK sends
        http = request.http_request
        sent.append((http.method, http.url.split("devstoreaccount1", 1)[-1].split("?", 1)[0]))

    setup = StorageAccount(connection_string=azurite.connection_string)
    setup.ensure_resources(queues=False)
    setup.table_service().delete_table(AUDIT)  # one table missing, as after a new table in a release
    storage = StorageAccount(connection_string=azurite.connection_string, client_options={"raw_request_hook": wire})

    storage.ensure_resources(queues=False)
    assert sent == [("GET", "/Tables"), ("POST", "/Tables")]  # one listing, one create: the missing one
    assert {t.name for t in setup.table_service().list_tables()} >= set(TABLES)

    sent.clear()
    StorageAccount(
        connection_string=azurite.connection_string, client_options={"raw_request_hook": wire}
    ).ensure_resources(queues=False)
    # A deployed account (every table there): one round trip where there were five creates answered 409.
    assert sent == [("GET", "/Tables")]
