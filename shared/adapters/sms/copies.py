"""The provider's copies of our texts: which exist, and which are due to be deleted.

The provider keeps every message it accepted — the recipient's number and the whole body (a roster
holds names and numbers) — until we delete it. So every text that reaches the provider, whoever sent
it (a verification code, an invitation, an alert), leaves one row in the `smscopies` table, written by
`CopyKeepingSender` around the real sender:

    PartitionKey "copy", RowKey the provider's sid, SentAt, Recipient (the key derived from the
    recipient's number, so an erasure finds the texts to that number), EraseNow

Texts to our number are the provider's copies too (the sender's number and words): the webhook notes
each inbound MessageSid here the same way, with the sender as `Recipient` (services/replies.py), and a
STOP's own sid with EraseNow at once.

The row holds no number, no name and no body. It is deleted once the provider's copy is (the
provider-copy pass in services/provider_copies.py): a row means "a copy still exists". An erasure
clears `Recipient` and sets `EraseNow`, so the copy goes at the next attempt instead of after the grace
period, and nothing here points at the erased number any more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final

from shared.adapters.sms.base import SentMessage, SmsSender
from shared.adapters.storage import SMS_COPIES, StorageAccount, storage_errors

log = logging.getLogger(__name__)

PARTITION: Final = "copy"
_BATCH: Final = 100  # Table Storage's limit of operations per transaction


class ProviderCopies:
    """The `smscopies` table. `recipient_key` turns a number into the key stored beside its texts (the
    same keyed derivation as the phone markers, so the table never holds a number)."""

    def __init__(self, storage: StorageAccount, recipient_key: Callable[[str], str]) -> None:
        self._storage = storage
        self._key = recipient_key

    def _table(self) -> Any:
        return self._storage.table(SMS_COPIES)

    def record(self, sid: str, to: str, sent_at: datetime) -> None:
        entity = {"PartitionKey": PARTITION, "RowKey": sid, "SentAt": sent_at, "Recipient": self._key(to)}
        with storage_errors():
            self._table().upsert_entity(entity, mode=_merge())

    def erase_soon(self, sids: Iterable[str]) -> int:
        """Delete these copies at the next attempt, not after the grace period (an erasure, a text naming
        someone who has left). Creates the row when the send was never recorded."""
        operations = [
            (
                "upsert",
                {"PartitionKey": PARTITION, "RowKey": sid, "EraseNow": True, "Recipient": ""},
                {"mode": _merge()},
            )
            for sid in dict.fromkeys(s for s in sids if s)
        ]
        self._submit(operations)
        return len(operations)

    def erase_recipient(self, to: str) -> list[str]:
        """Every copy of a text to this number, due at once; the rows stop pointing at the number.
        Returns their sids."""
        with storage_errors():
            rows = list(
                self._table().query_entities(
                    "PartitionKey eq @p and Recipient eq @r",
                    parameters={"p": PARTITION, "r": self._key(to)},
                    select=["RowKey"],
                )
            )
        sids = [row["RowKey"] for row in rows]
        self.erase_soon(sids)
        return sids

    def of_recipient(self, to: str) -> list[tuple[str, datetime | None]]:
        """(sid, sent or received at) of every copy the provider holds of a text to or from this number, as
        far as we know (the data-subject export)."""
        with storage_errors():
            rows = self._table().query_entities(
                "PartitionKey eq @p and Recipient eq @r",
                parameters={"p": PARTITION, "r": self._key(to)},
                select=["RowKey", "SentAt"],
            )
            return [(row["RowKey"], row.get("SentAt")) for row in rows]

    def due(self, cutoff: datetime) -> list[str]:
        """Sids of the copies to delete now: sent at or before `cutoff`, or marked by an erasure."""
        with storage_errors():
            rows = self._table().query_entities(
                # The SDK finds parameters between spaces: "@cutoff)" would not be one.
                "PartitionKey eq @p and (EraseNow eq true or SentAt le @cutoff )",
                parameters={"p": PARTITION, "cutoff": cutoff},
                select=["RowKey"],
            )
            return [row["RowKey"] for row in rows]

    def marked(self) -> list[str]:
        """Sids of the copies an erasure marked to go at once."""
        with storage_errors():
            rows = self._table().query_entities(
                "PartitionKey eq @p and EraseNow eq true", parameters={"p": PARTITION}, select=["RowKey"]
            )
            return [row["RowKey"] for row in rows]

    def forget(self, sid: str) -> None:
        """The provider's copy is deleted: so is our note of it."""
        with storage_errors():
            self._table().delete_entity(PARTITION, sid)  # no error when it is gone already

    def _submit(self, operations: list[Any]) -> None:
        with storage_errors():
            for start in range(0, len(operations), _BATCH):
                self._table().submit_transaction(operations[start : start + _BATCH])


def _merge() -> Any:
    from azure.data.tables import UpdateMode

    return UpdateMode.MERGE


class CopyKeepingSender:
    """A sender that notes each message the provider accepted in `ProviderCopies`; everything else is the
    wrapped sender's (the local outbox's `messages()` too).

    A failure to note a copy is logged and swallowed: the text was sent, and failing now would send it
    again. That copy then waits for an erasure of its recipient's number, or is left at the provider."""

    def __init__(self, inner: SmsSender, copies: ProviderCopies, *, clock: Callable[[], datetime]) -> None:
        self.inner = inner
        self._copies = copies
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"CopyKeepingSender({self.inner!r})"

    def lane(self, lane: Any) -> CopyKeepingSender:
        """The same sender drawing on another lane of a metered sender inside (adapters/sms/metered.py);
        defined here so that `__getattr__` never hands out the inner sender without this wrapper."""
        choose = getattr(self.inner, "lane", None)
        inner = choose(lane) if callable(choose) else self.inner
        return CopyKeepingSender(inner, self._copies, clock=self._clock)

    def _note(self, sid: str, to: str) -> None:
        try:
            self._copies.record(sid, to, self._clock())
        except Exception as exc:
            log.warning("the provider's copy of a text could not be noted (%s)", type(exc).__name__)

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SentMessage:
        sent = self.inner.send(to, body, status_callback=status_callback)
        self._note(sent.sid, to)
        return sent

    def find_sent(self, to: str, body: str, since: datetime) -> SentMessage | None:
        found = self.inner.find_sent(to, body, since)
        if found is not None:
            self._note(found.sid, to)  # the attempt that sent it may have died before noting it
        return found

    def delete(self, sid: str) -> bool:
        return self.inner.delete(sid)
