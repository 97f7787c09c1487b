"""Small numbers never identify anyone: the one rule for every count shown outside /manage.

A count from 1 up to the organisation's `small_count_threshold` minus one is never published as
itself: it becomes "fewer than <threshold>". Zero stays zero (it names nobody), and counts at or
over the threshold are shown as they are. Every export, the public running-groups page and its feed
pass their counts through `disclosed`, so the rule cannot drift between them. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Disclosed:
    """A count as it may be published: `value` is None when it was suppressed."""

    value: int | None
    threshold: int

    @property
    def suppressed(self) -> bool:
        return self.value is None

    @property
    def csv(self) -> str:
        """The cell of an export: the count, or "<5" for a suppressed one."""
        return f"<{self.threshold}" if self.value is None else str(self.value)


def disclosed(count: int, threshold: int) -> Disclosed:
    """`count` if it is 0 or at least `threshold`; suppressed otherwise."""
    if count < 0:
        raise ValueError("a count is never negative")
    return Disclosed(None if 0 < count < threshold else count, threshold)


def publishable_median(median: float | None, behind: int, threshold: int) -> float | None:
    """A median computed from fewer than `threshold` people would tell one person's wait: withheld."""
    return median if behind >= threshold else None


def needed_publicly(needed: int, group_min: int, threshold: int) -> int | None:
    """How many more a group needs, as it may be told outside /manage. While people wait, `needed` is
    `group_min` minus the waiting count, so it gives that count away: None when the count is one the
    rule withholds (1 to threshold−1). 0 ("a group can start") and `group_min` (nobody waits) name nobody."""
    if needed <= 0:
        return 0
    return None if disclosed(max(0, group_min - needed), threshold).suppressed else needed
