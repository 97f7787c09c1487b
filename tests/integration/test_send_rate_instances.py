"""Two instances of the notification function, in two OS processes, sending at once against the same
Azurite and the loopback Twilio server: together they stay within SMS_RATE_PER_SECOND, and a
verification code asked for in the middle of their run goes out without waiting behind it.

Each child is `tests.faults.runner_child`: the services built from the environment as the Function App
builds them, and the registered queue functions run by the in-process host. The counts are of what the
loopback Twilio server received, in the installation's windows (whole seconds at this rate).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import NOTIFICATIONS, RATE_LIMITS
from shared.composition import Services
from shared.core.domain import MessageStatus
from shared.core.sms_segments import segment_info
from shared.web.app import create_app
from tests.conftest import municipality
from tests.support.runner_child import RunnerChild, runner_env, wait_until
from tests.support.tables import add_facilitator, drain, outbox, seed_waiting
from tests.support.twilio_server import LoopbackTwilio, ReceivedMessage

pytestmark = pytest.mark.azurite  # instances in processes of their own, sharing one storage account

ROOT = Path(__file__).resolve().parents[2]
RATE = 5  # segments a second: windows of one second, four segments of group texts, one kept for codes
GROUPS = 6  # 36 texts, about 90 segments: some twenty seconds at the rate
RESIDENT = "070-174 06 99"
RESIDENT_E164 = "+46701740699"


def segments(message: ReceivedMessage) -> int:
    return segment_info(message.body or "").segments


def booked_after_now(services: Services) -> int:
    """Segments booked in the send rate's windows that have not begun yet: the queue of group texts."""
    now = int(time.time())
    rows = services.storage.table(RATE_LIMITS).query_entities("PartitionKey eq 'send-rate'")
    return sum(row["Used"] for row in rows if row["Window"] > now)


def per_window(messages: list[ReceivedMessage]) -> Counter[int]:
    counts: Counter[int] = Counter()
    for message in messages:
        counts[int(message.received_at.timestamp())] += segments(message)
    return counts


def test_two_instances_stay_within_the_rate_and_a_code_does_not_wait_behind_their_texts(
    make_services: Callable[..., Services], tmp_path: Path
) -> None:
    organisation = municipality("region-jonkoping")["organisation"]
    themes = [t["id"] for t in organisation["themes"]][:GROUPS]
    with LoopbackTwilio() as twilio:
        sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_="+46701740605", api_base_url=twilio.base_url)
        # This test's own process is a third instance: the web app a resident registers through.
        services = make_services(sender=sender, SMS_RATE_PER_SECOND=str(RATE), CLIENT_REGISTRATIONS_PER_HOUR="100")
        add_facilitator(services, capacity=GROUPS)
        for theme in themes:
            seed_waiting(services, 5, theme)
        assert services.formation.sweep().groups_formed == GROUPS
        rows = [message for theme in themes for message in outbox(services, theme)]
        expected = len(rows)
        assert expected == GROUPS * 6
        # One queue message per text instead of one per group: each instance then has as many sends waiting
        # for their windows as it runs invocations at once, the queue a code must not join.
        assert len(drain(services)) == GROUPS
        for message in rows:
            services.storage.enqueue(NOTIFICATIONS, json.dumps({"theme": message.theme, "rows": [message.key]}))

        env = runner_env(
            services,
            twilio,
            organisation,
            SMS_RATE_PER_SECOND=str(RATE),
            GRUPPSTART_STALE_CLAIM_SECONDS="120",
            VISIBILITY_TIMEOUT_SECONDS="5",
            CHILD_LIFETIME_SECONDS="150",
            BATCH_SIZE="16",  # sixteen invocations at once per instance: up to 32 texts booked ahead
        )
        children: list[RunnerChild] = []
        with TestClient(create_app(lambda: services)) as client:
            try:
                children.extend(RunnerChild(env, tmp_path / f"instance-{n}.log") for n in range(2))
                assert wait_until(lambda: len(twilio.accepted) >= 8, timeout=60), children[0].output()
                booked_ahead = booked_after_now(services)
                bulk_before_code = sum(segments(m) for m in twilio.accepted)
                registered = client.post(
                    "/api/interests",
                    json={
                        "theme": themes[0],
                        "name": "Ingrid",
                        "phone": RESIDENT,
                        "area": "habo",
                        "age_confirmed": True,
                        "consent": True,
                    },
                )
                assert registered.status_code == 201, registered.text

                def all_sent() -> bool:
                    sent = [m.status is MessageStatus.SENT for theme in themes for m in outbox(services, theme)]
                    return len(sent) == expected and all(sent)

                assert wait_until(all_sent, timeout=120, interval=0.5), [c.output() for c in children]
            finally:
                for child in children:
                    child.kill()

    accepted = twilio.accepted
    [code] = [m for m in accepted if m.to == RESIDENT_E164]
    bulk = [m for m in accepted if m.to != RESIDENT_E164]
    assert len(bulk) == expected
    assert len({(m.to, m.body) for m in bulk}) == expected  # nothing twice
    # Both instances were up while the texts went out.
    assert all("runner ready" in child.output() for child in children)

    windows = per_window(accepted)
    first, last = min(windows), max(windows)
    spanned = [windows[w] for w in range(first, last + 1)]
    print(f"segments the provider received per second: {spanned}")
    # Never ahead of the rate: by the end of each second, the provider has received no more than the rate
    # allows for the seconds since the first send (one more second's worth: the first sends were counted
    # in the second before they arrived, since each instance loads the Twilio SDK on its first send). A
    # send delayed on a busy machine arrives later, never earlier, so this holds however loaded it is.
    received = 0
    for seconds, count in enumerate(spanned, start=1):
        received += count
        assert received <= RATE * (seconds + 1), (seconds, spanned)

    # The code skipped the queue: when the resident posted, group texts were booked in the windows ahead,
    # and fewer of them reached the provider before the code than were waiting (behind them, it would have
    # come after all of them).
    index = accepted.index(code)
    bulk_ahead = sum(segments(m) for m in accepted[:index]) - bulk_before_code
    bulk_after = sum(segments(m) for m in accepted[index + 1 :])
    print(f"group-text segments booked ahead at the post: {booked_ahead}; ahead of the code: {bulk_ahead}")
    assert booked_ahead >= RATE, "no queue of group texts to skip: the instances did not keep up the load"
    assert bulk_ahead < booked_ahead, (booked_ahead, bulk_ahead, bulk_after)
