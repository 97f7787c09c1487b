"""The expected wait the form, the thank-you page and the API say (rule: core/expected_wait.py).

The form is the hot path and the history changes by the day: the figures are computed from the
statistics (live rows plus stats rows, one table query) at most once per `ttl` per process, and a
storage failure only leaves the sentence out, it never fails the form. The cache is per process, so
per instance on Flex Consumption (docs/architecture.md, "A new instance's first request"): each
instance reads the history at most once per `ttl`, and two instances may say a wait a few minutes
apart — harmless for a rounded median.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from shared.adapters.storage import StorageUnavailable, storage_errors
from shared.core.expected_wait import ExpectedWait, bucket, expected_waits, minimum_history
from shared.core.organisation import Organisation
from shared.core.statistics import month_of
from shared.services.statistics import Statistics

log = logging.getLogger(__name__)


class ExpectedWaits:
    def __init__(
        self,
        statistics: Statistics,
        organisation: Organisation,
        *,
        clock: Callable[[], datetime],
        ttl: float = 300.0,
    ) -> None:
        self._statistics = statistics
        self._org = organisation
        self._clock = clock
        self._ttl = ttl
        self._cached: tuple[float, dict[str, ExpectedWait]] | None = None
        self._lock = threading.Lock()

    def _all(self) -> dict[str, ExpectedWait]:
        # One computation at a time: requests arriving meanwhile wait for it rather than repeat it.
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self._ttl:
                return self._cached[1]
            try:
                with storage_errors():
                    totals = self._statistics.totals()
            except StorageUnavailable:
                log.warning("expected waits unavailable: storage")
                return {}
            waits = expected_waits(
                totals,
                this_month=month_of(self._clock(), self._statistics.tz),
                by_area=self._org.match_by_area,
                minimum=minimum_history(self._org),
            )
            self._cached = (time.monotonic(), waits)
            return waits

    def forget(self) -> None:
        with self._lock:
            self._cached = None

    def for_choice(self, theme: str, area: str | None) -> ExpectedWait | None:
        """The wait for a newcomer in `theme` (and `area`, when matching by area); None when the history
        is too thin, or when matching by area and the area is not known yet."""
        if self._org.match_by_area and not area:
            return None
        return self._all().get(bucket(theme, area, self._org.match_by_area))


__all__ = ["ExpectedWaits"]
