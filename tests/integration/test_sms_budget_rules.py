"""The SMS budget's rules on its own, on the wired storage (Azurite, or the twin in the fast tier): each
share's caps, the two shares counted apart, a check that counts nothing, and what a refusal says.
Mutation testing (docs/mutation.md) found these reached only through a whole registration or send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.ratelimit import OncePerWindow, RateLimiter
from shared.adapters.sms.local import LocalOutboxSender
from shared.adapters.sms.send_rate import Lane
from shared.adapters.storage import RATE_LIMITS
from shared.composition import Services
from shared.services.sms_budget import BudgetExhausted, SmsBudget

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def budget(services: Services, clock: Clock, *, codes: tuple[int, int], texts: tuple[int, int]) -> SmsBudget:
    """Codes' share `codes` (per hour, per day) of the whole budget `texts`."""
    return SmsBudget(
        limiter=RateLimiter(lambda: services.storage.table(RATE_LIMITS), clock),
        alerts=OncePerWindow(lambda: services.storage.table(RATE_LIMITS)),
        sender=LocalOutboxSender(echo=None),
        templates=services.templates,
        organisation=services.organisation,
        per_hour=codes[0],
        per_day=codes[1],
        texts_per_hour=texts[0],
        texts_per_day=texts[1],
        clock=clock,
        spenders=list,
    )


def spent(spend: SmsBudget, lane: Lane, times: int) -> None:
    for _ in range(times):
        spend.spend(lane)


def test_each_share_has_its_own_caps(services: Services) -> None:
    shares = budget(services, Clock(), codes=(2, 10), texts=(8, 100))
    assert shares.limits(Lane.CODES) == (2, 10)
    assert shares.limits(Lane.TEXTS) == (6, 90)


def test_codes_and_other_texts_spend_their_shares_apart(services: Services) -> None:
    clock = Clock()
    shares = budget(services, clock, codes=(2, 10), texts=(5, 100))
    spent(shares, Lane.CODES, 2)
    with pytest.raises(BudgetExhausted) as codes_full:
        shares.spend(Lane.CODES)
    assert codes_full.value.lane is Lane.CODES
    spent(shares, Lane.TEXTS, 3)  # the other texts' three are untouched by the codes
    with pytest.raises(BudgetExhausted) as texts_full:
        shares.spend(Lane.TEXTS)
    assert texts_full.value.lane is Lane.TEXTS
    # The 9:00 texts' one-minute slot leaves the hour at 10:01.
    assert codes_full.value.retry_after == texts_full.value.retry_after == 61 * 60


def test_a_check_counts_nothing_and_refuses_what_spend_would(services: Services) -> None:
    clock = Clock()
    shares = budget(services, clock, codes=(2, 10), texts=(5, 100))
    for _ in range(5):
        shares.check(Lane.CODES)
        shares.check(Lane.TEXTS)
    spent(shares, Lane.CODES, 2)  # five checks spent nothing
    with pytest.raises(BudgetExhausted) as refused:
        shares.check(Lane.CODES)
    assert (refused.value.lane, refused.value.retry_after) == (Lane.CODES, 61 * 60)
    spent(shares, Lane.TEXTS, 3)
    with pytest.raises(BudgetExhausted) as texts_full:
        shares.check(Lane.TEXTS)
    assert texts_full.value.lane is Lane.TEXTS


def test_the_daily_cap_holds_across_hours(services: Services) -> None:
    clock = Clock()
    shares = budget(services, clock, codes=(2, 3), texts=(10, 20))
    spent(shares, Lane.CODES, 2)
    clock.now = T0 + timedelta(hours=2)
    spent(shares, Lane.CODES, 1)
    with pytest.raises(BudgetExhausted) as refused:
        shares.spend(Lane.CODES)
    # The day's 24-minute slots: the 9:00 codes' slot (8:48–9:12) leaves the day at 9:12 tomorrow.
    assert refused.value.retry_after == int((T0 + timedelta(days=1, minutes=12) - clock.now).total_seconds())


def test_a_budget_not_larger_than_the_codes_share_is_refused(services: Services) -> None:
    for codes, texts in (((5, 10), (5, 100)), ((5, 10), (50, 10))):
        with pytest.raises(ValueError, match="larger than the codes' share"):
            budget(services, Clock(), codes=codes, texts=texts)


def test_a_refusal_says_when_to_try_again() -> None:
    refused = BudgetExhausted(120, Lane.TEXTS)
    assert (refused.retry_after, refused.lane) == (120, Lane.TEXTS)
    assert "120" in str(refused)
    assert BudgetExhausted(7).lane is Lane.CODES
