"""One-off pass: rows keyed by the unkeyed SHA-256 of a number are rewritten under the keyed HMAC.

Markers `phone.<32 hex>` point at an interest that holds the number, so the keyed marker can be
computed and written in the same transaction that deletes the old one. Rate-limit rows keyed by an
unkeyed hash (`phone.<32 hex>`, `client.<32 hex>`) cannot be traced back to a number and live an hour
at most: they are deleted. Safe to run again and while the app serves; until it has run, lookups also
try the legacy key (PhoneKeyer.keys) and a verification rewrites the marker it finds. The daily
retention run does it (`Retention.run`, timer `run_lifecycle`) until it has finished once, a new
installation included; nothing is run by hand. When it finds nothing in conflict it records so, and
every process switches the legacy lookups off (`retire_legacy_keys`: the keyer's `accept_legacy`
becomes false, checked at most every ten minutes; erasure, STOP, the export and verification ask).
A marker in conflict leaves the pass unfinished, and the coordinator is told once a day: an operator
must decide which registration the number keeps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.adapters.interests import InterestsTable, Marker, Rows
from shared.adapters.migrations import LEGACY_KEY, PhoneKeyMigration
from shared.adapters.ratelimit import OncePerWindow
from shared.adapters.sms.base import SmsSender
from shared.adapters.templates import Templates
from shared.adapters.unit_of_work import LostRace
from shared.core.domain import INTEREST_PREFIX, PHONE_PREFIX
from shared.core.organisation import Organisation
from shared.core.phone import PhoneKeyer
from shared.services.sms_kinds import COORDINATOR_NOTICE, Notice, compose

log = logging.getLogger(__name__)

__all__ = ["Rekey", "RekeyReport"]

_RECHECK_SECONDS = 600
_checked: dict[int, float] = {}  # id(keyer) -> when this process last asked, while not done
_lock = threading.Lock()


@dataclass
class RekeyReport:
    markers_rewritten: int = 0
    orphan_markers_deleted: int = 0
    markers_in_conflict: int = 0  # a keyed marker for the number already points elsewhere: left for an operator
    rate_limit_rows_deleted: int = 0


class Rekey:
    """The pass and its switch, on the ports it needs (built once in shared/composition.py)."""

    def __init__(
        self,
        *,
        migration: PhoneKeyMigration,
        interests: InterestsTable,
        alerts: OncePerWindow,
        keyer: PhoneKeyer,
        sender: SmsSender,
        templates: Templates,
        organisation: Organisation,
        clock: Callable[[], datetime],
    ) -> None:
        self._migration = migration
        self._interests = interests
        self._alerts = alerts
        self._keyer = keyer
        self._sender = sender
        self._templates = templates
        self._org = organisation
        self._clock = clock

    def migrated(self) -> bool:
        """Whether the one-off pass has finished (then nothing under the unkeyed key is left)."""
        return self._migration.done()

    def retire_legacy_keys(self) -> bool:
        """Switch the keyer's legacy lookups off once the pass has finished; True while they are still on.
        One read per process every ten minutes at most while the pass is unfinished, none once it is done.
        A storage error leaves them on (they cost a read, never a miss)."""
        keyer = self._keyer
        if not keyer.accept_legacy:
            return False
        now = time.monotonic()
        with _lock:
            last = _checked.get(id(keyer))
            if last is not None and now - last < _RECHECK_SECONDS:
                return True
            _checked[id(keyer)] = now
        try:
            done = self.migrated()
        except Exception as exc:
            log.warning("rekey: could not tell whether the pass is done (%s)", type(exc).__name__)
            return True
        if done:
            keyer.accept_legacy = False
        return not done

    def migrate_phone_keys(self) -> RekeyReport:
        """Rewrite markers and drop rate-limit rows written under the unkeyed key. The daily retention run
        calls it until it has finished once (`migrated`); a conflict leaves it unfinished for an operator."""
        keyer = self._keyer
        report = RekeyReport()
        rows = self._interests.unit()  # one pass, one thread: its reads remember each marker's version
        markers = [(theme, m) for theme, m in rows.markers_everywhere() if LEGACY_KEY.match(m.key)]
        for theme, marker in markers:
            _rekey_marker(rows, keyer, theme, marker, report)
        report.rate_limit_rows_deleted = self._migration.delete_legacy_counters()
        if report.markers_in_conflict == 0:
            self._migration.record_done()
            keyer.accept_legacy = False
        else:
            log.warning("rekey: %s phone markers in conflict; the legacy lookups stay on", report.markers_in_conflict)
            self._alert_conflicts(report.markers_in_conflict, self._clock())
        log.info(
            "rekey: %s markers rewritten, %s orphans, %s in conflict, %s rate-limit rows deleted",
            report.markers_rewritten,
            report.orphan_markers_deleted,
            report.markers_in_conflict,
            report.rate_limit_rows_deleted,
        )
        return report

    def _alert_conflicts(self, conflicts: int, now: datetime) -> None:
        """One text a day to the coordinator while markers are in conflict (counts only)."""
        day = now.strftime("%Y%m%d")
        try:
            if not self._alerts.claim("rekey.alerts", day, now + timedelta(days=2)):
                return
            notice = Notice("key_conflicts", count=conflicts)
            body = compose(self._templates, COORDINATOR_NOTICE, notice, self._org.default_locale, self._org)
            self._sender.send(self._org.coordinator_phone, body)
        except Exception as exc:  # the pass runs again tomorrow, and tells them then
            log.warning("rekey: the coordinator could not be told of conflicts (%s)", type(exc).__name__)


def _rekey_marker(rows: Rows, keyer: PhoneKeyer, theme: str, marker: Marker, report: RekeyReport) -> None:
    interest = rows.interest(theme, marker.interest_key or INTEREST_PREFIX)
    change = rows.change(theme)
    change.delete(marker.key)  # only if unchanged since listed
    try:
        if interest is None:
            rows.commit()
            report.orphan_markers_deleted += 1
            return
        new_key = PHONE_PREFIX + keyer.key(interest.phone)
        current = rows.marker(theme, keyer.key(interest.phone))
        if current is not None and current.interest_key != interest.key:
            rows.discard(change)
            report.markers_in_conflict += 1
            return
        change.put_marker(new_key, interest.key)
        rows.commit()
        report.markers_rewritten += 1
    except LostRace:  # changed meanwhile (a verification rewrote it, an erasure): next run
        return
