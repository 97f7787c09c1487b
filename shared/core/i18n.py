"""Interface texts in each language (core/languages.py), and choosing the reader's language."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache

from babel import Locale

from shared import PACKAGE_DIR
from shared.core.languages import CODES, LANGUAGES
from shared.core.organisation import Organisation

LOCALES: tuple[str, ...] = CODES  # core/languages.py: the one list
_DIR = PACKAGE_DIR / "locales"
_ALIASES = {alias: language.code for language in LANGUAGES for alias in language.aliases}


@cache
def catalog(locale: str, domain: str = "") -> dict[str, str]:
    """The texts of one locale: the residents' (domain "") or a domain's beside them ("admin": locales/admin/)."""
    folder = _DIR / domain if domain else _DIR
    return json.loads((folder / f"{locale}.json").read_text(encoding="utf-8"))


def translate(locale: str, key: str, **values: object) -> str:
    return translate_in("", locale, key, **values)


def translate_in(domain: str, locale: str, key: str, **values: object) -> str:
    """A text of a domain's catalog; English when the locale lacks it (tests check every catalog is complete)."""
    texts = catalog(locale if locale in LOCALES else "en", domain)
    text = texts[key] if key in texts else catalog("en", domain)[key]
    return text.format(**values) if values else text


@cache
def _plural_rule(locale: str) -> Callable[[int], str]:
    return Locale.parse(locale).plural_form


def plural(locale: str, key: str, n: int, **values: object) -> str:
    return plural_in("", locale, key, n, **values)


def plural_in(domain: str, locale: str, key: str, n: int, **values: object) -> str:
    """Keys come as KEY_<CLDR category> ("one", "other": what sv, nb and en use), and KEY_none for zero
    where the text differs. The category comes from CLDR's plural rules through Babel."""
    locale = locale if locale in LOCALES else "en"
    texts = catalog(locale, domain)
    if n == 0 and f"{key}_none" in texts:
        return translate_in(domain, locale, f"{key}_none", n=n, **values)
    category = _plural_rule(locale)(n)
    chosen = f"{key}_{category}" if f"{key}_{category}" in texts else f"{key}_other"
    return translate_in(domain, locale, chosen, n=n, **values)


def _normalise(tag: str) -> str | None:
    primary = tag.strip().split(";")[0].strip().lower().replace("_", "-").split("-")[0]
    primary = _ALIASES.get(primary, primary)
    return primary if primary in LOCALES else None


def parse_accept_language(header: str | None) -> list[str]:
    """Locales from an Accept-Language header, best first (q-values honoured, malformed parts ignored)."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:500].split(",")):
        pieces = part.split(";")
        locale = _normalise(pieces[0])
        if locale is None:
            continue
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":  # "q" is case-insensitive (RFC 9110 §12.4.2)
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                if not 0.0 <= quality <= 1.0:  # also NaN and inf
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, index, locale))
    return [locale for _, _, locale in sorted(ranked)]


def choose_locale(query_lang: str | None, accept_language: str | None, organisation: Organisation) -> str:
    """?lang= wins (any complete locale); then the browser's wishes among the organisation's; then its default."""
    if query_lang:
        chosen = _normalise(query_lang)
        if chosen:
            return chosen
    for locale in parse_accept_language(accept_language):
        if locale in organisation.locales:
            return locale
    return organisation.default_locale
