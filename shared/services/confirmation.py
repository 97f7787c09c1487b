"""Confirming an attempt once its code came back: the first becomes the number's registration in the
theme, a later one merges into it (issue 11: duplicates are resolved at verification, by the phone's
holder only). Also where markers written under the legacy unkeyed key are found and rewritten.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.entities import StoredInterest as Interest
from shared.adapters.storage import INTERESTS, RATE_LIMITS, StorageAccount
from shared.core.domain import INTEREST_PREFIX, PHONE_PREFIX, InterestStatus
from shared.core.phone import PhoneKeyer


class Conflict(Exception):
    """Rows changed between our read and our transaction: read again."""


def attempt_marker_key(pkey: str, interest_key: str) -> str:
    """The marker of one pending attempt: found by a range read over `phone.<key>.` (erasure, STOP)."""
    return f"{PHONE_PREFIX}{pkey}.{interest_key.removeprefix(INTEREST_PREFIX)}"


class Confirmation:
    def __init__(self, storage: StorageAccount, keyer: PhoneKeyer) -> None:
        self._storage = storage
        self._keyer = keyer
        self._legacy_checked: tuple[float, bool] | None = None

    @property
    def _table(self) -> Any:
        return self._storage.table(INTERESTS)

    def confirm(self, record: Interest, now: datetime) -> Interest:
        """The holder of the phone proved it: make the attempt the number's registration in this theme,
        or merge it into the one there is. Returns the registration as it now stands."""
        theme = record.theme
        pkey = self._keyer.key(record.phone)
        verified = record.model_copy(
            update={
                "status": InterestStatus.WAITING,
                "verified_at": now,
                "code_hash": None,
                "code_salt": None,
                "code_expires_at": None,
                "code_attempts": 0,
            }
        )
        marker_key = PHONE_PREFIX + pkey
        attempt_marker = ("delete", {"PartitionKey": theme, "RowKey": attempt_marker_key(pkey, record.key)})
        new_marker = {"PartitionKey": theme, "RowKey": marker_key, "Interest": record.key}
        # Rows written before markers were keyed: the one-off pass (shared.services.rekey) rewrites them,
        # and until it has run a verification finds them here and rewrites its own.
        legacy = self._keyer.legacy(record.phone) if self._legacy_markers_possible() else None
        existing = None
        if legacy is not None:
            try:
                existing = self._table.get_entity(theme, PHONE_PREFIX + legacy)
            except ResourceNotFoundError:
                existing = None
        if existing is None:
            try:
                self._table.submit_transaction(
                    [_replace(verified, record.etag), attempt_marker, ("create", new_marker)]
                )
                return verified
            except TableTransactionError:
                pass
            try:  # either the attempt changed (read again) or the number is registered here already
                existing = self._table.get_entity(theme, marker_key)
            except ResourceNotFoundError:
                raise Conflict() from None
        return self._merge(record, verified, existing, attempt_marker, new_marker)

    def _legacy_markers_possible(self) -> bool:
        """Until the one-off pass has recorded that it is done, a marker may still be unkeyed. Checked
        once per process while done, every ten minutes while not: a read, not one per verification."""
        from shared.services.rekey import MIGRATED

        if not self._keyer.accept_legacy:
            return False
        checked = self._legacy_checked
        if checked is not None and (not checked[1] or time.monotonic() - checked[0] < 600):
            return checked[1]
        try:
            self._storage.table(RATE_LIMITS).get_entity(*MIGRATED)
            possible = False
        except ResourceNotFoundError:
            possible = True
        self._legacy_checked = (time.monotonic(), possible)
        return possible

    def _merge(
        self, record: Interest, verified: Interest, marker: Any, attempt_marker: tuple, new_marker: dict
    ) -> Interest:
        theme = record.theme
        legacy = marker["RowKey"] != new_marker["RowKey"]
        # A legacy marker is replaced by the keyed one in the same transaction; a keyed one is kept.
        marker_ops: list[tuple] = (
            [("delete", {"PartitionKey": theme, "RowKey": marker["RowKey"]}, _if_unchanged(marker))] if legacy else []
        )
        if marker.get("Interest") == record.key:
            # Written by an earlier version at registration: this very attempt, under its unkeyed marker.
            ops = [_replace(verified, record.etag), *marker_ops, ("upsert", new_marker, {"mode": UpdateMode.REPLACE})]
            return self._submit(ops, verified)
        try:
            current = Interest.from_entity(self._table.get_entity(theme, marker.get("Interest") or INTEREST_PREFIX))
        except ResourceNotFoundError:
            current = None
        if current is None or current.status is InterestStatus.PENDING_VERIFICATION:
            # A marker left by an interest that is gone, or an earlier version's unconfirmed try: this
            # attempt takes its place (the try is removed with it).
            ops = [_replace(verified, record.etag), attempt_marker, *marker_ops]
            repointed = {**new_marker, "Interest": record.key}
            if legacy:
                ops.append(("upsert", repointed, {"mode": UpdateMode.REPLACE}))
            else:
                ops.append(("update", repointed, {"mode": UpdateMode.REPLACE, **_if_unchanged(marker)}))
            if current is not None:
                ops.append(("delete", {"PartitionKey": theme, "RowKey": current.key}, _if_etag(current.etag)))
            return self._submit(ops, verified)
        # The number is registered in this theme already: the confirmed attempt merges into it. The
        # newest withdraw token works from now on; the details change only while nobody has seen them.
        update: dict[str, Any] = {"withdraw_token_hash": record.withdraw_token_hash}
        if current.status is InterestStatus.WAITING:
            update.update(
                name=record.name, locale=record.locale, area=record.area, consent_version=record.consent_version
            )
        merged = current.model_copy(update=update)
        ops = [
            _replace(merged, current.etag),
            ("delete", {"PartitionKey": theme, "RowKey": record.key}, _if_etag(record.etag)),
            attempt_marker,
            *marker_ops,
        ]
        if legacy:
            ops.append(("upsert", {**new_marker, "Interest": current.key}, {"mode": UpdateMode.REPLACE}))
        return self._submit(ops, merged)

    def _submit(self, operations: list[tuple], result: Interest) -> Interest:
        try:
            self._table.submit_transaction(operations)
        except TableTransactionError:
            raise Conflict() from None
        return result


def _if_etag(etag: str | None) -> dict[str, Any]:
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def _if_unchanged(entity: Any) -> dict[str, Any]:
    return _if_etag(getattr(entity, "metadata", {}).get("etag"))


def _replace(record: Interest, etag: str | None) -> tuple:
    return ("update", record.to_entity(), {"mode": UpdateMode.REPLACE, **_if_etag(etag)})
