"""Facilitators (igångsättare / igangsettere): who may start which groups, and how many at once."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.adapters.storage import storage_errors
from shared.core.domain import utcnow
from shared.core.organisation import Organisation
from shared.core.phone import PhoneError, parse_mobile

PARTITION = "facilitator"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class Facilitator(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    phone: str  # E.164
    themes: list[str] = Field(description="Theme ids; empty means trained for all themes.")
    areas: list[str] = Field(description="Area ids; empty means every area.")
    locales: list[Literal["sv", "nb", "en"]]
    capacity: int
    active: bool
    created_at: datetime

    @property
    def first_name(self) -> str:
        return self.name.split()[0]

    def to_entity(self) -> dict:
        return {
            "PartitionKey": PARTITION,
            "RowKey": self.id,
            "Name": self.name,
            "Phone": self.phone,
            "Themes": json.dumps(self.themes),
            "Areas": json.dumps(self.areas),
            "Locales": json.dumps(self.locales),
            "Capacity": self.capacity,
            "Active": self.active,
            "CreatedAt": self.created_at,
        }

    @classmethod
    def from_entity(cls, entity: dict) -> Facilitator:
        return cls(
            id=entity["RowKey"],
            name=entity["Name"],
            phone=entity["Phone"],
            themes=json.loads(entity["Themes"]),
            areas=json.loads(entity["Areas"]),
            locales=json.loads(entity["Locales"]),
            capacity=entity["Capacity"],
            active=entity["Active"],
            created_at=entity["CreatedAt"],
        )


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
        self, table: Callable[[], TableClient], organisation: Organisation, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._table = table
        self._org = organisation
        self._clock = clock

    def list(self) -> list[Facilitator]:
        with storage_errors():
            rows = self._table().query_entities("PartitionKey eq @p", parameters={"p": PARTITION})
            return sorted((Facilitator.from_entity(r) for r in rows), key=lambda f: (f.name.lower(), f.id))

    def get(self, facilitator_id: str) -> Facilitator | None:
        if not facilitator_id.isalnum() or len(facilitator_id) > 40:
            return None
        with storage_errors():
            try:
                return Facilitator.from_entity(self._table().get_entity(PARTITION, facilitator_id))
            except ResourceNotFoundError:
                return None

    def create(self, data: FacilitatorIn) -> Facilitator:
        values = _check(data.model_dump(), self._org)
        facilitator = Facilitator(id=secrets.token_hex(8), created_at=self._clock(), **values)
        with storage_errors():
            self._table().create_entity(facilitator.to_entity())
        return facilitator

    def update(self, facilitator_id: str, patch: FacilitatorPatch) -> Facilitator | None:
        current = self.get(facilitator_id)
        if current is None:
            return None
        changes = _check(patch.model_dump(exclude_unset=True, exclude_none=True), self._org)
        updated = current.model_copy(update=changes)
        with storage_errors():
            self._table().update_entity(updated.to_entity(), mode=UpdateMode.REPLACE)
        return updated

    def delete(self, facilitator_id: str) -> bool:
        if self.get(facilitator_id) is None:
            return False
        with storage_errors():
            self._table().delete_entity(PARTITION, facilitator_id)
        return True
