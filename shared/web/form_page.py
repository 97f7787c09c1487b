"""The resident's form page and what every page is made of, FastAPI-free.

The FastAPI routes (shared/web/pages.py, through shared/web/common.py) and the cold-start front
(shared/web/front.py) both build the form with these functions, so the page a new instance serves
without FastAPI is the page the app serves: one implementation of the language choice, the theme
choices and the page context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.adapters.storage import StorageUnavailable
from shared.core import i18n
from shared.core.disclosure import needed_publicly

if TYPE_CHECKING:
    from shared.composition import Services
    from shared.core.expected_wait import ExpectedWait


def choose_locale(services: Services, query_lang: str | None, accept_language: str | None) -> str:
    """The reader's language: ?lang= wins, then the browser's wishes, then the organisation's default."""
    return i18n.choose_locale(query_lang, accept_language, services.organisation)


def expected_wait(services: Services, theme: str, area: str | None) -> ExpectedWait | None:
    """The usual wait in `theme` (and `area`), or None where the history is too thin to say it (issue 23.2)."""
    waits = services.expected_waits
    return waits.for_choice(theme, area) if waits is not None else None


def public_needed(services: Services, needed: int) -> int | None:
    """`needed` as the form, the thank-you page and the API may say it: None where it would tell how many
    of fewer than the organisation's small-count threshold are waiting (issue 23.6, core/disclosure.py)."""
    organisation = services.organisation
    return needed_publicly(needed, organisation.group_size.min, organisation.small_count_threshold)


def expected_wait_text(locale: str, wait: ExpectedWait | None) -> str | None:
    return None if wait is None else i18n.plural(locale, wait.catalog_key, wait.amount)


def page_html(services: Services, name: str, locale: str, **context: Any) -> str:
    """A page of templates/web, with the context every page has (the organisation, the language links)."""
    organisation = services.organisation
    languages: list[tuple[str, str]] = [(code, i18n.translate(code, "lang_name")) for code in organisation.locales]
    if locale not in organisation.locales:
        languages.append((locale, i18n.translate(locale, "lang_name")))
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return services.templates.page(name, locale, organisation=organisation, languages=languages, **context)


def theme_choices(services: Services, locale: str, area: str | None = None) -> list[dict]:
    """The themes as the form lists them; `needed` is None when storage cannot tell or the small-count rule
    withholds it (then `few`); `wait` is the usual
    wait where there is history enough (with matching by area, once the area is known)."""
    try:
        counts: dict[str, int] | None = services.intake.waiting_counts()
    except StorageUnavailable:
        counts = None  # counts are a courtesy: the form must still render, with the values kept
    themes = []
    for theme in services.organisation.themes:
        text = services.organisation.theme_text(theme.id, locale)
        needed = public_needed(services, services.intake.needed(theme.id, None, counts)) if counts is not None else None
        wait = expected_wait_text(locale, expected_wait(services, theme.id, area))
        themes.append(
            {
                "id": theme.id,
                "label": text.label,
                "description": text.description,
                "needed": needed,
                "few": counts is not None and needed is None,  # some wait, fewer than the rule lets us count
                "wait": wait,
            }
        )
    return themes


def form_html(services: Services, locale: str, *, values: dict | None = None, errors: dict | None = None) -> str:
    """The form: empty (GET /), or again with what was typed and what was wrong (a refused POST)."""
    values = values or {}
    area = values.get("area") or None
    themes = theme_choices(services, locale, area if area and services.organisation.area(area) else None)
    return page_html(
        services,
        "form.html",
        locale,
        themes=themes,
        areas=services.organisation.areas,
        values=values,
        errors=errors or {},
    )
