"""The rate limiter's arithmetic and edges, on Azurite and on the twin: the exact Retry-After, what a
refusal names, the limiter refusing under endless contention, and the once-per-window claim. Mutation
testing (docs/mutation.md) showed each of these could change with every test still green."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceModifiedError

from shared.adapters.ratelimit import OncePerWindow, RateLimited, RateLimiter

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = T0 + timedelta(minutes=minutes)


def refusal(limiter: RateLimiter, key: str, limits: list[tuple[int, timedelta]]) -> RateLimited:
    with pytest.raises(RateLimited) as refused:
        limiter.hit_all(key, limits)
    return refused.value


def test_retry_after_is_until_the_oldest_slot_leaves_the_window(table: Any) -> None:
    clock = Clock()
    limiter = RateLimiter(table, clock)
    for minute in (0, 5, 10):
        clock.at(minute)
        limiter.hit("phone.a", 3, HOUR)
    clock.at(15)
    refused = refusal(limiter, "phone.a", [(3, HOUR)])
    # The 9:00 hit counts in its slot (9:00–9:01) until 10:01: 46 minutes from 9:15.
    assert refused.retry_after == 46 * 60
    assert refused.window == HOUR and refused.key == "phone.a"


def test_retry_after_counts_as_many_old_hits_as_must_leave(table: Any) -> None:
    """Five hits counted under a cap of 5 (two at 9:00, three at 9:10), then a cap of 2: four must leave
    the window before one more fits, so the wait is until the 9:10 slot leaves it (10:11)."""
    clock = Clock()
    limiter = RateLimiter(table, clock)
    for minute in (0, 0, 10, 10, 10):
        clock.at(minute)
        limiter.hit("client.a", 5, HOUR)
    clock.at(20)
    assert refusal(limiter, "client.a", [(2, HOUR)]).retry_after == 51 * 60
    # A cap of 4 needs two to leave: the 9:00 slot is enough (10:01).
    assert refusal(limiter, "client.a", [(4, HOUR)]).retry_after == 41 * 60


def test_retry_after_rounds_up_to_a_whole_second_and_is_never_zero(table: Any) -> None:
    clock = Clock()
    limiter = RateLimiter(table, clock)
    minute = timedelta(minutes=1)  # one-second slots
    limiter.hit("phone.a", 1, minute)
    clock.now = T0 + timedelta(seconds=59, milliseconds=500)
    # The hit's slot (9:00:00–9:00:01) leaves the window at 9:01:01, 1.5 s away: 2 s.
    assert refusal(limiter, "phone.a", [(1, minute)]).retry_after == 2
    clock.now = T0 + timedelta(seconds=60, milliseconds=999)
    assert refusal(limiter, "phone.a", [(1, minute)]).retry_after == 1


def test_of_several_full_windows_the_longest_wait_and_window_are_named(table: Any) -> None:
    clock = Clock()
    limiter = RateLimiter(table, clock)
    caps = [(1, HOUR), (1, DAY)]
    limiter.hit_all("phone.a", caps)
    clock.at(30)
    refused = refusal(limiter, "phone.a", caps)
    assert refused.window == DAY
    # The day's slots are 24 minutes, counted from midnight: the 9:00 hit is in 8:48–9:12, which leaves
    # the day window at 9:12 tomorrow, 24 h less 18 min after 9:30 (the hour's wait would be 31 min).
    assert refused.retry_after == 24 * 3600 - 18 * 60
    # The check says the same without counting.
    with pytest.raises(RateLimited) as checked:
        RateLimiter(table, clock).check("phone.a", caps)
    assert (checked.value.retry_after, checked.value.window, checked.value.key) == (
        refused.retry_after,
        DAY,
        "phone.a",
    )


def test_a_refusal_carries_no_key_or_window_unless_told() -> None:
    refused = RateLimited(30)
    assert (refused.retry_after, refused.window, refused.key) == (30, None, "")
    assert "30" in str(refused)


class AlwaysOvertaken:
    """The real table, but every write loses the race: another instance always wrote first."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.writes = 0

    def get_entity(self, *args: Any, **kwargs: Any) -> Any:
        return self._table.get_entity(*args, **kwargs)

    def _lost(self, *args: Any, **kwargs: Any) -> Any:
        self.writes += 1
        raise ResourceModifiedError("overtaken")

    create_entity = update_entity = _lost


def test_endless_contention_is_refused_as_a_flood_and_then_forgotten(table: Any) -> None:
    clock = Clock()
    contended = AlwaysOvertaken(table)
    limiter = RateLimiter(contended, clock)  # type: ignore[arg-type]
    refused = refusal(limiter, "client.x", [(100, HOUR)])
    assert (refused.retry_after, refused.key) == (1, "client.x")
    assert contended.writes == 20  # every attempt tried, none more


def test_once_per_window_is_claimed_once_and_again_after_release(table: Any) -> None:
    once = OncePerWindow(lambda: table)
    expires = T0 + 2 * HOUR
    assert once.claim("budget.alerts", "3600.1", expires) is True
    assert once.claim("budget.alerts", "3600.1", expires) is False
    assert once.claim("budget.alerts", "3600.2", expires) is True  # another window
    [first, _] = sorted(table.list_entities(), key=lambda e: e["RowKey"])
    assert (first["PartitionKey"], first["RowKey"], first["ExpiresAt"]) == ("budget.alerts", "3600.1", expires)
    once.release("budget.alerts", "3600.1")
    once.release("budget.alerts", "3600.1")  # twice: already gone is fine
    assert once.claim("budget.alerts", "3600.1", expires) is True
