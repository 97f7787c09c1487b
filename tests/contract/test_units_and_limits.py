"""The app's own storage code on both: the unit of work (packing change sets into transactions, losing
a race and trying again), the domain's reads of the interests table, and the rate limiter's counters
shared between two instances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.entities import entity_of
from shared.adapters.interests import Rows
from shared.adapters.ratelimit import RateLimited, RateLimiter
from shared.adapters.unit_of_work import GaveUp, LostRace, retrying
from shared.core.domain import INTEREST_PREFIX, Interest, InterestStatus

THEME = "stress"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def person(i: int, status: InterestStatus = InterestStatus.WAITING) -> Interest:
    return Interest(
        theme=THEME,
        key=f"{INTEREST_PREFIX}{i:024x}",
        name=f"Person {i}",
        phone=f"+4670{1000000 + i:07d}",
        locale="sv",
        area="habo",
        status=status,
        consent_version="test",
        created_at=T0 + timedelta(seconds=i),
        verified_at=T0,
        withdraw_token_hash="x",
    )


def test_change_sets_of_one_theme_share_a_transaction_while_they_fit(table: Any) -> None:
    unit = Rows(table)
    for batch in range(3):
        change = unit.change(THEME)
        for i in range(batch * 40, batch * 40 + 40):
            change.create(person(i))
    unit.commit()
    assert unit.transactions == 2  # 40 + 40 in one, the third set of 40 would not fit: a second
    assert unit.entities_written == 120
    assert len(list(table.list_entities())) == 120


def test_a_change_set_larger_than_a_transaction_is_refused(table: Any) -> None:
    unit = Rows(table)
    change = unit.change(THEME)
    for i in range(101):
        change.create(person(i))
    with pytest.raises(ValueError, match="cannot commit atomically"):
        unit.commit()
    assert list(table.list_entities()) == []


def test_a_row_changed_after_it_was_read_loses_the_race_whole(table: Any) -> None:
    table.create_entity(entity_of(person(1)))
    unit = Rows(table)
    read = unit.interest(THEME, person(1).key)
    assert read is not None
    table.update_entity({"PartitionKey": THEME, "RowKey": read.key, "Name": "Someone else"})
    change = unit.change(THEME)
    change.create(person(2))
    change.merge(read.model_copy(update={"status": InterestStatus.GROUPED}), "status")
    with pytest.raises(LostRace):
        unit.commit()
    assert [i.key for i in Rows(table).waiting_line(THEME)[0].values()] == [person(1).key]  # person 2 never written


def test_retrying_reads_again_after_a_lost_race_and_then_commits(table: Any) -> None:
    table.create_entity(entity_of(person(1)))
    races: list[str] = []

    def group_person_one(unit: Rows) -> str:
        interest = unit.interest(THEME, person(1).key)
        assert interest is not None
        if not races:  # another instance writes between this attempt's read and its commit
            table.update_entity({"PartitionKey": THEME, "RowKey": interest.key, "Name": "Renamed"})
        unit.change(THEME).replace(interest.model_copy(update={"status": InterestStatus.GROUPED}))
        return interest.name

    name = retrying(lambda: Rows(table), group_person_one, on_lost_race=lambda: races.append("lost"))
    assert races == ["lost"] and name == "Renamed"
    assert Rows(table).grouped(THEME)[person(1).key].name == "Renamed"


def test_retrying_gives_up_when_every_attempt_loses(table: Any) -> None:
    table.create_entity(entity_of(person(1)))

    def always_overtaken(unit: Rows) -> None:
        interest = unit.interest(THEME, person(1).key)
        assert interest is not None
        table.update_entity({"PartitionKey": THEME, "RowKey": interest.key, "Name": "Again"})
        unit.change(THEME).replace(interest)

    with pytest.raises(GaveUp):
        retrying(lambda: Rows(table), always_overtaken, attempts=3)


def test_the_domain_reads_find_waiting_people_and_attempts(table: Any) -> None:
    unit = Rows(table)
    change = unit.change(THEME)
    for i in range(3):
        change.create(person(i, InterestStatus.GROUPED if i == 2 else InterestStatus.WAITING))
    change.add_marker("phone.k1.1", person(0).key)
    change.add_marker("phone.k1.2", person(1).key)
    change.add_marker("phone.k2.1", person(2).key)
    unit.commit()
    rows = Rows(table)
    waiting, groups = rows.waiting_line(THEME)
    assert list(waiting) == [person(0).key, person(1).key] and groups == {}
    assert [m.key for m in rows.attempts(THEME, "k1")] == ["phone.k1.1", "phone.k1.2"]
    assert {t for t in rows.themes_with_rows()} == {THEME}
    assert [p.theme for p in rows.waiting_people()] == [THEME, THEME]


def test_two_instances_count_one_limit_between_them(table: Any) -> None:
    now = [T0]
    first, second = RateLimiter(table, lambda: now[0]), RateLimiter(table, lambda: now[0])
    first.hit("phone.a", 3, timedelta(hours=1))
    second.hit("phone.a", 3, timedelta(hours=1))  # writes over the first's version: the first's is stale now
    first.hit("phone.a", 3, timedelta(hours=1))
    with pytest.raises(RateLimited):
        second.hit("phone.a", 3, timedelta(hours=1))
    now[0] += timedelta(hours=1, minutes=1)
    first.hit("phone.a", 3, timedelta(hours=1))
    [row] = table.list_entities()
    assert row["PartitionKey"] == "phone.a"
