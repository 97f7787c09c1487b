"""Helpers the storage tests share: people registered through intake or written straight to the
table, facilitators, and what the interests table and the notifications queue hold."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from shared.adapters.entities import entity_of, group_from, interest_from, message_from
from shared.adapters.storage import INTERESTS, NOTIFICATIONS
from shared.composition import Services
from shared.core.domain import INTEREST_PREFIX, Group, Interest, InterestStatus, OutboxMessage, utcnow
from shared.core.validation import ValidInterest
from shared.services.facilitators import FacilitatorIn

THEME = "stress"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def verified(services: Services, n: int, theme: str = THEME, start: int = 0, locale: str = "sv") -> list[str]:
    """Register and verify n people through the intake service, as the form does."""
    ids = []
    for i in range(start, start + n):
        phone = f"+4670{1000000 + i:07d}"
        reg = services.intake.register(
            ValidInterest(theme=theme, name=f"Person {i}", phone=phone, locale=locale, area="habo"),
            client_address=None,
        )
        match = re.search(r"\b(\d{6})\b", services.sender.messages()[-1].body)  # type: ignore[attr-defined]
        assert match
        services.intake.verify(reg.interest_id, match.group(1))
        ids.append(reg.interest_id)
    return ids


def waiting_interest(i: int, theme: str = THEME, now: datetime | None = None) -> Interest:
    """The i-th verified person waiting in a theme, as a record (ids, names and numbers made from i)."""
    now = now or utcnow()
    return Interest(
        theme=theme,
        key=f"{INTEREST_PREFIX}{i:012x}{i:012x}",
        name=f"Person {i}",
        phone=f"+4670{1000000 + i:07d}",
        locale="sv",
        area="habo",
        status=InterestStatus.WAITING,
        consent_version="test",
        created_at=now + timedelta(milliseconds=i),
        verified_at=now,
        withdraw_token_hash="x",
    )


def seed_waiting(services: Services, n: int, theme: str = THEME, start: int = 0) -> None:
    """Verified interests written straight to the table, 100 per transaction (intake is tested elsewhere)."""
    now = utcnow()
    entities = [entity_of(waiting_interest(i, theme, now)) for i in range(start, start + n)]
    table = services.storage.table(INTERESTS)
    for first in range(0, n, 100):
        table.submit_transaction([("create", e) for e in entities[first : first + 100]])


def add_facilitator(services: Services, name: str = "Eva Lind", capacity: int = 3, **kw):
    data = {"name": name, "phone": "+46701740610", "locales": ["sv", "en"], "capacity": capacity, **kw}
    return services.facilitators.create(FacilitatorIn(**data))


def rows(services: Services, theme: str = THEME) -> list[dict]:
    return list(services.storage.table(INTERESTS).query_entities("PartitionKey eq @t", parameters={"t": theme}))


def groups(services: Services, theme: str = THEME) -> list[Group]:
    return [group_from(r) for r in rows(services, theme) if r.get("Kind") == "group"]


def outbox(services: Services, theme: str = THEME) -> list[OutboxMessage]:
    return [message_from(r) for r in rows(services, theme) if r.get("Kind") == "outbox"]


messages_of = outbox


def interests(services: Services, theme: str = THEME) -> list[Interest]:
    return [interest_from(r) for r in rows(services, theme) if r.get("Kind") == "interest"]


def queued(services: Services) -> list[str]:
    return [m.content for m in services.storage.queue(NOTIFICATIONS).peek_messages(max_messages=32)]


def drain(services: Services) -> list[str]:
    queue = services.storage.queue(NOTIFICATIONS)
    texts: list[str] = []
    while True:
        batch = list(queue.receive_messages(messages_per_page=32, max_messages=32))
        if not batch:
            return texts
        for message in batch:
            texts.append(message.content)
            queue.delete_message(message)
