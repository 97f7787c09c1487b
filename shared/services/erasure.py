"""Erasing one phone number everywhere: what a STOP reply does, and what an operator runs on request.

A number reaches our tables in few places, all found through keys derived from it, never by
querying for the number itself (a query puts its filter in a URL, and URLs end up in logs):

- in each theme's partition of `interests` (the organisation's themes: a point read of the marker
  each, rather than a scan of a table that grows with every text sent; erase a number before a
  theme is removed from the organisation document): the interest row (name, number, code hash) and its
  phone marker `phone.<phone_key>`; a grouped person is also named, by interest RowKey, in the
  group row's MemberKeys and in the outbox rows addressed to them;
- in `ratelimits`: the counters of partition `phone.<phone_key>`.
- pending attempts (each its own row until verified) have markers `phone.<phone_key>.<attempt>`,
  read as one RowKey range per theme.

`phone_key` is the keyed HMAC of the number (PhoneKeyer); rows written under the unkeyed key of
earlier versions are erased too (PhoneKeyer.keys) until the one-off migration has run.

Per partition, one transaction (services/membership.py, shared with the operators' removal)
deletes the interest and its marker, the outbox rows addressed to the person (a queued text for
them then finds nothing to send), and for a member of a group removes them from the group row and
writes a `member_left` outbox row for the facilitator. A lost race re-reads and tries again.
The facilitator's update carries the leaver's name until it is sent (the notifier clears it):
their own row is gone by then.

Beyond our tables, the SMS provider holds a copy of every text to them (codes, invitations) and of
every text naming them (rosters, updates). Those are marked in `smscopies` to go at once, and are
deleted through the sender right after the erasure (services/provider_copies.py); what the provider will not
delete yet (a text without a final status) the daily run deletes.

Nothing here logs a name or a number; the report holds only counts and a language.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.adapters.interests import InterestsTable, Rows
from shared.adapters.queues import Queues
from shared.adapters.records import RateLimitRows
from shared.adapters.sms.base import SmsSender
from shared.adapters.sms.copies import ProviderCopies
from shared.adapters.unit_of_work import GaveUp
from shared.core.domain import Interest
from shared.core.organisation import Organisation
from shared.core.phone import PhoneKeyer
from shared.services.membership import erase_person
from shared.services.outbox import queue_committed
from shared.services.provider_copies import delete_copies
from shared.services.statistics import Statistics

log = logging.getLogger(__name__)

ErasureGaveUp = GaveUp  # the name callers know: lost the race for one partition's rows too many times


@dataclass
class ErasureReport:
    interests_erased: int = 0
    groups_left: int = 0
    facilitators_notified: int = 0
    outbox_rows_erased: int = 0
    rate_limit_rows_erased: int = 0
    provider_copies_deleted: int = 0  # at once; the rest (not final yet) by the daily run
    # The language of the newest erased interest, for a reply to the person; None when none was found.
    locale: str | None = None

    @property
    def found(self) -> bool:
        return self.interests_erased > 0


def _find(rows: Rows, theme: str, pkey: str) -> tuple[object, Interest | None] | None:
    marker = rows.marker(theme, pkey)
    if marker is None:
        return None
    return marker, (rows.interest(theme, marker.interest_key) if marker.interest_key else None)


class Erasure:
    """Erasing numbers and interests: the tables it reaches and what it folds and deletes on the way.

    Every erased interest's counts go to `statistics` in the transaction that deletes it, so aggregate
    figures survive the person; the provider's copies marked on the way are deleted through `sender`
    right after (what the provider will not delete yet, the daily run deletes)."""

    def __init__(
        self,
        *,
        interests: InterestsTable,
        queues: Queues,
        copies: ProviderCopies,
        counters: RateLimitRows,
        organisation: Organisation,
        keyer: PhoneKeyer,
        statistics: Statistics,
        sender: SmsSender,
        clock: Callable[[], datetime],
    ) -> None:
        self._interests = interests
        self._queues = queues
        self._copies = copies
        self._counters = counters
        self._org = organisation
        self._keyer = keyer
        self._statistics = statistics
        self._sender = sender
        self._clock = clock

    def interests_of_number(self, phone_e164: str) -> list[Interest]:
        """Every interest registered with this number, newest first (read-only)."""
        rows = self._interests.unit()
        keys = self._keyer.keys(phone_e164)
        found = [_find(rows, theme.id, pkey) for theme in self._org.themes for pkey in keys]
        interests = [f[1] for f in found if f is not None and f[1] is not None]
        return sorted(interests, key=lambda i: i.created_at, reverse=True)

    def every_theme(self) -> list[str]:
        """The organisation's themes and every partition that still holds rows: a theme no longer offered keeps
        its people until retention erases them, and a STOP must reach them there too (one scan of keys only)."""
        offered = [t.id for t in self._org.themes]
        return offered + sorted(self._interests.unit().themes_with_rows() - set(offered))

    def erase_number(self, phone_e164: str, *, themes: Iterable[str] | None = None) -> ErasureReport:
        """Remove every trace of `phone_e164`: interests, markers, group memberships, texts to them, counters,
        and the SMS provider's copies of texts to or about them. `themes`: the partitions to look in (the
        organisation's themes when None; `every_theme` adds those no longer offered)."""
        keyer = self._keyer
        report = ErasureReport()
        newest: Interest | None = None
        for theme_id in themes if themes is not None else [t.id for t in self._org.themes]:
            report.interests_erased += self._erase_attempts(theme_id, keyer.key(phone_e164))
            for pkey in keyer.keys(phone_e164):
                erased = self._erase_in_partition(theme_id, pkey, report)
                if erased is not None and (newest is None or erased.created_at > newest.created_at):
                    newest = erased
        report.locale = newest.locale if newest is not None else None
        report.rate_limit_rows_erased = sum(self._counters.erase_number(pkey) for pkey in keyer.keys(phone_e164))
        self._copies.erase_recipient(phone_e164)  # texts with no interest left to find them by (a code, say)
        self._delete_marked_copies(report)
        return report

    def erase_interest(self, interest: Interest) -> ErasureReport:
        """A resident's own withdrawal of one interest: as erasure does it, within that theme only. The
        provider's copies of texts to their number go too: they cannot tell one theme's texts from another's."""
        report = ErasureReport()
        report.interests_erased += self._erase_attempts(interest.theme, self._keyer.key(interest.phone))
        for pkey in self._keyer.keys(interest.phone):
            self._erase_in_partition(interest.theme, pkey, report)
        self._delete_marked_copies(report)
        return report

    def _erase_attempts(self, theme: str, pkey: str) -> int:
        """The number's unverified attempts in one theme (markers `phone.<key>.<attempt>`), each with its row."""

        def erase(rows: Rows) -> int:
            attempts = rows.attempts(theme, pkey)
            for marker in attempts:
                change = rows.change(theme)
                change.delete(marker.key)
                # Already gone (verified, or withdrawn a moment ago): the marker goes alone.
                if marker.interest_key and rows.interest(theme, marker.interest_key) is not None:
                    change.delete(marker.interest_key)
            return len(attempts)

        return self._interests.retrying(erase)

    def _delete_marked_copies(self, report: ErasureReport) -> None:
        try:
            report.provider_copies_deleted = delete_copies(self._sender, self._copies, self._copies.marked()).deleted
        except Exception as exc:  # our data is erased; the daily run deletes the copies
            log.warning("provider copies not deleted after an erasure (%s); the daily run will", type(exc).__name__)

    def _erase_in_partition(self, theme: str, pkey: str, report: ErasureReport) -> Interest | None:
        """Erase the number's interest in one theme; returns the erased interest (None if there was none)."""

        def erase(rows: Rows) -> Interest | None:
            marker = rows.marker(theme, pkey)
            if marker is None:
                return None
            interest = rows.interest(theme, marker.interest_key) if marker.interest_key else None
            if interest is None:
                # A marker left behind by an interest already gone: remove it alone.
                rows.change(theme).delete(marker.key)
                return None
            group = rows.group(theme, interest.group_id) if interest.group_id else None
            erased = erase_person(rows, interest, marker, group, self._clock(), self._statistics, self._copies)

            def committed() -> None:
                report.interests_erased += 1
                report.outbox_rows_erased += erased.texts
                report.groups_left += erased.left_group is not None
                if erased.message is not None:
                    report.facilitators_notified += 1
                    queue_committed(self._queues, [erased.message])

            erased.change.on_commit.append(committed)
            return interest

        return self._interests.retrying(erase)


__all__ = ["Erasure", "ErasureGaveUp", "ErasureReport"]
