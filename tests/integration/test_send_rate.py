"""One send rate for the whole installation: the window rows in Table Storage, shared by every process.

The windows are checked here with a settable clock (no waiting); the two-instances test in
tests/integration/test_send_rate_instances.py runs real processes against the loopback Twilio server.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable

import pytest

from shared.adapters.sms.local import LocalOutboxSender
from shared.adapters.sms.send_rate import Lane, SendRate, SendRateBusy
from shared.adapters.storage import RATE_LIMITS
from shared.composition import Services, build_services
from tests.support.pace import SkippingTime


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


START = 1_780_000_000.25  # a quarter into a window


def instance(services: Services, clock: Clock, per_second: float = 10, **options: float) -> SendRate:
    """One process's limiter: its own memory of the rows, the table shared."""
    return SendRate.of(services.storage, per_second, clock=clock, sleep=clock.sleep, **options)


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()


def test_group_texts_fill_windows_up_to_their_share_across_instances_and_wait_for_them(services: Services) -> None:
    clock = Clock(START)
    first, second = instance(services, clock), instance(services, clock)
    assert (first.window, first.capacity, first.reserved) == (1, 10, 2)
    current = int(START)

    booked = [first.acquire(Lane.TEXTS) for _ in range(5)] + [second.acquire(Lane.TEXTS) for _ in range(5)]

    # Eight segments a window (ten less the codes' two), whichever process books them.
    assert booked == [current] * 8 + [current + 1] * 2
    assert clock.slept == [pytest.approx(0.75)] * 2  # the two in the next window waited for it to begin
    assert second.acquire(Lane.TEXTS, segments=6) == current + 1
    assert second.acquire(Lane.TEXTS, segments=1) == current + 2  # 2 + 6 + 1 > 8


def test_a_code_goes_out_in_the_current_window_while_group_texts_are_booked_ahead(services: Services) -> None:
    clock = Clock(START)
    bulk, intake = instance(services, clock), instance(services, clock)
    current = int(START)
    booked = [bulk.acquire(Lane.TEXTS, segments=4) for _ in range(10)]
    assert booked[-1] == current + 4  # five windows of group texts are waiting

    assert intake.acquire(Lane.CODES) == current
    assert intake.acquire(Lane.CODES) == current
    assert intake.acquire(Lane.CODES, segments=2) == current + 1  # codes share with codes, not with the backlog
    assert bulk.acquire(Lane.TEXTS, segments=4) == current + 5


def test_a_window_never_holds_more_than_the_rate(services: Services) -> None:
    clock = Clock(START)
    processes = [instance(services, clock) for _ in range(3)]
    for n in range(30):
        processes[n % 3].acquire(Lane.CODES if n % 4 == 0 else Lane.TEXTS, segments=1 + n % 3)
    table = services.storage.table(RATE_LIMITS)
    rows = list(table.query_entities("PartitionKey eq 'send-rate'"))
    assert len(rows) >= 6
    assert sum(r["Used"] for r in rows) == sum(1 + n % 3 for n in range(30))
    assert max(r["Used"] for r in rows) <= 10


def test_a_slow_sender_gets_windows_long_enough_to_keep_a_share_for_codes(services: Services) -> None:
    clock = Clock(START)
    slow = instance(services, clock, per_second=0.5)
    assert (slow.window, slow.capacity, slow.reserved) == (10, 5, 1)
    assert [slow.acquire(Lane.TEXTS) for _ in range(5)] == [int(START) // 10] * 4 + [int(START) // 10 + 1]


def test_no_room_within_the_longest_wait_refuses_without_sending(services: Services) -> None:
    clock = Clock(START)
    limiter = instance(services, clock, max_wait=2)
    for _ in range(3):  # the current window and the two ahead
        limiter.acquire(Lane.TEXTS, segments=8)
    with pytest.raises(SendRateBusy) as refused:
        limiter.acquire(Lane.TEXTS)
    assert refused.value.retry_after == 2
    assert limiter.acquire(Lane.CODES) == int(START)  # codes still have their share


def test_windows_reuse_a_ring_of_rows_as_time_goes_on(services: Services) -> None:
    clock = Clock(START)
    limiter = instance(services, clock)
    limiter.acquire(Lane.TEXTS, segments=8)
    clock.now += 512  # the same ring key, a later window: counted from nothing
    other = instance(services, clock)
    assert other.acquire(Lane.TEXTS, segments=8) == int(clock.now)
    rows = list(services.storage.table(RATE_LIMITS).query_entities("PartitionKey eq 'send-rate'"))
    assert len(rows) == 1 and rows[0]["Window"] == int(clock.now)


def test_group_texts_asked_for_late_in_a_window_book_the_next_one_and_codes_do_not(services: Services) -> None:
    clock = Clock(START + 0.5)  # three quarters into the window
    limiter = instance(services, clock)
    assert limiter.acquire(Lane.TEXTS) == int(START) + 1  # sent at the next window's start, counted there
    assert limiter.acquire(Lane.CODES) == int(START)  # a code goes now


class Calls:
    """Counts the HTTP requests a storage client sends (azure-core's raw_request_hook), by method."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def __call__(self, request: object) -> None:
        self.methods.append(request.http_request.method)  # type: ignore[attr-defined]


def counted_instance(services: Services, clock: Clock, calls: Calls) -> SendRate:
    from shared.adapters.storage import StorageAccount

    storage = StorageAccount(
        connection_string=services.settings.storage_connection_string, client_options={"raw_request_hook": calls}
    )
    return SendRate.of(storage, 10, clock=clock, sleep=clock.sleep)


@pytest.mark.azurite  # counts the HTTP requests the storage SDK sends
def test_a_code_in_each_new_window_costs_one_storage_call_after_one_read_ahead(services: Services) -> None:
    """Issue 22: a process reads the next rows of the ring in one query, then books each window with one
    conditional write, where it used to read each row before writing it."""
    clock, calls = Clock(START), Calls()
    limiter = counted_instance(services, clock, calls)
    booked = []
    for _ in range(20):
        booked.append(limiter.acquire(Lane.CODES))
        clock.now += 1  # the next code comes in the next window
    assert booked == [int(START) + n for n in range(20)]
    # One query (a GET of the table) for the 20 windows, then a create per window: 21 calls, not 40.
    assert calls.methods.count("GET") == 1, calls.methods
    assert len(calls.methods) == 21, calls.methods
    rows = list(services.storage.table(RATE_LIMITS).query_entities("PartitionKey eq 'send-rate'"))
    assert sorted(r["Window"] for r in rows) == booked and {r["Used"] for r in rows} == {1}


@pytest.mark.azurite  # counts the HTTP requests the storage SDK sends
def test_rows_read_ahead_and_written_by_another_instance_since_are_read_again_and_counted_right(
    services: Services,
) -> None:
    clock, calls = Clock(START), Calls()
    mine, other = counted_instance(services, clock, calls), instance(services, clock)
    assert mine.acquire(Lane.CODES) == int(START)  # reads the next windows' rows ahead (none there yet)
    for n in range(1, 4):  # another instance fills the next three windows up to the codes' whole capacity
        clock.now = START + n
        for _ in range(10):
            assert other.acquire(Lane.CODES) == int(START) + n
    calls.methods.clear()
    clock.now = START + 1

    # What it read ahead says "empty": its create fails, it reads the row, finds it full and moves on;
    # after that lost race it reads before it writes.
    assert mine.acquire(Lane.CODES) == int(START) + 4
    rows = {
        r["Window"]: r["Used"]
        for r in services.storage.table(RATE_LIMITS).query_entities("PartitionKey eq 'send-rate'")
    }
    assert rows == {int(START): 1, int(START) + 1: 10, int(START) + 2: 10, int(START) + 3: 10, int(START) + 4: 1}
    assert calls.methods[0] == "POST" and calls.methods[1] == "GET", calls.methods


def test_the_wired_send_rate_reads_the_time_and_waits_through_the_pace_it_is_given(
    make_services: Callable[..., Services], send_time: SkippingTime, outbox: LocalOutboxSender
) -> None:
    # Production's pace is the `time` module: real time, real waits.
    assert inspect.signature(build_services).parameters["pace"].default is time
    services = make_services(SMS_RATE_PER_SECOND="1")  # windows of five seconds, four group texts each

    for n in range(9):
        services.sender.send("+46701234567", f"Hej {n}")

    # Nine texts fill three windows: the fifth waited for the next window to begin (more than half a window
    # away: texts asked for in a window's first half go in it, later ones book the next), the ninth a whole
    # window more; so 7.5 to 12.5 seconds of waiting, which the test's pace skipped instead of sleeping.
    assert len(outbox.messages()) == 9
    assert 7.5 <= send_time.skipped <= 12.5, send_time.skipped
