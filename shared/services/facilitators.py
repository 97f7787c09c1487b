"""Facilitators (igångsättare / igangsettere): who may start which groups, and how many at once."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.adapters.records import FacilitatorTable
from shared.core.domain import utcnow
from shared.core.facilitators import Facilitator
from shared.core.organisation import Organisation
from shared.core.phone import PhoneError, parse_mobile

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class FacilitatorIn(BaseModel):
    """What an operator sends to add a facilitator."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: str = Field(max_length=40)
    themes: list[str] = Field(default_factory=list, max_length=100)
    areas: list[str] = Field(default_factory=list, max_length=100)
    locales: list[Literal["sv", "nb", "en"]] = Field(
        max_length=3, description="Languages they run groups in; empty means every language of the organisation."
    )
    capacity: int = Field(2, ge=1, le=20)
    active: bool = True


class FacilitatorPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: str | None = Field(None, max_length=40)
    themes: list[str] | None = Field(None, max_length=100)
    areas: list[str] | None = Field(None, max_length=100)
    locales: list[Literal["sv", "nb", "en"]] | None = Field(
        None, max_length=3, description="Empty means every language of the organisation."
    )
    capacity: int | None = Field(None, ge=1, le=20)
    active: bool | None = None


class InvalidFacilitator(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def _check(values: dict, organisation: Organisation) -> dict:
    """Normalise the phone and check themes and areas against the organisation."""
    errors: dict[str, str] = {}
    if values.get("phone") is not None:
        try:
            values["phone"] = parse_mobile(values["phone"], organisation.country)
        except PhoneError as exc:
            errors["phone"] = f"phone_{exc.reason}"
    unknown_themes = [t for t in values.get("themes") or [] if organisation.theme(t) is None]
    if unknown_themes:
        errors["themes"] = "theme_unknown"
    unknown_areas = [a for a in values.get("areas") or [] if organisation.area(a) is None]
    if unknown_areas:
        errors["areas"] = "area_unknown"
    if errors:
        raise InvalidFacilitator(errors)
    if values.get("locales") == []:
        # Empty means every language, as empty themes and areas mean all. Stored spelled out, since the
        # senders and matching read a facilitator's languages as a non-empty list.
        values["locales"] = list(organisation.locales)
    for key in ("themes", "areas", "locales"):
        if values.get(key) is not None:
            values[key] = sorted(set(values[key]))
    return values


class FacilitatorStore:
    def __init__(
        self, table: Callable[[], Any], organisation: Organisation, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._rows = FacilitatorTable(table)
        self._org = organisation
        self._clock = clock

    def list(self) -> list[Facilitator]:
        return sorted(self._rows.list(), key=lambda f: (f.name.lower(), f.id))

    def get(self, facilitator_id: str) -> Facilitator | None:
        if not facilitator_id.isalnum() or len(facilitator_id) > 40:
            return None
        return self._rows.get(facilitator_id)

    def create(self, data: FacilitatorIn) -> Facilitator:
        values = _check(data.model_dump(), self._org)
        facilitator = Facilitator(id=secrets.token_hex(8), created_at=self._clock(), **values)
        self._rows.create(facilitator)
        return facilitator

    def update(self, facilitator_id: str, patch: FacilitatorPatch) -> Facilitator | None:
        current = self.get(facilitator_id)
        if current is None:
            return None
        changes = _check(patch.model_dump(exclude_unset=True, exclude_none=True), self._org)
        updated = current.model_copy(update=changes)
        self._rows.replace(updated)
        return updated

    def delete(self, facilitator_id: str) -> bool:
        if self.get(facilitator_id) is None:
            return False
        self._rows.delete(facilitator_id)
        return True


__all__ = ["Facilitator", "FacilitatorIn", "FacilitatorPatch", "FacilitatorStore", "InvalidFacilitator"]
