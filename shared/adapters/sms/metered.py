"""The one door every outbound text leaves by: the installation's send rate and SMS budget, then the provider.

`build_services` (shared/composition.py) wraps the real sender in a `MeteredSender` once, and every
service gets that sender: notify (group texts, forwards, member replies, reports, alerts), intake
(verification codes), replies. So a text counts because it is sent, not because its caller remembered
to count it. Each send
1. books room in the shared send rate (`adapters/sms/send_rate.py`) for its segments, waiting for its window;
2. spends one text of the installation's budget (`services/sms_budget.py`), which raises
   `BudgetExhausted` (a transient SMS error: nothing was sent) when the lane's share is spent;
3. hands the text to the provider.
Rate before budget: a booked slot that the budget then refuses is merely unused, while a budget unit
spent on a text the rate could not take would be lost.

A sender draws on one `Lane`: `Lane.TEXTS` by default; intake takes `for_codes(sender)`, which draws on
the codes' reserved share of both. Lookups and deletions of the provider's copies are not texts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.adapters.sms.base import SentMessage, SmsSender
from shared.adapters.sms.send_rate import Lane, SendRate
from shared.core.sms_segments import segment_info


class MeteredSender:
    def __init__(
        self,
        inner: SmsSender,
        *,
        rate: SendRate | None,
        spend: Callable[[Lane], None] | None,
        lane: Lane = Lane.TEXTS,
    ) -> None:
        self.inner = inner
        self._rate = rate
        self._spend = spend
        self.drawn_lane = lane

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # the local outbox's messages(), say

    def __repr__(self) -> str:
        return f"MeteredSender({self.inner!r}, lane={self.drawn_lane.value})"

    def lane(self, lane: Lane) -> MeteredSender:
        """The same sender, drawing on `lane`'s share of the rate and the budget."""
        return MeteredSender(self.inner, rate=self._rate, spend=self._spend, lane=lane)

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SentMessage:
        if self._rate is not None:
            self._rate.acquire(self.drawn_lane, segment_info(body).segments)
        if self._spend is not None:
            self._spend(self.drawn_lane)
        return self.inner.send(to, body, status_callback=status_callback)

    def find_sent(self, to: str, body: str, since: datetime) -> SentMessage | None:
        return self.inner.find_sent(to, body, since)

    def delete(self, sid: str) -> bool:
        return self.inner.delete(sid)


def for_codes(sender: SmsSender) -> SmsSender:
    """The sender for verification codes: the codes' reserved share when the sender is metered."""
    choose = getattr(sender, "lane", None)
    return choose(Lane.CODES) if callable(choose) else sender


__all__ = ["MeteredSender", "for_codes"]
