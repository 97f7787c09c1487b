"""The app wired again, as production wires it (shared/composition.py), on a test's clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.composition import Services, build_services
from tests.support.pace import SkippingTime


def rewired(services: Services, *, clock: Callable[[], datetime], **settings: Any) -> Services:
    """Another set of the app's services on `clock` (and with `settings` changed, by field name), over the
    same storage and the same provider as `services`: what a second instance would be, later in time (its
    send rate on a clock of its own that skips the waits, as the fixtures' is: tests/support/pace.py)."""
    changed = services.settings.model_copy(update=settings) if settings else services.settings
    return build_services(changed, clock=clock, sender=services.sender, storage=services.storage, pace=SkippingTime())
