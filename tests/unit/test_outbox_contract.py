"""The notifications queue's message contract (shared/services/outbox.py), both forms, and how rows are
grouped into messages: per change, never more than MAX_ROWS_PER_MESSAGE."""

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
    per_change,
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


def test_rows_are_grouped_per_change_and_chunked():
    a = [text("group.a") for _ in range(MAX_ROWS_PER_MESSAGE + 3)]
    b = [text("group.b") for _ in range(2)]
    other_theme = [text("group.a", theme="sorg")]
    batches = per_change([a[0], b[0], *a[1:], b[1], *other_theme])

    assert [(m.theme, len(m.rows)) for m in batches] == [
        ("stress", MAX_ROWS_PER_MESSAGE),
        ("stress", 3),
        ("stress", 2),
        ("sorg", 1),
    ]
    assert batches[0].rows + batches[1].rows == tuple(m.key for m in a)
    assert batches[2].rows == tuple(m.key for m in b)
    assert per_change([]) == []
