"""schemathesis against the app's own /api/openapi.json, in-process, wired to Azurite.

Every documented operation is fuzzed twice: with data that fits the schema (positive) and with data
that does not (negative), a bounded number of examples each (FUZZ_EXAMPLES, default 100). Positive
cases are now and then steered to real themes, areas, numbers, interests and facilitators, so the
fuzzer reaches storage and the SMS sender instead of stopping at validation. Checks on every answer:
no 5xx; the status code is documented for the operation; the content type and the JSON body match
what the document says for that status.

Gaps in the document would be listed in KNOWN_GAPS so the fuzzer does not trip over them at random;
the tests below trigger each status on purpose and check that the document describes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis.errors
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

from shared.adapters.sms import LocalOutboxSender
from shared.composition import Services, build_services
from shared.local.azurite import Azurite, free_port
from shared.services.facilitators import FacilitatorIn
from shared.services.intake import ValidInterest
from shared.settings import Settings
from shared.web.app import create_app
from tests.conftest import fresh_tables, municipality

ADMIN_TOKEN = "fuzz-admin-token-0123456789"
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


def settings_for(connection_string: str, **env: str) -> Settings:
    values = {
        "AzureWebJobsStorage": connection_string,
        "ORGANISATION_CONFIG": json.dumps(ORGANISATION),
        "DEV_MODE": "true",
        "ADMIN_TOKEN": ADMIN_TOKEN,
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
        for n in range(3)
    ]
    app = create_app(lambda: services)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    yield Fuzzed(services, app, schema, ids, facilitators)


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
    elif label.startswith(("PATCH", "DELETE")) and "{facilitator_id}" in label:
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
}


class UndocumentedStatus(AssertionError):
    pass


def check_status(label: str, status: int) -> None:
    allowed = documented(label) | {str(s) for s in KNOWN_GAPS.get(label, ())}
    if str(status) not in allowed and "default" not in allowed:
        raise UndocumentedStatus(f"{label} answered {status}; documented: {sorted(documented(label))}")


# --- the fuzz tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzz_operation(fuzzed: Fuzzed, label: str, mode: GenerationMode) -> None:
    method, path = label.split(" ", 1)
    operation = fuzzed.schema[path][method]
    strategy = operation.as_strategy(generation_mode=mode)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if path.startswith("/api/admin/") else None
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
        response = case.call(headers=headers)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        case.validate_response(response, checks=SCHEMA_CHECKS, headers=headers)
        check_status(label, response.status_code)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            pytest.skip("nothing in this operation's schema can be made invalid")
        raise
    assert seen, "no request was made"
    assert not [s for s in seen if s >= 500]
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
