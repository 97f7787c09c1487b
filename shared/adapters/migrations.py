"""Rows of the one-off pass that rekeys phone-derived keys (shared/services/rekey.py): the flag that says it
has finished, and the rate-limit counters written under the unkeyed key (deleted: they cannot be traced
back to a number and live an hour at most)."""

from __future__ import annotations

import re
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.storage import RATE_LIMITS, StorageAccount, storage_errors

# Written once a pass found nothing left to rewrite: verifications stop looking for legacy markers.
# No ExpiresAt, so retention's sweep of expired counters leaves it alone.
MIGRATED = ("migrations", "phone-keys-hmac")
LEGACY_KEY = re.compile(r"^(phone|client)\.[0-9a-f]{32}$")


class PhoneKeyMigration:
    def __init__(self, storage: StorageAccount) -> None:
        self._storage = storage

    def _table(self) -> Any:
        return self._storage.table(RATE_LIMITS)

    def done(self) -> bool:
        with storage_errors():
            try:
                self._table().get_entity(*MIGRATED)
            except ResourceNotFoundError:
                return False
        return True

    def record_done(self) -> None:
        with storage_errors():
            self._table().upsert_entity({"PartitionKey": MIGRATED[0], "RowKey": MIGRATED[1]})

    def delete_legacy_counters(self) -> int:
        table = self._table()
        deleted = 0
        with storage_errors():
            for row in list(table.list_entities(select=["PartitionKey", "RowKey"])):
                if not LEGACY_KEY.match(row["PartitionKey"]):
                    continue
                try:
                    table.delete_entity(row["PartitionKey"], row["RowKey"])
                    deleted += 1
                except ResourceNotFoundError:
                    continue
        return deleted
