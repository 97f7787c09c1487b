"""Facilitators (igångsättare / igangsettere) and the one rule of who may run which group.

Matching (automatic assignment), the operators' assignment and the admin pages' choice list all
ask `refusal`, so the rule cannot drift between them.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.core.languages import LocaleCode

Locale = LocaleCode  # one of core/languages.py


class Facilitator(BaseModel):
    # Built on first validation, not at import: a new instance's form validates no facilitator (issue 22.1).
    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    name: str
    phone: str  # E.164
    themes: list[str] = Field(description="Theme ids; empty means trained for all themes.")
    areas: list[str] = Field(description="Area ids; empty means every area.")
    locales: list[Locale]
    capacity: int
    active: bool
    created_at: datetime
    # The facilitator's page links carry this; an operator's revocation bumps it, refusing every older link.
    link_version: int = 0

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


class Trained(Protocol):
    """What the rule reads of a facilitator (a Facilitator, or matching's FacilitatorLoad)."""

    @property
    def active(self) -> bool: ...
    @property
    def themes(self) -> Collection[str]: ...
    @property
    def areas(self) -> Collection[str]: ...
    @property
    def locales(self) -> Collection[str]: ...
    @property
    def capacity(self) -> int: ...


def trained_for(facilitator: Trained, theme: str) -> bool:
    return facilitator.active and (not facilitator.themes or theme in facilitator.themes)


def serves(facilitator: Trained, area: str | None, locale: str) -> bool:
    """Runs groups in `locale` and covers `area` (a group without an area fits every facilitator)."""
    return locale in facilitator.locales and (area is None or not facilitator.areas or area in facilitator.areas)


def refusal(facilitator: Trained, *, theme: str, area: str | None, locale: str, load: int) -> str | None:
    """Why this facilitator may not take a group of `theme`, `area` and `locale` while running `load`
    groups: 'inactive', 'theme', 'area', 'locale' or 'capacity'; None when they may."""
    if not facilitator.active:
        return "inactive"
    if not trained_for(facilitator, theme):
        return "theme"
    if area and facilitator.areas and area not in facilitator.areas:
        return "area"
    if locale not in facilitator.locales:
        return "locale"
    if load >= facilitator.capacity:
        return "capacity"
    return None
