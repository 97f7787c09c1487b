"""What a resident submits, checked before anything is stored or sent (pure: no storage, no SMS)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from shared.core.organisation import Organisation
from shared.core.phone import PhoneError, parse_mobile

NAME_MAX = 40
# Letters of any script, digits, and the few marks names and aliases use.
_NAME = re.compile(r"^[^\W_](?:[\w .'\-]*[^\W_.])?$")


def _name_ok(name: str) -> bool:
    """Combining marks (NFD input, Indic vowel signs) belong to the letter before them."""
    if unicodedata.category(name[0]).startswith("M"):
        return False
    return bool(_NAME.match("".join(c for c in name if not unicodedata.category(c).startswith("M"))))


@dataclass(frozen=True)
class FieldError:
    code: str  # message key without the "err_" prefix
    params: Mapping[str, object] | None = None


@dataclass(frozen=True)
class ValidInterest:
    theme: str
    name: str
    phone: str  # E.164
    locale: str
    area: str | None


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in {"on", "true", "1", "yes"})


def country_names(organisation: Organisation, locale: str) -> str:
    """'Sweden' or 'Sweden, Norway' in the resident's language (the code itself when we lack a name)."""
    from shared.core import i18n

    names = []
    for code in organisation.allowed_phone_countries:
        key = f"country_{code}"
        names.append(i18n.translate(locale, key) if key in i18n.catalog(locale) else code)
    return ", ".join(names)


def validate_interest(
    raw: Mapping[str, object], organisation: Organisation, *, locale: str, require_pledge: bool
) -> ValidInterest | dict[str, FieldError]:
    """Check a submission from the form or the API. Returns the clean interest or errors by field."""
    errors: dict[str, FieldError] = {}

    def text(field: str) -> str:
        value = raw.get(field)
        return value.strip() if isinstance(value, str) else ""

    theme = text("theme")
    if not theme:
        errors["theme"] = FieldError("theme_required")
    elif organisation.theme(theme) is None:
        errors["theme"] = FieldError("theme_unknown")

    name = unicodedata.normalize("NFC", " ".join(text("name").split()))
    if not name:
        errors["name"] = FieldError("name_required")
    elif len(name) > NAME_MAX:
        errors["name"] = FieldError("name_too_long")
    elif not _name_ok(name):
        errors["name"] = FieldError("name_invalid")

    phone_raw = text("phone")
    phone = ""
    if not phone_raw:
        errors["phone"] = FieldError("phone_required")
    else:
        try:
            phone = parse_mobile(phone_raw, organisation.country, countries=organisation.allowed_phone_countries)
        except PhoneError as exc:
            params = {"countries": country_names(organisation, locale)} if exc.reason == "country" else None
            errors["phone"] = FieldError(f"phone_{exc.reason}", params)

    area: str | None = text("area") or None
    if organisation.areas:
        if area is None:
            errors["area"] = FieldError("area_required")
        elif organisation.area(area) is None:
            errors["area"] = FieldError("area_unknown")
    elif area is not None:
        errors["area"] = FieldError("area_unknown")

    if organisation.minimum_age is not None and not _truthy(raw.get("age_confirmed")):
        errors["age_confirmed"] = FieldError("age_required", {"age": organisation.minimum_age})
    if not _truthy(raw.get("consent")):
        errors["consent"] = FieldError("consent_required")
    if require_pledge and not _truthy(raw.get("pledge")):
        errors["pledge"] = FieldError("pledge_required")

    if errors:
        return errors
    return ValidInterest(theme=theme, name=name, phone=phone, locale=locale, area=area)


# Bidirectional overrides and isolates: they make a text read differently from what it contains.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


class TextProblem(ValueError):
    """Why a one-line text was refused: 'required', 'invalid' or 'too_long'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def one_line(raw: object, limit: int) -> str:
    """A short text a person typed (a meeting place, a note to the coordinator): line breaks and tabs
    become spaces, control and bidirectional-override characters are refused, at most `limit` long."""
    if not isinstance(raw, str):
        raise TextProblem("required")
    text = " ".join(unicodedata.normalize("NFC", raw).split())
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") or c in _BIDI for c in text):
        raise TextProblem("invalid")
    if not text:
        raise TextProblem("required")
    if len(text) > limit:
        raise TextProblem("too_long")
    return text
