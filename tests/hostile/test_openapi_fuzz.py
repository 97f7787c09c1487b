"""schemathesis against the app's own /api/openapi.json, in-process, wired to Azurite.

Every documented operation is fuzzed twice: with data that fits the schema (positive) and with data
that does not (negative), a bounded number of examples each (FUZZ_EXAMPLES, default 100). Positive
cases are now and then steered to real themes, areas, numbers, interests and facilitators, so the
fuzzer reaches storage and the SMS sender instead of stopping at validation. Requests carry what the
door asks: the admin bearer token, JSON as the content type of a bodiless POST, and on the Twilio
webhooks a signature computed over the generated form with the test auth token. Checks on every answer:
no 5xx; the status code is documented for the operation and is one of the few it should answer
(EXPECTED); the content type and the JSON body match what the document says for that status.

Gaps in the document would be listed in KNOWN_GAPS so the fuzzer does not trip over them at random;
the tests below trigger each status on purpose and check that the document describes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from shared.adapters.sms.local import LocalOutboxSender
from shared.composition import Services, build_services
from shared.core.validation import ValidInterest
from shared.local.azurite import Azurite, free_port
from shared.services.facilitators import FacilitatorIn
from shared.settings import Settings
from shared.web.app import create_app
from tests.conftest import fresh_tables, municipality

ADMIN_TOKEN = "fuzz-admin-token-0123456789"
# Twilio signs each webhook with the account's auth token over PUBLIC_BASE_URL + path and the form: the
# fuzzer signs its generated forms the same way, so they reach the handlers instead of the 403 at the door.
TWILIO_AUTH_TOKEN = "fuzz-twilio-auth-token-0123456789"
PUBLIC_BASE_URL = "https://gruppstart.example.org"
WEBHOOKS = {"POST /api/sms/status", "POST /api/sms/inbound"}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
ORGANISATION = municipality("region-jonkoping")["organisation"]
# PTS numbers reserved for fiction: 070-174 06 05 … 070-174 06 99.
FICTIONAL = [f"+467017406{n:02d}" for n in range(5, 100)]
SCHEMA_CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _document() -> dict[str, Any]:
    """The OpenAPI document as the app serves it; building it touches no storage."""
    return create_app(lambda: None).openapi()  # type: ignore[arg-type, return-value]


DOCUMENT = _document()
OPERATIONS = [f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items() for method in item]

# Status codes the app answers but the document does not list (defects, reported; see the tests at the end).
KNOWN_GAPS: dict[str, set[int]] = {}  # none left: every status the API answers is documented


def documented(label: str) -> set[str]:
    method, path = label.split(" ", 1)
    return set(DOCUMENT["paths"][path][method.lower()]["responses"])


# --- the app under test ---------------------------------------------------------------------------


@dataclass
class Fuzzed:
    services: Services
    app: Any
    schema: Any
    interest_ids: list[str] = field(default_factory=list)
    facilitator_ids: list[str] = field(default_factory=list)
    revocable_ids: list[str] = field(default_factory=list)  # never deleted by the DELETE cases


def settings_for(connection_string: str, **env: str) -> Settings:
    values = {
        "AzureWebJobsStorage": connection_string,
        "ORGANISATION_CONFIG": json.dumps(ORGANISATION),
        "DEV_MODE": "true",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "FACILITATOR_LINK_SECRET": "fuzz-facilitator-link-secret-0123456789abcdef",  # links to revoke
        "CLIENT_REGISTRATIONS_PER_HOUR": "100000",
        **env,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fuzzed(azurite: Azurite) -> Iterator[Fuzzed]:
    services = build_services(settings_for(azurite.connection_string), sender=LocalOutboxSender(echo=None))
    fresh_tables(services)
    # A few real interests and facilitators for the steered cases to find.
    ids = []
    for index, phone in enumerate(FICTIONAL[:6]):
        valid = ValidInterest(theme="stress", name=f"Fuzz {index}", phone=phone, locale="sv", area="habo")
        ids.append(services.intake.register(valid, client_address=None).interest_id)
    facilitators = [
        services.facilitators.create(
            FacilitatorIn(name=f"Facilitator {n}", phone=FICTIONAL[-1 - n], locales=["sv"], capacity=3)
        ).id
        for n in range(5)
    ]
    app = create_app(lambda: services)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    yield Fuzzed(services, app, schema, ids, facilitators[:3], facilitators[3:])


def test_every_documented_operation_is_fuzzed(fuzzed: Fuzzed) -> None:
    """The list the tests are made from is the document the app serves (not a stale copy)."""
    served = [op.ok().label for op in fuzzed.schema.get_all_operations()]
    assert sorted(served) == sorted(OPERATIONS)
    assert len(OPERATIONS) >= 11


# --- steering: real values now and then, so the fuzzer gets past validation -----------------------

THEMES = [t["id"] for t in ORGANISATION["themes"]]
AREAS = [a["id"] for a in ORGANISATION["areas"]]


def steer(label: str, case: Any, draw: Callable[[Any], Any], fuzz: Fuzzed) -> None:
    """Replace some generated values with ones the app knows (positive mode only)."""
    if not draw(st.booleans()):
        return
    body = case.body if isinstance(case.body, dict) else None
    if label == "POST /api/interests" and body is not None:
        body["theme"] = draw(st.sampled_from(THEMES))
        body["area"] = draw(st.sampled_from(AREAS))
        body["phone"] = draw(st.sampled_from(FICTIONAL) | st.sampled_from(["070-174 06 11", "0046701740612"]))
        body["age_confirmed"] = body["consent"] = True
        if draw(st.booleans()):
            body["name"] = draw(st.sampled_from(["Åsa", "Zacharias", "Anne-Marie", "O'Neil", "Li Wei"]))
    elif label == "POST /api/interests/{interest_id}/verify":
        case.path_parameters["interest_id"] = draw(st.sampled_from(fuzz.interest_ids))
        if body is not None:
            body["code"] = draw(st.from_regex(r"\A[0-9]{6}\Z"))
    elif label == "DELETE /api/interests/{interest_id}":
        case.path_parameters["interest_id"] = draw(st.sampled_from(fuzz.interest_ids))
        case.headers["authorization"] = "Bearer " + draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_"))
    elif label.endswith("/revoke-links"):
        case.path_parameters["facilitator_id"] = draw(st.sampled_from(fuzz.revocable_ids))
    elif "{facilitator_id}" in label:
        case.path_parameters["facilitator_id"] = draw(st.sampled_from(fuzz.facilitator_ids))
    elif label == "POST /api/admin/facilitators" and body is not None:
        body["phone"] = draw(st.sampled_from(FICTIONAL))
        body["themes"] = draw(st.lists(st.sampled_from(THEMES), max_size=3))
        body["areas"] = draw(st.lists(st.sampled_from(AREAS), max_size=3))
        body["locales"] = draw(st.lists(st.sampled_from(["sv", "nb", "en"]), min_size=1, max_size=3))
        if isinstance(body.get("name"), str) and not body["name"].strip():
            body["name"] = "Eva Lind"
    elif label == "GET /api/admin/groups":
        case.query = {"theme": draw(st.sampled_from(THEMES))}
    elif label == "GET /api/themes":
        case.query = {"area": draw(st.sampled_from(AREAS)), "lang": draw(st.sampled_from(["sv", "nb", "en", "de"]))}


# What a steered positive case reaches beyond validation, per operation.
DEEP: dict[str, set[int]] = {
    "GET /api/themes": {200},
    "POST /api/interests": {201},
    "POST /api/interests/{interest_id}/verify": {400, 410},  # a real interest, a wrong code
    "DELETE /api/interests/{interest_id}": {404},  # a real interest, a wrong token
    "PATCH /api/admin/facilitators/{facilitator_id}": {200},
    "GET /api/admin/groups": {200},
    "POST /api/admin/facilitators/{facilitator_id}/revoke-links": {200},
}


# Every status each operation may answer to a fuzzed request with the right credentials: few, so an answer
# from the door (401, 403, 415) or a wrong branch shows. "The status is documented" alone can hardly fail:
# every operation documents 400, 413, 415, 422 and 503 besides its own.
EXPECTED: dict[str, set[int]] = {
    "GET /api/themes": {200, 422},
    "GET /api/running-groups": {200},
    "POST /api/interests": {201, 400, 422, 429},
    "POST /api/interests/{interest_id}/verify": {400, 404, 410, 422},
    "DELETE /api/interests/{interest_id}": {401, 404},  # the withdraw token is the handler's check
    "GET /api/admin/facilitators": {200},
    "POST /api/admin/facilitators": {201, 400, 422},
    "PATCH /api/admin/facilitators/{facilitator_id}": {200, 400, 404, 422},
    "DELETE /api/admin/facilitators/{facilitator_id}": {204, 404},
    "POST /api/admin/facilitators/{facilitator_id}/revoke-links": {200, 404},
    "GET /api/admin/groups": {200, 404, 422},
    "GET /api/admin/replies": {200, 422},
    "POST /api/sms/status": {204},
    "POST /api/sms/inbound": {200},
}
# Negative cases may also break the credentials schemathesis knows of (bearer, signature), the body, or
# its media type (a form sent as something else is 415: seen on the webhooks in about 2 of 100 examples).
NEGATIVE_EXTRA = {400, 401, 403, 404, 415, 422}
# Operations with no input but unconstrained strings (or none at all): no request can violate the schema,
# so a negative run is Unsatisfiable. Listed (and checked below) instead of skipped at run time.
NOTHING_TO_INVALIDATE = {"DELETE /api/interests/{interest_id}", "GET /api/running-groups"}
DOOR = {401, 403, 415}


class UndocumentedStatus(AssertionError):
    pass


def check_status(label: str, status: int) -> None:
    allowed = documented(label) | {str(s) for s in KNOWN_GAPS.get(label, ())}
    if str(status) not in allowed and "default" not in allowed:
        raise UndocumentedStatus(f"{label} answered {status}; documented: {sorted(documented(label))}")


# --- the fuzz tests -------------------------------------------------------------------------------


def sign(case: Any, path: str) -> None:
    """Sign a generated webhook form as Twilio would (form values are text on the wire)."""
    from twilio.request_validator import RequestValidator

    if not isinstance(case.body, dict):
        return
    case.body = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in case.body.items()}
    url = PUBLIC_BASE_URL + path + (f"?{urlencode(case.query, doseq=True)}" if case.query else "")
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, case.body)
    case.headers = {**(case.headers or {}), "X-Twilio-Signature": signature}


FUZZ_CASES = [
    pytest.param(label, mode, id=f"{label}-{mode.name.lower()}")
    for label in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (mode is GenerationMode.NEGATIVE and label in NOTHING_TO_INVALIDATE)
]


def test_the_operations_left_out_of_negative_runs_have_nothing_to_invalidate() -> None:
    assert set(EXPECTED) == set(OPERATIONS)
    for label in NOTHING_TO_INVALIDATE:
        method, path = label.split(" ", 1)
        operation = DOCUMENT["paths"][path][method.lower()]
        assert "requestBody" not in operation and "security" not in operation, label
        for parameter in operation.get("parameters", []):
            schema = json.dumps(parameter["schema"])
            assert not parameter["required"] or parameter["in"] == "path", label
            assert not {"pattern", "maxLength", "minLength", "enum", "format"} & set(json.loads(schema)), label


@pytest.mark.parametrize(("label", "mode"), FUZZ_CASES)
def test_fuzz_operation(fuzzed: Fuzzed, label: str, mode: GenerationMode) -> None:
    method, path = label.split(" ", 1)
    operation = fuzzed.schema[path][method]
    strategy = operation.as_strategy(generation_mode=mode)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if path.startswith("/api/admin/") else None
    if method == "POST" and "requestBody" not in DOCUMENT["paths"][path]["post"]:
        headers = {**(headers or {}), "Content-Type": "application/json"}  # the API's type, with no body
    seen: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy)
        if mode is GenerationMode.POSITIVE:
            steer(label, case, data.draw, fuzzed)
        if label in WEBHOOKS:
            sign(case, path)
        response = case.call(headers=headers)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        case.validate_response(response, checks=SCHEMA_CHECKS, headers=headers)
        check_status(label, response.status_code)

    run()
    reached = sum(n for status, n in seen.items() if status not in DOOR)
    print(f"\nFUZZ {label} {mode.name}: {dict(sorted(seen.items()))}; past the door: {reached}")
    assert seen, "no request was made"
    assert not [s for s in seen if s >= 500]
    expected = EXPECTED[label] | (NEGATIVE_EXTRA if mode is GenerationMode.NEGATIVE else set())
    assert set(seen) <= expected, f"{label} answered {sorted(set(seen) - expected)}: {seen}"
    if mode is GenerationMode.POSITIVE and label in DEEP:
        # The steered cases got past validation, into storage and the SMS sender.
        assert DEEP[label] & set(seen), f"never reached {DEEP[label]}: {seen}"


# --- the document's gaps, triggered on purpose -----------------------------------------------------


def admin(token: str | None = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
def web(fuzzed: Fuzzed) -> Iterator[TestClient]:
    with TestClient(fuzzed.app, raise_server_exceptions=False) as client:
        yield client


def _gaps(answers: dict[str, tuple[int, int]]) -> None:
    """answers: label → (expected status, actual status). Behaviour first, then the document."""
    wrong = {label: got for label, (want, got) in answers.items() if want != got}
    assert not wrong, f"unexpected statuses: {wrong}"
    missing = sorted(label for label, (want, _) in answers.items() if str(want) not in documented(label))
    if missing:
        raise UndocumentedStatus(f"answered but not documented: {missing}")


def test_400_for_a_body_that_is_not_json_is_documented(fuzzed: Fuzzed, web: TestClient) -> None:
    facilitator = fuzzed.facilitator_ids[0]
    bad = {"content": b"[1, 2", "headers": {"Content-Type": "application/json", **admin()}}
    answers = {
        "POST /api/interests": web.post("/api/interests", **bad),
        "POST /api/interests/{interest_id}/verify": web.post(f"/api/interests/{fuzzed.interest_ids[0]}/verify", **bad),
        "POST /api/admin/facilitators": web.post("/api/admin/facilitators", **bad),
        "PATCH /api/admin/facilitators/{facilitator_id}": web.patch(f"/api/admin/facilitators/{facilitator}", **bad),
    }
    _gaps({label: (400, r.status_code) for label, r in answers.items()})


def test_401_without_the_admin_token_is_documented(web: TestClient) -> None:
    body = {"name": "Eva Lind", "phone": "0701740610", "locales": ["sv"]}
    answers = {
        "GET /api/admin/facilitators": web.get("/api/admin/facilitators"),
        "POST /api/admin/facilitators": web.post("/api/admin/facilitators", json=body, headers=admin("wrong")),
        "PATCH /api/admin/facilitators/{facilitator_id}": web.patch("/api/admin/facilitators/abc", json={}),
        "DELETE /api/admin/facilitators/{facilitator_id}": web.delete("/api/admin/facilitators/abc"),
        "GET /api/admin/groups": web.get("/api/admin/groups", headers={"Authorization": "Basic YTpi"}),
    }
    _gaps({label: (401, r.status_code) for label, r in answers.items()})


def test_404_of_the_admin_api_is_documented(web: TestClient) -> None:
    answers = {
        "PATCH /api/admin/facilitators/{facilitator_id}": web.patch(
            "/api/admin/facilitators/0123456789abcdef", json={"capacity": 3}, headers=admin()
        ),
        "DELETE /api/admin/facilitators/{facilitator_id}": web.delete(
            "/api/admin/facilitators/0123456789abcdef", headers=admin()
        ),
        "GET /api/admin/groups": web.get("/api/admin/groups", params={"theme": "knitting"}, headers=admin()),
    }
    _gaps({label: (404, r.status_code) for label, r in answers.items()})


def test_413_for_a_body_over_the_limit_is_documented(fuzzed: Fuzzed, web: TestClient) -> None:
    big = json.dumps({"name": "x" * (70 * 1024)}).encode()
    as_json = {"content": big, "headers": {"Content-Type": "application/json", **admin()}}
    as_form = {
        "content": b"Body=" + b"x" * (70 * 1024),
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }
    answers = {
        "POST /api/interests": web.post("/api/interests", **as_json),
        "POST /api/interests/{interest_id}/verify": web.post(
            f"/api/interests/{fuzzed.interest_ids[0]}/verify", **as_json
        ),
        "POST /api/admin/facilitators": web.post("/api/admin/facilitators", **as_json),
        "PATCH /api/admin/facilitators/{facilitator_id}": web.patch(
            f"/api/admin/facilitators/{fuzzed.facilitator_ids[0]}", **as_json
        ),
        "POST /api/sms/status": web.post("/api/sms/status", **as_form),
        "POST /api/sms/inbound": web.post("/api/sms/inbound", **as_form),
    }
    _gaps({label: (413, r.status_code) for label, r in answers.items() if label in OPERATIONS})


@pytest.fixture
def storage_down() -> Iterator[TestClient]:
    """The app with storage that refuses every connection (a port nobody listens on)."""
    dead = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;" + ";".join(
        f"{kind}Endpoint=http://127.0.0.1:{free_port()}/devstoreaccount1" for kind in ("Blob", "Queue", "Table")
    )
    services = build_services(settings_for(dead), sender=LocalOutboxSender(echo=None))
    with TestClient(create_app(lambda: services), raise_server_exceptions=False) as client:
        yield client


def test_503_when_storage_is_down_is_documented(storage_down: TestClient) -> None:
    web = storage_down
    interest = "stress.0123456789abcdef01234567"
    person = {
        "theme": "stress",
        "name": "Åsa",
        "phone": "070-174 06 10",
        "area": "habo",
        "age_confirmed": True,
        "consent": True,
    }
    facilitator = {"name": "Eva Lind", "phone": "0701740610", "locales": ["sv"]}
    answers = {
        "GET /api/themes": web.get("/api/themes"),
        "POST /api/interests": web.post("/api/interests", json=person),
        "POST /api/interests/{interest_id}/verify": web.post(
            f"/api/interests/{interest}/verify", json={"code": "1" * 6}
        ),
        "DELETE /api/interests/{interest_id}": web.delete(f"/api/interests/{interest}", headers=admin("tok")),
        "GET /api/admin/facilitators": web.get("/api/admin/facilitators", headers=admin()),
        "POST /api/admin/facilitators": web.post("/api/admin/facilitators", json=facilitator, headers=admin()),
        "PATCH /api/admin/facilitators/{facilitator_id}": web.patch(
            "/api/admin/facilitators/0123456789abcdef", json={"capacity": 3}, headers=admin()
        ),
        "DELETE /api/admin/facilitators/{facilitator_id}": web.delete(
            "/api/admin/facilitators/0123456789abcdef", headers=admin()
        ),
        "GET /api/admin/groups": web.get("/api/admin/groups", headers=admin()),
    }
    for label, response in answers.items():
        assert response.json()["error"] == "storage_unavailable", label
        assert "Retry-After" in response.headers, label
    _gaps({label: (503, r.status_code) for label, r in answers.items()})


def test_every_documented_422_describes_the_error_body_sent() -> None:
    wrong = []
    for label in OPERATIONS:
        method, path = label.split(" ", 1)
        response = DOCUMENT["paths"][path][method.lower()]["responses"].get("422")
        if response is None:
            continue
        ref = response["content"]["application/json"]["schema"].get("$ref", "")
        if not ref.endswith("/ErrorOut"):
            wrong.append(f"{label}: {ref}")
    if wrong:
        raise UndocumentedStatus("; ".join(wrong))
