"""The local outbox deletes its copies as a provider would; CopyKeepingSender notes what was sent and
passes everything else through."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.adapters.sms.base import SentMessage, SmsSender
from shared.adapters.sms.copies import CopyKeepingSender
from shared.adapters.sms.local import LocalOutboxSender
from shared.core.domain import utcnow


class NotedCopies:
    """Stands in for the smscopies table (adapters/sms/copies.ProviderCopies), which Azurite tests cover."""

    def __init__(self, fail: bool = False) -> None:
        self.noted: list[tuple[str, str]] = []
        self.fail = fail

    def record(self, sid: str, to: str, sent_at: datetime) -> None:
        if self.fail:
            raise ConnectionError("storage down")
        self.noted.append((sid, to))


def test_the_local_outbox_deletes_one_copy_and_knows_when_it_has_none() -> None:
    outbox = LocalOutboxSender(echo=None)
    first = outbox.send("+46701740601", "ett")
    second = outbox.send("+46701740602", "två")

    assert outbox.delete(first.sid) is True

    assert [m.sid for m in outbox.messages()] == [second.sid]
    assert outbox.delete(first.sid) is False
    assert outbox.send("+46701740603", "tre").sid  # still sends after a delete
    assert len(outbox.messages()) == 2


def test_every_sender_can_delete() -> None:
    assert isinstance(LocalOutboxSender(echo=None), SmsSender)
    assert "delete" in SmsSender.__dict__


def test_copy_keeping_sender_notes_each_sent_or_found_message_and_passes_the_rest_through() -> None:
    outbox = LocalOutboxSender(echo=None)
    copies = NotedCopies()
    sender = CopyKeepingSender(outbox, copies, clock=utcnow)  # type: ignore[arg-type]
    assert isinstance(sender, SmsSender)

    sent = sender.send("+46701740601", "hej")
    found = sender.find_sent("+46701740601", "hej", datetime.now(UTC))

    assert isinstance(sent, SentMessage) and found == SentMessage(sent.sid, "queued")
    assert copies.noted == [(sent.sid, "+46701740601"), (sent.sid, "+46701740601")]
    assert sender.messages() == outbox.messages()  # the local outbox's own API, for /dev/outbox
    assert sender.delete(sent.sid) is True and outbox.messages() == []


def test_a_copy_that_cannot_be_noted_does_not_undo_the_send(caplog) -> None:
    outbox = LocalOutboxSender(echo=None)
    sender = CopyKeepingSender(outbox, NotedCopies(fail=True), clock=utcnow)  # type: ignore[arg-type]

    sent = sender.send("+46701740601", "hej")

    assert [m.sid for m in outbox.messages()] == [sent.sid]
    assert "could not be noted (ConnectionError)" in caplog.text
    assert "+4670" not in caplog.text
