"""Residents who register and verify through intake (the real path), in a theme and an area."""

from __future__ import annotations

import re

from shared.composition import Services
from shared.core.validation import ValidInterest

_next = iter(range(1_000_000))


def wait_in(services: Services, theme: str, area: str | None, how_many: int, locale: str | None = None) -> None:
    """`how_many` people verify an interest in `theme` and `area` and are left waiting (no formation run)."""
    for _ in range(how_many):
        number = f"+4670{1750000 + next(_next):07d}"
        registration = services.intake.register(
            ValidInterest(
                theme=theme,
                name="Testperson",
                phone=number,
                locale=locale or services.organisation.default_locale,
                area=area,
            ),
            client_address=None,
        )
        body = services.sender.messages()[-1].body  # type: ignore[attr-defined]
        code = re.search(r"\b(\d{6})\b", body).group(1)  # type: ignore[union-attr]
        services.intake.verify(registration.interest_id, code)
