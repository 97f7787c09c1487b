"""TwilioSender through the real `twilio` SDK against the loopback Twilio server."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from shared.adapters.sms.base import CopyNotFinal, PermanentSmsError, SentMessage, SmsSender, TransientSmsError, masked
from shared.adapters.sms.twilio import TwilioSender
from tests.support.twilio_server import Accept, LoopbackTwilio, Reject, ServerError, Stall, Throttle

REPO = Path(__file__).resolve().parents[2]
FROM = "+46701740605"  # PTS numbers reserved for fiction: 070-174 06 05 … 070-174 06 99
TO = "+46701740699"
TO_NO = "+4799999911"
BODY = "Din kod är 482913. Välkommen till gruppen på Åsgatan!"


@pytest.fixture
def loopback_twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackTwilio]:
    # Loopback must never go through a proxy configured in the environment.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with LoopbackTwilio() as server:
        yield server


def sender_for(server: LoopbackTwilio, **kwargs: object) -> TwilioSender:
    options: dict[str, object] = {"from_": FROM, "api_base_url": server.base_url, "timeout": 5.0}
    options.update(kwargs)
    return TwilioSender(server.account_sid, server.auth_token, **options)  # type: ignore[arg-type]


def without_known_numbers(text: str, *allowed: int) -> str:
    for number in allowed:
        text = re.sub(rf"\b{number}\b", "", text)
    return text


def test_sends_and_returns_the_providers_sid(loopback_twilio: LoopbackTwilio) -> None:
    sender = sender_for(loopback_twilio)
    assert isinstance(sender, SmsSender)

    sent = sender.send(TO, BODY, status_callback="https://example.org/sms/status?o=region-jonkoping")

    assert isinstance(sent, SentMessage)
    assert sent.status == "queued"
    [seen] = loopback_twilio.accepted
    assert sent.sid == seen.sid
    assert re.fullmatch(r"SM[0-9a-f]{32}", sent.sid)
    assert (seen.to, seen.from_, seen.body) == (TO, FROM, BODY)
    assert seen.messaging_service_sid is None
    assert seen.status_callback == "https://example.org/sms/status?o=region-jonkoping"


def test_status_callback_is_optional(loopback_twilio: LoopbackTwilio) -> None:
    sender_for(loopback_twilio).send(TO_NO, "Hei! Gruppen din starter på mandag.")
    [seen] = loopback_twilio.accepted
    assert seen.status_callback is None
    assert seen.to == TO_NO


def test_messaging_service_is_used_instead_of_from(loopback_twilio: LoopbackTwilio) -> None:
    service = "MG" + "0123456789abcdef" * 2
    sender = sender_for(loopback_twilio, from_=FROM, messaging_service_sid=service)

    sent = sender.send(TO, BODY)

    [seen] = loopback_twilio.accepted
    assert seen.messaging_service_sid == service
    assert seen.from_ is None
    assert sent.status == "accepted"


def test_invalid_number_is_permanent_and_leaks_no_digits(
    loopback_twilio: LoopbackTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    loopback_twilio.plan(Reject(code=21211, status=400))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(PermanentSmsError) as caught:
        sender_for(loopback_twilio).send(TO, BODY)

    error = caught.value
    assert (error.code, error.status, error.retry_after) == (21211, 400, None)
    # The server's error message quotes the number, as Twilio's does; none of it may come through,
    # neither in the message nor in a logged traceback (no chained SDK exception).
    assert TO in (loopback_twilio.received[0].to or "")
    shown = "\n".join([str(error), repr(error), "".join(traceback.format_exception(error))])
    assert TO not in shown and TO[1:] not in shown and "482913" not in shown
    assert not re.search(r"\d", without_known_numbers(str(error), 21211, 400))
    assert not re.search(r"\d", without_known_numbers(repr(error), 21211, 400))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert TO[3:] not in logged and "482913" not in logged


@pytest.mark.parametrize("code", [21610, 21614])
def test_unsubscribed_and_not_mobile_are_permanent(loopback_twilio: LoopbackTwilio, code: int) -> None:
    loopback_twilio.plan(Reject(code=code, status=400))
    with pytest.raises(PermanentSmsError) as caught:
        sender_for(loopback_twilio).send(TO, BODY)
    assert caught.value.code == code


def test_sender_side_refusal_is_transient(loopback_twilio: LoopbackTwilio) -> None:
    # 21606: our 'From' number cannot send; the same for every message, so do not fail them for ever.
    loopback_twilio.plan(Reject(code=21606, status=400))
    with pytest.raises(TransientSmsError) as caught:
        sender_for(loopback_twilio).send(TO, BODY)
    assert caught.value.code == 21606


def test_throttling_is_transient_with_retry_after(loopback_twilio: LoopbackTwilio) -> None:
    loopback_twilio.plan(Throttle(retry_after=2))
    with pytest.raises(TransientSmsError) as caught:
        sender_for(loopback_twilio).send(TO, BODY)
    assert caught.value.status == 429
    assert caught.value.code == 20429
    assert caught.value.retry_after == 2.0


def test_retry_after_as_http_date(loopback_twilio: LoopbackTwilio) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    loopback_twilio.plan(Throttle(retry_after=later), Throttle(retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    sender = sender_for(loopback_twilio)
    with pytest.raises(TransientSmsError) as future:
        sender.send(TO, BODY)
    with pytest.raises(TransientSmsError) as past:
        sender.send(TO, BODY)
    assert future.value.retry_after is not None and 25 <= future.value.retry_after <= 30
    assert past.value.retry_after == 0.0


def test_twilio_region_in_the_environment_does_not_move_the_base_url(
    loopback_twilio: LoopbackTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    sender_for(loopback_twilio).send(TO, BODY)
    assert len(loopback_twilio.accepted) == 1


def test_retry_after_is_not_carried_over_to_the_next_error(loopback_twilio: LoopbackTwilio) -> None:
    loopback_twilio.plan(Throttle(retry_after=7), ServerError(status=503))
    sender = sender_for(loopback_twilio)
    with pytest.raises(TransientSmsError) as first:
        sender.send(TO, BODY)
    with pytest.raises(TransientSmsError) as second:
        sender.send(TO, BODY)
    assert (first.value.retry_after, second.value.retry_after) == (7.0, None)
    assert second.value.status == 503


def test_server_error_is_transient(loopback_twilio: LoopbackTwilio) -> None:
    loopback_twilio.plan(ServerError(status=500))
    sender = sender_for(loopback_twilio)
    with pytest.raises(TransientSmsError) as caught:
        sender.send(TO, BODY)
    assert caught.value.status == 500
    # The plan is used up: the next send goes through on the same sender.
    assert sender.send(TO, BODY).sid == loopback_twilio.accepted[0].sid


def test_stall_longer_than_timeout_is_transient(loopback_twilio: LoopbackTwilio) -> None:
    loopback_twilio.plan(Stall(seconds=5))
    sender = sender_for(loopback_twilio, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TransientSmsError) as caught:
        sender.send(TO, BODY)
    assert time.monotonic() - started < 3
    assert "0.3 s" in str(caught.value)
    assert caught.value.status is None


def test_wrong_auth_token_is_transient(loopback_twilio: LoopbackTwilio) -> None:
    sender = TwilioSender(
        loopback_twilio.account_sid, "not-the-token", from_=FROM, api_base_url=loopback_twilio.base_url
    )
    with pytest.raises(TransientSmsError) as caught:
        sender.send(TO, BODY)
    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert [m.status_code for m in loopback_twilio.received] == [401]
    assert loopback_twilio.accepted == []


def test_nobody_listening_is_transient(loopback_twilio: LoopbackTwilio) -> None:
    base_url = loopback_twilio.base_url
    loopback_twilio.stop()
    sender = TwilioSender(loopback_twilio.account_sid, loopback_twilio.auth_token, from_=FROM, api_base_url=base_url)
    with pytest.raises(TransientSmsError, match="unreachable"):
        sender.send(TO, BODY)


def test_ten_threads_at_once_all_succeed_with_distinct_sids(loopback_twilio: LoopbackTwilio) -> None:
    sender = sender_for(loopback_twilio)  # one sender shared, its client built by whichever thread is first
    barrier = threading.Barrier(10)
    results: list[SentMessage] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        barrier.wait()
        try:
            sent = sender.send(f"+467017406{i:02d}", f"Meddelande {i}")
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(sent)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert errors == []
    assert len({r.sid for r in results}) == 10
    accepted = loopback_twilio.wait_for(10, timeout=5)
    assert {m.sid for m in accepted} == {r.sid for r in results}
    assert {m.to for m in accepted} == {f"+467017406{i:02d}" for i in range(10)}


def test_threads_each_get_their_own_retry_after(loopback_twilio: LoopbackTwilio) -> None:
    # Every third request is throttled; errors and successes interleave across threads and each
    # error must carry the Retry-After of its own response, never a neighbour's.
    sender = sender_for(loopback_twilio)
    for _ in range(20):
        loopback_twilio.plan(Accept(), Throttle(retry_after=3), ServerError(status=502))
    outcomes: list[tuple[str, float | None]] = []
    lock = threading.Lock()

    def send() -> None:
        for _ in range(6):
            try:
                sender.send(TO, BODY)
                outcome: tuple[str, float | None] = ("ok", None)
            except TransientSmsError as exc:
                outcome = (str(exc.status), exc.retry_after)
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert len(outcomes) == 60
    assert sorted(set(outcomes), key=str) == sorted({("ok", None), ("429", 3.0), ("502", None)}, key=str)
    assert outcomes.count(("429", 3.0)) == 20


def test_fail_every_and_rejected_numbers(loopback_twilio: LoopbackTwilio) -> None:
    loopback_twilio.fail_every(3)
    loopback_twilio.reject_numbers({TO_NO: 21614})
    sender = sender_for(loopback_twilio)
    outcomes = []
    for to in [TO, TO, TO, TO_NO, TO]:
        try:
            sender.send(to, BODY)
            outcomes.append("ok")
        except PermanentSmsError as exc:
            outcomes.append(f"permanent {exc.code}")
        except TransientSmsError as exc:
            outcomes.append(f"transient {exc.status}")
    assert outcomes == ["ok", "ok", "transient 500", "permanent 21614", "ok"]


# --- deleting the provider's copy ------------------------------------------------------------------


def test_a_final_message_is_deleted_and_then_gone(loopback_twilio: LoopbackTwilio) -> None:
    sender = sender_for(loopback_twilio)
    sent = sender.send(TO, BODY)
    loopback_twilio.settle("delivered")

    assert sender.delete(sent.sid) is True

    assert loopback_twilio.stored == [] and loopback_twilio.deleted == [sent.sid]
    assert sender.delete(sent.sid) is False  # 404: nothing left to delete


@pytest.mark.parametrize("status", ["accepted", "queued", "sending", "sent"])
def test_a_message_without_a_final_status_is_kept_as_twilio_does(loopback_twilio: LoopbackTwilio, status: str) -> None:
    sender = sender_for(loopback_twilio)
    sent = sender.send(TO, BODY)
    loopback_twilio.settle(status)

    with pytest.raises(CopyNotFinal) as raised:
        sender.delete(sent.sid)

    assert raised.value.code == 20009
    assert isinstance(raised.value, TransientSmsError)  # try again later
    assert [m["sid"] for m in loopback_twilio.stored] == [sent.sid]
    assert TO not in str(raised.value) and BODY not in str(raised.value)


@pytest.mark.parametrize("status", ["delivered", "undelivered", "failed"])
def test_every_final_status_allows_the_delete(loopback_twilio: LoopbackTwilio, status: str) -> None:
    sender = sender_for(loopback_twilio)
    sent = sender.send(TO, BODY)
    loopback_twilio.settle(status)
    assert sender.delete(sent.sid) is True


@pytest.mark.parametrize("answer", [ServerError(503), Throttle(retry_after=1)])
def test_a_provider_that_cannot_delete_now_is_a_transient_error(loopback_twilio: LoopbackTwilio, answer) -> None:
    sender = sender_for(loopback_twilio)
    sent = sender.send(TO, BODY)
    loopback_twilio.settle()
    loopback_twilio.plan(answer)

    with pytest.raises(TransientSmsError) as raised:
        sender.delete(sent.sid)

    assert not isinstance(raised.value, CopyNotFinal)
    assert len(loopback_twilio.stored) == 1
    assert sender.delete(sent.sid) is True  # the next attempt


def test_wrong_credentials_never_count_as_deleted(loopback_twilio: LoopbackTwilio) -> None:
    sent = sender_for(loopback_twilio).send(TO, BODY)
    loopback_twilio.settle()
    wrong = TwilioSender(loopback_twilio.account_sid, "wrong", from_=FROM, api_base_url=loopback_twilio.base_url)

    with pytest.raises(TransientSmsError):
        wrong.delete(sent.sid)

    assert len(loopback_twilio.stored) == 1


def test_what_is_not_a_twilio_sid_is_not_sent_to_twilio(loopback_twilio: LoopbackTwilio) -> None:
    sender = sender_for(loopback_twilio)
    sender.send(TO, BODY)  # builds the client
    loopback_twilio.plan(ServerError(500))  # would answer the next request, if one came

    assert sender.delete("LO" + "0" * 32) is False  # the local outbox's
    assert sender.delete("SM../../Calls") is False

    loopback_twilio.settle()
    [stored] = loopback_twilio.stored
    with pytest.raises(TransientSmsError):
        sender.delete(stored["sid"])  # the planned 500 was still waiting: no request was made before


def test_configuration_is_checked_up_front() -> None:
    with pytest.raises(ValueError):
        TwilioSender("AC" + "0" * 32, "token")  # neither from_ nor messaging_service_sid
    with pytest.raises(ValueError):
        TwilioSender("AC" + "0" * 32, "token", from_=FROM, api_base_url="http://gateway.example.com")
    with pytest.raises(ValueError):
        TwilioSender("AC" + "0" * 32, "token", from_=FROM, timeout=0)
    sender = TwilioSender("AC" + "0" * 32, "secret-token", from_=FROM, api_base_url="https://gw.example.com/")
    assert "secret-token" not in repr(sender)


def test_masked_keeps_country_code_and_last_two_digits() -> None:
    assert masked("+46701740667") == "+46*******67"
    assert masked("+4799999911") == "+47******11"
    assert masked("+12025550123") == "+1********23"
    assert masked("+358401234567") == "+358*******67"
    assert masked("070-174 06 67") == "********67"
    assert masked("") == "*"
    assert masked("123") == "***"


def test_importing_shared_sms_does_not_import_twilio() -> None:
    code = textwrap.dedent(
        """
        import sys
        import shared.adapters.sms.twilio
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"twilio", "requests", "urllib3"})
        print(heavy)
        raise SystemExit(1 if heavy else 0)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
