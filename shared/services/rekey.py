"""One-off pass: rows keyed by the unkeyed SHA-256 of a number are rewritten under the keyed HMAC.

Markers `phone.<32 hex>` point at an interest that holds the number, so the keyed marker can be
computed and written in the same transaction that deletes the old one. Rate-limit rows keyed by an
unkeyed hash (`phone.<32 hex>`, `client.<32 hex>`) cannot be traced back to a number and live an hour
at most: they are deleted. Safe to run again and while the app serves; until it has run, lookups also
try the legacy key (PhoneKeyer.keys) and a verification rewrites the marker it finds. Run it once
after upgrading (on a new installation too): when it finds nothing in conflict it records so, and
verifications stop paying a read for legacy markers.

    python -m shared.services.rekey     # with the app's settings in the environment
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.entities import StoredInterest as Interest
from shared.adapters.storage import INTERESTS, RATE_LIMITS, StorageAccount, storage_errors
from shared.core.domain import PHONE_PREFIX
from shared.core.phone import PhoneKeyer

log = logging.getLogger(__name__)

_LEGACY = re.compile(r"^(phone|client)\.[0-9a-f]{32}$")
# Written once a pass found nothing left to rewrite: verifications stop looking for legacy markers.
# No ExpiresAt, so retention's sweep of expired counters leaves it alone.
MIGRATED = ("migrations", "phone-keys-hmac")


@dataclass
class RekeyReport:
    markers_rewritten: int = 0
    orphan_markers_deleted: int = 0
    markers_in_conflict: int = 0  # a keyed marker for the number already points elsewhere: left for an operator
    rate_limit_rows_deleted: int = 0


def migrated(storage: StorageAccount) -> bool:
    """Whether the one-off pass has finished (then nothing under the unkeyed key is left)."""
    with storage_errors():
        try:
            storage.table(RATE_LIMITS).get_entity(*MIGRATED)
        except ResourceNotFoundError:
            return False
    return True


def migrate_phone_keys(storage: StorageAccount, keyer: PhoneKeyer) -> RekeyReport:
    """Rewrite markers and drop rate-limit rows written under the unkeyed key. The daily retention run
    calls it until it has finished once (`migrated`); a conflict leaves it unfinished for an operator."""
    report = RekeyReport()
    table = storage.table(INTERESTS)
    with storage_errors():
        markers = [
            m
            for m in table.query_entities(
                "RowKey ge @low and RowKey lt @high",
                parameters={"low": PHONE_PREFIX, "high": "phone/"},
                select=["PartitionKey", "RowKey", "Interest"],
            )
            if _LEGACY.match(m["RowKey"])
        ]
        for marker in markers:
            _rekey_marker(table, keyer, marker, report)
        limits = storage.table(RATE_LIMITS)
        for row in list(limits.list_entities(select=["PartitionKey", "RowKey"])):
            if _LEGACY.match(row["PartitionKey"]):
                try:
                    limits.delete_entity(row["PartitionKey"], row["RowKey"])
                    report.rate_limit_rows_deleted += 1
                except ResourceNotFoundError:
                    continue
    if report.markers_in_conflict == 0:
        with storage_errors():
            storage.table(RATE_LIMITS).upsert_entity({"PartitionKey": MIGRATED[0], "RowKey": MIGRATED[1]})
    log.info(
        "rekey: %s markers rewritten, %s orphans, %s in conflict, %s rate-limit rows deleted",
        report.markers_rewritten,
        report.orphan_markers_deleted,
        report.markers_in_conflict,
        report.rate_limit_rows_deleted,
    )
    return report


def _rekey_marker(table, keyer: PhoneKeyer, marker: dict, report: RekeyReport) -> None:
    theme = marker["PartitionKey"]
    old = ("delete", {"PartitionKey": theme, "RowKey": marker["RowKey"]}, _unchanged(marker))
    try:
        interest = Interest.from_entity(table.get_entity(theme, marker.get("Interest") or "interest."))
    except ResourceNotFoundError:
        interest = None
    try:
        if interest is None:
            table.submit_transaction([old])
            report.orphan_markers_deleted += 1
            return
        new_key = PHONE_PREFIX + keyer.key(interest.phone)
        try:
            current = table.get_entity(theme, new_key)
        except ResourceNotFoundError:
            current = None
        if current is not None and current.get("Interest") != interest.key:
            report.markers_in_conflict += 1
            return
        new = {"PartitionKey": theme, "RowKey": new_key, "Interest": interest.key}
        table.submit_transaction([old, ("upsert", new, {"mode": UpdateMode.REPLACE})])
        report.markers_rewritten += 1
    except TableTransactionError:  # changed meanwhile (a verification rewrote it, an erasure): next run
        return


def _unchanged(entity: dict) -> dict:
    return {"etag": getattr(entity, "metadata", {}).get("etag"), "match_condition": MatchConditions.IfNotModified}
