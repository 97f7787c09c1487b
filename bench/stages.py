"""CPU per resident by stage: register, verify, formation, sending (issue 22, item 2).

The services are called in this process, as the triggers call them: `intake.register` (the form's
POST), `intake.verify`, then `formation.form_theme` once per verification (what the formation-requests
queue trigger does for each message), then `notifier.handle` for each notifications message formation
put. Texts go through the real `twilio` SDK to the loopback Twilio server, run in a child process
(`python -m tests.support.twilio_server`), as Azurite is: CPU is this process's (getrusage utime + stime),
so work the SDKs hand to threads of their own is counted too (azure-core runs a table batch's part
policies on a thread pool it creates per batch: about 1 ms of each batch ran off the calling thread,
which `time.thread_time` missed before).

The installation is measured in its steady state: the one-off rekey pass has run (the daily retention
run does it on a new installation too), so a verification no longer looks for an unkeyed marker. The
storage calls each stage sends are counted (azure-core's raw_request_hook) beside its CPU.

A second, smaller pass runs each stage under cProfile; `top_frames` lists the frames with the most
own time per stage, for the notes in bench/RESULTS.md.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common import counted_services, env_for, fresh, organisation
from bench.rows import Row

STAGES = ("register", "verify", "formation", "sending")
# Flex Consumption bills instance memory × execution time (GB-s); the README's price is cited in bench/__main__.py.
INSTANCE_GB = {"512 MB": 0.5, "2,048 MB": 2.0}
# The share of a core each size gets (infra/README.md: 512 MB is a quarter core): a CPU-bound second takes
# four seconds of a 512 MB instance's execution time and one of a 2,048 MB instance's.
CORES = {"512 MB": 0.25, "2,048 MB": 1.0}


@dataclass
class StageClock:
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    profiles: dict[str, cProfile.Profile] | None = None
    counter: Any = None  # the storage clients' OpCounter

    def run(self, stage: str, call: Callable[[], Any]) -> Any:
        profile = self.profiles[stage] if self.profiles is not None else None
        if self.counter is not None:
            self.counter.take()
        start = _process_cpu()
        if profile is not None:
            profile.enable()
        try:
            return call()
        finally:
            if profile is not None:
                profile.disable()
            self.cpu[stage] += _process_cpu() - start
            if self.counter is not None:
                self.calls[stage] += self.counter.take()


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TwilioProcess:
    """The loopback Twilio server in a child process; the texts it accepted, read from the lines it prints."""

    def __init__(self) -> None:
        from bench.common import ROOT
        from shared.local.azurite import free_port

        self._child = subprocess.Popen(
            [sys.executable, "-m", "tests.support.twilio_server", "--port", str(free_port())],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.bodies: list[str] = []
        self._settings: dict[str, str] = {}
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._settings) == 4, timeout=30):
                raise RuntimeError("the loopback Twilio did not start")
        self.base_url = self._settings["TWILIO_API_BASE_URL"]
        self.account_sid = self._settings["TWILIO_ACCOUNT_SID"]
        self.auth_token = self._settings["TWILIO_AUTH_TOKEN"]

    def _read(self) -> None:
        assert self._child.stdout is not None
        for line in self._child.stdout:
            with self._changed:
                if line.startswith("export "):
                    name, _, value = line[len("export ") :].strip().partition("=")
                    self._settings[name] = value.strip("'")
                elif line.startswith("[loopback-twilio] "):
                    self.bodies.append(line.partition(": ")[2])
                self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.bodies) >= count, timeout=timeout):
                raise TimeoutError(f"{len(self.bodies)} texts, {count} expected")

    def __enter__(self) -> TwilioProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self._child.terminate()
        self._child.wait(timeout=10)


def residents(connection_string: str, count: int, *, profile: bool = False) -> tuple[StageClock, int, str]:
    from shared.adapters.sms.twilio import TwilioSender
    from shared.adapters.storage import FORMATION_REQUESTS, NOTIFICATIONS
    from shared.core.validation import ValidInterest
    from shared.services.facilitators import FacilitatorIn

    doc = organisation()
    themes = [t["id"] for t in doc["themes"]][:4]
    area = doc["areas"][0]["id"] if doc["areas"] else None
    clock = StageClock(profiles={s: cProfile.Profile(time.thread_time) for s in STAGES} if profile else None)
    with TwilioProcess() as twilio:
        sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_="+46700000001", api_base_url=twilio.base_url)
        env = env_for(connection_string, doc, SMS_RATE_PER_SECOND="1000", PHONE_KEY_SECRET="bench phone key secret")
        services, counter = counted_services(env, sender)
        fresh(services)
        services.rekey.migrate_phone_keys()  # as the first daily retention run does
        for i in range(len(themes)):
            services.facilitators.create(
                FacilitatorIn(name=f"Stage {i}", phone=f"+4670174065{i}", locales=[], capacity=20)
            )
        notifications = services.storage.queue(NOTIFICATIONS)
        requests = services.storage.queue(FORMATION_REQUESTS)

        def one(i: int, clock: StageClock) -> None:
            theme = themes[i % len(themes)]
            number = f"+4670{2_000_000 + i:07d}"
            interest = ValidInterest(theme=theme, name=f"Person {i}", phone=number, locale="sv", area=area)
            before = len(twilio.bodies)
            registration = clock.run("register", lambda: services.intake.register(interest, client_address="10.0.0.1"))
            twilio.wait_for(before + 1, timeout=10)
            code = re.search(r"\d{6}", twilio.bodies[-1]).group(0)  # type: ignore[union-attr]
            clock.run("verify", lambda: services.intake.verify(registration.interest_id, code))
            clock.run("formation", lambda: services.formation.form_theme(theme))
            for message in notifications.receive_messages(max_messages=32):
                clock.run("sending", lambda text=message.content: services.notifier.handle(text))
                notifications.delete_message(message)

        warm = StageClock()
        for i in range(10):  # first calls import the SDKs and fill caches: a warm instance is measured
            one(1_000_000 + i, warm)
        clock.counter = counter
        for i in range(count):
            one(i, clock)
        requests.clear_messages()  # the host's trigger would take these; formation ran above for each
        # As a Function App runs: no proxy, so the storage clients go through the pooled transport and read
        # no environment per call (a CA bundle set here is read once). With a proxy set, the rows say so.
        path = "pooled transport" if services.storage.pooled_transport else "requests transport, proxy read per call"
    return clock, count, path


def top_frames(profile: cProfile.Profile, calls: int, limit: int = 8) -> list[str]:
    """The frames with the most own time, in ms per resident."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:limit]  # type: ignore[attr-defined]
    out = []
    for (filename, line, name), (_cc, _nc, tottime, cumtime, _callers) in rows:
        where = filename.split("site-packages/")[-1].split("/cold-start/")[-1]
        out.append(f"{where}:{line}({name}) {tottime / calls * 1000:.2f} ms own, {cumtime / calls * 1000:.2f} cum")
    return out


def stage_rows(connection_string: str, count: int) -> tuple[list[Row], dict[str, Any]]:
    clock, n, path = residents(connection_string, count)
    per = {stage: clock.cpu[stage] / n * 1000 for stage in STAGES}
    intake = per["register"] + per["verify"]
    rows = [
        Row(f"app CPU per resident, {stage} ({n} residents, 4 themes, one area)", per[stage], "ms") for stage in STAGES
    ]
    rows += [Row(f"… storage calls per resident, {stage}", clock.calls[stage] / n, "") for stage in STAGES]
    rows.insert(
        2,
        Row(
            "app CPU per resident, register + verify",
            intake,
            "ms",
            None,
            "≤ 20 ms (issue 22)",
            intake <= 20,
        ),
    )
    total = sum(per.values()) / 1000
    for size, gb in INSTANCE_GB.items():
        gb_seconds = total / CORES[size] * gb * 1000
        rows.append(Row(f"… Flex GB-s per 1,000 residents at {size} (all four stages, CPU-bound)", gb_seconds, "GB-s"))
    profiled, m, _ = residents(connection_string, max(20, count // 5), profile=True)
    assert profiled.profiles is not None
    frames = {stage: top_frames(profiled.profiles[stage], m) for stage in STAGES}
    return rows, {"top_frames": frames, "storage_transport": path}
