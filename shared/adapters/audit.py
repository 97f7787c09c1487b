"""What operators did, and which of their sessions have ended: the operators' accountability records.

The audit table gets one row per operator action (pages and JSON API alike): a month partition, a
sortable time+random RowKey, the action, its outcome, the ids it touched (groups, facilitators,
themes — never a number or a name), who acted (`token`, `session:<hash>`, `easyauth:<hash>`) and,
for erasures, a count. A failed write is logged without details and never undoes the action.

A look-up by number (the export, the erase page's preview, the erasure) names its target by the keyed
marker of the number (`phone.<HMAC>`, `lookup_target`), as the interests table does: whoever holds
PHONE_KEY_SECRET can answer "who looked up this number, when", a copy of the table alone cannot.

Signed-out sessions are remembered in the rate-limit table's `revoked-session` partition until the
cookie would have expired anyway: the `ExpiresAt` column is the one the daily retention run already
sweeps in that table, so no new table and no new clean-up are needed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.storage import storage_errors
from shared.core.domain import PHONE_PREFIX, new_sortable_key
from shared.core.phone import PhoneKeyer

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger(__name__)

REVOKED_SESSIONS = "revoked-session"


def lookup_target(keyer: PhoneKeyer, e164: str) -> str:
    """The audit target of a look-up by number: its keyed marker, never the number."""
    return f"{PHONE_PREFIX}{keyer.key(e164)}"


class AuditLog:
    def __init__(self, table: Callable[[], TableClient], clock: Callable[[], datetime]) -> None:
        self._table = table  # a callable: the client is made on first use, not at cold start
        self._clock = clock

    def record(
        self,
        action: str,
        *,
        actor: str,
        targets: Iterable[str] = (),
        outcome: str = "ok",
        count: int | None = None,
    ) -> None:
        """One row. Only ids, codes and counts go in: never a number or a name."""
        now = self._clock()
        entity: dict[str, Any] = {
            "PartitionKey": now.strftime("%Y-%m"),
            "RowKey": new_sortable_key(),
            "Action": action,
            "Outcome": outcome,
            "Actor": actor,
            "Targets": json.dumps(list(targets)),
            "At": now,
        }
        if count is not None:
            entity["Count"] = count
        try:
            with storage_errors():
                self._table().create_entity(entity)
        except Exception as exc:  # the audit must never take an action down with it
            log.error("audit row for %s could not be written: %s", action, type(exc).__name__)


class RevokedSessions:
    """Session references (hashes of session ids, as the audit log names them) that signed out."""

    def __init__(self, table: Callable[[], TableClient]) -> None:
        self._table = table

    def revoke(self, session_ref: str, until: datetime) -> None:
        """Raises StorageUnavailable: a sign-out that could not be recorded must not look done."""
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": REVOKED_SESSIONS, "RowKey": session_ref, "ExpiresAt": until}
        with storage_errors():
            self._table().upsert_entity(entity, mode=UpdateMode.REPLACE)

    def is_revoked(self, session_ref: str) -> bool:
        """Raises StorageUnavailable when storage cannot say: the caller refuses rather than guesses."""
        with storage_errors():
            try:
                self._table().get_entity(REVOKED_SESSIONS, session_ref, select=["RowKey"])
            except ResourceNotFoundError:
                return False
        return True
