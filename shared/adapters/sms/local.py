"""The local outbox sender `make dev` uses when no Twilio settings are given: messages stay in memory
and are printed, numbers masked."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.adapters.sms.base import CLOCK_SKEW, SentMessage, masked

# --- local outbox --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalMessage:
    sid: str
    to: str
    body: str
    sent_at: datetime  # UTC


class LocalOutboxSender:
    """Keeps the last `capacity` messages in memory and echoes one line per message.

    The echoed line shows the body, because a developer must read the verification code locally;
    the number is masked. Thread-safe.
    """

    def __init__(self, *, capacity: int = 500, echo: Callable[[str], None] | None = print) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._messages: deque[LocalMessage] = deque(maxlen=capacity)
        self._echo = echo
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self._capacity

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SentMessage:
        with self._lock:
            message = LocalMessage(sid="LO" + secrets.token_hex(16), to=to, body=body, sent_at=datetime.now(UTC))
            self._messages.append(message)
            if self._echo is not None:
                # Inside the lock, so lines from concurrent sends never interleave; one line each.
                self._echo(f"[outbox] to {masked(to)}: {_one_line(body)}")
        return SentMessage(sid=message.sid, status="queued")

    def messages(self) -> list[LocalMessage]:
        """The stored messages, oldest first."""
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def delete(self, sid: str) -> bool:
        """Drop the stored copy: the local outbox keeps no message a provider would have deleted."""
        with self._lock:
            kept = [m for m in self._messages if m.sid != sid]
            if len(kept) == len(self._messages):
                return False
            self._messages = deque(kept, maxlen=self._capacity)
        return True

    def find_sent(self, to: str, body: str, since: datetime) -> SentMessage | None:
        with self._lock:
            for message in reversed(self._messages):
                if message.to == to and message.body == body and message.sent_at >= since - CLOCK_SKEW:
                    return SentMessage(sid=message.sid, status="queued")
        return None


def _one_line(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
