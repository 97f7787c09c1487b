"""Runs the app's registered queue and timer functions in-process, the way the Functions host would.

The real host cannot run here, so `make dev` (and the end-to-end tests) use this: it reads the
bindings from `function_app`, polls each trigger queue in Azurite, calls the same Python
functions with real `azure.functions` objects, and applies host.json's retry rules —
`maxDequeueCount`, then the `-poison` queue.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from shared import PROJECT_DIR
from shared.adapters.storage import StorageAccount
from shared.settings import Settings

log = logging.getLogger(__name__)
HOST_JSON = PROJECT_DIR / "host.json"
FUNCTION_APP = PROJECT_DIR / "function_app.py"


def load_function_app(path: Path = FUNCTION_APP) -> Any:
    """The app object of `function_app.py`, loaded by path from the project root the way the Functions
    host indexes it — so nothing inside the `shared` package imports the entry point."""
    import importlib.util
    import sys

    if "function_app" in sys.modules:
        return sys.modules["function_app"].app
    spec = importlib.util.spec_from_file_location("function_app", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    spec.loader.exec_module(module)
    return module.app


def _timespan(text: str) -> float:
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueRules:
    max_dequeue_count: int = 5
    visibility_timeout: float = 30.0  # seconds before a failed message is tried again
    batch_size: int = 16
    max_polling_interval: float = 2.0

    @classmethod
    def from_host_json(cls, path: Path = HOST_JSON) -> QueueRules:
        queues = json.loads(path.read_text())["extensions"].get("queues", {})
        return cls(
            max_dequeue_count=queues.get("maxDequeueCount", 5),
            visibility_timeout=_timespan(queues.get("visibilityTimeout", "00:00:00")),
            batch_size=queues.get("batchSize", 16),
            max_polling_interval=_timespan(queues.get("maxPollingInterval", "00:01:00")),
        )


# --- NCRONTAB (six fields: second minute hour day month day-of-week), as the timer trigger reads it ---

_FIELDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _parse_field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", part.strip())
        if not match:
            raise ValueError(f"bad NCRONTAB field {text!r}")
        start_text, end_text, step_text = match.groups()
        start = low if start_text == "*" else int(start_text)
        end = high if start_text == "*" and end_text is None else int(end_text or start)
        if step_text and start_text != "*" and end_text is None:
            end = high
        step = int(step_text or 1)
        if not (low <= start <= end <= high) or step < 1:
            raise ValueError(f"NCRONTAB field {text!r} out of range")
        values.update(range(start, end + 1, step))
    return values


def next_occurrence(schedule: str, after: datetime) -> datetime:
    """The first time strictly after `after` that the six-field NCRONTAB expression fires (UTC)."""
    parts = schedule.split()
    if len(parts) != 6:
        raise ValueError("NCRONTAB needs six fields: second minute hour day month day-of-week")
    sec, minute, hour, day, month, dow = (_parse_field(p, lo, hi) for p, (lo, hi) in zip(parts, _FIELDS, strict=True))
    t = after.replace(microsecond=0) + timedelta(seconds=1)
    limit = after + timedelta(days=366)
    while t <= limit:
        if t.month not in month or t.day not in day or (t.weekday() + 1) % 7 not in dow:
            t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
        elif t.hour not in hour:
            t = (t + timedelta(hours=1)).replace(minute=0, second=0)
        elif t.minute not in minute:
            t = (t + timedelta(minutes=1)).replace(second=0)
        elif t.second not in sec:
            t += timedelta(seconds=1)
        else:
            return t
    raise ValueError("NCRONTAB expression never fires")


# --- the runner ---------------------------------------------------------------------------------------


@dataclass
class _QueueFunction:
    name: str
    queue: str
    call: Callable[[func.QueueMessage], Any]


@dataclass
class _TimerFunction:
    name: str
    schedule: str
    call: Callable[[func.TimerRequest], Any]


_INDEXED: dict[int, list[Any]] = {}
_INDEX_LOCK = threading.Lock()


def indexed_functions(app: func.FunctionApp | func.AsgiFunctionApp) -> list[Any]:
    """`app.get_functions()` indexes once per app object (a second call raises), so keep the first answer."""
    with _INDEX_LOCK:
        if id(app) not in _INDEXED:
            _INDEXED[id(app)] = app.get_functions()
        return _INDEXED[id(app)]


def _resolve(value: str, settings: dict[str, str]) -> str:
    """The host's %SETTING% binding expressions."""
    return re.sub(r"%([^%]+)%", lambda m: settings[m.group(1)], value)


class _KeptHidden:
    """Keeps a message hidden while its invocation runs, as the host does ("the queue trigger automatically
    prevents a function from processing a queue message multiple times simultaneously",
    https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#concurrency):
    its visibility is renewed every half timeout until `stop`, which returns the current pop receipt.
    A killed runner renews nothing, so its messages reappear within the timeout."""

    def __init__(self, queue: Any, message: Any, timeout: float) -> None:
        self._queue = queue
        self._id = message.id
        self._receipt: str = message.pop_receipt
        self._timeout = max(1, round(timeout))
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="keep-hidden", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._done.wait(self._timeout / 2):
            try:
                self._receipt = self._queue.update_message(
                    self._id, self._receipt, visibility_timeout=self._timeout
                ).pop_receipt
            except Exception:
                return  # the message is another's now (or storage is away): it reappears on its own

    def stop(self) -> str:
        self._done.set()
        self._thread.join()
        return self._receipt


class LocalHost:
    def __init__(
        self,
        app: func.FunctionApp | func.AsgiFunctionApp,
        storage: StorageAccount,
        *,
        settings: Settings,
        rules: QueueRules | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        only: set[str] | None = None,
    ) -> None:
        """`only` limits the run to those function names (tests use it to stop before a stage)."""
        expressions = settings.app_settings()
        self.storage = storage
        self.rules = rules or QueueRules.from_host_json()
        self.clock = clock
        self.queues: list[_QueueFunction] = []
        self.timers: list[_TimerFunction] = []
        for function in indexed_functions(app):
            if only is not None and function.get_function_name() not in only:
                continue
            trigger = function.get_trigger()
            data = trigger.get_dict_repr() if trigger else {}
            if data.get("type") == "queueTrigger":
                self.queues.append(
                    _QueueFunction(
                        function.get_function_name(),
                        _resolve(data["queueName"], expressions),
                        function.get_user_function(),
                    )
                )
            elif data.get("type") == "timerTrigger":
                if data.get("runOnStartup"):
                    raise ValueError(f"{function.get_function_name()}: run_on_startup fires on every scale-out")
                self.timers.append(
                    _TimerFunction(
                        function.get_function_name(),
                        _resolve(data["schedule"], expressions),
                        function.get_user_function(),
                    )
                )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool = ThreadPoolExecutor(max_workers=self.rules.batch_size, thread_name_prefix="invocation")

    # one pass, for tests and the loop ---------------------------------------------------------------

    def process_queue_once(self, function: _QueueFunction) -> int:
        """Receive one batch and run it like the host: success deletes, failure waits, too many go to poison."""
        queue = self.storage.queue(function.queue)
        batch = list(
            queue.receive_messages(
                messages_per_page=self.rules.batch_size,
                max_messages=self.rules.batch_size,
                # While it runs the message is hidden; if it fails it reappears this long after being taken.
                visibility_timeout=max(1, round(self.rules.visibility_timeout)),
            )
        )
        if not batch:
            return 0
        futures = [self._pool.submit(self._invoke, function, queue, message) for message in batch]
        for future in futures:
            future.result()
        return len(batch)

    def _invoke(self, function: _QueueFunction, queue: Any, message: Any) -> None:
        if message.dequeue_count > self.rules.max_dequeue_count:
            self._poison(function, queue, message)
            return
        wrapped = QueueMessage(
            id=message.id,
            body=message.content.encode("utf-8"),
            dequeue_count=message.dequeue_count,
            insertion_time=message.inserted_on,
            expiration_time=message.expires_on,
            pop_receipt=message.pop_receipt,
        )
        hidden = _KeptHidden(queue, message, self.rules.visibility_timeout)
        try:
            function.call(wrapped)
        except Exception as exc:
            # Like the host: the message becomes visible again after visibilityTimeout, until the count runs out.
            receipt = hidden.stop()
            log.warning("%s failed (attempt %s): %s", function.name, message.dequeue_count, type(exc).__name__)
            if message.dequeue_count >= self.rules.max_dequeue_count:
                self._poison(function, queue, message, receipt)
            return
        queue.delete_message(message.id, hidden.stop())

    def _poison(self, function: _QueueFunction, queue: Any, message: Any, receipt: str | None = None) -> None:
        self.storage.queue(f"{function.queue}-poison").send_message(message.content)
        queue.delete_message(message.id, receipt or message.pop_receipt)
        log.warning("%s: message moved to %s-poison", function.name, function.queue)

    def fire_timer(self, timer: _TimerFunction, past_due: bool = False) -> None:
        timer.call(TimerRequest(past_due=past_due))

    def drain(self, rounds: int = 50) -> int:
        """Process every queue until all are empty (or `rounds` passes); returns how many messages ran."""
        total = 0
        for _ in range(rounds):
            done = sum(self.process_queue_once(q) for q in self.queues)
            total += done
            if not done:
                return total
        return total

    def run_until_idle(self, timeout: float = 30.0) -> int:
        """Process until every trigger queue is empty, counting messages hidden while they wait for a retry."""
        deadline = time.monotonic() + timeout
        total = 0
        while time.monotonic() < deadline:
            done = sum(self.process_queue_once(q) for q in self.queues)
            total += done
            if done:
                continue
            remaining = sum(
                self.storage.queue(q.queue).get_queue_properties().approximate_message_count or 0 for q in self.queues
            )
            if remaining == 0:
                return total
            time.sleep(0.1)
        raise TimeoutError("queues still hold messages")

    # background loop for make dev --------------------------------------------------------------------

    def start(self) -> None:
        for function in self.queues:
            thread = threading.Thread(target=self._poll, args=(function,), name=f"queue-{function.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        for timer in self.timers:
            thread = threading.Thread(target=self._tick, args=(timer,), name=f"timer-{timer.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _poll(self, function: _QueueFunction) -> None:
        # Like the host: poll fast while there is work, back off to maxPollingInterval when idle.
        delay = 0.05
        while not self._stop.is_set():
            try:
                done = self.process_queue_once(function)
            except Exception as exc:  # storage hiccup: keep polling
                log.warning("polling %s failed: %s", function.queue, type(exc).__name__)
                done = 0
            delay = 0.05 if done else min(delay * 2, self.rules.max_polling_interval)
            self._stop.wait(delay if not done else 0)

    def _tick(self, timer: _TimerFunction) -> None:
        due = next_occurrence(timer.schedule, self.clock())
        while not self._stop.is_set():
            wait = (due - self.clock()).total_seconds()
            if wait > 0:
                self._stop.wait(min(wait, 1.0))
                continue
            try:
                self.fire_timer(timer)
            except Exception as exc:
                log.warning("%s failed: %s", timer.name, type(exc).__name__)
            due = next_occurrence(timer.schedule, self.clock())
