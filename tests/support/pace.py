"""The send rate's time for services wired in tests: real time that skips ahead instead of waiting."""

from __future__ import annotations

import threading
import time


class SkippingTime:
    """Reads the real time plus every wait asked of it so far; a wait returns at once.

    The send rate books a window and sleeps until it begins (shared/adapters/sms/send_rate.py): with
    real time a test sending a few texts late in a second sleeps up to half a second each time. Here the
    wait moves this clock forward instead, so the windows the rate counts in still follow one another as
    in production, and only the test's wall time is spared. The rate itself is tested with its own
    settable clock (tests/integration/test_send_rate.py) and in real processes waiting in real time
    (tests/integration/test_send_rate_instances.py)."""

    def __init__(self) -> None:
        self.skipped = 0.0  # seconds of waiting skipped so far
        self._lock = threading.Lock()  # a test's threads (concurrent requests) share the one clock

    def time(self) -> float:
        with self._lock:
            return time.time() + self.skipped

    def sleep(self, seconds: float, /) -> None:
        with self._lock:
            self.skipped += max(0.0, seconds)
