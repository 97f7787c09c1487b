"""Jinja2 templates: web pages (autoescaped HTML) and SMS texts (plain), per locale."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared import PACKAGE_DIR
from shared.core import i18n

_DIR = PACKAGE_DIR / "templates"


@cache
def _environments() -> tuple[Environment, Environment]:
    """The web pages' and the texts' environments, one pair per process: each compiles a template once
    and keeps it (checking the file for changes), however many `Templates` are built. Production builds
    one; tests wire a fresh set of services per test and would otherwise compile every template again."""
    web = Environment(
        loader=FileSystemLoader(_DIR / "web"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # SMS are plain text: values are data, never markup, so nothing is escaped — and nothing is evaluated.
    sms = Environment(
        loader=FileSystemLoader(_DIR / "sms"),
        autoescape=False,  # noqa: S701 - plain-text SMS, not HTML
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    return web, sms


class Templates:
    def __init__(self) -> None:
        self._web, self._sms = _environments()

    def page(self, name: str, locale: str, **context: Any) -> str:
        def t(key: str, **values: Any) -> str:
            return i18n.translate(locale, key, **values)

        def tn(key: str, n: int, **values: Any) -> str:
            return i18n.plural(locale, key, n, **values)

        return self._web.get_template(name).render(locale=locale, t=t, tn=tn, **context)

    def sms(self, kind: str, locale: str, **context: Any) -> str:
        locale = locale if locale in i18n.LOCALES else "en"
        text = self._sms.get_template(f"{locale}/{kind}.txt").render(**context)
        return "\n".join(line.rstrip() for line in text.strip().splitlines())
