"""Facilitators (igångsättare / igangsettere): who may start which groups, and how many at once."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.adapters.records import FacilitatorTable
from shared.core.facilitators import Facilitator
from shared.core.languages import CODES, LocaleCode
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
    locales: list[LocaleCode] = Field(
        max_length=len(CODES),
        description="Languages they run groups in; empty means every language of the organisation.",
    )
    capacity: int = Field(2, ge=1, le=20)
    active: bool = True


class FacilitatorPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: str | None = Field(None, max_length=40)
    themes: list[str] | None = Field(None, max_length=100)
    areas: list[str] | None = Field(None, max_length=100)
    locales: list[LocaleCode] | None = Field(
        None, max_length=len(CODES), description="Empty means every language of the organisation."
    )
    capacity: int | None = Field(None, ge=1, le=20)
    active: bool | None = None


_WRITE_ATTEMPTS = 10


class FacilitatorBusy(RuntimeError):
    """The record kept changing under every attempt to write it."""


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
    def __init__(self, rows: FacilitatorTable, organisation: Organisation, clock: Callable[[], datetime]) -> None:
        self._rows = rows
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
        """A change an operator made. A new phone number or a deactivation also revokes every page link
        and session given so far (issue 19.1): a link texted to the old number, or kept by someone who
        no longer facilitates, must not open the roster, and reactivating does not bring them back."""
        changes = _check(patch.model_dump(exclude_unset=True, exclude_none=True), self._org)

        def change(current: Facilitator) -> Facilitator:
            updated = current.model_copy(update=changes)
            if updated.phone != current.phone or (current.active and not updated.active):
                updated = updated.model_copy(update={"link_version": current.link_version + 1})
            return updated

        return self._write(facilitator_id, change)

    def revoke_links(self, facilitator_id: str) -> Facilitator | None:
        """Every link and session given so far stops working; the next text to them carries a new link."""
        return self._write(facilitator_id, lambda f: f.model_copy(update={"link_version": f.link_version + 1}))

    def _write(self, facilitator_id: str, change: Callable[[Facilitator], Facilitator]) -> Facilitator | None:
        """Read, change, write back If-Match the version read; read again when someone else wrote
        meanwhile, so a revocation is never undone by an edit that read the record before it."""
        if not isinstance(facilitator_id, str) or not facilitator_id.isalnum() or len(facilitator_id) > 40:
            return None
        for _ in range(_WRITE_ATTEMPTS):
            read = self._rows.get_versioned(facilitator_id)
            if read is None:
                return None
            current, etag = read
            updated = change(current)
            if self._rows.replace_if_unchanged(updated, etag):
                return updated
        raise FacilitatorBusy(facilitator_id)

    def delete(self, facilitator_id: str) -> bool:
        if self.get(facilitator_id) is None:
            return False
        self._rows.delete(facilitator_id)
        return True


__all__ = ["FacilitatorIn", "FacilitatorPatch", "FacilitatorStore", "InvalidFacilitator"]
