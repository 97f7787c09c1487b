"""The web pages' Jinja bytecode shipped in the package (shared/adapters/templates.py, issue 22.1).

A new instance loads its pages from the bytecode infra/package.py compiled, instead of compiling them;
an entry whose template changed since is ignored and the page compiled from its source."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment

from shared import PACKAGE_DIR
from shared.adapters.templates import ShippedBytecode, _web_environment, compile_pages

PAGES = PACKAGE_DIR / "templates" / "web"


def counting_compiles(environment: Environment) -> list[str]:
    """Names of the templates the environment compiles from source from now on."""
    compiled: list[str] = []
    original = environment.compile

    def compile(source, name=None, filename=None, raw=False, defer_init=False):  # type: ignore[no-untyped-def]
        compiled.append(name)
        return original(source, name, filename, raw, defer_init)

    environment.compile = compile  # type: ignore[method-assign]
    return compiled


def test_every_page_is_loaded_from_the_shipped_bytecode_without_compiling(tmp_path: Path) -> None:
    pages = sorted(p.relative_to(PAGES).as_posix() for p in PAGES.rglob("*.html"))
    assert len(pages) >= 20
    assert compile_pages(tmp_path) == len(pages)
    assert len(list(tmp_path.glob("*.jinja"))) == len(pages)

    shipped = _web_environment(ShippedBytecode(tmp_path))
    compiled = counting_compiles(shipped)
    fresh = _web_environment(None)
    for name in pages:
        code = shipped.get_template(name).root_render_func.__code__
        assert code == fresh.get_template(name).root_render_func.__code__, name
    assert compiled == []


def test_an_entry_whose_template_changed_is_ignored(tmp_path: Path) -> None:
    source = tmp_path / "pages"
    source.mkdir()
    (source / "greeting.html").write_text("Hej {{ name }}!", encoding="utf-8")
    (source / "other.html").write_text("Annat", encoding="utf-8")
    cache = tmp_path / "compiled"
    assert compile_pages(cache, source) == 2

    (source / "greeting.html").write_text("Hallo {{ name }}!", encoding="utf-8")  # edited after packaging
    shipped = _web_environment(ShippedBytecode(cache), source)
    compiled = counting_compiles(shipped)
    assert shipped.get_template("greeting.html").render(name="Åsa") == "Hallo Åsa!"
    assert shipped.get_template("other.html").render() == "Annat"
    assert compiled == ["greeting.html"]  # the stale one compiled from source, the other loaded
    assert len(list(cache.glob("*.jinja"))) == 2  # and nothing written at run time: the package is read-only
