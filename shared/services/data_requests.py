"""Data-subject requests an operator runs for a resident: export everything stored about a number,
or erase it everywhere (as a STOP does)."""

from __future__ import annotations

import logging
from datetime import datetime

from shared.adapters.interests import Rows
from shared.core.domain import Interest
from shared.core.phone import PhoneError, parse_mobile
from shared.services.operations_base import OperationError, OperationsBase

log = logging.getLogger(__name__)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class DataSubjectRequests(OperationsBase):
    def _phone(self, phone: object) -> str:
        if not isinstance(phone, str):
            raise OperationError("invalid_phone")
        try:
            return parse_mobile(phone, self._org.country)
        except PhoneError:
            raise OperationError("invalid_phone") from None

    def _records_of(self, rows: Rows, e164: str) -> list[Interest]:
        """The number's interests, found through the phone markers (point reads: a query by number would
        put it in a URL)."""
        found: list[Interest] = []
        themes = self._erasure.every_theme()  # themes no longer offered may still hold them
        for theme, pkey in ((t, k) for t in themes for k in self._keyer.keys(e164)):
            marker = rows.marker(theme, pkey)
            interest = rows.interest(theme, marker.interest_key) if marker and marker.interest_key else None
            if interest is not None and interest.phone == e164:
                found.append(interest)
        return found

    def export_person(self, phone: str) -> dict:
        """Everything stored about one number, for a data-subject access request (JSON-ready): interests,
        groups, texts, unverified attempts, counters, the provider's copies we know of, and the texts a
        facilitator with this number sent us."""
        e164 = self._phone(phone)
        self._rekey.retire_legacy_keys()
        interests, groups, messages = [], [], []
        facilitators = {f.id: f for f in self._facilitators.list()}
        rows = self._interests.unit()
        for interest in self._records_of(rows, e164):
            group = rows.group(interest.theme, interest.group_id) if interest.group_id else None
            interests.append(
                {
                    "id": interest.id,
                    "theme": interest.theme,
                    "name": interest.name,
                    "phone": interest.phone,
                    "locale": interest.locale,
                    "area": interest.area,
                    "status": interest.status.value,
                    "consent_version": interest.consent_version,
                    "registered_at": _iso(interest.created_at),
                    "verified_at": _iso(interest.verified_at),
                    "verification_code_pending": interest.code_hash is not None,
                    "group": group.id if group else None,
                }
            )
            if group is not None:
                facilitator = facilitators.get(group.facilitator_id or "")
                groups.append(
                    {
                        "id": group.id,
                        "theme": group.theme,
                        "status": group.status.value,
                        "formed_at": _iso(group.formed_at),
                        "first_meeting_at": _iso(group.first_meeting_at),
                        "meeting_place": group.meeting_place,
                        "facilitator": facilitator.name if facilitator else None,
                        "members": len(group.member_keys),
                    }
                )
            messages += [
                {
                    "theme": interest.theme,
                    "kind": m.kind.value,
                    "status": m.status.value,
                    "created_at": _iso(m.created_at),
                }
                for m in rows.messages_to(interest.theme, interest.key)
            ]
        limits = [
            {"counter": f"{name}s", "expires_at": _iso(expires)}
            for pkey in self._keyer.keys(e164)
            for name, expires in self._records.counters.of_number(pkey)
        ]
        as_facilitator = [
            {
                "id": f.id,
                "name": f.name,
                "phone": f.phone,
                "themes": f.themes,
                "areas": f.areas,
                "locales": list(f.locales),
                "capacity": f.capacity,
                "active": f.active,
                "created_at": _iso(f.created_at),
            }
            for f in facilitators.values()
            if f.phone == e164
        ]
        attempts = [
            {"theme": theme, "registered_at": _iso(attempt.created_at), "verification_code_pending": True}
            for theme in self._erasure.every_theme()
            for attempt in self._attempts_of(rows, theme, e164)
        ]
        copies = [{"provider_id": sid, "at": _iso(at)} for sid, at in self._records.copies.of_recipient(e164)]
        facilitator_ids = {f["id"] for f in as_facilitator}
        replies = [
            {"received_at": _iso(r.received_at), "theme": r.theme or None, "text": r.text}
            for r in self._records.replies.newest(1000)
            if r.facilitator_id in facilitator_ids
        ]
        return {
            "phone": e164,
            "exported_at": _iso(self._clock()),
            "organisation": self._org.name,
            "interests": interests,
            "pending_attempts": attempts,
            "groups": groups,
            "messages": messages,
            "rate_limits": limits,
            "provider_copies": copies,
            "facilitator": as_facilitator,
            "facilitator_replies": replies,
        }

    def _attempts_of(self, rows: Rows, theme: str, e164: str) -> list[Interest]:
        """The number's unverified attempts in one theme (each its own row until verified)."""
        found = []
        for marker in rows.attempts(theme, self._keyer.key(e164)):
            attempt = rows.interest(theme, marker.interest_key) if marker.interest_key else None
            if attempt is not None and attempt.phone == e164:
                found.append(attempt)
        return found

    def erase_person(self, phone: str) -> int:
        """Erase the number everywhere (services/erasure.Erasure.erase_number, as STOP does); each erased interest's
        counts go to the statistics in the transaction that deletes it. Returns how many rows were erased."""
        e164 = self._phone(phone)
        self._rekey.retire_legacy_keys()
        report = self._erasure.erase_number(e164, themes=self._erasure.every_theme())
        log.info("operator erasure: %s interests erased", report.interests_erased)
        return 2 * report.interests_erased + report.outbox_rows_erased + report.rate_limit_rows_erased
