"""A queue runner in a process of its own, for the kill test in tests/faults/test_faults.py.

It builds the services from the environment exactly as the Function App does (AzureWebJobsStorage,
ORGANISATION_CONFIG, TWILIO_*, SMS_RATE_PER_SECOND), with one change: the notifier's stale-claim
window comes from GRUPPSTART_STALE_CLAIM_SECONDS, so a claim left by a killed runner expires within
the test. Then it runs the registered notification functions with the in-process host until it is
killed, or until CHILD_LIFETIME_SECONDS have passed (it never outlives a test run).

    python -m tests.faults.runner_child
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta


def main() -> int:
    import function_app
    from shared.composition import build_services, use_services
    from shared.local.runner import LocalHost, QueueRules
    from shared.services.notify import Notifier, Pacing, RateGate
    from shared.settings import Settings

    settings = Settings()  # type: ignore[call-arg]  # from the environment
    services = build_services(settings)
    # Production's notifier on production's ports, its pacing compressed for the fault tests.
    services.notifier = Notifier(
        interests=services.interests,
        queues=services.queues,
        copies=services.copies,
        sender=services.sender,
        templates=services.templates,
        organisation=services.organisation,
        facilitators=services.facilitators,
        public_base_url=settings.public_base_url,
        facilitator_link=None,
        clock=services.clock,
        pacing=Pacing(
            gate=RateGate(settings.sms_rate_per_second),
            stale_claim=timedelta(seconds=float(os.environ["GRUPPSTART_STALE_CLAIM_SECONDS"])),
        ),
    )
    use_services(services)
    rules = QueueRules(
        max_dequeue_count=int(os.environ.get("MAX_DEQUEUE_COUNT", "10")),
        visibility_timeout=float(os.environ.get("VISIBILITY_TIMEOUT_SECONDS", "1")),
        batch_size=int(os.environ.get("BATCH_SIZE", "8")),
        max_polling_interval=0.2,
    )
    host = LocalHost(
        function_app.app,
        services.storage,
        settings=settings,
        rules=rules,
        only={"send_notification", "record_poisoned_notification"},
    )
    host.start()
    print("runner ready", flush=True)
    deadline = time.monotonic() + float(os.environ.get("CHILD_LIFETIME_SECONDS", "120"))
    while time.monotonic() < deadline:
        time.sleep(0.2)
    host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
