"""The queue contract the app and the local host rely on: text in and out, hidden while taken, counted
each time it is taken, deleted only with the latest receipt."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError


def test_a_message_sent_is_peeked_without_being_taken(queue: Any) -> None:
    sent = queue.send_message('{"theme": "stress", "row": "outbox.1"}')
    assert sent.content == '{"theme": "stress", "row": "outbox.1"}' and sent.id and sent.pop_receipt
    [peeked] = queue.peek_messages(max_messages=32)
    assert (peeked.id, peeked.content, peeked.dequeue_count) == (sent.id, sent.content, 0)
    assert [m.content for m in queue.peek_messages()] == [sent.content]  # one, by default


def test_a_taken_message_is_hidden_then_comes_back_counted(queue: Any) -> None:
    queue.send_message("first")
    queue.send_message("later", visibility_timeout=60)
    [taken] = queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=1)
    assert (taken.content, taken.dequeue_count) == ("first", 1)
    assert list(queue.receive_messages()) == [] and queue.peek_messages(max_messages=32) == []
    assert queue.get_queue_properties().approximate_message_count == 2
    time.sleep(1.2)
    [again] = queue.receive_messages(visibility_timeout=30)
    assert (again.id, again.dequeue_count) == (taken.id, 2)
    with pytest.raises(HttpResponseError) as caught:
        queue.delete_message(taken)  # its receipt is stale: someone else holds the message now
    assert caught.value.status_code == 400
    queue.delete_message(again)
    with pytest.raises(ResourceNotFoundError):
        queue.delete_message(again)  # gone
    assert queue.get_queue_properties().approximate_message_count == 1


def test_updating_a_taken_message_keeps_it_hidden_under_a_new_receipt(queue: Any) -> None:
    queue.send_message("work")
    [taken] = queue.receive_messages(visibility_timeout=1)
    renewed = queue.update_message(taken.id, taken.pop_receipt, visibility_timeout=30)
    assert renewed.pop_receipt != taken.pop_receipt
    time.sleep(1.2)
    assert list(queue.receive_messages()) == []
    with pytest.raises(HttpResponseError) as caught:
        queue.update_message(taken.id, taken.pop_receipt, visibility_timeout=30)
    assert caught.value.status_code == 400
    queue.delete_message(taken.id, renewed.pop_receipt)
    assert queue.get_queue_properties().approximate_message_count == 0


def test_receiving_takes_at_most_max_messages_oldest_first(queue: Any) -> None:
    for i in range(5):
        queue.send_message(f"m{i}")
    taken = list(queue.receive_messages(max_messages=3))
    assert [m.content for m in taken] == ["m0", "m1", "m2"]
    with pytest.raises(ValueError):  # refused by the SDK before it asks
        queue.receive_messages(messages_per_page=32, max_messages=3)
    queue.clear_messages()
    assert queue.get_queue_properties().approximate_message_count == 0


def test_a_queue_that_does_not_exist_is_not_found(account: Any) -> None:
    with pytest.raises(ResourceNotFoundError):
        account.queue("contract-never-made").send_message("x")
