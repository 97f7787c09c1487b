"""LocalOutboxSender: the sender `make dev` uses when no Twilio settings are given."""

from __future__ import annotations

import re
import threading
from datetime import UTC

import pytest

from shared.adapters.sms.base import SmsSender
from shared.adapters.sms.local import LocalOutboxSender


def test_stores_messages_oldest_first_with_local_sids() -> None:
    outbox = LocalOutboxSender(echo=None)
    assert isinstance(outbox, SmsSender)

    first = outbox.send("+46701740601", "Din kod är 111111")
    second = outbox.send("+4799999911", "Koden din er 222222", status_callback="https://example.org/cb")

    stored = outbox.messages()
    assert [m.sid for m in stored] == [first.sid, second.sid]
    assert [(m.to, m.body) for m in stored] == [
        ("+46701740601", "Din kod är 111111"),
        ("+4799999911", "Koden din er 222222"),
    ]
    assert all(re.fullmatch(r"LO[0-9a-f]{32}", m.sid) for m in stored)
    assert first.status == "queued"
    assert all(m.sent_at.tzinfo is UTC for m in stored)
    assert stored[0].sent_at <= stored[1].sent_at


def test_messages_returns_a_copy_and_clear_empties() -> None:
    outbox = LocalOutboxSender(echo=None)
    outbox.send("+46701740601", "a")
    snapshot = outbox.messages()
    outbox.send("+46701740602", "b")
    assert len(snapshot) == 1
    outbox.clear()
    assert outbox.messages() == []


def test_keeps_only_the_last_capacity_messages() -> None:
    outbox = LocalOutboxSender(capacity=3, echo=None)
    for i in range(5):
        outbox.send(f"+4670174060{i}", f"message {i}")
    assert [m.body for m in outbox.messages()] == ["message 2", "message 3", "message 4"]
    with pytest.raises(ValueError):
        LocalOutboxSender(capacity=0)


def test_echo_line_shows_body_and_masks_number() -> None:
    lines: list[str] = []
    outbox = LocalOutboxSender(echo=lines.append)
    outbox.send("+46701740667", "Din kod är 482913\nHälsningar, Region Jönköping")
    assert lines == ["[outbox] to +46*******67: Din kod är 482913\\nHälsningar, Region Jönköping"]
    assert "701740" not in lines[0]


def test_echo_defaults_to_print(capsys: pytest.CaptureFixture[str]) -> None:
    LocalOutboxSender().send("+4799999911", "Koden din er 123456")
    assert capsys.readouterr().out == "[outbox] to +47******11: Koden din er 123456\n"


def test_thread_safety() -> None:
    lines: list[str] = []
    outbox = LocalOutboxSender(capacity=10_000, echo=lines.append)
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(250):
            outbox.send(f"+467017406{n:02d}", f"{n}:{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = outbox.messages()
    assert len(stored) == len(lines) == 2000
    assert len({m.sid for m in stored}) == 2000
    for n in range(8):  # each thread's messages keep their order
        assert [m.body for m in stored if m.body.startswith(f"{n}:")] == [f"{n}:{i}" for i in range(250)]
    assert [line.rsplit(": ", 1)[1] for line in lines] == [m.body for m in stored]


def test_capacity_holds_under_concurrency() -> None:
    outbox = LocalOutboxSender(capacity=50, echo=None)
    threads = [
        threading.Thread(target=lambda: [outbox.send("+46701740601", "x") for _ in range(200)]) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outbox.messages()) == 50
