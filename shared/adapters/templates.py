"""Jinja2 templates: web pages (autoescaped HTML) and SMS texts (plain), per locale."""

from __future__ import annotations

from functools import cache
from hashlib import sha256
from pathlib import Path
from typing import Any

from jinja2 import BytecodeCache, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.bccache import Bucket

from shared import PACKAGE_DIR
from shared.core import i18n

_DIR = PACKAGE_DIR / "templates"
# The web pages compiled when the package is built (infra/package.py runs `compile_pages`); absent in a
# working tree, where each page is compiled from source on first use as before.
COMPILED = _DIR / "compiled"


class ShippedBytecode(BytecodeCache):
    """The web pages' Jinja bytecode, compiled into the package (issue 22.1): a new instance's first form
    page loads form.html, base.html and what they include instead of compiling them (about 50 ms of CPU
    here). Read-only at run time, as the package is. Jinja stores each entry with a checksum of the
    template's source and the Python version, and compiles from source any template whose entry does not
    match (https://jinja.palletsprojects.com/en/stable/api/#bytecode-cache): a stale entry costs only the
    compile it would have saved. Keyed by the template's name alone, not its absolute path, which differs
    between the machine that builds the package and the instance that runs it."""

    def __init__(self, directory: Path, *, writable: bool = False) -> None:
        self.directory = directory
        self.writable = writable

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return sha256(name.encode("utf-8")).hexdigest()

    def _path(self, bucket: Bucket) -> Path:
        return self.directory / f"{bucket.key}.jinja"

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            with self._path(bucket).open("rb") as shipped:
                bucket.load_bytecode(shipped)
        except FileNotFoundError:
            return

    def dump_bytecode(self, bucket: Bucket) -> None:
        if self.writable:  # only `compile_pages`, at packaging
            with self._path(bucket).open("wb") as target:
                bucket.write_bytecode(target)


def _web_environment(bytecode: BytecodeCache | None, pages: Path = _DIR / "web") -> Environment:
    return Environment(
        loader=FileSystemLoader(pages),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=bytecode,
    )


def compile_pages(directory: Path, pages: Path = _DIR / "web") -> int:
    """Compile every web page into `directory` (infra/package.py); returns how many."""
    directory.mkdir(parents=True, exist_ok=True)
    web = _web_environment(ShippedBytecode(directory, writable=True), pages)
    names = web.list_templates(extensions=["html"])
    for name in names:
        web.get_template(name)
    return len(names)


@cache
def _environments() -> tuple[Environment, Environment]:
    """The web pages' and the texts' environments, one pair per process: each compiles a template once
    and keeps it (checking the file for changes), however many `Templates` are built. Production builds
    one; tests wire a fresh set of services per test and would otherwise compile every template again."""
    web = _web_environment(ShippedBytecode(COMPILED) if COMPILED.is_dir() else None)
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
