"""The organisation a deployment serves: one JSON document, validated at start.

A municipality file under infra/municipalities/ holds this document under the key
"organisation" beside its deployment parameters; the app receives it as the
ORGANISATION_CONFIG setting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from shared import PROJECT_DIR
from shared.core.languages import LocaleCode
from shared.core.widening import symmetric

Locale = LocaleCode  # one of core/languages.py
# A theme's or an area's id; the formation-requests queue message checks its theme against it too.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1200)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^https?://[^\s<>\"']{3,300}$")]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[^@\s<>\"']{1,64}@[a-z0-9.-]{1,120}\.[a-z]{2,}$")
]
# A number as people dial it: "112", "116 123", "010-242 41 73", "+47 22 40 00 40".
Dialled = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 -]{1,18}[0-9]$")]
# One text per locale of the organisation (checked by Organisation): what a resident reads.
Localised = dict[Locale, Text]
LocalisedLong = dict[Locale, LongText]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThemeText(Strict):
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    description: Text
    # How a text message names the theme, written for its place in a sentence ("om stress",
    # "för anhöriga", "som er åpen for alle temaer"): never a lower-cased label.
    phrase: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class Theme(Strict):
    id: Slug = Field(description="Stable id; never reuse one for another theme.")
    text: dict[Locale, ThemeText]
    # An open choice ("Annat", "Åpen gruppe — alle temaer"): for those whom no theme fits, or for
    # schemes that ask for no specific problem at all. Grouped like any theme.
    open: bool = False


class Area(Strict):
    id: Slug
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    neighbours: list[Slug] = Field(
        [], max_length=40, description="Area ids bordering this one; one side is enough, the other is implied."
    )


class GroupSize(Strict):
    min: int = Field(5, ge=2, le=20)
    max: int = Field(8, ge=2, le=20)

    @model_validator(mode="after")
    def _ordered(self) -> GroupSize:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class Link(Strict):
    url: Url
    text: Localised


class Party(Strict):
    """Someone a resident can reach: the controller, the data-protection officer, a feedback address."""

    name: Localised
    email: Email | None = None
    phone: Dialled | None = None
    address: Text | None = None
    url: Url | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Party:
        if not (self.email or self.phone or self.address or self.url):
            raise ValueError("give at least one of email, phone, address or url")
        return self


class Authority(Strict):
    name: Localised
    url: Url


class CrisisLine(Strict):
    number: Dialled
    name: Localised = Field(description="Who answers, e.g. Mind Självmordslinjen.")
    when: Localised = Field(description="When to call, short: it also goes into the HELP reply.")
    url: Url | None = None
    source: Url = Field(description="The official page that gives this number and what it is for.")


class Privacy(Strict):
    """GDPR Art. 13(1)(a)-(b) and 13(2)(d): who decides, whom to ask, where to complain."""

    controller: Party
    dpo: Party
    authority: Authority
    processors: list[Party] = Field(min_length=1)


class Accessibility(Strict):
    """The accessibility statement (Sweden: DOS-lagen, Digg; Norway: Uu-tilsynet)."""

    standard: Text = Field(description="e.g. WCAG 2.1 AA (EN 301 549)")
    compliance: Literal["full", "partial", "none"]
    assessed: date
    updated: date
    method: LocalisedLong
    known_gaps: list[LocalisedLong] = []
    feedback: Party
    enforcement: Authority = Field(description="Where to report when feedback gets no answer.")
    law: Link


class Coordinator(Strict):
    name: Text
    title: Localised
    phone: Dialled | None = None
    email: Email | None = None
    url: Url | None = Field(None, description="A contact page, when no phone or e-mail is published.")


FactTopic = Literal[
    "group_size",  # how many make a group
    "facilitator",  # who helps the group start, and for how many meetings
    "continued_contact",  # who stays in touch with the group afterwards
    "meetings",  # length and rhythm
    "duration",  # how long the group goes on
    "cost",
    "anonymity",
    "confidentiality",
    "who_may_join",
    "not_health_service",
]


class SchemeFact(Strict):
    """One thing the organisation's own page says about its groups, in its words, with the page.

    Texts of ours never state these (tests/unit/test_scheme_facts.py): a page shows them only from here.
    """

    topic: FactTopic
    text: LocalisedLong
    source: Url = Field(description="The organisation's page that says this.")


class Scheme(Strict):
    """What the municipality's own page says about its groups, in its words."""

    facts: list[SchemeFact] = Field(min_length=1)
    links: list[Link] = []
    source: Url

    def says(self, topic: str) -> bool:
        return any(fact.topic == topic for fact in self.facts)


class UnderAge(Strict):
    """Where someone too young to join can turn instead."""

    text: LocalisedLong
    links: list[Link] = []
    source: Url


@dataclass(frozen=True)
class LocalText:
    text: str
    lang: str | None  # set when the text is in another language than the page (WCAG 3.1.2)


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
    # None: the scheme sets no age limit, and the form asks no age question.
    minimum_age: int | None = Field(None, ge=16, le=99)
    group_size: GroupSize = GroupSize()
    areas: list[Area] = []
    match_by_area: bool = False
    area_wait_days: int | None = Field(
        None,
        ge=1,
        le=365,
        description="With match_by_area: days after verification before someone may join a neighbouring "
        "area's group, or failing that one anywhere. None: only ever their own area.",
    )
    themes: list[Theme] = Field(min_length=1)
    # Issue 23: a count below this is never published as itself (shared/core/disclosure.py) on the
    # public running-groups page, its feed, or any export; the pages under /manage show exact counts.
    small_count_threshold: int = Field(
        5, ge=2, le=50, description="Counts from 1 to this minus one are shown as 'fewer than' it outside /manage."
    )
    consent_version: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    coordinator_phone: str = Field(description="E.164 mobile number of the coordinator.")
    coordinator: Coordinator | None = Field(None, description="The named coordinator residents may contact.")
    privacy: Privacy
    accessibility: Accessibility
    crisis: list[CrisisLine] = Field(min_length=1)
    scheme: Scheme | None = None
    under_age: UnderAge | None = None

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
        if self.area_wait_days is not None and not self.match_by_area:
            raise ValueError("area_wait_days needs match_by_area")
        for area in self.areas:
            unknown = [n for n in area.neighbours if n not in area_ids]
            if unknown:
                raise ValueError(f"area {area.id!r} names unknown neighbours: {', '.join(unknown)}")
            if area.id in area.neighbours:
                raise ValueError(f"area {area.id!r} cannot neighbour itself")
        unknown = [c for c in self.phone_countries if c not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"phone_countries has unknown country codes: {', '.join(unknown)}")
        try:
            number = phonenumbers.parse(self.coordinator_phone, None)
        except phonenumbers.NumberParseException:
            raise ValueError("coordinator_phone must be an E.164 number such as +46701234567") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("coordinator_phone is not a valid number")
        for where, texts in self._localised():
            missing = [loc for loc in self.locales if loc not in texts]
            if missing:
                raise ValueError(f"{where} lacks text for {', '.join(missing)}")
        return self

    def _localised(self) -> Iterator[tuple[str, Mapping[str, str]]]:
        """Every resident-facing text of the document with its path, so none lacks a locale."""

        def walk(value: object, path: str) -> Iterator[tuple[str, Mapping[str, str]]]:
            if isinstance(value, BaseModel):
                for name in type(value).model_fields:
                    yield from walk(getattr(value, name), f"{path}.{name}" if path else name)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    yield from walk(item, f"{path}.{i}")
            elif isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
                yield path, value

        for name in ("coordinator", "privacy", "accessibility", "crisis", "scheme", "under_age"):
            yield from walk(getattr(self, name), name)

    def local(self, texts: Mapping[Any, str], locale: str) -> LocalText:
        """A text in the reader's language, else the organisation's default (marked with its lang)."""
        for candidate in (locale, self.default_locale, *texts):
            if candidate in texts:
                return LocalText(texts[candidate], None if candidate == locale else candidate)
        return LocalText("", None)

    @property
    def facilitator_stays_in_touch(self) -> bool:
        """The scheme says the facilitator keeps in touch with the group after handing it over."""
        return self.scheme is not None and self.scheme.says("continued_contact")

    def crisis_summary(self, locale: str) -> str:
        """The crisis numbers in one line, for the SMS HELP reply: "Akut fara för liv: 112. …"."""
        return " ".join(f"{self.local(line.when, locale).text}: {line.number}." for line in self.crisis)

    @property
    def allowed_phone_countries(self) -> tuple[str, ...]:
        return tuple(self.phone_countries) or (self.country,)

    def theme(self, theme_id: str) -> Theme | None:
        return next((t for t in self.themes if t.id == theme_id), None)

    def area(self, area_id: str) -> Area | None:
        return next((a for a in self.areas if a.id == area_id), None)

    def neighbours(self) -> dict[str, frozenset[str]]:
        """Each area's neighbours, both ways: a relation written on one side holds for the other."""
        return symmetric({a.id: a.neighbours for a in self.areas})

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
