"""The unit of work's single-row writes and marker moves, on Azurite and on the twin: each is conditional
on the version this unit read (If-Match), or deliberately not. Mutation testing (docs/mutation.md) found
no test reaching them; retention, intake, rekeying and confirmation rely on each rule below."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.entities import entity_of, marker_entity
from shared.adapters.interests import Rows
from shared.adapters.unit_of_work import LostRace
from shared.core.domain import Interest, InterestStatus
from tests.support.tables import waiting_interest

THEME = "stress"
MARKER = "phone.k1"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def person(i: int) -> Interest:
    return waiting_interest(i, THEME, T0)


def stored(table: Any, key: str) -> dict[str, Any] | None:
    found = list(table.query_entities("PartitionKey eq @p and RowKey eq @r", parameters={"p": THEME, "r": key}))
    return dict(found[0]) if found else None


def renamed_elsewhere(table: Any, key: str, name: str = "Someone else") -> None:
    """Another instance writes the row between this unit's read and its write."""
    table.update_entity({"PartitionKey": THEME, "RowKey": key, "Name": name})


# --- try_replace ---------------------------------------------------------------------------------


def test_try_replace_writes_the_whole_row_when_it_is_as_read(table: Any) -> None:
    table.create_entity({**entity_of(person(1)), "Extra": "left by an older version"})
    unit = Rows(table)
    read = unit.interest(THEME, person(1).key)
    assert read is not None
    assert unit.try_replace(read.model_copy(update={"code_attempts": 2})) is True
    row = stored(table, person(1).key)
    assert row is not None and row["CodeAttempts"] == 2
    assert "Extra" not in row  # replaced, not merged


def test_try_replace_refuses_a_row_changed_since_it_was_read(table: Any) -> None:
    table.create_entity(entity_of(person(1)))
    unit = Rows(table)
    read = unit.interest(THEME, person(1).key)
    assert read is not None
    renamed_elsewhere(table, read.key)
    assert unit.try_replace(read.model_copy(update={"code_attempts": 2})) is False
    row = stored(table, person(1).key)
    assert row is not None and row["Name"] == "Someone else" and row.get("CodeAttempts", 0) == 0


def test_try_replace_refuses_a_row_gone_since_it_was_read(table: Any) -> None:
    table.create_entity(entity_of(person(1)))
    unit = Rows(table)
    read = unit.interest(THEME, person(1).key)
    assert read is not None
    table.delete_entity(THEME, read.key)
    assert unit.try_replace(read) is False
    assert stored(table, person(1).key) is None  # not written back


def test_a_second_try_replace_writes_on_top_of_the_first(table: Any) -> None:
    """The unit keeps the version its own write returned: its next conditional write is not a lost race."""
    table.create_entity(entity_of(person(1)))
    unit = Rows(table)
    read = unit.interest(THEME, person(1).key)
    assert read is not None
    assert unit.try_replace(read.model_copy(update={"code_attempts": 1})) is True
    assert unit.try_replace(read.model_copy(update={"code_attempts": 2})) is True
    renamed_elsewhere(table, read.key)
    assert unit.try_replace(read.model_copy(update={"code_attempts": 3})) is False
    row = stored(table, person(1).key)
    assert row is not None and row["CodeAttempts"] == 2


# --- try_delete, delete_quietly ----------------------------------------------------------------------


def test_try_delete_deletes_a_row_as_read(table: Any) -> None:
    table.create_entity(entity_of(person(1)))
    unit = Rows(table)
    assert unit.interest(THEME, person(1).key) is not None
    assert unit.try_delete(THEME, person(1).key) is True
    assert stored(table, person(1).key) is None


def test_try_delete_leaves_a_row_changed_since_it_was_read(table: Any) -> None:
    table.create_entity(entity_of(person(1)))
    unit = Rows(table)
    assert unit.interest(THEME, person(1).key) is not None
    renamed_elsewhere(table, person(1).key)
    assert unit.try_delete(THEME, person(1).key) is False
    row = stored(table, person(1).key)
    assert row is not None and row["Name"] == "Someone else"


def test_deleting_a_gone_row_is_no_error(table: Any) -> None:
    """The SDK's delete_entity returns quietly on 404 (the twin does the same), so `try_delete` and
    `delete_quietly` cannot tell a gone row from a deleted one: their ResourceNotFoundError branches are
    never taken (docs/mutation.md, the equivalent survivors)."""
    unit = Rows(table)
    assert unit.try_delete(THEME, person(1).key) is True
    assert unit.delete_quietly(THEME, person(1).key) is True
    assert stored(table, person(1).key) is None


def test_after_try_delete_the_unit_forgets_the_rows_version(table: Any) -> None:
    """A row created again under the same key is a new row: the unit holds no version of it."""
    table.create_entity(entity_of(person(1)))
    unit = Rows(table)
    read = unit.interest(THEME, person(1).key)
    assert read is not None
    assert unit.try_delete(THEME, read.key) is True
    table.create_entity(entity_of(person(1)))
    assert unit.try_replace(read.model_copy(update={"code_attempts": 4})) is True
    row = stored(table, person(1).key)
    assert row is not None and row["CodeAttempts"] == 4


def test_delete_quietly_deletes_whatever_is_there(table: Any) -> None:
    table.create_entity(entity_of(person(1)))
    unit = Rows(table)
    assert unit.interest(THEME, person(1).key) is not None
    renamed_elsewhere(table, person(1).key)  # unconditional: a change since the read does not matter
    assert unit.delete_quietly(THEME, person(1).key) is True
    assert stored(table, person(1).key) is None


# --- try_merge, try_create ---------------------------------------------------------------------------


def test_try_merge_is_conditional_unless_forced(table: Any) -> None:
    table.create_entity(entity_of(person(1)))
    unit = Rows(table)
    read = unit.interest(THEME, person(1).key)
    assert read is not None
    renamed_elsewhere(table, read.key)
    grouped = read.model_copy(update={"status": InterestStatus.GROUPED})
    assert unit.try_merge(grouped, "status") is False
    row = stored(table, person(1).key)
    assert row is not None and row["Status"] == "waiting"
    assert unit.try_merge(grouped, "status", force=True) is True
    row = stored(table, person(1).key)
    assert row is not None and row["Status"] == "grouped" and row["Name"] == "Someone else"  # merged, not replaced


def test_try_merge_of_a_row_as_read_merges(table: Any) -> None:
    table.create_entity(entity_of(person(1)))
    unit = Rows(table)
    read = unit.interest(THEME, person(1).key)
    assert read is not None
    assert unit.try_merge(read.model_copy(update={"status": InterestStatus.GROUPED}), "status") is True
    assert unit.try_merge(read.model_copy(update={"group_id": "group.1"}), "group_id") is True  # on its own write
    row = stored(table, person(1).key)
    assert row is not None and row["Status"] == "grouped" and row["GroupId"] == "group.1"


def test_try_create_is_false_when_the_row_exists(table: Any) -> None:
    unit = Rows(table)
    assert unit.try_create(person(1)) is True
    assert unit.try_create(person(1).model_copy(update={"name": "Second"})) is False
    row = stored(table, person(1).key)
    assert row is not None and row["Name"] == person(1).name


# --- put_marker, discard -------------------------------------------------------------------------------


def test_put_marker_moves_a_marker_read_in_this_unit_only_if_unchanged(table: Any) -> None:
    table.create_entity(marker_entity(THEME, MARKER, person(1).key))
    unit = Rows(table)
    assert unit.marker(THEME, "k1") is not None
    table.update_entity(marker_entity(THEME, MARKER, person(3).key))  # another instance moved it
    unit.change(THEME).put_marker(MARKER, person(2).key)
    with pytest.raises(LostRace):
        unit.commit()
    row = stored(table, MARKER)
    assert row is not None and row["Interest"] == person(3).key


def test_put_marker_moves_a_marker_read_and_unchanged(table: Any) -> None:
    table.create_entity(marker_entity(THEME, MARKER, person(1).key))
    unit = Rows(table)
    assert unit.marker(THEME, "k1") is not None
    unit.change(THEME).put_marker(MARKER, person(2).key)
    unit.commit()
    row = stored(table, MARKER)
    assert row is not None and row["Interest"] == person(2).key


def test_put_marker_not_read_writes_over_whatever_is_there(table: Any) -> None:
    table.create_entity(marker_entity(THEME, MARKER, person(1).key))
    unit = Rows(table)
    unit.change(THEME).put_marker(MARKER, person(2).key)  # unread: an upsert
    unit.change(THEME).put_marker("phone.k2", person(3).key)  # absent: created
    unit.commit()
    moved, created = stored(table, MARKER), stored(table, "phone.k2")
    assert moved is not None and moved["Interest"] == person(2).key
    assert created is not None and created["Interest"] == person(3).key


def test_a_discarded_change_set_is_not_committed(table: Any) -> None:
    unit = Rows(table)
    kept, dropped = unit.change(THEME), unit.change(THEME)
    kept.create(person(1))
    dropped.create(person(2))
    unit.discard(dropped)
    unit.commit()
    assert stored(table, person(1).key) is not None
    assert stored(table, person(2).key) is None
    assert unit.transactions == 1 and unit.entities_written == 1


# --- delete_all --------------------------------------------------------------------------------------


def test_delete_all_deletes_every_row_a_hundred_per_transaction(table: Any) -> None:
    keys = [person(i).key for i in range(150)]
    unit = Rows(table)
    for start in (0, 100):
        change = unit.change(THEME)
        for i in range(start, min(start + 100, 150)):
            change.create(person(i))
    unit.commit()
    table.create_entity(entity_of(person(500)))  # not asked for: stays
    assert unit.delete_all(THEME, keys) == 150
    assert [r["RowKey"] for r in table.list_entities()] == [person(500).key]


def test_delete_all_goes_one_by_one_through_a_chunk_with_a_row_already_gone(table: Any) -> None:
    """A transaction with a row already gone fails whole; the chunk's other rows are deleted one by one."""
    unit = Rows(table)
    change = unit.change(THEME)
    for i in range(5):
        change.create(person(i))
    unit.commit()
    table.delete_entity(THEME, person(2).key)
    unit.delete_all(THEME, [person(i).key for i in range(5)])
    assert list(table.list_entities()) == []
