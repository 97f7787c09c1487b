"""Confirming an attempt once its code came back: the first becomes the number's registration in the
theme, a later one merges into it (issue 11: duplicates are resolved at verification, by the phone's
holder only). Also where markers written under the legacy unkeyed key are found and rewritten.

Every read and write goes through the verification's unit of work (adapters/interests.py `Rows`): rows
read in it are changed only if unchanged since (their remembered ETags), and a lost race is `Conflict`.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from shared.adapters.interests import Marker, Rows
from shared.adapters.migrations import PhoneKeyMigration
from shared.adapters.unit_of_work import ChangeSet, LostRace
from shared.core.domain import INTEREST_PREFIX, PHONE_PREFIX, Interest, InterestStatus
from shared.core.phone import PhoneKeyer

# While the one-off pass has not finished, whether it has is looked up again this often.
_RECHECK_SECONDS = 600.0


class Conflict(Exception):
    """Rows changed between our read and our transaction: read again."""


def attempt_marker_key(pkey: str, interest_key: str) -> str:
    """The marker of one pending attempt: found by a range read over `phone.<key>.` (erasure, STOP)."""
    return f"{PHONE_PREFIX}{pkey}.{interest_key.removeprefix(INTEREST_PREFIX)}"


class Confirmation:
    def __init__(self, migration: PhoneKeyMigration, keyer: PhoneKeyer) -> None:
        self._migration = migration
        self._keyer = keyer
        self._legacy_checked: tuple[float, bool] | None = None
        self._lock = threading.Lock()

    def confirm(self, rows: Rows, record: Interest, now: datetime) -> Interest:
        """The holder of the phone proved it: make the attempt (read in `rows`) the number's registration
        in this theme, or merge it into the one there is. Returns the registration as it now stands."""
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
        confirmed = _Confirmed(rows, record, verified, PHONE_PREFIX + pkey, attempt_marker_key(pkey, record.key))
        # Rows written before markers were keyed: the one-off pass (shared.services.rekey) rewrites them,
        # and until it has run a verification finds them here and rewrites its own.
        legacy = self._keyer.legacy(record.phone) if self._legacy_markers_possible() else None
        existing = rows.marker(theme, legacy) if legacy is not None else None
        if existing is None:
            # The duplicate check rides on the conditional insert: the keyed marker is created with the
            # confirmation, and only when that fails is the number's registration looked up.
            change = rows.change(theme)
            change.replace(verified)
            change.delete(confirmed.attempt_marker)
            change.add_marker(confirmed.marker_key, record.key)
            try:
                rows.commit()
                return verified
            except LostRace:
                pass
            # Either the attempt changed (read again) or the number is registered here already.
            existing = rows.marker(theme, pkey)
            if existing is None:
                raise Conflict()
        return confirmed.merge(existing)

    def _legacy_markers_possible(self) -> bool:
        """Until the one-off pass has recorded that it is done, a marker may still be unkeyed. Checked
        once per process while done, every ten minutes while not: a read, not one per verification."""
        if not self._keyer.accept_legacy:
            return False
        with self._lock:
            checked = self._legacy_checked
        if checked is not None and (not checked[1] or time.monotonic() - checked[0] < _RECHECK_SECONDS):
            return checked[1]
        possible = not self._migration.done()
        with self._lock:
            self._legacy_checked = (time.monotonic(), possible)
        return possible


class _Confirmed:
    """One confirmation that found a marker for the number: what replaces what, in one transaction."""

    def __init__(self, rows: Rows, record: Interest, verified: Interest, marker_key: str, attempt_marker: str):
        self.rows = rows
        self.record = record
        self.verified = verified
        self.marker_key = marker_key
        self.attempt_marker = attempt_marker

    def merge(self, marker: Marker) -> Interest:
        rows, record, verified = self.rows, self.record, self.verified
        theme = record.theme
        legacy = marker.key != self.marker_key
        change = rows.change(theme)
        if marker.interest_key == record.key:
            # Written by an earlier version at registration: this very attempt, under its marker.
            change.replace(verified)
            self._replace_legacy(change, marker, legacy)
            change.put_marker(self.marker_key, record.key)
            return self._submit(verified)
        current = rows.interest(theme, marker.interest_key or INTEREST_PREFIX)
        if current is None or current.status is InterestStatus.PENDING_VERIFICATION:
            # A marker left by an interest that is gone, or an earlier version's unconfirmed try: this
            # attempt takes its place (the try is removed with it).
            change.replace(verified)
            change.delete(self.attempt_marker)
            self._replace_legacy(change, marker, legacy)
            change.put_marker(self.marker_key, record.key)
            if current is not None:
                change.delete(current.key)
            return self._submit(verified)
        # The number is registered in this theme already: the confirmed attempt merges into it. The
        # newest withdraw token works from now on; the details change only while nobody has seen them.
        update: dict[str, object] = {"withdraw_token_hash": record.withdraw_token_hash}
        if current.status is InterestStatus.WAITING:
            update.update(
                name=record.name, locale=record.locale, area=record.area, consent_version=record.consent_version
            )
        merged = current.model_copy(update=update)
        change.replace(merged)
        change.delete(record.key)
        change.delete(self.attempt_marker)
        self._replace_legacy(change, marker, legacy)
        if legacy:
            change.put_marker(self.marker_key, current.key)
        return self._submit(merged)

    def _replace_legacy(self, change: ChangeSet, marker: Marker, legacy: bool) -> None:
        """A legacy marker is replaced by the keyed one in the same transaction; a keyed one is kept."""
        if legacy:
            change.delete(marker.key)

    def _submit(self, result: Interest) -> Interest:
        try:
            self.rows.commit()
        except LostRace:
            raise Conflict() from None
        return result
