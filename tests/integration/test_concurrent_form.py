"""The resident's form is served concurrently: a slow SMS provider does not put residents in a queue.

The app runs for real (uvicorn on loopback, as in the e2e tests) and sends through the real `twilio`
SDK to the loopback Twilio server, which holds every send at a barrier until four are in flight at
once. Four residents posting the form one at a time would never get past the first send: the barrier
breaks after its timeout and the held send is answered 503, so the test fails instead of hanging.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shared.adapters.sms.twilio import TwilioSender
from shared.composition import Services
from shared.core import i18n
from tests.conftest import LiveServer
from tests.support.twilio_server import LoopbackTwilio

FROM = "+46700000000"
RESIDENTS = 4
# Fictional Swedish mobile numbers (PTS reserves 070-1740605…699 for drama and tests).
PHONES = [f"070-174 06 4{i}" for i in range(RESIDENTS)]
E164 = [f"+4670174064{i}" for i in range(RESIDENTS)]
HOLD_SECONDS = 8  # how long the barrier waits for four sends before it breaks (and the test fails)


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackTwilio]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with LoopbackTwilio() as server:
        yield server


@pytest.fixture
def services(make_services: Callable[..., Services], twilio: LoopbackTwilio) -> Services:
    sender = TwilioSender(
        twilio.account_sid, twilio.auth_token, from_=FROM, api_base_url=twilio.base_url, timeout=HOLD_SECONDS + 5
    )
    return make_services(sender=sender)


def form(phone: str, name: str) -> dict[str, str]:
    return {
        "locale": "sv",
        "theme": "stress",
        "name": name,
        "phone": phone,
        "area": "jonkoping",
        "age_confirmed": "on",
        "consent": "on",
        "pledge": "on",
        "website": "",
    }


def hidden(page: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


def test_four_residents_posting_the_form_at_once_are_served_at_once(services: Services, twilio: LoopbackTwilio) -> None:
    twilio.hold_sends(RESIDENTS, timeout=HOLD_SECONDS)
    names = ["Aina", "Birk", "Cecilia", "Dagny"]
    with LiveServer(services) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        with ThreadPoolExecutor(RESIDENTS) as pool:

            def post(i: int) -> httpx.Response:
                return http.post("/", data=form(PHONES[i], names[i]))

            posts = [pool.submit(post, i) for i in range(RESIDENTS - 1)]
            twilio.wait_held(RESIDENTS - 1, timeout=HOLD_SECONDS)  # three residents' codes are being sent
            # The server still answers while those three requests wait on the provider.
            health = httpx.get(f"{server.url}/healthz", timeout=5)
            assert health.status_code == 200
            assert twilio.holding == RESIDENTS - 1, "healthz was answered only after the held sends went on"
            posts.append(pool.submit(post, RESIDENTS - 1))  # the fourth: now all four are in flight
            pages = [p.result(timeout=HOLD_SECONDS + 10) for p in posts]

        assert [p.status_code for p in pages] == [200] * RESIDENTS, [p.text[:300] for p in pages]
        assert all('id="code"' in p.text for p in pages)  # each resident is on the code page
        sent = {m.to: m.body or "" for m in twilio.received}
        assert sorted(sent) == sorted(E164)
        assert [m.status_code for m in twilio.received] == [201] * RESIDENTS  # no barrier broke

        # Each resident types their code into the form; all four are verified.
        def verify(i: int) -> httpx.Response:
            match = re.search(r"\b(\d{6})\b", sent[E164[i]])
            assert match
            return http.post(
                "/verify",
                data={
                    "id": hidden(pages[i].text, "id"),
                    "withdraw_token": hidden(pages[i].text, "withdraw_token"),
                    "last_digits": hidden(pages[i].text, "last_digits"),
                    "code": match.group(1),
                },
            )

        with ThreadPoolExecutor(RESIDENTS) as pool:
            thanks = list(pool.map(verify, range(RESIDENTS)))
    assert [t.status_code for t in thanks] == [200] * RESIDENTS
    assert all(html.escape(i18n.translate("sv", "thanks_title")) in t.text for t in thanks)
