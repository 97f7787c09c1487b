"""One send rate for the whole installation: the window rows in Table Storage, shared by every process.

The windows are checked here with a settable clock (no waiting); the two-instances test in
tests/integration/test_send_rate_instances.py runs real processes against the loopback Twilio server.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.adapters.sms.send_rate import Lane, SendRate, SendRateBusy
from shared.adapters.storage import RATE_LIMITS
from shared.composition import Services


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
