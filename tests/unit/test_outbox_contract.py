"""The notifications queue's message contract (shared/services/outbox.py), both forms, and how rows are
grouped into messages: per theme, each change's rows together, never more than MAX_ROWS_PER_MESSAGE."""

from __future__ import annotations

import json

import pytest

from shared.core.domain import MessageKind, OutboxMessage, RecipientType, new_message, utcnow
from shared.services.outbox import (
    MAX_ROWS_PER_MESSAGE,
    MAX_ROWS_READ,
    NotificationMessageError,
    OutboxRows,
    notification_for,
    parse_queue_message,
    per_message,
)


def text(group: str, theme: str = "stress"):  # type: ignore[no-untyped-def]
    return new_message(theme, MessageKind.INVITATION, RecipientType.MEMBER, now=utcnow(), locale="sv", group_key=group)


def test_both_forms_read_and_the_written_form_round_trips():
    assert parse_queue_message('{"theme":"stress","row":"outbox.1"}') == OutboxRows("stress", ("outbox.1",))
    many = OutboxRows("stress", ("outbox.1", "outbox.2"))
    assert json.loads(many.queue_text()) == {"theme": "stress", "rows": ["outbox.1", "outbox.2"]}
    assert parse_queue_message(many.queue_text()) == many
    one = OutboxRows("stress", ("outbox.1",))
    assert json.loads(one.queue_text()) == {"theme": "stress", "row": "outbox.1"}  # what old readers read
    message = text("group.1")
    assert json.loads(notification_for(message)) == {"theme": "stress", "row": message.key}
    assert parse_queue_message(notification_for(message)) == OutboxRows("stress", (message.key,))


def test_the_contract_has_one_writer_and_no_record_writes_its_own():
    assert not hasattr(OutboxMessage, "queue_text")


def test_a_row_named_twice_is_named_once_in_order():
    assert parse_queue_message('{"theme":"t","rows":["outbox.2","outbox.1","outbox.2"]}').rows == (
        "outbox.2",
        "outbox.1",
    )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not json",
        "[]",
        '"outbox.1"',
        '{"row":"outbox.1"}',
        '{"theme":"t"}',
        '{"theme":"t","rows":[]}',
        '{"theme":"t","rows":"outbox.1"}',
        '{"theme":"t","rows":["group.1"]}',
        '{"theme":"t","rows":["outbox.1",2]}',
        '{"theme":"t","row":"interest.1"}',
        '{"theme":7,"row":"outbox.1"}',
        '{"theme":"t","row":"outbox.' + "x" * 200 + '"}',
        json.dumps({"theme": "t", "rows": [f"outbox.{i}" for i in range(MAX_ROWS_READ + 1)]}),
    ],
)
def test_anything_else_names_no_row(bad):
    with pytest.raises(NotificationMessageError):
        parse_queue_message(bad)


def test_a_commits_changes_share_a_message_each_kept_whole_and_themes_apart():
    # Six changes of nine texts (a group of eight and its roster): five fit one message, the sixth starts
    # the next one rather than being split across two.
    changes = [[text(f"group.{g}") for _ in range(9)] for g in range(6)]
    interleaved = [m for change in changes for m in change]
    other_theme = [text("group.0", theme="sorg")]
    batches = per_message([*interleaved[:3], *other_theme, *interleaved[3:]])

    assert MAX_ROWS_PER_MESSAGE == 50
    assert [(m.theme, len(m.rows)) for m in batches] == [("stress", 45), ("stress", 9), ("sorg", 1)]
    assert batches[0].rows == tuple(m.key for change in changes[:5] for m in change)  # change after change
    assert batches[1].rows == tuple(m.key for m in changes[5])
    assert per_message([]) == []


def test_a_change_larger_than_a_message_is_chunked():
    a = [text("group.a") for _ in range(MAX_ROWS_PER_MESSAGE + 3)]
    b = [text("group.b") for _ in range(2)]
    batches = per_message([a[0], b[0], *a[1:], b[1]])

    assert [len(m.rows) for m in batches] == [MAX_ROWS_PER_MESSAGE, 5]
    assert batches[0].rows + batches[1].rows[:3] == tuple(m.key for m in a)
    assert batches[1].rows[3:] == tuple(m.key for m in b)


def test_the_largest_message_is_read_back():
    [batch] = per_message([text(f"group.{i // 9}") for i in range(MAX_ROWS_PER_MESSAGE)])
    assert len(batch.rows) == MAX_ROWS_PER_MESSAGE <= MAX_ROWS_READ
    assert parse_queue_message(batch.queue_text()) == batch
