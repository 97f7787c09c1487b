"""The organisation a deployment serves: one JSON document, validated at start.

A municipality file under infra/municipalities/ holds this document under the key
"organisation" beside its deployment parameters; the app receives it as the
ORGANISATION_CONFIG setting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from shared import PROJECT_DIR

Locale = Literal["sv", "nb", "en"]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThemeText(Strict):
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    description: Text


class Theme(Strict):
    id: Slug = Field(description="Stable id; never reuse one for another theme.")
    text: dict[Locale, ThemeText]


class Area(Strict):
    id: Slug
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class GroupSize(Strict):
    min: int = Field(5, ge=2, le=20)
    max: int = Field(8, ge=2, le=20)

    @model_validator(mode="after")
    def _ordered(self) -> GroupSize:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class Organisation(Strict):
    id: Slug
    name: Text
    country: Literal["SE", "NO"] = Field(description="Region used to read phone numbers.")
    # Countries whose mobile numbers may register (ISO 3166 codes); empty means the organisation's own.
    phone_countries: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] = Field(
        [], max_length=20, description="Countries whose numbers may register; default: country."
    )
    locales: list[Locale] = Field(min_length=1)
    default_locale: Locale
    minimum_age: int = Field(ge=16, le=99)
    group_size: GroupSize = GroupSize()
    areas: list[Area] = []
    match_by_area: bool = False
    themes: list[Theme] = Field(min_length=1)
    consent_version: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    coordinator_phone: str = Field(description="E.164 mobile number of the coordinator.")

    @model_validator(mode="after")
    def _consistent(self) -> Organisation:
        if self.default_locale not in self.locales:
            raise ValueError("default_locale must be one of locales")
        if len(set(self.locales)) != len(self.locales):
            raise ValueError("locales must not repeat")
        ids = [t.id for t in self.themes]
        if len(set(ids)) != len(ids):
            raise ValueError("theme ids must be unique")
        for theme in self.themes:
            missing = [loc for loc in self.locales if loc not in theme.text]
            if missing:
                raise ValueError(f"theme {theme.id!r} lacks text for {', '.join(missing)}")
        area_ids = [a.id for a in self.areas]
        if len(set(area_ids)) != len(area_ids):
            raise ValueError("area ids must be unique")
        if self.match_by_area and not self.areas:
            raise ValueError("match_by_area needs areas")
        unknown = [c for c in self.phone_countries if c not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"phone_countries has unknown country codes: {', '.join(unknown)}")
        try:
            number = phonenumbers.parse(self.coordinator_phone, None)
        except phonenumbers.NumberParseException:
            raise ValueError("coordinator_phone must be an E.164 number such as +46701234567") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("coordinator_phone is not a valid number")
        return self

    @property
    def allowed_phone_countries(self) -> tuple[str, ...]:
        return tuple(self.phone_countries) or (self.country,)

    def theme(self, theme_id: str) -> Theme | None:
        return next((t for t in self.themes if t.id == theme_id), None)

    def area(self, area_id: str) -> Area | None:
        return next((a for a in self.areas if a.id == area_id), None)

    def theme_text(self, theme_id: str, locale: str) -> ThemeText:
        theme = self.theme(theme_id)
        if theme is None:
            raise KeyError(theme_id)
        for candidate in (locale, self.default_locale):
            for code, text in theme.text.items():
                if code == candidate:
                    return text
        return next(iter(theme.text.values()))


class OrganisationConfigError(ValueError):
    """A bad organisation document; the message names each wrong field."""


def parse_organisation(document: str | dict) -> Organisation:
    try:
        data = json.loads(document) if isinstance(document, str) else document
    except json.JSONDecodeError as exc:
        raise OrganisationConfigError(f"ORGANISATION_CONFIG is not valid JSON: {exc}") from None
    try:
        return Organisation.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(document)'}: {err['msg']}" for err in exc.errors()
        )
        raise OrganisationConfigError(f"ORGANISATION_CONFIG is invalid: {problems}") from None


MUNICIPALITIES = PROJECT_DIR / "infra" / "municipalities"


def load_municipality_file(path: Path) -> dict:
    """A municipality file: {"deployment": {...}, "organisation": {...}}."""
    return json.loads(path.read_text(encoding="utf-8"))
