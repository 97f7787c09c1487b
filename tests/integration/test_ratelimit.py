"""The rate limiter against Azurite (the in-memory twin in the fast tier): at most `limit` events in any
span of `window`, counted per key."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableClient

from shared.adapters.ratelimit import RateLimited, RateLimiter
from shared.adapters.storage import RATE_LIMITS, StorageAccount
from shared.local.azurite import Azurite
from tests.conftest import MEMORY

HOUR = timedelta(hours=1)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def table(request: pytest.FixtureRequest) -> Iterator[TableClient]:
    """The rate-limit table: Azurite's, or in the fast tier the in-memory twin's (tests/conftest.py)."""
    if MEMORY:
        storage = request.getfixturevalue("memory_storage")
    else:
        azurite: Azurite = request.getfixturevalue("azurite")
        storage = StorageAccount(connection_string=azurite.connection_string)
    storage.ensure_resources()
    client = storage.table(RATE_LIMITS)
    for row in client.list_entities(select=["PartitionKey", "RowKey"]):
        client.delete_entity(row["PartitionKey"], row["RowKey"])
    yield client


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


def test_the_limit_is_reached_then_refused_with_retry_after(table: TableClient, clock: Clock) -> None:
    limiter = RateLimiter(table, clock)
    for _ in range(3):
        limiter.hit("phone.a", 3, HOUR)
        clock.advance(minutes=5)
    with pytest.raises(RateLimited) as caught:
        limiter.hit("phone.a", 3, HOUR)
    # The first hit (9:00) leaves the window at 10:00; it is now 9:15.
    assert 45 * 60 <= caught.value.retry_after <= 46 * 60
    # A refused hit is not counted: waiting out Retry-After is enough.
    clock.advance(seconds=caught.value.retry_after)
    limiter.hit("phone.a", 3, HOUR)
    with pytest.raises(RateLimited):
        limiter.hit("phone.a", 3, HOUR)


def test_keys_and_windows_are_counted_apart(table: TableClient, clock: Clock) -> None:
    limiter = RateLimiter(table, clock)
    limiter.hit("phone.a", 1, HOUR)
    limiter.hit("phone.b", 1, HOUR)
    limiter.hit("phone.a", 1, timedelta(minutes=1))
    with pytest.raises(RateLimited):
        limiter.hit("phone.a", 1, HOUR)
    clock.advance(minutes=2)
    limiter.hit("phone.a", 1, timedelta(minutes=1))  # the short window has passed, the hour has not
    with pytest.raises(RateLimited):
        limiter.hit("phone.a", 1, HOUR)


def test_no_span_of_one_window_holds_more_than_the_limit(table: TableClient, clock: Clock) -> None:
    """A fixed window would allow 3 just before the hour turns and 3 just after."""
    limiter = RateLimiter(table, clock)
    clock.now = datetime(2026, 3, 2, 9, 59, 57, tzinfo=UTC)
    allowed: list[datetime] = []
    for _ in range(200):  # one try every 30 s for 100 minutes
        try:
            limiter.hit("phone.a", 3, HOUR)
            allowed.append(clock.now)
        except RateLimited:
            pass
        clock.advance(seconds=30)
    for index, start in enumerate(allowed):
        within = [t for t in allowed[index:] if t - start < HOUR]
        assert len(within) <= 3, f"{len(within)} hits within an hour from {start:%H:%M:%S}"
    assert len(allowed) >= 4  # the limiter does let hits through again after an hour


def test_concurrent_hits_never_pass_the_limit(table: TableClient, clock: Clock) -> None:
    limiter = RateLimiter(table, clock)
    passed: list[int] = []
    refused: list[int] = []
    barrier = threading.Barrier(12)

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            limiter.hit("client.x", 5, HOUR)
            passed.append(n)
        except RateLimited:
            refused.append(n)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(passed) <= 5
    assert len(passed) + len(refused) == 12
    # The other side: the limit's worth get through (a limiter refusing everything passed the lines above).
    assert len(passed) == 5 and len(refused) == 7, (passed, refused)
    with pytest.raises(RateLimited):
        limiter.hit("client.x", 5, HOUR)


def test_a_large_limit_keeps_one_small_row(table: TableClient, clock: Clock) -> None:
    limiter = RateLimiter(table, clock)
    for _ in range(150):
        limiter.hit("client.busy", 100_000, HOUR)
        clock.advance(seconds=47)
    rows = list(table.query_entities("PartitionKey eq 'client.busy'"))
    assert len(rows) == 1
    assert sum(len(str(v)) for v in rows[0].values()) < 4096


def test_rows_say_when_they_expire(table: TableClient, clock: Clock) -> None:
    limiter = RateLimiter(table, clock)
    limiter.hit("phone.a", 3, HOUR)
    [row] = table.list_entities()
    expires = row["ExpiresAt"]
    assert clock.now + HOUR <= expires <= clock.now + HOUR + timedelta(minutes=2)


# --- the process remembers the version it wrote (issue 15: fewer storage calls per registration) -----


class CountingTable:
    """The real table client, with its calls counted by name."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self.calls: list[str] = []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        attribute = getattr(self._table, name)
        if not callable(attribute):
            return attribute

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return counted


def test_a_new_counter_and_every_later_hit_cost_one_call(table: TableClient, clock: Clock) -> None:
    counting = CountingTable(table)
    limiter = RateLimiter(counting, clock)  # type: ignore[arg-type]
    limiter.hit("client.a", 10, HOUR)
    limiter.hit("client.a", 10, HOUR)
    limiter.hit("client.a", 10, HOUR)
    assert counting.calls == ["create_entity", "update_entity", "update_entity"]


def test_two_instances_on_one_counter_still_hold_the_limit(table: TableClient, clock: Clock) -> None:
    first, second = RateLimiter(table, clock), RateLimiter(table, clock)
    first.hit("budget", 3, HOUR)
    second.hit("budget", 3, HOUR)  # its create fails: it reads, then writes on top
    first.hit("budget", 3, HOUR)  # what `first` remembers is stale: If-Match fails, it reads again
    for limiter in (first, second):
        with pytest.raises(RateLimited):
            limiter.hit("budget", 3, HOUR)


def test_a_counter_erased_elsewhere_is_not_refused_from_memory(table: TableClient, clock: Clock) -> None:
    limiter = RateLimiter(table, clock)
    limiter.hit("phone.a", 1, HOUR)
    table.delete_entity("phone.a", "3600")  # erasure of the number removes its counters
    limiter.hit("phone.a", 1, HOUR)  # the memory says full; a fresh read says otherwise
    with pytest.raises(RateLimited):
        limiter.hit("phone.a", 1, HOUR)


# --- issue 19.6: check every cap, then count ----------------------------------------------------------


def test_check_all_counts_nothing_and_names_the_key_that_refused(table: TableClient, clock: Clock) -> None:
    limiter = RateLimiter(table, clock)
    limiter.hit("client.a", 1, HOUR)
    caps = [("client.a", [(1, HOUR)]), ("phone.v", [(3, HOUR), (5, timedelta(days=1))])]
    with pytest.raises(RateLimited) as refused:
        limiter.check_all(caps)
    assert refused.value.key == "client.a" and refused.value.window == HOUR
    assert [e["PartitionKey"] for e in table.list_entities()] == ["client.a"]  # the number's counter untouched


def test_a_check_reads_what_another_instance_counted(table: TableClient, clock: Clock) -> None:
    first, second = RateLimiter(table, clock), RateLimiter(table, clock)
    second.check("phone.v", [(2, HOUR)])  # nothing yet: it remembers an empty counter
    for _ in range(2):
        first.hit("phone.v", 2, HOUR)
    with pytest.raises(RateLimited):  # a refusal is decided on a fresh read, never on memory alone
        first.check("phone.v", [(2, HOUR)])
    # `second` remembers an empty counter, so its check passes; the count it then writes finds the row
    # (the create fails), reads it, and refuses: across instances the count itself holds the limit.
    second.check("phone.v", [(2, HOUR)])
    with pytest.raises(RateLimited):
        second.hit("phone.v", 2, HOUR)


def test_the_busiest_counters_of_a_prefix_over_a_window(table: TableClient, clock: Clock) -> None:
    limiter = RateLimiter(table, clock)
    for key, times in (("client.a", 3), ("client24.b", 5), ("client48.c", 1), ("phone.x", 9)):
        for _ in range(times):
            limiter.hit(key, 100, HOUR)
    limiter.hit_all("client.d", [(100, HOUR), (100, timedelta(days=1))])
    assert limiter.busiest("client", HOUR, top=3) == [("client24.b", 5), ("client.a", 3), ("client.d", 1)]
    clock.advance(hours=1, minutes=2)
    assert limiter.busiest("client", HOUR) == []  # the hour has passed: nobody is spending now


# --- issue 22.2: a new number's counter is created without a read first ---------------------------------


def test_a_new_counter_is_opened_with_one_create(table: TableClient, clock: Clock) -> None:
    counting = CountingTable(table)
    limiter = RateLimiter(counting, clock)  # type: ignore[arg-type]
    opened = limiter.open_new("phone.n", [(3, HOUR)])
    assert opened is not None
    limiter.hit("phone.n", 3, HOUR)
    limiter.hit("phone.n", 3, HOUR)
    assert counting.calls == ["create_entity", "update_entity", "update_entity"]
    with pytest.raises(RateLimited):  # the create counted one: three in all
        limiter.hit("phone.n", 3, HOUR)


def test_a_counter_another_instance_made_is_read_once_and_then_checked_and_counted_from_memory(
    table: TableClient, clock: Clock
) -> None:
    RateLimiter(table, clock).hit_all("phone.m", [(2, HOUR)])
    counting = CountingTable(table)
    limiter = RateLimiter(counting, clock)  # type: ignore[arg-type]
    assert limiter.open_new("phone.m", [(2, HOUR)]) is None  # it exists: nothing counted
    limiter.check("phone.m", [(2, HOUR)])
    limiter.hit_all("phone.m", [(2, HOUR)])
    assert counting.calls == ["create_entity", "get_entity", "update_entity"]
    with pytest.raises(RateLimited):
        limiter.check("phone.m", [(2, HOUR)])


def test_taking_back_an_opened_counter_leaves_it_as_before(table: TableClient, clock: Clock) -> None:
    limiter = RateLimiter(table, clock)
    opened = limiter.open_new("phone.t", [(1, HOUR)])
    assert opened is not None
    limiter.take_back(opened)
    assert [e["PartitionKey"] for e in table.list_entities()] == []  # nothing else counted: no row left
    limiter.hit("phone.t", 1, HOUR)  # the one event the limit allows is still there


def test_taking_back_keeps_what_another_instance_counted_meanwhile(table: TableClient, clock: Clock) -> None:
    first, second = RateLimiter(table, clock), RateLimiter(table, clock)
    opened = first.open_new("phone.u", [(2, HOUR)])
    assert opened is not None
    clock.advance(minutes=7)
    second.hit("phone.u", 2, HOUR)  # the row moved: `first`'s version is stale
    first.take_back(opened)
    expires = table.get_entity("phone.u", "3600")["ExpiresAt"]
    assert expires >= clock.now + HOUR  # the later hit's expiry stands
    second.hit("phone.u", 2, HOUR)  # one taken back, one kept: room for exactly one more
    with pytest.raises(RateLimited):
        first.hit("phone.u", 2, HOUR)
