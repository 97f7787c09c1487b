"""`python -m tests.faults.runner_child` as a separate OS process: one instance of the app's queue
functions built from the environment as the Function App builds them (the fault tests, the send-rate
test across instances)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.composition import Services
from tests.support.keys import TEST_PHONE_KEY_SECRET
from tests.support.twilio_server import LoopbackTwilio

ROOT = Path(__file__).resolve().parents[2]


class RunnerChild:
    """The child process; its output is kept in `log`."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._file = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.runner_child"],
            cwd=ROOT,
            env=env,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.kill(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def runner_env(
    services: Services, twilio: LoopbackTwilio, organisation: dict[str, Any], **settings: str
) -> dict[str, str]:
    """The parent's environment without its own storage, Twilio and SMS settings, pointed at the parent's
    Azurite and loopback Twilio with the parent's phone key (both sides find the same rows), plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "AzureWebJobs", "SMS_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "AzureWebJobsStorage": services.settings.storage_connection_string or "",
            "ORGANISATION_CONFIG": json.dumps(organisation),
            "PHONE_KEY_SECRET": TEST_PHONE_KEY_SECRET,
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM": "+46701740605",
            "TWILIO_API_BASE_URL": twilio.base_url,
            **settings,
        }
    )
    return env


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
