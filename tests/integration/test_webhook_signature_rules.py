"""An auth token configured as empty refuses every webhook, even one signed with the empty key (which
anyone can compute). Mutation testing (docs/mutation.md) showed the check could become `and`."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from shared.composition import Services
from shared.web.app import create_app

BASE = "https://gruppstart.example"


def test_an_empty_auth_token_refuses_a_post_signed_with_the_empty_key(make_services: Callable[..., Services]) -> None:
    services = make_services(TWILIO_AUTH_TOKEN="", PUBLIC_BASE_URL=BASE)
    form = {"From": "+46701740677", "To": "+46766861000", "Body": "HELP", "MessageSid": "SM" + "1" * 32}
    signature = RequestValidator("").compute_signature(f"{BASE}/api/sms/inbound", form)
    with TestClient(create_app(lambda: services)) as client:
        response = client.post("/api/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
